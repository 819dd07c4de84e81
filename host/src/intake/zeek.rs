//! Zeek `conn.log` into network events: TSV with its `#` header (one or more header blocks
//! per file), or JSON lines with dotted (`id.orig_h`), flattened (`id_orig_h`) or nested
//! (`"id": {"orig_h": …}`) keys. The column → field tables and the `conn_state` →
//! disposition table are in docs/adapters-network.md.

use super::common::{bad, cut};
use std::borrow::Cow;
use std::net::IpAddr;

use serde::Deserialize;
use serde::de::{Deserializer, MapAccess, Visitor};
use serde_json::Value;

use super::LineAdapter;
use crate::event::{
    Activity, Direction, Disposition, Endpoint, Event, EventClass, Network, Transport,
};

/// What the `#` lines of the current TSV block declared.
#[derive(Debug, Clone)]
struct Header {
    separator: String,
    set_separator: String,
    empty_field: String,
    unset_field: String,
    fields: Vec<String>,
    types: Vec<String>,
    /// `#path` names a log other than `conn`: the block's rows are skipped (one error, at
    /// the `#path` line, says so).
    other_path: bool,
}

impl Default for Header {
    /// Zeek's ASCII writer defaults.
    fn default() -> Self {
        Header {
            separator: "\t".to_owned(),
            set_separator: ",".to_owned(),
            empty_field: "(empty)".to_owned(),
            unset_field: "-".to_owned(),
            fields: Vec::new(),
            types: Vec::new(),
            other_path: false,
        }
    }
}

/// The conn.log adapter. Stateful: TSV rows are read with the header block above them.
#[derive(Debug, Default)]
pub struct ZeekConn {
    header: Header,
}

impl LineAdapter for ZeekConn {
    fn parse(&mut self, line: &str) -> Result<Option<Event>, String> {
        if let Some(directive) = line.strip_prefix('#') {
            self.header_line(directive)
        } else if line.starts_with('{') {
            json_fields(line).and_then(|fields| to_event(fields).map(Some))
        } else {
            self.tsv_row(line)
        }
    }
}

impl ZeekConn {
    /// One `#` line: `#separator \x09` starts a new block; the others set its parts.
    fn header_line(&mut self, directive: &str) -> Result<Option<Event>, String> {
        if let Some(value) = directive.strip_prefix("separator") {
            let separator = unescape(value.trim_start_matches([' ', '\t'])).into_owned();
            if separator.is_empty() {
                return Err("#separator: no separator given".to_owned());
            }
            self.header = Header {
                separator,
                ..Header::default()
            };
            return Ok(None);
        }
        let separator = self.header.separator.clone();
        let (key, value) = directive
            .split_once(separator.as_str())
            .unwrap_or((directive, ""));
        match key {
            "set_separator" => self.header.set_separator = unescape(value).into_owned(),
            "empty_field" => self.header.empty_field = unescape(value).into_owned(),
            "unset_field" => self.header.unset_field = unescape(value).into_owned(),
            "path" => {
                self.header.other_path = !is_conn_path(value);
                if self.header.other_path {
                    return Err(format!(
                        "#path: `{}` is not a conn log; the rows under this header are skipped",
                        cut(value)
                    ));
                }
            }
            "fields" => {
                self.header.fields = value
                    .split(separator.as_str())
                    .map(|name| canonical_key(&unescape(name)).into_owned())
                    .collect();
                if !self.header.fields.iter().any(|f| f == "ts") {
                    self.header.fields.clear();
                    return Err("#fields: no `ts` column".to_owned());
                }
            }
            "types" => {
                self.header.types = value.split(separator.as_str()).map(str::to_owned).collect();
            }
            // `#open`, `#close` and anything else: comments
            _ => {}
        }
        Ok(None)
    }

    /// One TSV row, read with the current header.
    fn tsv_row(&self, line: &str) -> Result<Option<Event>, String> {
        let header = &self.header;
        if header.other_path {
            return Ok(None);
        }
        if header.fields.is_empty() {
            return Err("a TSV row before any `#fields` header line".to_owned());
        }
        let columns: Vec<&str> = line.split(header.separator.as_str()).collect();
        if columns.len() != header.fields.len() {
            return Err(format!(
                "{} columns where the `#fields` header names {}",
                columns.len(),
                header.fields.len()
            ));
        }
        let mut fields = Vec::with_capacity(columns.len());
        for (i, (name, raw)) in header.fields.iter().zip(columns).enumerate() {
            if raw == header.unset_field || raw == header.empty_field {
                continue;
            }
            let is_container = header
                .types
                .get(i)
                .is_some_and(|t| t.starts_with("set[") || t.starts_with("vector["));
            let value = if is_container {
                raw.split(header.set_separator.as_str())
                    .map(unescape)
                    .collect::<Vec<_>>()
                    .join(",")
            } else {
                unescape(raw).into_owned()
            };
            fields.push((name.clone(), value));
        }
        to_event(fields).map(Some)
    }
}

/// A JSON object's entries in source order (serde_json's map may sort them).
struct Entries(Vec<(String, Value)>);

impl<'de> Deserialize<'de> for Entries {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct EntriesVisitor;
        impl<'de> Visitor<'de> for EntriesVisitor {
            type Value = Entries;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("a JSON object")
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Entries, A::Error> {
                let mut entries = Vec::new();
                while let Some(entry) = map.next_entry::<String, Value>()? {
                    entries.push(entry);
                }
                Ok(Entries(entries))
            }
        }
        d.deserialize_map(EntriesVisitor)
    }
}

/// A JSON line as (canonical key, text) pairs, absent values left out.
fn json_fields(line: &str) -> Result<Vec<(String, String)>, String> {
    let Entries(entries) =
        serde_json::from_str(line).map_err(|e| format!("not a JSON object: {e}"))?;
    let mut fields = Vec::with_capacity(entries.len());
    for (key, value) in entries {
        flatten(key, value, &mut fields);
    }
    // shippers that mix Zeek logs in one stream name each line's log in `_path`
    if let Some((_, path)) = fields.iter().find(|(k, _)| k == "_path")
        && !is_conn_path(path)
    {
        return Err(format!("_path: `{}` is not a conn log", cut(path)));
    }
    Ok(fields)
}

fn flatten(key: String, value: Value, out: &mut Vec<(String, String)>) {
    let text = match value {
        Value::Null => return,
        Value::Bool(b) => (if b { "T" } else { "F" }).to_owned(),
        Value::Number(n) => n.to_string(),
        Value::String(s) => s,
        Value::Array(items) => items
            .into_iter()
            .map(|item| match item {
                Value::String(s) => s,
                other => other.to_string(),
            })
            .collect::<Vec<_>>()
            .join(","),
        Value::Object(map) => {
            for (inner, value) in map {
                flatten(format!("{key}.{inner}"), value, out);
            }
            return;
        }
    };
    if text.is_empty() || text == "-" || text == "(empty)" {
        return;
    }
    out.push((canonical_key(&key).into_owned(), text));
}

/// `conn`, and the variants some sites write with the same columns (`conn_long`, `conn-…`).
fn is_conn_path(path: &str) -> bool {
    path == "conn" || path.starts_with("conn_") || path.starts_with("conn-")
}

/// `id_orig_h` (as some shippers flatten it) → `id.orig_h`.
fn canonical_key(key: &str) -> Cow<'_, str> {
    match key {
        "id_orig_h" => Cow::Borrowed("id.orig_h"),
        "id_orig_p" => Cow::Borrowed("id.orig_p"),
        "id_resp_h" => Cow::Borrowed("id.resp_h"),
        "id_resp_p" => Cow::Borrowed("id.resp_p"),
        other => Cow::Borrowed(other),
    }
}

/// Undoes Zeek's `\xHH` escapes (the separator and unprintable bytes in values).
fn unescape(text: &str) -> Cow<'_, str> {
    if !text.contains("\\x") {
        return Cow::Borrowed(text);
    }
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let escaped = match bytes.get(i..i + 4) {
            Some([b'\\', b'x', hi, lo]) => hex_digit(*hi).zip(hex_digit(*lo)),
            _ => None,
        };
        match escaped {
            Some((hi, lo)) => {
                out.push(hi << 4 | lo);
                i += 4;
            }
            None => {
                out.push(bytes[i]);
                i += 1;
            }
        }
    }
    Cow::Owned(String::from_utf8_lossy(&out).into_owned())
}

fn hex_digit(b: u8) -> Option<u8> {
    (b as char).to_digit(16).map(|d| d as u8)
}

/// The (column, value) pairs of one record into an event.
fn to_event(fields: Vec<(String, String)>) -> Result<Event, String> {
    let mut event = Event {
        class: EventClass::Network,
        activity: Activity::Traffic,
        ..Event::default()
    };
    event.source.format = "zeek-conn".to_owned();
    let mut network = Network::default();
    let mut src = Endpoint::default();
    let mut dst = Endpoint::default();
    let mut time = None;
    let mut ip_proto = None;
    let (mut local_orig, mut local_resp) = (None, None);
    let mut history = None;
    for (key, value) in fields {
        match key.as_str() {
            "ts" => time = Some(parse_time(&value).ok_or_else(|| bad(&key, "not a time", &value))?),
            "id.orig_h" => src.ip = Some(parse_ip(&key, &value)?),
            "id.orig_p" => src.port = Some(parse_port(&key, &value)?),
            "id.resp_h" => dst.ip = Some(parse_ip(&key, &value)?),
            "id.resp_p" => dst.port = Some(parse_port(&key, &value)?),
            "proto" => network.transport = transport(&value),
            "ip_proto" => {
                ip_proto = Some(
                    value
                        .parse::<u8>()
                        .map_err(|_| bad(&key, "not a protocol number", &value))?,
                )
            }
            "duration" => {
                let ms = seconds_to_ms(&value)
                    .and_then(|ms| u64::try_from(ms).ok())
                    .ok_or_else(|| bad(&key, "not a duration in seconds", &value))?;
                network.duration_ms = Some(ms);
            }
            "orig_bytes" => network.bytes_out = Some(parse_count(&key, &value)?),
            "resp_bytes" => network.bytes_in = Some(parse_count(&key, &value)?),
            "orig_pkts" => network.packets_out = Some(parse_count(&key, &value)?),
            "resp_pkts" => network.packets_in = Some(parse_count(&key, &value)?),
            "conn_state" => network.state = Some(value),
            "local_orig" | "local_resp" => {
                let local = Some(parse_bool(&key, &value)?);
                if key == "local_orig" {
                    local_orig = local;
                } else {
                    local_resp = local;
                }
                // kept as attributes too: the direction says less than the pair
                event.attributes.push((key, value));
            }
            "history" => {
                history = Some(value.clone());
                event.attributes.push((key, value));
            }
            _ => event.attributes.push((key, value)),
        }
    }
    event.time = time.ok_or("ts: missing")?;
    if network.transport == Transport::Icmp {
        // Zeek puts the ICMP type and code in the port columns: not ports
        if let Some(kind) = src.port.take() {
            event
                .attributes
                .push(("icmp.type".to_owned(), kind.to_string()));
        }
        if let Some(code) = dst.port.take() {
            event
                .attributes
                .push(("icmp.code".to_owned(), code.to_string()));
        }
    }
    network.protocol_num = ip_proto.or(match network.transport {
        Transport::Tcp => Some(6),
        Transport::Udp => Some(17),
        Transport::Icmp if src.ip.is_some_and(|ip| ip.is_ipv6()) => Some(58),
        Transport::Icmp => Some(1),
        Transport::Unknown | Transport::Other => None,
    });
    network.direction = match (local_orig, local_resp) {
        (Some(true), Some(true)) => Direction::Lateral,
        (Some(true), Some(false)) => Direction::Outbound,
        (Some(false), Some(true)) => Direction::Inbound,
        _ => Direction::Unknown,
    };
    if let Some(state) = network.state.as_deref() {
        let replied = replied(history.as_deref(), network.packets_in, network.bytes_in);
        network.disposition = disposition(state, history.as_deref(), replied);
    }
    event.src = Some(src);
    event.dst = Some(dst);
    event.network = Some(network);
    Ok(event)
}

/// Whether the responder sent anything: `Some(false)` only when the record says so.
fn replied(history: Option<&str>, packets_in: Option<u64>, bytes_in: Option<u64>) -> Option<bool> {
    // In `history`, upper case is the originator, lower case the responder.
    let by_history = history.map(|h| h.bytes().any(|b| b.is_ascii_lowercase()));
    let by_packets = packets_in.map(|n| n > 0);
    let by_bytes = bytes_in.filter(|n| *n > 0).map(|_| true);
    [by_history, by_packets, by_bytes]
        .into_iter()
        .flatten()
        .reduce(|a, b| a || b)
}

/// What the responder did, from Zeek's `conn_state` (docs/adapters-network.md has the table
/// and the reasons).
fn disposition(state: &str, history: Option<&str>, replied: Option<bool>) -> Disposition {
    // `h` in the history: the responder answered the SYN with a SYN-ACK; `d`: it sent data.
    let accepted = history.map(|h| h.contains('h') || h.contains('d'));
    match state {
        "S0" | "SH" | "RSTOS0" => Disposition::NoAnswer,
        "REJ" | "RSTRH" => Disposition::Rejected,
        "SF" | "S1" | "S2" | "S3" => Disposition::Established,
        // Zeek: "connection established, originator aborted". A half-open scan's hit on an
        // open port (`ShR`) is one: the peer accepted.
        "RSTO" => match (accepted, replied) {
            (Some(false), Some(false)) => Disposition::NoAnswer,
            _ => Disposition::Established,
        },
        // Zeek: "responder sent a RST" — after accepting (established, then reset) or not.
        "RSTR" => match accepted {
            Some(false) => Disposition::Rejected,
            _ => Disposition::Established,
        },
        // Midstream traffic, no handshake seen: only "no reply at all" says something.
        "OTH" => match replied {
            Some(false) => Disposition::NoAnswer,
            _ => Disposition::Unknown,
        },
        // `SHR` (the responder's SYN-ACK and FIN, the originator's SYN never seen) and
        // anything unknown.
        _ => Disposition::Unknown,
    }
}

fn transport(proto: &str) -> Transport {
    match proto.to_ascii_lowercase().as_str() {
        "tcp" => Transport::Tcp,
        "udp" => Transport::Udp,
        "icmp" => Transport::Icmp,
        "unknown_transport" => Transport::Unknown,
        _ => Transport::Other,
    }
}

/// `ts`: epoch seconds with a fraction (TSV, JSON), or an ISO 8601 time (JSON logs written
/// with `JSON::TS_ISO8601`). Truncated to ms.
fn parse_time(text: &str) -> Option<i64> {
    seconds_to_ms(text).or_else(|| {
        text.parse::<jiff::Timestamp>()
            .ok()
            .map(|ts| ts.as_millisecond())
    })
}

/// Decimal seconds (`1753688870.896911`, `-1.5`, `1.7e9`) → ms, truncated toward zero.
/// Read from the text, not through a float, so no microsecond is lost to rounding.
fn seconds_to_ms(text: &str) -> Option<i64> {
    const LIMIT_MS: i64 = 9_000_000_000_000_000;
    let (negative, digits) = match text.strip_prefix('-') {
        Some(rest) => (true, rest),
        None => (false, text),
    };
    let (whole, fraction) = digits.split_once('.').unwrap_or((digits, ""));
    let all_digits = |s: &str| s.bytes().all(|b| b.is_ascii_digit());
    if !all_digits(whole) || !all_digits(fraction) {
        if !text.contains(['e', 'E']) {
            return None;
        }
        let seconds: f64 = text.parse().ok()?;
        let ms = seconds * 1000.0;
        return (ms.is_finite() && ms.abs() < LIMIT_MS as f64).then_some(ms as i64);
    }
    if whole.is_empty() && fraction.is_empty() {
        return None;
    }
    let whole: i64 = if whole.is_empty() {
        0
    } else {
        whole.parse().ok()?
    };
    let mut millis = 0;
    for i in 0..3 {
        let digit = fraction
            .as_bytes()
            .get(i)
            .map_or(0, |b| i64::from(b - b'0'));
        millis = millis * 10 + digit;
    }
    let ms = whole.checked_mul(1000)?.checked_add(millis)?;
    (ms < LIMIT_MS).then_some(if negative { -ms } else { ms })
}

fn parse_ip(key: &str, value: &str) -> Result<IpAddr, String> {
    value
        .parse()
        .map_err(|_| bad(key, "not an IP address", value))
}

fn parse_port(key: &str, value: &str) -> Result<u16, String> {
    value.parse().map_err(|_| bad(key, "not a port", value))
}

fn parse_count(key: &str, value: &str) -> Result<u64, String> {
    value.parse().map_err(|_| bad(key, "not a count", value))
}

fn parse_bool(key: &str, value: &str) -> Result<bool, String> {
    match value {
        "T" | "true" => Ok(true),
        "F" | "false" => Ok(false),
        _ => Err(bad(key, "not a bool (T or F)", value)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::intake::{LineReader, Record};

    const TWO_BLOCKS: &str = include_str!("../../../tests/data/network/conn-two-blocks.log");
    const UNDERSCORED: &str = include_str!("../../../tests/data/network/conn-underscored.json");

    fn read(text: &str) -> Vec<Record> {
        LineReader::new(text.as_bytes(), "conn.log", ZeekConn::default()).collect()
    }

    fn events(text: &str) -> Vec<Event> {
        read(text)
            .into_iter()
            .map(|r| r.unwrap_or_else(|e| panic!("{e}")))
            .collect()
    }

    fn net(e: &Event) -> &Network {
        e.network.as_ref().expect("zeek events carry network")
    }

    fn attr<'a>(e: &'a Event, key: &str) -> Option<&'a str> {
        e.attributes
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.as_str())
    }

    fn ends(e: &Event) -> (String, String) {
        let ip = |ep: &Option<Endpoint>| {
            ep.as_ref()
                .and_then(|ep| ep.ip)
                .map_or_else(String::new, |ip| ip.to_string())
        };
        (ip(&e.src), ip(&e.dst))
    }

    #[test]
    fn tsv_with_two_header_blocks() {
        let events = events(TWO_BLOCKS);
        assert_eq!(events.len(), 15);
        let first = &events[0];
        assert_eq!(first.time, 1_714_557_600_000);
        assert_eq!(first.class, EventClass::Network);
        assert_eq!(first.activity, Activity::Traffic);
        assert_eq!(first.source.format, "zeek-conn");
        let src = first.src.as_ref().expect("src");
        let dst = first.dst.as_ref().expect("dst");
        assert_eq!((src.ip, src.port), ("10.0.0.5".parse().ok(), Some(49152)));
        assert_eq!((dst.ip, dst.port), ("10.0.0.10".parse().ok(), Some(445)));
        let n = net(first);
        assert_eq!((n.transport, n.protocol_num), (Transport::Tcp, Some(6)));
        assert_eq!(n.duration_ms, Some(1250));
        assert_eq!((n.bytes_out, n.bytes_in), (Some(1200), Some(3400)));
        assert_eq!((n.packets_out, n.packets_in), (Some(12), Some(10)));
        assert_eq!(n.state.as_deref(), Some("SF"));
        assert_eq!(n.direction, Direction::Lateral);
        assert_eq!(attr(first, "uid"), Some("CAAAAAAAAAAAAAAAA1"));
        assert_eq!(attr(first, "service"), Some("smb"));
        assert_eq!(attr(first, "history"), Some("ShADadFf"));
        // `-` and `(empty)` are absent
        assert_eq!(attr(first, "tunnel_parents"), None);
        assert_eq!(attr(&events[3], "tunnel_parents"), None);
        assert_eq!(net(&events[2]).bytes_out, None);
        assert_eq!(events[1].time, 1_714_557_601_123);
        assert_eq!(events[2].time, 1_714_557_602_500);
        // sets are joined with commas
        assert_eq!(
            attr(&events[14], "tunnel_parents"),
            Some("Ctunnel1,Ctunnel2")
        );
        assert_eq!(net(&events[3]).direction, Direction::Outbound);
        assert_eq!(net(&events[4]).direction, Direction::Inbound);
        let ping = &events[13];
        assert_eq!(net(ping).protocol_num, Some(1));
        assert_eq!(ping.src.as_ref().and_then(|e| e.port), None);
        assert_eq!(ping.dst.as_ref().and_then(|e| e.port), None);
        assert_eq!(attr(ping, "icmp.type"), Some("8"));
        assert_eq!(attr(ping, "icmp.code"), Some("0"));
    }

    #[test]
    fn fixtures_are_detected_as_zeek() {
        for text in [TWO_BLOCKS, UNDERSCORED] {
            let reader = Box::new(text.as_bytes());
            let (format, mut records) =
                crate::intake::from_reader(reader, "conn".to_owned(), crate::intake::Format::Auto)
                    .expect("readable");
            assert_eq!(format, crate::intake::Format::ZeekConn);
            assert!(records.all(|r| r.is_ok()));
        }
    }

    #[test]
    fn every_conn_state_has_its_disposition() {
        use Disposition::*;
        let expected = [
            ("SF", Established),
            ("REJ", Rejected),
            ("S0", NoAnswer),
            ("S1", Established),
            ("S2", Established),
            ("S3", Established),
            ("RSTO", Established), // ShR: a half-open scan's hit on an open port
            ("RSTR", Established), // ShAdfDr: reset after the handshake
            ("RSTOS0", NoAnswer),
            ("RSTRH", Rejected),
            ("SH", NoAnswer),
            ("SHR", Unknown),
            ("OTH", NoAnswer), // no reply
            ("OTH", Unknown),  // ICMP with a reply
            ("SF", Established),
        ];
        let events = events(TWO_BLOCKS);
        assert_eq!(events.len(), expected.len());
        for (event, (state, disposition)) in events.iter().zip(expected) {
            let n = net(event);
            assert_eq!(n.state.as_deref(), Some(state));
            assert_eq!(n.disposition, disposition, "{state}");
        }
        // RSTR and RSTO without the handshake; no history at all
        assert_eq!(disposition("RSTR", Some("Sr"), Some(true)), Rejected);
        assert_eq!(disposition("RSTR", None, None), Established);
        assert_eq!(disposition("RSTO", Some("SR"), Some(false)), NoAnswer);
        assert_eq!(disposition("OTH", None, None), Unknown);
        assert_eq!(disposition("XYZ", None, Some(true)), Unknown);
    }

    #[test]
    fn json_with_underscored_dotted_and_nested_keys() {
        let events = events(UNDERSCORED);
        assert_eq!(events.len(), 4);
        let rej = &events[0];
        assert_eq!(rej.time, 1_714_557_800_250);
        assert_eq!(ends(rej), ("10.0.0.66".to_owned(), "10.0.0.10".to_owned()));
        assert_eq!(rej.dst.as_ref().and_then(|d| d.port), Some(3389));
        assert_eq!(net(rej).disposition, Disposition::Rejected);
        assert_eq!(net(rej).duration_ms, Some(0));
        assert_eq!(attr(rej, "local_orig"), Some("T"));
        assert_eq!(net(&events[1]).duration_ms, Some(12_345));
        assert_eq!(net(&events[1]).direction, Direction::Outbound);
        assert_eq!(attr(&events[1], "tunnel_parents"), None);
        assert_eq!(net(&events[2]).direction, Direction::Inbound);
        assert_eq!(net(&events[2]).disposition, Disposition::NoAnswer);
        // ISO 8601 ts; ICMP over IPv6 is protocol 58
        assert_eq!(events[3].time, 1_714_557_803_750);
        assert_eq!(net(&events[3]).protocol_num, Some(58));
        assert_eq!(net(&events[3]).disposition, Disposition::NoAnswer);

        let nested = events_of(
            r#"{"ts":1.5,"id":{"orig_h":"10.0.0.1","orig_p":1,"resp_h":"10.0.0.2","resp_p":2},"proto":"udp","x":null}"#,
        );
        assert_eq!(nested.time, 1500);
        assert_eq!(
            ends(&nested),
            ("10.0.0.1".to_owned(), "10.0.0.2".to_owned())
        );
        assert_eq!(net(&nested).protocol_num, Some(17));
        let dotted = events_of(r#"{"ts":1e3,"id.orig_h":"10.0.0.1","ip_proto":58,"proto":"icmp"}"#);
        assert_eq!(dotted.time, 1_000_000);
        assert_eq!(net(&dotted).protocol_num, Some(58));
    }

    fn events_of(line: &str) -> Event {
        match ZeekConn::default().parse(line) {
            Ok(Some(event)) => event,
            other => panic!("{line}: {other:?}"),
        }
    }

    #[test]
    fn errors_name_the_column() {
        let header = "#separator \\x09\n#fields\tts\tid.orig_h\tid.orig_p\n";
        let records = read(&format!(
            "{header}1.0\t10.0.0.1\tx\n1.0\tnope\t1\nabc\t10.0.0.1\t1\n1.0\t10.0.0.1\n"
        ));
        let messages: Vec<String> = records
            .iter()
            .map(|r| {
                r.as_ref()
                    .map_or_else(|e| e.message.clone(), |_| "ok".into())
            })
            .collect();
        assert_eq!(
            messages,
            [
                r#"id.orig_p: not a port: "x""#,
                r#"id.orig_h: not an IP address: "nope""#,
                r#"ts: not a time: "abc""#,
                "2 columns where the `#fields` header names 3",
            ]
        );
        let mut zeek = ZeekConn::default();
        assert_eq!(
            zeek.parse("1.0\t10.0.0.1"),
            Err("a TSV row before any `#fields` header line".to_owned())
        );
        assert_eq!(
            zeek.parse(r#"{"id.orig_h":"10.0.0.1"}"#),
            Err("ts: missing".to_owned())
        );
        assert!(zeek.parse("[1]").is_err());
        assert_eq!(
            zeek.parse(r#"{"_path":"dns","ts":1}"#),
            Err("_path: `dns` is not a conn log".to_owned())
        );
        assert!(zeek.parse(r#"{"_path":"conn","ts":1}"#).is_ok());
        assert!(
            zeek.parse(r#"{"ts":1,"resp_bytes":-4}"#)
                .is_err_and(|e| e.starts_with("resp_bytes: not a count"))
        );
        // a block of another log: one error, then its rows are skipped
        assert!(zeek.parse("#separator \\x09").is_ok());
        assert!(zeek.parse("#path\tdns").is_err());
        assert_eq!(zeek.parse("#fields\tts\tquery"), Ok(None));
        assert_eq!(zeek.parse("1.0\texample.com"), Ok(None));
    }

    #[test]
    fn escapes_and_other_separators() {
        let mut zeek = ZeekConn::default();
        for line in [
            "#separator \\x2c",
            "#fields,ts,uid,history",
            "#types,time,string,string",
        ] {
            assert_eq!(zeek.parse(line), Ok(None), "{line}");
        }
        let event = zeek
            .parse("1.0,C1,a\\x2cb\\x09c")
            .ok()
            .flatten()
            .expect("a row");
        assert_eq!(attr(&event, "history"), Some("a,b\tc"));
        assert_eq!(unescape("\\x4"), "\\x4");
        assert_eq!(unescape("\\xzz\\x41"), "\\xzzA");
        assert_eq!(seconds_to_ms("-1.5"), Some(-1500));
        assert_eq!(seconds_to_ms(".25"), Some(250));
        assert_eq!(seconds_to_ms("."), None);
        assert_eq!(seconds_to_ms("1e400"), None);
        assert_eq!(seconds_to_ms("99999999999999999999"), None);
    }

    #[test]
    fn garbage_never_panics() {
        const PIECES: &[&str] = &[
            "#separator ",
            "\\x",
            "\\x09",
            "\t",
            ",",
            "#fields",
            "#types",
            "#path",
            "ts",
            "id.orig_h",
            "id_orig_p",
            "{",
            "}",
            "\"",
            ":",
            "[",
            "]",
            "-",
            "(empty)",
            "1.5",
            "e9",
            "S0",
            "RSTO",
            "conn_state",
            "T",
            "ä",
            "💥",
            "\\",
            "9999999999999999999",
            "history",
            "set[string]",
        ];
        let mut adapter = ZeekConn::default();
        let samples: Vec<&str> = TWO_BLOCKS.lines().chain(UNDERSCORED.lines()).collect();
        for line in crate::intake::common::garbage_lines(&samples, PIECES, 20_000) {
            let _ = adapter.parse(&line);
        }
    }

    /// The real captures in ../shared (no licence stated: read in place, never copied).
    fn shared(path: &str) -> Option<String> {
        let full = format!("{}/../../shared/data/{path}", env!("CARGO_MANIFEST_DIR"));
        match std::fs::read_to_string(&full) {
            Ok(text) => Some(text),
            Err(_) => {
                eprintln!("skipped: {full} is absent (../shared is not checked out)");
                None
            }
        }
    }

    fn tally(events: &[Event]) -> std::collections::BTreeMap<(String, String, String), usize> {
        let mut counts = std::collections::BTreeMap::new();
        for e in events {
            let (src, dst) = ends(e);
            let state = net(e).disposition.to_string();
            *counts.entry((src, dst, state)).or_insert(0) += 1;
        }
        counts
    }

    const ATTACKER: &str = "192.168.64.6";
    const VICTIM: &str = "192.168.64.28";

    #[test]
    fn shared_portscan_conn_log() {
        let Some(text) = shared("zeek/portscan.conn.log") else {
            return;
        };
        let events = events(&text);
        assert_eq!(events.len(), 17);
        let counts = tally(&events);
        let pair = |d: &str| {
            counts
                .get(&(ATTACKER.into(), VICTIM.into(), d.into()))
                .copied()
        };
        // nmap -sS of 13 ports: 12 closed (REJ), 22 open (RSTO after SYN-ACK)
        assert_eq!(pair("rejected"), Some(12));
        assert_eq!(pair("established"), Some(1));
        let scanned: std::collections::BTreeSet<u16> = events
            .iter()
            .filter(|e| ends(e) == (ATTACKER.into(), VICTIM.into()))
            .filter_map(|e| e.dst.as_ref().and_then(|d| d.port))
            .collect();
        let expected = [21, 22, 23, 25, 53, 80, 110, 135, 139, 443, 445, 3306, 3389];
        assert_eq!(scanned, expected.into_iter().collect());
        // the rest: multicast DNS and ICMPv6 with no reply
        assert_eq!(
            events
                .iter()
                .filter(|e| net(e).disposition == Disposition::NoAnswer)
                .count(),
            4
        );
        let icmp6 = events
            .iter()
            .filter(|e| net(e).protocol_num == Some(58))
            .count();
        assert_eq!(icmp6, 2);
    }

    #[test]
    fn shared_ssh_bruteforce_conn_log() {
        let Some(text) = shared("zeek/ssh-bruteforce.conn.log") else {
            return;
        };
        let events = events(&text);
        assert_eq!(events.len(), 63);
        let ssh: Vec<&Event> = events
            .iter()
            .filter(|e| e.dst.as_ref().and_then(|d| d.port) == Some(22))
            .collect();
        // the lab's notes: 61 attempts on port 22, all from the attacker to the victim
        assert_eq!(ssh.len(), 61);
        assert!(
            ssh.iter()
                .all(|e| ends(e) == (ATTACKER.into(), VICTIM.into()))
        );
        assert!(
            ssh.iter()
                .all(|e| net(e).disposition == Disposition::Established)
        );
        assert!(ssh.iter().all(|e| net(e).direction == Direction::Lateral));
    }

    #[test]
    fn shared_masscan_jsonl() {
        let Some(text) = shared("flows/masscan_tcp_0_1000.conn.jsonl") else {
            return;
        };
        let events = events(&text);
        assert_eq!(events.len(), 1001);
        let counts = tally(&events);
        let pair = |d: &str| {
            counts
                .get(&("172.31.15.102".into(), "198.124.152.15".into(), d.into()))
                .copied()
        };
        // 999 S0 and 2 OTH with no reply
        assert_eq!(pair("no_answer"), Some(1001));
        let ports: std::collections::BTreeSet<u16> = events
            .iter()
            .filter_map(|e| e.dst.as_ref().and_then(|d| d.port))
            .collect();
        assert_eq!(ports.len(), 1001);
        assert_eq!(
            attr(&events[0], "_derived_by"),
            Some("pcap2conn.py (dpkt), not Zeek")
        );
        assert_eq!(events[0].time, 1_566_411_407_841);
    }
}
