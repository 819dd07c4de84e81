//! Test fixture `counter`: counts events in host-kept state, so tests can check that a hot
//! swap hands the state of one version of a rule to the next and that every event is
//! evaluated exactly once.
//!
//! It subscribes to every class. For each event it adds 1 to the host counter `n:<host>`
//! (the event's hostname, `-` without one) and to `total`, both over a 10-year window, and
//! remembers the event's seq (value `last-seq`).
//!
//! Params:
//! - `label` (text, default `a`): names this configuration in its findings, so a test can
//!   tell which version evaluated an event.
//! - `threshold` (integer, default 0 = off): one finding titled `threshold` when a host's count
//!   reaches exactly this value, with `host`, `count` and `label` in its context.
//! - `report_each` (boolean, default false): one finding titled `event` per event, with `seq`,
//!   `label`, `count` (the host's) and `total` in its context, dedup key = seq.
//! - `check_seq` (boolean, default true): one finding titled `seq-gap` when an event's seq is
//!   not the one after `last-seq` (`expected`, `got`, `label`). Only meaningful when events
//!   arrive in seq order (increasing event times).

use yagura_sdk::prelude::*;

/// Long enough to count "in total".
const WINDOW: Window = Window::days(3650);
/// Never expires, as far as a test is concerned.
const FOREVER: i64 = i64::MAX;

struct Counter {
    label: String,
    threshold: i64,
    report_each: bool,
    check_seq: bool,
}

impl Rule for Counter {
    fn info() -> RuleInfo {
        RuleInfo::new("counter", "Counter test fixture")
            .description("Counts events per host in host state; reports thresholds and gaps.")
            .severity(Severity::Informational)
            .subscribe_all()
            .param(Param::text(
                "label",
                "names this configuration in findings",
                "a",
            ))
            .param(Param::integer(
                "threshold",
                "report when a host's count reaches this (0: never)",
                0,
            ))
            .param(Param::boolean(
                "report_each",
                "one finding per event",
                false,
            ))
            .param(Param::boolean(
                "check_seq",
                "report a seq that does not follow the last one",
                true,
            ))
            .build()
    }

    fn init(config: &Config) -> Result<Self, String> {
        Ok(Counter {
            label: config.text("label")?.to_owned(),
            threshold: config.integer_in("threshold", 0..=i64::MAX)?,
            report_each: config.boolean("report_each")?,
            check_seq: config.boolean("check_seq")?,
        })
    }

    fn on_events(&mut self, batch: &Batch, out: &mut Vec<Finding>) -> Result<(), String> {
        for ev in batch {
            let host = ev.hostname().unwrap_or("-");
            let count = state::counter_add(&format!("n:{host}"), ev.time, WINDOW, 1)?;
            let total = state::counter_add("total", ev.time, WINDOW, 1)?;
            if self.check_seq
                && let Some(last) = state::get_u64("last-seq", ev.time)
                && ev.seq != last + 1
            {
                out.push(
                    Finding::new("seq-gap")
                        .evidence(ev.seq)
                        .time(ev.time)
                        .dedup_key(format!("gap:{}", ev.seq))
                        .context("expected", last + 1)
                        .context("got", ev.seq)
                        .context("label", &self.label)
                        .build(),
                );
            }
            state::set_u64("last-seq", ev.seq, FOREVER)?;
            if self.threshold > 0 && count == self.threshold {
                out.push(
                    Finding::new("threshold")
                        .evidence(ev.seq)
                        .time(ev.time)
                        .dedup_key(format!("threshold:{host}"))
                        .context("host", host)
                        .context("count", count)
                        .context("label", &self.label)
                        .build(),
                );
            }
            if self.report_each {
                out.push(
                    Finding::new("event")
                        .evidence(ev.seq)
                        .time(ev.time)
                        .dedup_key(ev.seq.to_string())
                        .context("seq", ev.seq)
                        .context("label", &self.label)
                        .context("count", count)
                        .context("total", total)
                        .build(),
                );
            }
        }
        Ok(())
    }
}

export_rule!(Counter);
