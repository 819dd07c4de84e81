//! The engine: orders events by event time, batches them, routes each batch to the rules
//! subscribed to its classes, moves the watermark and ticks the rules.
//!
//! Ordering: events wait in a reorder buffer until event time has moved `lateness` past them
//! (or the buffer is full), then leave in (time, seq) order. An event older than what already
//! left is *late*: it is still evaluated, in the next batch, and counted. The watermark is the
//! time of the newest event that left the buffer; `on-tick` follows it every `tick_interval`
//! of event time and once at the end. A batch is in (time, seq) order; across batches, only
//! late events break the order.
//!
//! A batch closes at `batch_size` events or `max_batch_bytes` of text, whichever comes first.
//!
//! The rule set can change while events flow ([`Engine::swap_rules`], in `swap`): between two
//! batches, keeping the sequence counter, the reorder buffer and the watermark, and handing
//! each rule's host-kept state to its next version. A rule that faults too often is
//! quarantined (`quarantine`): no longer called until [`Engine::enable_rule`].
//!
//! # Layout
//! - `mod.rs`: options, stats, ordering, batching, dispatch and ticks.
//! - `swap`: replacing the rule set between two batches, and what it reports.
//! - `quarantine`: the sliding window of faults that stops a failing rule.
//! - `checkpoint`: what a restart needs to continue (seq, watermark, waiting events, state).
//! - `latency`: the histogram of how long each call into a rule took.

mod checkpoint;
mod latency;
mod quarantine;
mod swap;

pub use checkpoint::EngineSnapshot;
pub use latency::LatencyHistogram;
pub use swap::SwapReport;

use std::cmp::Reverse;
use std::collections::{BinaryHeap, HashMap};
use std::time::{Duration, Instant};

use crate::event::Event;
use crate::finding::Finding;
use crate::rule::RuleInfo;
use crate::sandbox::{BatchBuilder, CallOutcome, Fault, FaultKind, RuleInstance};
use quarantine::FaultWindow;

/// How the engine batches and orders.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct EngineOptions {
    /// Events per call into a rule (at most).
    pub batch_size: usize,
    /// How far behind the newest event time an event may arrive and still be delivered in order.
    pub lateness_ms: i64,
    /// Event time between two `on-tick` calls.
    pub tick_interval_ms: i64,
    /// Events held in the reorder buffer before the oldest is released regardless.
    pub max_buffered: usize,
    /// Text bytes per call into a rule (at most, but for a single event larger than it), so
    /// that a batch of large events stays well inside a rule's memory.
    pub max_batch_bytes: usize,
    /// A rule whose calls faulted this many times within its last `quarantine_calls` calls is
    /// quarantined: not called again until re-enabled. 0 turns quarantine off.
    pub quarantine_faults: u32,
    /// The window of calls (the most recent ones) over which faults are counted.
    pub quarantine_calls: u32,
}

impl Default for EngineOptions {
    fn default() -> Self {
        EngineOptions {
            batch_size: 256,
            lateness_ms: 5_000,
            tick_interval_ms: 10_000,
            max_buffered: 100_000,
            max_batch_bytes: 4 << 20,
            quarantine_faults: 5,
            quarantine_calls: 20,
        }
    }
}

/// Per-rule counters. They belong to the rule id, not to one instance: across a swap to a new
/// version (or config) of the same rule they continue, summed over the versions that ran;
/// `swaps` says how many times the instance was replaced.
#[derive(Debug, Clone, Default)]
pub struct RuleStats {
    pub events_in: u64,
    pub calls: u64,
    pub findings: u64,
    /// findings dropped by the per-call output caps
    pub findings_dropped: u64,
    pub faults: u64,
    pub faults_by_kind: Vec<(FaultKind, u64)>,
    pub last_fault: Option<Fault>,
    /// wall time spent in calls into the rule
    pub busy: Duration,
    /// how long each call took (`on-events` with a batch, `on-tick`)
    pub latency: LatencyHistogram,
    /// true while the rule is quarantined (not called)
    pub quarantined: bool,
    /// times the rule was quarantined
    pub quarantines: u64,
    /// events the rule subscribed to but was not called with, because it was quarantined
    pub skipped_events: u64,
    /// times the instance was replaced by a swap
    pub swaps: u64,
}

impl RuleStats {
    /// The time of one call: its busy time and its latency bucket.
    fn record_call(&mut self, took: Duration) {
        self.busy += took;
        self.latency.record(took);
    }

    fn record_fault(&mut self, fault: &Fault) {
        self.faults += 1;
        match self
            .faults_by_kind
            .iter_mut()
            .find(|(k, _)| *k == fault.kind)
        {
            Some((_, n)) => *n += 1,
            None => self.faults_by_kind.push((fault.kind, 1)),
        }
        self.last_fault = Some(fault.clone());
    }
}

/// Engine-wide counters.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct EngineStats {
    pub events_in: u64,
    pub late_events: u64,
    pub batches: u64,
    pub ticks: u64,
}

struct ActiveRule {
    instance: RuleInstance,
    mask: u16,
    stats: RuleStats,
    /// recent calls, for quarantine
    faults: FaultWindow,
}

/// An event waiting in the reorder buffer, ordered by (time, seq).
struct Pending(Event);

impl PartialEq for Pending {
    fn eq(&self, other: &Self) -> bool {
        (self.0.time, self.0.seq) == (other.0.time, other.0.seq)
    }
}
impl Eq for Pending {}
impl PartialOrd for Pending {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}
impl Ord for Pending {
    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        (self.0.time, self.0.seq).cmp(&(other.0.time, other.0.seq))
    }
}

/// Receives each finding with the info of the rule that made it.
pub type FindingSink<'a> = dyn FnMut(&RuleInfo, Finding) + 'a;

/// Runs rule instances over a stream of events.
pub struct Engine {
    options: EngineOptions,
    rules: Vec<ActiveRule>,
    buffer: BinaryHeap<Reverse<Pending>>,
    /// released events waiting for a full batch, in release order
    ready: Vec<Event>,
    /// text bytes of `ready`
    ready_bytes: usize,
    /// one lowered batch per distinct subscription mask, rebuilt per dispatch
    builders: Vec<(u16, BatchBuilder)>,
    next_seq: u64,
    newest: i64,
    watermark: Option<i64>,
    last_tick: Option<i64>,
    stats: EngineStats,
}

impl std::fmt::Debug for Engine {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Engine")
            .field("rules", &self.rules.len())
            .field("stats", &self.stats)
            .finish_non_exhaustive()
    }
}

impl Engine {
    pub fn new(options: EngineOptions) -> Engine {
        Engine {
            options: EngineOptions {
                batch_size: options.batch_size.max(1),
                ..options
            },
            rules: Vec::new(),
            buffer: BinaryHeap::new(),
            ready: Vec::new(),
            ready_bytes: 0,
            builders: Vec::new(),
            next_seq: 1,
            newest: i64::MIN,
            watermark: None,
            last_tick: None,
            stats: EngineStats::default(),
        }
    }

    /// Adds a running rule. Its events start with the next batch.
    pub fn add_rule(&mut self, instance: RuleInstance) {
        self.rules.push(self.active(instance));
    }

    fn active(&self, instance: RuleInstance) -> ActiveRule {
        ActiveRule {
            mask: instance.info().subscription_mask(),
            instance,
            stats: RuleStats::default(),
            faults: FaultWindow::new(
                self.options.quarantine_faults,
                self.options.quarantine_calls,
            ),
        }
    }

    /// Lets a quarantined rule be called again, with a clean fault window; its next call
    /// starts from a fresh instance if the last one was dropped. `None` if no rule has that
    /// id; otherwise whether it was quarantined.
    pub fn enable_rule(&mut self, id: &str) -> Option<bool> {
        let rule = self.rules.iter_mut().find(|r| r.instance.info().id == id)?;
        let was = rule.stats.quarantined;
        rule.stats.quarantined = false;
        rule.faults.clear();
        if was {
            tracing::info!(rule = %id, "quarantined rule re-enabled");
        }
        Some(was)
    }

    /// Events accepted but not yet evaluated: in the reorder buffer or in a partial batch.
    pub fn pending(&self) -> usize {
        self.buffer.len() + self.ready.len()
    }

    pub fn stats(&self) -> EngineStats {
        self.stats
    }

    /// Each rule's info and counters, in the order added.
    pub fn rule_stats(&self) -> impl Iterator<Item = (&RuleInfo, &RuleStats)> {
        self.rules.iter().map(|r| (r.instance.info(), &r.stats))
    }

    /// The running rule instances, in the order added.
    pub fn instances(&self) -> impl Iterator<Item = &RuleInstance> {
        self.rules.iter().map(|r| &r.instance)
    }

    /// Accepts one event, assigning its sequence number, which it returns. Batches that
    /// fill up are evaluated now and their findings handed to `sink`.
    pub fn push(&mut self, mut event: Event, sink: &mut FindingSink<'_>) -> u64 {
        let seq = self.next_seq;
        self.next_seq += 1;
        event.seq = seq;
        self.stats.events_in += 1;
        self.newest = self.newest.max(event.time);
        if self.watermark.is_some_and(|w| event.time < w) {
            // Older than what already left the buffer: evaluated with the next batch.
            self.stats.late_events += 1;
            self.make_ready(event, sink);
        } else {
            self.buffer.push(Reverse(Pending(event)));
        }
        self.release(false, sink);
        seq
    }

    /// Queues a released event, dispatching first if it would overfill the batch.
    fn make_ready(&mut self, event: Event, sink: &mut FindingSink<'_>) {
        let bytes = event.text_bytes();
        if !self.ready.is_empty() && self.ready_bytes + bytes > self.options.max_batch_bytes {
            self.dispatch(sink);
        }
        self.ready_bytes += bytes;
        self.ready.push(event);
        if self.ready.len() >= self.options.batch_size {
            self.dispatch(sink);
        }
    }

    /// Evaluates everything still buffered and ticks every rule at the final watermark.
    pub fn flush(&mut self, sink: &mut FindingSink<'_>) {
        self.release(true, sink);
        if !self.ready.is_empty() {
            self.dispatch(sink);
        }
        if let Some(w) = self.watermark
            && self.last_tick != Some(w)
        {
            self.tick(w, sink);
        }
    }

    fn release(&mut self, all: bool, sink: &mut FindingSink<'_>) {
        let horizon = self.newest.saturating_sub(self.options.lateness_ms);
        while let Some(Reverse(Pending(top))) = self.buffer.peek() {
            if !(all || top.time <= horizon || self.buffer.len() > self.options.max_buffered) {
                break;
            }
            let Some(Reverse(Pending(event))) = self.buffer.pop() else {
                break;
            };
            self.watermark = Some(self.watermark.map_or(event.time, |w| w.max(event.time)));
            self.make_ready(event, sink);
        }
    }

    /// Sends the ready events to every rule subscribed to any of their classes.
    fn dispatch(&mut self, sink: &mut FindingSink<'_>) {
        let mut events = std::mem::take(&mut self.ready);
        self.ready_bytes = 0;
        // Released events are in order; a late one is put in its place within the batch.
        if events
            .windows(2)
            .any(|w| (w[0].time, w[0].seq) > (w[1].time, w[1].seq))
        {
            events.sort_by_key(|e| (e.time, e.seq));
        }
        self.stats.batches += 1;
        let batch_mask = events.iter().fold(0u16, |m, e| m | e.class.bit());
        let now = events.iter().map(|e| e.time).max().unwrap_or(i64::MIN);
        let mut built: Vec<u16> = Vec::new();
        let mut matched = Matched::new(&events);
        for rule in &mut self.rules {
            let key = rule.mask & batch_mask;
            if key == 0 {
                continue;
            }
            if rule.stats.quarantined {
                rule.stats.skipped_events +=
                    events.iter().filter(|e| e.class.bit() & key != 0).count() as u64;
                continue;
            }
            let index = match self.builders.iter().position(|(m, _)| *m == key) {
                Some(i) => i,
                None => {
                    self.builders.push((key, BatchBuilder::default()));
                    self.builders.len() - 1
                }
            };
            let builder = &mut self.builders[index].1;
            if !built.contains(&key) {
                builder.clear();
                for event in events.iter().filter(|e| e.class.bit() & key != 0) {
                    builder.push(event);
                }
                built.push(key);
            }
            rule.stats.events_in += builder.len() as u64;
            let started = Instant::now();
            let outcome = rule.instance.on_events(builder, now);
            rule.stats.record_call(started.elapsed());
            handle(rule, outcome, &mut matched, sink);
        }
        // keep the allocation of the batch for the next one
        self.ready = events;
        self.ready.clear();
        if let Some(w) = self.watermark
            && self
                .last_tick
                .is_none_or(|t| w.saturating_sub(t) >= self.options.tick_interval_ms)
        {
            self.tick(w, sink);
        }
    }

    fn tick(&mut self, watermark: i64, sink: &mut FindingSink<'_>) {
        self.last_tick = Some(watermark);
        self.stats.ticks += 1;
        for rule in &mut self.rules {
            if rule.stats.quarantined {
                continue;
            }
            let started = Instant::now();
            let outcome = rule.instance.on_tick(watermark);
            rule.stats.record_call(started.elapsed());
            handle(rule, outcome, &mut Matched::new(&[]), sink);
        }
    }
}

/// Finds the event of a batch a finding matched: the newest the finding names as evidence.
struct Matched<'a> {
    events: &'a [Event],
    /// seq → index in `events`, built at the first finding of the batch
    by_seq: Option<HashMap<u64, usize>>,
}

impl<'a> Matched<'a> {
    fn new(events: &'a [Event]) -> Matched<'a> {
        Matched {
            events,
            by_seq: None,
        }
    }

    fn of(&mut self, evidence: &[u64]) -> Option<Box<Event>> {
        if self.events.is_empty() || evidence.is_empty() {
            return None;
        }
        let events = self.events;
        let by_seq = self
            .by_seq
            .get_or_insert_with(|| events.iter().enumerate().map(|(i, e)| (e.seq, i)).collect());
        let newest = evidence.iter().filter_map(|seq| by_seq.get(seq)).max()?;
        Some(Box::new(events[*newest].clone()))
    }
}

fn handle(
    rule: &mut ActiveRule,
    outcome: CallOutcome,
    matched: &mut Matched<'_>,
    sink: &mut FindingSink<'_>,
) {
    rule.stats.calls += 1;
    let info = rule.instance.info();
    if let Some(fault) = &outcome.fault {
        tracing::warn!(rule = %info.id, kind = fault.kind.as_str(), reason = %fault.reason, "rule call failed; its findings are dropped");
        rule.stats.record_fault(fault);
    }
    if outcome.dropped > 0 {
        tracing::warn!(rule = %info.id, dropped = outcome.dropped, "rule returned more findings than the per-call cap");
        rule.stats.findings_dropped += outcome.dropped as u64;
    }
    if outcome.log_lines_dropped > 0 {
        tracing::debug!(rule = %info.id, dropped = outcome.log_lines_dropped, "rule log lines over the per-call allowance");
    }
    rule.stats.findings += outcome.findings.len() as u64;
    if rule.faults.record(outcome.fault.is_some()) {
        rule.stats.quarantined = true;
        rule.stats.quarantines += 1;
        tracing::warn!(rule = %info.id, faults = rule.faults.faults(), calls = rule.faults.calls(), "rule quarantined: it is no longer called until re-enabled");
    }
    for mut finding in outcome.findings {
        finding.matched = matched.of(&finding.evidence);
        sink(info, finding);
    }
}
