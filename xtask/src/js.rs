//! Builds the JavaScript example rules (`examples/js/*/app.js`) into WASI-free components with
//! componentize-js, through the kit's build script `sdk/js/build.mjs`.
//!
//! Each directory `examples/js/<name>/` holding an `app.js` becomes `<out>/js-<name>.wasm`,
//! built with
//!
//! ```text
//! node sdk/js/build.mjs examples/js/<name> <out>/js-<name>.wasm --wit wit/types.wit
//! ```
//!
//! The script stages the rule with the kit (`sdk/js/yagura-sdk`) and calls componentize-js's
//! JS API with every WASI-needing feature disabled. componentize-js is pinned by
//! `sdk/js/package-lock.json` and installed by `setup` with `npm ci`. A build is skipped while its output
//! is newer than every `.js`/`.mjs` file of the rule's directory and of the kit, the lock file
//! and every `.wit` file under `wit/`.

use std::ffi::OsStr;
use std::fs;
use std::io;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::SystemTime;

use anyhow::{Context, Result, bail};

use crate::apps::{find_apps, is_fresh, mtime, newest_mtime};
use crate::setup::JS_KIT;

/// Builds every `examples/js/*/app.js` under `root` into `out/js-<dir-name>.wasm` and returns the
/// paths of all the components (built now or already up to date), sorted by name.
pub fn build_js_rules(root: &Path, out: &Path) -> Result<Vec<PathBuf>> {
    let examples = root.join("examples").join("js");
    let wit = root.join("wit");
    let kit = root.join(JS_KIT);
    let apps = find_apps(&examples, "app.js")?;
    if apps.is_empty() {
        return Ok(Vec::new());
    }
    fs::create_dir_all(out).with_context(|| format!("creating {}", out.display()))?;
    let inputs_newest = [
        newest_mtime(&wit, &["wit"])?,
        newest_mtime(&kit, &["js", "mjs"])?,
        Some(mtime(&kit.join("package-lock.json"))?),
    ]
    .into_iter()
    .flatten()
    .max()
    .unwrap_or(SystemTime::UNIX_EPOCH);

    let mut built = Vec::with_capacity(apps.len());
    for dir in apps {
        let name = dir
            .file_name()
            .and_then(OsStr::to_str)
            .with_context(|| format!("{}: directory name is not UTF-8", dir.display()))?;
        let output = out.join(format!("js-{name}.wasm"));
        let src_newest = newest_mtime(&dir, &["js", "mjs"])?.unwrap_or(SystemTime::UNIX_EPOCH);
        if is_fresh(&output, src_newest.max(inputs_newest))? {
            built.push(output);
            continue;
        }
        componentize(&kit, &wit.join("types.wit"), &dir, &output).with_context(|| {
            format!("building JavaScript rule {}", dir.join("app.js").display())
        })?;
        built.push(output);
    }
    Ok(built)
}

/// Runs `node sdk/js/build.mjs` for the rule in `dir`. The script writes `output` atomically
/// (to a temporary file first), so a failed build never leaves a fresh-looking one.
fn componentize(kit: &Path, wit: &Path, dir: &Path, output: &Path) -> Result<()> {
    let result = match Command::new("node")
        .arg(kit.join("build.mjs"))
        .arg(dir)
        .arg(output)
        .arg("--wit")
        .arg(wit)
        .output()
    {
        Ok(result) => result,
        Err(e) if e.kind() == io::ErrorKind::NotFound => {
            bail!("`node` was not found on PATH; the JavaScript rules need Node.js 20 or later")
        }
        Err(e) => return Err(e).context("running `node`"),
    };
    if !result.status.success() {
        bail!(
            "componentize-js failed ({}) for {}:\n{}{}",
            result.status,
            dir.join("app.js").display(),
            String::from_utf8_lossy(&result.stdout),
            String::from_utf8_lossy(&result.stderr),
        );
    }
    Ok(())
}
