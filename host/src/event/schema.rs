//! The JSON Schema (draft 2020-12) of the normalized event's JSON form, derived from the Rust
//! types with `schemars`. `docs/event.schema.json` is this schema; a test keeps it in sync.
//!
//! The derive describes plain fields on its own. The fields that have their own serde helpers
//! in `json.rs` (times, hex numbers, GUIDs, `class`, `unmapped`) get their schema from the
//! functions here, which spell out what those helpers accept.

use schemars::generate::SchemaSettings;
use schemars::transform::RecursiveTransform;
use schemars::{Schema, SchemaGenerator, json_schema};
use serde_json::{Map, Value, json};

use super::{Event, EventClass};

/// The JSON Schema of one normalized event, as `parse_event` accepts it.
pub fn event_schema() -> Schema {
    let mut schema = SchemaSettings::draft2020_12()
        .with_transform(RecursiveTransform(unsigned_maximum))
        .into_generator()
        .into_root_schema_for::<Event>();
    schema.insert("title".to_owned(), json!("Yagura normalized event"));
    schema.insert(
        "$comment".to_owned(),
        json!(
            "Generated from the Rust types in host/src/event; do not edit. \
             Regenerate with `YAGURA_BLESS=1 cargo test -p yagura --lib event::schema`."
        ),
    );
    schema
}

/// schemars bounds u8 and u16 but gives u32 and u64 only `"minimum": 0`; serde_json rejects
/// a larger number, so the schema says so too.
fn unsigned_maximum(schema: &mut Schema) {
    let max = match schema.get("format").and_then(Value::as_str) {
        Some("uint32") => json!(u32::MAX),
        Some("uint64") => json!(u64::MAX),
        _ => return,
    };
    if schema.get("maximum").is_none() {
        schema.insert("maximum".to_owned(), max);
    }
}

/// `Option<…>` of a custom spelling: `null` means absent.
fn nullable(schema: Value) -> Schema {
    json_schema!({ "anyOf": [schema, { "type": "null" }] })
}

fn time_value() -> Value {
    json!({
        "anyOf": [
            {
                "type": "integer",
                "minimum": i64::MIN,
                "maximum": i64::MAX,
                "description": "ms since the Unix epoch"
            },
            {
                "type": "number",
                "exclusiveMinimum": -9.0e15,
                "exclusiveMaximum": 9.0e15,
                "description": "ms since the Unix epoch; the fraction is truncated"
            },
            {
                "type": "string",
                "format": "date-time",
                "description": "RFC 3339 with an offset or `Z`"
            }
        ]
    })
}

/// `json::time_ms`: ms as a JSON number, or an RFC 3339 string.
pub(super) fn time_ms(_: &mut SchemaGenerator) -> Schema {
    Schema::try_from(time_value()).expect("an object is a schema")
}

/// `json::opt_time_ms`.
pub(super) fn opt_time_ms(_: &mut SchemaGenerator) -> Schema {
    nullable(time_value())
}

/// `json::class`: a class name, an accepted OCSF class_uid, or that number as a string
/// (`str::parse::<u32>`, so a `+` sign and leading zeros are allowed).
pub(super) fn class(_: &mut SchemaGenerator) -> Schema {
    let names: Vec<&str> = EventClass::ALL.iter().map(|c| c.as_str()).collect();
    let uids: Vec<u32> = EventClass::OCSF_UIDS.iter().map(|(uid, _)| *uid).collect();
    let alternatives: Vec<String> = uids.iter().map(u32::to_string).collect();
    json_schema!({
        "anyOf": [
            { "type": "string", "enum": names, "description": "class name" },
            { "type": "integer", "enum": uids, "description": "OCSF class_uid" },
            {
                "type": "string",
                "pattern": format!("^\\+?0*(?:{})$", alternatives.join("|")),
                "description": "OCSF class_uid as a decimal string"
            }
        ]
    })
}

/// `json::opt_hex_*`: a JSON integer, or a `0x…` hex or decimal string (trimmed, parsed by
/// `from_str_radix` / `str::parse`, which allow a `+` sign). The range of a string is not
/// expressed.
fn hex_value(max: u64) -> Value {
    json!({
        "anyOf": [
            { "type": "integer", "minimum": 0, "maximum": max },
            {
                "type": "string",
                "pattern": "^\\s*(?:0[xX]\\+?[0-9A-Fa-f]+|\\+?[0-9]+)\\s*$",
                "description": "`0x…` hex or decimal"
            }
        ]
    })
}

/// `json::opt_hex_u64`.
pub(super) fn opt_hex_u64(_: &mut SchemaGenerator) -> Schema {
    nullable(hex_value(u64::MAX))
}

/// `json::opt_hex_u32`.
pub(super) fn opt_hex_u32(_: &mut SchemaGenerator) -> Schema {
    nullable(hex_value(u32::MAX.into()))
}

/// `json::opt_guid`: 32 hex digits, braces and dashes optional (`json::parse_guid`).
pub(super) fn opt_guid(_: &mut SchemaGenerator) -> Schema {
    const HEX: &str = "[0-9A-Fa-f]-*";
    nullable(json!({
        "type": "string",
        "pattern": format!("^\\s*\\{{*-*(?:(?:{HEX}){{32}}|\\+-*(?:{HEX}){{31}})\\}}*\\s*$"),
        "description": "GUID: `{5770385F-C22A-43E0-BF4C-06F5698FFBD9}`, braces and dashes optional"
    }))
}

/// `Option<IpAddr>`: IPv4 or IPv6 text (schemars' own `"format": "ip"` is not a standard
/// format).
pub(super) fn opt_ip(_: &mut SchemaGenerator) -> Schema {
    nullable(json!({
        "type": "string",
        "anyOf": [{ "format": "ipv4" }, { "format": "ipv6" }]
    }))
}

/// `json::attributes`: an object of any JSON values; non-strings are kept as their JSON text.
pub(super) fn unmapped(_: &mut SchemaGenerator) -> Schema {
    json_schema!({
        "type": "object",
        "additionalProperties": true
    })
}

/// `class` also answers to `class_uid` (a serde alias, which schemars does not describe): the
/// event needs exactly one of the two, as giving both is a duplicate field.
pub(super) fn class_alias(schema: &mut Schema) {
    let Some(Value::Object(props)) = schema.get("properties") else {
        return;
    };
    let Some(class) = props.get("class") else {
        return;
    };
    let mut alias = class.clone();
    if let Value::Object(alias) = &mut alias {
        alias.insert(
            "description".to_owned(),
            json!("Another name for `class`: an event has one or the other, not both."),
        );
    }
    let mut with_alias = Map::new();
    for (key, value) in props {
        with_alias.insert(key.clone(), value.clone());
        if key == "class" {
            with_alias.insert("class_uid".to_owned(), alias.clone());
        }
    }
    schema.insert("properties".to_owned(), Value::Object(with_alias));
    if let Some(Value::Array(required)) = schema.get_mut("required") {
        required.retain(|name| name != "class");
    }
    schema.insert(
        "oneOf".to_owned(),
        json!([{ "required": ["class"] }, { "required": ["class_uid"] }]),
    );
}

#[cfg(test)]
mod tests {
    use std::path::PathBuf;

    use serde_json::Value;

    use super::*;
    use crate::event::Activity;

    fn schema_path() -> PathBuf {
        PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../docs/event.schema.json")
    }

    fn schema_text() -> String {
        let mut text = serde_json::to_string_pretty(&event_schema()).expect("schema serializes");
        text.push('\n');
        text
    }

    /// `docs/event.schema.json` is what the types generate. `YAGURA_BLESS=1` rewrites it.
    #[test]
    fn committed_schema_is_up_to_date() {
        let path = schema_path();
        let generated = schema_text();
        if std::env::var_os("YAGURA_BLESS").is_some_and(|v| v == "1") {
            std::fs::write(&path, &generated).expect("write docs/event.schema.json");
            return;
        }
        let bless = "re-bless it with `YAGURA_BLESS=1 cargo test -p yagura --lib event::schema` \
                     and commit the result";
        let committed = std::fs::read_to_string(&path)
            .unwrap_or_else(|err| panic!("cannot read {}: {err}; {bless}", path.display()));
        let committed: Value = serde_json::from_str(&committed)
            .unwrap_or_else(|err| panic!("{} is not JSON: {err}; {bless}", path.display()));
        let generated: Value = serde_json::from_str(&generated).expect("generated JSON parses");
        assert!(
            committed == generated,
            "docs/event.schema.json is out of date with the event types in host/src/event; {bless}"
        );
    }

    fn def<'a>(schema: &'a Value, reference: &Value) -> &'a Value {
        let name = reference
            .as_str()
            .and_then(|r| r.strip_prefix("#/$defs/"))
            .unwrap_or_else(|| panic!("not a local $ref: {reference}"));
        &schema["$defs"][name]
    }

    #[test]
    fn schema_states_the_structural_rules() {
        let schema = event_schema().to_value();
        assert_eq!(
            schema["$schema"],
            "https://json-schema.org/draft/2020-12/schema"
        );
        assert_eq!(schema["type"], "object");
        assert_eq!(schema["additionalProperties"], false, "deny_unknown_fields");
        assert_eq!(schema["required"], json!(["time"]));
        assert_eq!(
            schema["oneOf"],
            json!([{ "required": ["class"] }, { "required": ["class_uid"] }]),
            "`class` or its alias `class_uid` is required"
        );
        let props = &schema["properties"];
        assert_eq!(props["class_uid"]["anyOf"], props["class"]["anyOf"]);

        // Every object of the event rejects unknown fields too.
        for (name, def) in schema["$defs"].as_object().expect("$defs") {
            if def["type"] == "object" {
                assert_eq!(def["additionalProperties"], false, "{name}");
            }
        }

        assert_eq!(
            def(&schema, &json!("#/$defs/Process"))["properties"]["pid"]["maximum"],
            u32::MAX
        );

        let activity = def(&schema, &props["activity"]["$ref"]);
        let names: Vec<&str> = Activity::ALL.iter().map(|a| a.as_str()).collect();
        assert_eq!(activity["type"], "string");
        assert_eq!(activity["enum"], json!(names));

        // Times: a number or an RFC 3339 string; optional ones also null.
        let time_types: Vec<&Value> = props["time"]["anyOf"]
            .as_array()
            .expect("time anyOf")
            .iter()
            .map(|alt| &alt["type"])
            .collect();
        assert_eq!(time_types, ["integer", "number", "string"]);
        assert_eq!(props["time"]["anyOf"][2]["format"], "date-time");
    }

    #[test]
    fn every_sample_field_is_declared() {
        let schema = event_schema().to_value();
        let sample = concat!(
            include_str!("../../../examples/events/sample.ndjson"),
            include_str!("../../../examples/events/core.ndjson")
        );
        for (n, line) in sample
            .lines()
            .enumerate()
            .filter(|(_, l)| !l.trim().is_empty())
        {
            let event: Value = serde_json::from_str(line).expect("sample line is JSON");
            for key in event.as_object().expect("an object").keys() {
                assert!(
                    schema["properties"].get(key).is_some(),
                    "sample line {}: `{key}` is not in the schema",
                    n + 1
                );
            }
        }
    }
}
