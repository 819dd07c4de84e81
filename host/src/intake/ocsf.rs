//! OCSF 1.x events, one JSON object per line, as OCSF-native tools write them (AWS Security
//! Lake, the OCSF examples): the classes Yagura models are mapped field by field
//! (docs/adapters-evtx-ocsf.md); any other class becomes `other` with its fields flattened
//! into attributes.
//!
//! Only `time` and `class_uid` are required. A field of the wrong type or out of range is an
//! error naming it (``field `src_endpoint.port`: …``); fields Yagura has no place for are
//! left out, except `unmapped`, which becomes attributes.

use super::common::dns_type;
use crate::event::{parse_guid, parse_hex_or_decimal};
use std::net::IpAddr;

use serde_json::{Map, Value};

use super::LineAdapter;
use crate::event::{
    Activity, Actor, Auth, AuthProtocol, Device, Direction, Disposition, Endpoint, Event,
    EventClass, File, Integrity, Job, JobKind, Network, Outcome, Process, Query, Registry, Source,
    Transport, User,
};

/// The OCSF line adapter.
#[derive(Debug, Default)]
pub struct Ocsf;

impl LineAdapter for Ocsf {
    fn parse(&mut self, line: &str) -> Result<Option<Event>, String> {
        let value: Value = serde_json::from_str(line).map_err(|e| format!("not JSON: {e}"))?;
        if !value.is_object() {
            return Err("expected a JSON object (one OCSF event per line)".to_owned());
        }
        event_from_ocsf(&value).map(Some)
    }
}

/// One OCSF event into a normalized event.
pub(crate) fn event_from_ocsf(v: &Value) -> Result<Event, String> {
    let class_uid = uint::<u32>(v, "class_uid")?.ok_or("field `class_uid`: missing")?;
    // Only the classes mapped here; the rest (Script Activity 1009 included, whose OCSF
    // fields are not read yet) keep all their fields as attributes.
    let class = match class_uid {
        1001 | 1006 | 1007 | 3002 | 4001 | 4002 | 4003 | 201001 | 201002 => {
            EventClass::from_ocsf_uid(class_uid).unwrap_or(EventClass::Other)
        }
        _ => EventClass::Other,
    };
    let activity_id = uint::<u32>(v, "activity_id")?.unwrap_or(0);
    let mut event = Event {
        time: time(v)?,
        class,
        activity: activity(class_uid, activity_id),
        outcome: outcome(v)?,
        source: source(v)?,
        device: device(v)?,
        actor: Actor {
            user: user(v, "actor.user")?,
            process: process(v, "actor.process")?,
        },
        user: user(v, "user")?,
        src: endpoint(v, "src_endpoint")?,
        dst: endpoint(v, "dst_endpoint")?,
        ..Event::default()
    };
    if let Some(logon_id) = hex_or_decimal(v, "actor.session.uid")? {
        event.actor.user.get_or_insert_with(User::default).logon_id = Some(logon_id);
    }
    match class {
        EventClass::Authentication => {
            event.auth = Some(auth(v)?);
            if let Some(logon_id) = hex_or_decimal(v, "session.uid")? {
                event.user.get_or_insert_with(User::default).logon_id = Some(logon_id);
            }
            // no typed home: kept for rules as attributes
            for path in ["is_mfa", "is_remote", "is_new_logon"] {
                if let Some(text) = string(v, path)? {
                    event.attributes.push((path.to_owned(), text));
                }
            }
        }
        EventClass::Process => {
            event.process = process(v, "process")?;
            // the account the launched process runs as
            if event.user.is_none() {
                event.user = user(v, "process.user")?;
            }
            // OCSF names the launcher `actor.process`; its parent is the launched one's.
            if let (Some(p), Some(actor)) = (event.process.as_mut(), &event.actor.process) {
                p.parent_pid = p.parent_pid.or(actor.pid);
                p.parent_guid = p.parent_guid.or(actor.guid);
                p.parent_image = p.parent_image.take().or_else(|| actor.image.clone());
                p.parent_cmd_line = p.parent_cmd_line.take().or_else(|| actor.cmd_line.clone());
            }
        }
        EventClass::Network => event.network = network(v)?,
        EventClass::File => event.file = file(v, "file")?,
        EventClass::Registry => event.registry = registry(v)?,
        EventClass::Dns => {
            event.query = dns_query(v)?;
            event.network = network(v)?;
        }
        EventClass::Http => {
            event.query = http_query(v)?;
            event.network = network(v)?;
        }
        EventClass::Job => event.job = job(v)?,
        EventClass::Script | EventClass::Other => {}
    }
    if class == EventClass::Other {
        if let Value::Object(map) = v {
            flatten("", map, &mut event.attributes);
        }
    } else {
        if class_uid == 201002 {
            event
                .attributes
                .push(("ocsf.class_uid".to_owned(), "201002".to_owned()));
        }
        for path in ["metadata.uid", "status_detail", "message"] {
            // a numeric `metadata.uid` is already the record id
            if let Some(text) = string(v, path)?
                && (path != "metadata.uid" || event.source.record_id.is_none())
            {
                event.attributes.push((path.to_owned(), text));
            }
        }
        if let Some(Value::Object(map)) = at(v, "unmapped") {
            flatten("", map, &mut event.attributes);
        }
    }
    Ok(event)
}

// ---- the header ----------------------------------------------------------------------------

/// `time` in ms (a number, or an RFC 3339 string), else `time_dt`.
fn time(v: &Value) -> Result<i64, String> {
    let field = if at(v, "time").is_some() {
        "time"
    } else {
        "time_dt"
    };
    match at(v, field) {
        None => Err("field `time`: missing".to_owned()),
        Some(Value::Number(n)) => n
            .as_i64()
            .or_else(|| n.as_f64().filter(|f| f.abs() < 9e15).map(|f| f as i64))
            .ok_or_else(|| format!("field `{field}`: {n} is not a time in ms")),
        Some(Value::String(s)) => match s.trim().parse::<i64>() {
            Ok(ms) => Ok(ms),
            Err(_) => s
                .parse::<jiff::Timestamp>()
                .map(|t| t.as_millisecond())
                .map_err(|e| format!("field `{field}`: `{s}` is not ms or an RFC 3339 time: {e}")),
        },
        Some(other) => Err(format!(
            "field `{field}`: expected ms since the epoch, found {}",
            kind(other)
        )),
    }
}

/// The activity for a class's `activity_id` (docs/adapters-evtx-ocsf.md, "Activities").
fn activity(class_uid: u32, id: u32) -> Activity {
    use Activity::*;
    if id == 0 {
        return Unknown;
    }
    match (class_uid, id) {
        // Process Activity: Launch, Terminate, Open (Inject, Set User ID: other)
        (1007, 1) => Create,
        (1007, 2) => Delete,
        (1007, 3) => Open,
        // Authentication: Logon, Logoff, Authentication Ticket, Service Ticket Request/Renew
        (3002, 1) => Logon,
        (3002, 2) => Logoff,
        (3002, 3) => TicketRequest,
        (3002, 4 | 5) => ServiceTicket,
        // Network Activity: Open, Close, Reset, Fail, Traffic; Refuse
        (4001, 1..=4 | 6) => Traffic,
        (4001, 5) => Refuse,
        // File System Activity: Create, Read, Update, Delete, Rename, Set Attributes/Security,
        // Get Attributes/Security, Open
        (1001, 1) => Create,
        (1001, 2 | 8 | 9 | 14) => Open,
        (1001, 3 | 6 | 7) => Modify,
        (1001, 4) => Delete,
        (1001, 5) => Rename,
        // Registry Key: Create, Read, Modify, Delete, Rename, Set Security
        (201001, 1) => Create,
        (201001, 2) => Open,
        (201001, 3 | 6) => Modify,
        (201001, 4) => Delete,
        (201001, 5) => Rename,
        // Registry Value: Get, Set, Modify, Delete
        (201002, 1) => Open,
        (201002, 2 | 3) => Modify,
        (201002, 4) => Delete,
        // DNS: Query, Response, Traffic; HTTP: every method is a request
        (4003, 1 | 2 | 6) => Query,
        (4002, 1..=9) => Query,
        // Scheduled Job: Create, Update, Delete
        (1006, 1) => Create,
        (1006, 2) => Modify,
        (1006, 3) => Delete,
        _ => Other,
    }
}

/// `status_id` (1 success, 2 failure), else the `status` caption.
fn outcome(v: &Value) -> Result<Outcome, String> {
    Ok(match uint::<u32>(v, "status_id")? {
        Some(1) => Outcome::Success,
        Some(2) => Outcome::Failure,
        Some(_) => Outcome::Unknown,
        None => match string(v, "status")?.map(|s| s.to_ascii_lowercase()) {
            Some(s) if s == "success" => Outcome::Success,
            Some(s) if s == "failure" => Outcome::Failure,
            _ => Outcome::Unknown,
        },
    })
}

fn source(v: &Value) -> Result<Source, String> {
    let record_id = string(v, "metadata.uid")?.and_then(|s| s.parse().ok());
    let code = string(v, "metadata.event_code")?.and_then(|s| s.parse().ok());
    Ok(Source {
        format: "ocsf".to_owned(),
        code,
        channel: string(v, "metadata.log_name")?,
        provider: match string(v, "metadata.product.name")? {
            Some(name) => Some(name),
            None => string(v, "metadata.log_provider")?,
        },
        record_id,
    })
}

fn device(v: &Value) -> Result<Device, String> {
    Ok(Device {
        hostname: match string(v, "device.hostname")? {
            Some(host) => Some(host),
            None => string(v, "device.name")?,
        },
        domain: string(v, "device.domain")?,
        ip: ip(v, "device.ip")?,
    })
}

// ---- shared objects ------------------------------------------------------------------------

fn user(v: &Value, path: &str) -> Result<Option<User>, String> {
    if at(v, path).is_none() {
        return Ok(None);
    }
    let user = User {
        name: string(v, &format!("{path}.name"))?,
        domain: string(v, &format!("{path}.domain"))?,
        uid: string(v, &format!("{path}.uid"))?,
        logon_id: None,
    };
    Ok((user != User::default()).then_some(user))
}

fn process(v: &Value, path: &str) -> Result<Option<Process>, String> {
    if at(v, path).is_none() {
        return Ok(None);
    }
    let f = |name: &str| format!("{path}.{name}");
    let parent = |name: &str| format!("{path}.parent_process.{name}");
    let process = Process {
        pid: uint(v, &f("pid"))?,
        guid: guid(v, &f("uid"))?,
        image: image(v, path)?,
        cmd_line: string(v, &f("cmd_line"))?,
        cwd: string(v, &f("working_directory"))?,
        integrity: integrity(v, path)?,
        hashes: hashes(v, &f("file.hashes"))?,
        start_time: match at(v, &f("created_time")) {
            Some(Value::Number(n)) => n.as_i64(),
            _ => None,
        },
        parent_pid: uint(v, &parent("pid"))?,
        parent_guid: guid(v, &parent("uid"))?,
        parent_image: image(v, &f("parent_process"))?,
        parent_cmd_line: string(v, &parent("cmd_line"))?,
    };
    Ok((process != Process::default()).then_some(process))
}

/// A process's image: its file's path, else the process `name`.
fn image(v: &Value, path: &str) -> Result<Option<String>, String> {
    match file_path(v, &format!("{path}.file"))? {
        Some(full) => Ok(Some(full)),
        None => string(v, &format!("{path}.name")),
    }
}

/// A file object's `path`, else `parent_folder` + `name`, else `name`.
fn file_path(v: &Value, path: &str) -> Result<Option<String>, String> {
    if let Some(full) = string(v, &format!("{path}.path"))? {
        return Ok(Some(full));
    }
    let folder = string(v, &format!("{path}.parent_folder"))?;
    let name = string(v, &format!("{path}.name"))?;
    Ok(match (folder, name) {
        (Some(folder), Some(name)) => {
            let sep = if folder.contains('\\') { '\\' } else { '/' };
            Some(format!("{}{sep}{name}", folder.trim_end_matches(sep)))
        }
        (_, name) => name,
    })
}

/// `integrity_id` (1 untrusted … 5 system), else the `integrity` caption.
fn integrity(v: &Value, path: &str) -> Result<Integrity, String> {
    let by_id = match uint::<u32>(v, &format!("{path}.integrity_id"))? {
        Some(1) => Some(Integrity::Untrusted),
        Some(2) => Some(Integrity::Low),
        Some(3) => Some(Integrity::Medium),
        Some(4) => Some(Integrity::High),
        Some(5) => Some(Integrity::System),
        _ => None,
    };
    if let Some(level) = by_id {
        return Ok(level);
    }
    let caption = string(v, &format!("{path}.integrity"))?.map(|s| s.to_ascii_lowercase());
    Ok(match caption.as_deref() {
        Some("untrusted") => Integrity::Untrusted,
        Some("low") => Integrity::Low,
        Some("medium") => Integrity::Medium,
        Some("high") => Integrity::High,
        Some("system") => Integrity::System,
        _ => Integrity::Unknown,
    })
}

/// OCSF `hashes` (`[{"algorithm": "SHA-256", "value": "…"}]`) as `SHA256=…,MD5=…`.
fn hashes(v: &Value, path: &str) -> Result<Option<String>, String> {
    let Some(list) = at(v, path) else {
        return Ok(None);
    };
    let Value::Array(list) = list else {
        return Err(format!(
            "field `{path}`: expected an array, found {}",
            kind(list)
        ));
    };
    let mut out = Vec::new();
    for (i, hash) in list.iter().enumerate() {
        let item = format!("{path}.{i}");
        let algorithm = match string(hash, "algorithm")? {
            Some(name) => name.replace('-', "").to_ascii_uppercase(),
            None => match uint::<u32>(hash, "algorithm_id")? {
                Some(1) => "MD5".to_owned(),
                Some(2) => "SHA1".to_owned(),
                Some(3) => "SHA256".to_owned(),
                Some(4) => "SHA512".to_owned(),
                Some(6) => "IMPHASH".to_owned(),
                _ => "UNKNOWN".to_owned(),
            },
        };
        let value =
            string(hash, "value")?.ok_or_else(|| format!("field `{item}.value`: missing"))?;
        out.push(format!("{algorithm}={value}"));
    }
    Ok((!out.is_empty()).then(|| out.join(",")))
}

fn endpoint(v: &Value, path: &str) -> Result<Option<Endpoint>, String> {
    if at(v, path).is_none() {
        return Ok(None);
    }
    let endpoint = Endpoint {
        ip: ip(v, &format!("{path}.ip"))?,
        port: uint(v, &format!("{path}.port"))?,
        hostname: string(v, &format!("{path}.hostname"))?,
    };
    Ok((endpoint != Endpoint::default()).then_some(endpoint))
}

// ---- class parts ---------------------------------------------------------------------------

fn auth(v: &Value) -> Result<Auth, String> {
    let protocol = match uint::<u32>(v, "auth_protocol_id")? {
        Some(1) => AuthProtocol::Ntlm,
        Some(2) => AuthProtocol::Kerberos,
        Some(0) | None => match string(v, "auth_protocol")?.map(|s| s.to_ascii_lowercase()) {
            Some(s) if s == "ntlm" => AuthProtocol::Ntlm,
            Some(s) if s == "kerberos" => AuthProtocol::Kerberos,
            Some(s) if s == "negotiate" => AuthProtocol::Negotiate,
            Some(_) => AuthProtocol::Other,
            None => AuthProtocol::Unknown,
        },
        Some(_) => AuthProtocol::Other,
    };
    let logon_type = match uint::<u32>(v, "logon_type_id")? {
        Some(99) | None => None,
        Some(t) => u8::try_from(t).ok(),
    };
    let status_code = hex_or_decimal(v, "status_code")?.and_then(|c| u32::try_from(c).ok());
    Ok(Auth {
        logon_type,
        protocol,
        logon_process: string(v, "logon_process.name")?,
        status_code,
        elevated: matches!(at(v, "is_elevated"), Some(Value::Bool(true))),
        service: string(v, "service.name")?,
        ..Auth::default()
    })
}

fn network(v: &Value) -> Result<Option<Network>, String> {
    let protocol_num: Option<u8> = uint(v, "connection_info.protocol_num")?;
    let name = string(v, "connection_info.protocol_name")?.map(|s| s.to_ascii_lowercase());
    let transport = match (name.as_deref(), protocol_num) {
        (Some("tcp"), _) | (None, Some(6)) => Transport::Tcp,
        (Some("udp"), _) | (None, Some(17)) => Transport::Udp,
        (Some("icmp" | "icmpv6" | "ipv6-icmp"), _) | (None, Some(1 | 58)) => Transport::Icmp,
        (None, None) => Transport::Unknown,
        _ => Transport::Other,
    };
    let direction = match uint::<u32>(v, "connection_info.direction_id")? {
        Some(1) => Direction::Inbound,
        Some(2) => Direction::Outbound,
        Some(3) => Direction::Lateral,
        Some(4) => Direction::Local,
        _ => Direction::Unknown,
    };
    let disposition = match uint::<u32>(v, "disposition_id")? {
        Some(1 | 8) => Disposition::Allowed,
        Some(2 | 6) => Disposition::Blocked,
        Some(25) => Disposition::Rejected,
        _ => Disposition::Unknown,
    };
    let network = Network {
        transport,
        protocol_num,
        direction,
        disposition,
        bytes_out: uint(v, "traffic.bytes_out")?,
        bytes_in: uint(v, "traffic.bytes_in")?,
        packets_out: uint(v, "traffic.packets_out")?,
        packets_in: uint(v, "traffic.packets_in")?,
        duration_ms: uint(v, "duration")?,
        state: None,
    };
    Ok((network != Network::default()).then_some(network))
}

fn file(v: &Value, path: &str) -> Result<Option<File>, String> {
    let file = File {
        path: file_path(v, path)?,
        hashes: hashes(v, &format!("{path}.hashes"))?,
        ..File::default()
    };
    Ok((file != File::default()).then_some(file))
}

fn registry(v: &Value) -> Result<Option<Registry>, String> {
    let key = match string(v, "reg_key.path")? {
        Some(key) => Some(key),
        None => string(v, "reg_value.path")?,
    };
    let registry = Registry {
        key,
        value_name: string(v, "reg_value.name")?,
        value_data: string(v, "reg_value.data")?,
    };
    Ok((registry != Registry::default()).then_some(registry))
}

fn dns_query(v: &Value) -> Result<Option<Query>, String> {
    let code = match at(v, "query.type") {
        Some(Value::String(t)) => dns_type(t),
        Some(Value::Number(_)) => uint(v, "query.type")?,
        _ => None,
    };
    let mut answers = Vec::new();
    if let Some(Value::Array(list)) = at(v, "answers") {
        for (i, answer) in list.iter().enumerate() {
            if let Some(data) = string(answer, "rdata")
                .map_err(|e| e.replacen("`rdata`", &format!("`answers.{i}.rdata`"), 1))?
            {
                answers.push(data);
            }
        }
    }
    let query = Query {
        name: string(v, "query.hostname")?,
        code,
        detail: (!answers.is_empty()).then(|| answers.join(",")),
        user_agent: None,
    };
    Ok((query != Query::default()).then_some(query))
}

fn http_query(v: &Value) -> Result<Option<Query>, String> {
    let url = match string(v, "http_request.url.url_string")? {
        Some(url) => Some(url),
        None => {
            let host = string(v, "http_request.url.hostname")?;
            let path = string(v, "http_request.url.path")?;
            match (host, path) {
                (Some(host), path) => {
                    let scheme =
                        string(v, "http_request.url.scheme")?.unwrap_or_else(|| "http".to_owned());
                    Some(format!("{scheme}://{host}{}", path.unwrap_or_default()))
                }
                (None, path) => path,
            }
        }
    };
    let query = Query {
        name: url,
        code: uint(v, "http_response.code")?,
        detail: string(v, "http_request.http_method")?,
        user_agent: string(v, "http_request.user_agent")?,
    };
    Ok((query != Query::default()).then_some(query))
}

fn job(v: &Value) -> Result<Option<Job>, String> {
    if at(v, "job").is_none() {
        return Ok(None);
    }
    let command = match string(v, "job.cmd_line")? {
        Some(cmd) => Some(cmd),
        None => string(v, "job.file.path")?,
    };
    let account = match string(v, "job.user.name")? {
        Some(name) => match string(v, "job.user.domain")? {
            Some(domain) => Some(format!("{domain}\\{name}")),
            None => Some(name),
        },
        None => None,
    };
    Ok(Some(Job {
        kind: JobKind::ScheduledTask,
        name: string(v, "job.name")?,
        command,
        start_type: None,
        account,
    }))
}

// ---- field access --------------------------------------------------------------------------

/// The value at a dotted path; `null` counts as absent.
fn at<'a>(v: &'a Value, path: &str) -> Option<&'a Value> {
    let mut here = v;
    for key in path.split('.') {
        here = match here {
            Value::Object(map) => map.get(key)?,
            Value::Array(list) => list.get(key.parse::<usize>().ok()?)?,
            _ => return None,
        };
    }
    (!here.is_null()).then_some(here)
}

/// A string field; numbers and booleans are taken as their text.
fn string(v: &Value, path: &str) -> Result<Option<String>, String> {
    match at(v, path) {
        None => Ok(None),
        Some(Value::String(s)) => Ok(Some(s.clone())),
        Some(Value::Number(n)) => Ok(Some(n.to_string())),
        Some(Value::Bool(b)) => Ok(Some(b.to_string())),
        Some(other) => Err(format!(
            "field `{path}`: expected a string, found {}",
            kind(other)
        )),
    }
}

/// An unsigned integer field (a JSON integer or a decimal string) that must fit `T`.
fn uint<T: TryFrom<u64>>(v: &Value, path: &str) -> Result<Option<T>, String> {
    let n = match at(v, path) {
        None => return Ok(None),
        Some(Value::Number(n)) => n.as_u64(),
        Some(Value::String(s)) => s.trim().parse::<u64>().ok(),
        Some(other) => {
            return Err(format!(
                "field `{path}`: expected a number, found {}",
                kind(other)
            ));
        }
    };
    let text = || at(v, path).map(Value::to_string).unwrap_or_default();
    let n = n.ok_or_else(|| format!("field `{path}`: {} is not a whole number ≥ 0", text()))?;
    T::try_from(n)
        .map(Some)
        .map_err(|_| format!("field `{path}`: {n} is out of range"))
}

/// A `0x…` hex or decimal number, as Windows ids are written (`session.uid`, `status_code`).
/// A value that is neither is left out: these fields are free text in OCSF.
fn hex_or_decimal(v: &Value, path: &str) -> Result<Option<u64>, String> {
    Ok(string(v, path)?.and_then(|s| parse_hex_or_decimal(&s)))
}

fn ip(v: &Value, path: &str) -> Result<Option<IpAddr>, String> {
    string(v, path)?
        .map(|s| {
            s.trim()
                .parse()
                .map_err(|_| format!("field `{path}`: `{s}` is not an IP address"))
        })
        .transpose()
}

/// A GUID from an OCSF `uid`; other uids (Linux, EDR-specific) are not GUIDs and are left out.
fn guid(v: &Value, path: &str) -> Result<Option<u128>, String> {
    Ok(string(v, path)?.and_then(|s| parse_guid(&s)))
}

fn kind(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

/// Flattens an object into dotted `key = text` attributes, in source order.
fn flatten(prefix: &str, map: &Map<String, Value>, out: &mut Vec<(String, String)>) {
    for (key, value) in map {
        let key = if prefix.is_empty() {
            key.clone()
        } else {
            format!("{prefix}.{key}")
        };
        match value {
            Value::Object(inner) => flatten(&key, inner, out),
            Value::String(s) => out.push((key, s.clone())),
            other => out.push((key, other.to_string())),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::intake::{LineReader, Record};

    const CLASSES: &str = include_str!("../../../tests/data/ocsf/classes.ndjson");
    const BAD: &str = include_str!("../../../tests/data/ocsf/bad.ndjson");

    /// The events of `classes.ndjson`, by line.
    fn classes() -> Vec<Event> {
        LineReader::new(CLASSES.as_bytes(), "classes.ndjson", Ocsf)
            .map(|r| r.unwrap_or_else(|e| panic!("{e}")))
            .collect()
    }

    fn attr<'a>(event: &'a Event, key: &str) -> Option<&'a str> {
        event
            .attributes
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.as_str())
    }

    #[test]
    fn process_launch() {
        let e = &classes()[0];
        assert_eq!(e.time, 1714557660000);
        assert_eq!(e.class, EventClass::Process);
        assert_eq!(
            (e.activity, e.outcome),
            (Activity::Create, Outcome::Success)
        );
        assert_eq!(e.source.format, "ocsf");
        assert_eq!(e.source.code, Some(1));
        assert_eq!(e.source.provider.as_deref(), Some("Example EDR"));
        assert_eq!(
            e.source.channel.as_deref(),
            Some("Microsoft-Windows-Sysmon/Operational")
        );
        assert_eq!(e.device.hostname.as_deref(), Some("WS01"));
        assert_eq!(e.device.domain.as_deref(), Some("CORP"));
        assert_eq!(e.device.ip, "10.0.0.21".parse().ok());
        let actor = e.actor.user.as_ref().expect("actor.user");
        assert_eq!(actor.name.as_deref(), Some("alice"));
        assert_eq!(actor.logon_id, Some(0x3e7a1));
        let parent = e.actor.process.as_ref().expect("actor.process");
        assert_eq!(parent.pid, Some(5100));
        assert_eq!(parent.guid, Some(0x5770385F_C22A_43E0_BF4C_06F5698FFBD9));
        let p = e.process.as_ref().expect("process");
        assert_eq!(p.pid, Some(7300));
        assert_eq!(p.guid, Some(0x5770385F_C22A_43E0_BF4C_06F5698FFBDA));
        assert_eq!(
            p.image.as_deref(),
            Some("C:\\Windows\\System32\\WindowsPowerShell\\v1.0\\powershell.exe")
        );
        assert!(p.cmd_line.as_deref().is_some_and(|c| c.contains("-enc")));
        assert_eq!(p.integrity, Integrity::Medium);
        assert_eq!(p.start_time, Some(1714557660000));
        assert_eq!(
            p.hashes.as_deref(),
            Some("SHA256=de96a6e69944335375dc1ac238336066889d9ffc7d73628ef4fe1b1b160ab32c")
        );
        assert_eq!(p.parent_pid, Some(5100));
        assert_eq!(
            e.user.as_ref().and_then(|u| u.uid.as_deref()),
            actor.uid.as_deref()
        );
        assert_eq!(parent.image, p.parent_image);
        assert!(
            p.parent_image
                .as_deref()
                .is_some_and(|i| i.ends_with("WINWORD.EXE"))
        );
        assert_eq!(attr(e, "Company"), Some("Microsoft Corporation"));
        assert_eq!(e.source.record_id, None);
        assert_eq!(attr(e, "metadata.uid"), Some("8f2c1a"));
    }

    #[test]
    fn authentication_failure_and_service_ticket() {
        let events = classes();
        let e = &events[1];
        assert_eq!(e.class, EventClass::Authentication);
        assert_eq!((e.activity, e.outcome), (Activity::Logon, Outcome::Failure));
        assert_eq!(
            (e.source.code, e.source.record_id),
            (Some(4625), Some(104522))
        );
        assert_eq!(
            e.user.as_ref().and_then(|u| u.name.as_deref()),
            Some("administrator")
        );
        let src = e.src.as_ref().expect("src");
        assert_eq!((src.ip, src.port), ("10.0.0.66".parse().ok(), Some(50056)));
        assert_eq!(src.hostname.as_deref(), Some("KALI"));
        let auth = e.auth.as_ref().expect("auth");
        assert_eq!(auth.logon_type, Some(3));
        assert_eq!(auth.protocol, AuthProtocol::Ntlm);
        assert_eq!(auth.status_code, Some(0xc000006a));
        assert_eq!(auth.logon_process.as_deref(), Some("NtLmSsp"));
        assert_eq!(
            attr(e, "status_detail"),
            Some("Unknown user name or bad password.")
        );
        assert_eq!(
            (attr(e, "is_mfa"), attr(e, "is_remote")),
            (Some("false"), Some("true"))
        );

        let e = &events[2];
        assert_eq!(
            (e.activity, e.outcome),
            (Activity::ServiceTicket, Outcome::Success)
        );
        let auth = e.auth.as_ref().expect("auth");
        assert_eq!(auth.protocol, AuthProtocol::Kerberos);
        assert_eq!(auth.service.as_deref(), Some("cifs/FS01.corp.local"));
        assert_eq!(e.user.as_ref().and_then(|u| u.logon_id), Some(0x1a2b));
        assert_eq!(
            e.src.as_ref().and_then(|s| s.ip),
            "::ffff:10.0.0.21".parse().ok()
        );
    }

    #[test]
    fn network_refused_and_flow() {
        let events = classes();
        let e = &events[3];
        assert_eq!(
            (e.class, e.activity),
            (EventClass::Network, Activity::Refuse)
        );
        let n = e.network.as_ref().expect("network");
        assert_eq!((n.transport, n.protocol_num), (Transport::Tcp, Some(6)));
        assert_eq!(
            (n.direction, n.disposition),
            (Direction::Lateral, Disposition::Blocked)
        );
        assert_eq!((n.bytes_out, n.packets_out), (Some(60), Some(1)));
        assert_eq!(e.dst.as_ref().and_then(|d| d.port), Some(21));
        assert!(
            e.actor.process.as_ref().and_then(|p| p.image.as_deref())
                == Some("C:\\Tools\\nmap.exe")
        );

        let e = &events[4];
        assert_eq!(e.activity, Activity::Traffic);
        assert_eq!(e.source.provider.as_deref(), Some("Amazon VPC"));
        let n = e.network.as_ref().expect("network");
        assert_eq!(
            (n.transport, n.direction, n.disposition),
            (Transport::Tcp, Direction::Outbound, Disposition::Allowed)
        );
        assert_eq!((n.bytes_in, n.bytes_out), (Some(5200), Some(760)));
        assert_eq!(
            e.dst.as_ref().and_then(|d| d.ip),
            "93.184.216.34".parse().ok()
        );
    }

    #[test]
    fn file_create() {
        let e = &classes()[5];
        assert_eq!((e.class, e.activity), (EventClass::File, Activity::Create));
        let f = e.file.as_ref().expect("file");
        assert_eq!(
            f.path.as_deref(),
            Some("C:\\Users\\alice\\AppData\\Local\\Temp\\x7f3.exe")
        );
        assert_eq!(
            f.hashes.as_deref(),
            Some(
                "MD5=0c1d2e3f4a5b6c7d8e9f0a1b2c3d4e5f,SHA1=aa11bb22cc33dd44ee55ff66aa77bb88cc99dd00"
            )
        );
        assert!(
            e.actor
                .process
                .as_ref()
                .is_some_and(|p| p.pid == Some(7300))
        );
    }

    #[test]
    fn registry_value_and_key() {
        let events = classes();
        let e = &events[6];
        assert_eq!(
            (e.class, e.activity),
            (EventClass::Registry, Activity::Modify)
        );
        let r = e.registry.as_ref().expect("registry");
        assert!(
            r.key
                .as_deref()
                .is_some_and(|k| k.ends_with("\\CurrentVersion\\Run"))
        );
        assert_eq!(r.value_name.as_deref(), Some("Updater"));
        assert!(
            r.value_data
                .as_deref()
                .is_some_and(|d| d.ends_with("x7f3.exe"))
        );
        assert_eq!(attr(e, "ocsf.class_uid"), Some("201002"));

        let e = &events[7];
        assert_eq!(
            (e.class, e.activity),
            (EventClass::Registry, Activity::Create)
        );
        let r = e.registry.as_ref().expect("registry");
        assert_eq!(
            r.key.as_deref(),
            Some("HKLM\\SYSTEM\\CurrentControlSet\\Services\\PSEXESVC")
        );
        assert_eq!(r.value_name, None);
    }

    #[test]
    fn dns_query() {
        let e = &classes()[8];
        assert_eq!((e.class, e.activity), (EventClass::Dns, Activity::Query));
        let q = e.query.as_ref().expect("query");
        assert_eq!(q.name.as_deref(), Some("evil.example.net"));
        assert_eq!(q.code, Some(1));
        assert_eq!(q.detail.as_deref(), Some("203.0.113.7,203.0.113.8"));
        assert_eq!(
            e.network.as_ref().map(|n| n.transport),
            Some(Transport::Udp)
        );
    }

    #[test]
    fn http_request() {
        let e = &classes()[9];
        assert_eq!((e.class, e.activity), (EventClass::Http, Activity::Query));
        let q = e.query.as_ref().expect("query");
        assert_eq!(
            q.name.as_deref(),
            Some("http://evil.example.net/p/x7f3.exe")
        );
        assert_eq!((q.code, q.detail.as_deref()), (Some(200), Some("GET")));
        assert!(
            q.user_agent
                .as_deref()
                .is_some_and(|a| a.contains("PowerShell"))
        );
        assert_eq!(e.dst.as_ref().and_then(|d| d.port), Some(80));
    }

    #[test]
    fn scheduled_job_create() {
        let e = &classes()[10];
        assert_eq!((e.class, e.activity), (EventClass::Job, Activity::Create));
        let j = e.job.as_ref().expect("job");
        assert_eq!(j.kind, JobKind::ScheduledTask);
        assert_eq!(j.name.as_deref(), Some("\\Microsoft\\Windows\\Updater"));
        assert!(j.command.as_deref().is_some_and(|c| c.ends_with("/silent")));
        assert_eq!(j.account.as_deref(), Some("NT AUTHORITY\\SYSTEM"));
    }

    #[test]
    fn unknown_class_is_other_with_its_fields_flattened() {
        let e = &classes()[11];
        assert_eq!((e.class, e.activity), (EventClass::Other, Activity::Other));
        assert_eq!(e.outcome, Outcome::Success);
        assert_eq!(e.device.hostname.as_deref(), Some("DC01"));
        assert_eq!(attr(e, "class_uid"), Some("3001"));
        assert_eq!(attr(e, "user.name"), Some("svc_backup"));
        assert_eq!(attr(e, "metadata.product.name"), Some("Microsoft Windows"));
    }

    #[test]
    fn every_class_line_reads_and_is_detected_as_ocsf() {
        assert_eq!(classes().len(), 12);
        for line in CLASSES.lines() {
            assert_eq!(
                crate::intake::detect::detect_line(line),
                Ok(crate::intake::Format::Ocsf),
                "{line}"
            );
        }
    }

    #[test]
    fn bad_lines_name_the_field() {
        let records: Vec<Record> = LineReader::new(BAD.as_bytes(), "bad.ndjson", Ocsf).collect();
        let messages: Vec<String> = records
            .iter()
            .map(|r| r.as_ref().expect_err("every line is bad").to_string())
            .collect();
        let expected = [
            "bad.ndjson:1: field `time`: missing",
            "bad.ndjson:2: field `class_uid`: missing",
            "bad.ndjson:3: field `class_uid`: \"process\" is not a whole number",
            "bad.ndjson:4: field `time`: `yesterday` is not ms or an RFC 3339 time",
            "bad.ndjson:5: field `src_endpoint.ip`: `10.0.0.300` is not an IP address",
            "bad.ndjson:6: field `dst_endpoint.port`: 70000 is out of range",
            "bad.ndjson:7: field `process.pid`: \"seven\" is not a whole number",
            "bad.ndjson:8: expected a JSON object",
            "bad.ndjson:9: field `process.cmd_line`: expected a string, found an object",
        ];
        assert_eq!(messages.len(), expected.len(), "{messages:#?}");
        for (message, start) in messages.iter().zip(expected) {
            assert!(message.starts_with(start), "{message} should start {start}");
        }
    }

    #[test]
    fn script_activity_is_not_read_yet_and_stays_whole() {
        let line = r#"{"class_uid":1009,"activity_id":1,"time":1,"script":{"script_content":"x"}}"#;
        let e = Ocsf.parse(line).expect("reads").expect("an event");
        assert_eq!((e.class, e.activity), (EventClass::Other, Activity::Other));
        assert_eq!(attr(&e, "script.script_content"), Some("x"));
    }

    #[test]
    fn times_in_other_spellings() {
        let e = event_from_ocsf(&serde_json::json!({"class_uid": 4003, "time": 1.5e12}))
            .expect("float ms");
        assert_eq!(e.time, 1_500_000_000_000);
        let e = event_from_ocsf(
            &serde_json::json!({"class_uid": 4003, "time_dt": "2024-05-01T10:00:01.250Z"}),
        )
        .expect("time_dt");
        assert_eq!(e.time, 1714557601250);
    }
}
