//! One engine per tenant, each on its own thread, fed by a bounded queue.
//!
//! The engine is synchronous and owns its rule instances, so it never crosses threads: the
//! HTTP handlers parse events and hand them over as [`Job::Events`]. The queue is bounded in
//! events (`capacity`): a handler reserves room for its events before sending and gets a 429
//! when there is none, so a slow rule set slows clients down instead of growing memory.
//!
//! Findings go to the store first ([`Store::record_finding`], flushed), and only then to the
//! live stream and the metrics.
//!
//! A new rule set ([`Job::Swap`]) is built and `init`ed off this thread; the worker swaps it
//! into the running engine between two jobs ([`Engine::swap_rules`]), so between two batches:
//! events already dispatched met the old rules, events still buffered will meet the new ones,
//! seq keeps counting and each rule's host state continues in its new version. A quarantined
//! rule is re-enabled with [`Job::Enable`]. A rule the tenant switched off is simply not in the
//! set it swaps in (its state is dropped with it); [`TenantEngine::rules`] still lists it, as
//! `enabled: false`, from the list the last swap brought ([`TenantEngine::stage_disabled`]).
//!
//! Lifecycle: the worker runs until every sender is dropped ([`TenantEngine::close`]), then
//! flushes its engine, saves a checkpoint and ends; `close` joins it. When no job arrives for
//! `flush_after` and events were pushed since the last flush, the worker flushes, so that a
//! quiet stream still reaches the rules (the engine has no timer of its own).
//!
//! Durability (docs/hot-swap.md): [`TenantEngine::push`] appends the events to the tenant's
//! write-ahead log (sled tree `wal`) before queueing them, under a lock so that WAL order is
//! queue order, and the API acknowledges only after [`TenantEngine::sync`] flushed it. Every
//! `checkpoint_every` (and at shutdown) the worker saves the engine's position, the events it
//! holds and each rule's host state, with the last WAL id it had taken in, in one transaction
//! (`store/checkpoint.rs`). At start, before it takes any job, the worker restores the last
//! checkpoint and replays the WAL entries after it, so each accepted event reaches the
//! engine exactly once across a crash, with the seq it had before.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::mpsc::{Receiver, RecvTimeoutError, SyncSender, TrySendError, sync_channel};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use serde::Serialize;
use tokio::sync::broadcast;

use super::shadow::{Carry, LiveShadow, ShadowBegin, ShadowHandle, ShadowStatus, Side};
use crate::engine::{Engine, EngineOptions, LatencyHistogram};
use crate::event::Event;
use crate::finding::Finding;
use crate::metrics::{self, Metrics};
use crate::rule::RuleInfo;
use crate::sandbox::RuleInstance;
use crate::state::{RuleState, StateLimits};
use crate::store::{Alert, AlertChange, Checkpoint, Store, checkpoint_time, crash_point};

/// Work for a tenant's engine.
pub enum Job {
    /// events of one WAL entry (its id)
    Events(u64, Vec<Event>),
    /// replace the rule set; the worker answers on the sender once the new set runs
    Swap(Vec<RuleInstance>, SyncSender<()>),
    /// re-enable a quarantined rule; the answer is `None` if the rule does not run, else
    /// whether it was quarantined
    Enable(String, SyncSender<Option<bool>>),
    /// start a shadow beside the live rules (replacing an ended one of the same pack)
    Shadow(ShadowBegin, SyncSender<anyhow::Result<()>>),
    /// end the shadow of a pack (discarded)
    EndShadow(String, SyncSender<()>),
    /// swap in the rule set of a pack's shadowed version: (pack, rules, whose state); the
    /// answer is whether the pack's rules took the shadow's state
    Promote(String, Vec<RuleInstance>, Carry, SyncSender<bool>),
}

impl Job {
    fn into_events(self) -> Vec<Event> {
        match self {
            Job::Events(_, events) => events,
            Job::Swap(..)
            | Job::Enable(..)
            | Job::Shadow(..)
            | Job::EndShadow(..)
            | Job::Promote(..) => Vec::new(),
        }
    }
}

/// A new or updated alert, for the live stream.
#[derive(Debug, Clone, Serialize)]
pub struct AlertNotice {
    pub change: AlertChange,
    pub alert: Alert,
}

/// A rule's counters as the API shows them, summed over the versions of the rule the tenant
/// ran (also across a removal and a later return of the rule).
#[derive(Debug, Clone, Default, Serialize)]
pub struct RuleView {
    pub id: String,
    pub name: String,
    pub version: String,
    pub events_in: u64,
    pub calls: u64,
    pub findings: u64,
    pub faults: u64,
    pub busy_ms: f64,
    /// how long each call took; `/metrics` shows it (`yagura_rule_eval_seconds`), the API
    /// does not
    #[serde(skip)]
    pub latency: LatencyHistogram,
    pub last_fault: Option<String>,
    /// not called since it faulted too often; `POST /v1/rules/{id}/enable` re-enables it
    pub quarantined: bool,
    pub quarantines: u64,
    /// events it subscribed to but was not called with while quarantined
    pub skipped_events: u64,
    /// times a new version or config was swapped in with its state carried over
    pub swaps: u64,
    /// `false`: the tenant switched the rule off (`PUT /v1/rules/{id}/enabled`); it is not in
    /// the running set, and its counters are those it had when it was removed
    pub enabled: bool,
    /// why the tenant switched it off
    #[serde(skip_serializing_if = "Option::is_none")]
    pub disabled_reason: Option<String>,
}

/// The handle of a tenant's engine thread.
pub struct TenantEngine {
    tenant: String,
    store: Store,
    sender: Mutex<Option<SyncSender<Job>>>,
    /// held from a WAL append to the queueing of its job, so that the worker takes WAL
    /// entries in id order (a checkpoint's `wal_applied` then covers every entry below it)
    order: Mutex<()>,
    /// events sent and not yet pushed into the engine
    queued: Arc<AtomicUsize>,
    capacity: usize,
    /// the active rules and their counters, published by the worker after each job
    rules: Arc<Mutex<Vec<RuleView>>>,
    /// counters of rules the worker removed in a swap, by id, published with `rules`
    removed: Arc<Mutex<BTreeMap<String, RuleView>>>,
    /// the tenant's switched-off rules of its running set (id, name, version, reason)
    disabled: Mutex<Vec<RuleView>>,
    /// the switched-off rules of the set built last ([`TenantEngine::stage_disabled`]), taken
    /// by the next [`TenantEngine::swap`]
    staged: Mutex<Option<Vec<RuleView>>>,
    thread: Mutex<Option<JoinHandle<()>>>,
}

/// What a worker needs besides its queue.
pub struct WorkerContext {
    pub tenant: String,
    pub store: Store,
    pub metrics: Arc<Metrics>,
    pub alerts: broadcast::Sender<AlertNotice>,
    pub options: EngineOptions,
    pub flush_after: Duration,
    /// a finding updates the alert of its rule and dedup key seen at most this long before
    pub dedup_window_ms: i64,
    /// wall time between two checkpoints (`None`: only at shutdown)
    pub checkpoint_every: Option<Duration>,
}

/// Why events were not queued.
pub enum QueueError {
    /// the queue has no room for them now
    Full,
    /// the engine is shutting down
    Closed,
}

impl TenantEngine {
    /// Starts the tenant's worker with `rules`, and waits until it has restored the tenant's
    /// last checkpoint and replayed its WAL (findings of the replay are stored as usual).
    pub fn start(
        context: WorkerContext,
        rules: Vec<RuleInstance>,
        capacity: usize,
    ) -> anyhow::Result<TenantEngine> {
        // Bounded in jobs too; the event reservation below is what really limits it.
        let (sender, receiver) = sync_channel(1024);
        let queued = Arc::new(AtomicUsize::new(0));
        // visible at once, before the thread first publishes its counters
        let views = Arc::new(Mutex::new(
            rules
                .iter()
                .map(|r| RuleView {
                    id: r.info().id.clone(),
                    name: r.info().name.clone(),
                    version: r.info().version.clone(),
                    enabled: true,
                    ..RuleView::default()
                })
                .collect::<Vec<_>>(),
        ));
        let removed = Arc::new(Mutex::new(BTreeMap::new()));
        let tenant = context.tenant.clone();
        let store = context.store.clone();
        let worker = Worker {
            context,
            queued: queued.clone(),
            views: views.clone(),
            removed: removed.clone(),
            totals: BTreeMap::new(),
            wal_applied: 0,
            last_checkpoint: Instant::now(),
            unsaved: false,
            orphans: Vec::new(),
            shadows: Vec::new(),
            taps: Arc::new(Mutex::new(Vec::new())),
        };
        let (recovered, recovery) = sync_channel(1);
        let thread = std::thread::Builder::new()
            .name(format!("yagura-engine-{tenant}"))
            .spawn(move || worker.run(receiver, rules, recovered))
            .map_err(|e| anyhow::anyhow!("cannot start the engine thread of `{tenant}`: {e}"))?;
        if recovery.recv().is_err() {
            anyhow::bail!("the engine thread of `{tenant}` stopped while recovering");
        }
        Ok(TenantEngine {
            tenant,
            store,
            order: Mutex::new(()),
            sender: Mutex::new(Some(sender)),
            queued,
            capacity,
            rules: views,
            removed,
            disabled: Mutex::new(Vec::new()),
            staged: Mutex::new(None),
            thread: Mutex::new(Some(thread)),
        })
    }

    /// Whether the queue holds as many events as it may: a request now would be refused.
    pub fn is_full(&self) -> bool {
        self.queued.load(Ordering::SeqCst) >= self.capacity
    }

    /// Whether `n` more events would be taken now (see [`TenantEngine::push`]).
    pub fn fits(&self, n: usize) -> bool {
        let queued = self.queued.load(Ordering::SeqCst);
        queued == 0 || queued.saturating_add(n) <= self.capacity
    }

    /// Writes events to the WAL and queues them, or says why not and hands them back; nothing
    /// is queued on an error. The WAL entry is not flushed yet: [`TenantEngine::sync`] before
    /// acknowledging. A WAL that cannot be written refuses the events as `Closed`.
    pub fn push(&self, events: Vec<Event>) -> Result<(), (QueueError, Vec<Event>)> {
        let n = events.len();
        if n == 0 {
            return Ok(());
        }
        let before = self.queued.fetch_add(n, Ordering::SeqCst);
        // an oversized request is let in when the queue is empty, so it can ever pass
        if before > 0 && before + n > self.capacity {
            self.queued.fetch_sub(n, Ordering::SeqCst);
            return Err((QueueError::Full, events));
        }
        let sender = self.sender.lock().ok().and_then(|s| s.clone());
        let result = match sender {
            Some(sender) => self.log_and_send(&sender, events),
            None => Err((QueueError::Closed, events)),
        };
        if result.is_err() {
            self.queued.fetch_sub(n, Ordering::SeqCst);
        }
        result
    }

    fn log_and_send(
        &self,
        sender: &SyncSender<Job>,
        events: Vec<Event>,
    ) -> Result<(), (QueueError, Vec<Event>)> {
        let encoded = match Store::wal_encode(&events) {
            Ok(encoded) => encoded,
            Err(e) => {
                tracing::error!(tenant = %self.tenant, error = %format!("{e:#}"), "events cannot be written to the WAL; refused");
                return Err((QueueError::Closed, events));
            }
        };
        // a poisoned lock guards nothing broken: it only orders appends and sends
        let _order = self.order.lock().unwrap_or_else(|e| e.into_inner());
        let id = match self.store.wal_append(&self.tenant, &encoded) {
            Ok(id) => id,
            Err(e) => {
                tracing::error!(tenant = %self.tenant, error = %format!("{e:#}"), "events cannot be written to the WAL; refused");
                return Err((QueueError::Closed, events));
            }
        };
        let (error, job) = match sender.try_send(Job::Events(id, events)) {
            Ok(()) => return Ok(()),
            Err(TrySendError::Full(job)) => (QueueError::Full, job),
            Err(TrySendError::Disconnected(job)) => (QueueError::Closed, job),
        };
        // refused after all: not acknowledged, so not replayed either (a crash before this
        // removal replays events nobody was told were accepted, which is allowed)
        if let Err(e) = self.store.wal_remove(&self.tenant, id) {
            tracing::warn!(tenant = %self.tenant, wal = id, error = %format!("{e:#}"), "a refused WAL entry could not be removed; it will be replayed at the next start");
        }
        Err((error, job.into_events()))
    }

    /// Makes every event pushed so far durable (flushes the store): call it before
    /// acknowledging them. Blocking.
    pub fn sync(&self) -> anyhow::Result<()> {
        self.store.flush()
    }

    /// Sets the tenant's switched-off rules, as of now (at start, with the first rule set).
    pub(crate) fn set_disabled(&self, disabled: Vec<RuleView>) {
        if let Ok(mut d) = self.disabled.lock() {
            *d = disabled;
        }
    }

    /// Records the switched-off rules of a rule set just built; they are listed once the next
    /// [`TenantEngine::swap`] runs that set.
    pub(crate) fn stage_disabled(&self, disabled: Vec<RuleView>) {
        if let Ok(mut s) = self.staged.lock() {
            *s = Some(disabled);
        }
    }

    /// Replaces the rule set (already instantiated) and waits until the new one runs; the old
    /// one first evaluates everything queued before it. Blocking.
    pub fn swap(&self, rules: Vec<RuleInstance>) -> anyhow::Result<()> {
        let staged = self.staged.lock().ok().and_then(|mut s| s.take());
        let (done, swapped) = sync_channel(1);
        self.send(Job::Swap(rules, done))?;
        swapped.recv().map_err(|_| {
            anyhow::anyhow!("the engine of `{}` stopped during the swap", self.tenant)
        })?;
        if let Some(disabled) = staged {
            self.set_disabled(disabled);
        }
        Ok(())
    }

    /// Hands `job` to the worker; an error once the engine is shut down or stopped.
    fn send(&self, job: Job) -> anyhow::Result<()> {
        let sender = self
            .sender
            .lock()
            .ok()
            .and_then(|s| s.clone())
            .ok_or_else(|| anyhow::anyhow!("the engine of `{}` is shut down", self.tenant))?;
        sender
            .send(job)
            .map_err(|_| anyhow::anyhow!("the engine of `{}` has stopped", self.tenant))
    }

    /// Re-enables a quarantined rule (after the jobs queued before this one). `None` if the
    /// rule does not run, else whether it was quarantined. Blocking.
    pub fn enable(&self, rule: &str) -> anyhow::Result<Option<bool>> {
        let (done, answer) = sync_channel(1);
        self.send(Job::Enable(rule.to_owned(), done))?;
        answer
            .recv()
            .map_err(|_| anyhow::anyhow!("the engine of `{}` stopped", self.tenant))
    }

    /// Starts a shadow beside the live rules, after the jobs queued before; it runs once this
    /// returns. Blocking.
    pub(crate) fn start_shadow(&self, begin: ShadowBegin) -> anyhow::Result<()> {
        let (done, answer) = sync_channel(1);
        self.send(Job::Shadow(begin, done))?;
        answer
            .recv()
            .map_err(|_| anyhow::anyhow!("the engine of `{}` stopped", self.tenant))?
    }

    /// Ends the shadow of `pack` (if it runs), after the jobs queued before. Blocking.
    pub(crate) fn end_shadow(&self, pack: &str) -> anyhow::Result<()> {
        let (done, answer) = sync_channel(1);
        self.send(Job::EndShadow(pack.to_owned(), done))?;
        answer
            .recv()
            .map_err(|_| anyhow::anyhow!("the engine of `{}` stopped", self.tenant))
    }

    /// Swaps in `rules` (the tenant's set with `pack`'s shadowed version), ending the shadow
    /// once it has evaluated every event it was handed; with [`Carry::Shadow`] the pack's rules
    /// take the shadow's state. Whether they did (not if the shadow stopped before). Blocking.
    pub(crate) fn promote(
        &self,
        pack: &str,
        rules: Vec<RuleInstance>,
        carry: Carry,
    ) -> anyhow::Result<bool> {
        let staged = self.staged.lock().ok().and_then(|mut s| s.take());
        let (done, answer) = sync_channel(1);
        self.send(Job::Promote(pack.to_owned(), rules, carry, done))?;
        let carried = answer.recv().map_err(|_| {
            anyhow::anyhow!(
                "the engine of `{}` stopped during the promotion",
                self.tenant
            )
        })?;
        if let Some(disabled) = staged {
            self.set_disabled(disabled);
        }
        Ok(carried)
    }

    /// Events waiting in the queue.
    pub fn queued(&self) -> usize {
        self.queued.load(Ordering::SeqCst)
    }

    /// The active rules and their counters, then the rules the tenant switched off
    /// (`enabled: false`, with the counters they had when they were removed).
    pub fn rules(&self) -> Vec<RuleView> {
        let mut views = self.rules.lock().map(|r| r.clone()).unwrap_or_default();
        let disabled = self.disabled.lock().map(|d| d.clone()).unwrap_or_default();
        let removed = self.removed.lock().map(|r| r.clone()).unwrap_or_default();
        for off in disabled {
            if views.iter().any(|v| v.id == off.id) {
                // switched on again, or a swap still under way
                continue;
            }
            let counters = removed.get(&off.id).cloned().unwrap_or_default();
            views.push(RuleView {
                id: off.id,
                name: off.name,
                version: off.version,
                quarantined: false,
                enabled: false,
                disabled_reason: off.disabled_reason,
                ..counters
            });
        }
        views
    }

    /// Stops taking events, lets the worker evaluate everything queued and flush, and waits
    /// for it. Blocking.
    pub fn close(&self) {
        if let Ok(mut sender) = self.sender.lock() {
            sender.take();
        }
        let thread = self.thread.lock().ok().and_then(|mut t| t.take());
        if let Some(thread) = thread
            && thread.join().is_err()
        {
            tracing::error!(tenant = %self.tenant, "the engine thread panicked");
        }
    }
}

struct Worker {
    context: WorkerContext,
    queued: Arc<AtomicUsize>,
    views: Arc<Mutex<Vec<RuleView>>>,
    /// `totals`, published for the listing of switched-off rules
    removed: Arc<Mutex<BTreeMap<String, RuleView>>>,
    /// counters of rules removed by a swap, by rule id, so that a rule that returns later
    /// continues its published counters (the engine keeps those of rules that stay)
    totals: BTreeMap<String, RuleView>,
    /// the last WAL entry whose events are in the engine
    wal_applied: u64,
    last_checkpoint: Instant,
    /// events, ticks or a swap since the last checkpoint
    unsaved: bool,
    /// saved states of rules that were not in the set at start (their pack failed to load,
    /// say): saved again unchanged, and given to the rule if the next swap brings it back;
    /// dropped at that swap otherwise
    orphans: Vec<(String, Vec<u8>)>,
    /// the shadows running beside the live rules
    shadows: Vec<LiveShadow>,
    /// their handles, for the sink to record the live findings they compare
    taps: Arc<Mutex<Vec<ShadowHandle>>>,
}

impl Worker {
    fn run(mut self, receiver: Receiver<Job>, rules: Vec<RuleInstance>, recovered: SyncSender<()>) {
        let mut engine = self.engine(rules);
        // restored waiting events need a flush as much as replayed ones
        let mut dirty = self.recover(&mut engine) || engine.pending() > 0;
        self.publish(&engine);
        // `start` waits for this: no job is taken before the recovery
        let _ = recovered.send(());
        drop(recovered);
        let flush_after = self.context.flush_after;
        let wait = self
            .context
            .checkpoint_every
            .map_or(flush_after, |every| every.min(flush_after));
        let mut last_job = Instant::now();
        loop {
            match receiver.recv_timeout(wait) {
                Ok(Job::Events(id, events)) => {
                    let n = events.len();
                    self.keep_shadows(|s| s.events(&events));
                    let mut sink = self.sink();
                    for event in events {
                        engine.push(event, &mut sink);
                    }
                    self.wal_applied = id;
                    self.queued.fetch_sub(n, Ordering::SeqCst);
                    dirty = true;
                    self.unsaved = true;
                    last_job = Instant::now();
                    self.publish(&engine);
                }
                Ok(Job::Swap(rules, done)) => {
                    self.swap(&mut engine, rules);
                    // the swapper may have given up waiting; the swap stands
                    let _ = done.send(());
                }
                Ok(Job::Shadow(begin, done)) => {
                    let _ = done.send(self.start_shadow(&engine, begin));
                }
                Ok(Job::EndShadow(pack, done)) => {
                    if let Some(at) = self.shadows.iter().position(|s| s.pack == pack) {
                        self.shadows.remove(at).end(ShadowStatus::Discarded);
                        self.sync_taps();
                    }
                    let _ = done.send(());
                }
                Ok(Job::Promote(pack, rules, carry, done)) => {
                    let carried = self.promote(&mut engine, &pack, rules, carry);
                    let _ = done.send(carried);
                }
                Ok(Job::Enable(rule, done)) => {
                    let answer = engine.enable_rule(&rule);
                    self.publish(&engine);
                    let _ = done.send(answer);
                }
                Err(RecvTimeoutError::Timeout) => {
                    if dirty && last_job.elapsed() >= flush_after {
                        engine.flush(&mut self.sink());
                        self.keep_shadows(LiveShadow::flush);
                        dirty = false;
                        // waiting events were evaluated: a checkpoint should no longer hold them
                        self.unsaved = true;
                        self.publish(&engine);
                    }
                }
                Err(RecvTimeoutError::Disconnected) => {
                    for mut shadow in std::mem::take(&mut self.shadows) {
                        shadow.suspend();
                    }
                    self.sync_taps();
                    engine.flush(&mut self.sink());
                    self.publish(&engine);
                    self.checkpoint(&engine);
                    tracing::info!(tenant = %self.context.tenant, "engine flushed, checkpoint saved, stopped");
                    return;
                }
            }
            self.keep_shadows(|s| !s.expired());
            if let Some(every) = self.context.checkpoint_every
                && self.unsaved
                && self.last_checkpoint.elapsed() >= every
            {
                self.checkpoint(&engine);
            }
        }
    }

    /// Replaces the rule set, carrying each rule's state to its new version.
    fn swap(&mut self, engine: &mut Engine, mut rules: Vec<RuleInstance>) {
        crash_point("swap");
        let before = self.current(engine);
        self.adopt_orphans(engine, &mut rules);
        let report = engine.swap_rules(rules);
        self.unsaved = true;
        for (id, _) in &report.removed {
            if let Some(view) = before.iter().find(|v| &v.id == id) {
                self.totals.insert(id.clone(), view.clone());
            }
        }
        if let Ok(mut removed) = self.removed.lock() {
            removed.clone_from(&self.totals);
        }
        tracing::info!(tenant = %self.context.tenant, carried = report.carried.len(), kept = report.kept.len(), added = report.added.len(), removed = report.removed.len(), pending = report.pending, "rule set swapped; state carried over");
        self.publish(engine);
    }

    /// Starts a shadow from the live engine's position (one of the pack's ended shadows is
    /// replaced).
    fn start_shadow(&mut self, engine: &Engine, begin: ShadowBegin) -> anyhow::Result<()> {
        if let Some(at) = self.shadows.iter().position(|s| s.pack == begin.pack) {
            self.shadows
                .remove(at)
                .stop("a new shadow of the pack started".into());
        }
        let baseline = self.current(engine);
        let shadow = LiveShadow::start(begin, engine, self.context.options, baseline)?;
        self.shadows.push(shadow);
        self.sync_taps();
        Ok(())
    }

    /// Swaps in the rule set of `pack`'s shadowed version; with [`Carry::Shadow`], once the
    /// shadow has evaluated everything it was handed, its rules' state replaces the carried
    /// one. Whether it did.
    fn promote(
        &mut self,
        engine: &mut Engine,
        pack: &str,
        rules: Vec<RuleInstance>,
        carry: Carry,
    ) -> bool {
        let shadow = self
            .shadows
            .iter()
            .position(|s| s.pack == pack)
            .map(|at| self.shadows.remove(at));
        self.sync_taps();
        let states = match (shadow, carry) {
            (Some(shadow), Carry::Shadow) => {
                let handle = shadow.handle.clone();
                let states = shadow.finish();
                handle.end(ShadowStatus::Promoted);
                states
            }
            (Some(mut shadow), Carry::Active) => {
                shadow.end(ShadowStatus::Promoted);
                None
            }
            (None, _) => None,
        };
        self.swap(engine, rules);
        let Some(states) = states else {
            return false;
        };
        for (id, state) in states {
            engine.replace_rule_state(&id, state);
        }
        self.unsaved = true;
        true
    }

    /// Keeps the shadows for which `keep` holds (it hands them work or checks them); the others
    /// have stopped and are dropped.
    fn keep_shadows(&mut self, keep: impl FnMut(&mut LiveShadow) -> bool) {
        if self.shadows.is_empty() {
            return;
        }
        let before = self.shadows.len();
        self.shadows.retain_mut(keep);
        if self.shadows.len() != before {
            self.sync_taps();
        }
    }

    /// Publishes the running shadows' handles to the sink.
    fn sync_taps(&self) {
        if let Ok(mut taps) = self.taps.lock() {
            *taps = self.shadows.iter().map(|s| s.handle.clone()).collect();
        }
    }

    /// Restores the last checkpoint into `engine` (fresh) and replays the WAL after it;
    /// whether events were pushed. A checkpoint that cannot be read is logged and skipped:
    /// rules start empty and the whole WAL is replayed.
    fn recover(&mut self, engine: &mut Engine) -> bool {
        let tenant = self.context.tenant.clone();
        let store = self.context.store.clone();
        match store.load_checkpoint(&tenant) {
            Ok(Some(checkpoint)) => {
                let mut saved = checkpoint.rules;
                let restored = engine.restore(checkpoint.engine, |info| {
                    let at = saved.iter().position(|(id, _)| *id == info.id)?;
                    let (id, bytes) = saved.swap_remove(at);
                    match RuleState::decode(&bytes, StateLimits::default()) {
                        Ok(state) => Some(state),
                        Err(e) => {
                            tracing::error!(tenant = %tenant, rule = %id, error = %e, "a rule's saved state is unreadable; it starts empty");
                            None
                        }
                    }
                });
                self.wal_applied = checkpoint.wal_applied;
                self.orphans = saved;
                tracing::info!(tenant = %tenant, restored = restored.len(), kept_aside = self.orphans.len(), next_seq = engine.snapshot().next_seq, "checkpoint restored");
            }
            Ok(None) => {}
            Err(e) => {
                tracing::error!(tenant = %tenant, error = %format!("{e:#}"), "the checkpoint cannot be read; rules start empty and the whole WAL is replayed");
            }
        }
        let entries = match store.wal_entries(&tenant, self.wal_applied) {
            Ok(entries) => entries,
            Err(e) => {
                tracing::error!(tenant = %tenant, error = %format!("{e:#}"), "the WAL cannot be read; nothing replayed");
                return false;
            }
        };
        let (mut replayed, mut events_in) = (0u64, 0u64);
        let mut sink = self.sink();
        for entry in entries {
            match entry {
                Ok((id, events)) => {
                    events_in += events.len() as u64;
                    for event in events {
                        engine.push(event, &mut sink);
                    }
                    self.wal_applied = id;
                    replayed += 1;
                }
                Err(e) => {
                    // the rest may still be readable: skip this entry only
                    tracing::error!(tenant = %tenant, error = %format!("{e:#}"), "a WAL entry cannot be replayed; skipped");
                }
            }
        }
        if replayed > 0 {
            self.unsaved = true;
            tracing::info!(tenant = %tenant, entries = replayed, events = events_in, "WAL replayed");
        }
        replayed > 0
    }

    /// Gives the saved state of a rule that was not running at start to its instance in the
    /// incoming set; the other set-aside states are dropped (the tenant's set was rebuilt
    /// from its active packs without them).
    fn adopt_orphans(&mut self, engine: &Engine, rules: &mut [RuleInstance]) {
        for (id, bytes) in std::mem::take(&mut self.orphans) {
            let running = engine.instances().any(|r| r.info().id == id);
            let Some(instance) = rules.iter_mut().find(|r| r.info().id == id) else {
                continue;
            };
            if running {
                continue;
            }
            match RuleState::decode(&bytes, StateLimits::default()) {
                Ok(state) => instance.put_state(state),
                Err(e) => {
                    tracing::error!(tenant = %self.context.tenant, rule = %id, error = %e, "a rule's saved state is unreadable; it starts empty");
                }
            }
        }
    }

    /// Saves the engine's position and every rule's state; on failure the next one retries.
    fn checkpoint(&mut self, engine: &Engine) {
        self.last_checkpoint = Instant::now();
        let mut rules: Vec<(String, Vec<u8>)> = engine
            .rule_states()
            .map(|(id, state)| (id.to_owned(), state.encode()))
            .collect();
        rules.extend(self.orphans.iter().cloned());
        let checkpoint = Checkpoint {
            engine: engine.snapshot(),
            wal_applied: self.wal_applied,
            rules,
            saved_at: checkpoint_time(),
        };
        match self
            .context
            .store
            .save_checkpoint(&self.context.tenant, &checkpoint)
        {
            Ok(()) => {
                self.unsaved = false;
                tracing::debug!(tenant = %self.context.tenant, wal = self.wal_applied, rules = checkpoint.rules.len(), "checkpoint saved");
            }
            Err(e) => {
                tracing::error!(tenant = %self.context.tenant, error = %format!("{e:#}"), "the checkpoint cannot be saved; the WAL keeps the events");
            }
        }
    }

    fn engine(&self, rules: Vec<RuleInstance>) -> Engine {
        let mut engine = Engine::new(self.context.options);
        for rule in rules {
            engine.add_rule(rule);
        }
        engine
    }

    /// Stores each finding, then announces it.
    fn sink(&self) -> impl FnMut(&RuleInfo, Finding) + use<> {
        let tenant = self.context.tenant.clone();
        let store = self.context.store.clone();
        let metrics = self.context.metrics.clone();
        let alerts = self.context.alerts.clone();
        let window = self.context.dedup_window_ms;
        let taps = self.taps.clone();
        move |info: &RuleInfo, finding: Finding| {
            if let Ok(taps) = taps.lock() {
                for tap in taps.iter().filter(|t| t.compares(&info.id)) {
                    tap.record(Side::Active, info, &finding);
                }
            }
            record(&store, &tenant, &metrics, &alerts, window, info, &finding);
        }
    }

    fn current(&self, engine: &Engine) -> Vec<RuleView> {
        engine
            .rule_stats()
            .map(|(info, s)| {
                let base = self.totals.get(&info.id).cloned().unwrap_or_default();
                RuleView {
                    id: info.id.clone(),
                    name: info.name.clone(),
                    version: info.version.clone(),
                    events_in: base.events_in + s.events_in,
                    calls: base.calls + s.calls,
                    findings: base.findings + s.findings,
                    faults: base.faults + s.faults,
                    busy_ms: base.busy_ms + s.busy.as_secs_f64() * 1e3,
                    latency: base.latency.merged(&s.latency),
                    last_fault: s
                        .last_fault
                        .as_ref()
                        .map(ToString::to_string)
                        .or(base.last_fault),
                    quarantined: s.quarantined,
                    quarantines: base.quarantines + s.quarantines,
                    skipped_events: base.skipped_events + s.skipped_events,
                    swaps: base.swaps + s.swaps,
                    enabled: true,
                    disabled_reason: None,
                }
            })
            .collect()
    }

    fn publish(&self, engine: &Engine) {
        let views = self.current(engine);
        let tenant = &self.context.tenant;
        let m = &self.context.metrics;
        for v in &views {
            let labels = || vec![("tenant", tenant.clone()), ("rule", v.id.clone())];
            m.set(metrics::RULE_EVENTS, labels(), v.events_in as f64);
            m.set(metrics::RULE_FINDINGS, labels(), v.findings as f64);
            m.set(metrics::RULE_FAULTS, labels(), v.faults as f64);
            m.set(metrics::RULE_BUSY, labels(), v.busy_ms / 1e3);
            m.set_histogram(metrics::RULE_LATENCY, labels(), v.latency);
            m.set(
                metrics::RULE_QUARANTINED,
                labels(),
                if v.quarantined { 1.0 } else { 0.0 },
            );
            m.set(metrics::RULE_SKIPPED, labels(), v.skipped_events as f64);
        }
        let running: Vec<&str> = views.iter().map(|v| v.id.as_str()).collect();
        m.retain_rules(tenant, &running);
        m.set(
            metrics::QUEUE_DEPTH,
            vec![("tenant", tenant.clone())],
            self.queued.load(Ordering::SeqCst) as f64,
        );
        if let Ok(mut published) = self.views.lock() {
            *published = views;
        }
    }
}

/// Stores a live finding, then announces its alert.
fn record(
    store: &Store,
    tenant: &str,
    metrics: &Metrics,
    alerts: &broadcast::Sender<AlertNotice>,
    window: i64,
    info: &RuleInfo,
    finding: &Finding,
) {
    match store.record_finding(tenant, &info.name, finding, window) {
        Ok((change, alert)) => {
            let kind = match change {
                AlertChange::New => "new",
                AlertChange::Updated => "updated",
                AlertChange::Merged => "merged",
            };
            metrics.add(
                metrics::ALERTS,
                vec![("tenant", tenant.to_owned()), ("change", kind.into())],
                1.0,
            );
            // no subscriber is not an error
            let _ = alerts.send(AlertNotice { change, alert });
        }
        Err(e) => {
            tracing::error!(tenant = %tenant, rule = %info.id, error = %format!("{e:#}"), "a finding could not be stored");
            metrics.add(
                metrics::ALERT_STORE_ERRORS,
                vec![("tenant", tenant.to_owned())],
                1.0,
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn event(time: i64) -> Event {
        crate::event::parse_event(&format!(r#"{{"time":{time},"class":"network"}}"#))
            .expect("a valid event")
    }

    #[test]
    fn the_queue_is_bounded_in_events_and_close_drains_it() {
        let dir = tempfile::tempdir().expect("tmp");
        let context = WorkerContext {
            tenant: "t".into(),
            store: Store::open(dir.path()).expect("store"),
            metrics: Arc::new(Metrics::default()),
            alerts: broadcast::channel(4).0,
            options: EngineOptions::default(),
            // long: only close() flushes here
            flush_after: Duration::from_secs(600),
            dedup_window_ms: 3_600_000,
            checkpoint_every: None,
        };
        let engine = TenantEngine::start(context, Vec::new(), 10).expect("starts");
        // as if 10 events were waiting: no room for one more
        engine.queued.fetch_add(10, Ordering::SeqCst);
        assert!(matches!(
            engine.push(vec![event(1)]),
            Err((QueueError::Full, _))
        ));
        assert_eq!(engine.queued(), 10, "a refused request reserves nothing");
        engine.queued.fetch_sub(10, Ordering::SeqCst);
        // an empty queue takes even a request larger than its capacity
        let many: Vec<Event> = (0..25).map(event).collect();
        assert!(engine.push(many).is_ok());
        engine.close();
        assert_eq!(engine.queued(), 0, "close evaluates everything queued");
        assert!(matches!(
            engine.push(vec![event(1)]),
            Err((QueueError::Closed, _))
        ));
    }
}
