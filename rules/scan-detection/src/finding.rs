//! The finding for a source: title and description by kind of scan, the source and the hosts
//! it scanned as entities, and counts and samples read back from host state.

use core::fmt::Write;
use core::net::IpAddr;

use yagura_sdk::prelude::*;

use crate::probe::Targets;
use crate::report::{Reported, SWEEP, VERTICAL};
use crate::{ATTEMPTS, DISTINCT_CAP, Dim, SCANNED, SOURCE_PORTS, Settings};

/// Destinations a finding lists.
const DESTINATIONS_LISTED: u32 = 16;
/// Ports a finding lists.
const PORTS_LISTED: u32 = 64;
/// Vertically scanned hosts a finding names as entities.
const TARGETS_NAMED: u32 = 8;

/// The finding for `src` at `ev`; `dst` is the destination whose ports reached the threshold
/// at this event, if any.
pub(crate) fn build(
    s: &Settings,
    ev: &EventRef<'_>,
    src: IpAddr,
    dst: Option<IpAddr>,
    reported: Reported,
) -> Finding {
    let at = ev.time;
    let window = s.window;
    let hosts = targets(Dim::Hosts, &src.to_string(), at, window);
    let (_, sample_hosts) = items(
        &format!("{}{src}", Dim::Hosts.prefixes()[0]),
        at,
        window,
        DESTINATIONS_LISTED,
    );
    let (ports_used, mut sample_ports) =
        items(&format!("{SOURCE_PORTS}{src}"), at, window, PORTS_LISTED);
    sort_ports(&mut sample_ports);
    let attempts = state::counter_sum(&format!("{ATTEMPTS}{src}"), s.attempt_bucket(at), window);
    let sweep_score = s.weights.score(hosts);
    let sweep = reported.kinds & SWEEP != 0;
    let vertical = reported.kinds & VERTICAL != 0;

    let capped = if hosts.all >= DISTINCT_CAP {
        "at least "
    } else {
        ""
    };
    let mut title = String::new();
    let mut desc = String::new();
    let pair = dst.map(|dst| {
        let base = format!("{src}|{dst}");
        let t = targets(Dim::Ports, &base, at, window);
        let (_, mut ports) = items(
            &format!("{}{base}", Dim::Ports.prefixes()[0]),
            at,
            window,
            PORTS_LISTED,
        );
        sort_ports(&mut ports);
        (dst, t, ports)
    });
    let (scanned, scanned_sample) = if vertical {
        items(&format!("{SCANNED}{src}"), at, window, TARGETS_NAMED)
    } else {
        (0, Vec::new())
    };
    match (sweep, &pair) {
        (true, _) if vertical => {
            let _ = write!(title, "Host sweep and port scan from {src}");
        }
        (true, _) => {
            let _ = write!(
                title,
                "Host sweep from {src}: {capped}{} hosts within {window}",
                hosts.all
            );
        }
        (false, Some((dst, t, _))) => {
            let _ = write!(
                title,
                "Vertical port scan from {src} to {dst}: {} ports within {window}",
                t.all
            );
        }
        (false, None) => {
            let _ = write!(title, "Port scan from {src}");
        }
    }
    if sweep {
        let _ = write!(
            desc,
            "{src} probed {capped}{} distinct hosts within {window}; {} of them refused, \
             blocked or did not answer (weighted score {sweep_score:.1}, threshold {}). ",
            hosts.all, hosts.failed, s.sweep_threshold
        );
    }
    if let Some((dst, t, _)) = &pair {
        let _ = write!(
            desc,
            "{src} probed {} distinct ports of {dst} within {window}; {} of them were refused, \
             blocked or unanswered (weighted score {:.1}, threshold {}). ",
            t.all,
            t.failed,
            s.weights.score(*t),
            s.port_threshold
        );
    }
    if vertical && (sweep || pair.is_none()) {
        let _ = write!(
            desc,
            "{scanned} host(s) reached the port threshold in the window. "
        );
    }
    let _ = write!(
        desc,
        "A refused, blocked or unanswered target counts {}, an established one {}, any other 1: \
         a scanner's probes mostly fail. Check whether {src} is a sanctioned scanner (then add \
         it to the allowlist) or a host doing discovery.",
        s.weights.failed, s.weights.established
    );

    // Confidence follows the share of failed targets: scans fail, clients mostly do not.
    let (failed, all) = match &pair {
        Some((_, t, _)) if !sweep => (t.failed, t.all),
        _ => (hosts.failed, hosts.all),
    };
    let share = if all == 0 {
        0
    } else {
        u64::from(failed.min(all)) * 40 / u64::from(all)
    };
    let confidence = 55 + u8::try_from(share).unwrap_or(40);

    let kind = match (sweep, vertical) {
        (true, true) => "host_sweep+vertical_port_scan",
        (true, false) => "host_sweep",
        _ => "vertical_port_scan",
    };
    let mut f = Finding::new(title)
        .description(desc)
        .severity(if sweep && vertical {
            Severity::High
        } else {
            Severity::Medium
        })
        .confidence(confidence)
        .technique("T1046");
    if sweep {
        f = f.technique("T1018");
    }
    f = f.ip(src).role("source");
    if let Some(name) = ev.src_hostname().filter(|h| !h.is_empty()) {
        f = f.host(name).role("source");
    }
    for target in &scanned_sample {
        f = f.entity(EntityKind::Ip, target, Some("target"));
    }
    if let Some((dst, _, _)) = &pair
        && !scanned_sample.iter().any(|t| *t == dst.to_string())
    {
        f = f.ip(dst).role("target");
    }
    f = f
        .evidence(ev.seq)
        .time(at)
        .dedup_key(format!("scan|{src}"))
        .context("scan_kind", kind)
        .context("window", window)
        .context("connection_attempts", attempts)
        .context("distinct_destinations", hosts.all)
        .context("failed_destinations", hosts.failed)
        .context("sweep_score", format!("{sweep_score:.1}"))
        .context("sample_destinations", sample_hosts.join(", "))
        .context("distinct_ports_any_destination", ports_used)
        .context("sample_ports", sample_ports.join(", "));
    if hosts.all >= DISTINCT_CAP {
        f = f.context("destinations_capped", "true");
    }
    if let Some((dst, t, ports)) = &pair {
        f = f
            .context("target", dst)
            .context("distinct_ports", t.all)
            .context("failed_ports", t.failed)
            .context("port_score", format!("{:.1}", s.weights.score(*t)))
            .context("ports", ports.join(", "));
    }
    if vertical {
        f = f
            .context("scanned_destinations", scanned)
            .context("sample_scanned_destinations", scanned_sample.join(", "));
    }
    f.build()
}

/// The counts of the three sets of `dim` under `base`.
fn targets(dim: Dim, base: &str, at: i64, window: Window) -> Targets {
    let [all, not_established, failed] = dim.prefixes();
    let count = |prefix: &str| state::distinct_items(&format!("{prefix}{base}"), at, window, 0).0;
    Targets {
        all: count(all),
        not_established: count(not_established),
        failed: count(failed),
    }
}

fn items(key: &str, at: i64, window: Window, limit: u32) -> (u32, Vec<String>) {
    state::distinct_items(key, at, window, limit)
}

/// Sorts port numbers numerically (they are kept as text).
fn sort_ports(ports: &mut [String]) {
    ports.sort_by_key(|p| p.parse::<u32>().unwrap_or(u32::MAX));
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ports_sort_as_numbers() {
        let mut p: Vec<String> = ["443", "22", "3389", "x", "80"]
            .iter()
            .map(|s| (*s).to_owned())
            .collect();
        sort_ports(&mut p);
        assert_eq!(p, ["22", "80", "443", "3389", "x"]);
    }
}
