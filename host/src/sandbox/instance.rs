//! One rule instance: a wasmtime store, the instantiated component, its config and state.
//!
//! The instance is long-lived and reused across batches. A call that traps, runs past its
//! deadline or hits the memory limit loses its findings, is reported as a [`Fault`], and
//! poisons the instance: the next call instantiates afresh and re-runs `init` with the same
//! config. The rule's host-kept state moves to the new store untouched.

use std::sync::Arc;
use std::time::Duration;

use wasmtime::Store;

use super::bindings::{
    self, DetectionRule, DetectionRulePre, RuleCtx, RuleExports, WitFinding, WitValue,
};
use super::deadline::{self, CallClock};
use super::lower::BatchBuilder;
use super::{Limits, RuleComponent, Sandbox, SandboxError};
use crate::finding::Finding;
use crate::rule::{RuleInfo, Value};
use crate::state::{RuleState, StateUsage};

/// What kind of fault stopped a call.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum FaultKind {
    /// the guest trapped (panic, unreachable, out-of-bounds…)
    Trap,
    /// the call ran past its deadline
    Timeout,
    /// the guest asked for more memory than its limit
    MemoryLimit,
    /// the rule returned an error
    RuleError,
    /// a fresh instance could not be created or re-initialised
    Restart,
}

impl FaultKind {
    pub fn as_str(self) -> &'static str {
        match self {
            FaultKind::Trap => "trap",
            FaultKind::Timeout => "timeout",
            FaultKind::MemoryLimit => "memory_limit",
            FaultKind::RuleError => "rule_error",
            FaultKind::Restart => "restart",
        }
    }
}

/// A failed call: what happened, in words an operator can act on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Fault {
    pub kind: FaultKind,
    pub reason: String,
}

impl std::fmt::Display for Fault {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}", self.kind.as_str(), self.reason)
    }
}

/// The result of one call into a rule.
#[derive(Debug, Default)]
pub struct CallOutcome {
    /// findings kept (at most the per-call cap)
    pub findings: Vec<Finding>,
    /// findings dropped by the per-call caps
    pub dropped: usize,
    pub fault: Option<Fault>,
    /// log lines the rule wrote past its per-call allowance
    pub log_lines_dropped: u32,
}

struct Live {
    store: Store<RuleCtx>,
    bindings: DetectionRule,
}

/// A running rule. Not `Sync`: one call at a time.
pub struct RuleInstance {
    component: RuleComponent,
    limits: Limits,
    config: Vec<WitValuePair>,
    live: Option<Live>,
    /// the state, while no store holds it (between a fault and the next instance)
    parked: Option<RuleCtx>,
}

type WitValuePair = (String, WitValue);

impl std::fmt::Debug for RuleInstance {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RuleInstance")
            .field("rule", &self.component.info().id)
            .field("live", &self.live.is_some())
            .finish_non_exhaustive()
    }
}

fn new_ctx(rule_id: &str, limits: &Limits) -> RuleCtx {
    RuleCtx {
        rule_id: Arc::from(rule_id),
        state: RuleState::new(limits.state),
        memory_limit: limits.memory_bytes,
        memory_used: 0,
        memory_limit_hit: false,
        log_lines_left: limits.max_log_lines_per_call,
        log_lines_dropped: 0,
        last_error: None,
        clock: CallClock::default(),
    }
}

/// A store for a new instance: the instance's memories start from nothing, its log allowance
/// from full.
fn new_store(sandbox: &Sandbox, mut ctx: RuleCtx, limits: &Limits) -> Store<RuleCtx> {
    ctx.memory_used = 0;
    ctx.memory_limit_hit = false;
    ctx.log_lines_left = limits.max_log_lines_per_call;
    ctx.log_lines_dropped = 0;
    ctx.last_error = None;
    let mut store = Store::new(&sandbox.inner.engine, ctx);
    store.limiter(|ctx| ctx);
    deadline::install(&mut store);
    store
}

/// Starts the clock of a call (or of instantiation and `init`) on `store`.
fn arm(store: &mut Store<RuleCtx>, sandbox: &Sandbox, budget: Duration) {
    deadline::arm(store, budget, sandbox.inner.epoch_tick);
}

/// Instantiation and `init` run once per instance and may set up tables (a Python guest
/// imports its modules): they get ten call deadlines.
const START_DEADLINE_FACTOR: u32 = 10;

/// Instantiates once to read `info` (used by [`Sandbox::load`]).
pub(super) fn read_info(
    sandbox: &Sandbox,
    pre: &DetectionRulePre<RuleCtx>,
    origin: &str,
) -> Result<RuleInfo, SandboxError> {
    let limits = sandbox.limits();
    let mut store = new_store(sandbox, new_ctx(origin, &limits), &limits);
    arm(
        &mut store,
        sandbox,
        limits.call_deadline * START_DEADLINE_FACTOR,
    );
    let bindings = pre
        .instantiate(&mut store)
        .map_err(|e| SandboxError::Instantiate {
            origin: origin.to_owned(),
            reason: describe(&e, store.data()),
        })?;
    let info = bindings
        .yagura_detection_rule()
        .call_info(&mut store)
        .map_err(|e| SandboxError::Info {
            origin: origin.to_owned(),
            reason: describe(&e, store.data()),
        })?;
    let info = bindings::info_from_wit(info);
    info.validate().map_err(|reason| SandboxError::Info {
        origin: origin.to_owned(),
        reason,
    })?;
    Ok(info)
}

impl RuleComponent {
    /// Creates an instance with the given parameter overrides (checked against `info`, then
    /// passed to the rule's `init` together with the defaults of the rest), with the
    /// sandbox's default limits.
    pub fn instantiate(&self, overrides: &[(String, Value)]) -> Result<RuleInstance, SandboxError> {
        self.instantiate_with(overrides, self.sandbox.limits())
    }

    /// As [`RuleComponent::instantiate`], with limits of its own.
    pub fn instantiate_with(
        &self,
        overrides: &[(String, Value)],
        limits: Limits,
    ) -> Result<RuleInstance, SandboxError> {
        let info = self.info();
        let config = info
            .resolve_config(overrides)
            .map_err(|reason| SandboxError::Config {
                rule: info.id.clone(),
                reason,
            })?;
        let mut instance = RuleInstance {
            component: self.clone(),
            limits,
            config: config
                .iter()
                .map(|(k, v)| (k.clone(), bindings::value_to_wit(v)))
                .collect(),
            live: None,
            parked: Some(new_ctx(&info.id, &limits)),
        };
        instance.start()?;
        Ok(instance)
    }
}

impl RuleInstance {
    pub fn info(&self) -> &RuleInfo {
        self.component.info()
    }

    pub fn component(&self) -> &RuleComponent {
        &self.component
    }

    pub fn limits(&self) -> &Limits {
        &self.limits
    }

    pub fn state_usage(&self) -> StateUsage {
        self.ctx().map(|c| c.state.usage()).unwrap_or_default()
    }

    /// True when `other` runs the same component with the same config and limits: a swap
    /// keeps such a rule's running instance (another rule of the set changed).
    pub(crate) fn same_as(&self, other: &RuleInstance) -> bool {
        self.component.digest == other.component.digest
            && self.limits == other.limits
            && self.config.len() == other.config.len()
            && self
                .config
                .iter()
                .zip(&other.config)
                .all(|((a, x), (b, y))| a == b && wit_value_eq(x, y))
    }

    /// The host-kept state, to save it (checkpoints); `None` before the first instance.
    pub fn state(&self) -> Option<&RuleState> {
        self.ctx().map(|c| &c.state)
    }

    /// Takes the host-kept state out (this instance is left with an empty one), to hand it
    /// to the next version of the rule.
    pub(crate) fn take_state(&mut self) -> RuleState {
        let limits = self.limits.state;
        match self.ctx_mut() {
            Some(ctx) => std::mem::replace(&mut ctx.state, RuleState::new(limits)),
            None => RuleState::new(limits),
        }
    }

    /// Replaces the host-kept state with `state` (a previous version's), under this
    /// instance's state limits. Whatever `init` wrote into the fresh state is dropped.
    pub(crate) fn put_state(&mut self, mut state: RuleState) {
        state.set_limits(self.limits.state);
        if let Some(ctx) = self.ctx_mut() {
            ctx.state = state;
        } else {
            let mut ctx = new_ctx(&self.component.info().id, &self.limits);
            ctx.state = state;
            self.parked = Some(ctx);
        }
    }

    fn ctx_mut(&mut self) -> Option<&mut RuleCtx> {
        match &mut self.live {
            Some(live) => Some(live.store.data_mut()),
            None => self.parked.as_mut(),
        }
    }

    fn ctx(&self) -> Option<&RuleCtx> {
        match &self.live {
            Some(live) => Some(live.store.data()),
            None => self.parked.as_ref(),
        }
    }

    /// Instantiates and runs `init`, moving the parked state into the new store.
    fn start(&mut self) -> Result<(), SandboxError> {
        let sandbox = &self.component.sandbox;
        let rule = self.component.info().id.clone();
        let ctx = self
            .parked
            .take()
            .unwrap_or_else(|| new_ctx(&rule, &self.limits));
        let mut store = new_store(sandbox, ctx, &self.limits);
        arm(
            &mut store,
            sandbox,
            self.limits.call_deadline * START_DEADLINE_FACTOR,
        );
        let bindings = match self.component.pre.instantiate(&mut store) {
            Ok(b) => b,
            Err(e) => {
                let reason = describe(&e, store.data());
                self.parked = Some(reset(store.into_data()));
                return Err(SandboxError::Instantiate {
                    origin: self.component.origin.clone(),
                    reason,
                });
            }
        };
        let result = bindings
            .yagura_detection_rule()
            .call_init(&mut store, &self.config);
        match result {
            Ok(Ok(())) => {
                self.live = Some(Live { store, bindings });
                Ok(())
            }
            Ok(Err(reason)) => {
                self.parked = Some(reset(store.into_data()));
                Err(SandboxError::Init { rule, reason })
            }
            Err(e) => {
                let reason = describe(&e, store.data());
                self.parked = Some(reset(store.into_data()));
                Err(SandboxError::InitFault { rule, reason })
            }
        }
    }

    /// Evaluates a batch that the caller built from events of the rule's classes; `now` is
    /// the batch's latest event time (state expiry follows it).
    pub fn on_events(&mut self, batch: &BatchBuilder, now: i64) -> CallOutcome {
        self.call(now, |exports, store| {
            exports.call_on_events(store, batch.batch())
        })
    }

    /// Tells the rule that event time reached `watermark`.
    /// Afterwards, state that expired by `watermark` is dropped.
    pub fn on_tick(&mut self, watermark: i64) -> CallOutcome {
        let outcome = self.call(watermark, |exports, store| {
            exports.call_on_tick(store, watermark)
        });
        match (&mut self.live, &mut self.parked) {
            (Some(live), _) => live.store.data_mut().state.purge(),
            (None, Some(ctx)) => ctx.state.purge(),
            (None, None) => {}
        }
        outcome
    }

    fn call(
        &mut self,
        now: i64,
        f: impl FnOnce(
            &RuleExports,
            &mut Store<RuleCtx>,
        ) -> wasmtime::Result<Result<Vec<WitFinding>, String>>,
    ) -> CallOutcome {
        if self.live.is_none()
            && let Err(e) = self.start()
        {
            return CallOutcome {
                fault: Some(Fault {
                    kind: FaultKind::Restart,
                    reason: e.to_string(),
                }),
                ..CallOutcome::default()
            };
        }
        let Some(live) = self.live.as_mut() else {
            unreachable!("start() succeeded, so an instance is live")
        };
        {
            let ctx = live.store.data_mut();
            ctx.state.advance(now);
            ctx.log_lines_left = self.limits.max_log_lines_per_call;
            ctx.log_lines_dropped = 0;
            ctx.memory_limit_hit = false;
            ctx.last_error = None;
        }
        arm(
            &mut live.store,
            &self.component.sandbox,
            self.limits.call_deadline,
        );
        let result = f(live.bindings.yagura_detection_rule(), &mut live.store);
        let log_lines_dropped = live.store.data().log_lines_dropped;
        match result {
            Ok(Ok(findings)) => {
                let (findings, dropped) = self.cap(findings);
                CallOutcome {
                    findings,
                    dropped,
                    fault: None,
                    log_lines_dropped,
                }
            }
            Ok(Err(reason)) => CallOutcome {
                fault: Some(Fault {
                    kind: FaultKind::RuleError,
                    reason: truncate(reason, 1024),
                }),
                log_lines_dropped,
                ..CallOutcome::default()
            },
            Err(e) => {
                let fault = classify(&e, live.store.data());
                // The instance may be in any state after a trap: drop it, keep the state.
                if let Some(live) = self.live.take() {
                    self.parked = Some(reset(live.store.into_data()));
                }
                CallOutcome {
                    fault: Some(fault),
                    log_lines_dropped,
                    ..CallOutcome::default()
                }
            }
        }
    }

    /// Keeps findings up to the per-call count and byte caps.
    fn cap(&self, findings: Vec<WitFinding>) -> (Vec<Finding>, usize) {
        let total = findings.len();
        let mut bytes = 0;
        let mut kept = Vec::with_capacity(total.min(self.limits.max_findings_per_call));
        for f in findings {
            bytes += bindings::finding_size(&f);
            if kept.len() >= self.limits.max_findings_per_call
                || bytes > self.limits.max_output_bytes_per_call
            {
                break;
            }
            kept.push(bindings::finding_from_wit(f, self.component.info()));
        }
        let dropped = total - kept.len();
        (kept, dropped)
    }
}

/// The generated WIT value type has no `PartialEq`.
fn wit_value_eq(a: &WitValue, b: &WitValue) -> bool {
    match (a, b) {
        (WitValue::Boolean(x), WitValue::Boolean(y)) => x == y,
        (WitValue::Integer(x), WitValue::Integer(y)) => x == y,
        (WitValue::Float(x), WitValue::Float(y)) => x.to_bits() == y.to_bits(),
        (WitValue::Text(x), WitValue::Text(y)) => x == y,
        (WitValue::TextList(x), WitValue::TextList(y)) => x == y,
        _ => false,
    }
}

fn reset(mut ctx: RuleCtx) -> RuleCtx {
    ctx.memory_limit_hit = false;
    ctx
}

fn classify(e: &wasmtime::Error, ctx: &RuleCtx) -> Fault {
    let reason = describe(e, ctx);
    let kind = if ctx.memory_limit_hit {
        FaultKind::MemoryLimit
    } else if matches!(
        e.downcast_ref::<wasmtime::Trap>(),
        Some(wasmtime::Trap::Interrupt)
    ) {
        FaultKind::Timeout
    } else {
        FaultKind::Trap
    };
    Fault { kind, reason }
}

/// One line describing a wasmtime error, with the limit it hit when we know it.
fn describe(e: &wasmtime::Error, ctx: &RuleCtx) -> String {
    let mut text = match e.downcast_ref::<wasmtime::Trap>() {
        Some(wasmtime::Trap::Interrupt) => format!(
            "ran past its call deadline ({} ms of CPU time)",
            ctx.clock.budget().as_millis()
        ),
        Some(trap) => format!("trapped: {trap}"),
        None => format!("{e:#}"),
    };
    if ctx.memory_limit_hit {
        text = format!(
            "exceeded its memory limit of {} MiB ({text})",
            ctx.memory_limit >> 20
        );
    }
    // keep the first line of the guest backtrace, if any: it names the function
    if let Some(bt) = e.downcast_ref::<wasmtime::WasmBacktrace>()
        && let Some(frame) = bt.frames().first()
        && let Some(name) = frame.func_name()
    {
        text = format!("{text} in {name}");
    }
    if let Some(last) = &ctx.last_error {
        text = format!("{text}; the rule's last error log: {last}");
    }
    truncate(text, 1024)
}

fn truncate(mut s: String, max: usize) -> String {
    if s.len() > max {
        let mut end = max;
        while !s.is_char_boundary(end) {
            end -= 1;
        }
        s.truncate(end);
        s.push('…');
    }
    s
}

/// Instances move between threads (the engine may run on a worker thread).
const _: fn() = || {
    fn is_send<T: Send>() {}
    is_send::<RuleInstance>();
};
