//! Builds the Python example rules (`examples/python/*/app.py`) into WASI-free components
//! with `componentize-py`.
//!
//! Each directory `examples/python/<name>/` holding an `app.py` becomes `<out>/py-<name>.wasm`,
//! built with
//!
//! ```text
//! componentize-py -d wit -w detection-rule componentize --stub-wasi -p sdk/python -p examples/python/<name> app -o <out>/py-<name>.wasm
//! ```
//!
//! `-p sdk/python` puts the Python kit (`yagura_sdk`) on the path.
//!
//! `--stub-wasi` replaces every WASI import with a trapping stub, so the component imports only
//! `yagura:detection/{types,log,state}`. No bindings need generating: `componentize` generates
//! the `wit_world` package on the fly. A build is skipped while its output is newer than every
//! `.py` file of the rule's directory and of the kit, and every `.wit` file under `wit/`.

use std::ffi::OsStr;
use std::fs;
use std::io;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::SystemTime;

use anyhow::{Context, Result, bail};

use crate::apps::{find_apps, is_fresh, newest_mtime};
use crate::setup::{COMPONENTIZE_PY, COMPONENTIZE_PY_VERSION};

/// The world every rule targets (wit/types.wit).
const WORLD: &str = "detection-rule";
/// The Python kit's directory, relative to the workspace root: the parent of `yagura_sdk/`.
const KIT: &str = "sdk/python";

/// Builds every `examples/python/*/app.py` under `root` into `out/py-<dir-name>.wasm` and returns
/// the paths of all the components (built now or already up to date), sorted by name.
pub fn build_python_rules(root: &Path, out: &Path) -> Result<Vec<PathBuf>> {
    let examples = root.join("examples").join("python");
    let wit = root.join("wit");
    let kit = root.join(KIT);
    let apps = find_apps(&examples, "app.py")?;
    if apps.is_empty() {
        return Ok(Vec::new());
    }
    fs::create_dir_all(out).with_context(|| format!("creating {}", out.display()))?;
    let wit_newest = newest_mtime(&wit, &["wit"])?
        .with_context(|| format!("no .wit files in {}", wit.display()))?;
    let kit_newest = newest_mtime(&kit, &["py"])?.unwrap_or(SystemTime::UNIX_EPOCH);

    let mut built = Vec::with_capacity(apps.len());
    for dir in apps {
        let name = dir
            .file_name()
            .and_then(OsStr::to_str)
            .with_context(|| format!("{}: directory name is not UTF-8", dir.display()))?;
        let output = out.join(format!("py-{name}.wasm"));
        let app = dir.join("app.py");
        let src_newest = newest_mtime(&dir, &["py"])?.unwrap_or(SystemTime::UNIX_EPOCH);
        if is_fresh(&output, src_newest.max(wit_newest).max(kit_newest))? {
            built.push(output);
            continue;
        }
        componentize(&wit, &kit, &dir, &output)
            .with_context(|| format!("building Python rule {}", app.display()))?;
        built.push(output);
    }
    Ok(built)
}

/// Runs componentize-py for the rule in `dir` (module `app`), writing `output` atomically: the
/// component goes to a temporary file first, so a failed build never leaves a fresh-looking one.
fn componentize(wit: &Path, kit: &Path, dir: &Path, output: &Path) -> Result<()> {
    let tmp = output.with_extension("wasm.tmp");
    let mut cmd = Command::new(COMPONENTIZE_PY);
    cmd.arg("-d")
        .arg(wit)
        .arg("-w")
        .arg(WORLD)
        .arg("componentize")
        .arg("--stub-wasi")
        .arg("-p")
        .arg(kit)
        .arg("-p")
        .arg(dir)
        .arg("app")
        .arg("-o")
        .arg(&tmp);
    let result = match cmd.output() {
        Ok(result) => result,
        Err(e) if e.kind() == io::ErrorKind::NotFound => bail!(
            "`{COMPONENTIZE_PY}` was not found on PATH; install it with \
             `pip install {COMPONENTIZE_PY}=={COMPONENTIZE_PY_VERSION}`"
        ),
        Err(e) => return Err(e).with_context(|| format!("running `{COMPONENTIZE_PY}`")),
    };
    if !result.status.success() {
        let _ = fs::remove_file(&tmp);
        bail!(
            "`{COMPONENTIZE_PY} componentize` failed ({}) for {}:\n{}{}",
            result.status,
            dir.join("app.py").display(),
            String::from_utf8_lossy(&result.stdout),
            String::from_utf8_lossy(&result.stderr),
        );
    }
    fs::rename(&tmp, output)
        .with_context(|| format!("moving {} to {}", tmp.display(), output.display()))?;
    Ok(())
}
