//! The generated WIT bindings, the host side of the rule's imports, and conversions between
//! our types and the WIT ones.

use std::net::IpAddr;
use std::sync::Arc;

use crate::event::{self, Event, EventClass};
use crate::finding::{Entity, EntityKind, Finding, Severity};
use crate::rule::{Param, RuleInfo, Value};
use crate::state::{RuleState, StateError};

wasmtime::component::bindgen!({
    path: "../wit",
    world: "detection-rule",
});

use exports::yagura::detection::rule as wit_rule;
use yagura::detection::{log as wit_log, state as wit_state, types as wit};

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

/// Events lowered into the WIT batch form: one string blob, events with spans into it.
/// Reuse one across batches so that its buffers are allocated once.
#[derive(Default)]
pub struct BatchBuilder {
    batch: wit::Batch,
}

// The generated type derives no Default; a derive cannot be added from here.
#[allow(clippy::derivable_impls)]
impl Default for wit::Batch {
    fn default() -> Self {
        wit::Batch {
            strings: Vec::new(),
            events: Vec::new(),
        }
    }
}

impl BatchBuilder {
    /// Empties the batch, keeping its buffers.
    pub fn clear(&mut self) {
        self.batch.strings.clear();
        self.batch.events.clear();
    }

    /// Events in the batch.
    pub fn len(&self) -> usize {
        self.batch.events.len()
    }

    pub fn is_empty(&self) -> bool {
        self.batch.events.is_empty()
    }

    pub(crate) fn batch(&self) -> &wit::Batch {
        &self.batch
    }

    /// Lowers one event and appends it.
    pub fn push(&mut self, ev: &Event) {
        let strings = &mut self.batch.strings;
        let lowered = wit::Event {
            seq: ev.seq,
            time: ev.time,
            class: class(ev.class),
            activity: activity(ev.activity),
            outcome: match ev.outcome {
                event::Outcome::Unknown => wit::Outcome::Unknown,
                event::Outcome::Success => wit::Outcome::Success,
                event::Outcome::Failure => wit::Outcome::Failure,
            },
            source: wit::Source {
                format: text(strings, &ev.source.format),
                code: ev.source.code,
                channel: opt_text(strings, &ev.source.channel),
                provider: opt_text(strings, &ev.source.provider),
                record_id: ev.source.record_id,
            },
            device: wit::Device {
                hostname: opt_text(strings, &ev.device.hostname),
                domain: opt_text(strings, &ev.device.domain),
                ip: ev.device.ip.map(ip),
            },
            actor: wit::Actor {
                user: ev.actor.user.as_ref().map(|u| user(strings, u)),
                process: ev.actor.process.as_ref().map(|p| process(strings, p)),
            },
            user: ev.user.as_ref().map(|u| user(strings, u)),
            process: ev.process.as_ref().map(|p| process(strings, p)),
            src: ev.src.as_ref().map(|e| endpoint(strings, e)),
            dst: ev.dst.as_ref().map(|e| endpoint(strings, e)),
            auth: ev.auth.as_ref().map(|a| wit::Auth {
                logon_type: a.logon_type,
                protocol: match a.protocol {
                    event::AuthProtocol::Unknown => wit::AuthProtocol::Unknown,
                    event::AuthProtocol::Ntlm => wit::AuthProtocol::Ntlm,
                    event::AuthProtocol::Kerberos => wit::AuthProtocol::Kerberos,
                    event::AuthProtocol::Negotiate => wit::AuthProtocol::Negotiate,
                    event::AuthProtocol::Other => wit::AuthProtocol::Other,
                },
                key_length: a.key_length,
                logon_process: opt_text(strings, &a.logon_process),
                status_code: a.status_code,
                elevated: a.elevated,
                service: opt_text(strings, &a.service),
                ticket_options: a.ticket_options,
                ticket_encryption: a.ticket_encryption,
            }),
            network: ev.network.as_ref().map(|n| wit::Network {
                transport: match n.transport {
                    event::Transport::Unknown => wit::Transport::Unknown,
                    event::Transport::Tcp => wit::Transport::Tcp,
                    event::Transport::Udp => wit::Transport::Udp,
                    event::Transport::Icmp => wit::Transport::Icmp,
                    event::Transport::Other => wit::Transport::Other,
                },
                protocol_num: n.protocol_num,
                direction: match n.direction {
                    event::Direction::Unknown => wit::Direction::Unknown,
                    event::Direction::Inbound => wit::Direction::Inbound,
                    event::Direction::Outbound => wit::Direction::Outbound,
                    event::Direction::Lateral => wit::Direction::Lateral,
                    event::Direction::Local => wit::Direction::Local,
                },
                disposition: match n.disposition {
                    event::Disposition::Unknown => wit::Disposition::Unknown,
                    event::Disposition::Allowed => wit::Disposition::Allowed,
                    event::Disposition::Blocked => wit::Disposition::Blocked,
                    event::Disposition::Rejected => wit::Disposition::Rejected,
                    event::Disposition::NoAnswer => wit::Disposition::NoAnswer,
                    event::Disposition::Established => wit::Disposition::Established,
                },
                bytes_out: n.bytes_out,
                bytes_in: n.bytes_in,
                packets_out: n.packets_out,
                packets_in: n.packets_in,
                duration_ms: n.duration_ms,
                state: opt_text(strings, &n.state),
            }),
            file: ev.file.as_ref().map(|f| wit::File {
                path: opt_text(strings, &f.path),
                hashes: opt_text(strings, &f.hashes),
                share_name: opt_text(strings, &f.share_name),
                relative_target: opt_text(strings, &f.relative_target),
                access_mask: f.access_mask,
            }),
            registry: ev.registry.as_ref().map(|r| wit::Registry {
                key: opt_text(strings, &r.key),
                value_name: opt_text(strings, &r.value_name),
                value_data: opt_text(strings, &r.value_data),
            }),
            job: ev.job.as_ref().map(|j| wit::Job {
                kind: match j.kind {
                    event::JobKind::Service => wit::JobKind::Service,
                    event::JobKind::ScheduledTask => wit::JobKind::ScheduledTask,
                },
                name: opt_text(strings, &j.name),
                command: opt_text(strings, &j.command),
                start_type: opt_text(strings, &j.start_type),
                account: opt_text(strings, &j.account),
            }),
            script: ev.script.as_ref().map(|s| wit::Script {
                text: opt_text(strings, &s.text),
                block_id: opt_text(strings, &s.block_id),
                part: s.part,
                parts: s.parts,
                host_application: opt_text(strings, &s.host_application),
            }),
            query: ev.query.as_ref().map(|q| wit::Query {
                name: opt_text(strings, &q.name),
                code: q.code,
                detail: opt_text(strings, &q.detail),
                user_agent: opt_text(strings, &q.user_agent),
            }),
            attributes: ev
                .attributes
                .iter()
                .map(|(k, v)| wit::Attribute {
                    key: text(strings, k),
                    value: text(strings, v),
                })
                .collect(),
        };
        self.batch.events.push(lowered);
    }
}

/// Appends `s` to the blob and returns its span. A blob past 4 GiB cannot be addressed by a
/// span; such text is sent empty (a batch never comes near it: events are bounded in size).
fn text(strings: &mut Vec<u8>, s: &str) -> wit::Text {
    let start = strings.len();
    match (u32::try_from(start), u32::try_from(start + s.len())) {
        (Ok(start), Ok(_)) => {
            strings.extend_from_slice(s.as_bytes());
            wit::Text {
                start,
                len: s.len() as u32,
            }
        }
        _ => wit::Text { start: 0, len: 0 },
    }
}

fn opt_text(strings: &mut Vec<u8>, s: &Option<String>) -> Option<wit::Text> {
    s.as_deref().map(|s| text(strings, s))
}

fn ip(addr: IpAddr) -> wit::IpAddress {
    match addr {
        IpAddr::V4(v4) => wit::IpAddress::V4(u32::from(v4)),
        IpAddr::V6(v6) => {
            let bits = u128::from(v6);
            wit::IpAddress::V6(((bits >> 64) as u64, bits as u64))
        }
    }
}

fn guid(g: u128) -> wit::Guid {
    wit::Guid {
        hi: (g >> 64) as u64,
        lo: g as u64,
    }
}

fn user(strings: &mut Vec<u8>, u: &event::User) -> wit::User {
    wit::User {
        name: opt_text(strings, &u.name),
        domain: opt_text(strings, &u.domain),
        uid: opt_text(strings, &u.uid),
        logon_id: u.logon_id,
    }
}

fn endpoint(strings: &mut Vec<u8>, e: &event::Endpoint) -> wit::Endpoint {
    wit::Endpoint {
        ip: e.ip.map(ip),
        port: e.port,
        hostname: opt_text(strings, &e.hostname),
    }
}

fn process(strings: &mut Vec<u8>, p: &event::Process) -> wit::Process {
    wit::Process {
        pid: p.pid,
        guid: p.guid.map(guid),
        image: opt_text(strings, &p.image),
        cmd_line: opt_text(strings, &p.cmd_line),
        cwd: opt_text(strings, &p.cwd),
        integrity: match p.integrity {
            event::Integrity::Unknown => wit::Integrity::Unknown,
            event::Integrity::Untrusted => wit::Integrity::Untrusted,
            event::Integrity::Low => wit::Integrity::Low,
            event::Integrity::Medium => wit::Integrity::Medium,
            event::Integrity::High => wit::Integrity::High,
            event::Integrity::System => wit::Integrity::System,
        },
        hashes: opt_text(strings, &p.hashes),
        start_time: p.start_time,
        parent_pid: p.parent_pid,
        parent_guid: p.parent_guid.map(guid),
        parent_image: opt_text(strings, &p.parent_image),
        parent_cmd_line: opt_text(strings, &p.parent_cmd_line),
    }
}

fn class(c: EventClass) -> wit::EventClass {
    match c {
        EventClass::Authentication => wit::EventClass::Authentication,
        EventClass::Process => wit::EventClass::Process,
        EventClass::Network => wit::EventClass::Network,
        EventClass::File => wit::EventClass::File,
        EventClass::Registry => wit::EventClass::Registry,
        EventClass::Dns => wit::EventClass::Dns,
        EventClass::Http => wit::EventClass::Http,
        EventClass::Job => wit::EventClass::Job,
        EventClass::Script => wit::EventClass::Script,
        EventClass::Other => wit::EventClass::Other,
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

fn activity(a: event::Activity) -> wit::Activity {
    use event::Activity as A;
    match a {
        A::Unknown => wit::Activity::Unknown,
        A::Create => wit::Activity::Create,
        A::Delete => wit::Activity::Delete,
        A::Modify => wit::Activity::Modify,
        A::Rename => wit::Activity::Rename,
        A::Open => wit::Activity::Open,
        A::Logon => wit::Activity::Logon,
        A::Logoff => wit::Activity::Logoff,
        A::TicketRequest => wit::Activity::TicketRequest,
        A::ServiceTicket => wit::Activity::ServiceTicket,
        A::CredentialValidation => wit::Activity::CredentialValidation,
        A::Traffic => wit::Activity::Traffic,
        A::Refuse => wit::Activity::Refuse,
        A::Query => wit::Activity::Query,
        A::Execute => wit::Activity::Execute,
        A::Other => wit::Activity::Other,
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
    }
}

/// Converts a rule's findings, stamping the rule's id and version.
pub(crate) fn finding_from_wit(f: wit::Finding, info: &RuleInfo) -> Finding {
    Finding {
        rule_id: info.id.clone(),
        rule_version: info.version.clone(),
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

impl std::fmt::Debug for BatchBuilder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BatchBuilder")
            .field("events", &self.batch.events.len())
            .field("string_bytes", &self.batch.strings.len())
            .finish()
    }
}
