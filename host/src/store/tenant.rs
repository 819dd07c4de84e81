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
