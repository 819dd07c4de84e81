//! What a follow (docs/distribution.md) asks of the runtime: install a version pulled from a
//! registry through the checks every import and activation runs, and judge the health of a
//! pack's rules after it went live. The polling, the registry and the record of what was found
//! are the front door's (`server/follow.rs`); nothing here talks to a network.

use std::collections::BTreeMap;

use super::Runtime;
use super::change::Activation;
use super::error::RuntimeResult;
use crate::pack::Bundle;
use crate::store::PackSource;

/// The health of a pack's rules for a tenant, as a follow's gate reads it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PackHealth {
    /// each running rule's fault count
    pub faults: BTreeMap<String, u64>,
    /// the rules quarantined now
    pub quarantined: Vec<String>,
}

impl PackHealth {
    /// Why the rules are not healthy compared with `before` (fault counts when the version went
    /// live), or none.
    pub fn worse_than(&self, before: &BTreeMap<String, u64>) -> Option<String> {
        if let Some(rule) = self.quarantined.first() {
            return Some(format!("rule `{rule}` was quarantined"));
        }
        self.faults.iter().find_map(|(rule, now)| {
            let then = before.get(rule).copied().unwrap_or(0);
            (*now > then).then(|| format!("rule `{rule}` faulted {} time(s)", now - then))
        })
    }
}

impl Runtime {
    /// Imports `bundle` for `tenant` (digests, signature against the store's and the tenant's
    /// keys, requirements, cases; the source kept with it) and activates it (the rule set built
    /// and `init`ed, then swapped in): what `pack pull` then `pack activate` do.
    pub fn install(
        &self,
        tenant: &str,
        bundle: &Bundle,
        origin: &str,
        source: PackSource,
        who: &str,
        reason: &str,
    ) -> RuntimeResult<Activation> {
        let m = &bundle.manifest;
        self.import(bundle, origin, Some(tenant), who, Some(source))?;
        self.activate(
            tenant,
            &m.pack.name,
            &m.pack.version.to_string(),
            who,
            reason,
        )
    }

    /// The fault counts and quarantines of the rules of the version of `pack` active for
    /// `tenant`.
    pub fn pack_health(&self, tenant: &str, pack: &str) -> anyhow::Result<PackHealth> {
        let Some(version) = self.store.active(tenant, pack)? else {
            return Ok(PackHealth::default());
        };
        let Some(record) = self.store.record(pack, &version)? else {
            return Ok(PackHealth::default());
        };
        let manifest =
            crate::pack::Manifest::parse(&record.manifest, &format!("{pack}@{version}"))?;
        let ids: Vec<&str> = manifest.rules.iter().map(|r| r.id.as_str()).collect();
        let mut health = PackHealth::default();
        if let Some(engine) = self.existing_engine(tenant) {
            for rule in engine.rules() {
                if !ids.contains(&rule.id.as_str()) || !rule.enabled {
                    continue;
                }
                if rule.quarantined {
                    health.quarantined.push(rule.id.clone());
                }
                health.faults.insert(rule.id, rule.faults);
            }
        }
        Ok(health)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn health_is_worse_after_a_new_fault_or_a_quarantine() {
        let before = BTreeMap::from([("a".to_owned(), 2), ("b".to_owned(), 0)]);
        let mut now = PackHealth {
            faults: before.clone(),
            quarantined: Vec::new(),
        };
        assert_eq!(now.worse_than(&before), None);
        now.faults.insert("b".into(), 1);
        assert_eq!(
            now.worse_than(&before).as_deref(),
            Some("rule `b` faulted 1 time(s)")
        );
        // a rule the version brought is measured from zero
        let mut fresh = PackHealth::default();
        fresh.faults.insert("c".into(), 3);
        assert!(fresh.worse_than(&before).is_some());
        fresh.faults.insert("c".into(), 0);
        fresh.quarantined.push("c".into());
        assert_eq!(
            fresh.worse_than(&before).as_deref(),
            Some("rule `c` was quarantined")
        );
    }
}
