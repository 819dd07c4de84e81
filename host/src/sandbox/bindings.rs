//! The generated WIT bindings, the host side of the rule's imports, and conversions between
//! our types and the WIT ones.

use std::sync::Arc;

use crate::event::EventClass;
use crate::finding::{Entity, EntityKind, Finding, Severity};
use crate::rule::{Param, RuleInfo, Value};
use crate::state::{RuleState, StateError};

wasmtime::component::bindgen!({
    path: "../wit",
    world: "detection-rule",
});

use self::yagura::detection::{log as wit_log, state as wit_state, types as wit};
use exports::yagura::detection::rule as wit_rule;

pub(crate) use self::yagura::detection::types as wit_types;
pub(crate) use wit_rule::Guest as RuleExports;

/// The data of one rule instance's store: what the imports act on.
pub(crate) struct RuleCtx {
    pub rule_id: Arc<str>,
    pub state: RuleState,
    /// limit on the sum of the instance's linear memories
    pub memory_limit: usize,
    /// the sum of the instance's linear memories now (reset for each new store)
    pub memory_used: usize,
    /// set when the rule asked for more memory than `memory_limit`
    pub memory_limit_hit: bool,
    pub log_lines_left: u32,
    pub log_lines_dropped: u32,
    /// the last error-level log line of the current call: a Rust guest's panic message
    /// arrives here just before its trap, and the fault report quotes it
    pub last_error: Option<String>,
    /// the CPU-time budget of the current call (deadline.rs)
    pub clock: super::deadline::CallClock,
}

impl wasmtime::ResourceLimiter for RuleCtx {
    /// Called for every memory's creation (from 0) and growth, so the sum covers them all.
    fn memory_growing(
        &mut self,
        current: usize,
        desired: usize,
        _maximum: Option<usize>,
    ) -> wasmtime::Result<bool> {
        let total = self
            .memory_used
            .saturating_sub(current)
            .saturating_add(desired);
        if total > self.memory_limit {
            self.memory_limit_hit = true;
            return Ok(false);
        }
        self.memory_used = total;
        Ok(true)
    }

    fn table_growing(
        &mut self,
        _current: usize,
        desired: usize,
        _maximum: Option<usize>,
    ) -> wasmtime::Result<bool> {
        Ok(desired <= 1 << 16)
    }
}

impl wit::Host for RuleCtx {}

impl wit_log::Host for RuleCtx {
    fn log(&mut self, level: wit_log::Level, message: String) {
        if matches!(level, wit_log::Level::Error) {
            self.last_error = Some(message.chars().take(512).collect());
        }
        if self.log_lines_left == 0 {
            self.log_lines_dropped += 1;
            return;
        }
        self.log_lines_left -= 1;
        let message: String = message.chars().take(2048).collect();
        let rule = &*self.rule_id;
        match level {
            wit_log::Level::Trace => tracing::trace!(rule, "{message}"),
            wit_log::Level::Debug => tracing::debug!(rule, "{message}"),
            wit_log::Level::Info => tracing::info!(rule, "{message}"),
            wit_log::Level::Warn => tracing::warn!(rule, "{message}"),
            wit_log::Level::Error => tracing::error!(rule, "{message}"),
        }
    }
}

fn state_error(e: StateError) -> wit_state::StateError {
    match e {
        StateError::QuotaExceeded => wit_state::StateError::QuotaExceeded,
        StateError::TooLarge => wit_state::StateError::TooLarge,
        StateError::Invalid => wit_state::StateError::Invalid,
    }
}

impl wit_state::Host for RuleCtx {
    fn counter_add(
        &mut self,
        key: String,
        at: i64,
        window_ms: u64,
        delta: i64,
    ) -> Result<i64, wit_state::StateError> {
        self.state
            .counter_add(&key, at, window_ms, delta)
            .map_err(state_error)
    }

    fn counter_sum(&mut self, key: String, at: i64, window_ms: u64) -> i64 {
        self.state.counter_sum(&key, at, window_ms)
    }

    fn distinct_add(
        &mut self,
        key: String,
        item: String,
        at: i64,
        window_ms: u64,
    ) -> Result<u32, wit_state::StateError> {
        self.state
            .distinct_add(&key, &item, at, window_ms)
            .map_err(state_error)
    }

    fn distinct_items(
        &mut self,
        key: String,
        at: i64,
        window_ms: u64,
        limit: u32,
    ) -> (u32, Vec<String>) {
        self.state
            .distinct_items(&key, at, window_ms, limit.min(1_000))
    }

    fn get(&mut self, key: String, at: i64) -> Option<Vec<u8>> {
        self.state.get(&key, at)
    }

    fn set(
        &mut self,
        key: String,
        value: Vec<u8>,
        expires_at: i64,
    ) -> Result<(), wit_state::StateError> {
        self.state
            .set(&key, &value, expires_at)
            .map_err(state_error)
    }

    fn remove(&mut self, key: String) {
        self.state.remove(&key)
    }
}

fn class_from_wit(c: wit::EventClass) -> EventClass {
    match c {
        wit::EventClass::Authentication => EventClass::Authentication,
        wit::EventClass::Process => EventClass::Process,
        wit::EventClass::Network => EventClass::Network,
        wit::EventClass::File => EventClass::File,
        wit::EventClass::Registry => EventClass::Registry,
        wit::EventClass::Dns => EventClass::Dns,
        wit::EventClass::Http => EventClass::Http,
        wit::EventClass::Job => EventClass::Job,
        wit::EventClass::Script => EventClass::Script,
        wit::EventClass::Other => EventClass::Other,
    }
}

fn severity_from_wit(s: wit::Severity) -> Severity {
    match s {
        wit::Severity::Informational => Severity::Informational,
        wit::Severity::Low => Severity::Low,
        wit::Severity::Medium => Severity::Medium,
        wit::Severity::High => Severity::High,
        wit::Severity::Critical => Severity::Critical,
    }
}

pub(crate) fn value_to_wit(v: &Value) -> wit::Value {
    match v {
        Value::Boolean(b) => wit::Value::Boolean(*b),
        Value::Integer(i) => wit::Value::Integer(*i),
        Value::Float(f) => wit::Value::Float(*f),
        Value::Text(s) => wit::Value::Text(s.clone()),
        Value::TextList(l) => wit::Value::TextList(l.clone()),
    }
}

fn value_from_wit(v: wit::Value) -> Value {
    match v {
        wit::Value::Boolean(b) => Value::Boolean(b),
        wit::Value::Integer(i) => Value::Integer(i),
        wit::Value::Float(f) => Value::Float(f),
        wit::Value::Text(s) => Value::Text(s),
        wit::Value::TextList(l) => Value::TextList(l),
    }
}

pub(crate) fn info_from_wit(info: wit::RuleInfo) -> RuleInfo {
    RuleInfo {
        id: info.id,
        name: info.name,
        description: info.description,
        version: info.version,
        severity: severity_from_wit(info.severity),
        techniques: info.techniques,
        subscriptions: info.subscriptions.into_iter().map(class_from_wit).collect(),
        params: info
            .params
            .into_iter()
            .map(|p| Param {
                name: p.name,
                description: p.description,
                default: value_from_wit(p.default),
            })
            .collect(),
        author: None,
    }
}

/// Converts a rule's findings, stamping the rule's id, version and author.
pub(crate) fn finding_from_wit(f: wit::Finding, info: &RuleInfo) -> Finding {
    Finding {
        rule_id: info.id.clone(),
        rule_version: info.version.clone(),
        rule_author: info.author.clone(),
        matched: None,
        title: f.title,
        description: f.description,
        severity: severity_from_wit(f.severity),
        confidence: f.confidence.min(100),
        techniques: f.techniques,
        entities: f
            .entities
            .into_iter()
            .map(|e| Entity {
                kind: match e.kind {
                    wit::EntityKind::Host => EntityKind::Host,
                    wit::EntityKind::User => EntityKind::User,
                    wit::EntityKind::Ip => EntityKind::Ip,
                    wit::EntityKind::Process => EntityKind::Process,
                    wit::EntityKind::File => EntityKind::File,
                    wit::EntityKind::Other => EntityKind::Other,
                },
                value: e.value,
                role: e.role,
            })
            .collect(),
        evidence: f.evidence,
        dedup_key: f.dedup_key,
        time: f.time,
        context: f.context,
    }
}

/// Text bytes a finding carries, for the per-call output cap.
pub(crate) fn finding_size(f: &wit::Finding) -> usize {
    f.title.len()
        + f.description.len()
        + f.dedup_key.len()
        + f.techniques.iter().map(String::len).sum::<usize>()
        + f.entities
            .iter()
            .map(|e| e.value.len() + e.role.as_ref().map_or(0, String::len))
            .sum::<usize>()
        + f.context
            .iter()
            .map(|(k, v)| k.len() + v.len())
            .sum::<usize>()
        + f.evidence.len() * 8
        + 64
}

pub(crate) type WitFinding = wit::Finding;
pub(crate) type WitValue = wit::Value;
