//! Remote execution on a target: a service install, an admin-share or named-pipe access, a
//! scheduled task, or a process started by WMI, WinRM, DCOM or the service manager — tied,
//! when the logs allow, to the network logon that preceded it on the same host.
//!
//! Every event first feeds the origin store ([`crate::origin`]): network logons, share
//! accesses, inbound admin-port connections, explicit credentials and PsExec clients. Then, if
//! the event is an execution signal ([`crate::classify`]), the origin of its host is recalled.
//! Strong signals are reported alone (lower confidence); weak ones only with an origin. The
//! alert of a host and technique is re-reported when it learns the source or the account.
//!
//! # Layout
//! - `feed`: what each event says about where activity on a host came from.
//! - `pending`: signals reported with partial knowledge, upgraded by later evidence.
//! - `finding`: the finding a signal becomes.
//! - this module: the signals and the decision to report.

mod feed;
mod finding;
mod pending;

use yagura_sdk::JobKind;
use yagura_sdk::matchers::eq_ignore_case;
use yagura_sdk::prelude::*;

use crate::Scratch;
use crate::classify::{self, Method, is_remote_ip, push_upper, short_host};
use crate::origin;
use crate::report::account_of;
use crate::settings::Settings;

use finding::{Reported, View, finding};

/// An execution signal found in one event.
struct Signal<'a> {
    method: Method,
    /// the service or task name, the share, the pipe or the process
    name: &'a str,
    /// the command, the relative target or the command line
    detail: &'a str,
    /// the client host a PsExec pipe names
    client: Option<&'a str>,
}

/// Feeds the origin store and reports the execution signal the event carries, if any.
pub(crate) fn on_event(s: &Settings, sc: &mut Scratch, ev: &EventRef<'_>, out: &mut Vec<Finding>) {
    let Some(host) = ev.hostname().filter(|h| !h.is_empty()) else {
        return;
    };
    feed::feed(s, sc, ev, host, out);
    let Some(signal) = signal(sc, ev, host) else {
        return;
    };
    report(s, sc, ev, host, &signal, out);
}

/// Whether a recalled account and the signal's own account can be the same: either is
/// unknown, or the names (without domains) match.
fn same_account(recalled: &str, own: Option<&str>) -> bool {
    fn bare(account: &str) -> &str {
        account.rsplit('\\').next().unwrap_or(account)
    }
    match own {
        Some(own) if !recalled.is_empty() => bare(recalled).eq_ignore_ascii_case(bare(own)),
        _ => true,
    }
}

/// The SID of a service's installer when the source names it only so (7045's System user):
/// a domain or local account, not SYSTEM, LOCAL SERVICE or NETWORK SERVICE.
fn installer_sid(ev: &EventRef<'_>) -> Option<String> {
    if ev.class() != EventClass::Job || ev.user_name().is_some() {
        return None;
    }
    let sid = ev.user_sid()?;
    yagura_sdk::matchers::starts_with_ignore_case(sid, "S-1-5-21-").then(|| sid.to_owned())
}

/// The execution signal the event carries.
fn signal<'a>(sc: &mut Scratch, ev: &EventRef<'a>, host: &str) -> Option<Signal<'a>> {
    match ev.class() {
        EventClass::Job if ev.activity == Activity::Create => {
            let job = ev.job()?;
            let name = ev.text(job.name).unwrap_or("");
            let command = ev.text(job.command).unwrap_or("");
            let method = match job.kind {
                JobKind::Service => classify::service(name, command)?,
                JobKind::ScheduledTask => Method {
                    technique: classify::technique::SCHEDULED_TASK,
                    name: "scheduled task created",
                    standalone: false,
                },
            };
            Some(Signal {
                method,
                name,
                detail: command,
                client: None,
            })
        }
        EventClass::Registry => {
            let reg = ev.registry()?;
            let value_name = ev.text(reg.value_name).unwrap_or("");
            let name = classify::service_image_key(ev.text(reg.key)?, value_name)?;
            let command = ev.text(reg.value_data)?;
            Some(Signal {
                method: classify::service(name, command)?,
                name,
                detail: command,
                client: None,
            })
        }
        EventClass::File => {
            let file = ev.file()?;
            if let Some(share) = ev.text(file.share_name) {
                ev.src_ip().filter(|ip| is_remote_ip(*ip))?;
                let target = ev.text(file.relative_target).unwrap_or("");
                return Some(Signal {
                    method: classify::share_access(share, target, file.access_mask)?,
                    name: share,
                    detail: target,
                    client: classify::psexec_pipe_client(target),
                });
            }
            // Sysmon 17/18: a pipe is a path without a drive
            let pipe = ev.text(file.path)?;
            if pipe.contains(':') || !pipe.starts_with('\\') {
                return None;
            }
            Some(Signal {
                method: classify::pipe_method(pipe)?,
                name: pipe,
                detail: ev.process_image().unwrap_or(""),
                client: classify::psexec_pipe_client(pipe),
            })
        }
        EventClass::Process if ev.activity == Activity::Create => {
            let image = ev.process_image()?;
            let cmd = ev.process_cmd_line().unwrap_or("");
            let resolved;
            let parent = match ev.parent_image() {
                Some(p) => p,
                None => {
                    resolved = origin::recall_pid(&mut sc.key, host, ev.parent_pid()?, ev.time)?;
                    resolved.as_str()
                }
            };
            let parent_cmd = ev.parent_cmd_line().unwrap_or("");
            Some(Signal {
                method: classify::process_launch(image, cmd, parent, parent_cmd)?,
                name: image,
                detail: cmd,
                client: None,
            })
        }
        _ => None,
    }
}

/// Reports a signal unless it is weak and nothing ties it to a source, or its host and
/// technique were reported with as much knowledge within the window.
fn report(
    s: &Settings,
    sc: &mut Scratch,
    ev: &EventRef<'_>,
    host: &str,
    signal: &Signal<'_>,
    out: &mut Vec<Finding>,
) {
    let own_account = account_of(s, ev);
    // a logon by another account than the one the signal runs as is unrelated activity (a
    // busy file server always has some logon in the window)
    let recalled = origin::recall(&mut sc.key, host, ev.time)
        .filter(|o| same_account(&o.account, own_account.as_deref()));
    let correlated = recalled.is_some();
    if !signal.method.standalone && !correlated {
        return;
    }
    let mut origin = recalled.unwrap_or_default();
    if !origin.has_source()
        && let Some(client) = signal.client
        && !eq_ignore_case(client, short_host(host))
    {
        origin.host = client.to_owned();
    }
    if origin.ip.is_none() && ev.class() == EventClass::File {
        origin.ip = ev.src_ip().filter(|ip| is_remote_ip(*ip));
    }
    if origin.account.is_empty()
        && let Some(account) = own_account.or_else(|| installer_sid(ev))
    {
        origin.account = account;
    }
    let level = origin.level() + u64::from(correlated);
    let view = View {
        technique: signal.method.technique,
        method: signal.method.name,
        name: signal.name,
        detail: signal.detail,
        seq: ev.seq,
    };
    let Some(signals) = escalate(s, sc, host, view.technique, level, ev.time, true) else {
        return;
    };
    if level < 3 {
        pending::remember(s, sc, host, &view, &origin, ev.time);
    }
    out.push(finding(
        host,
        &view,
        &origin,
        correlated,
        signals,
        Reported {
            time: ev.time,
            seq: ev.seq,
            process: ev.process_label(),
        },
    ));
}

/// Counts the signal (when `count`) and checks that `level` is more than was reported for
/// the host and technique. `None`: nothing new to report. `Some(signals in the window)`.
fn escalate(
    s: &Settings,
    sc: &mut Scratch,
    host: &str,
    technique: &str,
    level: u64,
    at: i64,
    count: bool,
) -> Option<Option<i64>> {
    sc.key.clear();
    sc.key.push_str("rx|");
    push_upper(&mut sc.key, host);
    sc.key.push('|');
    sc.key.push_str(technique);
    let signals = if count {
        let r = state::counter_add(&sc.key, at, s.exec_window, 1);
        sc.note_value(r)
    } else {
        Some(state::counter_sum(&sc.key, at, s.exec_window))
    };
    sc.key.insert(0, '!');
    sc.raise_level(level + 1, at, s.exec_window.end_from(at))
        .then_some(signals)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accounts_match_without_domains() {
        assert!(same_account(
            r"THESHIRE.LOCAL\pgustavo",
            Some(r"THESHIRE\PGustavo")
        ));
        assert!(same_account("", Some("bob")));
        assert!(same_account("bob", None));
        assert!(!same_account(r"CORP\carol", Some(r"CORP\bob")));
    }
}
