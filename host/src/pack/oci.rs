//! Packs as OCI artifacts (docs/distribution.md): push a bundle to a registry, pull it back,
//! list the versions a repository holds. The registry protocol is oci-client's (the ORAS
//! project's client); this module decides what a pack looks like there and what is checked.
//!
//! A pack is an OCI image manifest with
//! - `artifactType` [`ARTIFACT_TYPE`], and annotations naming the pack, its version,
//!   publisher, signer key id and WIT range ([`annotations`]);
//! - a config blob of type [`CONFIG_TYPE`]: the same facts as JSON, for registries that show
//!   the config but not `artifactType` (distribution 2.8);
//! - one layer of type [`LAYER_TYPE`]: the `.ypack` bytes, unchanged.
//!
//! The manifest is written from sorted maps, so the same bundle pushed twice is the same
//! manifest digest. Pulling checks the manifest's digest (against the one asked for, when the
//! reference names one), its type, the layer's size before reading it and its digest after;
//! the bundle is then checked as `pack import` checks a file.

use std::collections::BTreeMap;
use std::fmt;
use std::net::IpAddr;
use std::path::{Path, PathBuf};

use anyhow::{Context, bail};
use futures_util::StreamExt;
use oci_client::client::{Certificate, CertificateEncoding, ClientConfig, ClientProtocol};
use oci_client::errors::{DigestError, OciDistributionError, OciErrorCode};
use oci_client::manifest::{OCI_IMAGE_MEDIA_TYPE, OciDescriptor, OciImageManifest};
use oci_client::secrets::RegistryAuth;
use oci_client::{Client, Reference};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use super::bundle::{Bundle, MAX_BUNDLE_BYTES};
use super::sign::PublicKey;

/// The manifest's `artifactType`.
pub const ARTIFACT_TYPE: &str = "application/vnd.yagura.pack.v1";
/// The config blob's media type.
pub const CONFIG_TYPE: &str = "application/vnd.yagura.pack.config.v1+json";
/// The one layer's media type: the `.ypack` (a POSIX tar) as it is.
pub const LAYER_TYPE: &str = "application/vnd.yagura.pack.v1.tar";
/// Where Yagura's annotations start.
const ANNOTATION: &str = "dev.yagura.pack.";
/// A manifest larger than this is no pack's.
const MAX_MANIFEST_BYTES: usize = 64 << 10;
/// Tags asked for at a time when listing a repository, and the most pages read.
const TAG_PAGE: usize = 1_000;
const MAX_TAG_PAGES: usize = 100;

/// What a registry holds is refused: not a pack, too large, changed after it was pushed. The
/// registry answered; asking again gives the same answer until its content changes. Other
/// errors of [`Registry::pull`] are the registry's or the network's, and may pass.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct ContentError(pub String);

/// A registry, a repository and maybe a tag or digest: `oci://HOST[:PORT]/REPO[:TAG][@DIGEST]`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PackRef {
    pub registry: String,
    pub repository: String,
    pub tag: Option<String>,
    pub digest: Option<String>,
}

impl PackRef {
    /// Parses `oci://HOST[:PORT]/REPO[:TAG][@DIGEST]`. The host is always named (no default
    /// registry), so a reference means the same on every machine.
    pub fn parse(text: &str) -> anyhow::Result<PackRef> {
        let bad = |why: &str| {
            anyhow::anyhow!(
                "`{text}`: {why}; expected oci://HOST[:PORT]/REPO[:TAG] or \
                 oci://HOST[:PORT]/REPO@sha256:DIGEST"
            )
        };
        let rest = text
            .strip_prefix("oci://")
            .ok_or_else(|| bad("not an oci:// reference"))?;
        let (registry, path) = rest
            .split_once('/')
            .ok_or_else(|| bad("no repository after the host"))?;
        if registry.is_empty() || path.is_empty() {
            return Err(bad("the host or the repository is empty"));
        }
        let (path, digest) = match path.split_once('@') {
            Some((p, d)) => (p, Some(d.to_owned())),
            None => (path, None),
        };
        let (repository, tag) = match path.rsplit_once(':') {
            Some((r, t)) if !t.contains('/') => (r, Some(t.to_owned())),
            _ => (path, None),
        };
        // the grammar of the distribution spec, by the library that implements it
        let canonical = format!(
            "{registry}/{repository}{}{}",
            tag.as_deref().map(|t| format!(":{t}")).unwrap_or_default(),
            digest
                .as_deref()
                .map(|d| format!("@{d}"))
                .unwrap_or_default()
        );
        let parsed: Reference = canonical.parse().map_err(|e| bad(&format!("{e}")))?;
        if parsed.registry() != registry {
            return Err(bad("the host must be named first (`HOST/REPO`)"));
        }
        Ok(PackRef {
            registry: registry.to_owned(),
            repository: repository.to_owned(),
            tag,
            digest,
        })
    }

    /// The same repository at `tag`.
    pub fn at_tag(&self, tag: &str) -> PackRef {
        PackRef {
            tag: Some(tag.to_owned()),
            digest: None,
            ..self.clone()
        }
    }

    /// The same repository at `digest`.
    pub fn at_digest(&self, digest: &str) -> PackRef {
        PackRef {
            tag: None,
            digest: Some(digest.to_owned()),
            ..self.clone()
        }
    }

    /// `oci://HOST/REPO`, without tag or digest.
    pub fn repository_url(&self) -> String {
        format!("oci://{}/{}", self.registry, self.repository)
    }

    /// Whether the registry is on this machine (plain HTTP is allowed to it).
    pub fn is_loopback(&self) -> bool {
        // the reference grammar has no IPv6 literals: HOST[:PORT]
        let host = self.registry.split(':').next().unwrap_or_default();
        host.eq_ignore_ascii_case("localhost")
            || host.parse::<IpAddr>().is_ok_and(|ip| ip.is_loopback())
    }

    fn reference(&self) -> Reference {
        match (&self.digest, &self.tag) {
            (Some(digest), _) => Reference::with_digest(
                self.registry.clone(),
                self.repository.clone(),
                digest.clone(),
            ),
            (None, tag) => Reference::with_tag(
                self.registry.clone(),
                self.repository.clone(),
                tag.clone().unwrap_or_else(|| "latest".to_owned()),
            ),
        }
    }
}

impl fmt::Display for PackRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "oci://{}/{}", self.registry, self.repository)?;
        if let Some(tag) = &self.tag {
            write!(f, ":{tag}")?;
        }
        if let Some(digest) = &self.digest {
            write!(f, "@{digest}")?;
        }
        Ok(())
    }
}

/// How to reach a registry.
#[derive(Debug, Clone, Default)]
pub struct RegistryOptions {
    /// Plain HTTP to a registry not on this machine (loopback is always plain HTTP)
    pub insecure: bool,
    /// CA certificates (PEM) to trust besides the public roots
    pub ca: Option<PathBuf>,
    /// Basic credentials; none: Docker's config.json (and its credential helpers), else none
    pub username: Option<String>,
    pub password: Option<String>,
}

/// A registry client for one repository.
pub struct Registry {
    client: Client,
    auth: RegistryAuth,
    /// where the credentials came from, for errors
    auth_from: String,
    repo: PackRef,
}

impl fmt::Debug for Registry {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Registry")
            .field("repo", &self.repo)
            .field("auth_from", &self.auth_from)
            .finish_non_exhaustive()
    }
}

/// What a push did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Pushed {
    pub reference: PackRef,
    /// the manifest's digest
    pub digest: String,
    /// the tag held this very manifest already
    pub unchanged: bool,
}

/// A pulled pack.
#[derive(Debug, Clone)]
pub struct Pulled {
    /// the reference, with the tag resolved and the manifest digest
    pub reference: PackRef,
    pub digest: String,
    /// the `.ypack` bytes (the layer, digest checked)
    pub bytes: Vec<u8>,
}

/// The facts about a pack a registry shows: the config blob and, as `dev.yagura.pack.*`,
/// the manifest's annotations.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PackFacts {
    pub name: String,
    pub version: String,
    pub publisher: String,
    /// the signer's key id; none: unsigned
    pub signer: Option<String>,
    /// the WIT requirement
    pub wit: String,
}

impl PackFacts {
    pub fn of(bundle: &Bundle) -> PackFacts {
        let m = &bundle.manifest;
        PackFacts {
            name: m.pack.name.clone(),
            version: m.pack.version.to_string(),
            publisher: m.pack.publisher.clone(),
            signer: bundle
                .signature
                .as_ref()
                .and_then(|s| PublicKey::from_hex(&s.key).ok())
                .map(|k| k.id()),
            wit: m.requires.wit.to_string(),
        }
    }
}

/// The manifest's annotations for `facts`.
pub fn annotations(facts: &PackFacts) -> BTreeMap<String, String> {
    let mut out = BTreeMap::new();
    let mut put = |k: &str, v: &str| out.insert(k.to_owned(), v.to_owned());
    put(&format!("{ANNOTATION}name"), &facts.name);
    put(&format!("{ANNOTATION}version"), &facts.version);
    put(&format!("{ANNOTATION}publisher"), &facts.publisher);
    put(
        &format!("{ANNOTATION}signer"),
        facts.signer.as_deref().unwrap_or("none"),
    );
    put(&format!("{ANNOTATION}wit"), &facts.wit);
    put("org.opencontainers.image.title", &facts.name);
    put("org.opencontainers.image.version", &facts.version);
    put("org.opencontainers.image.vendor", &facts.publisher);
    out
}

/// `sha256:HEX` of `bytes`.
fn digest_of(bytes: &[u8]) -> String {
    format!("sha256:{}", hex::encode(Sha256::digest(bytes)))
}

/// The manifest, config and layer of `bundle` (its bytes are `bytes`), and the manifest's
/// bytes: deterministic.
fn artifact(bundle: &Bundle, bytes: &[u8]) -> anyhow::Result<(Vec<u8>, Vec<u8>)> {
    let facts = PackFacts::of(bundle);
    let config = serde_json::to_vec(&facts)?;
    let mut layer_notes = BTreeMap::new();
    layer_notes.insert(
        "org.opencontainers.image.title".to_owned(),
        format!("{}-{}.ypack", facts.name, facts.version),
    );
    let manifest = OciImageManifest {
        schema_version: 2,
        media_type: Some(OCI_IMAGE_MEDIA_TYPE.to_owned()),
        config: OciDescriptor {
            media_type: CONFIG_TYPE.to_owned(),
            digest: digest_of(&config),
            size: i64::try_from(config.len())?,
            ..OciDescriptor::default()
        },
        layers: vec![OciDescriptor {
            media_type: LAYER_TYPE.to_owned(),
            digest: digest_of(bytes),
            size: i64::try_from(bytes.len())?,
            annotations: Some(layer_notes),
            ..OciDescriptor::default()
        }],
        subject: None,
        artifact_type: Some(ARTIFACT_TYPE.to_owned()),
        annotations: Some(annotations(&facts)),
    };
    Ok((serde_json::to_vec(&manifest)?, config))
}

/// Whether `e` says the manifest or blob is not there.
fn not_found(e: &OciDistributionError) -> bool {
    match e {
        OciDistributionError::ImageManifestNotFoundError(_) => true,
        OciDistributionError::ServerError { code, .. } => *code == 404,
        OciDistributionError::RegistryError { envelope, .. } => envelope.errors.iter().any(|e| {
            matches!(
                e.code,
                OciErrorCode::ManifestUnknown
                    | OciErrorCode::NameUnknown
                    | OciErrorCode::BlobUnknown
                    | OciErrorCode::NotFound
            )
        }),
        _ => false,
    }
}

impl RegistryOptions {
    /// A client for `repo`'s registry: plain HTTP to loopback or with `insecure`, else
    /// HTTPS with the public roots and `ca`; credentials as [`RegistryOptions`] says.
    pub fn connect(&self, repo: &PackRef) -> anyhow::Result<Registry> {
        let protocol = if self.insecure || repo.is_loopback() {
            ClientProtocol::HttpsExcept(vec![repo.registry.clone()])
        } else {
            ClientProtocol::Https
        };
        let mut extra_root_certificates = Vec::new();
        if let Some(path) = &self.ca {
            extra_root_certificates = ca_certificates(path)?;
        }
        let config = ClientConfig {
            protocol,
            extra_root_certificates,
            connect_timeout: Some(std::time::Duration::from_secs(10)),
            read_timeout: Some(std::time::Duration::from_secs(60)),
            // a pack is one artifact: nothing to choose among platforms
            platform_resolver: None,
            ..ClientConfig::default()
        };
        let client = Client::try_from(config)
            .with_context(|| format!("{}: cannot build the registry client", repo.registry))?;
        let (auth, auth_from) = self.credentials(&repo.registry)?;
        Ok(Registry {
            client,
            auth,
            auth_from,
            repo: repo.clone(),
        })
    }

    fn credentials(&self, registry: &str) -> anyhow::Result<(RegistryAuth, String)> {
        match (&self.username, &self.password) {
            (Some(user), Some(password)) => {
                return Ok((
                    RegistryAuth::Basic(user.clone(), password.clone()),
                    format!("user `{user}` given to yagura"),
                ));
            }
            (Some(user), None) => bail!(
                "a registry user (`{user}`) but no password: set YAGURA_REGISTRY_PASSWORD or \
                 pass --password-stdin"
            ),
            (None, Some(_)) => {
                bail!("a registry password but no user: set YAGURA_REGISTRY_USERNAME or --username")
            }
            (None, None) => {}
        }
        match docker_credential::get_credential(registry) {
            Ok(docker_credential::DockerCredential::UsernamePassword(user, password)) => Ok((
                RegistryAuth::Basic(user.clone(), password),
                format!("user `{user}` from Docker's config.json"),
            )),
            Ok(docker_credential::DockerCredential::IdentityToken(token)) => Ok((
                RegistryAuth::Bearer(token),
                "an identity token from Docker's config.json".to_owned(),
            )),
            // no config file, no entry for this registry: anonymous
            Err(_) => Ok((RegistryAuth::Anonymous, "no credentials".to_owned())),
        }
    }
}

/// The PEM certificates of `path`, for the client's roots; an error names the file and why.
pub(crate) fn ca_certificates(path: &Path) -> anyhow::Result<Vec<Certificate>> {
    let at = || format!("the CA file {}", path.display());
    let pem = std::fs::read(path).with_context(|| format!("{}: cannot read it", at()))?;
    // parsed here, so a file with no certificate is an error naming it, not ignored
    let parsed = reqwest::Certificate::from_pem_bundle(&pem)
        .with_context(|| format!("{}: not PEM certificates", at()))?;
    if parsed.is_empty() {
        bail!("{}: holds no `-----BEGIN CERTIFICATE-----` block", at());
    }
    Ok(vec![Certificate {
        encoding: CertificateEncoding::Pem,
        data: pem,
    }])
}

impl Registry {
    /// The repository this client works on.
    pub fn repo(&self) -> &PackRef {
        &self.repo
    }

    /// Adds what the user can do about a registry error.
    fn explain(&self, e: OciDistributionError, doing: &str) -> anyhow::Error {
        let hint = match &e {
            OciDistributionError::UnauthorizedError { .. }
            | OciDistributionError::AuthenticationFailure(_) => format!(
                " (the registry refused {}: set YAGURA_REGISTRY_USERNAME and \
                 YAGURA_REGISTRY_PASSWORD, pass --username, or `docker login {}`)",
                self.auth_from, self.repo.registry
            ),
            OciDistributionError::RequestError(r) if r.is_connect() || r.is_timeout() => format!(
                " (cannot reach {}{})",
                self.repo.registry,
                if self.repo.is_loopback() {
                    ""
                } else {
                    "; a registry without TLS needs --insecure"
                }
            ),
            _ => String::new(),
        };
        anyhow::Error::new(e).context(format!("{doing}{hint}"))
    }

    /// The digest of the manifest `at` names, or none when there is none.
    pub async fn manifest_digest(&self, at: &PackRef) -> anyhow::Result<Option<String>> {
        match self
            .client
            .fetch_manifest_digest(&at.reference(), &self.auth)
            .await
        {
            Ok(digest) => Ok(Some(digest)),
            Err(e) if not_found(&e) => Ok(None),
            Err(e) => Err(self.explain(e, &format!("{at}: reading the manifest digest"))),
        }
    }

    /// Pushes `bundle` (whose bytes are `bytes`) under `tag`. A tag that is a version names
    /// that version for good: when it already holds another manifest, the push is refused.
    pub async fn push(&self, bundle: &Bundle, bytes: &[u8], tag: &str) -> anyhow::Result<Pushed> {
        let target = self.repo.at_tag(tag);
        let (manifest, config) = artifact(bundle, bytes)?;
        let digest = digest_of(&manifest);
        let version = bundle.manifest.pack.version.to_string();
        match self.manifest_digest(&target).await? {
            Some(there) if there == digest => {
                return Ok(Pushed {
                    reference: target,
                    digest,
                    unchanged: true,
                });
            }
            Some(there) if semver::Version::parse(tag).is_ok() => bail!(
                "{target} already holds other content ({there}; this bundle is {digest}): a \
                 published version never changes, so publish {} {} as a new version",
                bundle.manifest.pack.name,
                if tag == version {
                    "with a higher version".to_owned()
                } else {
                    format!("under its own version tag ({version})")
                }
            ),
            _ => {}
        }
        let reference = target.reference();
        let doing = |what: &str| format!("{target}: pushing {what}");
        self.client
            .push_blob(&reference, bytes, &digest_of(bytes))
            .await
            .map_err(|e| self.explain(e, &doing("the pack layer")))?;
        self.client
            .push_blob(&reference, &config, &digest_of(&config))
            .await
            .map_err(|e| self.explain(e, &doing("the config")))?;
        self.client
            .push_manifest_raw(
                &reference,
                manifest,
                OCI_IMAGE_MEDIA_TYPE
                    .parse()
                    .context("the manifest media type is a header value")?,
            )
            .await
            .map_err(|e| self.explain(e, &doing("the manifest")))?;
        Ok(Pushed {
            reference: target,
            digest,
            unchanged: false,
        })
    }

    /// The semver tags of the repository, lowest first (other tags are left out).
    pub async fn versions(&self) -> anyhow::Result<Vec<semver::Version>> {
        let reference = self.repo.at_tag("latest").reference();
        let mut out = Vec::new();
        let mut last: Option<String> = None;
        for _ in 0..MAX_TAG_PAGES {
            let page = match self
                .client
                .list_tags(&reference, &self.auth, Some(TAG_PAGE), last.as_deref())
                .await
            {
                Ok(page) => page,
                // a repository never pushed to has no tags
                Err(e) if not_found(&e) && last.is_none() => return Ok(Vec::new()),
                Err(e) => {
                    return Err(self.explain(
                        e,
                        &format!("{}: listing the tags", self.repo.repository_url()),
                    ));
                }
            };
            let full = page.tags.len() >= TAG_PAGE;
            last = page.tags.last().cloned();
            out.extend(
                page.tags
                    .iter()
                    .filter_map(|t| semver::Version::parse(t).ok()),
            );
            if !full || last.is_none() {
                break;
            }
        }
        out.sort();
        out.dedup();
        Ok(out)
    }

    /// Pulls the pack `at` names (a tag or a digest): the manifest, checked to be a pack's,
    /// then the layer, its size checked before it is read and its digest after.
    pub async fn pull(&self, at: &PackRef) -> anyhow::Result<Pulled> {
        let reference = at.reference();
        let (manifest_bytes, digest) = self
            .client
            .pull_manifest_raw(&reference, &self.auth, &[OCI_IMAGE_MEDIA_TYPE])
            .await
            .map_err(|e| {
                if not_found(&e) {
                    anyhow::anyhow!("{at}: no such tag or digest in the registry")
                } else {
                    self.explain(e, &format!("{at}: pulling the manifest"))
                }
            })?;
        let refuse = |why: String| anyhow::Error::new(ContentError(format!("{at}: {why}")));
        if let Some(asked) = &at.digest
            && *asked != digest
        {
            return Err(refuse(format!(
                "the registry answered with manifest {digest}, not the one asked for"
            )));
        }
        if manifest_bytes.len() > MAX_MANIFEST_BYTES {
            return Err(refuse(format!(
                "the manifest is {} bytes, more than a pack's ({MAX_MANIFEST_BYTES})",
                manifest_bytes.len()
            )));
        }
        let manifest: OciImageManifest = serde_json::from_slice(&manifest_bytes)
            .map_err(|e| refuse(format!("the manifest is not an OCI image manifest: {e}")))?;
        let is_pack = manifest.artifact_type.as_deref() == Some(ARTIFACT_TYPE)
            || manifest.config.media_type == CONFIG_TYPE;
        if !is_pack {
            return Err(refuse(format!(
                "not a Yagura pack (artifact type {}, config {}; a pack is {ARTIFACT_TYPE})",
                manifest.artifact_type.as_deref().unwrap_or("none"),
                manifest.config.media_type
            )));
        }
        let mut layers = manifest
            .layers
            .iter()
            .filter(|l| l.media_type == LAYER_TYPE);
        let (Some(layer), None) = (layers.next(), layers.next()) else {
            return Err(refuse(format!(
                "a pack's manifest has exactly one {LAYER_TYPE} layer"
            )));
        };
        // the client would fetch a blob it cannot get from the registry at these addresses:
        // anywhere the manifest's author likes. A pack's layer is in its registry.
        if layer.urls.as_ref().is_some_and(|u| !u.is_empty()) {
            return Err(refuse(
                "the pack layer names other addresses (`urls`); a pack's layer is fetched \
                 from its registry only"
                    .to_owned(),
            ));
        }
        let size = u64::try_from(layer.size).unwrap_or(u64::MAX);
        if size > MAX_BUNDLE_BYTES {
            return Err(refuse(format!(
                "the pack layer is {} bytes, over the bundle limit of {MAX_BUNDLE_BYTES}",
                layer.size
            )));
        }
        let bytes = self.blob(at, layer, size).await?;
        Ok(Pulled {
            reference: at.clone(),
            digest,
            bytes,
        })
    }

    /// The blob `layer` names: no more than `size` bytes, its digest checked.
    async fn blob(
        &self,
        at: &PackRef,
        layer: &OciDescriptor,
        size: u64,
    ) -> anyhow::Result<Vec<u8>> {
        let doing = format!("{at}: pulling the pack layer {}", layer.digest);
        let mut stream = self
            .client
            .pull_blob_stream(&at.reference(), layer)
            .await
            .map_err(|e| self.explain(e, &doing))?;
        let mut bytes = Vec::with_capacity(usize::try_from(size).unwrap_or(0));
        let tampered = |got: &str| {
            anyhow::Error::new(ContentError(format!(
                "{doing}: the content's digest is {got}: it was changed after it was pushed; \
                 refusing it"
            )))
        };
        while let Some(chunk) = stream.next().await {
            let chunk = match chunk {
                Ok(chunk) => chunk,
                // the client checks the digest at the end of the stream too
                Err(e) => match e.get_ref().and_then(|e| e.downcast_ref::<DigestError>()) {
                    Some(DigestError::VerificationError { actual, .. }) => {
                        return Err(tampered(actual));
                    }
                    _ => return Err(anyhow::Error::new(e).context(doing)),
                },
            };
            if (bytes.len() + chunk.len()) as u64 > size {
                return Err(ContentError(format!(
                    "{doing}: the registry sent more than the manifest's {size} bytes"
                ))
                .into());
            }
            bytes.extend_from_slice(&chunk);
        }
        if bytes.len() as u64 != size {
            return Err(ContentError(format!(
                "{doing}: the registry sent {} bytes, the manifest says {size}",
                bytes.len()
            ))
            .into());
        }
        let got = digest_of(&bytes);
        if got != layer.digest {
            return Err(tampered(&got));
        }
        Ok(bytes)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn references_parse_with_tag_digest_or_neither() {
        let r = PackRef::parse("oci://127.0.0.1:5000/acme/core:1.2.0").expect("parses");
        assert_eq!(r.registry, "127.0.0.1:5000");
        assert_eq!(r.repository, "acme/core");
        assert_eq!(r.tag.as_deref(), Some("1.2.0"));
        assert!(r.is_loopback());
        assert_eq!(r.to_string(), "oci://127.0.0.1:5000/acme/core:1.2.0");

        let r = PackRef::parse("oci://registry.example.com/core").expect("parses");
        assert_eq!((r.tag, r.digest), (None, None));
        assert!(
            !PackRef::parse("oci://registry.example.com/core")
                .expect("parses")
                .is_loopback()
        );

        let digest = format!("sha256:{}", "a".repeat(64));
        let r = PackRef::parse(&format!("oci://localhost:5000/core@{digest}")).expect("parses");
        assert_eq!(r.digest.as_deref(), Some(digest.as_str()));
        assert!(r.is_loopback());
    }

    #[test]
    fn bad_references_say_what_is_expected() {
        for bad in [
            "https://example.com/core",
            "oci://example.com",
            "oci:///core",
            "oci://example.com/Core:1.0",
            "oci://example.com/core@sha256:short",
            "oci://[::1]:5000/core",
        ] {
            let e = PackRef::parse(bad).expect_err(bad).to_string();
            assert!(e.contains(bad) && e.contains("oci://HOST"), "{bad}: {e}");
        }
    }
}
