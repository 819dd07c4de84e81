//! The pack store: sled on disk (`<store>/db`), holding what a host runs.
//!
//! Trees:
//! - `meta`: `schema` → the store's schema version (u32, big-endian), checked on open. Version
//!   1 had no alert query indexes: opening it builds them from the alerts, then marks it 2.
//! - `blobs`: sha256 (hex) → bytes; every component and case file of every stored pack,
//!   content-addressed, so versions that share a component store it once.
//! - `packs`: `name \0 version` → [`PackRecord`] (JSON): the bundled manifest's exact text and
//!   signature (so a stored pack can be re-verified and re-exported), when and by whom it was
//!   imported, and the OCI repository and manifest digest it was pulled as ([`PackSource`]).
//!   Immutable: the same name and version with other content is refused.
//! - `active`: `tenant \0 name` → version.
//! - `history`: `tenant \0 name \0 id` (id: sled's monotonic id, big-endian) → [`HistoryEntry`]
//!   (JSON), append-only; each names the manifest digest of the version it made active, when
//!   that version came from a registry.
//! - `follows`: `tenant \0 id` → [`FollowRecord`] (JSON): the follows of OCI repositories and
//!   what their checks found (`follow.rs`).
//! - `keys`: key id → public key (hex): the publisher keys this store trusts.
//!
//! Crash consistency: an import writes its blobs first (idempotent: same key, same bytes), then
//! the pack record, and flushes; a crash before the record leaves only unreferenced blobs, which
//! [`Store::open`] removes. Activation and rollback write `active` and `history` in one sled
//! transaction, so both change or neither does. `tests/e2e/store.rs` kills `yagura` at each of
//! these points and checks the store it reopens.
//!
//! Compiled artifacts are not kept here: the sandbox's artifact cache (`<store>/cache`, keyed by
//! component digest and engine fingerprint) is rebuildable and never imported.

mod alert_index;
mod alerts;
mod auth;
mod checkpoint;
mod follow;
mod tenant;

mod error;

pub use alerts::{Alert, AlertChange, AlertFilter};
pub(crate) use auth::check_tenant_name;
pub use auth::{NewToken, Scope, TenantRecord, TokenRecord};
pub use checkpoint::Checkpoint;
pub(crate) use checkpoint::checkpoint_time;
pub use error::{StoreError, StoreResult};
pub use follow::{Activated, FollowRecord, FollowStatus, Gate, Refusal};
pub use tenant::{RuleConfig, ShadowRecord};

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use anyhow::{Context, bail};
use serde::{Deserialize, Serialize};
use sled::Transactional;
use sled::transaction::{ConflictableTransactionError, TransactionError};

use crate::pack::bundle::{Bundle, Signature, sha256_hex};
use crate::pack::{PublicKey, Trust};

/// The schema version this host reads and writes. 2: the alert query indexes
/// (`alert_index.rs`); 3: the dedup index by event time (`alert_spans`, `alerts.rs`). A store
/// of an older version is upgraded on open.
pub(crate) const SCHEMA_VERSION: u32 = 3;
/// The tenant of a single-tenant host.
pub const DEFAULT_TENANT: &str = "default";

/// A stored pack version.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct PackRecord {
    pub name: String,
    pub version: String,
    /// the bundled `pack.toml`, byte for byte (the signed text)
    pub manifest: String,
    pub signature: Option<Signature>,
    /// id of the key that signed it (none: imported unsigned in development mode)
    pub signer: Option<String>,
    /// ms since the Unix epoch
    pub imported_at: i64,
    pub imported_by: String,
    /// where it was pulled from, when it came from a registry
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source: Option<PackSource>,
}

/// The registry a stored version was pulled from, and the manifest it came as: the version is
/// pinned to that digest (docs/distribution.md).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PackSource {
    /// `oci://HOST/REPO`
    pub repository: String,
    /// the manifest's digest, `sha256:…`
    pub digest: String,
}

/// One line of the activation history.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct HistoryEntry {
    /// ms since the Unix epoch
    pub at: i64,
    pub who: String,
    /// `activate` or `rollback`
    pub action: String,
    pub from: Option<String>,
    pub to: String,
    pub reason: String,
    /// the manifest digest `to` was pulled as, when it came from a registry
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub digest: Option<String>,
}

/// What an import did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Imported {
    New,
    /// the same content was already stored
    AlreadyStored,
}

/// The store.
#[derive(Debug, Clone)]
pub struct Store {
    dir: PathBuf,
    db: sled::Db,
    meta: sled::Tree,
    blobs: sled::Tree,
    packs: sled::Tree,
    active: sled::Tree,
    history: sled::Tree,
    keys: sled::Tree,
}

/// Test hook: `YAGURA_CRASH_AT=<point>` aborts the process at that point, as a kill would
/// (`host/tests/all/store.rs`, `host/tests/all/durability.rs`). Points: `import-blobs` (blobs written, no record), `import-record`
/// (record written, not flushed), `activate` (before the activation's transaction),
/// `checkpoint-saved` (a checkpoint flushed, the WAL it covers not trimmed; `checkpoint.rs`),
/// `swap` (the engine thread about to swap in a new rule set; `runtime/worker.rs`).
/// Compiled in only with the `crash-points` feature (`cargo xtask test` turns it on).
#[cfg(feature = "crash-points")]
pub(crate) fn crash_point(point: &str) {
    if std::env::var("YAGURA_CRASH_AT").is_ok_and(|p| p == point) {
        std::process::abort();
    }
}

/// Without the `crash-points` feature, no crash point exists.
#[cfg(not(feature = "crash-points"))]
#[inline(always)]
pub(crate) fn crash_point(_point: &str) {}

/// Opens the sled database, waiting up to two seconds for its file lock: sled's background
/// flusher holds the database a moment after the last handle in this process is dropped, so a
/// reopen right after a close can find the lock still taken. Another process holding it is
/// reported after the wait.
fn open_db(path: &Path, cache_bytes: u64) -> sled::Result<sled::Db> {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(2);
    loop {
        match sled::Config::new()
            .path(path)
            .cache_capacity(cache_bytes)
            .open()
        {
            // sled reports a taken lock as an `Other` error whose text says so
            Err(sled::Error::Io(e))
                if (e.kind() == std::io::ErrorKind::WouldBlock
                    || e.to_string().contains("could not acquire lock"))
                    && std::time::Instant::now() < deadline =>
            {
                std::thread::sleep(std::time::Duration::from_millis(20));
            }
            other => return other,
        }
    }
}

pub(crate) fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
}

fn key2(a: &str, b: &str) -> Vec<u8> {
    let mut k = Vec::with_capacity(a.len() + b.len() + 1);
    k.extend_from_slice(a.as_bytes());
    k.push(0);
    k.extend_from_slice(b.as_bytes());
    k
}

/// What sled may keep of the store's pages in memory by default, bytes (sled's own default is
/// 1 GiB, which a long-running server fills: docs/performance.md, "The soak benchmark").
pub const DEFAULT_CACHE_BYTES: u64 = 256 << 20;

impl Store {
    /// Opens (or creates) the store in `dir`; `dir/db` is the sled database, with a page cache
    /// of [`DEFAULT_CACHE_BYTES`].
    pub fn open(dir: &Path) -> anyhow::Result<Store> {
        Store::open_with_cache(dir, DEFAULT_CACHE_BYTES)
    }

    /// [`Store::open`] with a page cache of `cache_bytes`.
    pub fn open_with_cache(dir: &Path, cache_bytes: u64) -> anyhow::Result<Store> {
        std::fs::create_dir_all(dir)
            .with_context(|| format!("cannot create the store folder {}", dir.display()))?;
        let db_path = dir.join("db");
        let db = open_db(&db_path, cache_bytes).map_err(|e| {
            let hint = if e.to_string().contains("lock") {
                " (is another yagura using this store?)"
            } else {
                ""
            };
            anyhow::anyhow!("cannot open the store {}: {e}{hint}", db_path.display())
        })?;
        let tree = |name: &str| {
            db.open_tree(name)
                .with_context(|| format!("cannot open tree `{name}` of {}", db_path.display()))
        };
        let store = Store {
            dir: dir.to_path_buf(),
            meta: tree("meta")?,
            blobs: tree("blobs")?,
            packs: tree("packs")?,
            active: tree("active")?,
            history: tree("history")?,
            keys: tree("keys")?,
            db,
        };
        store.check_schema()?;
        store.remove_orphan_blobs()?;
        Ok(store)
    }

    /// The sled database, for the trees of the server's parts (`auth.rs`, `alerts.rs`).
    pub(crate) fn db(&self) -> &sled::Db {
        &self.db
    }

    /// Writes everything to disk (sled's flush).
    pub fn flush(&self) -> anyhow::Result<()> {
        self.db.flush().context("cannot flush the store")?;
        Ok(())
    }

    /// The store's folder.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Where the sandbox keeps compiled artifacts for this store.
    pub fn cache_dir(&self) -> PathBuf {
        self.dir.join("cache")
    }

    fn check_schema(&self) -> anyhow::Result<()> {
        match self.meta.get("schema")? {
            None => {
                let empty = self.packs.is_empty() && self.active.is_empty();
                if !empty {
                    bail!(
                        "the store {} has data but no schema version; it was not written by Yagura",
                        self.dir.display()
                    );
                }
                self.meta.insert("schema", &SCHEMA_VERSION.to_be_bytes())?;
                self.db.flush()?;
                Ok(())
            }
            Some(v) => {
                let version = <[u8; 4]>::try_from(v.as_ref()).map(u32::from_be_bytes).ok();
                match version {
                    Some(SCHEMA_VERSION) => Ok(()),
                    Some(old @ (1 | 2)) => {
                        // A store written by an older host: build what it lacks (1: the alert
                        // indexes; 1 and 2: the dedup spans), and only then mark the store, so
                        // an interrupted build starts over at the next open (and an older host
                        // refuses it from then on).
                        let indexed = if old == 1 {
                            self.rebuild_alert_indexes()?
                        } else {
                            0
                        };
                        let spans = self.rebuild_alert_spans()?;
                        self.meta.insert("schema", &SCHEMA_VERSION.to_be_bytes())?;
                        self.db.flush()?;
                        tracing::info!(
                            store = %self.dir.display(),
                            indexed,
                            spans,
                            "upgraded the store from schema version {old} to {SCHEMA_VERSION}"
                        );
                        Ok(())
                    }
                    Some(other) => bail!(
                        "the store {} has schema version {other}; this Yagura reads version \
                         {SCHEMA_VERSION}",
                        self.dir.display()
                    ),
                    None => bail!(
                        "the store {}: its schema version is unreadable",
                        self.dir.display()
                    ),
                }
            }
        }
    }

    /// Blobs no pack references: left by an import that was killed before its record.
    fn remove_orphan_blobs(&self) -> anyhow::Result<usize> {
        let mut referenced = BTreeSet::new();
        for record in self.records()? {
            let manifest = crate::pack::Manifest::parse(&record.manifest, "stored manifest")?;
            referenced.extend(manifest.rules.iter().filter_map(|r| r.sha256.clone()));
            referenced.extend(manifest.files.iter().map(|f| f.sha256.clone()));
        }
        let mut removed = 0;
        for item in self.blobs.iter() {
            let (k, _) = item?;
            let key = String::from_utf8_lossy(&k).into_owned();
            if !referenced.contains(&key) {
                self.blobs.remove(k)?;
                removed += 1;
            }
        }
        if removed > 0 {
            self.db.flush()?;
            tracing::info!(removed, "removed blobs of an interrupted import");
        }
        Ok(removed)
    }

    /// How many blobs the store holds.
    pub fn blob_count(&self) -> usize {
        self.blobs.len()
    }

    /// Every stored pack version.
    pub fn records(&self) -> anyhow::Result<Vec<PackRecord>> {
        let mut out = Vec::new();
        for item in self.packs.iter() {
            let (_, v) = item?;
            out.push(serde_json::from_slice(&v).context("a stored pack record is unreadable")?);
        }
        Ok(out)
    }

    /// Trusts a publisher key in this store.
    pub fn trust_key(&self, key: &PublicKey) -> anyhow::Result<()> {
        self.keys.insert(key.id(), key.to_hex().as_bytes())?;
        self.db.flush()?;
        Ok(())
    }

    /// Stops trusting a key (by id); whether it was trusted.
    pub(crate) fn untrust_key(&self, id: &str) -> anyhow::Result<bool> {
        let had = self.keys.remove(id)?.is_some();
        self.db.flush()?;
        Ok(had)
    }

    /// The keys this store trusts.
    pub(crate) fn trusted_keys(&self) -> anyhow::Result<Vec<PublicKey>> {
        let mut out = Vec::new();
        for item in self.keys.iter() {
            let (_, v) = item?;
            out.push(PublicKey::from_hex(&String::from_utf8_lossy(&v))?);
        }
        Ok(out)
    }

    /// Whether `bundle` is new here, already stored with the same content, or refused: the
    /// same name and version with other content (a published version never changes).
    pub(crate) fn precheck(&self, bundle: &Bundle) -> StoreResult<Imported> {
        let m = &bundle.manifest;
        let (name, version) = (&m.pack.name, m.pack.version.to_string());
        let Some(existing) = self.packs.get(key2(name, &version))? else {
            return Ok(Imported::New);
        };
        let existing: PackRecord = serde_json::from_slice(&existing)?;
        if existing.manifest == bundle.manifest_text() {
            return Ok(Imported::AlreadyStored);
        }
        Err(StoreError::Conflict(format!(
            "{name}@{version} is already stored with other content (manifest sha256 {} here, {} \
             in the bundle); a published version never changes: publish a new version",
            &sha256_hex(existing.manifest.as_bytes())[..16],
            &sha256_hex(bundle.manifest_text().as_bytes())[..16]
        )))
    }

    /// Imports a bundle that has passed its checks (digests, signature, requirements, cases:
    /// the caller runs them). The same name and version with other content is refused.
    pub fn import(
        &self,
        bundle: &Bundle,
        signer: Option<String>,
        who: &str,
        source: Option<PackSource>,
    ) -> StoreResult<Imported> {
        let m = &bundle.manifest;
        let name = m.pack.name.clone();
        let version = m.pack.version.to_string();
        let key = key2(&name, &version);
        if self.precheck(bundle)? == Imported::AlreadyStored {
            return Ok(Imported::AlreadyStored);
        }
        for (path, sha) in bundle.listed_files() {
            let data = bundle
                .file(path)
                .context("a listed file is in the bundle")?;
            self.blobs.insert(sha.as_bytes(), data)?;
        }
        self.db.flush()?;
        crash_point("import-blobs");
        let record = PackRecord {
            name,
            version,
            manifest: bundle.manifest_text().to_owned(),
            signature: bundle.signature.clone(),
            signer,
            imported_at: now_ms(),
            imported_by: who.to_owned(),
            source,
        };
        self.packs.insert(key, serde_json::to_vec(&record)?)?;
        crash_point("import-record");
        self.db.flush()?;
        Ok(Imported::New)
    }

    /// The record of a stored version.
    pub fn record(&self, name: &str, version: &str) -> anyhow::Result<Option<PackRecord>> {
        self.packs
            .get(key2(name, version))?
            .map(|v| serde_json::from_slice(&v).context("a pack record is unreadable"))
            .transpose()
    }

    /// A stored pack version as a bundle (re-checked: digests of every blob).
    pub fn bundle(&self, name: &str, version: &str) -> anyhow::Result<Bundle> {
        let record = self
            .packs
            .get(key2(name, version))?
            .with_context(|| format!("{name}@{version} is not in the store"))?;
        let record: PackRecord = serde_json::from_slice(&record)?;
        let manifest =
            crate::pack::Manifest::parse(&record.manifest, &format!("{name}@{version}"))?;
        let mut files = Vec::new();
        let listed = manifest
            .rules
            .iter()
            .map(|r| (r.component.clone(), r.sha256.clone().unwrap_or_default()))
            .chain(
                manifest
                    .files
                    .iter()
                    .map(|f| (f.path.clone(), f.sha256.clone())),
            );
        for (path, sha) in listed {
            let data = self.blobs.get(sha.as_bytes())?.with_context(|| {
                format!("{name}@{version}: blob {sha} of `{path}` is missing from the store")
            })?;
            files.push((path, data.to_vec()));
        }
        Bundle::from_parts(
            record.manifest,
            files,
            record.signature,
            &format!("{name}@{version}"),
        )
    }

    /// The stored versions of `name`, oldest first.
    pub fn versions(&self, name: &str) -> anyhow::Result<Vec<semver::Version>> {
        let mut out = Vec::new();
        for item in self.packs.scan_prefix(key2(name, "")) {
            let (k, _) = item?;
            let version = &k[name.len() + 1..];
            out.push(semver::Version::parse(&String::from_utf8_lossy(version))?);
        }
        out.sort();
        Ok(out)
    }

    /// The version `spec` names: an exact version, or a requirement (`^1.2`) → the highest
    /// stored match.
    pub fn resolve(&self, name: &str, spec: &str) -> StoreResult<String> {
        let versions = self.versions(name)?;
        match crate::pack::resolve_version(&versions, name, spec, "stored") {
            Ok(version) => Ok(version.to_string()),
            Err(e @ crate::pack::VersionError::Invalid { .. }) => {
                Err(StoreError::Invalid(e.to_string()))
            }
            Err(e) => Err(StoreError::NotFound(e.to_string())),
        }
    }

    /// The active version of `name` for `tenant`.
    pub fn active(&self, tenant: &str, name: &str) -> anyhow::Result<Option<String>> {
        Ok(self
            .active
            .get(key2(tenant, name))?
            .map(|v| String::from_utf8_lossy(&v).into_owned()))
    }

    /// Every `(tenant, pack, version)` active.
    pub fn all_active(&self) -> anyhow::Result<Vec<(String, String, String)>> {
        let mut out = Vec::new();
        for item in self.active.iter() {
            let (k, v) = item?;
            let k = String::from_utf8_lossy(&k).into_owned();
            let (tenant, name) = k.split_once('\0').unwrap_or((&k, ""));
            out.push((
                tenant.to_owned(),
                name.to_owned(),
                String::from_utf8_lossy(&v).into_owned(),
            ));
        }
        Ok(out)
    }

    /// The activation history of `name` for `tenant`, oldest first.
    pub fn history(&self, tenant: &str, name: &str) -> anyhow::Result<Vec<HistoryEntry>> {
        let mut out = Vec::new();
        for item in self.history.scan_prefix(key2(tenant, &format!("{name}\0"))) {
            let (_, v) = item?;
            out.push(serde_json::from_slice(&v).context("a history entry is unreadable")?);
        }
        Ok(out)
    }

    /// Makes `version` (stored) the active version of `name` for `tenant`; the history records
    /// who, when, from which version and why. Returns the previous version.
    pub fn activate(
        &self,
        tenant: &str,
        name: &str,
        version: &str,
        who: &str,
        reason: &str,
    ) -> StoreResult<Option<String>> {
        self.switch(tenant, name, version, who, reason, "activate")
    }

    /// Returns `name` to the version that was active before the current one (undoing the
    /// last activation; repeated rollbacks walk further back). Returns the version now active.
    pub fn rollback(
        &self,
        tenant: &str,
        name: &str,
        who: &str,
        reason: &str,
    ) -> StoreResult<String> {
        let current = self.active(tenant, name)?.ok_or_else(|| {
            StoreError::NotFound(format!("pack `{name}` is not active for tenant `{tenant}`"))
        })?;
        // The undo stack: an activation pushes the version it replaced, a rollback pops.
        let mut stack: Vec<Option<String>> = Vec::new();
        for entry in self.history(tenant, name)? {
            match entry.action.as_str() {
                "rollback" => {
                    stack.pop();
                }
                _ => stack.push(entry.from),
            }
        }
        let Some(Some(previous)) = stack.pop() else {
            return Err(StoreError::Conflict(format!(
                "pack `{name}` has no earlier version to roll back to for tenant `{tenant}` (active: {current})"
            )));
        };
        if self.packs.get(key2(name, &previous))?.is_none() {
            return Err(StoreError::Conflict(format!(
                "the previous version {name}@{previous} has been removed from the store"
            )));
        }
        self.switch(tenant, name, &previous, who, reason, "rollback")?;
        Ok(previous)
    }

    fn switch(
        &self,
        tenant: &str,
        name: &str,
        version: &str,
        who: &str,
        reason: &str,
        action: &str,
    ) -> StoreResult<Option<String>> {
        check_tenant_name(tenant)?;
        if self.packs.get(key2(name, version))?.is_none() {
            return Err(StoreError::NotFound(format!(
                "{name}@{version} is not in the store"
            )));
        }
        let previous = self.active(tenant, name)?;
        // the tenant's own pull, else the operator's (`yagura pack pull`)
        let digest = match self.tenant_source(tenant, name, version)? {
            Some(source) => Some(source.digest),
            None => self
                .record(name, version)?
                .and_then(|r| r.source)
                .map(|s| s.digest),
        };
        let id = self.db.generate_id()?;
        let mut history_key = key2(tenant, &format!("{name}\0"));
        history_key.extend_from_slice(&id.to_be_bytes());
        let entry = HistoryEntry {
            at: now_ms(),
            who: who.to_owned(),
            action: action.to_owned(),
            from: previous.clone(),
            to: version.to_owned(),
            reason: reason.to_owned(),
            digest,
        };
        let entry = serde_json::to_vec(&entry)?;
        let active_key = key2(tenant, name);
        crash_point("activate");
        (&self.active, &self.history)
            .transaction(|(active, history)| {
                let now = active.get(&active_key)?.map(|v| v.to_vec());
                if now.as_deref() != previous.as_deref().map(str::as_bytes) {
                    return Err(ConflictableTransactionError::Abort(
                        "the active version changed meanwhile; try again",
                    ));
                }
                active.insert(active_key.as_slice(), version.as_bytes())?;
                history.insert(history_key.as_slice(), entry.as_slice())?;
                Ok(())
            })
            .map_err(|e| match e {
                TransactionError::Abort(why) => {
                    StoreError::Conflict(format!("activating {name}@{version}: {why}"))
                }
                TransactionError::Storage(e) => StoreError::Storage(e),
            })?;
        self.db.flush()?;
        Ok(previous)
    }

    /// Removes a stored version; refused while any tenant has it active.
    pub fn remove(&self, name: &str, version: &str) -> StoreResult<()> {
        if let Some((tenant, _, _)) = self
            .all_active()?
            .into_iter()
            .find(|(_, n, v)| n == name && v == version)
        {
            return Err(StoreError::Conflict(format!(
                "{name}@{version} is active for tenant `{tenant}`; activate another version or roll back first"
            )));
        }
        if self.packs.remove(key2(name, version))?.is_none() {
            return Err(StoreError::NotFound(format!(
                "{name}@{version} is not in the store"
            )));
        }
        self.db.flush()?;
        self.remove_orphan_blobs()?;
        Ok(())
    }

    /// The trust an import into this store uses: its keys plus `extra`.
    pub fn trust(&self, extra: &Trust) -> anyhow::Result<Trust> {
        let mut keys = self.trusted_keys()?;
        keys.extend(extra.keys.iter().copied());
        Ok(Trust {
            keys,
            allow_unsigned: extra.allow_unsigned,
        })
    }
}
