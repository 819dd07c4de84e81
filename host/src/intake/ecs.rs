//! Elastic Common Schema documents (Winlogbeat, Elastic Agent), one JSON object per line.
//!
//! A document with `winlog.event_id` is a Windows event: its `winlog.*` fields become a
//! [`WinRecord`] and `windows` maps it exactly as it maps EVTX. Any other document is mapped
//! from its ECS fields (`event.*`, `process.*`, `source.*`, `destination.*`, `user.*`,
//! `file.*`, `registry.*`, `dns.*`, `url.*`…) to the class its `event.category` names, else to
//! the class its fields suggest. Keys may be nested objects or dotted (`"process.pid"`).
//! Unused fields become attributes, except Beats' and Elastic Agent's own metadata
//! (docs/adapters-windows.md).

use super::common::dns_type;
use std::collections::HashSet;
use std::net::IpAddr;

use serde_json::{Map, Value};

use super::LineAdapter;
use super::windows::{WinRecord, parse_guid, parse_ip, parse_number, split_computer, to_event};
use crate::event::{
    Activity, Auth, AuthProtocol, Device, Direction, Endpoint, Event, EventClass, File, Network,
    Outcome, Process, Query, Registry, Source, Transport, User,
};

/// `source.format` of ECS events.
const FORMAT: &str = "ecs";

/// ECS JSON lines (`--format ecs`).
#[derive(Debug, Default)]
pub struct Ecs;

impl LineAdapter for Ecs {
    fn parse(&mut self, line: &str) -> Result<Option<Event>, String> {
        let value: Value = serde_json::from_str(line).map_err(|e| format!("not JSON: {e}"))?;
        let Value::Object(top) = value else {
            return Err("expected a JSON object (one ECS document per line)".to_owned());
        };
        let mut doc = Doc::new(&top);
        if doc.peek("winlog.event_id").is_some() {
            let rec = win_record(&mut doc)?;
            return to_event(&rec, FORMAT);
        }
        ecs_event(&mut doc).map(Some)
    }
}

/// A document's leaves by dotted path, remembering which were used.
struct Doc<'a> {
    leaves: Vec<(String, &'a Value)>,
    used: HashSet<usize>,
}

impl<'a> Doc<'a> {
    fn new(top: &'a Map<String, Value>) -> Self {
        let mut leaves = Vec::new();
        flatten("", top, &mut leaves);
        Doc {
            leaves,
            used: HashSet::new(),
        }
    }

    fn peek(&self, path: &str) -> Option<&'a Value> {
        self.leaves.iter().find(|(k, _)| k == path).map(|(_, v)| *v)
    }

    fn value(&mut self, path: &str) -> Option<&'a Value> {
        let i = self.leaves.iter().position(|(k, _)| k == path)?;
        self.used.insert(i);
        Some(self.leaves[i].1)
    }

    /// A scalar as text (the first of an array); empty and `-` are absent.
    fn text(&mut self, path: &str) -> Option<String> {
        let v = self.value(path)?;
        let v = match v {
            Value::Array(a) => a.first()?,
            v => v,
        };
        let text = match v {
            Value::String(s) => s.trim().to_owned(),
            Value::Number(n) => n.to_string(),
            Value::Bool(b) => b.to_string(),
            _ => return None,
        };
        (!text.is_empty() && text != "-").then_some(text)
    }

    /// All strings of a string-or-array field, lowercased.
    fn words(&mut self, path: &str) -> Vec<String> {
        match self.value(path) {
            Some(Value::String(s)) => vec![s.to_ascii_lowercase()],
            Some(Value::Array(a)) => a
                .iter()
                .filter_map(Value::as_str)
                .map(str::to_ascii_lowercase)
                .collect(),
            _ => Vec::new(),
        }
    }

    fn number(&mut self, path: &str) -> Option<u64> {
        match self.value(path)? {
            Value::Number(n) => n.as_u64(),
            Value::String(s) => parse_number(s),
            _ => None,
        }
    }

    fn u32(&mut self, path: &str) -> Option<u32> {
        self.number(path).and_then(|n| u32::try_from(n).ok())
    }

    fn port(&mut self, path: &str) -> Option<u16> {
        self.number(path).and_then(|n| u16::try_from(n).ok())
    }

    fn ip(&mut self, path: &str) -> Option<IpAddr> {
        self.text(path).and_then(|t| parse_ip(&t))
    }

    /// Leaves under `prefix.` (prefix stripped), marked used.
    fn under(&mut self, prefix: &str) -> Vec<(String, &'a Value)> {
        let dotted = format!("{prefix}.");
        let mut out = Vec::new();
        for (i, (k, v)) in self.leaves.iter().enumerate() {
            if let Some(rest) = k.strip_prefix(&dotted) {
                self.used.insert(i);
                out.push((rest.to_owned(), *v));
            }
        }
        out
    }

    /// Unused leaves, except agent metadata, as attributes.
    fn rest(&self) -> Vec<(String, String)> {
        const DROPPED: &[&str] = &[
            "agent.",
            "ecs.",
            "log.",
            "input.",
            "host.",
            "event.",
            "winlog.",
            "cloud.",
            "data_stream.",
            "elastic_agent.",
            "@metadata.",
        ];
        self.leaves
            .iter()
            .enumerate()
            .filter(|(i, (k, _))| {
                !self.used.contains(i)
                    && !DROPPED.iter().any(|p| k.starts_with(p))
                    && k != "@version"
                    && k != "tags"
            })
            .filter_map(|(_, (k, v))| leaf_text(v).map(|t| (k.clone(), t)))
            .collect()
    }
}

/// Objects become dotted paths; arrays and scalars are leaves.
fn flatten<'a>(prefix: &str, map: &'a Map<String, Value>, out: &mut Vec<(String, &'a Value)>) {
    for (k, v) in map {
        let path = if prefix.is_empty() {
            k.clone()
        } else {
            format!("{prefix}.{k}")
        };
        match v {
            Value::Object(inner) => flatten(&path, inner, out),
            Value::Null => {}
            v => out.push((path, v)),
        }
    }
}

fn leaf_text(v: &Value) -> Option<String> {
    match v {
        Value::String(s) if s.trim().is_empty() => None,
        Value::String(s) => Some(s.clone()),
        Value::Null => None,
        Value::Array(a) if a.iter().all(Value::is_string) => Some(
            a.iter()
                .filter_map(Value::as_str)
                .collect::<Vec<_>>()
                .join(","),
        ),
        other => Some(other.to_string()),
    }
}

fn parse_time(doc: &mut Doc) -> Result<i64, String> {
    let text = doc
        .text("@timestamp")
        .ok_or("missing field `@timestamp` (no event time)")?;
    text.parse::<jiff::Timestamp>()
        .map(|ts| ts.as_millisecond())
        .map_err(|e| format!("field `@timestamp`: `{text}` is not an RFC 3339 time: {e}"))
}

// ---------------------------------------------------------------------------------------
// Winlogbeat: winlog.* into a WinRecord

fn win_record(doc: &mut Doc) -> Result<WinRecord, String> {
    let event_id = doc
        .text("winlog.event_id")
        .and_then(|t| parse_number(&t))
        .and_then(|n| u32::try_from(n).ok())
        .ok_or("field `winlog.event_id`: not an event id")?;
    let time = parse_time(doc)?;
    let keywords = doc.words("winlog.keywords");
    let keywords = if keywords.iter().any(|k| k == "audit failure") {
        Some(0x0010_0000_0000_0000)
    } else if keywords.iter().any(|k| k == "audit success") {
        Some(0x0020_0000_0000_0000)
    } else {
        None
    };
    let mut rec = WinRecord {
        provider: doc.text("winlog.provider_name"),
        channel: doc.text("winlog.channel"),
        event_id: Some(event_id),
        record_id: doc.number("winlog.record_id"),
        time: Some(time),
        computer: doc
            .text("winlog.computer_name")
            .or_else(|| doc.text("host.name")),
        keywords,
        user_sid: doc.text("winlog.user.identifier"),
        user_name: doc.text("winlog.user.name"),
        user_domain: doc.text("winlog.user.domain"),
        message: doc.text("message"),
        data: Vec::new(),
    };
    for prefix in ["winlog.event_data", "winlog.user_data"] {
        for (k, v) in doc.under(prefix) {
            if let Some(text) = leaf_text(v) {
                rec.data.push((k, text));
            }
        }
    }
    Ok(rec)
}

// ---------------------------------------------------------------------------------------
// Plain ECS

fn ecs_event(doc: &mut Doc) -> Result<Event, String> {
    let time = parse_time(doc)?;
    let categories = doc.words("event.category");
    let types = doc.words("event.type");
    let action = doc
        .text("event.action")
        .unwrap_or_default()
        .to_ascii_lowercase();
    let has = |doc: &Doc, p: &str| doc.peek(p).is_some();
    let class = if categories
        .iter()
        .any(|c| c == "authentication" || c == "session")
    {
        EventClass::Authentication
    } else if has(doc, "dns.question.name") {
        EventClass::Dns
    } else if categories.iter().any(|c| c == "registry") || has(doc, "registry.path") {
        EventClass::Registry
    } else if categories.iter().any(|c| c == "process") {
        EventClass::Process
    } else if categories.iter().any(|c| c == "file") {
        EventClass::File
    } else if categories.iter().any(|c| c == "web") && has(doc, "url.full")
        || has(doc, "url.original") && has(doc, "http.request.method")
    {
        EventClass::Http
    } else if categories.iter().any(|c| c == "network")
        || has(doc, "destination.ip") && has(doc, "source.ip")
    {
        EventClass::Network
    } else if has(doc, "file.path") {
        EventClass::File
    } else if has(doc, "process.pid") || has(doc, "process.executable") {
        EventClass::Process
    } else {
        EventClass::Other
    };
    let has_type = |t: &str| types.iter().any(|x| x == t);
    let activity = match class {
        EventClass::Authentication
            if action.contains("logoff") || action.contains("logged-out") || has_type("end") =>
        {
            Activity::Logoff
        }
        EventClass::Authentication => Activity::Logon,
        EventClass::Dns | EventClass::Http => Activity::Query,
        EventClass::Network if has_type("denied") => Activity::Refuse,
        EventClass::Network => Activity::Traffic,
        _ if has_type("start") || has_type("creation") => Activity::Create,
        _ if has_type("end") || has_type("deletion") => Activity::Delete,
        _ if has_type("change") => Activity::Modify,
        _ if has_type("access") => Activity::Open,
        _ => Activity::Unknown,
    };
    let outcome = match doc.text("event.outcome").as_deref() {
        Some("success") => Outcome::Success,
        Some("failure") => Outcome::Failure,
        _ => Outcome::Unknown,
    };
    let (hostname, domain) = split_computer(
        doc.text("host.hostname")
            .or_else(|| doc.text("host.name"))
            .as_deref(),
    );
    let mut ev = Event {
        time,
        class,
        activity,
        outcome,
        source: Source {
            format: FORMAT.to_owned(),
            code: doc.u32("event.code"),
            channel: doc.text("event.dataset"),
            provider: doc
                .text("event.provider")
                .or_else(|| doc.text("event.module")),
            record_id: None,
        },
        device: Device {
            hostname,
            domain: doc.text("host.domain").or(domain),
            ip: doc.ip("host.ip"),
        },
        ..Event::default()
    };

    let user = some(User {
        name: doc.text("user.name"),
        domain: doc.text("user.domain"),
        uid: doc.text("user.id"),
        logon_id: None,
    });
    let process = ecs_process(doc);
    ev.src = some(Endpoint {
        ip: doc.ip("source.ip"),
        port: doc.port("source.port"),
        hostname: doc
            .text("source.domain")
            .or_else(|| doc.text("source.address").filter(|a| parse_ip(a).is_none())),
    });
    ev.dst = some(Endpoint {
        ip: doc.ip("destination.ip"),
        port: doc.port("destination.port"),
        hostname: doc.text("destination.domain"),
    });
    let file = some(File {
        path: doc.text("file.path"),
        hashes: hashes(doc, "file.hash"),
        ..File::default()
    });

    match class {
        EventClass::Authentication => {
            ev.user = user;
            let target = some(User {
                name: doc.text("user.target.name"),
                domain: doc.text("user.target.domain"),
                uid: doc.text("user.target.id"),
                logon_id: None,
            });
            if target.is_some() {
                ev.actor.user = ev.user.take();
                ev.user = target;
            }
            ev.actor.process = process.map(acting);
            let protocol = doc
                .text("network.protocol")
                .unwrap_or_default()
                .to_ascii_lowercase();
            ev.auth = Some(Auth {
                protocol: match protocol.as_str() {
                    "ntlm" => AuthProtocol::Ntlm,
                    "kerberos" => AuthProtocol::Kerberos,
                    "" => AuthProtocol::Unknown,
                    _ => AuthProtocol::Other,
                },
                ..Auth::default()
            });
        }
        EventClass::Process => {
            ev.user = user;
            if let Some(p) = &process {
                ev.actor.process = some(Process {
                    pid: p.parent_pid,
                    guid: p.parent_guid,
                    image: p.parent_image.clone(),
                    cmd_line: p.parent_cmd_line.clone(),
                    ..Process::default()
                });
            }
            ev.process = process;
            // a process event's file.path is its target (loaded image, accessed process)
            ev.file = file;
        }
        _ => {
            ev.actor.user = user;
            ev.actor.process = process.map(acting);
            ev.file = file;
        }
    }
    match class {
        EventClass::Network => ev.network = Some(network(doc)),
        EventClass::Registry => {
            let data = doc.value("registry.data.strings").and_then(leaf_text);
            ev.registry = Some(Registry {
                key: doc.text("registry.path").or_else(|| {
                    let hive = doc.text("registry.hive");
                    let key = doc.text("registry.key");
                    match (hive, key) {
                        (Some(h), Some(k)) => Some(format!("{h}\\{k}")),
                        (h, k) => k.or(h),
                    }
                }),
                value_name: doc.text("registry.value"),
                value_data: data,
            });
        }
        EventClass::Dns => {
            let answers = doc
                .value("dns.resolved_ip")
                .and_then(leaf_text)
                .or_else(|| doc.value("dns.answers.data").and_then(leaf_text));
            ev.query = Some(Query {
                name: doc.text("dns.question.name"),
                code: doc.text("dns.question.type").and_then(|t| dns_type(&t)),
                detail: answers,
                user_agent: None,
            });
        }
        EventClass::Http => {
            ev.query = Some(Query {
                name: doc.text("url.full").or_else(|| doc.text("url.original")),
                code: doc
                    .number("http.response.status_code")
                    .and_then(|n| u16::try_from(n).ok()),
                detail: doc.text("http.request.method"),
                user_agent: doc.text("user_agent.original"),
            });
            ev.network = some_network(doc);
        }
        _ => {}
    }
    ev.attributes = doc.rest();
    Ok(ev)
}

fn some<T: Default + PartialEq>(v: T) -> Option<T> {
    (v != T::default()).then_some(v)
}

/// `process.*` with `process.parent.*`.
fn ecs_process(doc: &mut Doc) -> Option<Process> {
    let guid = |doc: &mut Doc, p: &str| doc.text(p).and_then(|t| parse_guid(&t));
    some(Process {
        pid: doc.u32("process.pid"),
        guid: guid(doc, "process.entity_id"),
        image: doc.text("process.executable"),
        cmd_line: doc.text("process.command_line"),
        cwd: doc.text("process.working_directory"),
        hashes: hashes(doc, "process.hash"),
        start_time: doc
            .text("process.start")
            .and_then(|t| t.parse::<jiff::Timestamp>().ok())
            .map(|ts| ts.as_millisecond()),
        parent_pid: doc.u32("process.parent.pid"),
        parent_guid: guid(doc, "process.parent.entity_id"),
        parent_image: doc.text("process.parent.executable"),
        parent_cmd_line: doc.text("process.parent.command_line"),
        ..Process::default()
    })
}

/// The acting process of a non-process event: its identity only.
fn acting(p: Process) -> Process {
    Process {
        pid: p.pid,
        guid: p.guid,
        image: p.image,
        cmd_line: p.cmd_line,
        ..Process::default()
    }
}

/// `x.hash.sha256` etc. as `SHA256=…,MD5=…` (Sysmon's spelling).
fn hashes(doc: &mut Doc, prefix: &str) -> Option<String> {
    let parts: Vec<String> = doc
        .under(prefix)
        .into_iter()
        .filter_map(|(k, v)| Some(format!("{}={}", k.to_ascii_uppercase(), v.as_str()?)))
        .collect();
    (!parts.is_empty()).then(|| parts.join(","))
}

fn network(doc: &mut Doc) -> Network {
    let (transport, protocol_num) = match doc.text("network.transport").as_deref() {
        Some("tcp") => (Transport::Tcp, Some(6)),
        Some("udp") => (Transport::Udp, Some(17)),
        Some("icmp") => (Transport::Icmp, Some(1)),
        Some(_) => (
            Transport::Other,
            doc.number("network.iana_number")
                .and_then(|n| u8::try_from(n).ok()),
        ),
        None => (Transport::Unknown, None),
    };
    let direction = match doc.text("network.direction").as_deref() {
        Some("inbound" | "ingress") => Direction::Inbound,
        Some("outbound" | "egress") => Direction::Outbound,
        Some("internal") => Direction::Lateral,
        _ => Direction::Unknown,
    };
    Network {
        transport,
        protocol_num,
        direction,
        bytes_out: doc.number("source.bytes"),
        bytes_in: doc.number("destination.bytes"),
        packets_out: doc.number("source.packets"),
        packets_in: doc.number("destination.packets"),
        duration_ms: doc.number("event.duration").map(|ns| ns / 1_000_000),
        ..Network::default()
    }
}

fn some_network(doc: &mut Doc) -> Option<Network> {
    some(network(doc))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::event::Integrity;

    fn parse(line: &str) -> Event {
        Ecs.parse(line)
            .expect("the document parses")
            .expect("the document is an event")
    }

    #[test]
    fn winlogbeat_4624_maps_like_evtx() {
        let ev = parse(
            r##"{"@timestamp":"2020-09-20T16:16:56.412Z","agent":{"type":"winlogbeat","version":"7.9.1"},"ecs":{"version":"1.5.0"},"host":{"name":"WORKSTATION6.theshire.local"},"event":{"code":4624,"kind":"event","provider":"Microsoft-Windows-Security-Auditing","action":"logged-in","category":["authentication"],"type":["start"],"outcome":"success"},"log":{"level":"information"},"message":"An account was successfully logged on.","winlog":{"channel":"Security","computer_name":"WORKSTATION6.theshire.local","event_id":4624,"provider_name":"Microsoft-Windows-Security-Auditing","record_id":717700,"keywords":["Audit Success"],"logon":{"type":"Network","id":"0x2990d17"},"event_data":{"SubjectUserSid":"S-1-0-0","SubjectUserName":"-","TargetUserSid":"S-1-5-21-1-1104","TargetUserName":"pgustavo","TargetDomainName":"THESHIRE","TargetLogonId":"0x2990d17","LogonType":"3","LogonProcessName":"Kerberos","AuthenticationPackageName":"Kerberos","WorkstationName":"-","IpAddress":"::ffff:172.18.39.5","IpPort":"56610","KeyLength":"0","ElevatedToken":"%%1842"}}}"##,
        );
        assert_eq!(ev.source.format, "ecs");
        assert_eq!(ev.source.code, Some(4624));
        assert_eq!(ev.source.record_id, Some(717700));
        assert_eq!(ev.device.hostname.as_deref(), Some("WORKSTATION6"));
        assert_eq!(
            (ev.class, ev.outcome),
            (EventClass::Authentication, Outcome::Success)
        );
        let auth = ev.auth.as_ref().expect("auth");
        assert_eq!(auth.logon_type, Some(3));
        assert_eq!(auth.protocol, AuthProtocol::Kerberos);
        assert!(auth.elevated);
        assert_eq!(
            ev.src.as_ref().and_then(|s| s.ip),
            "172.18.39.5".parse().ok()
        );
        assert_eq!(ev.user.as_ref().and_then(|u| u.logon_id), Some(0x2990d17));
    }

    #[test]
    fn winlogbeat_sysmon_process_create() {
        let ev = parse(
            r##"{"@timestamp":"2020-09-20T16:16:57.042Z","host":{"name":"WORKSTATION6"},"winlog":{"channel":"Microsoft-Windows-Sysmon/Operational","event_id":"1","provider_name":"Microsoft-Windows-Sysmon","user":{"identifier":"S-1-5-18","name":"SYSTEM","domain":"NT AUTHORITY"},"event_data":{"ProcessGuid":"{d273d0f0-8078-5f67-d306-000000000800}","ProcessId":"4312","Image":"C:\\Windows\\System32\\cmd.exe","CommandLine":"cmd /c whoami","User":"THESHIRE\\pgustavo","IntegrityLevel":"High","ParentProcessId":"1496","ParentImage":"C:\\Windows\\explorer.exe"}},"process":{"pid":4312}}"##,
        );
        assert_eq!(
            (ev.class, ev.activity),
            (EventClass::Process, Activity::Create)
        );
        let p = ev.process.as_ref().expect("process");
        assert_eq!(p.pid, Some(4312));
        assert_eq!(p.integrity, Integrity::High);
        assert_eq!(p.parent_image.as_deref(), Some("C:\\Windows\\explorer.exe"));
        assert_eq!(
            ev.user.as_ref().and_then(|u| u.name.as_deref()),
            Some("pgustavo")
        );
    }

    #[test]
    fn plain_ecs_process_with_parent() {
        let ev = parse(
            r##"{"@timestamp":"2024-05-01T10:01:00.000Z","event":{"category":["process"],"type":["start"],"action":"start","outcome":"success"},"host":{"hostname":"WS01","domain":"CORP"},"user":{"name":"alice","domain":"CORP"},"process":{"pid":7300,"executable":"C:\\Windows\\System32\\WindowsPowerShell\\v1.0\\powershell.exe","command_line":"powershell -enc SQBm","hash":{"sha256":"abc"},"parent":{"pid":5100,"executable":"C:\\Program Files\\Microsoft Office\\root\\Office16\\WINWORD.EXE"}},"agent":{"type":"endpoint"}}"##,
        );
        assert_eq!(
            (ev.class, ev.activity),
            (EventClass::Process, Activity::Create)
        );
        assert_eq!(ev.time, 1_714_557_660_000);
        let p = ev.process.as_ref().expect("process");
        assert_eq!(p.pid, Some(7300));
        assert_eq!(p.cmd_line.as_deref(), Some("powershell -enc SQBm"));
        assert_eq!(p.hashes.as_deref(), Some("SHA256=abc"));
        assert_eq!(p.parent_pid, Some(5100));
        assert!(
            p.parent_image
                .as_deref()
                .is_some_and(|i| i.ends_with("WINWORD.EXE"))
        );
        assert_eq!(ev.actor.process.as_ref().and_then(|a| a.pid), Some(5100));
        assert_eq!(
            ev.user.as_ref().and_then(|u| u.name.as_deref()),
            Some("alice")
        );
        assert_eq!(ev.device.domain.as_deref(), Some("CORP"));
        assert!(ev.attributes.is_empty(), "{:?}", ev.attributes);
    }

    #[test]
    fn plain_ecs_network_dns_and_dotted_keys() {
        let ev = parse(
            r##"{"@timestamp":"2024-05-01T10:02:00Z","event.category":"network","source.ip":"10.0.0.66","source.port":40000,"destination.ip":"10.0.0.10","destination.port":445,"network.transport":"tcp","network.direction":"internal","process.pid":4,"custom.field":"kept"}"##,
        );
        assert_eq!(
            (ev.class, ev.activity),
            (EventClass::Network, Activity::Traffic)
        );
        assert_eq!(ev.dst.as_ref().and_then(|d| d.port), Some(445));
        let n = ev.network.as_ref().expect("network");
        assert_eq!(
            (n.transport, n.direction),
            (Transport::Tcp, Direction::Lateral)
        );
        assert_eq!(ev.actor.process.as_ref().and_then(|p| p.pid), Some(4));
        assert_eq!(
            ev.attributes,
            vec![("custom.field".to_owned(), "kept".to_owned())]
        );

        let ev = parse(
            r##"{"@timestamp":"2024-05-01T10:03:00Z","event":{"category":["network"]},"dns":{"question":{"name":"evil.example","type":"A"},"resolved_ip":["203.0.113.5"]},"process":{"executable":"C:\\x.exe"}}"##,
        );
        assert_eq!(ev.class, EventClass::Dns);
        let q = ev.query.as_ref().expect("query");
        assert_eq!((q.name.as_deref(), q.code), (Some("evil.example"), Some(1)));
        assert_eq!(q.detail.as_deref(), Some("203.0.113.5"));
    }

    #[test]
    fn plain_ecs_registry_and_failed_authentication() {
        let ev = parse(
            r##"{"@timestamp":"2024-05-01T10:04:00Z","event":{"category":"registry","type":"change"},"registry":{"path":"HKLM\\Software\\Microsoft\\Windows\\CurrentVersion\\Run\\u","value":"u","data":{"strings":["C:\\u.exe"]}}}"##,
        );
        assert_eq!(
            (ev.class, ev.activity),
            (EventClass::Registry, Activity::Modify)
        );
        let r = ev.registry.as_ref().expect("registry");
        assert_eq!(r.value_name.as_deref(), Some("u"));
        assert_eq!(r.value_data.as_deref(), Some("C:\\u.exe"));

        let ev = parse(
            r##"{"@timestamp":"2024-05-01T10:05:00Z","event":{"category":["authentication"],"outcome":"failure","action":"ssh_login"},"user":{"name":"root"},"source":{"ip":"10.0.0.66","port":50000}}"##,
        );
        assert_eq!(
            (ev.class, ev.outcome),
            (EventClass::Authentication, Outcome::Failure)
        );
        assert_eq!(
            ev.user.as_ref().and_then(|u| u.name.as_deref()),
            Some("root")
        );
        assert_eq!(ev.src.as_ref().and_then(|s| s.port), Some(50000));
    }

    #[test]
    fn errors_name_the_field() {
        let e = Ecs
            .parse(r##"{"event":{"category":"process"}}"##)
            .expect_err("no time");
        assert!(e.contains("@timestamp"), "{e}");
        let e = Ecs
            .parse(r##"{"@timestamp":"yesterday","event":{"category":"process"}}"##)
            .expect_err("bad time");
        assert!(e.contains("`@timestamp`"), "{e}");
        let e = Ecs
            .parse(r##"{"@timestamp":"2024-05-01T10:05:00Z","winlog":{"event_id":"x"}}"##)
            .expect_err("bad id");
        assert!(e.contains("winlog.event_id"), "{e}");
        assert!(Ecs.parse("[]").is_err());
    }
}
