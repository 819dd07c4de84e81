//! The tenant runtime: one engine per tenant on its own thread ([`worker`]), the rule sets they
//! run — assembled from each tenant's active packs, pack config and the tenant's own values and
//! switches — and the metrics and live alerts they produce. It knows nothing of HTTP: `yagura
//! serve` (`server/`) and its syslog listeners are front doors that hand it events and
//! activations.
//!
//! # Layout
//! - `worker`: a tenant's engine on its own thread behind a bounded queue, its write-ahead log
//!   and checkpoints; findings → alerts.
//! - `change`: imports, activations, rollbacks and rule switches, each checked, built, recorded
//!   and swapped in.
//! - `shadow`: a pack version run beside the active one on the same events, and the
//!   difference of their findings (docs/shadow.md).
//!
//! Lifecycle: [`Runtime::open`] runs no engine yet (`yagura pack` stops there);
//! [`Runtime::start`] starts every tenant's engine with its active packs (restoring its
//! checkpoint and replaying its WAL); [`Runtime::engine`] starts one for a tenant that has
//! none yet; [`Runtime::close`] lets each engine evaluate what it holds, checkpoint and stop.

mod change;
mod error;
mod follow;
mod inlet;
pub mod memory;
mod shadow;
pub(crate) mod worker;

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use anyhow::Context;
use tokio::sync::broadcast;

use crate::engine::EngineOptions;
use crate::metrics::Metrics;
use crate::pack::{PackRule, Trust};
use crate::sandbox::{RuleInstance, Sandbox};
use crate::store::{RuleConfig, Store};
pub use change::{Activation, Import, Rollback};
pub use error::{RuntimeError, RuntimeResult};
pub use follow::PackHealth;
pub use inlet::Inlet;
pub use shadow::{Carry, Promotion, ShadowHandle, ShadowLimits, ShadowStart, ShadowStatus};
pub use worker::QueueError;
use worker::{AlertNotice, RuleView, TenantEngine, WorkerContext};

/// How the tenants' engines run.
#[derive(Debug, Clone)]
pub struct RuntimeOptions {
    pub engine: EngineOptions,
    /// events a tenant's engine queue holds before ingest is refused
    pub queue_events: usize,
    /// a quiet engine flushes (evaluates what it buffers) after this long without events
    pub flush_after: Duration,
    /// a finding updates its rule and dedup key's alert last seen at most this long before it
    /// (event time); later, it opens a new alert
    pub dedup_window: Duration,
    /// wall time between two checkpoints of each tenant's engine (`None`: only at shutdown)
    pub checkpoint_every: Option<Duration>,
    /// keys trusted beyond the store's and the tenant's own, and whether unsigned packs are
    /// let in (development only)
    pub trust: Trust,
}

impl Default for RuntimeOptions {
    fn default() -> Self {
        RuntimeOptions {
            engine: EngineOptions::default(),
            queue_events: 100_000,
            flush_after: Duration::from_secs(1),
            dedup_window: Duration::from_secs(3600),
            checkpoint_every: Some(Duration::from_secs(10)),
            trust: Trust::default(),
        }
    }
}

/// The tenants' engines and the rule sets they run. Shared by the front doors.
pub struct Runtime {
    pub(crate) store: Store,
    pub(crate) sandbox: Sandbox,
    options: RuntimeOptions,
    /// engines run the tenants' rule sets (`false` until [`Runtime::start`])
    live: bool,
    /// tenant → its engine; engines are started once and live until shutdown
    engines: Mutex<HashMap<String, Arc<TenantEngine>>>,
    pub(crate) metrics: Arc<Metrics>,
    /// new and updated alerts of every tenant; each stream and the sinks keep what they want
    pub(crate) alerts: broadcast::Sender<AlertNotice>,
    /// one activation, rollback or rule-set change at a time: each builds the tenant's whole
    /// rule set from the active table and swaps it in, so two at once could swap in a stale set
    pub(crate) activation: Mutex<()>,
    /// (tenant, pack) → its shadow, running or ended (until discarded or replaced)
    shadows: Mutex<HashMap<(String, String), ShadowHandle>>,
}

impl std::fmt::Debug for Runtime {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Runtime")
            .field("store", &self.store.dir())
            .field("options", &self.options)
            .finish_non_exhaustive()
    }
}

/// What [`Runtime::build`] changes from the stored state of a tenant.
#[derive(Default, Clone, Copy)]
pub(crate) struct Overrides<'a> {
    /// (pack name, version): in place of that pack's active version
    pub replace: Option<(&'a str, &'a str)>,
    /// (rule id, values): in place of the rule's stored values
    pub config: Option<(&'a str, &'a RuleConfig)>,
    /// (rule id, enabled, reason): in place of whether the tenant switched the rule off
    pub enabled: Option<(&'a str, bool, &'a str)>,
}

/// A tenant's rule set, built.
#[derive(Default)]
pub(crate) struct Built {
    /// the instances to run
    pub rules: Vec<RuleInstance>,
    /// the rules the tenant switched off (not instantiated unless new values were checked)
    pub disabled: Vec<RuleView>,
    /// every rule the active packs enable, switched off or not
    pub ids: Vec<String>,
}

impl Runtime {
    /// Opens the runtime on `store`. No engine runs until [`Runtime::start`]: until then,
    /// changes go through the same checks and are recorded, and take effect when the engines
    /// start — what `yagura pack` uses (it reaches every stored version, not only those a
    /// tenant holds).
    pub fn open(store: Store, sandbox: Sandbox, options: RuntimeOptions) -> Runtime {
        // the sink dispatcher only copies each notice into the sinks' queues, so it stays
        // far less than this many alerts behind the engines
        let (alerts, _) = broadcast::channel(4096);
        Runtime {
            store,
            sandbox,
            options,
            live: false,
            engines: Mutex::new(HashMap::new()),
            metrics: Arc::new(Metrics::default()),
            alerts,
            activation: Mutex::new(()),
            shadows: Mutex::new(HashMap::new()),
        }
    }

    /// Starts an engine for every tenant of the store with its active packs, each restoring
    /// its checkpoint and replaying its write-ahead log before it takes new events, then the
    /// shadows that were running (docs/shadow.md). A tenant whose packs do not load runs no
    /// rules (logged); the others are not held back.
    /// Subscribe first ([`Runtime::subscribe`]) to see the alerts of the replay.
    pub fn start(&mut self) -> anyhow::Result<()> {
        self.live = true;
        self.start_engines()?;
        if let Err(e) = self.restart_shadows() {
            // the live rules run; only the shadows wait for a new start
            tracing::error!(error = %format!("{e:#}"), "the recorded shadows cannot be read; none started again");
        }
        Ok(())
    }

    /// Every new and updated alert of every tenant from now on.
    pub(crate) fn subscribe(&self) -> broadcast::Receiver<AlertNotice> {
        self.alerts.subscribe()
    }

    /// The runtime's metrics, which the front doors add to.
    pub(crate) fn metrics(&self) -> Arc<Metrics> {
        self.metrics.clone()
    }

    pub fn store(&self) -> &Store {
        &self.store
    }

    pub fn options(&self) -> &RuntimeOptions {
        &self.options
    }

    /// Lets every engine evaluate what it holds, save a checkpoint and stop. Blocking.
    pub fn close(&self) {
        let engines: Vec<Arc<TenantEngine>> = self
            .engines
            .lock()
            .map(|e| e.values().cloned().collect())
            .unwrap_or_default();
        for engine in engines {
            engine.close();
        }
    }

    /// Starts an engine for every tenant, with its active packs. A tenant with packs activated
    /// from the CLI (`pack activate --tenant`) becomes a tenant holding them.
    fn start_engines(&self) -> anyhow::Result<()> {
        for (tenant, name, version) in self.store.all_active()? {
            if !self.store.tenant_exists(&tenant)?
                && let Err(e) = self.store.create_tenant(&tenant)
            {
                // e.g. a name the CLI took but the API does not: it stays out of the server
                tracing::error!(tenant = %tenant, error = %format!("{e:#}"), "a tenant with active packs cannot be served");
                continue;
            }
            self.store.grant_pack(&tenant, &name, &version, None)?;
        }
        for tenant in self.store.tenants()? {
            let built = match self.build(&tenant.name, Overrides::default()) {
                Ok(built) => built,
                Err(e) => {
                    // the server still starts: the other tenants and the API keep working
                    tracing::error!(tenant = %tenant.name, error = %format!("{e:#}"), "the tenant's active packs do not load; it runs no rules");
                    Built::default()
                }
            };
            let engine = self.start_engine(&tenant.name, built.rules)?;
            engine.set_disabled(built.disabled);
            if let Ok(mut engines) = self.engines.lock() {
                engines.insert(tenant.name.clone(), engine);
            }
        }
        Ok(())
    }

    fn start_engine(
        &self,
        tenant: &str,
        rules: Vec<RuleInstance>,
    ) -> anyhow::Result<Arc<TenantEngine>> {
        Ok(Arc::new(TenantEngine::start(
            WorkerContext {
                tenant: tenant.to_owned(),
                store: self.store.clone(),
                metrics: self.metrics.clone(),
                alerts: self.alerts.clone(),
                options: self.options.engine,
                flush_after: self.options.flush_after,
                dedup_window_ms: i64::try_from(self.options.dedup_window.as_millis())
                    .unwrap_or(i64::MAX),
                checkpoint_every: self.options.checkpoint_every,
            },
            rules,
            self.options.queue_events,
        )?))
    }

    /// Sets the gauges that change between an engine's jobs to their values now (each
    /// tenant's queue depth, which a request changes before the engine runs; the shadows'
    /// state and difference): a scrape sees them as they are, not as last published.
    pub(crate) fn refresh_gauges(&self) {
        let engines: Vec<(String, Arc<TenantEngine>)> = self
            .engines
            .lock()
            .map(|e| e.iter().map(|(t, e)| (t.clone(), e.clone())).collect())
            .unwrap_or_default();
        for (tenant, engine) in engines {
            self.metrics.set(
                crate::metrics::QUEUE_DEPTH,
                vec![("tenant", tenant)],
                engine.queued() as f64,
            );
        }
        self.refresh_shadow_gauges();
    }

    /// The tenant's engine (started without rules if the tenant has none yet).
    pub(crate) fn engine(&self, tenant: &str) -> anyhow::Result<Arc<TenantEngine>> {
        // looked up and started under one lock: two requests never start two engines
        let mut engines = self
            .engines
            .lock()
            .map_err(|_| anyhow::anyhow!("the engine table is poisoned"))?;
        if let Some(engine) = engines.get(tenant) {
            return Ok(engine.clone());
        }
        let engine = self.start_engine(tenant, Vec::new())?;
        engines.insert(tenant.to_owned(), engine.clone());
        Ok(engine)
    }

    pub(crate) fn existing_engine(&self, tenant: &str) -> Option<Arc<TenantEngine>> {
        self.engines
            .lock()
            .ok()
            .and_then(|e| e.get(tenant).cloned())
    }

    /// Instantiates the enabled rules of every pack active for `tenant`, each with its pack's
    /// config and then the tenant's own values, with `over`'s changes to the stored state.
    /// Rules the tenant switched off are left out (in [`Built::disabled`]).
    pub(crate) fn build(&self, tenant: &str, over: Overrides<'_>) -> anyhow::Result<Built> {
        let Overrides {
            replace,
            config,
            enabled,
        } = over;
        // rule id → why the tenant switched it off
        let mut off: HashMap<String, String> = self
            .store
            .disabled_rules(tenant)?
            .into_iter()
            .map(|(id, record)| (id, record.reason))
            .collect();
        match enabled {
            Some((id, true, _)) => {
                off.remove(id);
            }
            Some((id, false, reason)) => {
                off.insert(id.to_owned(), reason.to_owned());
            }
            None => {}
        }
        let mut built = Built::default();
        let mut active: Vec<(String, String)> = self
            .store
            .all_active()?
            .into_iter()
            .filter(|(t, _, _)| t == tenant)
            .map(|(_, n, v)| (n, v))
            .collect();
        if let Some((name, version)) = replace {
            active.retain(|(n, _)| n != name);
            active.push((name.to_owned(), version.to_owned()));
        }
        active.sort();
        for (name, version) in active {
            let origin = format!("{name}@{version}");
            let bundle = self.store.bundle(&name, &version)?;
            bundle.check_requirements(&origin)?;
            for PackRule {
                component,
                config: pack_values,
            } in crate::pack::enabled_rules(&bundle, &self.sandbox, &origin)?
            {
                let id = component.info().id.clone();
                if built.ids.contains(&id) {
                    anyhow::bail!(
                        "{origin}: rule `{id}` is also in another active pack of tenant `{tenant}`"
                    );
                }
                built.ids.push(id.clone());
                let reason = off.get(&id);
                let configured = config.is_some_and(|(rule, _)| rule == id);
                if let Some(reason) = reason {
                    built.disabled.push(RuleView {
                        id: id.clone(),
                        name: component.info().name.clone(),
                        version: component.info().version.clone(),
                        enabled: false,
                        disabled_reason: Some(reason.clone()),
                        ..RuleView::default()
                    });
                    // new values for a switched-off rule are still checked by its `init`
                    if !configured {
                        continue;
                    }
                }
                let mut values = pack_values;
                let stored;
                let own = match config {
                    Some((rule, own)) if rule == id => own,
                    _ => {
                        stored = self.store.rule_config(tenant, &id)?;
                        &stored
                    }
                };
                for (name, value) in own {
                    let parsed = component
                        .info()
                        .parse_override(&format!("{name}={value}"))
                        .map_err(|e| {
                            anyhow::anyhow!("tenant `{tenant}`'s config of rule `{id}`: {e}")
                        })?;
                    values.push(parsed);
                }
                let instance = component
                    .instantiate(&values)
                    .with_context(|| format!("{origin}: rule `{id}`"))?;
                if reason.is_none() {
                    built.rules.push(instance);
                }
            }
        }
        Ok(built)
    }

    /// The keys an upload or activation for `tenant` trusts now: the store-wide ones, the
    /// runtime's own ([`RuntimeOptions::trust`]) and the tenant's (never another tenant's).
    pub(crate) fn trust(&self, tenant: Option<&str>) -> anyhow::Result<Trust> {
        let mut extra = self.options.trust.clone();
        if let Some(tenant) = tenant {
            extra.keys.extend(self.store.tenant_keys(tenant)?);
        }
        self.store.trust(&extra)
    }
}
