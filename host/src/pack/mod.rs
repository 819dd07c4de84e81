//! Rule packs (`docs/packs.md`): the manifest, deterministic bundles, publisher signatures,
//! requirement checks, and the pack tests that gate a pack.

pub mod bundle;
pub mod manifest;
pub mod oci;
pub mod sign;

use std::path::PathBuf;

use anyhow::Context;

pub use bundle::{Bundle, SignatureStatus, Trust};
pub use manifest::Manifest;
pub use sign::{PublicKey, SecretKey};

use crate::cases::{CaseFile, CaseResult};
use crate::rule::Value;
use crate::sandbox::{RuleComponent, Sandbox};

/// The results of one rule's cases.
#[derive(Debug)]
pub struct RuleCases {
    pub rule: String,
    pub cases: PathBuf,
    pub results: Vec<CaseResult>,
}

impl RuleCases {
    pub fn failed(&self) -> impl Iterator<Item = &CaseResult> {
        self.results.iter().filter(|r| !r.passed())
    }
}

/// Loads every component of the bundle into `sandbox`, checking that each is the rule the
/// manifest says it is.
pub(crate) fn load_components(
    bundle: &Bundle,
    sandbox: &Sandbox,
    origin: &str,
) -> anyhow::Result<Vec<RuleComponent>> {
    let mut out = Vec::new();
    for rule in &bundle.manifest.rules {
        let bytes = bundle
            .component(&rule.id)
            .with_context(|| format!("{origin}: rule `{}` has no component", rule.id))?;
        let component = sandbox
            .load(bytes, &format!("{origin}: {}", rule.component))
            .with_context(|| format!("{origin}: rule `{}`", rule.id))?;
        if component.info().id != rule.id {
            anyhow::bail!(
                "{origin}: the manifest's rule `{}` is a component whose info() says `{}`",
                rule.id,
                component.info().id
            );
        }
        out.push(component.with_author(rule.author.clone()));
    }
    Ok(out)
}

/// A rule a pack enables, with the pack's config for it (typed against its parameters).
#[derive(Debug, Clone)]
pub struct PackRule {
    pub component: RuleComponent,
    pub config: Vec<(String, Value)>,
}

/// Loads the rules the bundle enables (checked as [`load_components`] does), each with the
/// pack's config for it: what replay and the runtime run.
pub(crate) fn enabled_rules(
    bundle: &Bundle,
    sandbox: &Sandbox,
    origin: &str,
) -> anyhow::Result<Vec<PackRule>> {
    let components = load_components(bundle, sandbox, origin)?;
    let mut out = Vec::new();
    for (component, rule) in components.into_iter().zip(&bundle.manifest.rules) {
        if !rule.enabled {
            continue;
        }
        let config = component
            .info()
            .typed_config(&rule.config)
            .map_err(|e| anyhow::anyhow!("{origin}: rule `{}` config: {e}", rule.id))?;
        out.push(PackRule { component, config });
    }
    Ok(out)
}

/// Why [`resolve_version`] found no version.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum VersionError {
    /// none to choose from
    #[error("no version of pack `{name}` is {what}")]
    None { name: String, what: &'static str },
    /// `spec` is an exact version that is not among them
    #[error("{name}@{version} is not {what} ({what}: {listed})")]
    Missing {
        name: String,
        version: semver::Version,
        what: &'static str,
        listed: String,
    },
    /// `spec` is a requirement that none matches
    #[error("no {what} version of `{name}` matches {req} ({what}: {listed})")]
    NoMatch {
        name: String,
        req: semver::VersionReq,
        what: &'static str,
        listed: String,
    },
    /// `spec` is neither
    #[error("`{spec}` is neither a version nor a requirement (like ^1.2): {source}")]
    Invalid { spec: String, source: semver::Error },
}

/// The version `spec` names among `versions` (oldest first): an exact version, or the highest
/// one matching a requirement (`^1.2`). `what` says where they are (`stored`, `held`).
pub(crate) fn resolve_version(
    versions: &[semver::Version],
    name: &str,
    spec: &str,
    what: &'static str,
) -> Result<semver::Version, VersionError> {
    // what is asked for must make sense before whether any version is there matters
    let wanted = match semver::Version::parse(spec) {
        Ok(exact) => Ok(exact),
        Err(_) => Err(
            semver::VersionReq::parse(spec).map_err(|source| VersionError::Invalid {
                spec: spec.to_owned(),
                source,
            })?,
        ),
    };
    if versions.is_empty() {
        return Err(VersionError::None {
            name: name.to_owned(),
            what,
        });
    }
    let listed = || {
        versions
            .iter()
            .map(ToString::to_string)
            .collect::<Vec<_>>()
            .join(", ")
    };
    let req = match wanted {
        Ok(exact) if versions.contains(&exact) => return Ok(exact),
        Ok(exact) => {
            return Err(VersionError::Missing {
                name: name.to_owned(),
                version: exact,
                what,
                listed: listed(),
            });
        }
        Err(req) => req,
    };
    versions
        .iter()
        .rev()
        .find(|v| req.matches(v))
        .cloned()
        .ok_or_else(|| VersionError::NoMatch {
            name: name.to_owned(),
            req,
            what,
            listed: listed(),
        })
}

/// Runs the bundle's cases (each rule's `cases`) in the sandbox.
pub fn run_cases(
    bundle: &Bundle,
    sandbox: &Sandbox,
    origin: &str,
) -> anyhow::Result<Vec<RuleCases>> {
    let components = load_components(bundle, sandbox, origin)?;
    let dir = tempfile::tempdir().context("a temporary folder for the pack's cases")?;
    let mut out = Vec::new();
    for (rule, path) in bundle.extract_cases(dir.path())? {
        let component = components
            .iter()
            .find(|c| c.info().id == rule)
            .with_context(|| format!("{origin}: no component for rule `{rule}`"))?;
        let file = CaseFile::load(&path)?;
        let config = bundle
            .manifest
            .rules
            .iter()
            .find(|r| r.id == rule)
            .map(|r| component.info().typed_config(&r.config))
            .transpose()
            .map_err(|e| anyhow::anyhow!("{origin}: rule `{rule}` config: {e}"))?
            .unwrap_or_default();
        let results = file.run_with(component, &config)?;
        let shown = path
            .strip_prefix(dir.path())
            .map(PathBuf::from)
            .unwrap_or(path);
        out.push(RuleCases {
            rule,
            cases: shown,
            results,
        });
    }
    Ok(out)
}
