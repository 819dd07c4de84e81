//! A tenant's own settings for the rules of its active packs: parameter values over the
//! pack's config, and the rules it switched off.
//!
//! Trees:
//! - `rule_config`: `tenant \0 rule id` → JSON object: the tenant's parameter values for a rule,
//!   applied over the pack's config (validated by the rule's `init` before they are stored).
//! - `rule_disabled`: `tenant \0 rule id` → [`DisabledRule`] (JSON): a rule of the tenant's
//!   active packs the tenant switched off; no entry: the rule runs (if its pack enables it).

use anyhow::Context;
use serde::{Deserialize, Serialize};

use super::{Store, now_ms};

impl Store {
    fn tenant_tree(&self, name: &str) -> anyhow::Result<sled::Tree> {
        self.db()
            .open_tree(name)
            .with_context(|| format!("cannot open tree `{name}` of the store"))
    }
}

/// A tenant's parameter values for one rule (JSON values by parameter name).
pub type RuleConfig = std::collections::BTreeMap<String, serde_json::Value>;

impl Store {
    /// The tenant's parameter values for `rule` (empty: none).
    pub(crate) fn rule_config(&self, tenant: &str, rule: &str) -> anyhow::Result<RuleConfig> {
        match self
            .tenant_tree("rule_config")?
            .get(format!("{tenant}\0{rule}"))?
        {
            Some(v) => serde_json::from_slice(&v).context("a stored rule config is unreadable"),
            None => Ok(RuleConfig::new()),
        }
    }

    /// Replaces the tenant's parameter values for `rule` (an empty map removes them). The
    /// caller has checked them against the rule.
    pub(crate) fn set_rule_config(
        &self,
        tenant: &str,
        rule: &str,
        config: &RuleConfig,
    ) -> anyhow::Result<()> {
        let tree = self.tenant_tree("rule_config")?;
        let key = format!("{tenant}\0{rule}");
        if config.is_empty() {
            tree.remove(key)?;
        } else {
            tree.insert(key, serde_json::to_vec(config)?)?;
        }
        self.db().flush()?;
        Ok(())
    }
}

/// Why and when a tenant switched one of its rules off (`PUT /v1/rules/{id}/enabled`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DisabledRule {
    pub reason: String,
    /// milliseconds since the Unix epoch
    pub at_ms: i64,
}

impl Store {
    /// The rules `tenant` switched off, by rule id.
    pub(crate) fn disabled_rules(
        &self,
        tenant: &str,
    ) -> anyhow::Result<std::collections::BTreeMap<String, DisabledRule>> {
        let prefix = format!("{tenant}\0");
        let mut out = std::collections::BTreeMap::new();
        for item in self.tenant_tree("rule_disabled")?.scan_prefix(&prefix) {
            let (k, v) = item?;
            let id = String::from_utf8_lossy(&k[prefix.len()..]).into_owned();
            let record =
                serde_json::from_slice(&v).context("a stored disabled rule is unreadable")?;
            out.insert(id, record);
        }
        Ok(out)
    }

    /// Switches `rule` off (`enabled` false, with `reason`) or on again for `tenant`, durably.
    /// The caller has rebuilt the tenant's rule set without (or with) it.
    pub(crate) fn set_rule_enabled(
        &self,
        tenant: &str,
        rule: &str,
        enabled: bool,
        reason: &str,
    ) -> anyhow::Result<()> {
        let tree = self.tenant_tree("rule_disabled")?;
        let key = format!("{tenant}\0{rule}");
        if enabled {
            tree.remove(key)?;
        } else {
            let record = DisabledRule {
                reason: reason.to_owned(),
                at_ms: now_ms(),
            };
            tree.insert(key, serde_json::to_vec(&record)?)?;
        }
        self.db().flush()?;
        Ok(())
    }
}

/// A shadow version running for a tenant (`runtime/shadow.rs`): what starts it again after a
/// restart, until its end. Tree `shadows`: `tenant \0 pack` → this, as JSON.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ShadowRecord {
    pub version: String,
    /// its rules start from a copy of the live rules' state (else empty)
    pub copy_state: bool,
    /// when it stops itself: milliseconds since the Unix epoch
    pub ends_at_ms: i64,
    pub max_faults: u64,
    pub max_lag: u64,
}

impl Store {
    /// Records the shadow of `pack` running for `tenant` (replacing the one before), durably.
    pub(crate) fn save_shadow(
        &self,
        tenant: &str,
        pack: &str,
        record: &ShadowRecord,
    ) -> anyhow::Result<()> {
        self.tenant_tree("shadows")?
            .insert(format!("{tenant}\0{pack}"), serde_json::to_vec(record)?)?;
        self.db().flush()?;
        Ok(())
    }

    /// Forgets the shadow of `pack` for `tenant` (it ended or cannot start again), durably.
    pub(crate) fn remove_shadow(&self, tenant: &str, pack: &str) -> anyhow::Result<()> {
        self.tenant_tree("shadows")?
            .remove(format!("{tenant}\0{pack}"))?;
        self.db().flush()?;
        Ok(())
    }

    /// Forgets `record`, the shadow of `pack` for `tenant` that ended, if the store still holds
    /// it and not a newer shadow of the pack (compare-and-swap), durably.
    pub(crate) fn forget_shadow(
        &self,
        tenant: &str,
        pack: &str,
        record: &ShadowRecord,
    ) -> anyhow::Result<()> {
        let ours = serde_json::to_vec(record)?;
        // another shadow's record in its place is left as it is
        let _ = self.tenant_tree("shadows")?.compare_and_swap(
            format!("{tenant}\0{pack}"),
            Some(ours),
            None as Option<&[u8]>,
        )?;
        self.db().flush()?;
        Ok(())
    }

    /// Every recorded shadow: (tenant, pack, record). An unreadable record is skipped (logged).
    pub(crate) fn shadows(&self) -> anyhow::Result<Vec<(String, String, ShadowRecord)>> {
        let mut out = Vec::new();
        for item in self.tenant_tree("shadows")?.iter() {
            let (k, v) = item?;
            let key = String::from_utf8_lossy(&k).into_owned();
            let Some((tenant, pack)) = key.split_once('\0') else {
                continue;
            };
            match serde_json::from_slice(&v) {
                Ok(record) => out.push((tenant.to_owned(), pack.to_owned(), record)),
                Err(e) => {
                    tracing::error!(tenant = %tenant, pack = %pack, error = %e, "a recorded shadow is unreadable; it does not start again");
                }
            }
        }
        Ok(out)
    }
}
