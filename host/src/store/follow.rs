//! Follows (docs/distribution.md): a tenant's standing order to run the highest version of
//! an OCI repository that satisfies a semver requirement, and what its checks found.
//!
//! Tree `follows`: `tenant \0 id` → [`FollowRecord`] (JSON).

use std::collections::BTreeMap;

use anyhow::Context;
use serde::{Deserialize, Serialize};

use super::Store;

/// A follow: where, what range, how often, and its status.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct FollowRecord {
    /// 16 hex digits
    pub id: String,
    pub tenant: String,
    /// `oci://HOST[:PORT]/REPO`
    pub repository: String,
    /// the semver requirement, as given (`^1.2`)
    pub req: String,
    /// seconds between two checks
    pub interval_s: u64,
    /// up to this many seconds more, chosen at random each time, so that hosts started
    /// together do not all ask the registry at once
    pub jitter_s: u64,
    /// after an activation, this many seconds in which a fault or a quarantine of one of the
    /// pack's rules rolls the version back; none: no health gate
    pub health_window_s: Option<u64>,
    pub created_by: String,
    /// ms since the Unix epoch
    pub created_at: i64,
    /// the pack the repository holds, learned from the first version pulled
    pub pack: Option<String>,
    pub status: FollowStatus,
}

/// What the checks of a follow found.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct FollowStatus {
    /// checks run
    pub checks: u64,
    /// ms since the Unix epoch
    pub last_check_at: Option<i64>,
    /// what the last check did, in words
    pub last_result: Option<String>,
    /// why the last check could not read the registry (it is down, refuses the credentials);
    /// the running rules are not touched. None when it could
    pub registry_error: Option<String>,
    /// versions refused: by version, the manifest digest refused and why. A version is tried
    /// again only when its tag points to another manifest
    pub refused: BTreeMap<String, Refusal>,
    /// the last version this follow activated
    pub activated: Option<Activated>,
    /// the health gate running now
    pub gate: Option<Gate>,
}

/// A version a follow refused.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Refusal {
    /// the manifest digest refused
    pub digest: String,
    pub reason: String,
    /// ms since the Unix epoch
    pub at: i64,
}

/// A version a follow activated.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Activated {
    pub version: String,
    pub digest: String,
    /// the version it replaced
    pub previous: Option<String>,
    /// ms since the Unix epoch
    pub at: i64,
}

/// The health gate of the last activation: until `until`, a fault or quarantine of one of the
/// pack's rules rolls the version back.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Gate {
    pub version: String,
    pub digest: String,
    /// ms since the Unix epoch
    pub until: i64,
    /// each rule's fault count when the version went live
    pub faults_before: BTreeMap<String, u64>,
}

fn key(tenant: &str, id: &str) -> String {
    format!("{tenant}\0{id}")
}

impl Store {
    fn follows_tree(&self) -> anyhow::Result<sled::Tree> {
        self.db()
            .open_tree("follows")
            .context("cannot open tree `follows` of the store")
    }

    /// Stores `record` (new or updated), durably.
    pub fn save_follow(&self, record: &FollowRecord) -> anyhow::Result<()> {
        self.follows_tree()?
            .insert(key(&record.tenant, &record.id), serde_json::to_vec(record)?)?;
        self.db().flush()?;
        Ok(())
    }

    /// Replaces `record`'s status, if the follow still exists (a follow removed during a
    /// check stays removed). Whether it did.
    pub fn update_follow_status(&self, record: &FollowRecord) -> anyhow::Result<bool> {
        let tree = self.follows_tree()?;
        let k = key(&record.tenant, &record.id);
        let updated = tree
            .update_and_fetch(&k, |old| {
                let old: FollowRecord = serde_json::from_slice(old?).ok()?;
                let new = FollowRecord {
                    pack: record.pack.clone().or(old.pack),
                    status: record.status.clone(),
                    ..old
                };
                serde_json::to_vec(&new).ok()
            })?
            .is_some();
        self.db().flush()?;
        Ok(updated)
    }

    /// Removes a follow; whether there was one.
    pub fn remove_follow(&self, tenant: &str, id: &str) -> anyhow::Result<bool> {
        let had = self.follows_tree()?.remove(key(tenant, id))?.is_some();
        self.db().flush()?;
        Ok(had)
    }

    /// One follow of `tenant`.
    pub fn follow(&self, tenant: &str, id: &str) -> anyhow::Result<Option<FollowRecord>> {
        self.follows_tree()?
            .get(key(tenant, id))?
            .map(|v| serde_json::from_slice(&v).context("a stored follow is unreadable"))
            .transpose()
    }

    /// The follows of `tenant`, or of every tenant; an unreadable one is logged and left out.
    pub fn follows(&self, tenant: Option<&str>) -> anyhow::Result<Vec<FollowRecord>> {
        let tree = self.follows_tree()?;
        let items = match tenant {
            Some(t) => tree.scan_prefix(format!("{t}\0")),
            None => tree.scan_prefix(""),
        };
        let mut out = Vec::new();
        for item in items {
            let (k, v) = item?;
            match serde_json::from_slice(&v) {
                Ok(record) => out.push(record),
                Err(e) => tracing::error!(
                    key = %String::from_utf8_lossy(&k).replace('\0', "/"),
                    error = %e,
                    "a stored follow is unreadable; it is not checked"
                ),
            }
        }
        Ok(out)
    }
}
