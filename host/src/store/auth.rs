//! Who may do what on a server: tenants, API tokens, and which pack versions each tenant holds.
//! A tenant's own settings for the rules it runs are in `tenant`.
//!
//! Trees:
//! - `tenants`: name → [`TenantRecord`] (JSON).
//! - `tokens`: token id → [`TokenRecord`] (JSON). A token is `ygr_<id>_<secret>`; the store
//!   keeps the sha256 of the whole token, never the token itself, so a copy of the store does
//!   not hand out access.
//! - `tenant_packs`: `tenant \0 name \0 version` → empty: the pack versions a tenant uploaded.
//!   Packs are stored once (content-addressed, immutable) but each tenant sees, activates and
//!   removes only the versions it holds.
//! - `tenant_keys`: `tenant \0 key id` → the key's hex: publisher keys one tenant trusts
//!   besides the store-wide `keys` tree.

use anyhow::Context;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use super::{PackSource, Store, StoreError, StoreResult, now_ms};
use crate::pack::PublicKey;

/// What a token may do.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub enum Scope {
    /// everything, on every tenant: tenants, tokens, and any tenant's data
    #[serde(rename = "admin")]
    Admin,
    /// upload, activate, roll back and remove the tenant's packs
    #[serde(rename = "packs:write")]
    PacksWrite,
    /// send events to the tenant's engine
    #[serde(rename = "events:write")]
    EventsWrite,
    /// read the tenant's alerts, packs, rules and metrics
    #[serde(rename = "alerts:read")]
    AlertsRead,
}

impl Scope {
    pub const ALL: [Scope; 4] = [
        Scope::Admin,
        Scope::PacksWrite,
        Scope::EventsWrite,
        Scope::AlertsRead,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Scope::Admin => "admin",
            Scope::PacksWrite => "packs:write",
            Scope::EventsWrite => "events:write",
            Scope::AlertsRead => "alerts:read",
        }
    }
}

/// A tenant.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TenantRecord {
    pub name: String,
    /// ms since the Unix epoch
    pub created_at: i64,
}

/// A stored token: everything but the secret.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TokenRecord {
    pub id: String,
    pub tenant: String,
    /// what it is for, as its creator said
    pub name: String,
    pub scopes: Vec<Scope>,
    /// ms since the Unix epoch
    pub created_at: i64,
    /// sha256 (hex) of the whole token
    #[serde(skip_serializing_if = "String::is_empty", default)]
    pub sha256: String,
}

impl TokenRecord {
    pub fn has(&self, scope: Scope) -> bool {
        self.scopes.contains(&Scope::Admin) || self.scopes.contains(&scope)
    }
}

/// A token just created: the secret is shown once and never stored.
#[derive(Debug, Clone)]
pub struct NewToken {
    pub record: TokenRecord,
    pub token: String,
}

/// Tenant names: 1-64 of a-z, 0-9, `-` and `_`, starting with a letter or digit.
pub(crate) fn check_tenant_name(name: &str) -> StoreResult<()> {
    let ok = !name.is_empty()
        && name.len() <= 64
        && name
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'_')
        && name
            .bytes()
            .next()
            .is_some_and(|b| b.is_ascii_alphanumeric());
    if !ok {
        return Err(StoreError::Invalid(format!(
            "tenant name `{name}` must be 1-64 characters of a-z, 0-9, `-` and `_`, starting \
             with a letter or digit"
        )));
    }
    Ok(())
}

fn sha256_hex(text: &str) -> String {
    hex::encode(Sha256::digest(text.as_bytes()))
}

/// Equal without an early exit, so the time taken does not tell how much of a hash matched.
fn same(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

fn pack_key(tenant: &str, name: &str, version: &str) -> Vec<u8> {
    format!("{tenant}\0{name}\0{version}").into_bytes()
}

impl Store {
    fn auth_tree(&self, name: &str) -> anyhow::Result<sled::Tree> {
        self.db()
            .open_tree(name)
            .with_context(|| format!("cannot open tree `{name}` of the store"))
    }

    /// Creates a tenant; an existing name is an error.
    pub(crate) fn create_tenant(&self, name: &str) -> StoreResult<TenantRecord> {
        check_tenant_name(name)?;
        let record = TenantRecord {
            name: name.to_owned(),
            created_at: now_ms(),
        };
        let value = serde_json::to_vec(&record)?;
        let tenants = self.auth_tree("tenants")?;
        if tenants
            .compare_and_swap(name, None as Option<&[u8]>, Some(value))?
            .is_err()
        {
            return Err(StoreError::Conflict(format!(
                "tenant `{name}` already exists"
            )));
        }
        self.db().flush()?;
        Ok(record)
    }

    /// Whether `name` is a tenant.
    pub(crate) fn tenant_exists(&self, name: &str) -> anyhow::Result<bool> {
        Ok(self.auth_tree("tenants")?.contains_key(name)?)
    }

    /// Every tenant, by name.
    pub fn tenants(&self) -> anyhow::Result<Vec<TenantRecord>> {
        let mut out = Vec::new();
        for item in self.auth_tree("tenants")?.iter() {
            let (_, v) = item?;
            out.push(serde_json::from_slice(&v).context("a stored tenant is unreadable")?);
        }
        Ok(out)
    }

    /// Whether any token exists (none: the first start, which creates the admin token).
    pub fn has_tokens(&self) -> anyhow::Result<bool> {
        Ok(!self.auth_tree("tokens")?.is_empty())
    }

    /// Creates a token for `tenant` (which must exist) with `scopes`.
    pub(crate) fn create_token(
        &self,
        tenant: &str,
        name: &str,
        scopes: &[Scope],
    ) -> StoreResult<NewToken> {
        if !self.tenant_exists(tenant)? {
            return Err(StoreError::NotFound(format!(
                "tenant `{tenant}` does not exist"
            )));
        }
        if scopes.is_empty() {
            return Err(StoreError::Invalid(
                "a token needs at least one scope".into(),
            ));
        }
        let mut id = [0u8; 8];
        let mut secret = [0u8; 32];
        getrandom::fill(&mut id)
            .and_then(|()| getrandom::fill(&mut secret))
            .map_err(|e| anyhow::anyhow!("no randomness for a token: {e}"))?;
        let id = hex::encode(id);
        let token = format!("ygr_{id}_{}", hex::encode(secret));
        let mut scopes = scopes.to_vec();
        scopes.sort();
        scopes.dedup();
        let record = TokenRecord {
            id: id.clone(),
            tenant: tenant.to_owned(),
            name: name.to_owned(),
            scopes,
            created_at: now_ms(),
            sha256: sha256_hex(&token),
        };
        self.auth_tree("tokens")?
            .insert(id.as_bytes(), serde_json::to_vec(&record)?)?;
        self.db().flush()?;
        Ok(NewToken { record, token })
    }

    /// The token a bearer secret names, if it is one of ours.
    pub(crate) fn authenticate(&self, token: &str) -> anyhow::Result<Option<TokenRecord>> {
        let Some(id) = token
            .strip_prefix("ygr_")
            .and_then(|rest| rest.split_once('_'))
            .map(|(id, _)| id)
        else {
            return Ok(None);
        };
        let Some(record) = self.token(id)? else {
            return Ok(None);
        };
        let given = sha256_hex(token);
        Ok(same(given.as_bytes(), record.sha256.as_bytes()).then_some(record))
    }

    /// A token by id.
    pub fn token(&self, id: &str) -> anyhow::Result<Option<TokenRecord>> {
        match self.auth_tree("tokens")?.get(id.as_bytes())? {
            Some(v) => Ok(Some(
                serde_json::from_slice(&v).context("a stored token is unreadable")?,
            )),
            None => Ok(None),
        }
    }

    /// The tokens of `tenant` (every tenant's with `None`).
    pub fn tokens(&self, tenant: Option<&str>) -> anyhow::Result<Vec<TokenRecord>> {
        let mut out = Vec::new();
        for item in self.auth_tree("tokens")?.iter() {
            let (_, v) = item?;
            let record: TokenRecord =
                serde_json::from_slice(&v).context("a stored token is unreadable")?;
            if tenant.is_none_or(|t| t == record.tenant) {
                out.push(record);
            }
        }
        Ok(out)
    }

    /// Revokes a token; whether it existed.
    pub(crate) fn revoke_token(&self, id: &str) -> anyhow::Result<bool> {
        let had = self.auth_tree("tokens")?.remove(id.as_bytes())?.is_some();
        self.db().flush()?;
        Ok(had)
    }

    /// Records that `tenant` holds `name@version`; with a `source`, that the tenant pulled it
    /// from there (kept per tenant: another tenant's registry is none of its business). A
    /// grant again without a source keeps the one recorded.
    pub(crate) fn grant_pack(
        &self,
        tenant: &str,
        name: &str,
        version: &str,
        source: Option<&PackSource>,
    ) -> anyhow::Result<()> {
        let tree = self.auth_tree("tenant_packs")?;
        let key = pack_key(tenant, name, version);
        match source {
            Some(source) => {
                tree.insert(key, serde_json::to_vec(source)?)?;
            }
            None => {
                // only where there is nothing yet
                let _ = tree.compare_and_swap(key, None as Option<&[u8]>, Some(&[] as &[u8]))?;
            }
        }
        self.db().flush()?;
        Ok(())
    }

    /// Where `tenant` pulled `name@version` from, if it did.
    pub(crate) fn tenant_source(
        &self,
        tenant: &str,
        name: &str,
        version: &str,
    ) -> anyhow::Result<Option<PackSource>> {
        Ok(self
            .auth_tree("tenant_packs")?
            .get(pack_key(tenant, name, version))?
            .filter(|v| !v.is_empty())
            .and_then(|v| serde_json::from_slice(&v).ok()))
    }

    /// `tenant` no longer holds `name@version`; whether it did.
    pub(crate) fn ungrant_pack(
        &self,
        tenant: &str,
        name: &str,
        version: &str,
    ) -> anyhow::Result<bool> {
        let had = self
            .auth_tree("tenant_packs")?
            .remove(pack_key(tenant, name, version))?
            .is_some();
        self.db().flush()?;
        Ok(had)
    }

    /// The `(name, version)` pairs `tenant` holds, by name then version text.
    pub(crate) fn tenant_packs(&self, tenant: &str) -> anyhow::Result<Vec<(String, String)>> {
        let mut out = Vec::new();
        for item in self
            .auth_tree("tenant_packs")?
            .scan_prefix(format!("{tenant}\0"))
        {
            let (k, _) = item?;
            let k = String::from_utf8_lossy(&k[tenant.len() + 1..]).into_owned();
            if let Some((name, version)) = k.split_once('\0') {
                out.push((name.to_owned(), version.to_owned()));
            }
        }
        Ok(out)
    }

    /// Whether any tenant holds `name@version`.
    pub(crate) fn pack_held(&self, name: &str, version: &str) -> anyhow::Result<bool> {
        for item in self.auth_tree("tenant_packs")?.iter() {
            let (k, _) = item?;
            let k = String::from_utf8_lossy(&k);
            let mut parts = k.split('\0').skip(1);
            if parts.next() == Some(name) && parts.next() == Some(version) {
                return Ok(true);
            }
        }
        Ok(false)
    }
}

/// Publisher keys one tenant trusts besides the store-wide ones (tree `tenant_keys`:
/// `tenant \0 key id` → the key's hex). Its uploads and activations accept either.
impl Store {
    /// Trusts `key` for `tenant`'s uploads and activations.
    pub(crate) fn trust_tenant_key(&self, tenant: &str, key: &PublicKey) -> anyhow::Result<()> {
        self.auth_tree("tenant_keys")?
            .insert(format!("{tenant}\0{}", key.id()), key.to_hex().as_bytes())?;
        self.db().flush()?;
        Ok(())
    }

    /// Stops trusting a key (by id) for `tenant`; whether it was trusted for it.
    pub(crate) fn untrust_tenant_key(&self, tenant: &str, id: &str) -> anyhow::Result<bool> {
        let had = self
            .auth_tree("tenant_keys")?
            .remove(format!("{tenant}\0{id}"))?
            .is_some();
        self.db().flush()?;
        Ok(had)
    }

    /// The keys `tenant` trusts besides the store-wide ones.
    pub fn tenant_keys(&self, tenant: &str) -> anyhow::Result<Vec<PublicKey>> {
        let mut out = Vec::new();
        for item in self
            .auth_tree("tenant_keys")?
            .scan_prefix(format!("{tenant}\0"))
        {
            let (_, v) = item?;
            out.push(
                PublicKey::from_hex(&String::from_utf8_lossy(&v))
                    .context("a stored tenant key is unreadable")?,
            );
        }
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_are_stored_as_hashes_and_revocable() {
        let dir = tempfile::tempdir().expect("tmp");
        let store = Store::open(dir.path()).expect("opens");
        store.create_tenant("acme").expect("tenant");
        assert!(store.create_tenant("acme").is_err(), "no duplicates");
        assert!(store.create_tenant("Bad Name").is_err());
        let new = store
            .create_token("acme", "ingest", &[Scope::EventsWrite])
            .expect("token");
        assert!(new.token.starts_with("ygr_"));
        let record = store
            .authenticate(&new.token)
            .expect("reads")
            .expect("known");
        assert_eq!(record.tenant, "acme");
        assert!(record.has(Scope::EventsWrite) && !record.has(Scope::AlertsRead));
        let mut wrong = new.token.clone();
        wrong.pop();
        wrong.push('x');
        assert!(store.authenticate(&wrong).expect("reads").is_none());
        assert!(store.authenticate("nonsense").expect("reads").is_none());
        assert!(store.revoke_token(&record.id).expect("revokes"));
        assert!(store.authenticate(&new.token).expect("reads").is_none());
    }
}
