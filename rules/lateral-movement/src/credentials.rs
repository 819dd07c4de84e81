//! Credential misuse: the logon shapes pass-the-hash leaves, and explicit credentials used
//! toward another host.
//!
//! - A new-credentials logon (4624 type 9, logon process `seclogo`) is what `sekurlsa::pth`
//!   and `runas /netonly` create on the attacker's own machine: the process gets other
//!   credentials for the network only.
//! - An NTLM network logon (4624 type 3) whose session key length is 0, from a remote
//!   source, by a named account: NTLM logons with a password normally negotiate a 128-bit
//!   key; tools that replay a hash often do not.
//! - Explicit credentials (4648) naming a remote target server: a process on this machine
//!   authenticated to another host with credentials typed or passed in (WMIC `/user`,
//!   `Enter-PSSession -Credential`, `net use /user`).
//!
//! Each is reported once per machine, account and (for 4648) target within the exec window.

use yagura_sdk::AuthProtocol;
use yagura_sdk::prelude::*;

use crate::Scratch;
use crate::classify::{is_local_target, is_remote_ip, push_ip, push_lower, push_upper, short_host};
use crate::report::{clip, subject_is_machine};
use crate::settings::Settings;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Shape {
    NewCredentials,
    NtlmNoKey,
    Explicit,
}

/// Reports the event if it has one of the three shapes.
pub(crate) fn on_event(s: &Settings, sc: &mut Scratch, ev: &EventRef<'_>, out: &mut Vec<Finding>) {
    let Some(auth) = ev.authentication() else {
        return;
    };
    if ev.outcome == Outcome::Failure {
        return;
    }
    let (Some(host), Some(account)) = (ev.hostname().filter(|h| !h.is_empty()), ev.user_name())
    else {
        return;
    };
    if s.account_excluded(account) {
        return;
    }
    let shape = match ev.activity {
        Activity::Logon if auth.logon_type == 9 => {
            let process = ev.text(auth.logon_process).unwrap_or("").trim();
            if !process.eq_ignore_ascii_case("seclogo") {
                return;
            }
            Shape::NewCredentials
        }
        Activity::Logon
            if auth.logon_type == 3
                && auth.protocol == AuthProtocol::Ntlm
                && auth.key_length == Some(0) =>
        {
            let Some(ip) = ev.src_ip().filter(|ip| is_remote_ip(*ip)) else {
                return;
            };
            sc.item.clear();
            push_ip(&mut sc.item, ip);
            if s.source_excluded(&sc.item)
                || ev
                    .src_hostname()
                    .is_some_and(|h| s.source_excluded(short_host(h)))
            {
                return;
            }
            Shape::NtlmNoKey
        }
        Activity::CredentialValidation => {
            let Some(target) = ev.text(auth.service) else {
                return;
            };
            if is_local_target(target, host) || subject_is_machine(ev) {
                return;
            }
            Shape::Explicit
        }
        _ => return,
    };
    // once per machine, account, shape (and target) per window
    sc.key.clear();
    sc.key.push_str(match shape {
        Shape::NewCredentials => "cm|pth|",
        Shape::NtlmNoKey => "cm|ntlm0|",
        Shape::Explicit => "cm|explicit|",
    });
    push_upper(&mut sc.key, host);
    sc.key.push('|');
    push_lower(&mut sc.key, account);
    if shape == Shape::Explicit
        && let Some(target) = ev.text(auth.service)
    {
        sc.key.push('|');
        push_upper(&mut sc.key, short_host(target));
    }
    if !sc.raise_level(1, ev.time, s.exec_window.end_from(ev.time)) {
        return;
    }
    let dedup = sc.key.clone();
    out.push(finding(ev, host, shape, dedup));
}

fn finding(ev: &EventRef<'_>, host: &str, shape: Shape, dedup: String) -> Finding {
    let auth = ev.authentication();
    let account = ev.qualified_user().unwrap_or_default();
    let subject = auth.and_then(|a| a.subject).and_then(|s| {
        let name = ev.text(s.name)?;
        Some(match ev.text(s.domain).filter(|d| !d.is_empty()) {
            Some(d) => format!("{d}\\{name}"),
            None => name.to_owned(),
        })
    });
    let process = ev.attribute(yagura_sdk::attribute_keys::ACTOR_PROCESS_IMAGE);
    let title = match shape {
        Shape::NewCredentials => {
            format!("New-credentials logon (pass-the-hash pattern) for {account} on {host}")
        }
        Shape::NtlmNoKey => format!(
            "NTLM network logon without session key for {account} on {host}{}",
            ev.src_ip()
                .map(|ip| format!(" from {ip}"))
                .unwrap_or_default()
        ),
        Shape::Explicit => format!(
            "Explicit credentials of {account} used from {host} toward {}",
            auth.and_then(|a| ev.text(a.service))
                .map(short_host)
                .unwrap_or("")
        ),
    };
    let b = Finding::new(title)
        .time(ev.time)
        .evidence(ev.seq)
        .dedup_key(dedup);
    let b = match shape {
        Shape::NewCredentials => b
            .severity(Severity::High)
            .confidence(65)
            .technique("T1550.002")
            .description(format!(
                "A new-credentials logon (type 9, seclogo) for {account} on {host}. Mimikatz \
                 `sekurlsa::pth` creates exactly this logon to run a process with a stolen \
                 NTLM hash; `runas /netonly` does too, so confirm with the user."
            ))
            .host(host)
            .role("source"),
        Shape::NtlmNoKey => {
            let b = b
                .severity(Severity::Medium)
                .confidence(50)
                .technique("T1550.002")
                .description(format!(
                    "An NTLM network logon for {account} on {host} without a session key \
                     (key length 0). Pass-the-hash tools often leave it; legacy clients and \
                     appliances can too — list known sources in `excluded_sources`."
                ))
                .host(host)
                .role("target");
            match ev.src_ip() {
                Some(ip) => b.ip(ip).role("source"),
                None => b,
            }
        }
        Shape::Explicit => {
            let target = auth
                .and_then(|a| ev.text(a.service))
                .map(short_host)
                .unwrap_or("");
            b.severity(Severity::Medium)
                .confidence(60)
                .technique("T1078")
                .technique("T1021")
                .description(format!(
                    "A process on {host} used the explicit credentials of {account} to \
                     authenticate to {target}{}. Attackers pass credentials this way to WMI, \
                     WinRM, SMB and RPC on other hosts; admins do as well.",
                    process
                        .map(|p| format!(" ({})", basename(p)))
                        .unwrap_or_default()
                ))
                .host(host)
                .role("source")
                .host(target)
                .role("target")
                .context("target", target)
        }
    };
    b.user(&account)
        .role("account")
        .context("account", &account)
        .context_opt("subject", subject)
        .context_opt("process", process.map(|p| clip(p, 256)))
        .context_opt(
            "logon_process",
            auth.and_then(|a| ev.text(a.logon_process)).map(str::trim),
        )
        .context_opt("source", ev.src_ip())
        .context_opt("source_host", ev.src_hostname())
        .build()
}
