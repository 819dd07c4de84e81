//! What a rule says about itself ([`RuleInfo`]) and its configuration: typed parameters with
//! defaults, overrides checked by name and type before the rule's own `init` sees them.

use serde::Serialize;

use crate::event::EventClass;
use crate::finding::Severity;

/// A typed configuration value (the WIT `value`).
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(untagged)]
pub enum Value {
    Boolean(bool),
    Integer(i64),
    Float(f64),
    Text(String),
    TextList(Vec<String>),
}

impl Value {
    /// The type's name, for messages and docs.
    pub fn type_name(&self) -> &'static str {
        match self {
            Value::Boolean(_) => "boolean",
            Value::Integer(_) => "integer",
            Value::Float(_) => "float",
            Value::Text(_) => "text",
            Value::TextList(_) => "text-list",
        }
    }

    /// Reads a JSON value as a value of the same type as `like`.
    pub(crate) fn from_json_like(like: &Value, json: &serde_json::Value) -> Result<Value, String> {
        use serde_json::Value as J;
        let value = match (like, json) {
            (Value::Boolean(_), J::Bool(b)) => Value::Boolean(*b),
            (Value::Integer(_), J::Number(n)) if n.is_i64() => {
                Value::Integer(n.as_i64().unwrap_or_default())
            }
            (Value::Float(_), J::Number(n)) => Value::Float(n.as_f64().unwrap_or_default()),
            (Value::Text(_), J::String(s)) => Value::Text(s.clone()),
            (Value::TextList(_), J::Array(items)) => Value::TextList(
                items
                    .iter()
                    .map(|i| match i {
                        J::String(s) => Ok(s.clone()),
                        other => Err(format!("expected a list of strings, found {other}")),
                    })
                    .collect::<Result<_, _>>()?,
            ),
            // a single string is a one-item list
            (Value::TextList(_), J::String(s)) => Value::TextList(vec![s.clone()]),
            (like, other) => {
                return Err(format!("expected {}, found {other}", like.type_name()));
            }
        };
        Ok(value)
    }
}

/// A parameter a rule accepts; its type is the type of its default.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Param {
    pub name: String,
    pub description: String,
    pub default: Value,
}

/// What a rule is and what it needs (the WIT `rule-info`).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct RuleInfo {
    pub id: String,
    pub name: String,
    pub description: String,
    pub version: String,
    pub severity: Severity,
    pub techniques: Vec<String>,
    pub subscriptions: Vec<EventClass>,
    pub params: Vec<Param>,
    /// Who wrote the rule, as the pack that ships it says (`[[rule]] author` in `pack.toml`;
    /// WIT 0.1's `rule-info` has no author). Findings carry it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub author: Option<String>,
}

impl RuleInfo {
    /// Checks what the host relies on: a usable id, a semver version, unique parameter names.
    pub fn validate(&self) -> Result<(), String> {
        let id_ok = !self.id.is_empty()
            && self.id.len() <= 64
            && self
                .id
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
            && !self.id.starts_with('-');
        if !id_ok {
            return Err(format!(
                "rule id `{}` must be 1-64 characters of a-z, 0-9 and `-`",
                self.id
            ));
        }
        if !is_semver(&self.version) {
            return Err(format!(
                "rule `{}`: version `{}` is not MAJOR.MINOR.PATCH",
                self.id, self.version
            ));
        }
        let mut names: Vec<&str> = self.params.iter().map(|p| p.name.as_str()).collect();
        names.sort_unstable();
        if let Some(w) = names.windows(2).find(|w| w[0] == w[1]) {
            return Err(format!(
                "rule `{}`: parameter `{}` is declared twice",
                self.id, w[0]
            ));
        }
        Ok(())
    }

    /// Bit mask of the subscribed classes.
    pub(crate) fn subscription_mask(&self) -> u16 {
        self.subscriptions.iter().fold(0, |m, c| m | c.bit())
    }

    /// Every parameter with its effective value: the override where given, else the default.
    /// Unknown names and wrong types are errors naming the parameter.
    pub(crate) fn resolve_config(
        &self,
        overrides: &[(String, Value)],
    ) -> Result<Vec<(String, Value)>, String> {
        for (name, value) in overrides {
            let Some(param) = self.params.iter().find(|p| &p.name == name) else {
                let known: Vec<&str> = self.params.iter().map(|p| p.name.as_str()).collect();
                return Err(format!(
                    "unknown parameter `{name}` (parameters: {})",
                    if known.is_empty() {
                        "none".to_owned()
                    } else {
                        known.join(", ")
                    }
                ));
            };
            let compatible = std::mem::discriminant(&param.default)
                == std::mem::discriminant(value)
                || matches!(
                    (&param.default, value),
                    (Value::Float(_), Value::Integer(_))
                );
            if !compatible {
                return Err(format!(
                    "parameter `{name}` is {}, got {}",
                    param.default.type_name(),
                    value.type_name()
                ));
            }
        }
        Ok(self
            .params
            .iter()
            .map(|p| {
                let value = overrides
                    .iter()
                    .rev()
                    .find(|(name, _)| name == &p.name)
                    .map(|(_, v)| match (&p.default, v) {
                        (Value::Float(_), Value::Integer(i)) => Value::Float(*i as f64),
                        (_, v) => v.clone(),
                    })
                    .unwrap_or_else(|| p.default.clone());
                (p.name.clone(), value)
            })
            .collect())
    }

    /// The parameter `name`, or an error naming the rule's parameters.
    fn param(&self, name: &str) -> Result<&Param, String> {
        self.params.iter().find(|p| p.name == name).ok_or_else(|| {
            let known: Vec<&str> = self.params.iter().map(|p| p.name.as_str()).collect();
            format!(
                "rule `{}` has no parameter `{name}` (parameters: {})",
                self.id,
                if known.is_empty() {
                    "none".to_owned()
                } else {
                    known.join(", ")
                }
            )
        })
    }

    /// TOML config values (a case's `config`, a pack rule's `config`) typed against the
    /// parameters; an unknown name or a wrong type is an error naming the parameter.
    pub(crate) fn typed_config(
        &self,
        config: &std::collections::BTreeMap<String, toml::Value>,
    ) -> Result<Vec<(String, Value)>, String> {
        config
            .iter()
            .map(|(name, value)| {
                let param = self.param(name)?;
                let json = serde_json::to_value(value).map_err(|e| format!("`{name}`: {e}"))?;
                let typed = Value::from_json_like(&param.default, &json)
                    .map_err(|e| format!("parameter `{name}`: {e}"))?;
                Ok((name.clone(), typed))
            })
            .collect()
    }

    /// Parses `PARAM=VALUE` against the parameter's type: VALUE is JSON (`5`, `true`,
    /// `["a","b"]`) or, for text and text-list parameters, plain text (`a,b` for a list).
    pub(crate) fn parse_override(&self, assignment: &str) -> Result<(String, Value), String> {
        let (name, raw) = assignment
            .split_once('=')
            .ok_or_else(|| format!("`{assignment}` is not PARAM=VALUE"))?;
        let param = self.param(name)?;
        let json = match serde_json::from_str::<serde_json::Value>(raw) {
            Ok(json) => json,
            Err(_) => match &param.default {
                Value::TextList(_) => serde_json::Value::Array(
                    raw.split(',')
                        .filter(|s| !s.is_empty())
                        .map(|s| serde_json::Value::String(s.trim().to_owned()))
                        .collect(),
                ),
                _ => serde_json::Value::String(raw.to_owned()),
            },
        };
        let json = match (&param.default, json) {
            (Value::Text(_), j) if !j.is_string() => serde_json::Value::String(raw.to_owned()),
            (_, j) => j,
        };
        Value::from_json_like(&param.default, &json)
            .map(|v| (name.to_owned(), v))
            .map_err(|e| format!("rule `{}`: parameter `{name}`: {e}", self.id))
    }
}

fn is_semver(v: &str) -> bool {
    let core = v.split(['-', '+']).next().unwrap_or("");
    let parts: Vec<&str> = core.split('.').collect();
    parts.len() == 3
        && parts
            .iter()
            .all(|p| !p.is_empty() && p.bytes().all(|b| b.is_ascii_digit()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn info() -> RuleInfo {
        RuleInfo {
            id: "port-scan".into(),
            name: "Port scan".into(),
            description: String::new(),
            version: "1.2.0".into(),
            severity: Severity::Medium,
            techniques: vec![],
            subscriptions: vec![EventClass::Network],
            params: vec![
                Param {
                    name: "threshold".into(),
                    description: String::new(),
                    default: Value::Integer(20),
                },
                Param {
                    name: "allowlist".into(),
                    description: String::new(),
                    default: Value::TextList(vec![]),
                },
                Param {
                    name: "ratio".into(),
                    description: String::new(),
                    default: Value::Float(0.5),
                },
            ],
            author: None,
        }
    }

    #[test]
    fn defaults_fill_what_is_not_overridden() {
        let config = info()
            .resolve_config(&[("threshold".into(), Value::Integer(5))])
            .expect("valid");
        assert_eq!(config[0], ("threshold".into(), Value::Integer(5)));
        assert_eq!(config[1], ("allowlist".into(), Value::TextList(vec![])));
    }

    #[test]
    fn unknown_names_and_wrong_types_name_the_parameter() {
        let err = info()
            .resolve_config(&[("treshold".into(), Value::Integer(5))])
            .expect_err("typo");
        assert_eq!(
            err,
            "unknown parameter `treshold` (parameters: threshold, allowlist, ratio)"
        );
        let err = info()
            .resolve_config(&[("threshold".into(), Value::Text("5".into()))])
            .expect_err("type");
        assert_eq!(err, "parameter `threshold` is integer, got text");
        let ok = info()
            .resolve_config(&[("ratio".into(), Value::Integer(1))])
            .expect("integer widens to float");
        assert_eq!(ok[2].1, Value::Float(1.0));
    }

    #[test]
    fn overrides_parse_from_the_command_line() {
        let i = info();
        assert_eq!(
            i.parse_override("threshold=7"),
            Ok(("threshold".into(), Value::Integer(7)))
        );
        assert_eq!(
            i.parse_override("allowlist=10.0.0.0/8,192.168.1.1"),
            Ok((
                "allowlist".into(),
                Value::TextList(vec!["10.0.0.0/8".into(), "192.168.1.1".into()])
            ))
        );
        let err = i
            .parse_override("threshold=many")
            .expect_err("not an integer");
        assert!(
            err.contains("parameter `threshold`: expected integer"),
            "{err}"
        );
        assert!(i.parse_override("threshold").is_err());
    }

    #[test]
    fn info_is_validated() {
        let mut bad = info();
        bad.id = "Port Scan".into();
        assert!(bad.validate().is_err());
        let mut bad = info();
        bad.version = "1.2".into();
        assert!(
            bad.validate()
                .expect_err("semver")
                .contains("MAJOR.MINOR.PATCH")
        );
        let mut bad = info();
        bad.params.push(bad.params[0].clone());
        assert!(bad.validate().expect_err("dup").contains("declared twice"));
        assert!(info().validate().is_ok());
    }
}
