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
//! `sdk/js/package-lock.json`; when `sdk/js/node_modules` is missing it is installed with
//! `npm ci`, so a fresh checkout builds with one command. A build is skipped while its output
//! is newer than every `.js`/`.mjs` file of the rule's directory and of the kit, the lock file
//! and every `.wit` file under `wit/`.

use std::ffi::OsStr;
use std::fs;
use std::io;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::SystemTime;

use anyhow::{Context, Result, bail};

/// The kit's directory, relative to the workspace root: `build.mjs`, `yagura-sdk/`,
/// `package.json` and `package-lock.json`.
const KIT: &str = "sdk/js";

/// Builds every `examples/js/*/app.js` under `root` into `out/js-<dir-name>.wasm` and returns the
/// paths of all the components (built now or already up to date), sorted by name.
pub fn build_js_rules(root: &Path, out: &Path) -> Result<Vec<PathBuf>> {
    let examples = root.join("examples").join("js");
    let wit = root.join("wit");
    let kit = root.join(KIT);
    let apps = find_apps(&examples)?;
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
        ensure_node_modules(&kit)?;
        componentize(&kit, &wit.join("types.wit"), &dir, &output).with_context(|| {
            format!("building JavaScript rule {}", dir.join("app.js").display())
        })?;
        built.push(output);
    }
    Ok(built)
}

/// The rule directories under `examples` that hold an `app.js`, sorted.
fn find_apps(examples: &Path) -> Result<Vec<PathBuf>> {
    let entries = match fs::read_dir(examples) {
        Ok(entries) => entries,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(e).with_context(|| format!("reading {}", examples.display())),
    };
    let mut apps = Vec::new();
    for entry in entries {
        let entry = entry.with_context(|| format!("reading {}", examples.display()))?;
        let path = entry.path();
        if path.is_dir() && path.join("app.js").is_file() {
            apps.push(path);
        }
    }
    apps.sort();
    Ok(apps)
}

/// The newest modification time of the files ending in one of `exts` under `dir` (recursively,
/// skipping `node_modules` and `target`), or `None` if there are none.
fn newest_mtime(dir: &Path, exts: &[&str]) -> Result<Option<SystemTime>> {
    let mut newest = None;
    let entries = fs::read_dir(dir).with_context(|| format!("reading {}", dir.display()))?;
    for entry in entries {
        let entry = entry.with_context(|| format!("reading {}", dir.display()))?;
        let path = entry.path();
        let file_type = entry
            .file_type()
            .with_context(|| format!("reading the type of {}", path.display()))?;
        let time = if file_type.is_dir() {
            let skip = matches!(
                path.file_name().and_then(OsStr::to_str),
                Some("node_modules" | "target")
            );
            if skip {
                None
            } else {
                newest_mtime(&path, exts)?
            }
        } else if path
            .extension()
            .and_then(OsStr::to_str)
            .is_some_and(|x| exts.contains(&x))
        {
            Some(mtime(&path)?)
        } else {
            None
        };
        newest = newest.max(time);
    }
    Ok(newest)
}

fn mtime(path: &Path) -> Result<SystemTime> {
    fs::metadata(path)
        .and_then(|m| m.modified())
        .with_context(|| format!("reading the modification time of {}", path.display()))
}

/// Whether `output` exists and is newer than `inputs_newest`.
fn is_fresh(output: &Path, inputs_newest: SystemTime) -> Result<bool> {
    match fs::metadata(output) {
        Ok(_) => Ok(mtime(output)? > inputs_newest),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(false),
        Err(e) => Err(e).with_context(|| format!("reading {}", output.display())),
    }
}

/// Installs the kit's pinned npm dependencies (componentize-js) with `npm ci` when
/// `node_modules` is missing, saying so.
fn ensure_node_modules(kit: &Path) -> Result<()> {
    if kit
        .join("node_modules")
        .join("@bytecodealliance")
        .join("componentize-js")
        .is_dir()
    {
        return Ok(());
    }
    println!(
        "  installing componentize-js: npm ci in {} (once)",
        kit.display()
    );
    let status = Command::new("npm")
        .args(["ci", "--no-audit", "--no-fund", "--loglevel=error"])
        .current_dir(kit)
        .status()
        .context("running npm (Node.js 20 or later with npm is needed for the JavaScript rules)")?;
    if !status.success() {
        bail!(
            "`npm ci` in {} failed ({status}); it installs the componentize-js pinned by \
             package-lock.json",
            kit.display()
        );
    }
    Ok(())
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
