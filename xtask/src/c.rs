//! The C kit's bindings: `sdk/c/bindings/yagura_rule.{h,c}` and
//! `yagura_rule_component_type.o`, generated from `wit/` by wit-bindgen's C generator (the one
//! `wit-bindgen c` runs), for the world `detection-rule` renamed `yagura_rule`.
//!
//! They are committed, so that a C author needs only clang; `cargo xtask c-bindings` writes
//! them after a WIT change, and a test here fails while they differ from what the WIT gives.

use std::fs;
use std::path::Path;

use anyhow::{Context, Result, bail};
use wit_bindgen_core::Files;
use wit_bindgen_core::wit_parser::Resolve;

/// The world every rule targets, and the name the bindings give it.
const WORLD: &str = "detection-rule";
const RENAMED: &str = "yagura_rule";
/// Where the bindings live, relative to the workspace root.
pub const BINDINGS: &str = "sdk/c/bindings";

/// The bindings the WIT under `root/wit` gives: file name and bytes.
pub fn generate(root: &Path) -> Result<Vec<(String, Vec<u8>)>> {
    let wit = root.join("wit");
    let mut resolve = Resolve::default();
    let (package, _) = resolve
        .push_path(&wit)
        .with_context(|| format!("reading the WIT in {}", wit.display()))?;
    let world = resolve
        .select_world(&[package], Some(WORLD))
        .with_context(|| format!("the WIT in {} has no world `{WORLD}`", wit.display()))?;
    let opts = wit_bindgen_c::Opts {
        rename_world: Some(RENAMED.to_owned()),
        ..Default::default()
    };
    let mut files = Files::default();
    opts.build()
        .generate(&mut resolve, world, &mut files)
        .context("generating the C bindings")?;
    Ok(files
        .iter()
        .map(|(name, bytes)| (name.to_owned(), bytes.to_vec()))
        .collect())
}

/// Writes the bindings into `root/sdk/c/bindings`; returns the files written.
pub fn write(root: &Path) -> Result<Vec<String>> {
    let dir = root.join(BINDINGS);
    fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
    let mut written = Vec::new();
    for (name, bytes) in generate(root)? {
        let path = dir.join(&name);
        fs::write(&path, &bytes).with_context(|| format!("writing {}", path.display()))?;
        written.push(name);
    }
    Ok(written)
}

/// Fails, naming the files, while the committed bindings differ from what the WIT gives.
pub fn check(root: &Path) -> Result<()> {
    let dir = root.join(BINDINGS);
    let mut stale = Vec::new();
    for (name, bytes) in generate(root)? {
        if fs::read(dir.join(&name)).ok().as_deref() != Some(bytes.as_slice()) {
            stale.push(name);
        }
    }
    if !stale.is_empty() {
        bail!(
            "the C kit's bindings in {BINDINGS} are not those of wit/ ({}): run `cargo xtask \
             c-bindings`",
            stale.join(", ")
        );
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_committed_c_bindings_are_those_of_the_wit() {
        let root = crate::workspace_root();
        check(&root).unwrap_or_else(|e| panic!("{e:#}"));
    }

    #[test]
    fn the_bindings_export_the_rule_interface() {
        let files = generate(&crate::workspace_root()).expect("bindings");
        let header = files
            .iter()
            .find(|(name, _)| name == "yagura_rule.h")
            .map(|(_, bytes)| String::from_utf8_lossy(bytes).into_owned())
            .expect("a header");
        for function in [
            "exports_yagura_detection_rule_info(",
            "exports_yagura_detection_rule_on_events(",
            "yagura_detection_state_counter_add(",
        ] {
            assert!(header.contains(function), "{function}");
        }
    }
}
