//! [`Config`]: typed access to a rule's per-tenant settings, and [`Param`] constructors to
//! declare them in [`RuleInfo`](crate::RuleInfo).
//!
//! Every getter falls back to the default the rule declared, so a tenant sets only what it
//! changes. Every error names the parameter.

use core::fmt;
use core::ops::RangeInclusive;

use crate::{Param, Value};

/// The settings `init` receives: the tenant's values, over the declared defaults.
#[derive(Debug, Clone, Default)]
pub struct Config {
    values: Vec<(String, Value)>,
    defaults: Vec<Param>,
}

/// A setting that is missing, of the wrong type or out of range.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub enum ConfigError {
    /// Neither set nor declared with a default.
    Missing {
        /// the parameter
        name: String,
    },
    /// Set (or declared) with another type than the getter reads.
    WrongType {
        /// the parameter
        name: String,
        /// the type the rule reads
        expected: &'static str,
        /// the type of the value
        found: &'static str,
    },
    /// An integer outside the range the rule accepts.
    OutOfRange {
        /// the parameter
        name: String,
        /// the value given
        value: i64,
        /// the smallest accepted value
        min: i64,
        /// the largest accepted value
        max: i64,
    },
    /// A value the rule rejects for its own reason.
    Invalid {
        /// the parameter
        name: String,
        /// what is wrong with it
        reason: String,
    },
}

impl ConfigError {
    /// A value the rule rejects, with the reason: `ConfigError::invalid("window", "must be a
    /// multiple of 60")`.
    pub fn invalid(name: impl Into<String>, reason: impl Into<String>) -> Self {
        ConfigError::Invalid {
            name: name.into(),
            reason: reason.into(),
        }
    }
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ConfigError::Missing { name } => {
                write!(f, "parameter `{name}`: not set and has no default")
            }
            ConfigError::WrongType {
                name,
                expected,
                found,
            } => write!(f, "parameter `{name}`: expected {expected}, got {found}"),
            ConfigError::OutOfRange {
                name,
                value,
                min,
                max,
            } => write!(
                f,
                "parameter `{name}`: {value} is out of range, expected {min}..={max}"
            ),
            ConfigError::Invalid { name, reason } => write!(f, "parameter `{name}`: {reason}"),
        }
    }
}

impl std::error::Error for ConfigError {}

impl From<ConfigError> for String {
    fn from(err: ConfigError) -> String {
        err.to_string()
    }
}

/// The type name of a value, as errors say it.
fn type_name(value: &Value) -> &'static str {
    match value {
        Value::Boolean(_) => "boolean",
        Value::Integer(_) => "integer",
        Value::Float(_) => "float",
        Value::Text(_) => "text",
        Value::TextList(_) => "text-list",
    }
}

impl Config {
    /// Settings as given, without defaults.
    pub fn new(values: Vec<(String, Value)>) -> Self {
        Config {
            values,
            defaults: Vec::new(),
        }
    }

    /// Adds the declared parameters, whose defaults answer for what is not set.
    pub fn with_defaults(mut self, params: Vec<Param>) -> Self {
        self.defaults = params;
        self
    }

    /// The value of `name`: as set, else its default.
    pub fn get(&self, name: &str) -> Option<&Value> {
        self.values
            .iter()
            .rev()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v)
            .or_else(|| {
                self.defaults
                    .iter()
                    .find(|p| p.name == name)
                    .map(|p| &p.default)
            })
    }

    /// Whether the tenant set `name` (rather than leaving it to its default).
    pub fn is_set(&self, name: &str) -> bool {
        self.values.iter().any(|(n, _)| n == name)
    }

    /// The settings the tenant gave, in order.
    pub fn values(&self) -> &[(String, Value)] {
        &self.values
    }

    fn typed<'a, T>(
        &'a self,
        name: &str,
        expected: &'static str,
        pick: impl FnOnce(&'a Value) -> Option<T>,
    ) -> Result<T, ConfigError> {
        let value = self.get(name).ok_or_else(|| ConfigError::Missing {
            name: name.to_owned(),
        })?;
        pick(value).ok_or_else(|| ConfigError::WrongType {
            name: name.to_owned(),
            expected,
            found: type_name(value),
        })
    }

    /// A boolean parameter.
    pub fn boolean(&self, name: &str) -> Result<bool, ConfigError> {
        self.typed(name, "boolean", |v| match v {
            Value::Boolean(b) => Some(*b),
            _ => None,
        })
    }

    /// An integer parameter.
    pub fn integer(&self, name: &str) -> Result<i64, ConfigError> {
        self.typed(name, "integer", |v| match v {
            Value::Integer(i) => Some(*i),
            _ => None,
        })
    }

    /// An integer parameter that must lie in `range`.
    pub fn integer_in(&self, name: &str, range: RangeInclusive<i64>) -> Result<i64, ConfigError> {
        let value = self.integer(name)?;
        if range.contains(&value) {
            Ok(value)
        } else {
            Err(ConfigError::OutOfRange {
                name: name.to_owned(),
                value,
                min: *range.start(),
                max: *range.end(),
            })
        }
    }

    /// A float parameter; an integer value reads as a float too.
    pub fn float(&self, name: &str) -> Result<f64, ConfigError> {
        self.typed(name, "float", |v| match v {
            Value::Float(f) => Some(*f),
            Value::Integer(i) => Some(*i as f64),
            _ => None,
        })
    }

    /// A text parameter.
    pub fn text(&self, name: &str) -> Result<&str, ConfigError> {
        self.typed(name, "text", |v| match v {
            Value::Text(s) => Some(s.as_str()),
            _ => None,
        })
    }

    /// A text-list parameter.
    pub fn text_list(&self, name: &str) -> Result<&[String], ConfigError> {
        self.typed(name, "text-list", |v| match v {
            Value::TextList(list) => Some(list.as_slice()),
            _ => None,
        })
    }
}

impl Param {
    fn with(name: impl Into<String>, description: impl Into<String>, default: Value) -> Param {
        Param {
            name: name.into(),
            description: description.into(),
            default,
        }
    }

    /// Declares a boolean parameter.
    pub fn boolean(name: impl Into<String>, description: impl Into<String>, default: bool) -> Self {
        Param::with(name, description, Value::Boolean(default))
    }

    /// Declares an integer parameter.
    pub fn integer(name: impl Into<String>, description: impl Into<String>, default: i64) -> Self {
        Param::with(name, description, Value::Integer(default))
    }

    /// Declares a float parameter.
    pub fn float(name: impl Into<String>, description: impl Into<String>, default: f64) -> Self {
        Param::with(name, description, Value::Float(default))
    }

    /// Declares a text parameter.
    pub fn text(
        name: impl Into<String>,
        description: impl Into<String>,
        default: impl Into<String>,
    ) -> Self {
        Param::with(name, description, Value::Text(default.into()))
    }

    /// Declares a text-list parameter.
    pub fn text_list(
        name: impl Into<String>,
        description: impl Into<String>,
        default: &[&str],
    ) -> Self {
        let list = default.iter().map(|s| (*s).to_owned()).collect();
        Param::with(name, description, Value::TextList(list))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config() -> Config {
        Config::new(vec![
            ("threshold".into(), Value::Integer(5)),
            (
                "allowlist".into(),
                Value::TextList(vec!["a".into(), "b".into()]),
            ),
            ("mode".into(), Value::Text("loop".into())),
        ])
        .with_defaults(vec![
            Param::integer("threshold", "", 20),
            Param::integer("window_seconds", "", 60),
            Param::text_list("allowlist", "", &[]),
            Param::text("mode", "", "none"),
            Param::boolean("strict", "", true),
            Param::float("ratio", "", 0.5),
        ])
    }

    #[test]
    fn set_values_win_over_defaults() {
        let c = config();
        assert_eq!(c.integer("threshold"), Ok(5));
        assert_eq!(c.integer("window_seconds"), Ok(60));
        assert_eq!(c.text("mode"), Ok("loop"));
        assert_eq!(c.text_list("allowlist").map(<[String]>::len), Ok(2));
        assert_eq!(c.boolean("strict"), Ok(true));
        assert_eq!(c.float("ratio"), Ok(0.5));
        assert_eq!(c.float("threshold"), Ok(5.0));
        assert!(c.is_set("mode"));
        assert!(!c.is_set("strict"));
        assert_eq!(c.values().len(), 3);
    }

    #[test]
    fn errors_name_the_parameter() {
        let c = config();
        let missing = c.integer("nope").expect_err("undeclared");
        assert_eq!(
            missing.to_string(),
            "parameter `nope`: not set and has no default"
        );
        let wrong = c.integer("mode").expect_err("text is not an integer");
        assert_eq!(
            wrong.to_string(),
            "parameter `mode`: expected integer, got text"
        );
        let range = c.integer_in("threshold", 10..=100).expect_err("5 < 10");
        assert_eq!(
            String::from(range),
            "parameter `threshold`: 5 is out of range, expected 10..=100"
        );
        assert_eq!(
            ConfigError::invalid("mode", "unknown mode `x`").to_string(),
            "parameter `mode`: unknown mode `x`"
        );
        assert!(c.text_list("threshold").is_err());
        assert!(c.boolean("ratio").is_err());
        assert!(c.text("strict").is_err());
    }

    #[test]
    fn param_constructors_type_the_default() {
        let p = Param::text_list("extra", "more names", &["x.exe"]);
        assert_eq!(p.name, "extra");
        assert_eq!(p.default, Value::TextList(vec!["x.exe".into()]));
        assert_eq!(
            Param::boolean("b", "", false).default,
            Value::Boolean(false)
        );
    }
}
