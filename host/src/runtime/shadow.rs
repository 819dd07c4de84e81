//! Shadow versions: a pack version run beside the active one, for one tenant, on the same
//! events, its findings kept apart and compared with the live ones (docs/shadow.md).
//!
//! # How it runs
//! The shadow is a second [`Engine`] on a thread of its own, holding only the shadowed pack's
//! rules (as the tenant would run them: its config and switches applied). The tenant's live
//! worker starts it from a snapshot of the live engine ([`Engine::snapshot`]): the same seq
//! counter, reorder buffer and watermark, and — with [`ShadowStart::Copy`], the default — a
//! copy of each live rule's host state by rule id. From then on the worker hands the shadow a
//! copy of every event it pushes and of every flush, in the same order, through a bounded
//! queue that it never waits on. Both engines so see the same pushes and flushes: they give
//! every event the same seq, cut the same batches and tick at the same watermarks, and a
//! finding of the same rule, dedup key, time and evidence has the same [`Finding::uid`] on
//! both sides.
//!
//! # What it costs the live path
//! A copy of each event and a send that never blocks, and per live finding of a shadowed rule
//! one record under a lock. The evaluation itself runs on the shadow's thread, at a lower
//! scheduling priority (nice 10 on Linux): on a busy machine it falls behind rather than
//! taking the CPU from the live engines. A shadow that falls more than `max_lag` events
//! behind, whose rules fault more than `max_faults` times, or whose time is up, is stopped (and
//! says why); the live rules never wait for it, but for a promotion, which lets it finish.
//!
//! # Findings and alerts
//! Shadow findings go only into the [`ShadowHandle`]'s difference, never to the alert store,
//! the sinks or the live stream. The live findings of the compared rules are recorded there as
//! well. A finding is matched across the sides by its uid, an alert by (rule id, dedup key).
//! The difference lives in memory and starts over at a restart. The shadow itself is recorded
//! in the store while it runs ([`Store::save_shadow`]) and starts again with the server
//! ([`Runtime::restart_shadows`](super::Runtime::restart_shadows)), from the restored live
//! rules' position, until its first end.
//!
//! # Promotion
//! [`Job::Promote`](super::worker::Job) activates the shadow's version in the worker, between
//! two batches: the worker ends the shadow, waits until it has evaluated every event it was
//! handed, swaps the new rule set in, and with [`Carry::Shadow`] (the default) gives each of
//! the pack's rules the state its shadow instance built; with [`Carry::Active`] the live
//! state carries over as in any activation. As the shadow's position is the live engine's,
//! no event is evaluated twice or missed by the state carried.

use std::collections::{BTreeMap, HashMap};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::mpsc::{Receiver, SyncSender, TrySendError, sync_channel};
use std::sync::{Arc, Mutex, MutexGuard};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};
use serde_json::{Value as Json, json};

use super::error::{RuntimeError, RuntimeResult};
use super::worker::RuleView;
use crate::engine::{Engine, EngineOptions, LatencyHistogram};
use crate::event::{Event, format_rfc3339_ms};
use crate::finding::{Finding, Severity};
use crate::pack::resolve_version;
use crate::rule::RuleInfo;
use crate::sandbox::RuleInstance;
use crate::state::{RuleState, StateLimits};
use crate::store::{ShadowRecord, Store};

/// The state a shadow's rules start with.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum ShadowStart {
    /// a copy of the live rules' host state, by rule id (rules new in the shadow start empty)
    #[default]
    Copy,
    /// every rule empty, as a fresh activation without carry-over
    Empty,
}

/// Whose state the rules keep when a shadow is promoted.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Carry {
    /// the state the shadow's rules built (the running shadow is required)
    #[default]
    Shadow,
    /// the live rules' state, as any activation carries it
    Active,
}

/// What a shadow is and how far it may go.
#[derive(Debug, Clone)]
pub struct ShadowLimits {
    /// the shadow stops itself after this long
    pub duration: Duration,
    /// it stops once its rules faulted more than this many times in all
    pub max_faults: u64,
    /// it stops once it is this many events behind the live rules
    pub max_lag: usize,
    /// it stops once either side of the difference holds this many findings
    pub max_findings: usize,
    /// the end it shows, in ms since the Unix epoch (default: now + `duration`): a shadow
    /// started again after a restart keeps its first end
    pub ends_at_ms: Option<i64>,
}

impl Default for ShadowLimits {
    fn default() -> Self {
        ShadowLimits {
            duration: Duration::from_secs(24 * 3600),
            max_faults: 100,
            max_lag: 100_000,
            max_findings: 100_000,
            ends_at_ms: None,
        }
    }
}

/// Where a shadow is in its life.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ShadowStatus {
    Running,
    /// stopped by itself or by the server, with the reason; its difference stays readable
    Stopped(String),
    /// its version was activated
    Promoted,
    /// ended on request
    Discarded,
}

impl ShadowStatus {
    fn name(&self) -> &'static str {
        match self {
            ShadowStatus::Running => "running",
            ShadowStatus::Stopped(_) => "stopped",
            ShadowStatus::Promoted => "promoted",
            ShadowStatus::Discarded => "discarded",
        }
    }
}

/// Which side of the difference.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Side {
    Active = 0,
    Shadow = 1,
}

/// Findings of one (rule, dedup key) on one side.
#[derive(Debug, Clone)]
struct AlertRecord {
    title: String,
    severity: Severity,
    rule_version: String,
    findings: u64,
    first: i64,
    last: i64,
}

#[derive(Debug, Default)]
struct SideRecord {
    /// finding uid → rule id
    findings: HashMap<String, String>,
    /// (rule id, dedup key) → the alert
    alerts: BTreeMap<(String, String), AlertRecord>,
}

/// A shadow rule's counters, as the shadow's thread last published them.
#[derive(Debug, Clone, Default)]
struct ShadowRuleStats {
    id: String,
    version: String,
    events_in: u64,
    calls: u64,
    findings: u64,
    faults: u64,
    quarantined: bool,
    latency: LatencyHistogram,
}

#[derive(Debug)]
struct ShadowData {
    tenant: String,
    pack: String,
    version: String,
    /// the active version when the shadow started (`None`: the pack was not active)
    active_version: Option<String>,
    start: ShadowStart,
    started_at: i64,
    ends_at: i64,
    status: ShadowStatus,
    /// when it stopped, was promoted or discarded
    ended_at: Option<i64>,
    /// the rules compared on the live side: the active version's
    active_ids: Vec<String>,
    /// the shadow version's rules (as the tenant would run them)
    shadow_ids: Vec<String>,
    /// the live rules' counters when the shadow started
    baseline: Vec<RuleView>,
    shadow_stats: Vec<ShadowRuleStats>,
    sides: [SideRecord; 2],
    max_findings: usize,
    /// what the store holds of it, until it ends
    saved: Option<ShadowRecord>,
}

/// One shadow's description and difference, shared by the live worker, the shadow's thread
/// and the API.
#[derive(Debug, Clone)]
pub struct ShadowHandle {
    data: Arc<Mutex<ShadowData>>,
    /// events handed to the shadow and not yet evaluated by it
    lag: Arc<AtomicUsize>,
    /// set when the shadow is to stop: its thread leaves what it still holds
    stop: Arc<AtomicBool>,
    /// the store that records it (to start it again after a restart), forgotten when it ends
    store: Option<Store>,
}

/// What the caller names to start a shadow.
pub(crate) struct ShadowSpec {
    pub tenant: String,
    pub pack: String,
    pub version: String,
    pub active_version: Option<String>,
    pub start: ShadowStart,
    pub active_ids: Vec<String>,
    pub shadow_ids: Vec<String>,
    pub limits: ShadowLimits,
    /// the store that records it
    pub store: Option<Store>,
}

impl ShadowHandle {
    pub(crate) fn new(spec: &ShadowSpec) -> ShadowHandle {
        let now = crate::store::checkpoint_time();
        let ends_at = spec.limits.ends_at_ms.unwrap_or_else(|| {
            now.saturating_add(i64::try_from(spec.limits.duration.as_millis()).unwrap_or(i64::MAX))
        });
        ShadowHandle {
            data: Arc::new(Mutex::new(ShadowData {
                tenant: spec.tenant.clone(),
                pack: spec.pack.clone(),
                version: spec.version.clone(),
                active_version: spec.active_version.clone(),
                start: spec.start,
                started_at: now,
                ends_at,
                status: ShadowStatus::Running,
                ended_at: None,
                active_ids: spec.active_ids.clone(),
                shadow_ids: spec.shadow_ids.clone(),
                baseline: Vec::new(),
                shadow_stats: Vec::new(),
                sides: [SideRecord::default(), SideRecord::default()],
                max_findings: spec.limits.max_findings,
                saved: None,
            })),
            lag: Arc::new(AtomicUsize::new(0)),
            stop: Arc::new(AtomicBool::new(false)),
            store: spec.store.clone(),
        }
    }

    /// What the store keeps of it, to start it again after a restart.
    fn stored(&self, limits: &ShadowLimits) -> ShadowRecord {
        let data = self.data();
        ShadowRecord {
            version: data.version.clone(),
            copy_state: data.start == ShadowStart::Copy,
            ends_at_ms: data.ends_at,
            max_faults: limits.max_faults,
            max_lag: u64::try_from(limits.max_lag).unwrap_or(u64::MAX),
        }
    }

    /// A poisoned lock guards plain records: they are still worth reading.
    fn data(&self) -> MutexGuard<'_, ShadowData> {
        self.data.lock().unwrap_or_else(|e| e.into_inner())
    }

    pub fn version(&self) -> String {
        self.data().version.clone()
    }

    pub fn status(&self) -> ShadowStatus {
        self.data().status.clone()
    }

    pub fn is_running(&self) -> bool {
        self.data().status == ShadowStatus::Running
    }

    /// Ends the shadow's life with `status` (once: a later end is ignored, but for a discard)
    /// and tells its thread to stop.
    pub(crate) fn end(&self, status: ShadowStatus) {
        self.finish(status, true);
    }

    /// Stops the shadow as the server shuts down: it stays recorded, and starts again with the
    /// server.
    pub(crate) fn suspend(&self) {
        self.finish(
            ShadowStatus::Stopped("the server shut down; it starts again with the server".into()),
            false,
        );
    }

    fn finish(&self, status: ShadowStatus, forget: bool) {
        self.stop.store(true, Ordering::SeqCst);
        let mut data = self.data();
        let was_running = data.status == ShadowStatus::Running;
        // a discard ends whatever the shadow was; the other ends only a running shadow
        if was_running || status == ShadowStatus::Discarded {
            if let ShadowStatus::Stopped(reason) = &status {
                tracing::warn!(tenant = %data.tenant, pack = %data.pack, version = %data.version, reason = %reason, "shadow stopped");
            }
            data.status = status;
            data.ended_at
                .get_or_insert_with(crate::store::checkpoint_time);
        }
        let saved = if forget { data.saved.take() } else { None };
        let (tenant, pack) = (data.tenant.clone(), data.pack.clone());
        drop(data);
        if let (Some(store), Some(saved)) = (&self.store, saved)
            && let Err(e) = store.forget_shadow(&tenant, &pack, &saved)
        {
            tracing::error!(tenant = %tenant, pack = %pack, error = %format!("{e:#}"), "an ended shadow could not be forgotten; it starts again at the next start");
        }
    }

    /// Records the shadow in the store (to start it again after a restart).
    fn save(&self, limits: &ShadowLimits) -> anyhow::Result<()> {
        let Some(store) = &self.store else {
            return Ok(());
        };
        let record = self.stored(limits);
        let (tenant, pack) = {
            let data = self.data();
            (data.tenant.clone(), data.pack.clone())
        };
        store.save_shadow(&tenant, &pack, &record)?;
        self.data().saved = Some(record);
        Ok(())
    }

    /// Whether the live finding of rule `rule` is compared (the rule is the shadowed pack's).
    pub(crate) fn compares(&self, rule: &str) -> bool {
        let data = self.data();
        data.status == ShadowStatus::Running && data.active_ids.iter().any(|id| id == rule)
    }

    /// Records a finding of `side`. Past the bound on findings the shadow stops.
    pub(crate) fn record(&self, side: Side, info: &RuleInfo, finding: &Finding) {
        let mut data = self.data();
        if data.status != ShadowStatus::Running {
            return;
        }
        let max = data.max_findings;
        let record = &mut data.sides[side as usize];
        if record.findings.len() >= max {
            drop(data);
            self.end(ShadowStatus::Stopped(format!(
                "the difference holds {max} findings of one side, its bound"
            )));
            return;
        }
        record.findings.insert(finding.uid(), info.id.clone());
        record
            .alerts
            .entry((info.id.clone(), finding.dedup_key.clone()))
            .and_modify(|a| {
                a.findings += 1;
                a.first = a.first.min(finding.time);
                a.last = a.last.max(finding.time);
            })
            .or_insert_with(|| AlertRecord {
                title: finding.title.clone(),
                severity: finding.severity,
                rule_version: info.version.clone(),
                findings: 1,
                first: finding.time,
                last: finding.time,
            });
    }

    fn set_baseline(&self, baseline: Vec<RuleView>) {
        self.data().baseline = baseline;
    }

    fn publish(&self, engine: &Engine) {
        let stats = engine
            .rule_stats()
            .map(|(info, s)| ShadowRuleStats {
                id: info.id.clone(),
                version: info.version.clone(),
                events_in: s.events_in,
                calls: s.calls,
                findings: s.findings,
                faults: s.faults,
                quarantined: s.quarantined,
                latency: s.latency,
            })
            .collect();
        self.data().shadow_stats = stats;
    }

    /// Whether it runs, the events it has yet to evaluate, and its alerts by side.
    fn gauges(&self) -> (bool, usize, Counts) {
        let data = self.data();
        let [active, shadow] = &data.sides;
        let both = active
            .alerts
            .keys()
            .filter(|k| shadow.alerts.contains_key(*k))
            .count();
        let alerts = Counts {
            active_only: (active.alerts.len() - both) as u64,
            shadow_only: (shadow.alerts.len() - both) as u64,
            both: both as u64,
        };
        (
            data.status == ShadowStatus::Running,
            self.lag.load(Ordering::SeqCst),
            alerts,
        )
    }

    /// The difference as the API shows it (docs/shadow.md), `live` being the tenant's rules
    /// now; at most `limit` alerts of each kind are listed.
    pub fn report(&self, live: &[RuleView], limit: usize) -> Json {
        let data = self.data();
        let [active, shadow] = &data.sides;
        let mut ids: Vec<&str> = data.active_ids.iter().map(String::as_str).collect();
        for id in &data.shadow_ids {
            if !ids.contains(&id.as_str()) {
                ids.push(id);
            }
        }
        // rule id → (findings, alerts) by side, in one pass over each side
        let mut by_rule: HashMap<&str, (Counts, Counts)> = HashMap::new();
        for (uid, rule) in &active.findings {
            let counts = &mut by_rule.entry(rule.as_str()).or_default().0;
            if shadow.findings.contains_key(uid) {
                counts.both += 1;
            } else {
                counts.active_only += 1;
            }
        }
        for (uid, rule) in &shadow.findings {
            if !active.findings.contains_key(uid) {
                by_rule.entry(rule.as_str()).or_default().0.shadow_only += 1;
            }
        }
        for key in active.alerts.keys() {
            let counts = &mut by_rule.entry(key.0.as_str()).or_default().1;
            if shadow.alerts.contains_key(key) {
                counts.both += 1;
            } else {
                counts.active_only += 1;
            }
        }
        for key in shadow.alerts.keys() {
            if !active.alerts.contains_key(key) {
                by_rule.entry(key.0.as_str()).or_default().1.shadow_only += 1;
            }
        }
        let mut rules = Vec::new();
        let mut totals = Totals::default();
        for id in ids {
            let (findings, alerts) = by_rule.get(id).copied().unwrap_or_default();
            let in_active = data.active_ids.iter().any(|a| a == id);
            let now = live.iter().find(|v| v.id == id).filter(|_| in_active);
            let base = data.baseline.iter().find(|v| v.id == id);
            let live_side = now.map(|v| {
                let base = base.cloned().unwrap_or_default();
                json!({
                    "version": v.version,
                    "events": v.events_in.saturating_sub(base.events_in),
                    "calls": v.calls.saturating_sub(base.calls),
                    "findings": v.findings.saturating_sub(base.findings),
                    "faults": v.faults.saturating_sub(base.faults),
                    "quarantined": v.quarantined,
                    "latency_ms": quantiles(&v.latency.since(&base.latency)),
                })
            });
            let shadow_side = data.shadow_stats.iter().find(|s| s.id == id).map(|s| {
                json!({
                    "version": s.version,
                    "events": s.events_in,
                    "calls": s.calls,
                    "findings": s.findings,
                    "faults": s.faults,
                    "quarantined": s.quarantined,
                    "latency_ms": quantiles(&s.latency),
                })
            });
            totals.add(&findings, &alerts);
            rules.push(json!({
                "id": id,
                "active": live_side,
                "shadow": shadow_side,
                "findings": findings.json(),
                "alerts": alerts.json(),
            }));
        }
        let list = |from: &SideRecord, other: &SideRecord, both: bool| -> Vec<Json> {
            from.alerts
                .iter()
                .filter(|(key, _)| other.alerts.contains_key(*key) == both)
                .take(limit)
                .map(|((rule, key), a)| {
                    json!({
                        "rule": rule,
                        "rule_version": a.rule_version,
                        "dedup_key": key,
                        "title": a.title,
                        "severity": a.severity,
                        "findings": a.findings,
                        "first_time": format_rfc3339_ms(a.first),
                        "last_time": format_rfc3339_ms(a.last),
                    })
                })
                .collect()
        };
        let reason = match &data.status {
            ShadowStatus::Stopped(reason) => Some(reason.clone()),
            _ => None,
        };
        json!({
            "tenant": data.tenant,
            "name": data.pack,
            "version": data.version,
            "active_version": data.active_version,
            "start": data.start,
            "status": data.status.name(),
            "reason": reason,
            "started_at": format_rfc3339_ms(data.started_at),
            "ends_at": format_rfc3339_ms(data.ends_at),
            "ended_at": data.ended_at.map(format_rfc3339_ms),
            "lag_events": self.lag.load(Ordering::SeqCst),
            "findings": totals.findings.json(),
            "alerts": totals.alerts.json(),
            "rules": rules,
            "alert_list": {
                "active_only": list(active, shadow, false),
                "shadow_only": list(shadow, active, false),
                "both": list(shadow, active, true),
            },
        })
    }
}

/// The p50 and p99 of a histogram, in milliseconds (bucket bounds; `null`: no call, or over
/// 1 s).
fn quantiles(h: &LatencyHistogram) -> Json {
    let ms = |q: f64| h.quantile(q).map(|d| d.as_secs_f64() * 1e3);
    json!({ "p50": ms(0.5), "p99": ms(0.99), "calls": h.count() })
}

/// Items of one side only and of both.
#[derive(Debug, Default, Clone, Copy)]
struct Counts {
    active_only: u64,
    shadow_only: u64,
    both: u64,
}

impl Counts {
    fn json(&self) -> Json {
        json!({ "active_only": self.active_only, "shadow_only": self.shadow_only, "both": self.both })
    }
}

#[derive(Debug, Default)]
struct Totals {
    findings: Counts,
    alerts: Counts,
}

impl Totals {
    fn add(&mut self, findings: &Counts, alerts: &Counts) {
        for (total, part) in [(&mut self.findings, findings), (&mut self.alerts, alerts)] {
            total.active_only += part.active_only;
            total.shadow_only += part.shadow_only;
            total.both += part.both;
        }
    }
}

/// Work for a shadow's thread.
enum ShadowJob {
    Events(Vec<Event>),
    Flush,
}

/// A running shadow as the live worker holds it.
pub(crate) struct LiveShadow {
    pub pack: String,
    pub handle: ShadowHandle,
    sender: Option<SyncSender<ShadowJob>>,
    thread: Option<JoinHandle<Engine>>,
    deadline: Instant,
    max_lag: usize,
}

/// What the worker needs to start a shadow: its rules (built and `init`ed off the worker's
/// thread) and its handle.
pub(crate) struct ShadowBegin {
    pub pack: String,
    pub handle: ShadowHandle,
    pub rules: Vec<RuleInstance>,
    pub limits: ShadowLimits,
}

impl LiveShadow {
    /// Starts the shadow from the live engine's position (and its rules' state, if the
    /// shadow copies it). Called by the live worker between two jobs.
    pub(crate) fn start(
        begin: ShadowBegin,
        live: &Engine,
        options: EngineOptions,
        baseline: Vec<RuleView>,
    ) -> anyhow::Result<LiveShadow> {
        let ShadowBegin {
            pack,
            handle,
            rules,
            limits,
        } = begin;
        let mut engine = Engine::new(options);
        for rule in rules {
            engine.add_rule(rule);
        }
        let copy = handle.data().start == ShadowStart::Copy;
        let mut states: HashMap<String, Vec<u8>> = if copy {
            live.rule_states()
                .map(|(id, state)| (id.to_owned(), state.encode()))
                .collect()
        } else {
            HashMap::new()
        };
        let tenant = handle.data().tenant.clone();
        engine.restore(live.snapshot(), |info| {
            let bytes = states.remove(&info.id)?;
            RuleState::decode(&bytes, StateLimits::default())
                .map_err(|e| {
                    tracing::error!(tenant = %tenant, rule = %info.id, error = %e, "a live rule's state cannot be copied into the shadow; it starts empty");
                })
                .ok()
        });
        handle.set_baseline(baseline);
        handle.publish(&engine);
        let (sender, receiver) = sync_channel(4096);
        let thread_handle = handle.clone();
        let max_faults = limits.max_faults;
        let thread = std::thread::Builder::new()
            .name(format!("yagura-shadow-{tenant}-{pack}"))
            .spawn(move || run(engine, receiver, thread_handle, max_faults))
            .map_err(|e| anyhow::anyhow!("cannot start the shadow's thread: {e}"))?;
        Ok(LiveShadow {
            pack,
            handle,
            sender: Some(sender),
            thread: Some(thread),
            deadline: Instant::now() + limits.duration,
            max_lag: limits.max_lag,
        })
    }

    /// Hands the shadow a copy of the events the live engine is about to take; `false` once
    /// the shadow has stopped (it is then dropped by the worker).
    pub(crate) fn events(&mut self, events: &[Event]) -> bool {
        let n = events.len();
        if self.handle.lag.load(Ordering::SeqCst) + n > self.max_lag {
            self.stop(format!(
                "it fell {} events behind the live rules, its bound",
                self.max_lag
            ));
            return false;
        }
        self.handle.lag.fetch_add(n, Ordering::SeqCst);
        if self.send(ShadowJob::Events(events.to_vec())) {
            true
        } else {
            self.handle.lag.fetch_sub(n, Ordering::SeqCst);
            false
        }
    }

    /// Tells the shadow the live engine flushed; `false` once the shadow has stopped.
    pub(crate) fn flush(&mut self) -> bool {
        self.send(ShadowJob::Flush)
    }

    fn send(&mut self, job: ShadowJob) -> bool {
        let Some(sender) = &self.sender else {
            return false;
        };
        match sender.try_send(job) {
            Ok(()) => true,
            Err(TrySendError::Full(_)) => {
                self.stop("its queue is full: it cannot keep up with the live rules".into());
                false
            }
            // the thread ended itself (faults, bound) and said why
            Err(TrySendError::Disconnected(_)) => {
                self.handle
                    .end(ShadowStatus::Stopped("its thread ended".into()));
                false
            }
        }
    }

    /// Whether its time is up (then it is stopped).
    pub(crate) fn expired(&mut self) -> bool {
        if Instant::now() < self.deadline || !self.handle.is_running() {
            return !self.handle.is_running();
        }
        self.stop("its time is up".into());
        true
    }

    /// Stops the shadow as the server shuts down (it stays recorded), without waiting.
    pub(crate) fn suspend(&mut self) {
        self.handle.suspend();
        self.sender = None;
        self.thread = None;
    }

    /// Stops the shadow with `reason`, without waiting for its thread.
    pub(crate) fn stop(&mut self, reason: String) {
        self.handle.end(ShadowStatus::Stopped(reason));
        self.sender = None;
        // the thread leaves what it still holds and ends by itself
        self.thread = None;
    }

    /// Ends the shadow with `status` without waiting for its thread.
    pub(crate) fn end(&mut self, status: ShadowStatus) {
        self.handle.end(status);
        self.sender = None;
        self.thread = None;
    }

    /// Waits until the shadow has evaluated every event it was handed and returns its rules'
    /// states; `None` if it stopped before (its state is behind the live engine's).
    pub(crate) fn finish(mut self) -> Option<Vec<(String, RuleState)>> {
        if !self.handle.is_running() {
            return None;
        }
        self.sender = None;
        let mut engine = self.thread.take()?.join().ok()?;
        if !self.handle.is_running() {
            // it stopped itself while draining
            return None;
        }
        Some(engine.take_rule_states())
    }
}

/// Lowers the calling thread's scheduling priority (nice 10, Linux), so that on a busy
/// machine the shadow's thread yields the CPU to the live engines and the front doors: the
/// shadow falls behind instead of slowing them, and past its `max_lag` it stops.
fn yield_to_live() {
    #[cfg(target_os = "linux")]
    {
        // SAFETY: two syscalls about the calling thread, with no memory passed to them; on
        // Linux a nice value belongs to a thread, named by its id.
        let lowered = unsafe {
            let tid = libc::syscall(libc::SYS_gettid);
            libc::setpriority(libc::PRIO_PROCESS, tid as libc::id_t, 10) == 0
        };
        if !lowered {
            tracing::debug!("the shadow's thread keeps the default priority");
        }
    }
}

/// The shadow's thread: evaluates what the live worker hands it, until the worker lets go of
/// it or it stops; returns its engine (for a promotion).
fn run(
    mut engine: Engine,
    receiver: Receiver<ShadowJob>,
    handle: ShadowHandle,
    max_faults: u64,
) -> Engine {
    yield_to_live();
    let sink_handle = handle.clone();
    let mut sink = move |info: &RuleInfo, finding: Finding| {
        sink_handle.record(Side::Shadow, info, &finding);
    };
    while let Ok(job) = receiver.recv() {
        if handle.stop.load(Ordering::SeqCst) {
            break;
        }
        match job {
            ShadowJob::Events(events) => {
                let n = events.len();
                for event in events {
                    engine.push(event, &mut sink);
                }
                handle.lag.fetch_sub(n, Ordering::SeqCst);
            }
            ShadowJob::Flush => engine.flush(&mut sink),
        }
        handle.publish(&engine);
        let faults: u64 = engine.rule_stats().map(|(_, s)| s.faults).sum();
        if faults > max_faults {
            handle.end(ShadowStatus::Stopped(format!(
                "its rules faulted {faults} times, over its bound of {max_faults}"
            )));
            break;
        }
    }
    engine
}

/// A shadow promoted.
#[derive(Debug)]
pub struct Promotion {
    pub activation: super::Activation,
    /// whose state the pack's rules kept
    pub state: Carry,
}

impl super::Runtime {
    /// Starts a shadow of `spec` (an exact version or a requirement: the highest held match)
    /// of pack `name` for `tenant`, after the checks of an activation (signature against
    /// today's keys, requirements, cases, the rule set built and `init`ed). Refused when the
    /// version is the active one, or while another shadow of the pack runs for the tenant.
    pub fn start_shadow(
        &self,
        tenant: &str,
        name: &str,
        spec: &str,
        start: ShadowStart,
        limits: ShadowLimits,
    ) -> RuntimeResult<ShadowHandle> {
        if !self.live {
            return Err(RuntimeError::Conflict(
                "a shadow runs beside live rules: start it on `yagura serve`".into(),
            ));
        }
        let versions = self.held_versions(tenant, name)?;
        let version = resolve_version(&versions, name, spec, "held")?.to_string();
        let _one_at_a_time = self.activation.lock();
        let active_version = self.store.active(tenant, name)?;
        if active_version.as_deref() == Some(version.as_str()) {
            return Err(RuntimeError::Conflict(format!(
                "{name}@{version} is the active version of tenant `{tenant}`: a shadow runs \
                 another version beside it"
            )));
        }
        if let Some(running) = self
            .shadow(tenant, name)
            .ok()
            .filter(ShadowHandle::is_running)
        {
            return Err(RuntimeError::Conflict(format!(
                "a shadow of {name}@{} already runs for tenant `{tenant}`: promote or discard it \
                 first",
                running.version()
            )));
        }
        let (built, _cases) = self.prepare(tenant, name, &version, "no shadow started")?;
        let pack_ids: Vec<String> = self
            .store
            .bundle(name, &version)?
            .manifest
            .rules
            .iter()
            .map(|r| r.id.clone())
            .collect();
        let rules: Vec<RuleInstance> = built
            .rules
            .into_iter()
            .filter(|r| pack_ids.contains(&r.info().id))
            .collect();
        let engine = self.engine(tenant)?;
        let active_ids = match &active_version {
            Some(active) => {
                let ids: Vec<String> = self
                    .store
                    .bundle(name, active)?
                    .manifest
                    .rules
                    .iter()
                    .map(|r| r.id.clone())
                    .collect();
                engine
                    .rules()
                    .into_iter()
                    .filter(|r| r.enabled && ids.contains(&r.id))
                    .map(|r| r.id)
                    .collect()
            }
            None => Vec::new(),
        };
        let handle = ShadowHandle::new(&ShadowSpec {
            tenant: tenant.to_owned(),
            pack: name.to_owned(),
            version: version.clone(),
            active_version,
            start,
            active_ids,
            shadow_ids: rules.iter().map(|r| r.info().id.clone()).collect(),
            limits: limits.clone(),
            store: Some(self.store.clone()),
        });
        handle.save(&limits)?;
        let started = engine.start_shadow(ShadowBegin {
            pack: name.to_owned(),
            handle: handle.clone(),
            rules,
            limits,
        });
        if let Err(e) = started {
            handle.end(ShadowStatus::Stopped(format!("{e:#}")));
            return Err(e.into());
        }
        if let Ok(mut shadows) = self.shadows.lock() {
            shadows.insert((tenant.to_owned(), name.to_owned()), handle.clone());
        }
        tracing::info!(tenant = %tenant, pack = %name, version = %version, start = ?start, "shadow started");
        Ok(handle)
    }

    /// Starts again the shadows recorded in the store (they were running when the server
    /// stopped), each with the live state copied anew if it copies it, until its end. One that
    /// ended meanwhile or no longer passes the checks is forgotten (logged).
    pub(crate) fn restart_shadows(&self) -> anyhow::Result<()> {
        let now = crate::store::checkpoint_time();
        for (tenant, pack, record) in self.store.shadows()? {
            let left = record.ends_at_ms.saturating_sub(now);
            if left <= 0 {
                tracing::info!(tenant = %tenant, pack = %pack, version = %record.version, "a shadow's time ran out while the server was stopped");
                self.store.remove_shadow(&tenant, &pack)?;
                continue;
            }
            let limits = ShadowLimits {
                duration: Duration::from_millis(u64::try_from(left).unwrap_or(0)),
                max_faults: record.max_faults,
                max_lag: usize::try_from(record.max_lag).unwrap_or(usize::MAX),
                ends_at_ms: Some(record.ends_at_ms),
                ..ShadowLimits::default()
            };
            let start = if record.copy_state {
                ShadowStart::Copy
            } else {
                ShadowStart::Empty
            };
            match self.start_shadow(&tenant, &pack, &record.version, start, limits) {
                Ok(_) => {
                    tracing::info!(tenant = %tenant, pack = %pack, version = %record.version, "shadow started again");
                }
                Err(e) => {
                    tracing::error!(tenant = %tenant, pack = %pack, version = %record.version, error = %e, "a recorded shadow cannot start again; it is forgotten");
                    self.store.remove_shadow(&tenant, &pack)?;
                }
            }
        }
        Ok(())
    }

    /// Sets the shadows' gauges (`yagura_shadow_*`) to their values now; a discarded shadow's
    /// series are gone.
    pub(crate) fn refresh_shadow_gauges(&self) {
        use crate::metrics::{SHADOW_ALERTS, SHADOW_LAG, SHADOW_RUNNING};
        let shadows: Vec<((String, String), ShadowHandle)> = self
            .shadows
            .lock()
            .map(|s| s.iter().map(|(k, h)| (k.clone(), h.clone())).collect())
            .unwrap_or_default();
        let (mut running, mut lag, mut alerts) = (Vec::new(), Vec::new(), Vec::new());
        for ((tenant, pack), handle) in shadows {
            let (runs, behind, counts) = handle.gauges();
            let labels = || vec![("tenant", tenant.clone()), ("pack", pack.clone())];
            running.push((labels(), if runs { 1.0 } else { 0.0 }));
            lag.push((labels(), behind as f64));
            for (side, n) in [
                ("active_only", counts.active_only),
                ("shadow_only", counts.shadow_only),
                ("both", counts.both),
            ] {
                let mut labels = labels();
                labels.push(("side", side.to_owned()));
                alerts.push((labels, n as f64));
            }
        }
        self.metrics.set_family(SHADOW_RUNNING, running);
        self.metrics.set_family(SHADOW_LAG, lag);
        self.metrics.set_family(SHADOW_ALERTS, alerts);
    }

    /// The shadow of pack `name` for `tenant` (running, or ended and not yet discarded).
    pub fn shadow(&self, tenant: &str, name: &str) -> RuntimeResult<ShadowHandle> {
        self.shadows
            .lock()
            .ok()
            .and_then(|s| s.get(&(tenant.to_owned(), name.to_owned())).cloned())
            .ok_or_else(|| {
                RuntimeError::NotFound(format!(
                    "tenant `{tenant}` has no shadow of pack `{name}` (start one with POST \
                     /v1/packs/{name}/shadow)"
                ))
            })
    }

    /// The difference of the shadow of `name` for `tenant`, at most `limit` alerts listed of
    /// each kind.
    pub fn shadow_report(&self, tenant: &str, name: &str, limit: usize) -> RuntimeResult<Json> {
        let handle = self.shadow(tenant, name)?;
        let live = self
            .existing_engine(tenant)
            .map(|e| e.rules())
            .unwrap_or_default();
        Ok(handle.report(&live, limit))
    }

    /// Ends the shadow of `name` for `tenant` and forgets it; its last difference.
    pub fn discard_shadow(&self, tenant: &str, name: &str) -> RuntimeResult<Json> {
        let handle = self.shadow(tenant, name)?;
        if let Some(engine) = self.existing_engine(tenant) {
            engine.end_shadow(name)?;
        }
        handle.end(ShadowStatus::Discarded);
        if let Ok(mut shadows) = self.shadows.lock() {
            shadows.remove(&(tenant.to_owned(), name.to_owned()));
        }
        tracing::info!(tenant = %tenant, pack = %name, "shadow discarded");
        let live = self
            .existing_engine(tenant)
            .map(|e| e.rules())
            .unwrap_or_default();
        Ok(handle.report(&live, 100))
    }

    /// Activates the shadow's version of `name` for `tenant` (the checks of any activation),
    /// the pack's rules keeping the shadow's state or the live one's (`state`); the shadow
    /// ends as promoted.
    pub fn promote(
        &self,
        tenant: &str,
        name: &str,
        state: Carry,
        who: &str,
        reason: &str,
    ) -> RuntimeResult<Promotion> {
        let handle = self.shadow(tenant, name)?;
        let version = handle.version();
        if state == Carry::Shadow && !handle.is_running() {
            return Err(RuntimeError::Conflict(format!(
                "the shadow of {name}@{version} is {}: its rules' state is behind the live \
                 rules'; promote it with state `active`, or start the shadow again",
                handle.status().name()
            )));
        }
        let _one_at_a_time = self.activation.lock();
        if self.store.active(tenant, name)?.as_deref() == Some(version.as_str()) {
            return Err(RuntimeError::Conflict(format!(
                "{name}@{version} is already active for tenant `{tenant}`; discard the shadow"
            )));
        }
        let (built, cases) =
            self.prepare(tenant, name, &version, "the active version is unchanged")?;
        let rules = built.rules.iter().map(|r| r.info().id.clone()).collect();
        let reason = if reason.is_empty() {
            "promoted from its shadow"
        } else {
            reason
        };
        let previous = self.store.activate(tenant, name, &version, who, reason)?;
        let engine = self.engine(tenant)?;
        engine.stage_disabled(built.disabled);
        let carried = engine.promote(name, built.rules, state)?;
        handle.end(ShadowStatus::Promoted);
        self.metrics.add(
            crate::metrics::ACTIVATIONS,
            vec![("tenant", tenant.to_owned()), ("action", "promote".into())],
            1.0,
        );
        let state = if carried {
            Carry::Shadow
        } else {
            Carry::Active
        };
        tracing::info!(tenant = %tenant, pack = %name, version = %version, previous = ?previous, state = ?state, "shadow promoted");
        Ok(Promotion {
            activation: super::Activation {
                version,
                previous,
                rules,
                cases,
                changed: true,
            },
            state,
        })
    }
}
