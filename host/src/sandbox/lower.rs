//! Lowering: our [`Event`] into the WIT batch form, reused from batch to batch.
//!
//! The WIT event is a small header and one body per class with only the facts rules read, as
//! numbers and enums where it can; text goes into one blob per batch and fields carry spans.
//! What has no place in a body (rarely read facts, the source's own unmapped fields) travels
//! as attributes, with the keys listed in [`PROMOTED`]. docs/wit.md has the whole mapping.

use std::net::IpAddr;

use super::bindings::wit_types as wit;
use crate::event::{self, Event, EventClass};

/// Facts moved from the typed event to attributes, in the order they are added.
pub(crate) const PROMOTED: [&str; 10] = [
    "source.format",
    "source.channel",
    "source.provider",
    "source.record_id",
    "device.domain",
    "device.ip",
    "process.cwd",
    "process.start_time",
    "actor.process.image",
    "file.hashes",
];

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
            attributes: Vec::new(),
        }
    }
}

impl std::fmt::Debug for BatchBuilder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BatchBuilder")
            .field("events", &self.batch.events.len())
            .field("string_bytes", &self.batch.strings.len())
            .finish()
    }
}

impl BatchBuilder {
    /// Empties the batch, keeping its buffers.
    pub fn clear(&mut self) {
        self.batch.strings.clear();
        self.batch.events.clear();
        self.batch.attributes.clear();
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
        let index = u32::try_from(self.batch.events.len()).unwrap_or(u32::MAX);
        let mut l = Lowerer {
            strings: &mut self.batch.strings,
        };
        let body = l.body(ev);
        l.attributes(ev, index, &mut self.batch.attributes);
        self.batch.events.push(wit::Event {
            seq: ev.seq,
            time: ev.time,
            activity: activity(ev.activity),
            outcome: match ev.outcome {
                event::Outcome::Unknown => wit::Outcome::Unknown,
                event::Outcome::Success => wit::Outcome::Success,
                event::Outcome::Failure => wit::Outcome::Failure,
            },
            code: ev.source.code.unwrap_or(0),
            hostname: l.opt(&ev.device.hostname),
            body,
        });
    }
}

/// Writes text into the batch's blob and builds the WIT records.
struct Lowerer<'a> {
    strings: &'a mut Vec<u8>,
}

impl Lowerer<'_> {
    /// Appends `s` to the blob and returns its span. The engine closes a batch at its byte
    /// budget (a few MiB), far below what a u32 span addresses; text past that would be empty.
    fn text(&mut self, s: &str) -> wit::Text {
        let start = self.strings.len();
        match (u32::try_from(start), u32::try_from(start + s.len())) {
            (Ok(start), Ok(_)) => {
                self.strings.extend_from_slice(s.as_bytes());
                wit::Text {
                    start,
                    len: s.len() as u32,
                }
            }
            _ => wit::Text { start: 0, len: 0 },
        }
    }

    fn opt(&mut self, s: &Option<String>) -> Option<wit::Text> {
        s.as_deref().map(|s| self.text(s))
    }

    fn user(&mut self, u: &event::User) -> wit::User {
        wit::User {
            name: self.opt(&u.name),
            domain: self.opt(&u.domain),
            sid: self.opt(&u.uid),
            logon_id: u.logon_id.unwrap_or(0),
        }
    }

    fn opt_user(&mut self, u: &Option<event::User>) -> Option<wit::User> {
        u.as_ref().map(|u| self.user(u))
    }

    fn endpoint(&mut self, e: &Option<event::Endpoint>) -> wit::Endpoint {
        match e {
            Some(e) => wit::Endpoint {
                ip: e.ip.map(ip),
                port: e.port.unwrap_or(0),
                hostname: self.opt(&e.hostname),
            },
            None => wit::Endpoint {
                ip: None,
                port: 0,
                hostname: None,
            },
        }
    }

    fn actor_process(&mut self, p: &Option<event::Process>) -> Option<wit::ActorProcess> {
        p.as_ref().map(|p| wit::ActorProcess {
            pid: p.pid.unwrap_or(0),
            guid: p.guid.map(guid),
            image: self.opt(&p.image),
        })
    }

    /// The launched (or target) process; its parent from its own parent fields, else from
    /// the acting process.
    fn process(&mut self, ev: &Event) -> wit::Process {
        let empty = event::Process::default();
        let p = ev.process.as_ref().unwrap_or(&empty);
        let parent = ev.actor.process.as_ref().unwrap_or(&empty);
        wit::Process {
            pid: p.pid.unwrap_or(0),
            guid: p.guid.map(guid),
            image: self.opt(&p.image),
            cmd_line: self.opt(&p.cmd_line),
            hashes: self.opt(&p.hashes),
            integrity: integrity(p.integrity),
            parent_pid: p.parent_pid.or(parent.pid).unwrap_or(0),
            parent_guid: p.parent_guid.or(parent.guid).map(guid),
            parent_image: self.opt(if p.parent_image.is_some() {
                &p.parent_image
            } else {
                &parent.image
            }),
            parent_cmd_line: self.opt(if p.parent_cmd_line.is_some() {
                &p.parent_cmd_line
            } else {
                &parent.cmd_line
            }),
        }
    }

    fn query(&mut self, ev: &Event) -> wit::QueryActivity {
        let empty = event::Query::default();
        let q = ev.query.as_ref().unwrap_or(&empty);
        wit::QueryActivity {
            name: self.opt(&q.name),
            code: q.code.unwrap_or(0),
            detail: self.opt(&q.detail),
            user_agent: self.opt(&q.user_agent),
            src: self.endpoint(&ev.src),
            dst: self.endpoint(&ev.dst),
            process: self.actor_process(&ev.actor.process),
            user: self.opt_user(&ev.actor.user),
        }
    }

    fn body(&mut self, ev: &Event) -> wit::Body {
        match ev.class {
            EventClass::Authentication => {
                let empty = event::Auth::default();
                let a = ev.auth.as_ref().unwrap_or(&empty);
                let user = match &ev.user {
                    Some(u) => self.user(u),
                    None => self.user(&event::User::default()),
                };
                wit::Body::Authentication(wit::Authentication {
                    user,
                    subject: self.opt_user(&ev.actor.user),
                    src: self.endpoint(&ev.src),
                    logon_type: a.logon_type.unwrap_or(0),
                    protocol: auth_protocol(a.protocol),
                    key_length: a.key_length,
                    logon_process: self.opt(&a.logon_process),
                    status_code: a.status_code.unwrap_or(0),
                    elevated: a.elevated,
                    service: self.opt(&a.service),
                    ticket_options: a.ticket_options.unwrap_or(0),
                    ticket_encryption: a.ticket_encryption.unwrap_or(0),
                })
            }
            EventClass::Process => {
                let process = self.process(ev);
                let user = if ev.user.is_some() {
                    &ev.user
                } else {
                    &ev.actor.user
                };
                wit::Body::Process(wit::ProcessActivity {
                    process,
                    user: self.opt_user(user),
                    // Sysmon 7 ImageLoaded, Sysmon 10 TargetImage: the event's `file.path`
                    target: ev
                        .file
                        .as_ref()
                        .and_then(|f| f.path.as_deref())
                        .map(|path| self.text(path)),
                })
            }
            EventClass::Network => {
                let empty = event::Network::default();
                let n = ev.network.as_ref().unwrap_or(&empty);
                wit::Body::Network(wit::NetworkActivity {
                    src: self.endpoint(&ev.src),
                    dst: self.endpoint(&ev.dst),
                    transport: transport(n.transport),
                    protocol_num: n.protocol_num.unwrap_or(0),
                    direction: direction(n.direction),
                    disposition: disposition(n.disposition),
                    bytes_out: n.bytes_out.unwrap_or(0),
                    bytes_in: n.bytes_in.unwrap_or(0),
                    packets_out: n.packets_out.unwrap_or(0),
                    packets_in: n.packets_in.unwrap_or(0),
                    duration_ms: n.duration_ms.unwrap_or(0),
                    state: self.opt(&n.state),
                    process: self.actor_process(&ev.actor.process),
                    user: self.opt_user(&ev.actor.user),
                })
            }
            EventClass::File => {
                let empty = event::File::default();
                let f = ev.file.as_ref().unwrap_or(&empty);
                let user = if ev.actor.user.is_some() {
                    &ev.actor.user
                } else {
                    &ev.user
                };
                wit::Body::File(wit::FileActivity {
                    path: self.opt(&f.path),
                    hashes: self.opt(&f.hashes),
                    share_name: self.opt(&f.share_name),
                    relative_target: self.opt(&f.relative_target),
                    access_mask: f.access_mask.unwrap_or(0),
                    user: self.opt_user(user),
                    src: self.endpoint(&ev.src),
                    process: self.actor_process(&ev.actor.process),
                })
            }
            EventClass::Registry => {
                let empty = event::Registry::default();
                let r = ev.registry.as_ref().unwrap_or(&empty);
                wit::Body::Registry(wit::RegistryActivity {
                    key: self.opt(&r.key),
                    value_name: self.opt(&r.value_name),
                    value_data: self.opt(&r.value_data),
                    process: self.actor_process(&ev.actor.process),
                    user: self.opt_user(&ev.actor.user),
                })
            }
            EventClass::Dns => wit::Body::Dns(self.query(ev)),
            EventClass::Http => wit::Body::Http(self.query(ev)),
            EventClass::Job => {
                let empty = event::Job::default();
                let j = ev.job.as_ref().unwrap_or(&empty);
                wit::Body::Job(wit::JobActivity {
                    kind: match j.kind {
                        event::JobKind::Service => wit::JobKind::Service,
                        event::JobKind::ScheduledTask => wit::JobKind::ScheduledTask,
                    },
                    name: self.opt(&j.name),
                    command: self.opt(&j.command),
                    start_type: self.opt(&j.start_type),
                    account: self.opt(&j.account),
                    user: self.opt_user(&ev.actor.user),
                })
            }
            EventClass::Script => {
                let empty = event::Script::default();
                let s = ev.script.as_ref().unwrap_or(&empty);
                wit::Body::Script(wit::ScriptActivity {
                    text: self.opt(&s.text),
                    block_id: self.opt(&s.block_id),
                    part: s.part.unwrap_or(0),
                    parts: s.parts.unwrap_or(0),
                    host_application: self.opt(&s.host_application),
                    user: self.opt_user(&ev.actor.user),
                    process: self.actor_process(&ev.actor.process),
                })
            }
            EventClass::Other => wit::Body::Other,
        }
    }

    /// Appends the event's promoted facts that are present, then the source's own attributes.
    fn attributes(&mut self, ev: &Event, index: u32, out: &mut Vec<wit::Attribute>) {
        let mut add = |l: &mut Self, key: &str, value: &str| {
            out.push(wit::Attribute {
                event: index,
                key: l.text(key),
                value: l.text(value),
            });
        };
        let mut number = itoa_buf();
        if !ev.source.format.is_empty() {
            add(self, PROMOTED[0], &ev.source.format);
        }
        if let Some(v) = &ev.source.channel {
            add(self, PROMOTED[1], v);
        }
        if let Some(v) = &ev.source.provider {
            add(self, PROMOTED[2], v);
        }
        if let Some(v) = ev.source.record_id {
            add(self, PROMOTED[3], number.format(v));
        }
        if let Some(v) = &ev.device.domain {
            add(self, PROMOTED[4], v);
        }
        if let Some(v) = ev.device.ip {
            add(self, PROMOTED[5], &v.to_string());
        }
        if let Some(p) = &ev.process {
            if let Some(v) = &p.cwd {
                add(self, PROMOTED[6], v);
            }
            if let Some(v) = p.start_time {
                add(self, PROMOTED[7], number.format(v));
            }
        }
        if ev.class == EventClass::Authentication
            && let Some(v) = ev.actor.process.as_ref().and_then(|p| p.image.as_ref())
        {
            add(self, PROMOTED[8], v);
        }
        // the loaded module's hashes (Sysmon 7): a process event's `target` has no hashes
        if ev.class == EventClass::Process
            && let Some(v) = ev.file.as_ref().and_then(|f| f.hashes.as_ref())
        {
            add(self, PROMOTED[9], v);
        }
        for (k, v) in &ev.attributes {
            add(self, k, v);
        }
    }
}

/// A small buffer to format integers without allocating.
fn itoa_buf() -> NumberText {
    NumberText([0; 24])
}

struct NumberText([u8; 24]);

impl NumberText {
    fn format(&mut self, v: impl std::fmt::Display) -> &str {
        use std::io::Write;
        let mut cursor = std::io::Cursor::new(&mut self.0[..]);
        let _ = write!(cursor, "{v}");
        let len = cursor.position() as usize;
        std::str::from_utf8(&self.0[..len]).unwrap_or("")
    }
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

fn integrity(i: event::Integrity) -> wit::Integrity {
    match i {
        event::Integrity::Unknown => wit::Integrity::Unknown,
        event::Integrity::Untrusted => wit::Integrity::Untrusted,
        event::Integrity::Low => wit::Integrity::Low,
        event::Integrity::Medium => wit::Integrity::Medium,
        event::Integrity::High => wit::Integrity::High,
        event::Integrity::System => wit::Integrity::System,
    }
}

fn auth_protocol(p: event::AuthProtocol) -> wit::AuthProtocol {
    match p {
        event::AuthProtocol::Unknown => wit::AuthProtocol::Unknown,
        event::AuthProtocol::Ntlm => wit::AuthProtocol::Ntlm,
        event::AuthProtocol::Kerberos => wit::AuthProtocol::Kerberos,
        event::AuthProtocol::Negotiate => wit::AuthProtocol::Negotiate,
        event::AuthProtocol::Other => wit::AuthProtocol::Other,
    }
}

fn transport(t: event::Transport) -> wit::Transport {
    match t {
        event::Transport::Unknown => wit::Transport::Unknown,
        event::Transport::Tcp => wit::Transport::Tcp,
        event::Transport::Udp => wit::Transport::Udp,
        event::Transport::Icmp => wit::Transport::Icmp,
        event::Transport::Other => wit::Transport::Other,
    }
}

fn direction(d: event::Direction) -> wit::Direction {
    match d {
        event::Direction::Unknown => wit::Direction::Unknown,
        event::Direction::Inbound => wit::Direction::Inbound,
        event::Direction::Outbound => wit::Direction::Outbound,
        event::Direction::Lateral => wit::Direction::Lateral,
        event::Direction::Local => wit::Direction::Local,
    }
}

fn disposition(d: event::Disposition) -> wit::Disposition {
    match d {
        event::Disposition::Unknown => wit::Disposition::Unknown,
        event::Disposition::Allowed => wit::Disposition::Allowed,
        event::Disposition::Blocked => wit::Disposition::Blocked,
        event::Disposition::Rejected => wit::Disposition::Rejected,
        event::Disposition::NoAnswer => wit::Disposition::NoAnswer,
        event::Disposition::Established => wit::Disposition::Established,
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::event::parse_event;

    fn lower(json: &str) -> (wit::Event, Vec<u8>, Vec<wit::Attribute>) {
        let mut b = BatchBuilder::default();
        b.push(&parse_event(json).expect("valid event"));
        let batch = b.batch();
        (
            batch.events[0],
            batch.strings.clone(),
            batch.attributes.clone(),
        )
    }

    fn text(strings: &[u8], t: Option<wit::Text>) -> Option<&str> {
        let t = t?;
        std::str::from_utf8(&strings[t.start as usize..(t.start + t.len) as usize]).ok()
    }

    #[test]
    fn a_launch_takes_its_parent_from_the_acting_process() {
        let (ev, s, attributes) = lower(
            r#"{"time":5,"class":"process","activity":"create","source":{"format":"evtx","code":1,
                "channel":"Sysmon"},"device":{"hostname":"WS1","domain":"CORP"},
                "actor":{"user":{"name":"bob","logon_id":"0x3e7"},"process":{"pid":7,"image":"C:\\w.exe"}},
                "process":{"pid":9,"image":"C:\\cmd.exe","cwd":"C:\\"}}"#,
        );
        assert_eq!((ev.time, ev.code), (5, 1));
        assert_eq!(text(&s, ev.hostname), Some("WS1"));
        let wit::Body::Process(p) = &ev.body else {
            panic!("a process body: {:?}", ev.body)
        };
        assert_eq!((p.process.pid, p.process.parent_pid), (9, 7));
        assert_eq!(text(&s, p.process.parent_image), Some(r"C:\w.exe"));
        let user = p.user.expect("the acting user");
        assert_eq!((text(&s, user.name), user.logon_id), (Some("bob"), 0x3e7));
        assert!(attributes.iter().all(|a| a.event == 0));
        let attrs: Vec<(&str, &str)> = attributes
            .iter()
            .filter_map(|a| Some((text(&s, Some(a.key))?, text(&s, Some(a.value))?)))
            .collect();
        assert_eq!(
            attrs,
            vec![
                ("source.format", "evtx"),
                ("source.channel", "Sysmon"),
                ("device.domain", "CORP"),
                ("process.cwd", r"C:\"),
            ]
        );
    }

    #[test]
    fn an_authentication_names_target_subject_and_source() {
        let (ev, s, attributes) = lower(
            r#"{"time":1,"class":"authentication","outcome":"failure",
                "user":{"name":"admin"},"actor":{"user":{"name":"svc"},"process":{"image":"C:\\lsass.exe"}},
                "src":{"ip":"10.0.0.5","port":445,"hostname":"WS9"},
                "auth":{"logon_type":3,"protocol":"ntlm","key_length":0,"status_code":"0xc000006a"}}"#,
        );
        let wit::Body::Authentication(a) = &ev.body else {
            panic!("an authentication body")
        };
        assert_eq!(text(&s, a.user.name), Some("admin"));
        assert_eq!(text(&s, a.subject.and_then(|u| u.name)), Some("svc"));
        assert!(matches!(a.src.ip, Some(wit::IpAddress::V4(0x0a00_0005))));
        assert_eq!((a.src.port, a.logon_type, a.key_length), (445, 3, Some(0)));
        assert_eq!(a.status_code, 0xc000_006a);
        assert!(
            attributes
                .iter()
                .any(|at| text(&s, Some(at.key)) == Some("actor.process.image"))
        );
    }

    #[test]
    fn absent_numbers_lower_to_zero_and_ipv6_to_halves() {
        let (ev, _, _) = lower(r#"{"time":1,"class":"network","dst":{"ip":"fe80::1"}}"#);
        let wit::Body::Network(n) = &ev.body else {
            panic!("a network body")
        };
        assert_eq!((n.src.port, n.bytes_in, n.protocol_num), (0, 0, 0));
        assert!(matches!(n.dst.ip, Some(wit::IpAddress::V6((hi, 1))) if hi == 0xfe80 << 48));
        assert_eq!(ev.code, 0);
        let (ev, _, attributes) = lower(r#"{"time":1,"class":"other","unmapped":{"k":"v"}}"#);
        assert!(matches!(ev.body, wit::Body::Other));
        assert_eq!(attributes.len(), 1, "only `k`: no source format was given");
    }
}
