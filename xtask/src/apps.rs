//! What the Python and JavaScript builders share: finding the example rules (`<dir>/app.<ext>`)
//! and deciding whether a component is older than its sources.

use std::ffi::OsStr;
use std::fs;
use std::io;
use std::path::{Path, PathBuf};
use std::time::SystemTime;

use anyhow::{Context, Result};

/// Folders generated next to sources, never inputs of a build.
const GENERATED: [&str; 4] = ["node_modules", "target", "__pycache__", "bindings"];

/// The rule directories under `examples` that hold `app_file` (`app.py`, `app.js`), sorted.
pub fn find_apps(examples: &Path, app_file: &str) -> Result<Vec<PathBuf>> {
    let entries = match fs::read_dir(examples) {
        Ok(entries) => entries,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(e).with_context(|| format!("reading {}", examples.display())),
    };
    let mut apps = Vec::new();
    for entry in entries {
        let entry = entry.with_context(|| format!("reading {}", examples.display()))?;
        let path = entry.path();
        if path.is_dir() && path.join(app_file).is_file() {
            apps.push(path);
        }
    }
    apps.sort();
    Ok(apps)
}

/// The newest modification time of the files ending in one of `exts` under `dir` (recursively,
/// skipping generated folders such as `node_modules` and `__pycache__`), or `None` if there
/// are none.
pub fn newest_mtime(dir: &Path, exts: &[&str]) -> Result<Option<SystemTime>> {
    let mut newest = None;
    let entries = fs::read_dir(dir).with_context(|| format!("reading {}", dir.display()))?;
    for entry in entries {
        let entry = entry.with_context(|| format!("reading {}", dir.display()))?;
        let path = entry.path();
        let file_type = entry
            .file_type()
            .with_context(|| format!("reading the type of {}", path.display()))?;
        let time = if file_type.is_dir() {
            let generated = path
                .file_name()
                .and_then(OsStr::to_str)
                .is_some_and(|name| GENERATED.contains(&name));
            if generated {
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

pub fn mtime(path: &Path) -> Result<SystemTime> {
    fs::metadata(path)
        .and_then(|m| m.modified())
        .with_context(|| format!("reading the modification time of {}", path.display()))
}

/// Whether `output` exists and is newer than `inputs_newest`.
pub fn is_fresh(output: &Path, inputs_newest: SystemTime) -> Result<bool> {
    match fs::metadata(output) {
        Ok(_) => Ok(mtime(output)? > inputs_newest),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(false),
        Err(e) => Err(e).with_context(|| format!("reading {}", output.display())),
    }
}
