//! Syslog into events: the syslog header (RFC 5424, or RFC 3164 with or without its PRI), then
//! the payload: netfilter/iptables `KEY=value` logs and CEF records become network events; a
//! JSON message (a Windows event forwarded by NXLog, an ECS, OCSF, Zeek or normalized event) is
//! read by the adapter of its shape; any other message becomes an `other` event carrying it. The mapping, and the year
//! an RFC 3164 time is given, are in docs/adapters-network.md.

use super::common::{bad, cut};
use std::net::IpAddr;

use super::detect::detect_line;
use super::ecs::Ecs;
use super::normalized::Normalized;
use super::ocsf::Ocsf;
use super::winjson::WinJson;
use super::zeek::ZeekConn;
use super::{Format, LineAdapter};
use crate::event::{
    Activity, Direction, Disposition, Endpoint, Event, EventClass, Network, Transport,
};

/// The syslog adapter. RFC 3164 times carry no year: they get `year` (by default the
/// current UTC year when the adapter is made) and are read as UTC. An RFC 5424 message whose
/// TIMESTAMP is `-` (a sender without a clock, §6.2.3.1) gets `received` when a listener set it
/// (the time it received the message, which RFC 5424 lets a receiver stamp) and is refused
/// otherwise (a file's messages have no time of receipt).
#[derive(Debug)]
pub struct Syslog {
    year: i16,
    received: Option<i64>,
}

impl Default for Syslog {
    fn default() -> Self {
        let year = jiff::tz::Offset::UTC
            .to_datetime(jiff::Timestamp::now())
            .year();
        Syslog::with_year(year)
    }
}

impl Syslog {
    /// An adapter giving RFC 3164 times the year `year`.
    pub(crate) fn with_year(year: i16) -> Self {
        Syslog {
            year,
            received: None,
        }
    }

    /// The adapter with `received` (ms since the epoch) for messages that carry no time.
    pub(crate) fn received_at(self, received: Option<i64>) -> Self {
        Syslog { received, ..self }
    }
}

/// The message's own time, else the time of receipt (marked in the attributes), else none.
fn time_or_receipt(
    time: Option<i64>,
    received: Option<i64>,
    attributes: &mut Attributes,
) -> Option<i64> {
    if time.is_some() {
        return time;
    }
    let received = received?;
    attributes.push(("syslog.time".to_owned(), "received".to_owned()));
    Some(received)
}

impl LineAdapter for Syslog {
    fn parse(&mut self, line: &str) -> Result<Option<Event>, String> {
        let header = self.header(line)?;
        let mut attributes = Vec::new();
        if let Some(pri) = header.pri {
            attributes.push(("syslog.facility".to_owned(), (pri / 8).to_string()));
            attributes.push(("syslog.severity".to_owned(), (pri % 8).to_string()));
        }
        for (key, value) in [
            ("syslog.app", header.app),
            ("syslog.procid", header.procid),
            ("syslog.msgid", header.msgid),
        ] {
            if let Some(value) = value {
                attributes.push((key.to_owned(), value.to_owned()));
            }
        }
        attributes.extend(header.structured_data);
        let msg = header.msg;
        if msg.starts_with('{') {
            return json_payload(msg, header.host, header.time, self.received, attributes);
        }
        let mut event = Event::default();
        event.source.format = "syslog".to_owned();
        event.device.hostname = header.host.map(str::to_owned);
        event.attributes = attributes;
        let mut time = header.time;
        if let Some(cef) = msg.strip_prefix("CEF:") {
            if let Some(rt) = cef_payload(cef, &mut event)? {
                time = Some(rt);
            }
        } else if let Some(at) = netfilter_start(msg) {
            netfilter_payload(msg, at, &mut event)?;
        } else {
            event.class = EventClass::Other;
            event.source.provider = header.app.map(str::to_owned);
            event
                .attributes
                .push(("message".to_owned(), msg.to_owned()));
        }
        event.time = time_or_receipt(time, self.received, &mut event.attributes)
            .ok_or("TIMESTAMP: `-`, and the message gives no time (a listener stamps such a message with the time it received it, unless its missing_time is `reject`)")?;
        Ok(Some(event))
    }
}

/// A JSON event forwarded in a syslog message (NXLog's `to_json()` of a Windows event,
/// Winlogbeat, an OCSF or Zeek shipper): read by the adapter of its shape, as a file of such
/// lines would be. The event keeps its own time and host; the syslog header's fill in what it
/// lacks, and the syslog fields follow its attributes.
fn json_payload(
    msg: &str,
    host: Option<&str>,
    time: Option<i64>,
    received: Option<i64>,
    attributes: Attributes,
) -> Result<Option<Event>, String> {
    let format = detect_line(msg).map_err(|why| format!("JSON message: {why}"))?;
    let parsed = match format {
        Format::WineventJson => WinJson.parse(msg),
        Format::Ecs => Ecs.parse(msg),
        Format::Ocsf => Ocsf.parse(msg),
        Format::Ndjson => Normalized.parse(msg),
        Format::ZeekConn => ZeekConn::default().parse(msg),
        other => return Err(format!("JSON message read as {}", other.as_str())),
    };
    let Some(mut event) = parsed.map_err(|e| format!("{} message: {e}", format.as_str()))? else {
        return Ok(None);
    };
    if event.device.hostname.is_none() {
        event.device.hostname = host.map(str::to_owned);
    }
    event.attributes.extend(attributes);
    if event.time == 0 {
        event.time = time_or_receipt(time, received, &mut event.attributes)
            .ok_or("TIMESTAMP: `-`, and the JSON message gives no time")?;
    }
    Ok(Some(event))
}

/// The syslog header of one line, and the message after it.
#[derive(Debug, Default)]
struct Header<'a> {
    pri: Option<u8>,
    time: Option<i64>,
    host: Option<&'a str>,
    app: Option<&'a str>,
    procid: Option<&'a str>,
    msgid: Option<&'a str>,
    structured_data: Attributes,
    msg: &'a str,
}

impl Syslog {
    fn header<'a>(&self, line: &'a str) -> Result<Header<'a>, String> {
        let (pri, rest) = match line.strip_prefix('<') {
            Some(after) => {
                let (digits, rest) = after
                    .split_once('>')
                    .ok_or("PRI: `<` without its closing `>`")?;
                let pri = digits
                    .parse::<u8>()
                    .ok()
                    .filter(|p| *p <= 191 && !digits.is_empty() && digits.len() <= 3)
                    .ok_or_else(|| format!("PRI: <{}> is not a priority 0-191", cut(digits)))?;
                (Some(pri), rest)
            }
            None => (None, line),
        };
        let version_end = rest.bytes().take_while(u8::is_ascii_digit).count();
        if version_end > 0 && version_end <= 2 && rest.as_bytes().get(version_end) == Some(&b' ') {
            let mut header = rfc5424(&rest[version_end + 1..])?;
            header.pri = pri;
            return Ok(header);
        }
        let mut header = self.rfc3164(rest, pri.is_some())?;
        header.pri = pri;
        Ok(header)
    }

    /// `Mmm dd hh:mm:ss HOST TAG[PID]: MSG`; the host and the tag may be missing. An RFC 3339
    /// time in place of the BSD one (rsyslog's high-precision format) is accepted.
    fn rfc3164<'a>(&self, text: &'a str, after_pri: bool) -> Result<Header<'a>, String> {
        let (time, rest) = match bsd_time(text) {
            Some(parts) => {
                let ms = self.bsd_time_ms(parts)?;
                (ms, text.get(15..).unwrap_or(""))
            }
            None => {
                let (word, rest) = split_word(text);
                let ms = word.parse::<jiff::Timestamp>().map_err(|_| {
                    let expected = "an RFC 3164 time (`Mmm dd hh:mm:ss`) or an RFC 3339 time";
                    if after_pri {
                        format!("after the PRI: expected an RFC 5424 version, {expected}")
                    } else {
                        format!("not syslog: expected `<PRI>`, {expected} at the start")
                    }
                })?;
                (ms.as_millisecond(), rest)
            }
        };
        let mut header = Header {
            time: Some(time),
            ..Header::default()
        };
        let mut rest = rest.trim_start_matches(' ');
        let (word, after) = split_word(rest);
        if !word.is_empty() && tag(word).is_none() && !word.contains('=') && !word.contains('|') {
            header.host = Some(word);
            rest = after;
        }
        let (word, after) = split_word(rest);
        if let Some((app, procid)) = tag(word) {
            header.app = Some(app);
            header.procid = procid;
            rest = after;
        }
        header.msg = rest.trim();
        Ok(header)
    }

    fn bsd_time_ms(&self, (month, day, hour, minute, second): BsdTime) -> Result<i64, String> {
        let datetime =
            jiff::civil::DateTime::new(self.year, month, day, hour, minute, second, 0)
                .map_err(|e| format!("RFC 3164 time in {} (the reference year): {e}", self.year))?;
        jiff::tz::Offset::UTC
            .to_timestamp(datetime)
            .map(|ts| ts.as_millisecond())
            .map_err(|e| format!("RFC 3164 time: {e}"))
    }
}

/// Month, day, hour, minute, second.
type BsdTime = (i8, i8, i8, i8, i8);

/// `Mmm dd hh:mm:ss` (the day space-padded or zero-padded) at the start of `text`.
fn bsd_time(text: &str) -> Option<BsdTime> {
    const MONTHS: [&str; 12] = [
        "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
    ];
    let head = text.get(..15)?.as_bytes();
    let month = MONTHS.iter().position(|m| m.as_bytes() == &head[..3])?;
    let number = |at: usize| -> Option<i8> {
        let tens = match head[at] {
            b' ' => 0,
            b @ b'0'..=b'9' => b - b'0',
            _ => return None,
        };
        let ones = head[at + 1];
        ones.is_ascii_digit()
            .then(|| (tens * 10 + ones - b'0') as i8)
    };
    if head[3] != b' ' || head[6] != b' ' || head[9] != b':' || head[12] != b':' {
        return None;
    }
    if text.as_bytes().get(15).is_some_and(|b| *b != b' ') {
        return None;
    }
    Some((
        month as i8 + 1,
        number(4)?,
        number(7)?,
        number(10)?,
        number(13)?,
    ))
}

/// `sshd[42]:` → (`sshd`, `42`); `kernel:` → (`kernel`, none). Not a tag: `None`.
fn tag(word: &str) -> Option<(&str, Option<&str>)> {
    let word = word.strip_suffix(':')?;
    let (name, procid) = match word.strip_suffix(']') {
        Some(inner) => {
            let (name, pid) = inner.split_once('[')?;
            (name, Some(pid))
        }
        None => (word, None),
    };
    let plain = |s: &str| !s.is_empty() && !s.contains([':', '[', ']', '=', '|']);
    (plain(name) && procid.is_none_or(plain)).then_some((name, procid))
}

/// `VERSION` done: `TIMESTAMP HOSTNAME APP-NAME PROCID MSGID STRUCTURED-DATA [MSG]`.
fn rfc5424(text: &str) -> Result<Header<'_>, String> {
    let mut rest = text;
    let mut next = |name: &str| -> Result<Option<&str>, String> {
        let (word, after) = split_word(rest);
        if word.is_empty() {
            return Err(format!("RFC 5424 header cut short: no {name}"));
        }
        rest = after;
        Ok((word != "-").then_some(word))
    };
    let time = next("TIMESTAMP")?;
    let host = next("HOSTNAME")?;
    let app = next("APP-NAME")?;
    let procid = next("PROCID")?;
    let msgid = next("MSGID")?;
    let time = time
        .map(|t| {
            t.parse::<jiff::Timestamp>()
                .map(|ts| ts.as_millisecond())
                .map_err(|e| format!("TIMESTAMP: not an RFC 3339 time: {:?}: {e}", cut(t)))
        })
        .transpose()?;
    let (structured_data, msg) = structured_data(rest)?;
    let msg = msg.strip_prefix(' ').unwrap_or(msg);
    let msg = msg.strip_prefix('\u{feff}').unwrap_or(msg).trim();
    Ok(Header {
        pri: None,
        time,
        host,
        app,
        procid,
        msgid,
        structured_data,
        msg,
    })
}

/// `-` or `[id name="value" …]…`, as `sd.id.name` attributes, and the text after it.
fn structured_data(text: &str) -> Result<(Attributes, &str), String> {
    if let Some(rest) = text.strip_prefix('-') {
        return Ok((Vec::new(), rest));
    }
    if !text.starts_with('[') {
        return Err(format!(
            "STRUCTURED-DATA: expected `-` or `[`, found {:?}",
            cut(text)
        ));
    }
    let mut out = Vec::new();
    let mut rest = text;
    while let Some(element) = rest.strip_prefix('[') {
        let id_end = element
            .find([' ', ']'])
            .ok_or("STRUCTURED-DATA: `[` not closed")?;
        let id = &element[..id_end];
        rest = &element[id_end..];
        loop {
            rest = rest.trim_start_matches(' ');
            if let Some(after) = rest.strip_prefix(']') {
                rest = after;
                break;
            }
            let (name, after) = rest
                .split_once("=\"")
                .ok_or_else(|| format!("STRUCTURED-DATA [{}]: expected name=\"value\"", cut(id)))?;
            let mut value = String::new();
            let mut chars = after.char_indices();
            let mut end = None;
            while let Some((i, c)) = chars.next() {
                match c {
                    '\\' => match chars.next() {
                        Some((_, e @ ('"' | '\\' | ']'))) => value.push(e),
                        Some((_, e)) => {
                            value.push('\\');
                            value.push(e);
                        }
                        None => value.push('\\'),
                    },
                    '"' => {
                        end = Some(i);
                        break;
                    }
                    c => value.push(c),
                }
            }
            let end = end.ok_or_else(|| {
                format!(
                    "STRUCTURED-DATA [{}] {}: value not closed",
                    cut(id),
                    cut(name)
                )
            })?;
            out.push((format!("sd.{id}.{name}"), value));
            rest = &after[end + 1..];
        }
    }
    Ok((out, rest))
}

/// (name, value) pairs in source order, as `Event::attributes` holds them.
type Attributes = Vec<(String, String)>;

/// The first space-separated word and the text after its space.
fn split_word(text: &str) -> (&str, &str) {
    text.split_once(' ').unwrap_or((text, ""))
}

/// Where a netfilter log's `IN=` starts, if the message is one (`IN=` and `SRC=` as words).
fn netfilter_start(msg: &str) -> Option<usize> {
    let word_at = |key: &str| {
        msg.match_indices(key)
            .map(|(i, _)| i)
            .find(|&i| i == 0 || msg.as_bytes()[i - 1] == b' ')
    };
    let at = word_at("IN=")?;
    word_at("SRC=")?;
    Some(at)
}

/// `[UFW BLOCK] IN=eth0 OUT= MAC=… SRC=… DST=… LEN=60 … PROTO=TCP SPT=… DPT=… SYN URGP=0`.
fn netfilter_payload(msg: &str, at: usize, event: &mut Event) -> Result<(), String> {
    let mut prefix = msg[..at].trim();
    // the kernel's uptime stamp, `[ 1234.567890]`, before the log prefix
    if let Some(inner) = prefix.strip_prefix('[')
        && let Some((stamp, after)) = inner.split_once(']')
        && !stamp.trim().is_empty()
        && stamp
            .trim()
            .bytes()
            .all(|b| b.is_ascii_digit() || b == b'.')
    {
        event
            .attributes
            .push(("kernel_time".to_owned(), stamp.trim().to_owned()));
        prefix = after.trim();
    }
    let disposition = action(prefix);
    event.class = EventClass::Network;
    event.activity = activity(disposition);
    event.source.provider = Some("netfilter".to_owned());
    if !prefix.is_empty() {
        event
            .attributes
            .push(("prefix".to_owned(), prefix.to_owned()));
    }
    let mut network = Network {
        disposition,
        ..Network::default()
    };
    let (mut src, mut dst) = (Endpoint::default(), Endpoint::default());
    let (mut inbound_if, mut outbound_if) = (false, false);
    let mut flags = Vec::new();
    for word in msg[at..].split_whitespace() {
        let Some((key, value)) = word.split_once('=') else {
            flags.push(word);
            continue;
        };
        match key {
            "IN" => inbound_if = !value.is_empty(),
            "OUT" => outbound_if = !value.is_empty(),
            _ => {}
        }
        if value.is_empty() {
            continue;
        }
        match key {
            "SRC" => src.ip = Some(parse_ip(key, value)?),
            "DST" => dst.ip = Some(parse_ip(key, value)?),
            "SPT" => src.port = Some(parse_port(key, value)?),
            "DPT" => dst.port = Some(parse_port(key, value)?),
            "PROTO" => (network.transport, network.protocol_num) = protocol(key, value)?,
            // the IP packet's length; a second `LEN` (the UDP header's) is an attribute
            "LEN" if network.bytes_out.is_none() => {
                network.bytes_out =
                    Some(value.parse().map_err(|_| bad(key, "not a length", value))?);
                network.packets_out = Some(1);
            }
            _ => event.attributes.push((key.to_owned(), value.to_owned())),
        }
    }
    if !flags.is_empty() {
        event.attributes.push(("flags".to_owned(), flags.join(" ")));
    }
    network.direction = match (inbound_if, outbound_if) {
        (true, false) => Direction::Inbound,
        (false, true) => Direction::Outbound,
        _ => Direction::Unknown,
    };
    event.src = Some(src);
    event.dst = Some(dst);
    event.network = Some(network);
    Ok(())
}

/// The disposition a log prefix or a CEF `act` names.
fn action(word: &str) -> Disposition {
    let word = word.to_ascii_lowercase();
    let has = |needles: &[&str]| needles.iter().any(|n| word.contains(n));
    if has(&["reject", "reset"]) {
        Disposition::Rejected
    } else if has(&["block", "drop", "deny", "denied", "prevent"]) {
        Disposition::Blocked
    } else if has(&["accept", "allow", "permit", "pass"]) {
        Disposition::Allowed
    } else {
        Disposition::Unknown
    }
}

fn activity(disposition: Disposition) -> Activity {
    match disposition {
        Disposition::Blocked | Disposition::Rejected => Activity::Refuse,
        _ => Activity::Traffic,
    }
}

/// `TCP`, `udp`, `ICMPv6`, `47` → transport and IANA number.
fn protocol(key: &str, value: &str) -> Result<(Transport, Option<u8>), String> {
    Ok(match value.to_ascii_lowercase().as_str() {
        "tcp" | "6" => (Transport::Tcp, Some(6)),
        "udp" | "17" => (Transport::Udp, Some(17)),
        "icmp" | "1" => (Transport::Icmp, Some(1)),
        "icmpv6" | "ipv6-icmp" | "58" => (Transport::Icmp, Some(58)),
        "udplite" => (Transport::Other, Some(136)),
        "sctp" => (Transport::Other, Some(132)),
        "gre" => (Transport::Other, Some(47)),
        "esp" => (Transport::Other, Some(50)),
        "ah" => (Transport::Other, Some(51)),
        other => match other.parse::<u8>() {
            Ok(n) => (Transport::Other, Some(n)),
            // a protocol netfilter or a device names that we do not number
            Err(_)
                if other
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-') =>
            {
                (Transport::Other, None)
            }
            Err(_) => return Err(bad(key, "not a protocol", value)),
        },
    })
}

/// `CEF:` done: `Version|Vendor|Product|Version|SignatureID|Name|Severity|Extension`.
/// Returns the extension's `rt` time when it has one.
fn cef_payload(text: &str, event: &mut Event) -> Result<Option<i64>, String> {
    let (header, extension) = cef_header(text)?;
    let [
        version,
        vendor,
        product,
        device_version,
        signature,
        name,
        severity,
    ] = header;
    event.source.provider = Some(format!("{vendor}/{product}"));
    event.source.code = signature.parse().ok();
    for (key, value) in [
        ("cef.version", version),
        ("cef.device_version", device_version),
        ("cef.signature_id", signature),
        ("cef.name", name),
        ("cef.severity", severity),
    ] {
        event.attributes.push((key.to_owned(), value));
    }
    let mut network = Network::default();
    let (mut src, mut dst) = (Endpoint::default(), Endpoint::default());
    let mut is_network = false;
    let mut time = None;
    for (key, value) in cef_extension(extension) {
        if value.is_empty() {
            continue;
        }
        match key {
            "src" => src.ip = Some(parse_ip(key, &value)?),
            "dst" => dst.ip = Some(parse_ip(key, &value)?),
            "spt" => src.port = Some(parse_port(key, &value)?),
            "dpt" => dst.port = Some(parse_port(key, &value)?),
            "shost" => src.hostname = Some(value),
            "dhost" => dst.hostname = Some(value),
            "proto" => (network.transport, network.protocol_num) = protocol(key, &value)?,
            "in" => network.bytes_in = Some(parse_count(key, &value)?),
            "out" => network.bytes_out = Some(parse_count(key, &value)?),
            "deviceDirection" => {
                network.direction = match value.as_str() {
                    "0" => Direction::Inbound,
                    "1" => Direction::Outbound,
                    _ => return Err(bad(key, "not 0 (inbound) or 1 (outbound)", &value)),
                };
            }
            "act" => {
                network.disposition = action(&value);
                event.attributes.push((key.to_owned(), value));
            }
            "rt" => {
                time = cef_time(&value);
                event.attributes.push((key.to_owned(), value));
            }
            "dvchost" if event.device.hostname.is_none() => event.device.hostname = Some(value),
            _ => event.attributes.push((key.to_owned(), value)),
        }
        is_network |= matches!(key, "src" | "dst" | "spt" | "dpt" | "shost" | "dhost");
    }
    if is_network {
        event.class = EventClass::Network;
        event.activity = activity(network.disposition);
        event.src = Some(src);
        event.dst = Some(dst);
        event.network = Some(network);
    } else {
        event.class = EventClass::Other;
    }
    Ok(time)
}

/// The seven `|`-separated header fields (`\|` and `\\` undone) and the extension.
fn cef_header(text: &str) -> Result<([String; 7], &str), String> {
    let mut fields: [String; 7] = Default::default();
    let mut field = 0;
    let mut chars = text.char_indices();
    while let Some((i, c)) = chars.next() {
        match c {
            '\\' => match chars.next() {
                Some((_, e @ ('|' | '\\'))) => fields[field].push(e),
                Some((_, e)) => {
                    fields[field].push('\\');
                    fields[field].push(e);
                }
                None => fields[field].push('\\'),
            },
            '|' => {
                field += 1;
                if field == 7 {
                    return Ok((fields, &text[i + 1..]));
                }
            }
            c => fields[field].push(c),
        }
    }
    Err(format!(
        "CEF header: {} of its 8 `|`-separated parts (Version|Vendor|Product|Version|\
         SignatureID|Name|Severity|Extension)",
        field + 1
    ))
}

/// `key=value` pairs; a value runs to the next ` key=`. `\=`, `\\`, `\|`, `\n`, `\r` undone.
fn cef_extension(text: &str) -> Vec<(&str, String)> {
    let bytes = text.as_bytes();
    // (key start, `=` position) of every key
    let mut keys = Vec::new();
    let mut escaped = false;
    for (i, b) in bytes.iter().enumerate() {
        match b {
            _ if escaped => escaped = false,
            b'\\' => escaped = true,
            b'=' => {
                let start = bytes[..i]
                    .iter()
                    .rposition(|b| {
                        !(b.is_ascii_alphanumeric()
                            || matches!(b, b'_' | b'.' | b'[' | b']' | b'-'))
                    })
                    .map_or(0, |p| p + 1);
                let starts_word = start == 0 || bytes[start - 1].is_ascii_whitespace();
                if start < i && starts_word {
                    keys.push((start, i));
                }
            }
            _ => {}
        }
    }
    let mut pairs = Vec::with_capacity(keys.len());
    for (n, &(start, eq)) in keys.iter().enumerate() {
        let end = keys.get(n + 1).map_or(bytes.len(), |&(next, _)| next);
        let raw = text[eq + 1..end].trim_end();
        pairs.push((&text[start..eq], cef_unescape(raw)));
    }
    pairs
}

fn cef_unescape(raw: &str) -> String {
    let mut out = String::with_capacity(raw.len());
    let mut chars = raw.chars();
    while let Some(c) = chars.next() {
        if c != '\\' {
            out.push(c);
            continue;
        }
        match chars.next() {
            Some('n') => out.push('\n'),
            Some('r') => out.push('\r'),
            Some(e @ ('=' | '\\' | '|')) => out.push(e),
            Some(e) => {
                out.push('\\');
                out.push(e);
            }
            None => out.push('\\'),
        }
    }
    out
}

/// CEF `rt`: ms since the epoch, or `Mmm dd yyyy hh:mm:ss` (read as UTC).
fn cef_time(value: &str) -> Option<i64> {
    if let Ok(ms) = value.parse::<i64>() {
        return Some(ms);
    }
    let datetime = jiff::civil::DateTime::strptime("%b %d %Y %H:%M:%S", value).ok()?;
    jiff::tz::Offset::UTC
        .to_timestamp(datetime)
        .ok()
        .map(|ts| ts.as_millisecond())
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::intake::{LineReader, Record};

    const NETFILTER: &str = include_str!("../../../tests/data/network/netfilter.log");
    const CEF: &str = include_str!("../../../tests/data/network/cef.log");

    fn read(text: &str) -> Vec<Record> {
        LineReader::new(text.as_bytes(), "fw.log", Syslog::with_year(2024)).collect()
    }

    fn events(text: &str) -> Vec<Event> {
        read(text)
            .into_iter()
            .map(|r| r.unwrap_or_else(|e| panic!("{e}")))
            .collect()
    }

    fn one(line: &str) -> Result<Event, String> {
        Syslog::with_year(2024)
            .parse(line)
            .map(|e| e.expect("syslog lines always give an event"))
    }

    #[test]
    fn json_messages_are_read_by_the_adapter_of_their_shape() {
        // NXLog forwarding a Sysmon process creation as JSON, RFC 3164 framed
        let line = r#"<14>May  1 10:00:00 collector nxlog: {"EventID":1,"Channel":"Microsoft-Windows-Sysmon/Operational","Hostname":"WS01.corp","@timestamp":"2024-05-01T09:59:58.000Z","ProcessId":"4242","Image":"C:\\Windows\\System32\\cmd.exe","ParentImage":"C:\\Office\\WINWORD.EXE","CommandLine":"cmd /c whoami","User":"CORP\\alice"}"#;
        let e = one(line).expect("a Windows event");
        assert_eq!(e.class, EventClass::Process);
        assert_eq!(e.source.format, "winevent-json");
        assert_eq!(
            e.device.hostname.as_deref(),
            Some("WS01"),
            "its own host, not the collector"
        );
        assert_eq!(
            e.time, 1_714_557_598_000,
            "the event's own time, not the header's"
        );
        let attr = |k: &str| {
            e.attributes
                .iter()
                .find(|(key, _)| key == k)
                .map(|(_, v)| v.as_str())
        };
        assert_eq!(attr("syslog.app"), Some("nxlog"));
        assert_eq!(attr("syslog.severity"), Some("6"));

        // a normalized event without a host takes the syslog header's
        let line = r#"<14>1 2024-05-01T10:00:00Z fw01 shipper - - - {"time":1714557600000,"class":"network","src":{"ip":"10.0.0.5"},"dst":{"ip":"10.0.0.6","port":445}}"#;
        let e = one(line).expect("a normalized event");
        assert_eq!(e.class, EventClass::Network);
        assert_eq!(e.device.hostname.as_deref(), Some("fw01"));

        // JSON of no known shape is an error that says so
        let err = one(r#"<14>1 2024-05-01T10:00:00Z h app - - - {"hello":"world"}"#)
            .expect_err("unknown JSON");
        assert!(
            err.contains("JSON message") && err.contains("no known shape"),
            "{err}"
        );
        let err =
            one(r#"<14>1 2024-05-01T10:00:00Z h app - - - {"EventID":"x","Channel":"Security"}"#)
                .expect_err("a bad Windows event");
        assert!(err.starts_with("winevent-json message: "), "{err}");
    }

    fn net(e: &Event) -> &Network {
        e.network.as_ref().expect("network")
    }

    fn attr<'a>(e: &'a Event, key: &str) -> Option<&'a str> {
        e.attributes
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.as_str())
    }

    fn ip(ep: &Option<Endpoint>) -> String {
        ep.as_ref()
            .and_then(|ep| ep.ip)
            .map_or_else(String::new, |ip| ip.to_string())
    }

    fn port(ep: &Option<Endpoint>) -> Option<u16> {
        ep.as_ref().and_then(|ep| ep.port)
    }

    #[test]
    fn netfilter_in_5424_and_3164() {
        let events = events(NETFILTER);
        assert_eq!(events.len(), 8);
        use Disposition::*;
        let dispositions: Vec<Disposition> = events
            .iter()
            .map(|e| e.network.as_ref().map_or(Unknown, |n| n.disposition))
            .collect();
        assert_eq!(
            dispositions,
            [
                Blocked, Blocked, Allowed, Blocked, Blocked, Rejected, Allowed, Unknown
            ]
        );

        let ufw = &events[0];
        assert_eq!(ufw.time, 1_714_557_600_123);
        assert_eq!(ufw.class, EventClass::Network);
        assert_eq!(ufw.activity, Activity::Refuse);
        assert_eq!(ufw.source.format, "syslog");
        assert_eq!(ufw.source.provider.as_deref(), Some("netfilter"));
        assert_eq!(ufw.device.hostname.as_deref(), Some("fw01"));
        assert_eq!(
            (ip(&ufw.src), port(&ufw.src)),
            ("198.51.100.23".into(), Some(40000))
        );
        assert_eq!(
            (ip(&ufw.dst), port(&ufw.dst)),
            ("10.0.0.10".into(), Some(22))
        );
        let n = net(ufw);
        assert_eq!((n.transport, n.protocol_num), (Transport::Tcp, Some(6)));
        assert_eq!(n.direction, Direction::Inbound);
        assert_eq!((n.bytes_out, n.packets_out), (Some(60), Some(1)));
        assert_eq!(attr(ufw, "prefix"), Some("[UFW BLOCK]"));
        assert_eq!(attr(ufw, "flags"), Some("DF SYN"));
        assert_eq!(attr(ufw, "TTL"), Some("52"));
        assert_eq!(attr(ufw, "syslog.facility"), Some("0"));
        assert_eq!(attr(ufw, "syslog.severity"), Some("4"));
        assert_eq!(attr(ufw, "syslog.app"), Some("kernel"));
        assert_eq!(attr(ufw, "OUT"), None);

        // 5424 with an offset and structured data
        assert_eq!(events[1].time, 1_714_550_401_000);
        assert_eq!(attr(&events[1], "sd.meta.sequenceId"), Some("7"));
        assert_eq!(attr(&events[1], "syslog.msgid"), Some("netfilter"));
        // OUTPUT chain, UDP
        assert_eq!(net(&events[2]).direction, Direction::Outbound);
        assert_eq!(net(&events[2]).protocol_num, Some(17));
        assert_eq!(events[2].activity, Activity::Traffic);
        assert_eq!(net(&events[2]).bytes_out, Some(52));
        assert_eq!(attr(&events[2], "LEN"), Some("32"));
        // 3164 with PRI: the year comes from the adapter; the kernel stamp is kept
        let icmp = &events[3];
        assert_eq!(icmp.time, 1_714_557_603_000);
        assert_eq!(net(icmp).transport, Transport::Icmp);
        assert_eq!(attr(icmp, "kernel_time"), Some("8423.123456"));
        assert_eq!(attr(icmp, "TYPE"), Some("8"));
        // 3164 without PRI, forwarded (both interfaces)
        assert_eq!(events[4].time, 1_714_557_604_000);
        assert_eq!(net(&events[4]).direction, Direction::Unknown);
        assert_eq!(attr(&events[4], "syslog.facility"), None);
        // IPv6, a prefix ending in a colon
        assert_eq!(ip(&events[5].src), "2001:db8::66");
        assert_eq!(attr(&events[5], "prefix"), Some("iptables REJECT:"));
        assert_eq!(events[5].time, 1_715_421_605_000);
        // neither payload: an `other` event with the message
        let ssh = &events[7];
        assert_eq!(ssh.class, EventClass::Other);
        assert_eq!(ssh.network, None);
        assert_eq!(ssh.source.provider.as_deref(), Some("sshd"));
        assert_eq!(attr(ssh, "syslog.procid"), Some("1234"));
        assert_eq!(
            attr(ssh, "message"),
            Some("Accepted publickey for alice from 10.0.0.5 port 53122 ssh2")
        );
    }

    #[test]
    fn fixtures_are_detected_as_syslog() {
        let no_pri = NETFILTER.lines().nth(4).unwrap_or_default();
        for text in [NETFILTER, CEF, no_pri] {
            let reader = Box::new(text.as_bytes());
            let (format, mut records) =
                crate::intake::from_reader(reader, "fw".to_owned(), crate::intake::Format::Auto)
                    .expect("readable");
            assert_eq!(format, crate::intake::Format::Syslog, "{text}");
            assert!(records.all(|r| r.is_ok()));
        }
    }

    #[test]
    fn cef_with_escapes() {
        let events = events(CEF);
        assert_eq!(events.len(), 4);
        let blocked = &events[0];
        assert_eq!(blocked.class, EventClass::Network);
        assert_eq!(blocked.activity, Activity::Refuse);
        assert_eq!(
            blocked.source.provider.as_deref(),
            Some("Acme/Edge Firewall")
        );
        assert_eq!(blocked.source.code, Some(1001));
        assert_eq!(blocked.device.hostname.as_deref(), Some("fw02"));
        assert_eq!(
            (ip(&blocked.src), port(&blocked.src)),
            ("198.51.100.30".into(), Some(50000))
        );
        assert_eq!(
            (ip(&blocked.dst), port(&blocked.dst)),
            ("10.0.0.10".into(), Some(22))
        );
        let n = net(blocked);
        assert_eq!(n.disposition, Disposition::Blocked);
        assert_eq!(n.direction, Direction::Inbound);
        assert_eq!(n.protocol_num, Some(6));
        assert_eq!(attr(blocked, "cef.name"), Some("Connection blocked"));
        assert_eq!(attr(blocked, "cs1"), Some("drop ssh from outside"));

        let allowed = &events[1];
        assert_eq!(allowed.time, 1_714_561_201_500, "rt wins");
        let n = net(allowed);
        assert_eq!(n.disposition, Disposition::Allowed);
        assert_eq!(n.direction, Direction::Outbound);
        assert_eq!((n.bytes_in, n.bytes_out), (Some(5120), Some(880)));
        assert_eq!(attr(allowed, "msg"), Some(r"GET /a=b path C:\temp"));

        let escaped = &events[2];
        assert_eq!(escaped.time, 1_706_785_202_000);
        assert_eq!(
            escaped.source.provider.as_deref(),
            Some(r"Pipe|Vendor/Back\slash")
        );
        assert_eq!(escaped.source.code, None);
        assert_eq!(attr(escaped, "cef.signature_id"), Some("sig-7"));
        assert_eq!(attr(escaped, "cef.name"), Some("Name with | pipe"));
        assert_eq!(net(escaped).disposition, Disposition::Rejected);
        assert_eq!(net(escaped).transport, Transport::Tcp);
        assert_eq!(attr(escaped, "cs2"), Some("line one\nline two"));

        // no endpoints: `other`, the CEF facts as attributes
        let av = &events[3];
        assert_eq!(av.class, EventClass::Other);
        assert_eq!(attr(av, "fname"), Some("invoice.doc"));
        assert_eq!(attr(av, "suser"), Some("alice"));
    }

    #[test]
    fn the_3164_year_is_the_reference_year() {
        let line = "Feb 29 12:00:00 host app: hello";
        assert_eq!(one(line).map(|e| e.time), Ok(1_709_208_000_000));
        let in_2025 = Syslog::with_year(2025).parse(line);
        assert!(
            in_2025
                .as_ref()
                .is_err_and(|e| e.contains("2025 (the reference year)")),
            "{in_2025:?}"
        );
        let now = Syslog::default().parse("Jan  1 00:00:00 h x: y");
        let year = jiff::tz::Offset::UTC
            .to_datetime(jiff::Timestamp::now())
            .year();
        let expected = jiff::civil::date(year, 1, 1).at(0, 0, 0, 0);
        let expected = jiff::tz::Offset::UTC
            .to_timestamp(expected)
            .map(|t| t.as_millisecond());
        assert_eq!(now.ok().flatten().map(|e| e.time), expected.ok());
    }

    #[test]
    fn errors_say_why() {
        let cases = [
            ("hello world", "not syslog: expected `<PRI>`"),
            (
                "<999>1 2024-05-01T10:00:00Z h a - - - x",
                "PRI: <999> is not a priority",
            ),
            ("<13", "PRI: `<` without its closing `>`"),
            (
                "<13>1 2024-05-01T10:00:00Z host",
                "RFC 5424 header cut short: no APP-NAME",
            ),
            (
                "<13>1 yesterday h a - - - x",
                "TIMESTAMP: not an RFC 3339 time",
            ),
            ("<13>1 - h a - - - x", "TIMESTAMP: `-`"),
            (
                "<13>1 2024-05-01T10:00:00Z h a - - x y",
                "STRUCTURED-DATA: expected `-` or `[`",
            ),
            (
                "<13>1 2024-05-01T10:00:00Z h a - - [x a=\"b",
                "value not closed",
            ),
            ("<13>garbage", "after the PRI: expected an RFC 5424 version"),
            (
                "Feb 30 10:00:00 h a: b",
                "RFC 3164 time in 2024 (the reference year)",
            ),
            (
                "May  1 10:00:00 fw kernel: DROP IN=eth0 SRC=1.2.3 DST=1.2.3.4",
                "SRC: not an IP address: \"1.2.3\"",
            ),
            (
                "May  1 10:00:00 fw kernel: DROP IN=eth0 SRC=1.2.3.4 SPT=x",
                "SPT: not a port: \"x\"",
            ),
            ("May  1 10:00:00 fw CEF:0|a|b|c|d", "CEF header: 5 of its 8"),
            (
                "May  1 10:00:00 fw CEF:0|a|b|1|2|n|3|dpt=70000",
                "dpt: not a port",
            ),
            (
                "May  1 10:00:00 fw CEF:0|a|b|1|2|n|3|src=1.2.3.4 deviceDirection=2",
                "deviceDirection",
            ),
        ];
        for (line, expected) in cases {
            match one(line) {
                Ok(event) => panic!("{line}: no error, {event:?}"),
                Err(e) => assert!(e.contains(expected), "{line}: {e}"),
            }
        }
        // the rsyslog high-precision form of 3164
        let event =
            one("2024-05-01T10:00:00.5Z fw01 kernel: DROP IN=eth0 OUT= SRC=1.2.3.4 DST=5.6.7.8");
        assert_eq!(event.map(|e| e.time), Ok(1_714_557_600_500));
    }

    /// `logger --rfc5424=notime`: a sender without a clock sends `-`; a listener stamps the
    /// time it received the message and says so, a file's reader refuses it.
    #[test]
    fn a_message_without_a_time_gets_the_time_of_receipt_from_a_listener() {
        let line = "<13>1 - ws01 tester - - - hello from a clockless sender";
        let received = 1_714_557_600_123;
        let event = Syslog::with_year(2024)
            .received_at(Some(received))
            .parse(line)
            .expect("stamped")
            .expect("an event");
        assert_eq!(event.time, received);
        assert_eq!(attr(&event, "syslog.time"), Some("received"));
        assert_eq!(event.device.hostname.as_deref(), Some("ws01"));
        assert_eq!(
            attr(&event, "message"),
            Some("hello from a clockless sender")
        );
        // a JSON message without a time of its own takes it too
        let json = r#"<13>1 - ws01 app - - - {"class":"other","time":0}"#;
        let event = Syslog::with_year(2024)
            .received_at(Some(received))
            .parse(json)
            .expect("stamped")
            .expect("an event");
        assert_eq!(event.time, received);
        // a message with its own time keeps it, unmarked
        let timed = "<13>1 2024-05-01T10:00:00Z ws01 tester - - - hi";
        let event = Syslog::with_year(2024)
            .received_at(Some(received))
            .parse(timed)
            .expect("parses")
            .expect("an event");
        assert_eq!(event.time, 1_714_557_600_000);
        assert_eq!(attr(&event, "syslog.time"), None);
        // without a time of receipt (a file, or missing_time = reject): refused
        let e = Syslog::with_year(2024).parse(line).expect_err("refused");
        assert!(e.contains("TIMESTAMP: `-`"), "{e}");
    }

    #[test]
    fn garbage_never_panics() {
        const PIECES: &[&str] = &[
            "<",
            ">",
            "1",
            " ",
            "13",
            "-",
            "[",
            "]",
            "\"",
            "\\",
            "=",
            "|",
            "CEF:",
            "IN=",
            "SRC=",
            "SPT=",
            "Feb 29 ",
            "May  1 10:00:00 ",
            ":",
            "é",
            "💥",
            "\u{feff}",
            "2024-05-01T10:00:00Z",
            "src=",
            "act=",
            "\\=",
            "\\|",
            "rt=",
            "deviceDirection=",
            "PROTO=",
            "x",
        ];
        let mut adapter = Syslog::with_year(2024);
        let samples: Vec<&str> = NETFILTER.lines().chain(CEF.lines()).collect();
        for line in crate::intake::common::garbage_lines(&samples, PIECES, 20_000) {
            let _ = adapter.parse(&line);
        }
    }
}
