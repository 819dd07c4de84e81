//! Rule `scan-detection`: one source probing many hosts (a host sweep) or many ports of one
//! host (a vertical port scan) within a short window, from network activity — Zeek
//! `conn.log`, flows, firewall logs, Windows Filtering Platform and Sysmon connections.
//!
//! Each connection is classed as failed (refused, blocked, unanswered, or a SYN scan's
//! half-open hit), of unknown fate (a firewall's "allowed", a flow without state) or
//! established, and each distinct target counts with the weight of its heaviest class (see
//! [`probe`]). A source reaches a **host sweep** when its weighted distinct destinations reach
//! `sweep_threshold`, a **vertical scan** when its weighted distinct ports of one destination
//! reach `port_threshold`, both within `window_seconds` of event time.
//!
//! One alert per source (the dedup key), re-reported only when it learns something: a new
//! kind of scan, or a count that grew `report_growth` times since the last report (see
//! [`report`]). All counting is in host state, whose distinct sets keep a count and a bounded
//! sample, so a source touching millions of targets costs a bounded amount of memory.
//!
//! # Layout
//! - [`cidr`]: the allowlist of scanner sources.
//! - [`probe`]: the class of a connection, the weights and the weighted score.
//! - [`report`]: what the last report said, and when to report again.
//! - [`settings`]: the parameters, checked in `init`.
//! - [`finding`]: the finding, with counts and samples read back from host state.

mod cidr;
mod finding;
mod probe;
mod report;
mod settings;

use core::fmt::Write;
use core::net::IpAddr;
use std::collections::BTreeMap;

use yagura_sdk::prelude::*;
use yagura_sdk::state::StateError;

use crate::probe::{Facts, Probe, Targets};
use crate::report::{Reported, Seen};
pub(crate) use crate::settings::Settings;

/// A source that has touched more distinct destinations than this in the window is a sweep
/// already; its per-destination port sets stop growing, so that one source sweeping millions
/// of addresses does not make a million port sets (the sweep keeps counting).
const PAIR_TRACKING_LIMIT: u32 = 1_024;

/// Guest-side memory of reports, used only when host state refuses to store one, so that a
/// full state quota does not turn into a report per event. Bounded; lost on a new instance.
const FALLBACK_REPORTS: usize = 1_024;

/// The host's cap on the items of one distinct set (`StateLimits::max_items_per_key`,
/// docs/writing-rules-rust.md section 7): past it the oldest item is forgotten, so a count
/// this high means "at least this many".
pub(crate) const DISTINCT_CAP: u32 = 10_000;

/// The rule: settings, key buffers and the bookkeeping of state refusals.
struct ScanDetection {
    settings: Settings,
    /// the state key being built
    key: String,
    /// the distinct-set item being built (an address or a port)
    item: String,
    /// `src` or `src|dst`: the part of the keys naming the entity
    base: String,
    /// state refusals since this instance started, and the count at which to warn next
    refusals: u64,
    next_warning: u64,
    fallback: BTreeMap<String, (Reported, i64)>,
}

/// The two things counted, each with three distinct sets: all targets, those seen with a
/// connection that was not established, those seen with a failed one.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Dim {
    /// destinations of a source: keys `h|src`, `hn|src`, `hf|src`
    Hosts,
    /// ports of a source and destination: keys `p|src|dst`, `pn|…`, `pf|…`
    Ports,
}

impl Dim {
    pub(crate) const fn prefixes(self) -> [&'static str; 3] {
        match self {
            Dim::Hosts => ["h|", "hn|", "hf|"],
            Dim::Ports => ["p|", "pn|", "pf|"],
        }
    }
}

/// Key prefixes of the other state: ports a source used on any destination, its connection
/// attempts (a counter), the destinations it scanned vertically, and its last report.
pub(crate) const SOURCE_PORTS: &str = "sp|";
pub(crate) const ATTEMPTS: &str = "n|";
pub(crate) const SCANNED: &str = "v|";
const REPORTED: &str = "r|";

impl Rule for ScanDetection {
    fn info() -> RuleInfo {
        RuleInfo::new("scan-detection", "Network scan")
            .description(
                "One source probed many hosts (host sweep) or many ports of one host (vertical \
                 port scan) within a short window; refused, blocked and unanswered connections \
                 weigh more than established ones.",
            )
            .severity(Severity::Medium)
            .technique("T1046")
            .technique("T1018")
            .subscribe(EventClass::Network)
            .param(Param::integer(
                "sweep_threshold",
                "weighted distinct destination addresses of one source that make a host sweep",
                30,
            ))
            .param(Param::integer(
                "port_threshold",
                "weighted distinct destination ports of one source and destination that make a \
                 vertical port scan",
                20,
            ))
            .param(Param::integer(
                "window_seconds",
                "the window targets are counted in, in seconds of event time",
                60,
            ))
            .param(Param::float(
                "failed_weight",
                "what a target counts when a connection to it was refused, blocked or \
                 unanswered (1 to 100; a target of unknown fate counts 1)",
                2.0,
            ))
            .param(Param::float(
                "established_weight",
                "what a target counts when every connection to it was established (0 to 1)",
                0.5,
            ))
            .param(Param::text_list(
                "allowlist",
                "sources never reported: CIDR blocks or addresses of sanctioned scanners, e.g. \
                 `10.0.5.0/24`, `2001:db8:5::/48`, `192.0.2.10`",
                &[],
            ))
            .param(Param::float(
                "report_growth",
                "report a source again within its window when a count (hosts, ports, scanned \
                 hosts) reaches this many times what the last report said (more than 1; 2 \
                 reports at each doubling)",
                2.0,
            ))
            .build()
    }

    fn init(config: &Config) -> Result<Self, String> {
        Ok(ScanDetection {
            settings: Settings::from_config(config)?,
            key: String::with_capacity(128),
            item: String::with_capacity(48),
            base: String::with_capacity(96),
            refusals: 0,
            next_warning: 1,
            fallback: BTreeMap::new(),
        })
    }

    fn on_events(&mut self, batch: &Batch, out: &mut Vec<Finding>) -> Result<(), String> {
        let mut last_error = None;
        let mut refused = 0u64;
        for ev in batch {
            if let Err(e) = self.on_event(&ev, out) {
                refused += 1;
                last_error = Some(e);
            }
        }
        if let Some(e) = last_error {
            self.refusals += refused;
            if self.refusals >= self.next_warning {
                // Warn at 1, 10, 100… refusals: a full quota is worth knowing, not a log line
                // per batch.
                self.next_warning = self.refusals.saturating_mul(10);
                log::warn(&format!(
                    "host state refused {} updates since this instance started (last: {}); \
                     those connections were not counted",
                    self.refusals,
                    e.message()
                ));
            }
        }
        Ok(())
    }
}

/// Addresses that are no target or no scanner: unspecified, multicast and broadcast
/// destinations, loopback traffic and a host talking to itself.
fn ignored(src: IpAddr, dst: IpAddr) -> bool {
    let broadcast = matches!(dst, IpAddr::V4(v4) if v4.is_broadcast());
    src.is_unspecified()
        || dst.is_unspecified()
        || dst.is_multicast()
        || broadcast
        || src.is_loopback()
        || src == dst
}

impl ScanDetection {
    /// Counts one event and reports its source when due. An error is a state refusal: the
    /// event was not (fully) counted.
    fn on_event(&mut self, ev: &EventRef<'_>, out: &mut Vec<Finding>) -> Result<(), StateError> {
        let Some(net) = ev.network() else {
            return Ok(());
        };
        let (Some(src), Some(dst)) = (ev.src_ip(), ev.dst_ip()) else {
            return Ok(());
        };
        let (src, dst) = (src.to_canonical(), dst.to_canonical());
        if ignored(src, dst) || self.settings.allowed(src) {
            return Ok(());
        }
        let state = ev.text(net.state);
        let history = state
            .filter(|s| s.eq_ignore_ascii_case("RSTO"))
            .and_then(|_| ev.attribute("history"));
        let probe = probe::classify(&Facts {
            activity: ev.activity,
            outcome: ev.outcome,
            disposition: net.disposition,
            state,
            history,
        });
        let at = ev.time;
        let window = self.settings.window;

        // The sweep: this destination among the source's.
        self.base.clear();
        let _ = write!(self.base, "{src}"); // writing to a String cannot fail
        self.item.clear();
        let _ = write!(self.item, "{dst}");
        let hosts = self.count(Dim::Hosts, probe, at, self.settings.sweep_threshold)?;
        self.key.clear();
        let _ = write!(self.key, "{ATTEMPTS}{src}");
        state::counter_add(&self.key, self.settings.attempt_bucket(at), window, 1)?;
        let port = ev.dst_port();
        if let Some(port) = port {
            self.key.clear();
            let _ = write!(self.key, "{SOURCE_PORTS}{src}");
            self.item.clear();
            let _ = write!(self.item, "{port}");
            state::distinct_add(&self.key, &self.item, at, window)?;
        }
        let sweep_on = self
            .settings
            .weights
            .reaches(hosts, self.settings.sweep_threshold);

        // The vertical scan: this port among the destination's.
        let mut pair = None;
        if let Some(port) = port.filter(|_| hosts.all <= PAIR_TRACKING_LIMIT) {
            let _ = write!(self.base, "|{dst}");
            self.item.clear();
            let _ = write!(self.item, "{port}");
            pair = Some(self.count(Dim::Ports, probe, at, self.settings.port_threshold)?);
        }
        let vertical_on = pair.is_some_and(|p| {
            self.settings
                .weights
                .reaches(p, self.settings.port_threshold)
        });
        if !sweep_on && !vertical_on {
            return Ok(());
        }

        let mut seen = Seen {
            sweep: sweep_on.then_some(hosts.all),
            vertical: None,
            capped: hosts.all >= DISTINCT_CAP,
        };
        if let (true, Some(p)) = (vertical_on, pair) {
            self.key.clear();
            let _ = write!(self.key, "{SCANNED}{src}");
            self.item.clear();
            let _ = write!(self.item, "{dst}");
            let scanned = state::distinct_add(&self.key, &self.item, at, window)?;
            seen.vertical = Some((scanned, p.all));
        }

        self.key.clear();
        let _ = write!(self.key, "{REPORTED}{src}");
        let last = state::get(&self.key, at)
            .and_then(|b| Reported::decode(&b))
            .or_else(|| self.fallback_get(at));
        let Some(next) = report::due(last, seen, self.settings.growth) else {
            return Ok(());
        };
        let expires = window.end_from(at);
        let stored = state::set(&self.key, &next.encode(), expires);
        if stored.is_err() {
            self.fallback_put(next, expires);
        }
        out.push(finding::build(
            &self.settings,
            ev,
            src,
            vertical_on.then_some(dst),
            next,
        ));
        stored
    }

    /// Adds `self.item` to the three sets of `dim` under `self.base` and returns the counts.
    /// The counts of sets this event does not add to are read only when they could decide
    /// whether `threshold` is reached.
    fn count(
        &mut self,
        dim: Dim,
        probe: Probe,
        at: i64,
        threshold: f64,
    ) -> Result<Targets, StateError> {
        let window = self.settings.window;
        let [all_key, not_established_key, failed_key] = dim.prefixes();
        let add = |prefix: &str, key: &mut String| {
            key.clear();
            key.push_str(prefix);
            key.push_str(&self.base);
            state::distinct_add(key, &self.item, at, window)
        };
        let all = add(all_key, &mut self.key)?;
        let not_established = match probe {
            Probe::Established => None,
            _ => Some(add(not_established_key, &mut self.key)?),
        };
        let failed = match probe {
            Probe::Failed => Some(add(failed_key, &mut self.key)?),
            _ => None,
        };
        let mut t = Targets {
            all,
            not_established: not_established.unwrap_or(0),
            failed: failed.unwrap_or(0),
        };
        let weights = self.settings.weights;
        let undecided = !weights.reaches(t, threshold) && weights.at_most(all) + 1e-9 >= threshold;
        if undecided {
            let mut read = |prefix: &str| {
                self.key.clear();
                self.key.push_str(prefix);
                self.key.push_str(&self.base);
                state::distinct_items(&self.key, at, window, 0).0
            };
            if not_established.is_none() {
                t.not_established = read(not_established_key);
            }
            if failed.is_none() {
                t.failed = read(failed_key);
            }
        }
        Ok(t)
    }

    /// The last report of the source in `self.key` (`r|src`) from guest memory, when host
    /// state refused to keep it.
    fn fallback_get(&self, at: i64) -> Option<Reported> {
        self.fallback
            .get(&self.key)
            .filter(|(_, expires)| *expires >= at)
            .map(|(r, _)| *r)
    }

    fn fallback_put(&mut self, r: Reported, expires: i64) {
        if self.fallback.len() >= FALLBACK_REPORTS {
            self.fallback.clear();
        }
        self.fallback.insert(self.key.clone(), (r, expires));
    }
}

export_rule!(ScanDetection);

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> IpAddr {
        s.parse().expect("test address")
    }

    #[test]
    fn addresses_that_are_no_scan() {
        assert!(ignored(ip("10.0.0.5"), ip("224.0.0.251")));
        assert!(ignored(ip("fe80::1"), ip("ff02::fb")));
        assert!(ignored(ip("10.0.0.5"), ip("255.255.255.255")));
        assert!(ignored(ip("0.0.0.0"), ip("10.0.0.1")));
        assert!(ignored(ip("127.0.0.1"), ip("127.0.0.1")));
        assert!(ignored(ip("10.0.0.5"), ip("10.0.0.5")));
        assert!(!ignored(ip("10.0.0.5"), ip("10.0.0.6")));
        assert!(!ignored(ip("2001:db8::5"), ip("2001:db8::6")));
    }
}
