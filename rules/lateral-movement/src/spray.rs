//! Password spray: many failed logons across many accounts from one source within a window
//! — one password tried against many accounts, or a credential-stuffing run.
//!
//! Failures counted: failed logons (4625), Kerberos pre-authentication failures (4771) and
//! failed NTLM validations (4776) — any authentication with outcome `failure` and activity
//! logon, ticket request or credential validation. The source is the client address, else
//! the workstation name. Per source, a windowed counter counts failures and a windowed
//! distinct set counts accounts; at `spray_min_failures` and `spray_min_accounts` a finding
//! is reported, and again each time the account count doubles.

use yagura_sdk::prelude::*;

use crate::Scratch;
use crate::classify::{is_remote_ip, push_ip, push_lower, push_upper, short_host};
use crate::settings::Settings;

/// How many accounts a finding lists.
const SAMPLE: u32 = 20;

/// Counts a failed authentication and reports a spray that reached both thresholds.
pub(crate) fn on_event(s: &Settings, sc: &mut Scratch, ev: &EventRef<'_>, out: &mut Vec<Finding>) {
    if ev.outcome != Outcome::Failure || ev.authentication().is_none() {
        return;
    }
    if !matches!(
        ev.activity,
        Activity::Logon | Activity::TicketRequest | Activity::CredentialValidation
    ) {
        return;
    }
    let Some(account) = ev.user_name().filter(|a| !a.is_empty() && *a != "-") else {
        return;
    };
    // the source: a remote address, else a workstation name
    sc.item.clear();
    match ev.src_ip() {
        Some(ip) if is_remote_ip(ip) => push_ip(&mut sc.item, ip),
        Some(_) => return, // local failures are not a network spray
        None => match ev.src_hostname().map(short_host).filter(|h| !h.is_empty()) {
            Some(h) => push_upper(&mut sc.item, h),
            None => return,
        },
    }
    if s.source_excluded(&sc.item) {
        return;
    }
    sc.key.clear();
    sc.key.push_str("sp|n|");
    sc.key.push_str(&sc.item);
    let failures = state::counter_add(&sc.key, ev.time, s.spray_window, 1);
    let Some(failures) = sc.note_value(failures) else {
        return;
    };
    sc.key.clear();
    sc.key.push_str("sp|a|");
    sc.key.push_str(&sc.item);
    sc.value.clear();
    push_lower(&mut sc.value, account);
    let accounts = state::distinct_add(&sc.key, &sc.value, ev.time, s.spray_window);
    let Some(accounts) = sc.note_value(accounts) else {
        return;
    };
    if failures < s.spray_min_failures || accounts < s.spray_min_accounts {
        return;
    }
    let set_key = sc.key.clone();
    sc.key.insert(0, '!');
    if !sc.doubled(
        u64::from(accounts),
        ev.time,
        s.spray_window.end_from(ev.time),
    ) {
        return;
    }
    let (_, sample) = state::distinct_items(&set_key, ev.time, s.spray_window, SAMPLE);
    let source = sc.item.clone();
    let window = s.spray_window;
    let mut b = Finding::new(format!(
        "Password spray from {source}: {failures} failed logons across {accounts} accounts within {window}"
    ))
    .description(format!(
        "{source} failed to authenticate {failures} times across {accounts} distinct accounts \
         within {window} (failures: 4625 logon, 4771 Kerberos pre-authentication, 4776 NTLM). \
         Trying one password against many accounts avoids lockouts; a misconfigured service \
         retries one account, not many."
    ))
    .severity(Severity::High)
    .confidence(75)
    .technique("T1110.003")
    .time(ev.time)
    .evidence(ev.seq)
    .dedup_key(format!("spray|{source}"));
    b = match ev.src_ip() {
        Some(ip) => b.ip(ip).role("source"),
        None => b.host(&source).role("source"),
    };
    if let Some(host) = ev.hostname() {
        b = b.host(host).role("target");
    }
    for a in &sample {
        b = b.user(a).role("account");
    }
    out.push(
        b.context("failures", failures)
            .context("distinct_accounts", accounts)
            .context("accounts", sample.join(", "))
            .context("window", window)
            .context("source", &source)
            .context_opt(
                "status",
                ev.authentication().map(|a| format!("{:#x}", a.status_code)),
            )
            .build(),
    );
}
