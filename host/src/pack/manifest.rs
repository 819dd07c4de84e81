//! `pack.toml`: what a pack is, what it needs, and its rules.
//!
//! The same shape serves two places. In a source tree (`rules/pack.toml`) a rule's `component`
//! and `cases` are paths relative to the manifest and `sha256` is absent. Inside a bundle
//! [`crate::pack::bundle`] rewrites them to the bundle's own paths and fills in every digest, so
//! the bundled manifest names every byte of the pack; the publisher's signature covers it.

use std::collections::BTreeMap;
use std::path::Path;

use anyhow::Context;
use serde::{Deserialize, Serialize};

/// The whole manifest.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Manifest {
    pub pack: PackInfo,
    pub requires: Requires,
    #[serde(rename = "rule")]
    pub rules: Vec<RuleEntry>,
    /// Other files of the bundle (case files and their events) with their digests; filled by
    /// `pack build`.
    #[serde(rename = "file", default, skip_serializing_if = "Vec::is_empty")]
    pub files: Vec<FileEntry>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PackInfo {
    /// lower-case letters, digits and `-`
    pub name: String,
    pub version: semver::Version,
    pub publisher: String,
    pub description: String,
    pub license: String,
}

/// What the host must provide.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Requires {
    /// the `yagura:detection` WIT versions the rules were built against
    pub wit: semver::VersionReq,
    /// the Yagura host versions the pack supports
    pub host: semver::VersionReq,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RuleEntry {
    /// the rule's id, as its `info()` says
    pub id: String,
    /// the component: a path relative to the manifest (source) or in the bundle
    pub component: String,
    /// hex sha256 of the component; required in a bundle
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sha256: Option<String>,
    /// who wrote the rule, carried into its findings (`unmapped.rule_author`); for rules
    /// derived from others' work (Sigma's), their authors
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub author: Option<String>,
    /// the rule's cases file, if it has one
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cases: Option<String>,
    #[serde(default = "yes")]
    pub enabled: bool,
    /// default config of the rule in this pack, over the rule's own defaults
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub config: BTreeMap<String, toml::Value>,
}

fn yes() -> bool {
    true
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FileEntry {
    pub path: String,
    pub sha256: String,
}

impl Manifest {
    /// Reads and checks a manifest file.
    pub fn load(path: &Path) -> anyhow::Result<Manifest> {
        let text = std::fs::read_to_string(path)
            .with_context(|| format!("cannot read manifest {}", path.display()))?;
        Manifest::parse(&text, &path.display().to_string())
    }

    /// Parses and checks manifest text; `origin` names it in errors.
    pub fn parse(text: &str, origin: &str) -> anyhow::Result<Manifest> {
        let manifest: Manifest = toml::from_str(text)
            .map_err(|e| anyhow::anyhow!("{origin}: {}", e.to_string().trim_end()))?;
        manifest
            .check()
            .map_err(|e| anyhow::anyhow!("{origin}: {e}"))?;
        Ok(manifest)
    }

    /// The manifest as TOML; the bytes the signature covers.
    pub(crate) fn to_toml(&self) -> anyhow::Result<String> {
        toml::to_string(self).context("cannot write the manifest as TOML")
    }

    /// `name@version`.
    pub fn label(&self) -> String {
        format!("{}@{}", self.pack.name, self.pack.version)
    }

    fn check(&self) -> Result<(), String> {
        let name = &self.pack.name;
        if name.is_empty()
            || name.len() > 64
            || !name
                .chars()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
            || name.starts_with('-')
        {
            return Err(format!(
                "pack.name `{name}`: use 1-64 lower-case letters, digits and `-`"
            ));
        }
        if self.pack.publisher.trim().is_empty() {
            return Err("pack.publisher is empty".to_owned());
        }
        if self.rules.is_empty() {
            return Err("the pack has no [[rule]]".to_owned());
        }
        for (i, rule) in self.rules.iter().enumerate() {
            if rule.id.is_empty() {
                return Err(format!("rule {}: empty id", i + 1));
            }
            if self.rules[..i].iter().any(|r| r.id == rule.id) {
                return Err(format!("rule `{}` is listed twice", rule.id));
            }
            if let Some(author) = &rule.author
                && (author.trim().is_empty()
                    || author.chars().count() > 512
                    || author.chars().any(char::is_control))
            {
                return Err(format!(
                    "rule `{}`: author: use 1-512 characters, no control characters",
                    rule.id
                ));
            }
            if let Some(sha) = &rule.sha256
                && !is_sha256_hex(sha)
            {
                return Err(format!(
                    "rule `{}`: sha256 `{sha}` is not 64 hex digits",
                    rule.id
                ));
            }
        }
        for file in &self.files {
            if !is_sha256_hex(&file.sha256) {
                return Err(format!(
                    "file `{}`: sha256 `{}` is not 64 hex digits",
                    file.path, file.sha256
                ));
            }
        }
        Ok(())
    }
}

pub(crate) fn is_sha256_hex(s: &str) -> bool {
    s.len() == 64
        && s.bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
}
