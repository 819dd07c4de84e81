//! Signals reported with partial knowledge, kept so that evidence arriving later upgrades
//! them under the same dedup key: Sysmon logs a connection after the process it served, and
//! channels reach the collector out of order. `pend|HOST` lists the techniques pending on a
//! host, `pend|HOST|TECHNIQUE` holds the last such signal, both for the exec window.

use yagura_sdk::prelude::*;

use crate::Scratch;
use crate::classify::push_upper;
use crate::origin::{self, Origin};
use crate::report::clip;
use crate::settings::Settings;

use super::finding::{Reported, View, finding};
use super::{escalate, same_account};

const SEP: char = '\u{1f}';

/// Keeps a signal reported with partial knowledge.
pub(super) fn remember(
    s: &Settings,
    sc: &mut Scratch,
    host: &str,
    view: &View<'_>,
    known: &Origin,
    at: i64,
) {
    use core::fmt::Write;
    let expires = s.exec_window.end_from(at);
    sc.value.clear();
    let parts = [
        host,
        view.technique,
        view.method,
        clip(view.name, 256),
        clip(view.detail, 512),
        known.account.as_str(),
        known.host.as_str(),
    ];
    for part in parts {
        sc.value.push_str(&part.replace(SEP, " "));
        sc.value.push(SEP);
    }
    let _ = write!(sc.value, "{}", view.seq);
    pending_key(&mut sc.key, host, Some(view.technique));
    let r = state::set_string(&sc.key, &sc.value, expires);
    sc.note(r);
    pending_key(&mut sc.key, host, None);
    let mut index = state::get_string(&sc.key, at).unwrap_or_default();
    if !index.split(',').any(|t| t == view.technique) {
        if !index.is_empty() {
            index.push(',');
        }
        index.push_str(view.technique);
    }
    let r = state::set_string(&sc.key, &index, expires);
    sc.note(r);
}

fn pending_key(key: &mut String, host: &str, technique: Option<&str>) {
    key.clear();
    key.push_str("pend|");
    push_upper(key, host);
    if let Some(t) = technique {
        key.push('|');
        key.push_str(t);
    }
}

/// Re-reports the pending signals of `host` that the origin now known upgrades.
pub(super) fn upgrade(
    s: &Settings,
    sc: &mut Scratch,
    ev: &EventRef<'_>,
    host: &str,
    out: &mut Vec<Finding>,
) {
    pending_key(&mut sc.key, host, None);
    let Some(index) = state::get_string(&sc.key, ev.time) else {
        return;
    };
    let Some(recalled) = origin::recall(&mut sc.key, host, ev.time) else {
        return;
    };
    for technique in index.split(',').filter(|t| !t.is_empty()) {
        pending_key(&mut sc.key, host, Some(technique));
        let Some(stored) = state::get_string(&sc.key, ev.time) else {
            continue;
        };
        let mut parts = stored.split(SEP);
        let (Some(target), Some(tech), Some(method), Some(name), Some(detail)) = (
            parts.next(),
            parts.next(),
            parts.next(),
            parts.next(),
            parts.next(),
        ) else {
            continue;
        };
        let (account, src_host) = (parts.next().unwrap_or(""), parts.next().unwrap_or(""));
        let Some(seq) = parts.next().and_then(|n| n.parse().ok()) else {
            continue;
        };
        if !account.is_empty() && !same_account(&recalled.account, Some(account)) {
            continue; // another account's logon: unrelated
        }
        let mut origin = recalled.clone();
        if origin.account.is_empty() {
            origin.account = account.to_owned();
        }
        if !origin.has_source() {
            origin.host = src_host.to_owned();
        }
        let level = origin.level() + 1;
        let Some(signals) = escalate(s, sc, target, tech, level, ev.time, false) else {
            continue;
        };
        let view = View {
            technique: tech,
            method,
            name,
            detail,
            seq,
        };
        out.push(finding(
            target,
            &view,
            &origin,
            true,
            signals,
            Reported {
                time: ev.time,
                seq: ev.seq,
                process: None,
            },
        ));
    }
}
