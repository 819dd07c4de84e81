//! Rust rule crates → components.
//!
//! Every package under `rules/` and `tests/rules/` with a `cdylib` target is a rule crate,
//! named `rule-<id>`. One `cargo build --profile rule-build --target wasm32-unknown-unknown` builds
//! them all; each core module is then wrapped into a component with `wit-component` (reading
//! the component-type section `wit-bindgen` embedded) and validated, and written to
//! `<out>/<id>.wasm` — only when its bytes changed, so timestamps mean something to
//! whoever watches the directory.

use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{Context, Result, bail};
use serde_json::Value;

const TARGET: &str = "wasm32-unknown-unknown";
/// A profile of its own (root Cargo.toml); not named `rules`, so that cargo's host-side
/// build folders (`target/<profile>/`) do not land in the components' `target/rules`.
const PROFILE: &str = "rule-build";
/// Rule crates are named `rule-<id>`; the component is `<id>.wasm`.
const CRATE_PREFIX: &str = "rule-";
/// Where rule crates live, relative to the workspace root, and the subfolder of the output
/// their components go to. Test fixtures (`tests/rules/`) go to `fixtures/`, so that `yagura
/// replay --rules target/rules` runs the real rules and never a hostile fixture; engines
/// (`sigma/engine`, the Sigma engine) go to `engines/`, as they run only with the rules
/// they are given (`yagura replay --sigma`).
const RULE_DIRS: [(&str, &str); 3] = [("rules", ""), ("tests/rules", FIXTURES), ("sigma", ENGINES)];
pub const FIXTURES: &str = "fixtures";
pub const ENGINES: &str = "engines";

/// A rule crate of the workspace.
struct RuleCrate {
    /// the package name, `rule-<id>`
    name: String,
    /// the component's name: the package name without `rule-`
    id: String,
    /// the subfolder of the output its component goes to (`RULE_DIRS`)
    subfolder: &'static str,
}

/// Builds every Rust rule crate into `<out>/<id>.wasm`, printing one line per component, and
/// returns the component paths.
pub fn build_rust_rules(root: &Path, out: &Path) -> Result<Vec<PathBuf>> {
    let (crates, target_dir) = find_rule_crates(root)?;
    build_crates(root, out, &crates, &target_dir)
}

/// As [`build_rust_rules`], for the rule crates with the given ids only; an unknown id is an
/// error listing the known ones.
pub fn build_rust_rules_only(root: &Path, out: &Path, ids: &[String]) -> Result<Vec<PathBuf>> {
    let (crates, target_dir) = find_rule_crates(root)?;
    let known: Vec<&str> = crates.iter().map(|c| c.id.as_str()).collect();
    if let Some(unknown) = ids.iter().find(|id| !known.contains(&id.as_str())) {
        bail!(
            "no rule crate `rule-{unknown}`; the rule ids are: {}",
            known.join(", ")
        );
    }
    let crates: Vec<RuleCrate> = crates.into_iter().filter(|c| ids.contains(&c.id)).collect();
    build_crates(root, out, &crates, &target_dir)
}

fn build_crates(
    root: &Path,
    out: &Path,
    crates: &[RuleCrate],
    target_dir: &Path,
) -> Result<Vec<PathBuf>> {
    if crates.is_empty() {
        return Ok(Vec::new());
    }
    compile(root, crates)?;
    fs::create_dir_all(out).with_context(|| format!("creating {}", out.display()))?;

    let core_dir = target_dir.join(TARGET).join(PROFILE);
    let mut built = Vec::with_capacity(crates.len());
    for krate in crates {
        let core = core_dir.join(format!("{}.wasm", krate.name.replace('-', "_")));
        let dir = out.join(krate.subfolder);
        fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
        let output = dir.join(format!("{}.wasm", krate.id));
        let changed = componentize(&core, &output)
            .with_context(|| format!("making a component of rule crate `{}`", krate.name))?;
        let size = fs::metadata(&output)
            .with_context(|| format!("reading {}", output.display()))?
            .len();
        println!(
            "  {:<28} {:>10}  {}",
            krate.id,
            human(size),
            if changed { "built" } else { "unchanged" }
        );
        built.push(output);
    }
    Ok(built)
}

/// The package names of the workspace's rule crates, sorted.
pub fn rule_crate_names(root: &Path) -> Result<Vec<String>> {
    let (crates, _) = find_rule_crates(root)?;
    Ok(crates.into_iter().map(|c| c.name).collect())
}

/// The rule crates of the workspace, sorted by name, and cargo's target directory.
fn find_rule_crates(root: &Path) -> Result<(Vec<RuleCrate>, PathBuf)> {
    let output = Command::new(super::cargo_bin())
        .args(["metadata", "--format-version", "1", "--no-deps"])
        .current_dir(root)
        .output()
        .context("running `cargo metadata`")?;
    if !output.status.success() {
        bail!(
            "`cargo metadata` failed ({}):\n{}",
            output.status,
            String::from_utf8_lossy(&output.stderr)
        );
    }
    let metadata: Value =
        serde_json::from_slice(&output.stdout).context("parsing `cargo metadata` output")?;
    let target_dir = metadata["target_directory"]
        .as_str()
        .map(PathBuf::from)
        .context("`cargo metadata` output has no target_directory")?;

    let mut crates = Vec::new();
    for package in metadata["packages"].as_array().into_iter().flatten() {
        let (Some(name), Some(manifest)) = (
            package["name"].as_str(),
            package["manifest_path"].as_str().map(Path::new),
        ) else {
            continue;
        };
        // `rules/<crate>/Cargo.toml`: the crate directory's parent is a rule directory.
        let parent = manifest.parent().and_then(Path::parent);
        let Some(&(_, subfolder)) = RULE_DIRS
            .iter()
            .find(|(dir, _)| parent.is_some_and(|p| p == root.join(dir)))
        else {
            continue;
        };
        if !is_cdylib(package) {
            continue;
        }
        let id = name.strip_prefix(CRATE_PREFIX).with_context(|| {
            format!(
                "rule crate `{name}` ({}) must be named `{CRATE_PREFIX}<id>`",
                manifest.display()
            )
        })?;
        crates.push(RuleCrate {
            name: name.to_owned(),
            id: id.to_owned(),
            subfolder,
        });
    }
    crates.sort_by(|a, b| a.name.cmp(&b.name));
    Ok((crates, target_dir))
}

/// Whether a `cargo metadata` package has a `cdylib` target.
fn is_cdylib(package: &Value) -> bool {
    package["targets"]
        .as_array()
        .into_iter()
        .flatten()
        .flat_map(|t| t["crate_types"].as_array().into_iter().flatten())
        .any(|t| t == "cdylib")
}

/// One cargo invocation for every rule crate.
fn compile(root: &Path, crates: &[RuleCrate]) -> Result<()> {
    let mut cmd = Command::new(super::cargo_bin());
    cmd.args(["build", "--profile", PROFILE, "--target", TARGET])
        .current_dir(root);
    for krate in crates {
        cmd.args(["-p", &krate.name]);
    }
    let status = cmd
        .status()
        .context("running cargo to build the rule crates")?;
    if !status.success() {
        let names: Vec<&str> = crates.iter().map(|c| c.name.as_str()).collect();
        bail!(
            "building rule crates {} for {TARGET} failed ({status}); is the target installed? \
             (`rustup target add {TARGET}`)",
            names.join(", ")
        );
    }
    Ok(())
}

/// Wraps the core module `core` into a validated component at `output`. Returns whether
/// `output` changed.
fn componentize(core: &Path, output: &Path) -> Result<bool> {
    let module = fs::read(core).with_context(|| format!("reading {}", core.display()))?;
    let component = wit_component::ComponentEncoder::default()
        .validate(true)
        .module(&module)
        .with_context(|| format!("reading the WIT metadata of {}", core.display()))?
        .encode()
        .with_context(|| format!("encoding a component from {}", core.display()))?;
    if fs::read(output).is_ok_and(|existing| existing == component) {
        return Ok(false);
    }
    // Write beside and rename, so a reader never sees half a component.
    let tmp = output.with_extension("wasm.tmp");
    fs::write(&tmp, &component).with_context(|| format!("writing {}", tmp.display()))?;
    fs::rename(&tmp, output)
        .with_context(|| format!("moving {} to {}", tmp.display(), output.display()))?;
    Ok(true)
}

/// A byte count for people: `23.4 KiB`.
pub fn human(bytes: u64) -> String {
    const KIB: f64 = 1024.0;
    let b = bytes as f64;
    if b >= KIB * KIB {
        format!("{:.1} MiB", b / (KIB * KIB))
    } else if b >= KIB {
        format!("{:.1} KiB", b / KIB)
    } else {
        format!("{bytes} B")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn human_sizes() {
        assert_eq!(human(512), "512 B");
        assert_eq!(human(23 * 1024 + 400), "23.4 KiB");
        assert_eq!(human(18 * 1024 * 1024), "18.0 MiB");
    }

    #[test]
    fn cdylib_detection() {
        let lib: Value = serde_json::json!({"targets": [{"crate_types": ["cdylib", "rlib"]}]});
        let bin: Value = serde_json::json!({"targets": [{"crate_types": ["bin"]}]});
        assert!(is_cdylib(&lib));
        assert!(!is_cdylib(&bin));
    }
}
