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
//! rule is re-enabled with [`Job::Enable`].
//!
//! Lifecycle: the worker runs until every sender is dropped ([`TenantEngine::close`]), then
//! flushes its engine and ends; `close` joins it. When no job arrives for `flush_after` and
//! events were pushed since the last flush, the worker flushes, so that a quiet stream still
//! reaches the rules (the engine has no timer of its own).

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::mpsc::{Receiver, RecvTimeoutError, SyncSender, TrySendError, sync_channel};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::Duration;

use serde::Serialize;
use tokio::sync::broadcast;

use super::metrics::{self, Metrics};
use crate::engine::{Engine, EngineOptions};
use crate::event::Event;
use crate::finding::Finding;
use crate::rule::RuleInfo;
use crate::sandbox::RuleInstance;
use crate::store::{Alert, AlertChange, Store};

/// Work for a tenant's engine.
pub enum Job {
    Events(Vec<Event>),
    /// replace the rule set; the worker answers on the sender once the new set runs
    Swap(Vec<RuleInstance>, SyncSender<()>),
    /// re-enable a quarantined rule; the answer is `None` if the rule does not run, else
    /// whether it was quarantined
    Enable(String, SyncSender<Option<bool>>),
}

impl Job {
    fn into_events(self) -> Vec<Event> {
        match self {
            Job::Events(events) => events,
            Job::Swap(..) | Job::Enable(..) => Vec::new(),
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
    pub last_fault: Option<String>,
    /// not called since it faulted too often; `POST /v1/rules/{id}/enable` re-enables it
    pub quarantined: bool,
    pub quarantines: u64,
    /// events it subscribed to but was not called with while quarantined
    pub skipped_events: u64,
    /// times a new version or config was swapped in with its state carried over
    pub swaps: u64,
}

/// The handle of a tenant's engine thread.
pub struct TenantEngine {
    tenant: String,
    sender: Mutex<Option<SyncSender<Job>>>,
    /// events sent and not yet pushed into the engine
    queued: Arc<AtomicUsize>,
    capacity: usize,
    /// the active rules and their counters, published by the worker after each job
    rules: Arc<Mutex<Vec<RuleView>>>,
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
}

/// Why events were not queued.
pub enum QueueError {
    /// the queue has no room for them now
    Full,
    /// the engine is shutting down
    Closed,
}

impl TenantEngine {
    /// Starts the tenant's worker with `rules`.
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
                    ..RuleView::default()
                })
                .collect::<Vec<_>>(),
        ));
        let tenant = context.tenant.clone();
        let worker = Worker {
            context,
            queued: queued.clone(),
            views: views.clone(),
            totals: BTreeMap::new(),
        };
        let thread = std::thread::Builder::new()
            .name(format!("yagura-engine-{tenant}"))
            .spawn(move || worker.run(receiver, rules))
            .map_err(|e| anyhow::anyhow!("cannot start the engine thread of `{tenant}`: {e}"))?;
        Ok(TenantEngine {
            tenant,
            sender: Mutex::new(Some(sender)),
            queued,
            capacity,
            rules: views,
            thread: Mutex::new(Some(thread)),
        })
    }

    /// Queues events, or says why not and hands them back; nothing is queued on an error.
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
            Some(sender) => match sender.try_send(Job::Events(events)) {
                Ok(()) => Ok(()),
                Err(TrySendError::Full(job)) => Err((QueueError::Full, job.into_events())),
                Err(TrySendError::Disconnected(job)) => {
                    Err((QueueError::Closed, job.into_events()))
                }
            },
            None => Err((QueueError::Closed, events)),
        };
        if result.is_err() {
            self.queued.fetch_sub(n, Ordering::SeqCst);
        }
        result
    }

    /// Replaces the rule set (already instantiated) and waits until the new one runs; the old
    /// one first evaluates everything queued before it. Blocking.
    pub fn swap(&self, rules: Vec<RuleInstance>) -> anyhow::Result<()> {
        let sender = self
            .sender
            .lock()
            .ok()
            .and_then(|s| s.clone())
            .ok_or_else(|| anyhow::anyhow!("the engine of `{}` is shut down", self.tenant))?;
        let (done, swapped) = sync_channel(1);
        sender
            .send(Job::Swap(rules, done))
            .map_err(|_| anyhow::anyhow!("the engine of `{}` has stopped", self.tenant))?;
        swapped
            .recv()
            .map_err(|_| anyhow::anyhow!("the engine of `{}` stopped during the swap", self.tenant))
    }

    /// Re-enables a quarantined rule (after the jobs queued before this one). `None` if the
    /// rule does not run, else whether it was quarantined. Blocking.
    pub fn enable(&self, rule: &str) -> anyhow::Result<Option<bool>> {
        let sender = self
            .sender
            .lock()
            .ok()
            .and_then(|s| s.clone())
            .ok_or_else(|| anyhow::anyhow!("the engine of `{}` is shut down", self.tenant))?;
        let (done, answer) = sync_channel(1);
        sender
            .send(Job::Enable(rule.to_owned(), done))
            .map_err(|_| anyhow::anyhow!("the engine of `{}` has stopped", self.tenant))?;
        answer
            .recv()
            .map_err(|_| anyhow::anyhow!("the engine of `{}` stopped", self.tenant))
    }

    /// Events waiting in the queue.
    pub fn queued(&self) -> usize {
        self.queued.load(Ordering::SeqCst)
    }

    /// The active rules and their counters.
    pub fn rules(&self) -> Vec<RuleView> {
        self.rules.lock().map(|r| r.clone()).unwrap_or_default()
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
    /// counters of rules removed by a swap, by rule id, so that a rule that returns later
    /// continues its published counters (the engine keeps those of rules that stay)
    totals: BTreeMap<String, RuleView>,
}

impl Worker {
    fn run(mut self, receiver: Receiver<Job>, rules: Vec<RuleInstance>) {
        let mut engine = self.engine(rules);
        let mut dirty = false;
        loop {
            match receiver.recv_timeout(self.context.flush_after) {
                Ok(Job::Events(events)) => {
                    let n = events.len();
                    let mut sink = self.sink();
                    for event in events {
                        engine.push(event, &mut sink);
                    }
                    self.queued.fetch_sub(n, Ordering::SeqCst);
                    dirty = true;
                    self.publish(&engine);
                }
                Ok(Job::Swap(rules, done)) => {
                    let before = self.current(&engine);
                    let report = engine.swap_rules(rules);
                    for (id, _) in &report.removed {
                        if let Some(view) = before.iter().find(|v| &v.id == id) {
                            self.totals.insert(id.clone(), view.clone());
                        }
                    }
                    tracing::info!(tenant = %self.context.tenant, carried = report.carried.len(), kept = report.kept.len(), added = report.added.len(), removed = report.removed.len(), pending = report.pending, "rule set swapped; state carried over");
                    self.publish(&engine);
                    // the swapper may have given up waiting; the swap stands
                    let _ = done.send(());
                }
                Ok(Job::Enable(rule, done)) => {
                    let answer = engine.enable_rule(&rule);
                    self.publish(&engine);
                    let _ = done.send(answer);
                }
                Err(RecvTimeoutError::Timeout) => {
                    if dirty {
                        engine.flush(&mut self.sink());
                        dirty = false;
                        self.publish(&engine);
                    }
                }
                Err(RecvTimeoutError::Disconnected) => {
                    engine.flush(&mut self.sink());
                    self.publish(&engine);
                    tracing::info!(tenant = %self.context.tenant, "engine flushed and stopped");
                    return;
                }
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
        move |info: &RuleInfo, finding: Finding| match store
            .record_finding(&tenant, &info.name, &finding, window)
        {
            Ok((change, alert)) => {
                let kind = match change {
                    AlertChange::New => "new",
                    AlertChange::Updated => "updated",
                };
                metrics.add(
                    metrics::ALERTS,
                    vec![("tenant", tenant.clone()), ("change", kind.into())],
                    1.0,
                );
                // no subscriber is not an error
                let _ = alerts.send(AlertNotice { change, alert });
            }
            Err(e) => {
                tracing::error!(tenant = %tenant, rule = %info.id, error = %format!("{e:#}"), "a finding could not be stored");
                metrics.add(
                    metrics::ALERT_STORE_ERRORS,
                    vec![("tenant", tenant.clone())],
                    1.0,
                );
            }
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
                    last_fault: s
                        .last_fault
                        .as_ref()
                        .map(ToString::to_string)
                        .or(base.last_fault),
                    quarantined: s.quarantined,
                    quarantines: base.quarantines + s.quarantines,
                    skipped_events: base.skipped_events + s.skipped_events,
                    swaps: base.swaps + s.swaps,
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
            m.set(
                metrics::RULE_QUARANTINED,
                labels(),
                if v.quarantined { 1.0 } else { 0.0 },
            );
            m.set(metrics::RULE_SKIPPED, labels(), v.skipped_events as f64);
        }
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
