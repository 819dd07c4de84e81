//! Rule `vertical-port-scan`: one source address touches many ports of one destination
//! address within a short window — internal reconnaissance (nmap, masscan, a worm probing a
//! host) as firewall and flow logs (Zeek conn.log, netfilter) show it.
//!
//! For each network event with both addresses and a destination port it records the port in
//! the host's distinct set of `src>dst` over `window_seconds`; when the set reaches
//! `threshold` ports it reports once, and a key/value marker that expires with the window
//! keeps the pair quiet until then. The counting happens in host state, so it continues across
//! batches, instances and rule versions. This rule doubles as the benchmark's flow rule.

use core::fmt::Write;
use core::net::IpAddr;

use yagura_sdk::prelude::*;

/// How many of the ports seen a finding lists.
const PORTS_LISTED: u32 = 64;

/// The rule: its settings and two key buffers reused from event to event.
struct VerticalPortScan {
    threshold: u32,
    window: Window,
    /// `src>dst`, the distinct-set key of the pair being looked at
    key: String,
    /// the destination port as text, the distinct-set item
    port: String,
}

impl Rule for VerticalPortScan {
    fn info() -> RuleInfo {
        RuleInfo::new("vertical-port-scan", "Vertical port scan")
            .description(
                "One source address reached many distinct ports of one destination address \
                 within a short window, as a port scanner does.",
            )
            .severity(Severity::Medium)
            .technique("T1046")
            .subscribe(EventClass::Network)
            .param(Param::integer(
                "threshold",
                "distinct destination ports that make a scan",
                20,
            ))
            .param(Param::integer(
                "window_seconds",
                "the window the ports are counted in, in seconds of event time",
                60,
            ))
            .build()
    }

    fn init(config: &Config) -> Result<Self, String> {
        let threshold = config.integer_in("threshold", 2..=65_536)?;
        let window = config.integer_in("window_seconds", 1..=86_400)?;
        Ok(VerticalPortScan {
            threshold: u32::try_from(threshold).map_err(|e| e.to_string())?,
            window: Window::seconds(window.unsigned_abs()),
            key: String::with_capacity(96),
            port: String::with_capacity(8),
        })
    }

    fn on_events(&mut self, batch: &Batch, out: &mut Vec<Finding>) -> Result<(), String> {
        let mut state_errors = 0u32;
        for ev in batch {
            let (Some(src), Some(dst), Some(port)) = (ev.src_ip(), ev.dst_ip(), ev.dst_port())
            else {
                continue;
            };
            self.key.clear();
            self.port.clear();
            // Writing to a String cannot fail.
            let _ = write!(self.key, "{src}>{dst}");
            let _ = write!(self.port, "{port}");
            let distinct = match state::distinct_add(&self.key, &self.port, ev.time, self.window) {
                Ok(n) => n,
                Err(_) => {
                    state_errors += 1;
                    continue;
                }
            };
            if distinct < self.threshold {
                continue;
            }
            let marker = format!("reported:{}", self.key);
            match state::mark_once(&marker, ev.time, self.window.end_from(ev.time)) {
                Ok(true) => out.push(self.finding(&ev, src, dst, distinct)),
                Ok(false) => {}
                Err(_) => state_errors += 1,
            }
        }
        if state_errors > 0 {
            log::warn(&format!(
                "host state refused {state_errors} updates in a batch of {}; those events were not counted",
                batch.len()
            ));
        }
        Ok(())
    }
}

impl VerticalPortScan {
    /// The finding for a pair that reached the threshold at `ev`.
    fn finding(&self, ev: &EventRef<'_>, src: IpAddr, dst: IpAddr, distinct: u32) -> Finding {
        let (_, ports) = state::distinct_items(&self.key, ev.time, self.window, PORTS_LISTED);
        let mut ports: Vec<u16> = ports.iter().filter_map(|p| p.parse().ok()).collect();
        ports.sort_unstable();
        let ports = ports
            .iter()
            .map(u16::to_string)
            .collect::<Vec<_>>()
            .join(",");
        let mut f = Finding::new(format!("Vertical port scan from {src} to {dst}"))
            .description(format!(
                "{src} reached {distinct} distinct ports of {dst} within {}.",
                self.window
            ))
            .severity(Severity::Medium)
            .confidence(70)
            .technique("T1046")
            .ip(src)
            .role("source")
            .ip(dst)
            .role("destination");
        if let Some(host) = ev.dst_hostname().filter(|h| !h.is_empty()) {
            f = f.host(host).role("destination");
        }
        f.evidence(ev.seq)
            .time(ev.time)
            .dedup_key(self.key.clone())
            .context("distinct_ports", distinct)
            .context("window_seconds", self.window.as_millis() / 1_000)
            .context("ports", ports)
            .build()
    }
}

export_rule!(VerticalPortScan);
