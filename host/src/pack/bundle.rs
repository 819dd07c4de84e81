//! The bundle: one file (`.ypack`) holding a pack's manifest, components, cases and signature.
//!
//! It is a POSIX ustar archive written deterministically — entries in a fixed order
//! (`pack.toml`, `signature.toml`, then every other file by path), mode 0644, owner 0, mtime 0 —
//! so the same inputs give the same bytes. The bundled `pack.toml` lists the sha256 of every
//! other file; `signature.toml` holds the publisher's ed25519 signature of `pack.toml`'s bytes,
//! so one signature covers the whole pack.
//!
//! Reading checks everything before anything is used: the archive's shape (regular files,
//! plain relative paths, no duplicates, size limits), every digest, no unlisted file, then the
//! signature against the trusted keys, then the host's versions against the requirements.

use std::collections::BTreeMap;
use std::io::{Cursor, Read};
use std::path::{Component, Path, PathBuf};

use anyhow::{Context, bail};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use super::manifest::{FileEntry, Manifest};
use super::sign::{PublicKey, SecretKey};
use crate::cases::{CaseFile, Events};

/// The manifest's path in a bundle.
pub(crate) const MANIFEST: &str = "pack.toml";
/// The signature's path in a bundle.
pub(crate) const SIGNATURE: &str = "signature.toml";
/// A bundle may not be larger than this, nor hold more files.
pub(crate) const MAX_BUNDLE_BYTES: u64 = 256 << 20;
pub(crate) const MAX_FILES: usize = 4_096;

/// `signature.toml`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Signature {
    /// the signer's public key, hex
    pub key: String,
    /// ed25519 signature of `pack.toml`'s bytes, hex
    pub signature: String,
}

/// A pack in memory: its manifest (and the exact bytes of it), its files, its signature.
#[derive(Debug, Clone)]
pub struct Bundle {
    pub manifest: Manifest,
    manifest_text: String,
    /// every file but the manifest and the signature, by bundle path
    files: BTreeMap<String, Vec<u8>>,
    pub signature: Option<Signature>,
}

/// Which keys an import trusts, and whether unsigned packs are let in (development only).
#[derive(Debug, Clone, Default)]
pub struct Trust {
    pub keys: Vec<PublicKey>,
    pub allow_unsigned: bool,
}

/// How a bundle's signature checked out.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SignatureStatus {
    /// signed by this trusted key (its id)
    Trusted(String),
    /// unsigned, and the trust allows unsigned packs
    UnsignedAllowed,
}

pub fn sha256_hex(bytes: &[u8]) -> String {
    hex::encode(Sha256::digest(bytes))
}

impl Bundle {
    /// Builds a bundle from a source manifest (`rules/pack.toml`): reads each rule's component
    /// and cases (with the events files the cases name), relative to the manifest, and writes
    /// the bundled manifest with their digests. The result is unsigned.
    pub fn build(manifest_path: &Path) -> anyhow::Result<Bundle> {
        let mut manifest = Manifest::load(manifest_path)?;
        let dir = manifest_path.parent().unwrap_or(Path::new("."));
        let shown = manifest_path.display();
        let mut files = BTreeMap::new();
        let mut listed = Vec::new();
        for rule in &mut manifest.rules {
            let component_path = dir.join(&rule.component);
            let bytes = std::fs::read(&component_path).with_context(|| {
                format!(
                    "{shown}: rule `{}`: cannot read component {} (build it with `cargo xtask build-rules`)",
                    rule.id,
                    component_path.display()
                )
            })?;
            let in_bundle = format!("rules/{}.wasm", rule.id);
            rule.sha256 = Some(sha256_hex(&bytes));
            rule.component = in_bundle.clone();
            files.insert(in_bundle, bytes);
            if let Some(cases) = &rule.cases {
                let cases_path = dir.join(cases);
                let case_file = CaseFile::load(&cases_path)
                    .with_context(|| format!("{shown}: rule `{}`", rule.id))?;
                if case_file.rule != rule.id {
                    bail!(
                        "{shown}: rule `{}` names cases {} which are for rule `{}`",
                        rule.id,
                        cases_path.display(),
                        case_file.rule
                    );
                }
                let base = format!("cases/{}", rule.id);
                let text = std::fs::read(&cases_path)
                    .with_context(|| format!("cannot read {}", cases_path.display()))?;
                let cases_in_bundle = format!("{base}/cases.toml");
                files.insert(cases_in_bundle.clone(), text);
                listed.push(cases_in_bundle.clone());
                let cases_dir = cases_path.parent().unwrap_or(Path::new("."));
                for case in &case_file.cases {
                    let Events::File(events_path) = &case.events else {
                        continue;
                    };
                    let relative = events_path
                        .strip_prefix(cases_dir)
                        .ok()
                        .filter(|r| is_plain(r));
                    let Some(relative) = relative else {
                        bail!(
                            "{}: case `{}`: events_file {} must be a relative path under the \
                             cases file's folder to be bundled",
                            cases_path.display(),
                            case.name,
                            events_path.display()
                        );
                    };
                    let bytes = std::fs::read(events_path).with_context(|| {
                        format!("cannot read events file {}", events_path.display())
                    })?;
                    let path = format!("{base}/{}", slash_path(relative));
                    listed.push(path.clone());
                    files.insert(path, bytes);
                }
                rule.cases = Some(cases_in_bundle);
            }
        }
        listed.sort();
        listed.dedup();
        manifest.files = listed
            .into_iter()
            .map(|path| FileEntry {
                sha256: sha256_hex(&files[&path]),
                path,
            })
            .collect();
        let manifest_text = manifest.to_toml()?;
        Ok(Bundle {
            manifest,
            manifest_text,
            files,
            signature: None,
        })
    }

    /// Signs the bundle's manifest with `key`, replacing any signature.
    pub fn sign(&mut self, key: &SecretKey) {
        self.signature = Some(Signature {
            key: key.public().to_hex(),
            signature: hex::encode(key.sign(self.manifest_text.as_bytes())),
        });
    }

    /// The bundled manifest's exact text (what the signature covers).
    pub(crate) fn manifest_text(&self) -> &str {
        &self.manifest_text
    }

    /// Every file the manifest lists, with its sha256: components, then case files.
    pub(crate) fn listed_files(&self) -> impl Iterator<Item = (&str, &str)> {
        let rules = self.manifest.rules.iter().map(|r| {
            (
                r.component.as_str(),
                r.sha256.as_deref().unwrap_or_default(),
            )
        });
        let files = self
            .manifest
            .files
            .iter()
            .map(|f| (f.path.as_str(), f.sha256.as_str()));
        rules.chain(files)
    }

    /// A bundle from its parts (as a store keeps them), checked like [`Bundle::from_bytes`].
    pub(crate) fn from_parts(
        manifest_text: String,
        files: Vec<(String, Vec<u8>)>,
        signature: Option<Signature>,
        origin: &str,
    ) -> anyhow::Result<Bundle> {
        let manifest = Manifest::parse(&manifest_text, origin)?;
        let bundle = Bundle {
            manifest,
            manifest_text,
            files: files.into_iter().collect(),
            signature,
        };
        bundle.check_digests(origin)?;
        Ok(bundle)
    }

    /// A file of the bundle by its bundle path.
    pub fn file(&self, path: &str) -> Option<&[u8]> {
        self.files.get(path).map(Vec::as_slice)
    }

    /// The component of rule `id`.
    pub fn component(&self, id: &str) -> Option<&[u8]> {
        let rule = self.manifest.rules.iter().find(|r| r.id == id)?;
        self.file(&rule.component)
    }

    /// The bundle's bytes (deterministic).
    pub fn to_bytes(&self) -> anyhow::Result<Vec<u8>> {
        let mut builder = tar::Builder::new(Vec::new());
        let mut append = |path: &str, data: &[u8]| -> anyhow::Result<()> {
            let mut header = tar::Header::new_ustar();
            header
                .set_path(path)
                .with_context(|| format!("bundle path `{path}`"))?;
            header.set_size(data.len() as u64);
            header.set_mode(0o644);
            header.set_mtime(0);
            header.set_uid(0);
            header.set_gid(0);
            header.set_entry_type(tar::EntryType::Regular);
            header.set_cksum();
            builder
                .append(&header, data)
                .with_context(|| format!("writing `{path}` into the bundle"))
        };
        append(MANIFEST, self.manifest_text.as_bytes())?;
        if let Some(signature) = &self.signature {
            let text = toml::to_string(signature).context("writing the signature")?;
            append(SIGNATURE, text.as_bytes())?;
        }
        for (path, data) in &self.files {
            append(path, data)?;
        }
        builder.into_inner().context("finishing the bundle")
    }

    /// Reads a bundle and checks its shape and every digest (not the signature: see
    /// [`Bundle::verify`]). `origin` names it in errors.
    pub fn from_bytes(bytes: &[u8], origin: &str) -> anyhow::Result<Bundle> {
        if bytes.len() as u64 > MAX_BUNDLE_BYTES {
            bail!(
                "{origin}: {} bytes is over the bundle limit of {MAX_BUNDLE_BYTES}",
                bytes.len()
            );
        }
        let corrupt = |why: String| anyhow::anyhow!("{origin}: not a valid pack bundle: {why}");
        let mut archive = tar::Archive::new(Cursor::new(bytes));
        let mut manifest_text = None;
        let mut signature_text = None;
        let mut files = BTreeMap::new();
        let entries = archive.entries().map_err(|e| corrupt(e.to_string()))?;
        for entry in entries {
            let mut entry = entry.map_err(|e| corrupt(e.to_string()))?;
            if entry.header().entry_type() != tar::EntryType::Regular {
                bail!(corrupt(format!(
                    "entry of type {:?}; a bundle holds only regular files",
                    entry.header().entry_type()
                )));
            }
            let path = entry
                .path()
                .map_err(|e| corrupt(e.to_string()))?
                .into_owned();
            if !is_plain(&path) {
                bail!(corrupt(format!(
                    "entry path `{}` is not a plain relative path",
                    path.display()
                )));
            }
            let path = slash_path(&path);
            let size = entry.header().size().map_err(|e| corrupt(e.to_string()))?;
            if size > MAX_BUNDLE_BYTES {
                bail!(corrupt(format!("entry `{path}` claims {size} bytes")));
            }
            let mut data = Vec::with_capacity(size as usize);
            entry
                .read_to_end(&mut data)
                .map_err(|e| corrupt(format!("entry `{path}`: {e}")))?;
            let slot = match path.as_str() {
                MANIFEST => &mut manifest_text,
                SIGNATURE => &mut signature_text,
                _ => {
                    if files.len() >= MAX_FILES {
                        bail!(corrupt(format!("more than {MAX_FILES} files")));
                    }
                    if files.insert(path.clone(), data).is_some() {
                        bail!(corrupt(format!("`{path}` appears twice")));
                    }
                    continue;
                }
            };
            if slot.replace(data).is_some() {
                bail!(corrupt(format!("`{path}` appears twice")));
            }
        }
        let manifest_text =
            String::from_utf8(manifest_text.ok_or_else(|| corrupt(format!("no {MANIFEST}")))?)
                .map_err(|_| corrupt(format!("{MANIFEST} is not UTF-8")))?;
        let manifest = Manifest::parse(&manifest_text, &format!("{origin}: {MANIFEST}"))?;
        let signature =
            match signature_text {
                None => None,
                Some(bytes) => {
                    let text = String::from_utf8(bytes)
                        .map_err(|_| corrupt(format!("{SIGNATURE} is not UTF-8")))?;
                    Some(toml::from_str::<Signature>(&text).map_err(|e| {
                        corrupt(format!("{SIGNATURE}: {}", e.to_string().trim_end()))
                    })?)
                }
            };
        let bundle = Bundle {
            manifest,
            manifest_text,
            files,
            signature,
        };
        bundle.check_digests(origin)?;
        Ok(bundle)
    }

    /// Every file listed with the right digest, no file unlisted.
    fn check_digests(&self, origin: &str) -> anyhow::Result<()> {
        let mut listed: Vec<(&str, &str, String)> = Vec::new();
        for rule in &self.manifest.rules {
            let Some(sha) = &rule.sha256 else {
                bail!(
                    "{origin}: rule `{}` has no sha256 in the bundled manifest",
                    rule.id
                );
            };
            listed.push((
                &rule.component,
                sha,
                format!("the component of rule `{}`", rule.id),
            ));
            if let Some(cases) = &rule.cases
                && !self.manifest.files.iter().any(|f| &f.path == cases)
            {
                bail!(
                    "{origin}: rule `{}`: its cases `{cases}` are not listed as a [[file]]",
                    rule.id
                );
            }
        }
        for file in &self.manifest.files {
            listed.push((&file.path, &file.sha256, format!("file `{}`", file.path)));
        }
        for (path, sha, what) in &listed {
            let Some(data) = self.files.get(*path) else {
                bail!("{origin}: {what} (`{path}`) is missing from the bundle");
            };
            if sha256_hex(data) != *sha {
                bail!(
                    "{origin}: {what} does not match its sha256 in the manifest: the bundle was \
                     altered after it was built"
                );
            }
        }
        if let Some(extra) = self
            .files
            .keys()
            .find(|p| !listed.iter().any(|(l, _, _)| l == p))
        {
            bail!("{origin}: `{extra}` is in the bundle but not in its manifest");
        }
        Ok(())
    }

    /// Checks the signature against `trust`.
    pub fn verify(&self, trust: &Trust, origin: &str) -> anyhow::Result<SignatureStatus> {
        let label = self.manifest.label();
        let Some(signature) = &self.signature else {
            if trust.allow_unsigned {
                return Ok(SignatureStatus::UnsignedAllowed);
            }
            bail!(
                "{origin}: {label} is unsigned; sign it with `yagura pack sign --key KEY`, or allow \
                 unsigned packs for development (`--allow-unsigned` of `yagura serve` or of the \
                 command)"
            );
        };
        let key = PublicKey::from_hex(&signature.key)
            .with_context(|| format!("{origin}: {SIGNATURE}: the signer's key"))?;
        let bytes = hex::decode(&signature.signature).unwrap_or_default();
        if !key.verifies(self.manifest_text.as_bytes(), &bytes) {
            bail!(
                "{origin}: {label}: the signature does not match the manifest (key {}): the pack was \
                 altered after it was signed, or the signature is not this key's",
                key.id()
            );
        }
        if !trust.keys.contains(&key) {
            bail!(
                "{origin}: {label} is signed by key {}, which is not trusted here; after \
                 checking the key with the publisher, trust its .pub (over the API: `POST \
                 /v1/keys`; on the command line: `--trust KEY.pub`)",
                key.id()
            );
        }
        Ok(SignatureStatus::Trusted(key.id()))
    }

    /// Refuses a pack whose WIT or host requirement this host does not meet.
    pub fn check_requirements(&self, origin: &str) -> anyhow::Result<()> {
        let label = self.manifest.label();
        let wit = semver::Version::parse(crate::sandbox::WIT_VERSION)
            .context("the host's WIT version")?;
        if !self.manifest.requires.wit.matches(&wit) {
            bail!(
                "{origin}: {label} needs {} {}; this host runs {}@{wit}",
                crate::sandbox::WIT_PACKAGE,
                self.manifest.requires.wit,
                crate::sandbox::WIT_PACKAGE
            );
        }
        let host = semver::Version::parse(env!("CARGO_PKG_VERSION")).context("the host version")?;
        if !self.manifest.requires.host.matches(&host) {
            bail!(
                "{origin}: {label} needs Yagura {}; this is Yagura {host}",
                self.manifest.requires.host
            );
        }
        Ok(())
    }

    /// Writes the bundle's case files (and their events) under `dir`, keeping their paths, and
    /// returns each rule's cases file.
    pub(crate) fn extract_cases(&self, dir: &Path) -> anyhow::Result<Vec<(String, PathBuf)>> {
        for file in &self.manifest.files {
            let path = dir.join(&file.path);
            if let Some(parent) = path.parent() {
                std::fs::create_dir_all(parent)
                    .with_context(|| format!("cannot create {}", parent.display()))?;
            }
            std::fs::write(&path, &self.files[&file.path])
                .with_context(|| format!("cannot write {}", path.display()))?;
        }
        Ok(self
            .manifest
            .rules
            .iter()
            .filter_map(|r| r.cases.as_ref().map(|c| (r.id.clone(), dir.join(c))))
            .collect())
    }
}

/// A relative path of normal components only.
fn is_plain(path: &Path) -> bool {
    path.components().count() > 0 && path.components().all(|c| matches!(c, Component::Normal(_)))
}

fn slash_path(path: &Path) -> String {
    path.components()
        .map(|c| c.as_os_str().to_string_lossy())
        .collect::<Vec<_>>()
        .join("/")
}
