//! The rule's settings: the parameters `info` declares, checked and converted once in `init`.
//! Every error names the parameter (and, for the allowlist, the entry).

use core::net::IpAddr;

use yagura_sdk::prelude::*;

use crate::cidr::{self, Cidr};
use crate::probe::Weights;

/// The settings, checked and converted once in `init`.
#[derive(Debug, Clone)]
pub(crate) struct Settings {
    pub sweep_threshold: f64,
    pub port_threshold: f64,
    pub window: Window,
    pub weights: Weights,
    pub growth: f64,
    pub allowlist: Vec<Cidr>,
}

impl Settings {
    pub(crate) fn from_config(config: &Config) -> Result<Settings, ConfigError> {
        let sweep = config.integer_in("sweep_threshold", 1..=1_000_000)?;
        let ports = config.integer_in("port_threshold", 1..=1_000_000)?;
        let window = config.integer_in("window_seconds", 1..=86_400)?;
        let failed = float_in(config, "failed_weight", 1.0, 100.0)?;
        let established = float_in(config, "established_weight", 0.0, 1.0)?;
        let growth = config.float("report_growth")?;
        if !(growth > 1.0 && growth <= 1_000.0) {
            return Err(ConfigError::invalid(
                "report_growth",
                format!("{growth} is out of range, expected more than 1 and at most 1000"),
            ));
        }
        let allowlist = cidr::parse_all(config.text_list("allowlist")?)
            .map_err(|reason| ConfigError::invalid("allowlist", reason))?;
        Ok(Settings {
            // Thresholds up to 10^6 are exact in f64.
            sweep_threshold: sweep as f64,
            port_threshold: ports as f64,
            window: Window::seconds(window.unsigned_abs()),
            weights: Weights {
                failed,
                established,
            },
            growth,
            allowlist,
        })
    }

    pub(crate) fn allowed(&self, ip: IpAddr) -> bool {
        self.allowlist.iter().any(|c| c.contains(ip))
    }

    /// The time a connection-attempt counter is bucketed to: a second, or a sixtieth of the
    /// window, so a counter holds at most about 60 buckets however busy the source.
    pub(crate) fn attempt_bucket(&self, at: i64) -> i64 {
        let step = i64::try_from(self.window.as_millis() / 60)
            .unwrap_or(i64::MAX)
            .max(1_000);
        at.saturating_sub(at.rem_euclid(step))
    }
}

fn float_in(config: &Config, name: &str, min: f64, max: f64) -> Result<f64, ConfigError> {
    let v = config.float(name)?;
    if v.is_finite() && (min..=max).contains(&v) {
        Ok(v)
    } else {
        Err(ConfigError::invalid(
            name,
            format!("{v} is out of range, expected {min} to {max}"),
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ScanDetection;

    fn config(values: &[(&str, Value)]) -> Config {
        Config::new(
            values
                .iter()
                .map(|(k, v)| ((*k).to_owned(), v.clone()))
                .collect(),
        )
        .with_defaults(ScanDetection::info().params)
    }

    #[test]
    fn defaults_are_valid() {
        let s = Settings::from_config(&config(&[])).expect("defaults");
        assert_eq!(s.sweep_threshold, 30.0);
        assert_eq!(s.port_threshold, 20.0);
        assert_eq!(s.window, Window::seconds(60));
        assert_eq!(s.weights.failed, 2.0);
        assert_eq!(s.weights.established, 0.5);
        assert_eq!(s.attempt_bucket(61_500), 61_000);
        assert_eq!(s.attempt_bucket(-1), -1_000);
        assert_eq!(
            s.attempt_bucket(i64::MIN),
            i64::MIN,
            "saturates, no overflow"
        );
        assert_eq!(s.attempt_bucket(i64::MAX), i64::MAX - i64::MAX % 1_000);
    }

    #[test]
    fn config_errors_name_the_parameter_and_the_entry() {
        let bad = |values: &[(&str, Value)]| {
            Settings::from_config(&config(values))
                .expect_err("refused")
                .to_string()
        };
        let err = bad(&[(
            "allowlist",
            Value::TextList(vec!["10.0.5.0/24".into(), "10.0.300.0/24".into()]),
        )]);
        assert!(
            err.contains("allowlist") && err.contains("10.0.300.0/24"),
            "{err}"
        );
        let err = bad(&[("failed_weight", Value::Float(0.5))]);
        assert!(err.contains("failed_weight"), "{err}");
        let err = bad(&[("established_weight", Value::Float(f64::NAN))]);
        assert!(err.contains("established_weight"), "{err}");
        let err = bad(&[("report_growth", Value::Float(1.0))]);
        assert!(err.contains("report_growth"), "{err}");
        let err = bad(&[("port_threshold", Value::Integer(0))]);
        assert!(err.contains("port_threshold"), "{err}");
    }
}
