//! Test fixture `probe`: reports every event it receives, with the fields the host converted,
//! so end-to-end tests can check event conversion, ordering, routing and host state.
//!
//! It subscribes to every class (`info` is static, so it cannot subscribe per config). For each
//! event it returns one finding titled `event`, dedup key = `seq`, evidence = `seq`, whose
//! context holds: `seq`, `time`, `class`, `activity`, `outcome`, `code` (the source's event
//! code), `hostname`, `image`, `cmd_line`, `parent_image`, `user`, `src`, `dst` (`ip:port`,
//! `[v6]:port`, `ip` or `:port`) and `total`, the number of events it has seen so far across
//! batches and instances (host counter `total`, window 10 years, added at each event's time).
//! Absent fields are left out; a code or port of 0 counts as absent.
//! On tick it returns one finding titled `tick` with `watermark` in its context.

use core::net::{IpAddr, SocketAddr};

use yagura_sdk::prelude::*;

/// The window of the `total` counter: long enough to count "in total".
const TOTAL_WINDOW: Window = Window::days(3650);

struct Probe;

impl Rule for Probe {
    fn info() -> RuleInfo {
        RuleInfo::new("probe", "Probe test fixture")
            .description("Reports every event it sees with its converted fields.")
            .severity(Severity::Informational)
            .subscribe_all()
            .build()
    }

    fn init(_config: &Config) -> Result<Self, String> {
        Ok(Probe)
    }

    fn on_events(&mut self, batch: &Batch, out: &mut Vec<Finding>) -> Result<(), String> {
        for ev in batch {
            let total = state::counter_add("total", ev.time, TOTAL_WINDOW, 1)?;
            out.push(
                Finding::new("event")
                    .severity(Severity::Informational)
                    .evidence(ev.seq)
                    .time(ev.time)
                    .dedup_key(ev.seq.to_string())
                    .context("seq", ev.seq)
                    .context("time", ev.time)
                    .context("class", ev.class())
                    .context("activity", ev.activity)
                    .context("outcome", ev.outcome)
                    .context_opt("code", ev.code())
                    .context_opt("hostname", ev.hostname())
                    .context_opt("image", ev.process_image())
                    .context_opt("cmd_line", ev.process_cmd_line())
                    .context_opt("parent_image", ev.parent_image())
                    .context_opt("user", ev.qualified_user())
                    .context_opt("src", endpoint(ev.src_ip(), ev.src_port()))
                    .context_opt("dst", endpoint(ev.dst_ip(), ev.dst_port()))
                    .context("total", total)
                    .build(),
            );
        }
        Ok(())
    }

    fn on_tick(&mut self, watermark: i64, out: &mut Vec<Finding>) -> Result<(), String> {
        out.push(
            Finding::new("tick")
                .severity(Severity::Informational)
                .time(watermark)
                .dedup_key(format!("tick:{watermark}"))
                .context("watermark", watermark)
                .build(),
        );
        Ok(())
    }
}

/// `ip:port` (`[v6]:port`), `ip` or `:port`, or nothing.
fn endpoint(ip: Option<IpAddr>, port: Option<u16>) -> Option<String> {
    match (ip, port) {
        (Some(ip), Some(port)) => Some(SocketAddr::new(ip, port).to_string()),
        (Some(ip), None) => Some(ip.to_string()),
        (None, Some(port)) => Some(format!(":{port}")),
        (None, None) => None,
    }
}

export_rule!(Probe);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn endpoints_format_as_socket_addresses() {
        let v4: IpAddr = "10.0.0.5".parse().expect("ip");
        let v6: IpAddr = "2001:db8::1".parse().expect("ip");
        assert_eq!(
            endpoint(Some(v4), Some(445)).as_deref(),
            Some("10.0.0.5:445")
        );
        assert_eq!(
            endpoint(Some(v6), Some(53)).as_deref(),
            Some("[2001:db8::1]:53")
        );
        assert_eq!(endpoint(Some(v6), None).as_deref(), Some("2001:db8::1"));
        assert_eq!(endpoint(None, Some(80)).as_deref(), Some(":80"));
        assert_eq!(endpoint(None, None), None);
    }
}
