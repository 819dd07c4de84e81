//! Fan-out: one account, or one source, authenticating over the network to many distinct
//! hosts within a window — an attacker walking the network with stolen credentials.
//!
//! Each successful network authentication yields `(source, account, destination)`:
//! - a network or remote-interactive logon (4624 type 3/10): the device is the destination,
//!   the logon's address or workstation the source;
//! - explicit credentials (4648): the device is the source, the target server the
//!   destination;
//! - a Kerberos service ticket (4769, on the domain controller): the client address is the
//!   source, the host the ticket is for (a `HOST$` account or `class/host` name) the
//!   destination.
//!
//! The destination is added to two windowed distinct sets, one per account and one per
//! source; at `fanout_min_hosts` a finding is reported, and again each time the count doubles.

use core::net::IpAddr;

use yagura_sdk::prelude::*;

use crate::Scratch;
use crate::classify::{is_local_target, is_remote_ip, push_ip, push_lower, push_upper, short_host};
use crate::settings::Settings;

/// How many destinations a finding lists.
const SAMPLE: u32 = 20;

/// How many domain controllers the guest caches (more are still found in host state).
const DC_CACHE: usize = 64;

/// How many hosts the guest remembers as no domain controller before it starts afresh.
const NOT_DC_CACHE: usize = 4_096;

/// How long a host stays known as a domain controller after its last Kerberos ticket event.
const DC_MEMORY: Window = Window::days(1);

/// One authentication's who, from where, to where.
struct Hop<'a> {
    account: &'a str,
    domain: &'a str,
    src_ip: Option<IpAddr>,
    src_host: &'a str,
    dest: &'a str,
    via: &'static str,
}

/// Counts the event's hop, if it is one, and reports a fan-out that reached the threshold.
pub(crate) fn on_event(s: &Settings, sc: &mut Scratch, ev: &EventRef<'_>, out: &mut Vec<Finding>) {
    if !s.fanout_count_dcs
        && matches!(
            ev.activity,
            Activity::TicketRequest | Activity::ServiceTicket
        )
        && let Some(host) = ev.hostname()
    {
        remember_dc(sc, short_host(host), ev.time);
    }
    let Some(hop) = hop(s, ev) else { return };
    if s.destination_excluded(hop.dest) || (!s.fanout_count_dcs && is_dc(sc, hop.dest, ev.time)) {
        return;
    }
    // per account
    sc.key.clear();
    sc.key.push_str("fo|a|");
    push_lower(&mut sc.key, hop.account);
    sc.value.clear();
    push_upper(&mut sc.value, hop.dest);
    let r = state::distinct_add(&sc.key, &sc.value, ev.time, s.fanout_window);
    if let Some(n) = sc.note_value(r)
        && n >= s.fanout_min_hosts
    {
        maybe_report(s, sc, ev, &hop, By::Account, n, out);
    }
    // per source
    let source_text_excluded = match hop.src_ip {
        Some(ip) => {
            sc.item.clear();
            push_ip(&mut sc.item, ip);
            s.source_excluded(&sc.item)
        }
        None => hop.src_host.is_empty() || s.source_excluded(hop.src_host),
    };
    if source_text_excluded {
        return;
    }
    sc.key.clear();
    sc.key.push_str("fo|s|");
    match hop.src_ip {
        Some(ip) => push_ip(&mut sc.key, ip),
        None => push_upper(&mut sc.key, hop.src_host),
    }
    let r = state::distinct_add(&sc.key, &sc.value, ev.time, s.fanout_window);
    if let Some(n) = sc.note_value(r)
        && n >= s.fanout_min_hosts
    {
        maybe_report(s, sc, ev, &hop, By::Source, n, out);
    }
}

/// Records that `host` issues Kerberos tickets: a domain controller.
fn remember_dc(sc: &mut Scratch, host: &str, at: i64) {
    if host.is_empty() || sc.known_dcs.iter().any(|d| d.eq_ignore_ascii_case(host)) {
        return;
    }
    dc_key(&mut sc.key, host);
    sc.not_dcs.remove(&sc.key);
    let r = state::set_u64(&sc.key, 1, DC_MEMORY.end_from(at));
    sc.note(r);
    if sc.known_dcs.len() < DC_CACHE {
        sc.known_dcs.push(host.to_ascii_uppercase());
    }
}

/// Whether `host` was seen issuing Kerberos tickets.
fn is_dc(sc: &mut Scratch, host: &str, at: i64) -> bool {
    if sc.known_dcs.iter().any(|d| d.eq_ignore_ascii_case(host)) {
        return true;
    }
    dc_key(&mut sc.key, host);
    if sc.not_dcs.contains(&sc.key) {
        return false;
    }
    let known = state::get_u64(&sc.key, at).is_some();
    if known && sc.known_dcs.len() < DC_CACHE {
        sc.known_dcs.push(host.to_ascii_uppercase());
    } else if !known {
        if sc.not_dcs.len() >= NOT_DC_CACHE {
            sc.not_dcs.clear();
        }
        sc.not_dcs.insert(sc.key.clone());
    }
    known
}

fn dc_key(key: &mut String, host: &str) {
    key.clear();
    key.push_str("dc|");
    push_upper(key, host);
}

/// The hop an authentication event describes, if it is a successful network one by an
/// account that is not excluded.
fn hop<'a>(s: &Settings, ev: &EventRef<'a>) -> Option<Hop<'a>> {
    let auth = ev.authentication()?;
    if ev.outcome == Outcome::Failure {
        return None;
    }
    let device = ev.hostname()?;
    let account = ev.user_name()?;
    if s.account_excluded(account) {
        return None;
    }
    let domain = ev.user_domain().unwrap_or("");
    let src_ip = ev.src_ip().filter(|ip| is_remote_ip(*ip));
    let hop = match ev.activity {
        Activity::Logon if matches!(auth.logon_type, 3 | 10) => {
            if ev.src_ip().is_some_and(|ip| !is_remote_ip(ip)) {
                return None;
            }
            let src_host = ev
                .src_hostname()
                .map(short_host)
                .filter(|h| !is_local_target(h, device))
                .unwrap_or("");
            // with no address or workstation the source is unknown; the account still counts
            Hop {
                account,
                domain,
                src_ip,
                src_host,
                dest: short_host(device),
                via: "network logon",
            }
        }
        Activity::CredentialValidation => {
            let target = ev.text(auth.service)?;
            if is_local_target(target, device) {
                return None;
            }
            Hop {
                account,
                domain,
                src_ip: ev.device_ip(),
                src_host: short_host(device),
                dest: short_host(target),
                via: "explicit credentials",
            }
        }
        Activity::ServiceTicket => {
            let service = ev.text(auth.service)?;
            // a host's own account (`WS06$`) or a host-based name (`cifs/ws06.corp`); a
            // ticket for a user-based service account names no host
            if !(service.ends_with('$') || service.contains('/'))
                || yagura_sdk::matchers::starts_with_ignore_case(service, "krbtgt")
            {
                return None;
            }
            let dest = short_host(service);
            if is_local_target(dest, device) {
                return None; // the domain controller's own services
            }
            Hop {
                account,
                domain,
                src_ip,
                src_host: "",
                dest,
                via: "Kerberos service ticket",
            }
        }
        _ => return None,
    };
    (!hop.dest.is_empty()).then_some(hop)
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum By {
    Account,
    Source,
}

fn maybe_report(
    s: &Settings,
    sc: &mut Scratch,
    ev: &EventRef<'_>,
    hop: &Hop<'_>,
    by: By,
    count: u32,
    out: &mut Vec<Finding>,
) {
    let set_key = sc.key.clone();
    sc.key.insert(0, '!');
    if !sc.doubled(u64::from(count), ev.time, s.fanout_window.end_from(ev.time)) {
        return;
    }
    let (_, hosts) = state::distinct_items(&set_key, ev.time, s.fanout_window, SAMPLE);
    let source = match hop.src_ip {
        Some(ip) => ip.to_string(),
        None => hop.src_host.to_owned(),
    };
    let account = if hop.domain.is_empty() || hop.domain == "-" {
        hop.account.to_owned()
    } else {
        format!("{}\\{}", hop.domain, hop.account)
    };
    let (subject, dedup) = match by {
        By::Account => (
            format!("account {account}"),
            format!("fanout|account|{}", hop.account.to_ascii_lowercase()),
        ),
        By::Source => (
            format!("source {source}"),
            format!("fanout|source|{}", source.to_ascii_uppercase()),
        ),
    };
    let window = s.fanout_window;
    let mut b = Finding::new(format!(
        "Fan-out: {subject} authenticated to {count} hosts within {window}"
    ))
    .description(format!(
        "{subject} authenticated over the network to {count} distinct hosts within {window} \
         (latest: {} via {}). One account or machine logging on to many hosts in a short time \
         is how an attacker moves with stolen credentials; administrators and management tools \
         do it too — exclude their accounts or sources once confirmed.",
        hop.dest, hop.via
    ))
    .severity(if count >= s.fanout_min_hosts.saturating_mul(2) {
        Severity::High
    } else {
        Severity::Medium
    })
    .confidence(60)
    .technique("T1021")
    .technique("T1078")
    .time(ev.time)
    .evidence(ev.seq)
    .dedup_key(dedup)
    .user(&account)
    .role("account");
    if let Some(ip) = hop.src_ip {
        b = b.ip(ip).role("source");
    } else if !hop.src_host.is_empty() {
        b = b.host(hop.src_host).role("source");
    }
    for h in &hosts {
        b = b.host(h).role("target");
    }
    out.push(
        b.context("distinct_hosts", count)
            .context("hosts", hosts.join(", "))
            .context("window", window)
            .context("latest_via", hop.via)
            .context(
                "grouped_by",
                if by == By::Account {
                    "account"
                } else {
                    "source"
                },
            )
            .context_opt("source", (!source.is_empty()).then_some(&source))
            .context("account", &account)
            .build(),
    );
}
