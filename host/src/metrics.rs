//! Prometheus metrics: the counters the server keeps, their names (one constant each), and
//! the text exposition format, written by hand. Counters and gauges are one value per series;
//! the histogram of rule call times is copied in whole from the engine's stats
//! ([`LatencyHistogram`]) and written as `_bucket` (cumulative, `le`), `_sum` and `_count`.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::sync::Mutex;

use crate::engine::LatencyHistogram;

pub const EVENTS_ACCEPTED: &str = "yagura_events_accepted_total";
pub(crate) const EVENTS_REJECTED: &str = "yagura_events_rejected_total";
pub(crate) const EVENTS_THROTTLED: &str = "yagura_events_throttled_total";
pub(crate) const QUEUE_DEPTH: &str = "yagura_engine_queue_events";
pub(crate) const ALERTS: &str = "yagura_alerts_total";
pub(crate) const ALERT_STORE_ERRORS: &str = "yagura_alert_store_errors_total";
pub(crate) const ACTIVATIONS: &str = "yagura_activations_total";
pub(crate) const RULE_EVENTS: &str = "yagura_rule_events_total";
pub(crate) const RULE_FINDINGS: &str = "yagura_rule_findings_total";
pub(crate) const RULE_FAULTS: &str = "yagura_rule_faults_total";
pub(crate) const RULE_BUSY: &str = "yagura_rule_busy_seconds_total";
pub(crate) const RULE_LATENCY: &str = "yagura_rule_eval_seconds";
pub(crate) const RULE_QUARANTINED: &str = "yagura_rule_quarantined";
pub(crate) const RULE_SKIPPED: &str = "yagura_rule_skipped_events_total";
pub(crate) const SINK_DELIVERED: &str = "yagura_sink_delivered_total";
pub(crate) const SINK_FAILED: &str = "yagura_sink_failed_total";
pub(crate) const SINK_DROPPED: &str = "yagura_sink_dropped_total";
pub(crate) const SINK_RETRIES: &str = "yagura_sink_retries_total";
pub(crate) const HTTP_CONNECTIONS: &str = "yagura_http_connections";
pub(crate) const SYSLOG_UDP_DROPPED: &str = "yagura_syslog_udp_dropped_total";
pub(crate) const INGEST_IN_FLIGHT: &str = "yagura_ingest_requests_in_flight";
pub(crate) const INGEST_REFUSED: &str = "yagura_ingest_requests_refused_total";
pub(crate) const HTTP_REFUSED: &str = "yagura_http_connections_refused_total";
pub(crate) const SHADOW_RUNNING: &str = "yagura_shadow_running";
pub(crate) const SHADOW_LAG: &str = "yagura_shadow_lag_events";
pub(crate) const SHADOW_ALERTS: &str = "yagura_shadow_alerts";

/// What each metric is, for `# HELP` and `# TYPE`.
const FAMILIES: &[(&str, &str, &str)] = &[
    (
        EVENTS_ACCEPTED,
        "counter",
        "Events queued for a tenant's engine, by source (http, syslog-udp, syslog-tcp)",
    ),
    (
        EVENTS_REJECTED,
        "counter",
        "Records rejected (unreadable lines, syslog messages or TCP frames), by source",
    ),
    (
        EVENTS_THROTTLED,
        "counter",
        "Events refused with 429: the tenant's engine queue was full",
    ),
    (
        QUEUE_DEPTH,
        "gauge",
        "Events waiting in the tenant's engine queue",
    ),
    (
        ALERTS,
        "counter",
        "Findings stored as alerts, by change (new or updated)",
    ),
    (
        ALERT_STORE_ERRORS,
        "counter",
        "Findings that could not be stored",
    ),
    (
        ACTIVATIONS,
        "counter",
        "Rule-set swaps: pack activations and rollbacks, rule values, rules switched off or on",
    ),
    (RULE_EVENTS, "counter", "Events a rule was called with"),
    (RULE_FINDINGS, "counter", "Findings a rule reported"),
    (
        RULE_FAULTS,
        "counter",
        "Failed calls into a rule (traps, timeouts, limits, errors)",
    ),
    (RULE_BUSY, "counter", "Wall time spent in calls into a rule"),
    (
        RULE_LATENCY,
        "histogram",
        "Wall time of each call into a rule (a batch of events or a tick)",
    ),
    (
        RULE_QUARANTINED,
        "gauge",
        "1 while a rule is quarantined (faulted too often; not called until re-enabled)",
    ),
    (
        RULE_SKIPPED,
        "counter",
        "Events a rule was not called with because it was quarantined",
    ),
    (SINK_DELIVERED, "counter", "Alerts a sink delivered"),
    (
        SINK_FAILED,
        "counter",
        "Alerts a sink could not deliver (write errors; a webhook out of tries)",
    ),
    (
        SINK_DROPPED,
        "counter",
        "Alerts dropped because the sink's queue was full (ingest never waits for a sink)",
    ),
    (
        SINK_RETRIES,
        "counter",
        "Webhook posts retried after a failure",
    ),
    (
        INGEST_IN_FLIGHT,
        "gauge",
        "POST /v1/events requests of the tenant being read, decoded or queued",
    ),
    (
        INGEST_REFUSED,
        "counter",
        "POST /v1/events requests refused with 429 before their body was read, by reason (queue_full, in_flight)",
    ),
    (
        SYSLOG_UDP_DROPPED,
        "counter",
        "Datagrams the kernel dropped on a syslog UDP socket before Yagura read them (its receive buffer was full)",
    ),
    (
        HTTP_CONNECTIONS,
        "gauge",
        "Open connections to the HTTP API",
    ),
    (
        HTTP_REFUSED,
        "counter",
        "Connections to the HTTP API closed at once: the connection cap was reached",
    ),
    (
        SHADOW_RUNNING,
        "gauge",
        "1 while a shadow version of the pack runs for the tenant, 0 once it stopped or was promoted",
    ),
    (
        SHADOW_LAG,
        "gauge",
        "Events handed to the shadow that it has not evaluated yet",
    ),
    (
        SHADOW_ALERTS,
        "gauge",
        "The shadow's difference: alerts in the active version only, in the shadow only, in both",
    ),
];

/// Labels, as `(name, value)` pairs in a fixed order.
pub type Labels = Vec<(&'static str, String)>;

/// Every series the server counts: metric name → labels → value.
#[derive(Debug, Default)]
pub struct Metrics {
    /// guards the whole map; updates are a few per request or per batch, never per event
    series: Mutex<BTreeMap<&'static str, BTreeMap<Labels, f64>>>,
    /// histograms, replaced whole by each publication of a tenant's rule stats (per job)
    histograms: Mutex<BTreeMap<&'static str, BTreeMap<Labels, LatencyHistogram>>>,
}

fn escape(value: &str) -> String {
    value
        .replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

impl Metrics {
    pub fn add(&self, name: &'static str, labels: Labels, by: f64) {
        if let Ok(mut series) = self.series.lock() {
            *series.entry(name).or_default().entry(labels).or_default() += by;
        }
    }

    pub fn set(&self, name: &'static str, labels: Labels, value: f64) {
        if let Ok(mut series) = self.series.lock() {
            series.entry(name).or_default().insert(labels, value);
        }
    }

    pub fn set_histogram(&self, name: &'static str, labels: Labels, value: LatencyHistogram) {
        if let Ok(mut histograms) = self.histograms.lock() {
            histograms.entry(name).or_default().insert(labels, value);
        }
    }

    /// Replaces every series of `name` with `values` (a series not in them is gone).
    pub(crate) fn set_family(&self, name: &'static str, values: Vec<(Labels, f64)>) {
        if let Ok(mut series) = self.series.lock() {
            series.insert(name, values.into_iter().collect());
        }
    }

    /// Drops the per-rule series (`rule` label) of `tenant` whose rule is not in `rules`: a
    /// rule switched off or removed from the tenant's packs stops being reported instead of
    /// staying at its last values.
    pub(crate) fn retain_rules(&self, tenant: &str, rules: &[&str]) {
        let keep = |labels: &Labels| {
            let of_tenant = labels.iter().any(|(k, v)| *k == "tenant" && v == tenant);
            let rule = labels.iter().find(|(k, _)| *k == "rule");
            !of_tenant || rule.is_none_or(|(_, r)| rules.contains(&r.as_str()))
        };
        if let Ok(mut series) = self.series.lock() {
            for by_labels in series.values_mut() {
                by_labels.retain(|labels, _| keep(labels));
            }
        }
        if let Ok(mut histograms) = self.histograms.lock() {
            for by_labels in histograms.values_mut() {
                by_labels.retain(|labels, _| keep(labels));
            }
        }
    }

    /// The exposition text; with `tenant`, only the series labelled with that tenant.
    pub(crate) fn render(&self, tenant: Option<&str>) -> String {
        let mut out = String::new();
        let (Ok(series), Ok(histograms)) = (self.series.lock(), self.histograms.lock()) else {
            return out;
        };
        let shown = |labels: &Labels| {
            tenant.is_none_or(|t| labels.iter().any(|(k, v)| *k == "tenant" && v == t))
        };
        for (name, kind, help) in FAMILIES {
            let _ = writeln!(out, "# HELP {name} {help}");
            let _ = writeln!(out, "# TYPE {name} {kind}");
            for (labels, value) in series.get(name).into_iter().flatten() {
                if shown(labels) {
                    let _ = writeln!(out, "{name}{{{}}} {value}", render_labels(labels));
                }
            }
            for (labels, histogram) in histograms.get(name).into_iter().flatten() {
                if !shown(labels) {
                    continue;
                }
                let text = render_labels(labels);
                for (le, calls) in histogram.cumulative() {
                    let _ = writeln!(out, "{name}_bucket{{{text},le=\"{le}\"}} {calls}");
                }
                let sum = histogram.sum().as_secs_f64();
                let _ = writeln!(out, "{name}_sum{{{text}}} {sum}");
                let _ = writeln!(out, "{name}_count{{{text}}} {}", histogram.count());
            }
        }
        out
    }
}

/// `k="v",…`, escaped.
fn render_labels(labels: &Labels) -> String {
    let labels: Vec<String> = labels
        .iter()
        .map(|(k, v)| format!("{k}=\"{}\"", escape(v)))
        .collect();
    labels.join(",")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rules_no_longer_running_stop_being_reported() {
        let m = Metrics::default();
        let rule =
            |tenant: &str, rule: &str| vec![("tenant", tenant.into()), ("rule", rule.into())];
        for (tenant, r) in [("a", "kept"), ("a", "gone"), ("b", "gone")] {
            m.set(RULE_EVENTS, rule(tenant, r), 5.0);
            m.set_histogram(RULE_LATENCY, rule(tenant, r), LatencyHistogram::default());
        }
        m.set(QUEUE_DEPTH, vec![("tenant", "a".into())], 1.0);
        m.retain_rules("a", &["kept"]);
        let text = m.render(None);
        assert!(
            text.contains(r#"yagura_rule_events_total{tenant="a",rule="kept"} 5"#),
            "{text}"
        );
        assert!(!text.contains(r#"tenant="a",rule="gone""#), "{text}");
        assert!(
            text.contains(r#"yagura_rule_events_total{tenant="b",rule="gone"} 5"#),
            "another tenant's rules stay: {text}"
        );
        assert!(
            text.contains(r#"yagura_rule_eval_seconds_count{tenant="b",rule="gone"}"#),
            "{text}"
        );
        assert!(
            text.contains(r#"yagura_engine_queue_events{tenant="a"} 1"#),
            "series without a rule stay: {text}"
        );
    }

    #[test]
    fn renders_and_filters_by_tenant() {
        let m = Metrics::default();
        m.add(EVENTS_ACCEPTED, vec![("tenant", "a".into())], 3.0);
        m.add(EVENTS_ACCEPTED, vec![("tenant", "b\"x".into())], 1.0);
        let all = m.render(None);
        assert!(all.contains("yagura_events_accepted_total{tenant=\"a\"} 3"));
        assert!(all.contains("tenant=\"b\\\"x\""));
        assert!(!m.render(Some("a")).contains("b\\\"x"));
    }

    #[test]
    fn a_histogram_has_cumulative_buckets_a_sum_and_a_count_per_series() {
        let m = Metrics::default();
        let mut h = LatencyHistogram::default();
        h.record(std::time::Duration::from_micros(20));
        h.record(std::time::Duration::from_millis(2));
        let labels = |t: &str| vec![("tenant", t.to_owned()), ("rule", "r".to_owned())];
        m.set_histogram(RULE_LATENCY, labels("a"), h);
        m.set_histogram(RULE_LATENCY, labels("b"), LatencyHistogram::default());
        let text = m.render(Some("a"));
        assert!(
            text.contains("# TYPE yagura_rule_eval_seconds histogram"),
            "{text}"
        );
        let series = "tenant=\"a\",rule=\"r\"";
        for line in [
            format!("yagura_rule_eval_seconds_bucket{{{series},le=\"0.00001\"}} 0"),
            format!("yagura_rule_eval_seconds_bucket{{{series},le=\"0.00005\"}} 1"),
            format!("yagura_rule_eval_seconds_bucket{{{series},le=\"0.001\"}} 1"),
            format!("yagura_rule_eval_seconds_bucket{{{series},le=\"0.005\"}} 2"),
            format!("yagura_rule_eval_seconds_bucket{{{series},le=\"+Inf\"}} 2"),
            format!("yagura_rule_eval_seconds_sum{{{series}}} 0.00202"),
            format!("yagura_rule_eval_seconds_count{{{series}}} 2"),
        ] {
            assert!(text.lines().any(|l| l == line), "no `{line}` in:\n{text}");
        }
        assert!(
            !text.contains("tenant=\"b\""),
            "another tenant's series: {text}"
        );
        // a replacement is whole, not added to the previous one
        m.set_histogram(RULE_LATENCY, labels("a"), LatencyHistogram::default());
        assert!(
            m.render(Some("a"))
                .contains(&format!("yagura_rule_eval_seconds_count{{{series}}} 0"))
        );
    }
}
