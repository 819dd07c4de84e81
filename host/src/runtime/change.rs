//! The changes a front door makes to what runs: import a bundle, activate a version, roll
//! back, remove a version, set a rule's values, switch a rule off or on, re-enable a
//! quarantined rule. Each is one workflow, the same for `yagura serve`'s API and the `yagura
//! pack` CLI, in the same order:
//!
//! 1. resolve what is asked (a version requirement → the highest held or stored match);
//! 2. check the content (digests, signature against the store's, the tenant's and the front
//!    door's keys, requirements, the pack's cases);
//! 3. build the tenant's whole new rule set and `init` every rule — nothing has changed yet,
//!    so a refusal leaves everything as it was;
//! 4. record the change in the store;
//! 5. swap the new set into the tenant's running engine (once [`Runtime::start`] ran; before,
//!    as in `yagura pack`, the change takes effect when the engines start).
//!
//! Steps 3 to 5 run under one lock, so two changes never swap in a stale set.

use super::error::{RuntimeError, RuntimeResult};
use super::{Built, Overrides, Runtime};
use crate::metrics;
use crate::pack::{Bundle, RuleCases, SignatureStatus, resolve_version};
use crate::store::{Imported, PackSource, RuleConfig};

/// A bundle checked and stored.
#[derive(Debug)]
pub struct Import {
    pub name: String,
    pub version: String,
    /// the trusted key that signed it (`None`: unsigned, allowed)
    pub signer: Option<String>,
    /// every rule of the pack
    pub rules: Vec<String>,
    /// new here, or already stored with the same content (its cases are not run again)
    pub stored: Imported,
    /// the pack's cases, run when it is new
    pub cases: Vec<RuleCases>,
}

/// A version made active.
#[derive(Debug)]
pub struct Activation {
    pub version: String,
    /// the version it replaced
    pub previous: Option<String>,
    /// the rules the tenant runs now
    pub rules: Vec<String>,
    /// the pack's cases (all passed; none run when nothing changed)
    pub cases: Vec<RuleCases>,
    /// false when the version was already active: nothing was rebuilt, swapped or recorded
    pub changed: bool,
}

/// A rollback done.
#[derive(Debug)]
pub struct Rollback {
    /// the version that was active
    pub from: String,
    /// the version active now
    pub to: String,
}

impl Runtime {
    /// Checks a bundle — digests, signature, requirements, and its cases if it is new — and
    /// stores it. With a `tenant`, its own keys are trusted too and it is granted the pack;
    /// with a `source`, the registry and manifest digest it was pulled as are kept with it
    /// (with the tenant's grant when there is a tenant, else with the stored version).
    pub fn import(
        &self,
        bundle: &Bundle,
        origin: &str,
        tenant: Option<&str>,
        who: &str,
        source: Option<PackSource>,
    ) -> RuntimeResult<Import> {
        let status = self.check(bundle, origin, tenant)?;
        let m = &bundle.manifest;
        let (name, version) = (m.pack.name.clone(), m.pack.version.to_string());
        let stored = self.store.precheck(bundle)?;
        let cases = match stored {
            Imported::New => self.cases(bundle, origin, &m.label())?,
            Imported::AlreadyStored => Vec::new(),
        };
        let signer = match status {
            SignatureStatus::Trusted(id) => Some(id),
            SignatureStatus::UnsignedAllowed => None,
        };
        // a tenant's pull is the tenant's (its grant); the store's own record keeps only the
        // operator's (`yagura pack pull`, no tenant)
        let (store_source, tenant_source) = match tenant {
            Some(_) => (None, source),
            None => (source, None),
        };
        let stored = self
            .store
            .import(bundle, signer.clone(), who, store_source)?;
        if let Some(tenant) = tenant {
            self.store
                .grant_pack(tenant, &name, &version, tenant_source.as_ref())?;
        }
        Ok(Import {
            name,
            version,
            signer,
            rules: m.rules.iter().map(|r| r.id.clone()).collect(),
            stored,
            cases,
        })
    }

    /// Makes `spec` (an exact version or a requirement: the highest match) of pack `name`
    /// active for `tenant`, after checking the bundle again against today's keys and building
    /// the tenant's new rule set. A started runtime picks among the versions the tenant holds,
    /// one not started (`yagura pack`) among every stored version.
    pub fn activate(
        &self,
        tenant: &str,
        name: &str,
        spec: &str,
        who: &str,
        reason: &str,
    ) -> RuntimeResult<Activation> {
        let (versions, what) = if self.live {
            (self.held_versions(tenant, name)?, "held")
        } else {
            (self.store.versions(name)?, "stored")
        };
        let version = resolve_version(&versions, name, spec, what)?.to_string();
        let _one_at_a_time = self.activation.lock();
        if self.store.active(tenant, name)?.as_deref() == Some(version.as_str()) {
            // not an activation: no history entry, no swap, and a later rollback goes back
            // past it (issue 23, item 7)
            let rules = self
                .existing_engine(tenant)
                .map(|engine| {
                    engine
                        .rules()
                        .into_iter()
                        .filter(|r| r.enabled)
                        .map(|r| r.id)
                        .collect()
                })
                .unwrap_or_default();
            return Ok(Activation {
                previous: Some(version.clone()),
                version,
                rules,
                cases: Vec::new(),
                changed: false,
            });
        }
        let (built, cases) =
            self.prepare(tenant, name, &version, "the active version is unchanged")?;
        let rules = built.rules.iter().map(|r| r.info().id.clone()).collect();
        let previous = self.store.activate(tenant, name, &version, who, reason)?;
        self.apply(tenant, built, "activate")?;
        tracing::info!(tenant = %tenant, pack = %name, version = %version, previous = ?previous, "pack activated");
        Ok(Activation {
            version,
            previous,
            rules,
            cases,
            changed: true,
        })
    }

    /// The checks and the build of an activation of `name@version` for `tenant` (or of a
    /// shadow of it): the bundle against today's keys, its requirements and cases, then the
    /// tenant's whole rule set with that version in place of the active one, every rule
    /// `init`ed. Nothing is recorded or swapped; a refusal says `unchanged` after its reason.
    pub(crate) fn prepare(
        &self,
        tenant: &str,
        name: &str,
        version: &str,
        unchanged: &str,
    ) -> RuntimeResult<(Built, Vec<RuleCases>)> {
        let origin = format!("{name}@{version}");
        let bundle = self.store.bundle(name, version)?;
        self.check(&bundle, &origin, Some(tenant))?;
        let cases = self.cases(&bundle, &origin, &origin)?;
        let built = self
            .build(
                tenant,
                Overrides {
                    replace: Some((name, version)),
                    ..Overrides::default()
                },
            )
            .map_err(|e| RuntimeError::refused(&e).then(unchanged))?;
        Ok((built, cases))
    }

    /// Returns pack `name` of `tenant` to the version active before the last activation
    /// (repeated rollbacks walk further back). If that version's rule set does not load, the
    /// active one stays (and the history says so).
    pub fn rollback(
        &self,
        tenant: &str,
        name: &str,
        who: &str,
        reason: &str,
    ) -> RuntimeResult<Rollback> {
        let _one_at_a_time = self.activation.lock();
        let Some(from) = self.store.active(tenant, name)? else {
            return Err(RuntimeError::NotFound(format!(
                "pack `{name}` is not active for tenant `{tenant}`"
            )));
        };
        let to = self.store.rollback(tenant, name, who, reason)?;
        let built = match self.build(tenant, Overrides::default()) {
            Ok(built) => built,
            Err(e) => {
                // put back what runs: the engine still runs it, the store must say so too
                let undo = format!("automatic: the rollback target {name}@{to} did not load");
                self.store.activate(tenant, name, &from, who, &undo)?;
                return Err(RuntimeError::refused(&e).then(&format!("{name}@{from} stays active")));
            }
        };
        self.apply(tenant, built, "rollback")?;
        tracing::info!(tenant = %tenant, pack = %name, from = %from, to = %to, "pack rolled back");
        Ok(Rollback { from, to })
    }

    /// Takes `name@version` from `tenant`'s packs; the stored copy goes too when no tenant
    /// holds or runs it any more (whether it went). Refused while the tenant runs it.
    pub fn remove(&self, tenant: &str, name: &str, version: &str) -> RuntimeResult<bool> {
        let _one_at_a_time = self.activation.lock();
        let held = self
            .store
            .tenant_packs(tenant)?
            .iter()
            .any(|(n, v)| n == name && v == version);
        if !held {
            return Err(RuntimeError::NotFound(format!(
                "tenant `{tenant}` has no pack {name}@{version}"
            )));
        }
        if self.store.active(tenant, name)?.as_deref() == Some(version) {
            return Err(RuntimeError::Conflict(format!(
                "{name}@{version} is active for tenant `{tenant}`; activate another version or roll back first"
            )));
        }
        self.store.ungrant_pack(tenant, name, version)?;
        let running = self
            .store
            .all_active()?
            .iter()
            .any(|(_, n, v)| n == name && v == version);
        let deleted = !running && !self.store.pack_held(name, version)?;
        if deleted {
            self.store.remove(name, version)?;
        }
        Ok(deleted)
    }

    /// Sets `tenant`'s values for `rule` (`{}`: back to its pack's config), once the rule's
    /// `init` accepted them in the tenant's new rule set.
    pub(crate) fn set_config(
        &self,
        tenant: &str,
        rule: &str,
        config: &RuleConfig,
    ) -> RuntimeResult<()> {
        self.require_running(tenant, rule)?;
        let _one_at_a_time = self.activation.lock();
        let built = self
            .build(
                tenant,
                Overrides {
                    config: Some((rule, config)),
                    ..Overrides::default()
                },
            )
            .map_err(|e| RuntimeError::refused(&e).then("the config is unchanged"))?;
        self.store.set_rule_config(tenant, rule, config)?;
        self.apply(tenant, built, "config")
    }

    /// Switches `rule` of `tenant`'s active packs off (`enabled: false`; its state is dropped)
    /// or back on; whether it was on.
    pub(crate) fn set_enabled(
        &self,
        tenant: &str,
        rule: &str,
        enabled: bool,
        reason: &str,
    ) -> RuntimeResult<bool> {
        let _one_at_a_time = self.activation.lock();
        let was_enabled = !self.store.disabled_rules(tenant)?.contains_key(rule);
        let built = self
            .build(
                tenant,
                Overrides {
                    enabled: Some((rule, enabled, reason)),
                    ..Overrides::default()
                },
            )
            .map_err(|e| RuntimeError::refused(&e).then("nothing changed"))?;
        if !built.ids.iter().any(|id| id == rule) {
            return Err(RuntimeError::NotFound(format!(
                "rule `{rule}` is not in the active packs of tenant `{tenant}` (or its pack \
                 disables it)"
            )));
        }
        self.store.set_rule_enabled(tenant, rule, enabled, reason)?;
        self.apply(tenant, built, if enabled { "enable" } else { "disable" })?;
        tracing::info!(tenant = %tenant, rule = %rule, enabled, reason = %reason, "rule switched");
        Ok(was_enabled)
    }

    /// Puts a quarantined `rule` of `tenant` back to work (after the events queued before);
    /// whether it was quarantined.
    pub(crate) fn reenable(&self, tenant: &str, rule: &str) -> RuntimeResult<bool> {
        let engine = self
            .existing_engine(tenant)
            .ok_or_else(|| not_running(tenant, rule))?;
        let was_quarantined = engine
            .enable(rule)?
            .ok_or_else(|| not_running(tenant, rule))?;
        if was_quarantined {
            tracing::info!(tenant = %tenant, rule = %rule, "quarantined rule re-enabled");
        }
        Ok(was_quarantined)
    }

    /// Refuses unless `rule` runs for `tenant` (or is switched off there).
    pub(crate) fn require_running(&self, tenant: &str, rule: &str) -> RuntimeResult<()> {
        let runs = self
            .existing_engine(tenant)
            .is_some_and(|e| e.rules().iter().any(|r| r.id == rule));
        if runs {
            Ok(())
        } else {
            Err(not_running(tenant, rule))
        }
    }

    /// The versions of `name` the tenant holds, oldest first.
    pub(crate) fn held_versions(
        &self,
        tenant: &str,
        name: &str,
    ) -> RuntimeResult<Vec<semver::Version>> {
        let mut versions: Vec<semver::Version> = self
            .store
            .tenant_packs(tenant)?
            .into_iter()
            .filter(|(n, _)| n == name)
            .filter_map(|(_, v)| semver::Version::parse(&v).ok())
            .collect();
        versions.sort();
        Ok(versions)
    }

    /// The bundle's digests and signature (against what [`Runtime::trust`] trusts for
    /// `tenant`) and its requirements.
    fn check(
        &self,
        bundle: &Bundle,
        origin: &str,
        tenant: Option<&str>,
    ) -> RuntimeResult<SignatureStatus> {
        let status = bundle
            .verify(&self.trust(tenant)?, origin)
            .map_err(|e| RuntimeError::refused(&e))?;
        bundle
            .check_requirements(origin)
            .map_err(|e| RuntimeError::refused(&e))?;
        Ok(status)
    }

    /// Runs the pack's cases; all must pass.
    fn cases(&self, bundle: &Bundle, origin: &str, label: &str) -> RuntimeResult<Vec<RuleCases>> {
        let results = crate::pack::run_cases(bundle, &self.sandbox, origin)
            .map_err(|e| RuntimeError::refused(&e))?;
        if results.iter().any(|r| r.failed().next().is_some()) {
            return Err(RuntimeError::CasesFailed {
                label: label.to_owned(),
                results,
            });
        }
        Ok(results)
    }

    /// Swaps a rule set built for `tenant` into its engine (a serving runtime only).
    fn apply(&self, tenant: &str, built: Built, action: &'static str) -> RuntimeResult<()> {
        if !self.live {
            return Ok(());
        }
        let engine = self.engine(tenant)?;
        engine.stage_disabled(built.disabled);
        engine.swap(built.rules)?;
        self.metrics.add(
            metrics::ACTIVATIONS,
            vec![("tenant", tenant.to_owned()), ("action", action.into())],
            1.0,
        );
        Ok(())
    }
}

fn not_running(tenant: &str, rule: &str) -> RuntimeError {
    RuntimeError::NotFound(format!(
        "rule `{rule}` does not run for tenant `{tenant}` (activate a pack holding it)"
    ))
}
