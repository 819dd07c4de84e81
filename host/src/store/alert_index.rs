//! Secondary indexes of the alerts (`alerts.rs`): which alerts of a tenant name a rule, a host
//! or a user, and which were last seen when, so a query reads the alerts that can match instead
//! of every alert of the tenant.
//!
//! Trees (a `part` is a u32 big-endian length and the bytes, so no value can run into the next;
//! `id` is the alert id, u64 big-endian; the value of every entry is the alert's [`Summary`]):
//! - `alert_by_rule`: `part(tenant) part(rule_id) id`
//! - `alert_by_host`: `part(tenant) part(host, ASCII lowercase) id`, one entry per host named
//! - `alert_by_user`: `part(tenant) part(user, ASCII lowercase) id`, one entry per user named
//! - `alert_by_time`: `part(tenant) last_seen id` (last_seen: i64 with its sign bit flipped, big
//!   endian, so it sorts as a number)
//! - `alert_summary`: `part(tenant) id`: every alert, in the order of `alerts`, but 17 bytes
//!   where `alerts` holds the whole finding
//!
//! Queries return alerts newest first **by id** (creation) with an id cursor, so the equality
//! indexes are ordered by id within their value: walking one backwards from the cursor yields
//! the same order as the full scan. The time index is ordered by `last_seen`; a query uses it to
//! collect the (few) ids seen since a time, then sorts them. A query no index narrows walks
//! `alert_summary` and reads only the alerts whose time and severity can match.
//!
//! The entries of an alert change in the transaction that writes the alert (`record_finding`):
//! an update removes the entries of the alert as it was and inserts those of the alert as it is
//! (its hosts, users, `last_seen` and summary may change). An index entry is only ever a
//! candidate: the query reads the alert and applies the whole filter to it.

use std::ops::Bound;

use anyhow::Context;
use sled::transaction::{TransactionalTree, UnabortableTransactionError};

use super::alerts::{Alert, AlertFilter};
use crate::finding::Severity;

/// The index trees, in the order [`entries`] refers to them.
pub(super) const TREES: [&str; 5] = [
    "alert_by_rule",
    "alert_by_host",
    "alert_by_user",
    "alert_by_time",
    "alert_summary",
];
const RULE: usize = 0;
const HOST: usize = 1;
const USER: usize = 2;
const TIME: usize = 3;
const SUMMARY: usize = 4;

/// At most this many time-index entries are read to collect the ids of a time range; a wider
/// range is answered by walking `alert_summary` (its matches are then likely dense).
pub(super) const TIME_CANDIDATES_MAX: usize = 10_000;

fn push_part(key: &mut Vec<u8>, bytes: &[u8]) {
    // alert fields are far below 4 GiB; saturating keeps the encoding total
    let len = u32::try_from(bytes.len()).unwrap_or(u32::MAX);
    key.extend_from_slice(&len.to_be_bytes());
    key.extend_from_slice(bytes);
}

fn prefix(tenant: &str, value: Option<&str>) -> Vec<u8> {
    let mut key = Vec::with_capacity(tenant.len() + value.map_or(0, str::len) + 24);
    push_part(&mut key, tenant.as_bytes());
    if let Some(value) = value {
        push_part(&mut key, value.as_bytes());
    }
    key
}

fn with_id(mut key: Vec<u8>, id: u64) -> Vec<u8> {
    key.extend_from_slice(&id.to_be_bytes());
    key
}

/// An i64 as bytes that sort as the number.
fn ordered(t: i64) -> [u8; 8] {
    ((t as u64) ^ (1 << 63)).to_be_bytes()
}

fn id_at_end(key: &[u8]) -> Option<u64> {
    let tail = key.len().checked_sub(8).map(|start| &key[start..])?;
    <[u8; 8]>::try_from(tail).ok().map(u64::from_be_bytes)
}

/// What an index entry says of its alert, enough to rule it out on time and severity without
/// reading it: `first_seen`, `last_seen` (i64 big-endian) and the severity (its rank).
pub(super) struct Summary {
    first_seen: i64,
    last_seen: i64,
    severity: Option<Severity>,
}

impl Summary {
    fn of(a: &Alert) -> [u8; 17] {
        let mut out = [0; 17];
        out[..8].copy_from_slice(&a.first_seen.to_be_bytes());
        out[8..16].copy_from_slice(&a.last_seen.to_be_bytes());
        out[16] = a.severity as u8;
        out
    }

    fn read(bytes: &[u8]) -> Option<Summary> {
        let number = |range: std::ops::Range<usize>| {
            bytes
                .get(range)
                .and_then(|b| <[u8; 8]>::try_from(b).ok())
                .map(i64::from_be_bytes)
        };
        let severity = bytes.get(16).and_then(|rank| {
            use Severity::*;
            [Informational, Low, Medium, High, Critical]
                .get(usize::from(*rank))
                .copied()
        });
        Some(Summary {
            first_seen: number(0..8)?,
            last_seen: number(8..16)?,
            severity,
        })
    }

    /// Whether the alert may match `filter`'s time range and severity (an unreadable summary
    /// may: the alert itself decides).
    fn admits(bytes: &[u8], filter: &AlertFilter) -> bool {
        let Some(s) = Summary::read(bytes) else {
            return true;
        };
        filter.since.is_none_or(|t| s.last_seen >= t)
            && filter.until.is_none_or(|t| s.first_seen <= t)
            && filter
                .severity
                .is_none_or(|min| s.severity.is_none_or(|sev| sev >= min))
    }
}

/// Every index entry of `alert`: (tree, key).
fn entries(alert: &Alert) -> Vec<(usize, Vec<u8>)> {
    let tenant = alert.tenant.as_str();
    let mut out = vec![(
        RULE,
        with_id(prefix(tenant, Some(&alert.rule_id)), alert.id),
    )];
    let lowered = |names: &[String]| {
        let mut names: Vec<String> = names.iter().map(|n| n.to_ascii_lowercase()).collect();
        names.sort();
        names.dedup();
        names
    };
    for host in lowered(&alert.hosts) {
        out.push((HOST, with_id(prefix(tenant, Some(&host)), alert.id)));
    }
    for user in lowered(&alert.users) {
        out.push((USER, with_id(prefix(tenant, Some(&user)), alert.id)));
    }
    let mut time = prefix(tenant, None);
    time.extend_from_slice(&ordered(alert.last_seen));
    out.push((TIME, with_id(time, alert.id)));
    out.push((SUMMARY, with_id(prefix(tenant, None), alert.id)));
    out
}

/// In a transaction: replaces the index entries of `old` (the alert as stored, if any) with
/// those of `new`.
pub(super) fn replace(
    trees: [&TransactionalTree; 5],
    old: Option<&Alert>,
    new: &Alert,
) -> Result<(), UnabortableTransactionError> {
    if let Some(old) = old {
        remove(trees, old)?;
    }
    let summary = Summary::of(new);
    for (tree, key) in entries(new) {
        trees[tree].insert(key, &summary[..])?;
    }
    Ok(())
}

/// Removes an alert's entries (it was merged into another).
pub(super) fn remove(
    trees: [&TransactionalTree; 5],
    old: &Alert,
) -> Result<(), UnabortableTransactionError> {
    for (tree, key) in entries(old) {
        trees[tree].remove(key)?;
    }
    Ok(())
}

/// Empties the index trees and fills them from `alerts` (a store written before the indexes),
/// logging progress; returns how many alerts it indexed. The caller flushes.
pub(super) fn rebuild(alerts: &sled::Tree, trees: &[sled::Tree; 5]) -> anyhow::Result<u64> {
    for tree in trees {
        tree.clear().context("cannot clear an alert index")?;
    }
    let total = alerts.len();
    tracing::info!(alerts = total, "indexing the stored alerts");
    let mut batches: [sled::Batch; 5] = Default::default();
    let mut done = 0u64;
    let mut skipped = 0u64;
    for item in alerts.iter() {
        let (key, value) = item?;
        let Ok(alert) = serde_json::from_slice::<Alert>(&value) else {
            // the query reports it where the full scan reads it; it cannot be indexed
            skipped += 1;
            tracing::warn!(key = %String::from_utf8_lossy(&key), "an unreadable alert is not indexed");
            continue;
        };
        let summary = Summary::of(&alert);
        for (tree, key) in entries(&alert) {
            batches[tree].insert(key, &summary[..]);
        }
        done += 1;
        if done.is_multiple_of(10_000) {
            for (tree, batch) in trees.iter().zip(batches.iter_mut()) {
                tree.apply_batch(std::mem::take(batch))?;
            }
        }
        if done.is_multiple_of(100_000) {
            tracing::info!(indexed = done, alerts = total, "indexing the stored alerts");
        }
    }
    for (tree, batch) in trees.iter().zip(batches) {
        tree.apply_batch(batch)?;
    }
    tracing::info!(indexed = done, skipped, "indexed the stored alerts");
    Ok(done)
}

/// A walk of one equality index: the ids of one tenant and value.
struct Source<'a> {
    tree: &'a sled::Tree,
    prefix: Vec<u8>,
}

impl Source<'_> {
    /// Its ids below `upper` whose summary admits `filter`, newest first, to `visit` until it
    /// returns true: one backwards range.
    fn walk(
        &self,
        filter: &AlertFilter,
        upper: u64,
        mut visit: impl FnMut(u64) -> anyhow::Result<bool>,
    ) -> anyhow::Result<()> {
        let end = with_id(self.prefix.clone(), upper);
        for item in self.tree.range(self.prefix.clone()..end).rev() {
            let (key, value) = item?;
            let Some(id) = id_at_end(&key) else { continue };
            if Summary::admits(&value, filter) && visit(id)? {
                break;
            }
        }
        Ok(())
    }

    /// The largest id below `below` in this index, and its summary.
    fn before(&self, below: u64) -> anyhow::Result<Option<(u64, sled::IVec)>> {
        let end = with_id(self.prefix.clone(), below);
        match self.tree.range(self.prefix.clone()..end).next_back() {
            Some(item) => {
                let (key, value) = item?;
                Ok(id_at_end(&key).map(|id| (id, value)))
            }
            None => Ok(None),
        }
    }
}

/// Every alert of `tenant` below `upper` whose summary admits `filter`, newest first, to
/// `visit` until it returns true.
pub(super) fn walk_all(
    trees: &[sled::Tree; 5],
    tenant: &str,
    filter: &AlertFilter,
    upper: u64,
    visit: impl FnMut(u64) -> anyhow::Result<bool>,
) -> anyhow::Result<()> {
    Source {
        tree: &trees[SUMMARY],
        prefix: prefix(tenant, None),
    }
    .walk(filter, upper, visit)
}

/// How a query finds its candidates.
pub(super) enum Plan {
    /// no index narrows it: walk `alert_summary`
    Summary,
    /// these ids, newest first
    Ids(Vec<u64>),
}

/// The candidate walk of `filter` over `tenant`'s alerts below `upper` (exclusive): calls
/// `visit` with each id that is in every equality index the filter names (rule, host, user),
/// newest first, until it returns true. Returns false if the filter names no equality index.
pub(super) fn walk_equal(
    trees: &[sled::Tree; 5],
    tenant: &str,
    filter: &AlertFilter,
    upper: u64,
    mut visit: impl FnMut(u64) -> anyhow::Result<bool>,
) -> anyhow::Result<bool> {
    let mut sources = Vec::new();
    if let Some(rule) = &filter.rule {
        sources.push(Source {
            tree: &trees[RULE],
            prefix: prefix(tenant, Some(rule)),
        });
    }
    for (tree, name) in [(HOST, &filter.host), (USER, &filter.user)] {
        if let Some(name) = name {
            sources.push(Source {
                tree: &trees[tree],
                prefix: prefix(tenant, Some(&name.to_ascii_lowercase())),
            });
        }
    }
    let Some(first) = sources.first() else {
        return Ok(false);
    };
    if sources.len() == 1 {
        first.walk(filter, upper, visit)?;
        return Ok(true);
    }
    // Several: a leapfrog intersection. Each index in turn seeks the largest id at or below
    // the candidate; a smaller one becomes the candidate, until every index agrees on it.
    let mut upper = upper;
    'next: loop {
        let Some((mut candidate, mut summary)) = first.before(upper)? else {
            break;
        };
        let mut agreed = 1;
        let mut turn = 1;
        while agreed < sources.len() {
            // candidate < upper <= u64::MAX, so candidate + 1 does not overflow
            let Some((id, value)) = sources[turn].before(candidate + 1)? else {
                break 'next;
            };
            if id == candidate {
                agreed += 1;
            } else {
                (candidate, summary, agreed) = (id, value, 1);
            }
            turn = (turn + 1) % sources.len();
        }
        upper = candidate;
        if Summary::admits(&summary, filter) && visit(candidate)? {
            break;
        }
    }
    Ok(true)
}

/// The ids of `tenant`'s alerts below `upper` seen in `filter`'s time range (from `since`),
/// newest first, if reading them takes at most `max` time-index entries.
pub(super) fn time_range(
    trees: &[sled::Tree; 5],
    tenant: &str,
    filter: &AlertFilter,
    upper: u64,
    max: usize,
) -> anyhow::Result<Plan> {
    let Some(since) = filter.since else {
        return Ok(Plan::Summary);
    };
    let tenant_prefix = prefix(tenant, None);
    let mut start = tenant_prefix.clone();
    start.extend_from_slice(&ordered(since));
    let mut end = tenant_prefix;
    end.extend_from_slice(&[0xff; 16]);
    let mut ids = Vec::new();
    let range = trees[TIME].range::<Vec<u8>, _>((Bound::Included(start), Bound::Included(end)));
    for (read, item) in range.enumerate() {
        if read >= max {
            return Ok(Plan::Summary);
        }
        let (key, value) = item?;
        match id_at_end(&key) {
            Some(id) if id < upper && Summary::admits(&value, filter) => ids.push(id),
            _ => {}
        }
    }
    ids.sort_unstable_by_key(|id| std::cmp::Reverse(*id));
    Ok(Plan::Ids(ids))
}
