//! Windows events as JSON lines, in two shapes, read into a [`WinRecord`] and mapped by
//! `windows`:
//! - `evtx_dump -o jsonl` / the `evtx` crate (`{"Event":{"System":{…},"EventData":{…}}}`),
//!   with attributes nested (`"#attributes"`) or beside their element (`Provider_attributes`);
//! - the flat NXLog shape (`EventID`, `Channel`, `Hostname`, `EventTime`, `@timestamp`, data
//!   fields at top level), as the OTRF Security-Datasets ship it. NXLog's and Logstash's own
//!   fields are dropped (docs/adapters-windows.md lists them).

use serde_json::{Map, Value};

use super::LineAdapter;
use super::windows::{WinRecord, parse_number, to_event};
use crate::event::Event;

/// `source.format` of events read from JSON lines.
const FORMAT: &str = "winevent-json";

/// Windows event JSON lines (`--format winevent-json`).
#[derive(Debug, Default)]
pub struct WinJson;

impl LineAdapter for WinJson {
    fn parse(&mut self, line: &str) -> Result<Option<Event>, String> {
        let value: Value = serde_json::from_str(line).map_err(|e| format!("not JSON: {e}"))?;
        let Value::Object(top) = &value else {
            return Err("expected a JSON object (one Windows event per line)".to_owned());
        };
        let rec = if top.get("Event").is_some_and(Value::is_object) {
            dump_record(&value)?
        } else if top.contains_key("EventID") {
            flat_record(top)?
        } else {
            return Err(
                "missing field `EventID` (neither an evtx_dump `Event` nor a flat NXLog record)"
                    .to_owned(),
            );
        };
        to_event(&rec, FORMAT)
    }
}

/// One record in the `evtx_dump` JSON shape (`{"Event":{"System":{…},"EventData":{…}}}`),
/// as the `evtx` crate also produces it, into an event. Used by the EVTX reader.
pub(crate) fn event_from_dump(value: &serde_json::Value) -> Result<Option<Event>, String> {
    to_event(&dump_record(value)?, "evtx")
}

// ---------------------------------------------------------------------------------------
// evtx_dump shape

/// `name` of `obj`, or `#text` inside it when the element also has attributes.
fn text_of<'a>(obj: &'a Map<String, Value>, name: &str) -> Option<&'a Value> {
    match obj.get(name)? {
        Value::Object(inner) => inner.get("#text"),
        v => Some(v),
    }
}

/// Attribute `attr` of element `name`: `name.#attributes.attr` or `name_attributes.attr`.
fn attr_of<'a>(obj: &'a Map<String, Value>, name: &str, attr: &str) -> Option<&'a Value> {
    obj.get(name)
        .and_then(|e| e.get("#attributes"))
        .and_then(|a| a.get(attr))
        .or_else(|| obj.get(&format!("{name}_attributes"))?.get(attr))
}

/// A scalar as text; `null`, objects and arrays are not scalars.
fn scalar(v: &Value) -> Option<String> {
    match v {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        Value::Bool(b) => Some(b.to_string()),
        _ => None,
    }
}

fn dump_record(value: &Value) -> Result<WinRecord, String> {
    let event = value
        .get("Event")
        .and_then(Value::as_object)
        .ok_or("missing field `Event`")?;
    let system = event
        .get("System")
        .and_then(Value::as_object)
        .ok_or("missing field `Event.System`")?;
    let event_id = match text_of(system, "EventID") {
        None => return Err("missing field `Event.System.EventID`".to_owned()),
        Some(v) => Some(
            scalar(v)
                .and_then(|t| parse_number(&t))
                .and_then(|n| u32::try_from(n).ok())
                .ok_or_else(|| format!("field `Event.System.EventID`: `{v}` is not an event id"))?,
        ),
    };
    let time = match attr_of(system, "TimeCreated", "SystemTime") {
        None => return Err("missing field `Event.System.TimeCreated.SystemTime`".to_owned()),
        Some(v) => {
            let text = scalar(v).unwrap_or_default();
            Some(parse_utc(&text).ok_or_else(|| {
                format!("field `Event.System.TimeCreated.SystemTime`: `{text}` is not a UTC time")
            })?)
        }
    };
    let mut rec = WinRecord {
        provider: attr_of(system, "Provider", "Name").and_then(scalar),
        channel: text_of(system, "Channel").and_then(scalar),
        event_id,
        record_id: text_of(system, "EventRecordID")
            .and_then(scalar)
            .and_then(|t| parse_number(&t)),
        time,
        computer: text_of(system, "Computer").and_then(scalar),
        keywords: text_of(system, "Keywords")
            .and_then(scalar)
            .and_then(|t| parse_number(&t)),
        user_sid: attr_of(system, "Security", "UserID").and_then(scalar),
        message: event
            .get("RenderingInfo")
            .and_then(|r| r.get("Message"))
            .and_then(scalar),
        ..WinRecord::default()
    };
    if let Some(data) = event.get("EventData") {
        event_data(data, &mut rec.data);
    }
    if let Some(Value::Object(user_data)) = event.get("UserData") {
        // UserData holds one provider-defined element; its children are the fields
        for inner in user_data.values() {
            match inner {
                Value::Object(_) => flatten("", inner, &mut rec.data),
                other => flatten("UserData", other, &mut rec.data),
            }
        }
    }
    Ok(rec)
}

/// EventData: named `<Data Name="x">` become `x`; unnamed `<Data>` become `param1`, `param2`….
fn event_data(data: &Value, out: &mut Vec<(String, String)>) {
    let Value::Object(map) = data else {
        return;
    };
    for (name, value) in map {
        if name == "#attributes" || name.ends_with("_attributes") {
            continue;
        }
        if name == "Data" {
            let items: Vec<&Value> = match value {
                Value::Object(o) => match o.get("#text") {
                    Some(Value::Array(a)) => a.iter().collect(),
                    Some(v) => vec![v],
                    None => Vec::new(),
                },
                Value::Array(a) => a.iter().collect(),
                v => vec![v],
            };
            for (i, item) in items.into_iter().enumerate() {
                if let Some(text) = scalar(item) {
                    out.push((format!("param{}", i + 1), text));
                }
            }
            continue;
        }
        flatten(name, value, out);
    }
}

/// Nested elements as dotted names; `#text` is the element itself, attributes `name.attr`.
fn flatten(prefix: &str, value: &Value, out: &mut Vec<(String, String)>) {
    let join = |k: &str| {
        if prefix.is_empty() {
            k.to_owned()
        } else {
            format!("{prefix}.{k}")
        }
    };
    match value {
        Value::Object(map) => {
            // namespace declarations are XML plumbing, not data
            for (k, v) in map.iter().filter(|(k, _)| !k.starts_with("xmlns")) {
                match k.as_str() {
                    "#text" => flatten(prefix, v, out),
                    "#attributes" => flatten(prefix, v, out),
                    _ => flatten(&join(k), v, out),
                }
            }
        }
        Value::Array(items) => {
            let texts: Vec<String> = items.iter().filter_map(scalar).collect();
            if !texts.is_empty() && !prefix.is_empty() {
                out.push((prefix.to_owned(), texts.join("\n")));
            }
        }
        Value::Null => {}
        v => {
            if let (Some(text), false) = (scalar(v), prefix.is_empty()) {
                out.push((prefix.to_owned(), text));
            }
        }
    }
}

/// An RFC 3339 time; a time without an offset is read as UTC.
fn parse_utc(text: &str) -> Option<i64> {
    let t = text.trim();
    t.parse::<jiff::Timestamp>()
        .or_else(|_| format!("{}Z", t.replacen(' ', "T", 1)).parse::<jiff::Timestamp>())
        .ok()
        .map(|ts| ts.as_millisecond())
}

// ---------------------------------------------------------------------------------------
// flat NXLog shape

/// Fields NXLog or Logstash add, or that repeat System facts: not event data, dropped.
const NXLOG_FIELDS: &[&str] = &[
    "EventReceivedTime",
    "SourceModuleName",
    "SourceModuleType",
    "SeverityValue",
    "Severity",
    "@version",
    "port",
    "tags",
    "ThreadID",
    "ExecutionProcessID",
    "Opcode",
    "OpcodeValue",
    "Task",
    "Version",
    "ProviderGuid",
    "Category",
    "EventTypeOrignal",
    "AccountType",
    "ERROR_EVT_UNRESOLVED",
    "ActivityID",
    "RelatedActivityID",
];

/// NXLog's own `EventType` values; any other value is the event's data (Sysmon 12's
/// `CreateKey`…).
const NXLOG_EVENT_TYPES: &[&str] = &[
    "INFO",
    "WARNING",
    "ERROR",
    "CRITICAL",
    "VERBOSE",
    "AUDIT_SUCCESS",
    "AUDIT_FAILURE",
];

fn flat_record(top: &Map<String, Value>) -> Result<WinRecord, String> {
    let str_of = |k: &str| top.get(k).and_then(scalar);
    let event_id = match top.get("EventID") {
        None | Some(Value::Null) => return Err("missing field `EventID`".to_owned()),
        Some(v) => scalar(v)
            .and_then(|t| parse_number(&t))
            .and_then(|n| u32::try_from(n).ok())
            .ok_or_else(|| format!("field `EventID`: `{v}` is not an event id"))?,
    };
    let time = flat_time(top)?;
    let user_sid = str_of("UserID");
    // With `UserID`, NXLog resolves it into AccountName and Domain (overwriting data fields
    // of the same names, e.g. 7045's AccountName).
    let resolved = user_sid.is_some();
    let mut rec = WinRecord {
        provider: str_of("SourceName").or_else(|| str_of("ProviderName")),
        channel: str_of("Channel"),
        event_id: Some(event_id),
        record_id: str_of("RecordNumber").and_then(|t| parse_number(&t)),
        time: Some(time),
        computer: str_of("Hostname").or_else(|| str_of("host")),
        keywords: top.get("Keywords").and_then(|k| match k {
            Value::Number(n) => n.as_i64().map(|i| i as u64).or(n.as_u64()),
            Value::String(s) => parse_number(s),
            _ => None,
        }),
        user_name: if resolved {
            str_of("AccountName")
        } else {
            None
        },
        user_domain: if resolved { str_of("Domain") } else { None },
        user_sid,
        message: str_of("Message"),
        data: Vec::new(),
    };
    if rec.keywords.is_none() {
        rec.keywords = match str_of("EventType").as_deref() {
            Some("AUDIT_SUCCESS") => Some(0x0020_0000_0000_0000),
            Some("AUDIT_FAILURE") => Some(0x0010_0000_0000_0000),
            _ => None,
        };
    }
    for (k, v) in top {
        let system = matches!(
            k.as_str(),
            "EventID"
                | "Channel"
                | "SourceName"
                | "ProviderName"
                | "RecordNumber"
                | "Hostname"
                | "host"
                | "Keywords"
                | "UserID"
                | "Message"
                | "EventTime"
                | "@timestamp"
        ) || (resolved && matches!(k.as_str(), "AccountName" | "Domain"))
            || NXLOG_FIELDS.contains(&k.as_str())
            || (k == "EventType" && v.as_str().is_some_and(|t| NXLOG_EVENT_TYPES.contains(&t)));
        if system {
            continue;
        }
        match v {
            Value::Null => {}
            Value::Object(_) | Value::Array(_) => rec.data.push((k.clone(), v.to_string())),
            v => {
                if let Some(text) = scalar(v) {
                    rec.data.push((k.clone(), text));
                }
            }
        }
    }
    Ok(rec)
}

/// The event time. NXLog's `EventTime` is the event's own time but in the collector's local
/// time without an offset; the offset is the difference between `EventReceivedTime` (local)
/// and `@timestamp` (UTC, when Logstash received it), rounded to 15 minutes. Without both,
/// `@timestamp` is used; an `EventTime` alone is read as UTC.
fn flat_time(top: &Map<String, Value>) -> Result<i64, String> {
    let get = |k: &str| top.get(k).and_then(Value::as_str).map(str::trim);
    let stamp = match get("@timestamp") {
        Some(t) => Some(
            t.parse::<jiff::Timestamp>()
                .map(|ts| ts.as_millisecond())
                .map_err(|e| format!("field `@timestamp`: `{t}` is not an RFC 3339 time: {e}"))?,
        ),
        None => None,
    };
    if let Some(event_time) = get("EventTime") {
        if let Ok(ts) = event_time.parse::<jiff::Timestamp>() {
            return Ok(ts.as_millisecond());
        }
        let local = parse_utc(event_time)
            .ok_or_else(|| format!("field `EventTime`: `{event_time}` is not a time"))?;
        let offset = match (get("EventReceivedTime").and_then(parse_utc), stamp) {
            (Some(received), Some(stamp)) => {
                const QUARTER: i64 = 15 * 60 * 1000;
                ((received - stamp) as f64 / QUARTER as f64).round() as i64 * QUARTER
            }
            (_, Some(stamp)) => return Ok(stamp),
            _ => 0,
        };
        return Ok(local - offset);
    }
    stamp.ok_or_else(|| "missing field `@timestamp` or `EventTime` (no event time)".to_owned())
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;
    use std::io::{BufRead, BufReader};
    use std::path::Path;

    use super::*;
    use crate::event::{Activity, AuthProtocol, EventClass};

    fn parse(line: &str) -> Event {
        WinJson
            .parse(line)
            .expect("the line parses")
            .expect("the line is an event")
    }

    #[test]
    fn evtx_dump_shape_with_nested_attributes() {
        let line = r##"{"Event":{"#attributes":{"xmlns":"http://schemas.microsoft.com/win/2004/08/events/event"},"System":{"Provider":{"#attributes":{"Name":"Microsoft-Windows-Security-Auditing","Guid":"{54849625-5478-4994-a5ba-3e3b0328c30d}"}},"EventID":4624,"Version":2,"Level":0,"Task":12544,"Opcode":0,"Keywords":"0x8020000000000000","TimeCreated":{"#attributes":{"SystemTime":"2019-03-19T23:34:20.213916Z"}},"EventRecordID":4433,"Correlation":null,"Execution":{"#attributes":{"ProcessID":588,"ThreadID":1612}},"Channel":"Security","Computer":"IEWIN7","Security":null},"EventData":{"SubjectUserSid":"S-1-0-0","TargetUserName":"IEUser","TargetDomainName":"IEWIN7","TargetLogonId":"0x1d4b18","LogonType":9,"LogonProcessName":"seclogo","AuthenticationPackageName":"Negotiate","IpAddress":"::1","IpPort":"0","ImpersonationLevel":"%%1833"}}}"##;
        let ev = parse(line);
        assert_eq!(ev.source.format, "winevent-json");
        assert_eq!(ev.source.code, Some(4624));
        assert_eq!(ev.source.record_id, Some(4433));
        assert_eq!(ev.time, 1_553_038_460_213);
        assert_eq!(ev.device.hostname.as_deref(), Some("IEWIN7"));
        assert_eq!(ev.class, EventClass::Authentication);
        let auth = ev.auth.as_ref().expect("auth");
        assert_eq!(auth.logon_type, Some(9), "a number in the dump is read too");
        assert_eq!(auth.protocol, AuthProtocol::Negotiate);
        assert_eq!(ev.user.as_ref().and_then(|u| u.logon_id), Some(0x1d4b18));

        let same = event_from_dump(&serde_json::from_str(line).expect("json"))
            .expect("maps")
            .expect("event");
        assert_eq!(same.source.format, "evtx");
        assert_eq!(same.auth, ev.auth);
    }

    #[test]
    fn evtx_dump_shape_with_separate_attributes_qualifiers_and_unnamed_data() {
        let line = r##"{"Event_attributes":{"xmlns":"x"},"Event":{"System":{"Provider_attributes":{"Name":"Service Control Manager","EventSourceName":"Service Control Manager"},"EventID_attributes":{"Qualifiers":"16384"},"EventID":"7036","TimeCreated_attributes":{"SystemTime":"2020-09-20T16:17:14.1234567Z"},"EventRecordID":"1389","Channel":"System","Computer":"MORDORDC.theshire.local","Security":null},"EventData":{"Data":{"#text":["Network Setup Service","running"]},"Binary":"4E0065007400"}}}"##;
        let ev = parse(line);
        assert_eq!(ev.source.code, Some(7036));
        assert_eq!(
            ev.source.provider.as_deref(),
            Some("Service Control Manager")
        );
        assert_eq!(ev.time, 1_600_618_634_123);
        assert_eq!(
            (ev.class, ev.activity),
            (EventClass::Job, Activity::Execute)
        );
        assert_eq!(
            ev.job.as_ref().and_then(|j| j.name.as_deref()),
            Some("Network Setup Service")
        );
        let ev = parse(
            r##"{"Event":{"System":{"Provider":{"#attributes":{"Name":"Service Control Manager"}},"EventID":{"#attributes":{"Qualifiers":16384},"#text":7045},"TimeCreated":{"#attributes":{"SystemTime":"2020-09-20T16:16:56Z"}},"Channel":"System","Computer":"WS6"},"EventData":{"ServiceName":"Updater","ImagePath":"cmd /c x","ServiceType":"user mode service","StartType":"demand start","AccountName":"LocalSystem"}}}"##,
        );
        assert_eq!(ev.source.code, Some(7045));
        assert_eq!(
            ev.job.as_ref().and_then(|j| j.command.as_deref()),
            Some("cmd /c x")
        );
    }

    #[test]
    fn user_data_fields_are_flattened_under_their_names() {
        let ev = parse(
            r##"{"Event":{"System":{"Provider":{"#attributes":{"Name":"Microsoft-Windows-Eventlog"}},"EventID":1102,"TimeCreated":{"#attributes":{"SystemTime":"2020-09-20T16:16:56Z"}},"Channel":"Security","Computer":"WS6"},"UserData":{"LogFileCleared":{"#attributes":{"xmlns":"http://manifests.microsoft.com/win/2004/08/windows/eventlog"},"SubjectUserSid":"S-1-5-21-1","SubjectUserName":"pgustavo","SubjectDomainName":"THESHIRE","SubjectLogonId":"0x2990d17"}}}}"##,
        );
        assert_eq!(ev.class, EventClass::Other);
        assert!(
            ev.attributes
                .contains(&("SubjectUserName".into(), "pgustavo".into()))
        );
    }

    #[test]
    fn malformed_records_name_the_missing_field() {
        let mut a = WinJson;
        let e = a
            .parse(r##"{"Event":{"System":{"EventID":4624,"Channel":"Security"}}}"##)
            .expect_err("no time");
        assert!(e.contains("TimeCreated"), "{e}");
        let e = a
            .parse(r##"{"Event":{"System":{"TimeCreated":{"#attributes":{"SystemTime":"2020-01-01T00:00:00Z"}}}}}"##)
            .expect_err("no id");
        assert!(e.contains("EventID"), "{e}");
        let e = a.parse(r##"{"Channel":"Security"}"##).expect_err("no id");
        assert!(e.contains("EventID"), "{e}");
        let e = a
            .parse(r##"{"EventID":4624,"Channel":"Security"}"##)
            .expect_err("no time");
        assert!(e.contains("@timestamp"), "{e}");
        let e = a
            .parse(r##"{"EventID":"x","@timestamp":"2020-01-01T00:00:00Z"}"##)
            .expect_err("bad id");
        assert!(e.contains("`EventID`"), "{e}");
        assert!(a.parse("[1]").is_err());
    }

    #[test]
    fn flat_shape_time_is_event_time_in_utc_and_nxlog_fields_are_dropped() {
        let ev = parse(
            r##"{"EventTime":"2020-09-20 12:16:56","EventReceivedTime":"2020-09-20 12:16:58","@timestamp":"2020-09-20T16:16:58.233Z","EventID":7045,"Channel":"System","SourceName":"Service Control Manager","Hostname":"WORKSTATION6.theshire.local","host":"wec.internal.cloudapp.net","RecordNumber":1075,"Keywords":-9187343239835811840,"EventType":"INFO","SeverityValue":2,"port":64545,"tags":["mordorDataset"],"UserID":"S-1-5-21-1-1104","AccountName":"pgustavo","Domain":"THESHIRE","ServiceName":"Updater","ImagePath":"cmd /c x","ServiceType":"user mode service","StartType":"demand start"}"##,
        );
        assert_eq!(ev.time, 1_600_618_616_000, "12:16:56 EDT is 16:16:56 UTC");
        assert_eq!(ev.device.hostname.as_deref(), Some("WORKSTATION6"));
        assert_eq!(ev.source.record_id, Some(1075));
        let job = ev.job.as_ref().expect("job");
        assert_eq!(job.name.as_deref(), Some("Updater"));
        assert_eq!(
            job.account, None,
            "NXLog overwrote AccountName with the installer"
        );
        let installer = ev.actor.user.as_ref().expect("installer");
        assert_eq!(installer.name.as_deref(), Some("pgustavo"));
        assert_eq!(installer.uid.as_deref(), Some("S-1-5-21-1-1104"));
        assert_eq!(
            ev.attributes,
            vec![("ServiceType".to_owned(), "user mode service".to_owned())]
        );
    }

    #[test]
    fn flat_shape_keeps_a_data_event_type() {
        let ev = parse(
            r##"{"@timestamp":"2020-09-20T16:16:58.233Z","EventID":12,"Channel":"Microsoft-Windows-Sysmon/Operational","Hostname":"WS6","EventType":"DeleteKey","TargetObject":"HKLM\\Software\\X"}"##,
        );
        assert_eq!(
            (ev.class, ev.activity),
            (EventClass::Registry, Activity::Delete)
        );
    }

    /// Reads every line of a gzip JSON-lines file; returns events per class and failures.
    fn read_all(path: &Path) -> (Vec<Event>, BTreeMap<&'static str, usize>, Vec<String>) {
        let file = std::fs::File::open(path).expect("the sample opens");
        let reader = BufReader::new(flate2::read::MultiGzDecoder::new(file));
        let mut events = Vec::new();
        let mut classes = BTreeMap::new();
        let mut errors = Vec::new();
        let mut adapter = WinJson;
        for (i, line) in reader.lines().enumerate() {
            let line = line.expect("the sample is UTF-8 text");
            match adapter.parse(&line) {
                Ok(Some(ev)) => {
                    *classes.entry(ev.class.as_str()).or_insert(0) += 1;
                    events.push(ev);
                }
                Ok(None) => errors.push(format!("line {}: no event", i + 1)),
                Err(e) => errors.push(format!("line {}: {e}", i + 1)),
            }
        }
        (events, classes, errors)
    }

    #[test]
    fn every_otrf_line_maps_without_error() {
        let dir = Path::new(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../../shared/data/otrf"
        ));
        let Ok(entries) = std::fs::read_dir(dir) else {
            println!("skipped: {} is absent (no ../shared)", dir.display());
            return;
        };
        let mut files: Vec<_> = entries
            .filter_map(Result::ok)
            .map(|e| e.path())
            .filter(|p| p.to_string_lossy().ends_with(".json.gz"))
            .collect();
        files.sort();
        assert!(!files.is_empty(), "no OTRF captures in {}", dir.display());
        for path in files {
            let (events, classes, errors) = read_all(&path);
            println!(
                "{}: {} events {:?}",
                path.file_name()
                    .map(|n| n.to_string_lossy())
                    .unwrap_or_default(),
                events.len(),
                classes
            );
            assert!(
                errors.is_empty(),
                "{}: {:?}",
                path.display(),
                &errors[..errors.len().min(5)]
            );
            for class in ["authentication", "process", "network", "registry", "file"] {
                assert!(
                    classes.contains_key(class),
                    "{}: no {class} event",
                    path.display()
                );
            }
        }
    }

    #[test]
    fn committed_psexec_sample_maps_the_attackers_logon() {
        let path = Path::new(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../tests/data/windows/otrf_empire_psexec_lines_1150-1449.json.gz"
        ));
        let (events, classes, errors) = read_all(path);
        println!("{}: {} events {:?}", path.display(), events.len(), classes);
        assert!(errors.is_empty(), "{errors:?}");
        assert_eq!(events.len(), 300);
        // the attacker: THESHIRE\pgustavo from WORKSTATION5 (172.18.39.5) onto WORKSTATION6
        let logon = events
            .iter()
            .find(|e| {
                e.source.code == Some(4624)
                    && e.device.hostname.as_deref() == Some("WORKSTATION6")
                    && e.user.as_ref().and_then(|u| u.name.as_deref()) == Some("pgustavo")
            })
            .expect("the attacker's 4624 on WORKSTATION6");
        let auth = logon.auth.as_ref().expect("auth");
        assert_eq!(auth.logon_type, Some(3));
        assert_eq!(auth.protocol, AuthProtocol::Kerberos);
        let src = logon.src.as_ref().expect("source endpoint");
        assert_eq!(src.ip, "172.18.39.5".parse().ok());
        assert_eq!(logon.time, 1_600_618_616_000, "2020-09-20 16:16:56 UTC");
        let logon_id = logon.user.as_ref().and_then(|u| u.logon_id);
        assert!(logon_id.is_some());
        // the service the attacker installed, from both logs
        for code in [4697, 7045] {
            let install = events
                .iter()
                .find(|e| e.source.code == Some(code))
                .expect("service install");
            let job = install.job.as_ref().expect("job");
            assert_eq!(job.name.as_deref(), Some("Updater"), "{code}");
            assert!(
                job.command.as_deref().is_some_and(|c| c.contains("-enc")),
                "{code}"
            );
        }
        // 4697's subject session is the attacker's logon
        let install = events
            .iter()
            .find(|e| e.source.code == Some(4697))
            .expect("4697");
        assert_eq!(
            install.actor.user.as_ref().and_then(|u| u.logon_id),
            logon_id
        );
    }
}
