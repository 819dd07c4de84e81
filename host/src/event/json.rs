//! The JSON form of [`Event`]: parsing with errors that name the field, and the serde helpers
//! for values that have more than one accepted spelling (times, hex codes, GUIDs, classes).

use serde::de::{self, Deserializer, Visitor};
use serde::{Deserialize, Serializer};

use super::{Event, EventClass};

/// Why a JSON line is not a valid normalized event.
#[derive(Debug, thiserror::Error)]
#[error("{}{message}", if path.is_empty() || path == "." || path == "?" { String::new() } else { format!("field `{path}`: ") })]
pub struct EventParseError {
    /// Dotted path of the offending field (`process.pid`), or empty for the whole line.
    pub path: String,
    /// What is wrong, as serde_json says it, with the column.
    pub message: String,
}

/// Parses one normalized event from JSON text (one object).
pub fn parse_event(text: &str) -> Result<Event, EventParseError> {
    if !text.trim_start().starts_with('{') {
        return Err(EventParseError {
            path: String::new(),
            message: "expected a JSON object (one normalized event per line)".to_owned(),
        });
    }
    let mut de = serde_json::Deserializer::from_str(text);
    let event: Event =
        serde_path_to_error::deserialize(&mut de).map_err(|err| EventParseError {
            path: err.path().to_string(),
            message: with_column(err.inner()),
        })?;
    de.end().map_err(|err| EventParseError {
        path: String::new(),
        message: with_column(&err),
    })?;
    Ok(event)
}

/// serde_json's message with "at line 1 column N" (always line 1 here) shortened to the column.
fn with_column(err: &serde_json::Error) -> String {
    let text = err.to_string();
    match text.rfind(" at line ") {
        Some(i) if err.column() > 0 => format!("{} (column {})", &text[..i], err.column()),
        Some(i) => text[..i].to_owned(),
        None => text,
    }
}

/// `AuthProtocol` → `auth protocol`, for messages.
pub(crate) fn snake_name(type_name: &str) -> String {
    let mut out = String::new();
    for (i, c) in type_name.chars().enumerate() {
        if c.is_ascii_uppercase() && i > 0 {
            out.push(' ');
        }
        out.push(c.to_ascii_lowercase());
    }
    out
}

/// Parses an RFC 3339 timestamp into ms since the Unix epoch.
pub(crate) fn parse_rfc3339_ms(text: &str) -> Result<i64, String> {
    text.parse::<jiff::Timestamp>()
        .map(|ts| ts.as_millisecond())
        .map_err(|err| format!("`{text}` is not an RFC 3339 time: {err}"))
}

/// Formats ms since the Unix epoch as RFC 3339 UTC with milliseconds.
pub(crate) fn format_rfc3339_ms(ms: i64) -> String {
    match jiff::Timestamp::from_millisecond(ms) {
        Ok(ts) => format!("{ts:.3}"),
        Err(_) => ms.to_string(),
    }
}

struct TimeVisitor;

impl Visitor<'_> for TimeVisitor {
    type Value = i64;

    fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        f.write_str("ms since the Unix epoch or an RFC 3339 time")
    }

    fn visit_i64<E: de::Error>(self, v: i64) -> Result<i64, E> {
        Ok(v)
    }

    fn visit_u64<E: de::Error>(self, v: u64) -> Result<i64, E> {
        i64::try_from(v).map_err(|_| E::custom(format!("time {v} is out of range")))
    }

    fn visit_f64<E: de::Error>(self, v: f64) -> Result<i64, E> {
        if v.is_finite() && v.abs() < 9.0e15 {
            Ok(v as i64)
        } else {
            Err(E::custom(format!("time {v} is out of range")))
        }
    }

    fn visit_str<E: de::Error>(self, v: &str) -> Result<i64, E> {
        parse_rfc3339_ms(v).map_err(E::custom)
    }
}

pub(super) mod time_ms {
    use super::*;

    pub fn serialize<S: Serializer>(ms: &i64, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_i64(*ms)
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<i64, D::Error> {
        d.deserialize_any(TimeVisitor)
    }
}

/// Newtypes so that `Option<…>` of these spellings accepts `null` as absent.
struct TimeMs(i64);
struct HexNum(u64);
struct GuidText(u128);

impl<'de> Deserialize<'de> for TimeMs {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_any(TimeVisitor).map(TimeMs)
    }
}

impl<'de> Deserialize<'de> for HexNum {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_any(HexVisitor).map(HexNum)
    }
}

impl<'de> Deserialize<'de> for GuidText {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let text = std::borrow::Cow::<str>::deserialize(d)?;
        parse_guid(&text)
            .map(GuidText)
            .ok_or_else(|| de::Error::custom(format!("`{text}` is not a GUID")))
    }
}

pub(super) mod opt_time_ms {
    use super::*;

    pub fn serialize<S: Serializer>(ms: &Option<i64>, s: S) -> Result<S::Ok, S::Error> {
        match ms {
            Some(ms) => s.serialize_i64(*ms),
            None => s.serialize_none(),
        }
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Option<i64>, D::Error> {
        Ok(Option::<TimeMs>::deserialize(d)?.map(|t| t.0))
    }
}

pub(super) mod class {
    use super::*;

    pub fn serialize<S: Serializer>(class: &EventClass, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(class.as_str())
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<EventClass, D::Error> {
        struct ClassVisitor;
        impl Visitor<'_> for ClassVisitor {
            type Value = EventClass;

            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("a class name (`process`, `network`…) or an OCSF class_uid")
            }

            fn visit_u64<E: de::Error>(self, v: u64) -> Result<EventClass, E> {
                u32::try_from(v)
                    .ok()
                    .and_then(EventClass::from_ocsf_uid)
                    .ok_or_else(|| E::custom(format!("class_uid {v} is not a class Yagura models")))
            }

            fn visit_i64<E: de::Error>(self, v: i64) -> Result<EventClass, E> {
                Err(E::custom(format!(
                    "class_uid {v} is not a class Yagura models"
                )))
            }

            fn visit_str<E: de::Error>(self, v: &str) -> Result<EventClass, E> {
                EventClass::ALL
                    .iter()
                    .copied()
                    .find(|class| class.as_str() == v)
                    .or_else(|| v.parse::<u32>().ok().and_then(EventClass::from_ocsf_uid))
                    .ok_or_else(|| {
                        let names: Vec<&str> = EventClass::ALL.iter().map(|c| c.as_str()).collect();
                        E::custom(format!(
                            "unknown class `{v}`, expected one of {}",
                            names.join(", ")
                        ))
                    })
            }
        }
        d.deserialize_any(ClassVisitor)
    }
}

/// Numbers that sources write in hex (`0x3e7`) or decimal.
struct HexVisitor;

impl Visitor<'_> for HexVisitor {
    type Value = u64;

    fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        f.write_str("a number, or a `0x…` hex or decimal string")
    }

    fn visit_u64<E: de::Error>(self, v: u64) -> Result<u64, E> {
        Ok(v)
    }

    fn visit_i64<E: de::Error>(self, v: i64) -> Result<u64, E> {
        u64::try_from(v).map_err(|_| E::custom(format!("{v} is negative")))
    }

    fn visit_str<E: de::Error>(self, v: &str) -> Result<u64, E> {
        parse_hex_or_decimal(v)
            .ok_or_else(|| E::custom(format!("`{v}` is not a hex or decimal number")))
    }
}

/// Parses `0x1F`, `0X1f` or `31`.
pub(crate) fn parse_hex_or_decimal(text: &str) -> Option<u64> {
    let text = text.trim();
    match text.strip_prefix("0x").or_else(|| text.strip_prefix("0X")) {
        Some(hex) => u64::from_str_radix(hex, 16).ok(),
        None => text.parse().ok(),
    }
}

pub(super) mod opt_hex_u64 {
    use super::*;

    pub fn serialize<S: Serializer>(v: &Option<u64>, s: S) -> Result<S::Ok, S::Error> {
        match v {
            Some(v) => s.serialize_str(&format!("{v:#x}")),
            None => s.serialize_none(),
        }
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Option<u64>, D::Error> {
        Ok(Option::<HexNum>::deserialize(d)?.map(|h| h.0))
    }
}

pub(super) mod opt_hex_u32 {
    use super::*;

    pub fn serialize<S: Serializer>(v: &Option<u32>, s: S) -> Result<S::Ok, S::Error> {
        match v {
            Some(v) => s.serialize_str(&format!("{v:#x}")),
            None => s.serialize_none(),
        }
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Option<u32>, D::Error> {
        match Option::<HexNum>::deserialize(d)? {
            None => Ok(None),
            Some(HexNum(v)) => u32::try_from(v)
                .map(Some)
                .map_err(|_| de::Error::custom(format!("{v:#x} does not fit in 32 bits"))),
        }
    }
}

/// Parses a GUID with or without braces and dashes.
pub(crate) fn parse_guid(text: &str) -> Option<u128> {
    let hex: String = text
        .trim()
        .trim_start_matches('{')
        .trim_end_matches('}')
        .chars()
        .filter(|c| *c != '-')
        .collect();
    if hex.len() != 32 {
        return None;
    }
    u128::from_str_radix(&hex, 16).ok()
}

/// Formats a GUID the way Windows writes it: `{5770385F-C22A-43E0-BF4C-06F5698FFBD9}`.
pub(crate) fn format_guid(guid: u128) -> String {
    let h = format!("{guid:032X}");
    format!(
        "{{{}-{}-{}-{}-{}}}",
        &h[0..8],
        &h[8..12],
        &h[12..16],
        &h[16..20],
        &h[20..32]
    )
}

pub(super) mod opt_guid {
    use super::*;

    pub fn serialize<S: Serializer>(v: &Option<u128>, s: S) -> Result<S::Ok, S::Error> {
        match v {
            Some(v) => s.serialize_str(&format_guid(*v)),
            None => s.serialize_none(),
        }
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Option<u128>, D::Error> {
        Ok(Option::<GuidText>::deserialize(d)?.map(|g| g.0))
    }
}

pub(super) mod attributes {
    use serde::ser::SerializeMap;

    use super::*;

    pub fn serialize<S: Serializer>(attrs: &[(String, String)], s: S) -> Result<S::Ok, S::Error> {
        let mut map = s.serialize_map(Some(attrs.len()))?;
        for (k, v) in attrs {
            map.serialize_entry(k, v)?;
        }
        map.end()
    }

    /// An object of strings, in source order; other values are kept as their JSON text.
    pub(crate) fn deserialize<'de, D: Deserializer<'de>>(
        d: D,
    ) -> Result<Vec<(String, String)>, D::Error> {
        struct Ordered;
        impl<'de> Visitor<'de> for Ordered {
            type Value = Vec<(String, String)>;

            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("an object of source fields")
            }

            fn visit_map<A: de::MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
                let mut out = Vec::with_capacity(map.size_hint().unwrap_or(0));
                while let Some((k, v)) = map.next_entry::<String, serde_json::Value>()? {
                    out.push(match v {
                        serde_json::Value::String(s) => (k, s),
                        other => (k, other.to_string()),
                    });
                }
                Ok(out)
            }
        }
        d.deserialize_map(Ordered)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::event::{Activity, EventClass, Outcome};

    #[test]
    fn parses_a_process_launch_with_every_spelling() {
        let line = r#"{"time":"2020-09-20T12:16:08.123Z","class":"process","activity":"create",
            "device":{"hostname":"WS01","ip":"10.0.0.5"},
            "actor":{"user":{"name":"alice","domain":"CORP","logon_id":"0x3e7"}},
            "process":{"pid":42,"guid":"{5770385F-C22A-43E0-BF4C-06F5698FFBD9}",
                       "image":"C:\\Windows\\System32\\cmd.exe","parent_image":"C:\\x\\WINWORD.EXE"},
            "unmapped":{"EventID":1,"Note":"x"}}"#;
        let ev = parse_event(line).expect("valid event");
        assert_eq!(ev.time, 1_600_604_168_123);
        assert_eq!(ev.class, EventClass::Process);
        assert_eq!(ev.activity, Activity::Create);
        assert_eq!(ev.outcome, Outcome::Unknown);
        assert_eq!(ev.actor.user.as_ref().and_then(|u| u.logon_id), Some(0x3e7));
        let p = ev.process.as_ref().expect("process");
        assert_eq!(p.guid, Some(0x5770385F_C22A_43E0_BF4C_06F5698FFBD9));
        assert_eq!(ev.attributes[0], ("EventID".into(), "1".into()));
        assert_eq!(
            ev.attributes[1],
            ("Note".into(), "x".into()),
            "source order is kept"
        );
        assert_eq!(ev.device.ip, Some("10.0.0.5".parse().expect("ip")));
    }

    #[test]
    fn class_uid_and_numbers_are_accepted() {
        let ev = parse_event(r#"{"time":5,"class_uid":4001}"#).expect("valid");
        assert_eq!(ev.class, EventClass::Network);
        assert_eq!(ev.time, 5);
    }

    #[test]
    fn errors_name_the_field() {
        let err = parse_event(r#"{"time":1,"class":"process","process":{"pid":"x"}}"#)
            .expect_err("pid must be a number");
        assert_eq!(err.path, "process.pid");
        assert!(
            err.to_string()
                .starts_with("field `process.pid`: invalid type"),
            "{err}"
        );

        let err = parse_event(r#"{"time":1,"class":"proces"}"#).expect_err("bad class");
        assert_eq!(err.path, "class");
        assert!(err.message.contains("unknown class `proces`"), "{err}");

        let err = parse_event(r#"{"time":1,"class":"dns","procss":{}}"#).expect_err("typo");
        assert!(err.message.contains("unknown field `procss`"), "{err}");

        let err = parse_event(r#"{"class":"dns"}"#).expect_err("no time");
        assert!(err.message.contains("missing field `time`"), "{err}");

        let err = parse_event(r#"{"time":"yesterday","class":"dns"}"#).expect_err("bad time");
        assert_eq!(err.path, "time");

        let err = parse_event(r#"[1,2]"#).expect_err("an array is not an event");
        assert!(err.message.starts_with("expected a JSON object"), "{err}");

        let err = parse_event(r#"{"time":1,"class":"dns","activity":"jump"}"#).expect_err("enum");
        assert!(
            err.message
                .starts_with("unknown activity `jump`, expected one of unknown, create"),
            "{err}"
        );
        assert!(
            !err.message.contains("line 1"),
            "no misleading line number: {err}"
        );
    }

    #[test]
    fn null_means_absent_for_every_optional_field() {
        let ev = parse_event(
            r#"{"time":1,"class":"authentication","user":{"name":null,"logon_id":null},
                "auth":{"status_code":null},"process":{"guid":null,"start_time":null}}"#,
        )
        .expect("nulls are absent values");
        assert_eq!(ev.user.as_ref().and_then(|u| u.logon_id), None);
        assert_eq!(ev.process.as_ref().and_then(|p| p.guid), None);
    }

    #[test]
    fn json_form_round_trips() {
        let line = r#"{"time":1600604168123,"class":"authentication","activity":"logon","outcome":"failure",
            "user":{"name":"bob"},"src":{"ip":"fe80::1","port":445},
            "auth":{"logon_type":3,"protocol":"ntlm","key_length":0,"status_code":"0xc000006a"}}"#;
        let ev = parse_event(line).expect("valid");
        let text = serde_json::to_string(&ev).expect("serializes");
        assert_eq!(parse_event(&text).expect("re-parses"), ev);
        assert_eq!(
            ev.auth.as_ref().and_then(|a| a.status_code),
            Some(0xc000006a)
        );
    }

    #[test]
    fn guids_format_like_windows() {
        let g = parse_guid("5770385f-c22a-43e0-bf4c-06f5698ffbd9").expect("guid");
        assert_eq!(format_guid(g), "{5770385F-C22A-43E0-BF4C-06F5698FFBD9}");
        assert_eq!(parse_guid("{not-a-guid}"), None);
    }
}
