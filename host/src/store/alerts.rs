//! Alerts: every finding a tenant's rules report, persisted before anything else sees it, and
//! deduplicated by event time: a finding with the rule and dedup key of an existing alert
//! updates that alert (its count goes up, the latest finding replaces the previous one) when
//! the finding's time lies within the dedup window of the alert's span, `[first_seen − window,
//! last_seen + window]`; otherwise it opens a new alert. So a late or backfilled finding joins
//! the alert of its own time, never a newer one, and a finding reported again (a replay after
//! a crash) lands in the alert it landed in before.
//!
//! The alerts of one rule and key are the clusters of their findings' times: two findings
//! belong to one alert when a chain of findings links them with no gap longer than the window.
//! So the spans `[first_seen, last_seen]` of one rule and key lie more than a window apart, and
//! a finding at time `t` joins the alert whose span holds `t` (the last one that began at or
//! before `t`), else the alerts just before and just after it whose span, widened by the
//! window, holds `t`: none (a new alert), one (it grows), or both (the finding bridges them:
//! they merge into the older alert, by id, which lists the other in `merged`; the other is
//! deleted). Whatever the order the findings arrive in, and however often a replay reports
//! them again, the same spans come out; a finding's time stays inside the span of the alert
//! it went to (spans only grow and merge), so reporting it again lands it there again.
//!
//! Trees:
//! - `alerts`: `tenant \0 id` (id: sled's monotonic id, u64 big-endian, so a tenant's alerts
//!   scan in creation order) → [`Alert`] (JSON).
//! - `alert_spans`: `tenant \0 rule \0 len(dedup_key) dedup_key first_seen id` → empty: the
//!   dedup index, each alert under its rule, key and first event time (schema 3; schema 2's
//!   `alert_keys` held only the newest alert of each key).
//! - `alert_by_rule`, `alert_by_host`, `alert_by_user`, `alert_by_time`, `alert_summary`: the
//!   query indexes (`alert_index.rs`).
//!
//! All these trees change in one sled transaction, and the database is flushed before
//! [`Store::record_finding`] returns. A query ([`Store::alerts`]) walks the index of the rule,
//! host or user it names (all of them at once when it names several), else the time index from
//! `since`, else the summaries of every alert of the tenant; in each case newest first by id,
//! reading only the alerts whose time and severity can match, and applying the whole filter to
//! each alert it reads.

use anyhow::Context;
use serde::{Deserialize, Serialize};
use sled::Transactional;
use sled::transaction::ConflictableTransactionError;

use super::alert_index::{self, Plan};
use super::{Store, now_ms};
use crate::finding::{EntityKind, Finding, Severity};

/// An alert: the latest finding of one rule and dedup key, and how often it was reported.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Alert {
    pub id: u64,
    pub tenant: String,
    pub rule_id: String,
    pub rule_name: String,
    pub dedup_key: String,
    pub title: String,
    pub severity: Severity,
    /// findings reported under this rule and dedup key
    pub count: u64,
    /// event time of the first and the latest finding, ms since the Unix epoch
    pub first_seen: i64,
    pub last_seen: i64,
    /// wall-clock ms of the creation and the latest update
    pub created_at: i64,
    pub updated_at: i64,
    /// host and user names the latest finding names
    pub hosts: Vec<String>,
    pub users: Vec<String>,
    /// the latest finding, as an OCSF Detection Finding
    pub finding: serde_json::Value,
    /// ids of the alerts merged into this one (a finding bridged their spans); they are gone
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub merged: Vec<u64>,
}

/// Whether a finding made a new alert or updated one.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum AlertChange {
    New,
    Updated,
    /// updated, and the alerts in its `merged` list that the finding bridged to it are gone
    Merged,
}

/// A query over a tenant's alerts; every filter given must match.
#[derive(Debug, Clone, Default)]
pub struct AlertFilter {
    /// alerts seen at or after this event time (ms): `last_seen >= since`
    pub since: Option<i64>,
    /// alerts seen at or before this event time (ms): `first_seen <= until`
    pub until: Option<i64>,
    pub rule: Option<String>,
    /// this severity or higher
    pub severity: Option<Severity>,
    /// a host the alert names (case-insensitive)
    pub host: Option<String>,
    /// a user the alert names (case-insensitive)
    pub user: Option<String>,
    /// text in the title, the rule, the dedup key or an entity (case-insensitive)
    pub text: Option<String>,
    /// at most this many (1-1000)
    pub limit: usize,
    /// only alerts older than this id (the previous page's `next_cursor`)
    pub cursor: Option<u64>,
}

impl AlertFilter {
    fn matches(&self, a: &Alert) -> bool {
        let lower = |s: &str| s.to_lowercase();
        self.since.is_none_or(|t| a.last_seen >= t)
            && self.until.is_none_or(|t| a.first_seen <= t)
            && self.rule.as_ref().is_none_or(|r| *r == a.rule_id)
            && self.severity.is_none_or(|s| a.severity >= s)
            && self
                .host
                .as_ref()
                .is_none_or(|h| a.hosts.iter().any(|x| x.eq_ignore_ascii_case(h)))
            && self
                .user
                .as_ref()
                .is_none_or(|u| a.users.iter().any(|x| x.eq_ignore_ascii_case(u)))
            && self.text.as_ref().is_none_or(|t| {
                let t = lower(t);
                [&a.title, &a.rule_id, &a.dedup_key]
                    .into_iter()
                    .chain(a.hosts.iter())
                    .chain(a.users.iter())
                    .any(|s| lower(s).contains(&t))
            })
    }
}

fn alert_key(tenant: &str, id: u64) -> Vec<u8> {
    let mut k = Vec::with_capacity(tenant.len() + 9);
    k.extend_from_slice(tenant.as_bytes());
    k.push(0);
    k.extend_from_slice(&id.to_be_bytes());
    k
}

/// `tenant \0 rule \0 len(key) key`: the span keys of one rule and dedup key start so.
fn span_prefix(tenant: &str, rule: &str, dedup_key: &str) -> Vec<u8> {
    let mut k = Vec::with_capacity(tenant.len() + rule.len() + dedup_key.len() + 22);
    k.extend_from_slice(tenant.as_bytes());
    k.push(0);
    k.extend_from_slice(rule.as_bytes());
    k.push(0);
    // the key's length first: a key holding `\0` or any bytes cannot run into the time
    k.extend_from_slice(&(dedup_key.len() as u32).to_be_bytes());
    k.extend_from_slice(dedup_key.as_bytes());
    k
}

/// An alert's key in `alert_spans`: its prefix, then its first event time and its id.
fn span_key(alert: &Alert) -> Vec<u8> {
    let mut k = span_prefix(&alert.tenant, &alert.rule_id, &alert.dedup_key);
    k.extend_from_slice(&sortable(alert.first_seen));
    k.extend_from_slice(&alert.id.to_be_bytes());
    k
}

/// An i64 as 8 bytes that sort as the numbers do (the sign bit flipped).
fn sortable(t: i64) -> [u8; 8] {
    ((t as u64) ^ (1 << 63)).to_be_bytes()
}

fn names(finding: &Finding, kind: EntityKind) -> Vec<String> {
    let mut out: Vec<String> = finding
        .entities
        .iter()
        .filter(|e| e.kind == kind)
        .map(|e| e.value.clone())
        .collect();
    out.sort();
    out.dedup();
    out
}

impl Store {
    fn alert_trees(&self) -> anyhow::Result<(sled::Tree, sled::Tree)> {
        Ok((self.alert_tree("alerts")?, self.alert_tree("alert_spans")?))
    }

    fn alert_tree(&self, name: &str) -> anyhow::Result<sled::Tree> {
        self.db()
            .open_tree(name)
            .with_context(|| format!("cannot open tree `{name}` of the store"))
    }

    fn alert_index_trees(&self) -> anyhow::Result<[sled::Tree; 5]> {
        let [a, b, c, d, e] = alert_index::TREES;
        Ok([
            self.alert_tree(a)?,
            self.alert_tree(b)?,
            self.alert_tree(c)?,
            self.alert_tree(d)?,
            self.alert_tree(e)?,
        ])
    }

    /// Builds the query indexes from the stored alerts (a store of schema 1 has none);
    /// returns how many alerts it indexed. Flushes.
    pub(super) fn rebuild_alert_indexes(&self) -> anyhow::Result<u64> {
        let (alerts, _) = self.alert_trees()?;
        let indexed = alert_index::rebuild(&alerts, &self.alert_index_trees()?)?;
        self.db().flush()?;
        Ok(indexed)
    }

    /// Builds `alert_spans` from the alerts (a store of schema 2 or older) and drops the old
    /// dedup index; how many alerts it holds.
    pub(super) fn rebuild_alert_spans(&self) -> anyhow::Result<u64> {
        let (alerts, spans) = self.alert_trees()?;
        spans.clear()?;
        let mut n = 0;
        for item in alerts.iter() {
            let (_, v) = item?;
            let alert: Alert =
                serde_json::from_slice(&v).context("a stored alert is unreadable")?;
            spans.insert(span_key(&alert), &[])?;
            n += 1;
        }
        self.db().drop_tree("alert_keys")?;
        self.db().flush()?;
        Ok(n)
    }

    /// Stores a finding of `tenant` as a new alert or as an update of the alert of its rule and
    /// dedup key whose span, widened by `window_ms` of event time, holds the finding's time,
    /// and flushes; returns what changed and the alert as stored.
    pub(crate) fn record_finding(
        &self,
        tenant: &str,
        rule_name: &str,
        finding: &Finding,
        window_ms: i64,
    ) -> anyhow::Result<(AlertChange, Alert)> {
        let result = self.store_finding(tenant, rule_name, finding, window_ms)?;
        self.db().flush()?;
        Ok(result)
    }

    /// [`Store::record_finding`] for many findings of one rule, flushing once at the end (bulk
    /// writers: the alert benchmark, tests). Each finding is still its own transaction.
    pub fn record_findings(
        &self,
        tenant: &str,
        rule_name: &str,
        findings: &[Finding],
        window_ms: i64,
    ) -> anyhow::Result<Vec<(AlertChange, Alert)>> {
        let out = findings
            .iter()
            .map(|f| self.store_finding(tenant, rule_name, f, window_ms))
            .collect::<anyhow::Result<Vec<_>>>()?;
        self.db().flush()?;
        Ok(out)
    }

    fn store_finding(
        &self,
        tenant: &str,
        rule_name: &str,
        finding: &Finding,
        window_ms: i64,
    ) -> anyhow::Result<(AlertChange, Alert)> {
        let (alerts, spans) = self.alert_trees()?;
        let [by_rule, by_host, by_user, by_time, summary] = self.alert_index_trees()?;
        // The alerts it joins are looked up before the transaction (sled's transactions cannot
        // scan): a tenant's findings are written by its one engine thread, so nothing changes
        // them between the lookup and the write; the transaction still checks they are there.
        let joined = self.joined_alerts(&alerts, &spans, tenant, finding, window_ms)?;
        let fresh_id = self.db().generate_id()?;
        let now = now_ms();
        let ocsf = finding.to_ocsf(rule_name);
        let trees = (
            &alerts, &spans, &by_rule, &by_host, &by_user, &by_time, &summary,
        );
        let result = trees
            .transaction(
                |(alerts, spans, by_rule, by_host, by_user, by_time, summary)| {
                    for a in &joined {
                        if spans.get(span_key(a))?.is_none() {
                            return Err(ConflictableTransactionError::Abort(
                                "the alert changed meanwhile",
                            ));
                        }
                    }
                    // the oldest alert (by id) takes the finding and the others' counts
                    let (change, mut alert) = match joined.as_slice() {
                        [] => (
                            AlertChange::New,
                            Alert {
                                id: fresh_id,
                                tenant: tenant.to_owned(),
                                rule_id: finding.rule_id.clone(),
                                rule_name: rule_name.to_owned(),
                                dedup_key: finding.dedup_key.clone(),
                                title: finding.title.clone(),
                                severity: finding.severity,
                                count: 0,
                                first_seen: finding.time,
                                last_seen: finding.time,
                                created_at: now,
                                updated_at: now,
                                hosts: Vec::new(),
                                users: Vec::new(),
                                finding: serde_json::Value::Null,
                                merged: Vec::new(),
                            },
                        ),
                        [one] => (AlertChange::Updated, one.clone()),
                        [first, rest @ ..] => {
                            let mut survivor = first.clone();
                            for other in rest {
                                survivor.count += other.count;
                                survivor.first_seen = survivor.first_seen.min(other.first_seen);
                                survivor.last_seen = survivor.last_seen.max(other.last_seen);
                                survivor.merged.push(other.id);
                                survivor.merged.extend(&other.merged);
                            }
                            survivor.merged.sort_unstable();
                            (AlertChange::Merged, survivor)
                        }
                    };
                    alert.count += 1;
                    alert.title = finding.title.clone();
                    alert.severity = finding.severity;
                    alert.first_seen = alert.first_seen.min(finding.time);
                    alert.last_seen = alert.last_seen.max(finding.time);
                    alert.updated_at = now;
                    alert.hosts = names(finding, EntityKind::Host);
                    alert.users = names(finding, EntityKind::User);
                    alert.finding = ocsf.clone();
                    let value = serde_json::to_vec(&alert)
                        .map_err(|_| ConflictableTransactionError::Abort("an unwritable alert"))?;
                    let indexes = [by_rule, by_host, by_user, by_time, summary];
                    // the old entries go and the new come in this same transaction: a crash
                    // leaves the alerts and their index entries as they were, or as they are now
                    for old in &joined {
                        spans.remove(span_key(old))?;
                        if old.id != alert.id {
                            alerts.remove(alert_key(tenant, old.id))?;
                            alert_index::remove(indexes, old)?;
                        }
                    }
                    alerts.insert(alert_key(tenant, alert.id), value)?;
                    spans.insert(span_key(&alert), &[])?;
                    alert_index::replace(
                        indexes,
                        joined.iter().find(|old| old.id == alert.id),
                        &alert,
                    )?;
                    Ok((change, alert))
                },
            )
            .map_err(|e| anyhow::anyhow!("cannot store an alert of tenant `{tenant}`: {e}"))?;
        Ok(result)
    }

    /// The alerts a finding joins, oldest (by id) first: the alert of its rule and key whose
    /// span holds the finding's time; else those of the alerts just before and just after it
    /// whose span widened by `window_ms` holds it (none, one, or both: see the module's doc).
    fn joined_alerts(
        &self,
        alerts: &sled::Tree,
        spans: &sled::Tree,
        tenant: &str,
        finding: &Finding,
        window_ms: i64,
    ) -> anyhow::Result<Vec<Alert>> {
        let t = finding.time;
        let prefix = span_prefix(tenant, &finding.rule_id, &finding.dedup_key);
        let at = |time: i64, id: u64| {
            let mut k = prefix.clone();
            k.extend_from_slice(&sortable(time));
            k.extend_from_slice(&id.to_be_bytes());
            k
        };
        let read = |item: Option<sled::Result<(sled::IVec, sled::IVec)>>| -> anyhow::Result<Option<Alert>> {
            let Some(item) = item else { return Ok(None) };
            let (key, _) = item?;
            if !key.starts_with(&prefix) {
                return Ok(None);
            }
            let id = key
                .get(key.len() - 8..)
                .and_then(|b| <[u8; 8]>::try_from(b).ok())
                .map(u64::from_be_bytes)
                .context("a bad alert span key")?;
            match alerts.get(alert_key(tenant, id))? {
                Some(v) => Ok(Some(
                    serde_json::from_slice(&v).context("a stored alert is unreadable")?,
                )),
                None => Ok(None),
            }
        };
        // the last alert that began at or before t, and the first that began after it
        let before = read(spans.range(prefix.clone()..=at(t, u64::MAX)).next_back())?;
        if let Some(a) = &before
            && a.last_seen >= t
        {
            return Ok(vec![a.clone()]);
        }
        let after = match t.checked_add(1) {
            Some(next) => read(spans.range(at(next, 0)..).next())?,
            None => None,
        };
        let mut joined: Vec<Alert> = before
            .filter(|a| t.saturating_sub(a.last_seen) <= window_ms)
            .into_iter()
            .chain(after.filter(|a| a.first_seen.saturating_sub(t) <= window_ms))
            .collect();
        joined.sort_by_key(|a| a.id);
        Ok(joined)
    }

    /// One alert of `tenant`.
    pub fn alert(&self, tenant: &str, id: u64) -> anyhow::Result<Option<Alert>> {
        let (alerts, _) = self.alert_trees()?;
        match alerts.get(alert_key(tenant, id))? {
            Some(v) => Ok(Some(
                serde_json::from_slice(&v).context("a stored alert is unreadable")?,
            )),
            None => Ok(None),
        }
    }

    /// `tenant`'s alerts matching `filter`, newest first (by id), and the cursor of the next
    /// page (if there may be one). Uses the indexes; the same answer as
    /// [`Store::alerts_by_scan`].
    pub fn alerts(
        &self,
        tenant: &str,
        filter: &AlertFilter,
    ) -> anyhow::Result<(Vec<Alert>, Option<u64>)> {
        self.alerts_planned(tenant, filter, alert_index::TIME_CANDIDATES_MAX)
    }

    /// [`Store::alerts`], collecting a time range from the time index only if that reads at
    /// most `time_max` entries (tests set it to reach both paths).
    fn alerts_planned(
        &self,
        tenant: &str,
        filter: &AlertFilter,
        time_max: usize,
    ) -> anyhow::Result<(Vec<Alert>, Option<u64>)> {
        let (alerts, _) = self.alert_trees()?;
        let indexes = self.alert_index_trees()?;
        let limit = filter.limit.clamp(1, 1000);
        let upper = filter.cursor.unwrap_or(u64::MAX);
        let mut out = Vec::new();
        // reads a candidate, keeps it if it matches; true once the page is full
        let mut take = |id: u64| -> anyhow::Result<bool> {
            if let Some(v) = alerts.get(alert_key(tenant, id))? {
                let alert: Alert =
                    serde_json::from_slice(&v).context("a stored alert is unreadable")?;
                if filter.matches(&alert) {
                    out.push(alert);
                }
            }
            Ok(out.len() == limit)
        };
        if !alert_index::walk_equal(&indexes, tenant, filter, upper, &mut take)? {
            match alert_index::time_range(&indexes, tenant, filter, upper, time_max)? {
                Plan::Ids(ids) => {
                    for id in ids {
                        if take(id)? {
                            break;
                        }
                    }
                }
                Plan::Summary => {
                    alert_index::walk_all(&indexes, tenant, filter, upper, &mut take)?;
                }
            }
        }
        let next = if out.len() == limit {
            out.last().map(|a| a.id)
        } else {
            None
        };
        Ok((out, next))
    }

    /// The query without indexes: every alert of `tenant` below the cursor, newest first,
    /// read and filtered one by one (the query before the indexes). The reference and
    /// baseline of the alert benchmark.
    pub fn alerts_by_scan(
        &self,
        tenant: &str,
        filter: &AlertFilter,
    ) -> anyhow::Result<(Vec<Alert>, Option<u64>)> {
        let (alerts, _) = self.alert_trees()?;
        let limit = filter.limit.clamp(1, 1000);
        let start = alert_key(tenant, 0);
        let end = alert_key(tenant, filter.cursor.unwrap_or(u64::MAX));
        let mut out = Vec::new();
        for item in alerts.range(start..end).rev() {
            let (_, v) = item?;
            let alert: Alert =
                serde_json::from_slice(&v).context("a stored alert is unreadable")?;
            if filter.matches(&alert) {
                out.push(alert);
                if out.len() == limit {
                    let next = out.last().map(|a| a.id);
                    return Ok((out, next));
                }
            }
        }
        Ok((out, None))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::finding::Entity;

    fn finding(key: &str, time: i64) -> Finding {
        Finding {
            rule_id: "lateral-movement".into(),
            rule_version: "0.1.0".into(),
            rule_author: None,
            matched: None,
            title: "remote service".into(),
            description: String::new(),
            severity: Severity::High,
            confidence: 80,
            techniques: vec![],
            entities: vec![Entity {
                kind: EntityKind::Host,
                value: "WORKSTATION6".into(),
                role: Some("target".into()),
            }],
            evidence: vec![1],
            dedup_key: key.into(),
            time,
            context: vec![],
        }
    }

    #[test]
    fn findings_dedup_per_tenant_and_page_newest_first() {
        let dir = tempfile::tempdir().expect("tmp");
        let store = Store::open(dir.path()).expect("opens");
        let (c, a) = store
            .record_finding("a", "LM", &finding("k1", 10), 60_000)
            .expect("ok");
        assert_eq!((c, a.count), (AlertChange::New, 1));
        let (c, b) = store
            .record_finding("a", "LM", &finding("k1", 20), 60_000)
            .expect("ok");
        assert_eq!(
            (c, b.count, b.id, b.last_seen),
            (AlertChange::Updated, 2, a.id, 20)
        );
        let (c, _) = store
            .record_finding("b", "LM", &finding("k1", 5), 60_000)
            .expect("ok");
        assert_eq!(c, AlertChange::New, "tenant b has its own alerts");
        store
            .record_finding("a", "LM", &finding("k2", 30), 60_000)
            .expect("ok");
        let (c, late) = store
            .record_finding("b", "LM", &finding("k1", 70_000), 60_000)
            .expect("ok");
        assert_eq!(
            (c, late.count),
            (AlertChange::New, 1),
            "past the window: a new alert"
        );
        let page = |cursor| AlertFilter {
            limit: 1,
            cursor,
            ..AlertFilter::default()
        };
        let (first, next) = store.alerts("a", &page(None)).expect("query");
        assert_eq!(first[0].dedup_key, "k2");
        let (second, _) = store.alerts("a", &page(next)).expect("query");
        assert_eq!(second[0].dedup_key, "k1");
        let host = AlertFilter {
            host: Some("workstation6".into()),
            since: Some(15),
            limit: 10,
            ..AlertFilter::default()
        };
        assert_eq!(store.alerts("a", &host).expect("query").0.len(), 2);
        assert!(store.alert("b", a.id).expect("reads").is_none());
    }

    /// A deterministic generator (no `rand` dependency): xorshift64.
    struct Gen(u64);

    impl Gen {
        fn next(&mut self) -> u64 {
            self.0 ^= self.0 << 13;
            self.0 ^= self.0 >> 7;
            self.0 ^= self.0 << 17;
            self.0
        }
        fn below(&mut self, n: u64) -> u64 {
            self.next() % n
        }
        fn pick<'a>(&mut self, from: &[&'a str]) -> &'a str {
            from[self.below(from.len() as u64) as usize]
        }
    }

    const RULES: [&str; 4] = ["r0", "r1", "r2", "lateral-movement"];
    // the same host in two cases, and one that is not ASCII
    const HOSTS: [&str; 7] = ["WS1", "ws1", "WS2", "dc01", "Host-Ä", "srv9", "ws10"];
    const USERS: [&str; 5] = ["alice", "Alice", "bob", "svc", "ÉLODIE"];

    /// A finding of a random rule, dedup key (few of them, so many updates), time (mostly
    /// rising, sometimes earlier: `first_seen` moves back), severity, hosts and users.
    fn random_finding(g: &mut Gen, step: i64) -> Finding {
        let mut entities = Vec::new();
        for _ in 0..g.below(3) {
            entities.push(Entity {
                kind: EntityKind::Host,
                value: g.pick(&HOSTS).into(),
                role: None,
            });
        }
        for _ in 0..g.below(3) {
            entities.push(Entity {
                kind: EntityKind::User,
                value: g.pick(&USERS).into(),
                role: None,
            });
        }
        use Severity::*;
        let severity = [Informational, Low, Medium, High, Critical][g.below(5) as usize];
        let jitter = g.below(40_000) as i64 - 10_000;
        Finding {
            rule_id: g.pick(&RULES).into(),
            rule_version: "0.1.0".into(),
            rule_author: None,
            matched: None,
            title: format!("title {}", g.below(50)),
            description: String::new(),
            severity,
            confidence: 50,
            techniques: vec![],
            entities,
            evidence: vec![],
            dedup_key: format!("k{}", g.below(300)),
            time: step * 1_000 + jitter,
            context: vec![],
        }
    }

    /// The reference: the filter's meaning written out again, over all of a tenant's alerts.
    fn reference_matches(f: &AlertFilter, a: &Alert) -> bool {
        let names = |list: &[String], want: &Option<String>| {
            want.as_ref()
                .is_none_or(|w| list.iter().any(|n| n.eq_ignore_ascii_case(w)))
        };
        let text = f.text.as_ref().is_none_or(|t| {
            let t = t.to_lowercase();
            let mut all = vec![a.title.clone(), a.rule_id.clone(), a.dedup_key.clone()];
            all.extend(a.hosts.iter().cloned());
            all.extend(a.users.iter().cloned());
            all.iter().any(|s| s.to_lowercase().contains(&t))
        });
        f.since.is_none_or(|t| a.last_seen >= t)
            && f.until.is_none_or(|t| a.first_seen <= t)
            && f.rule.as_ref().is_none_or(|r| *r == a.rule_id)
            && f.severity.is_none_or(|s| a.severity >= s)
            && names(&a.hosts, &f.host)
            && names(&a.users, &f.user)
            && text
    }

    /// Every alert of `tenant`, newest (highest id) first, read straight from the tree.
    fn all_alerts(store: &Store, tenant: &str) -> Vec<Alert> {
        let (alerts, _) = store.alert_trees().expect("trees");
        let mut out: Vec<Alert> = alerts
            .scan_prefix(alert_key(tenant, 0).split_at(tenant.len() + 1).0)
            .map(|item| serde_json::from_slice(&item.expect("reads").1).expect("an alert"))
            .collect();
        out.sort_by_key(|a| std::cmp::Reverse(a.id));
        out
    }

    /// Filters over every combination of rule, host, user, since, until, severity and text.
    fn filters(times: (i64, i64)) -> Vec<AlertFilter> {
        let mut out = Vec::new();
        for rule in [None, Some("r1"), Some("none")] {
            for host in [None, Some("ws1"), Some("HOST-Ä")] {
                for user in [None, Some("ALICE")] {
                    for since in [None, Some(times.0)] {
                        for until in [None, Some(times.1)] {
                            for severity in [None, Some(Severity::High)] {
                                for text in [None, Some("WS")] {
                                    out.push(AlertFilter {
                                        since,
                                        until,
                                        rule: rule.map(Into::into),
                                        severity,
                                        host: host.map(Into::into),
                                        user: user.map(Into::into),
                                        text: text.map(Into::into),
                                        limit: 0,
                                        cursor: None,
                                    });
                                }
                            }
                        }
                    }
                }
            }
        }
        out
    }

    /// Walks every page of `filter` at `limit` with the indexes (`time_max`: see
    /// `alerts_planned`) and checks each page and cursor against the reference.
    fn check_pages(
        store: &Store,
        all: &[Alert],
        filter: &AlertFilter,
        limit: usize,
        time_max: usize,
    ) {
        let expected: Vec<&Alert> = all
            .iter()
            .filter(|a| reference_matches(filter, a))
            .collect();
        let mut cursor = None;
        let mut seen = 0;
        loop {
            let f = AlertFilter {
                limit,
                cursor,
                ..filter.clone()
            };
            let (page, next) = store.alerts_planned("a", &f, time_max).expect("query");
            let want: Vec<&Alert> = expected
                .iter()
                .filter(|a| cursor.is_none_or(|c| a.id < c))
                .take(limit)
                .copied()
                .collect();
            let ids = |v: &[&Alert]| v.iter().map(|a| a.id).collect::<Vec<_>>();
            assert_eq!(
                ids(&page.iter().collect::<Vec<_>>()),
                ids(&want),
                "{f:?} (time_max {time_max})"
            );
            assert_eq!(page, want.iter().map(|a| (*a).clone()).collect::<Vec<_>>());
            let want_next = (want.len() == limit).then(|| want[limit - 1].id);
            assert_eq!(next, want_next, "cursor of {f:?}");
            seen += page.len();
            match next {
                Some(n) => cursor = Some(n),
                None => break,
            }
        }
        assert_eq!(
            seen,
            expected.len(),
            "{filter:?}: the pages hold every match once"
        );
    }

    fn check_all_filters(store: &Store, times: (i64, i64)) {
        let all = all_alerts(store, "a");
        for filter in filters(times) {
            let equality = filter.rule.is_some() || filter.host.is_some() || filter.user.is_some();
            for limit in [7, 1000] {
                check_pages(store, &all, &filter, limit, usize::MAX);
                if filter.since.is_some() && !equality {
                    // the time index too wide: the summary walk answers
                    check_pages(store, &all, &filter, limit, 10);
                }
            }
        }
    }

    /// Findings for tenants `a` (most) and `b` (they must never show in `a`'s answers).
    fn fill(store: &Store, g: &mut Gen, steps: std::ops::Range<i64>) {
        for step in steps {
            let tenant = if g.below(10) == 0 { "b" } else { "a" };
            let f = random_finding(g, step);
            store
                .record_findings(tenant, "R", &[f], 60_000)
                .expect("stored");
        }
    }

    #[test]
    fn indexed_queries_page_exactly_as_the_reference() {
        let dir = tempfile::tempdir().expect("tmp");
        let store = Store::open(dir.path()).expect("opens");
        let mut g = Gen(0x9e37_79b9_7f4a_7c15);
        fill(&store, &mut g, 0..2_500);
        // later findings of the same keys: updates that move last_seen and change hosts
        fill(&store, &mut g, 2_000..3_000);
        let all = all_alerts(&store, "a");
        assert!(all.len() > 1_000, "{} alerts", all.len());
        assert!(all.iter().any(|a| a.count > 1), "some alerts were updated");
        check_all_filters(&store, (1_200_000, 2_400_000));
    }

    #[test]
    fn an_update_moves_the_alert_in_the_indexes() {
        let dir = tempfile::tempdir().expect("tmp");
        let store = Store::open(dir.path()).expect("opens");
        let (_, a) = store
            .record_finding("a", "LM", &finding("k1", 1_000), 60_000)
            .expect("ok");
        let mut later = finding("k1", 50_000);
        later.entities[0].value = "DC01".into();
        let (c, b) = store.record_finding("a", "LM", &later, 60_000).expect("ok");
        assert_eq!(
            (c, b.id, b.first_seen, b.last_seen),
            (AlertChange::Updated, a.id, 1_000, 50_000)
        );
        let query = |host: &str, since: Option<i64>| {
            let f = AlertFilter {
                host: Some(host.into()),
                since,
                limit: 10,
                ..AlertFilter::default()
            };
            store.alerts("a", &f).expect("query").0.len()
        };
        assert_eq!(
            query("workstation6", None),
            0,
            "the host it no longer names"
        );
        assert_eq!(
            query("dc01", Some(40_000)),
            1,
            "the new host, at its new last_seen"
        );
        let since = |t| AlertFilter {
            since: Some(t),
            limit: 10,
            ..AlertFilter::default()
        };
        assert_eq!(store.alerts("a", &since(40_000)).expect("query").0.len(), 1);
        assert!(
            store
                .alerts("a", &since(60_000))
                .expect("query")
                .0
                .is_empty()
        );
        let entries = store.alert_index_trees().expect("trees")[3].len();
        assert_eq!(entries, 1, "the old time entry is gone");
    }

    const HOUR: i64 = 3_600_000;

    #[test]
    fn a_late_finding_joins_the_alert_of_its_own_time_not_the_newest() {
        // the same events at +0, +10 h, then +0 again (a backfill, a sender with a skewed
        // clock): two alerts, the late finding in the first
        let dir = tempfile::tempdir().expect("tmp");
        let store = Store::open(dir.path()).expect("opens");
        let record = |t| {
            store
                .record_finding("a", "LM", &finding("k1", t), HOUR)
                .expect("stored")
        };
        let (_, first) = record(1_000);
        let (change, second) = record(1_000 + 10 * HOUR);
        assert_eq!(change, AlertChange::New, "10 h later, past the window");
        let (change, again) = record(1_000 + 5 * 60_000);
        assert_eq!(
            (change, again.id, again.count, again.first_seen),
            (AlertChange::Updated, first.id, 2, 1_000),
            "the late finding joins the alert of its time"
        );
        let newest = store.alert("a", second.id).expect("reads").expect("there");
        assert_eq!(
            (newest.count, newest.first_seen),
            (1, 1_000 + 10 * HOUR),
            "the newer alert is left alone"
        );
        // a finding within the window before an alert's first widens it backwards, and the
        // next lookup finds the alert under its new first time
        let (_, widened) = record(1_000 + 10 * HOUR - HOUR / 2);
        assert_eq!(
            (widened.id, widened.first_seen),
            (second.id, 1_000 + 9 * HOUR + HOUR / 2)
        );
        let (_, again) = record(1_000 + 9 * HOUR);
        assert_eq!(again.id, second.id);
        assert_eq!(all_alerts(&store, "a").len(), 2);
    }

    #[test]
    fn findings_reported_again_land_in_the_alerts_they_landed_in_before() {
        // what a replay after a crash does: any order of times, reported twice; each finding
        // lands where it did the first time, the spans of one key never overlap, and each
        // finding's time lies in its alert's span
        let dir = tempfile::tempdir().expect("tmp");
        let store = Store::open(dir.path()).expect("opens");
        let mut g = Gen(0x5eed_1234_abcd_0001);
        let window = 10 * 60_000;
        let findings: Vec<Finding> = (0..400)
            .map(|_| {
                let key = ["k1", "k2"][g.below(2) as usize];
                finding(
                    key,
                    g.below(48) as i64 * 15 * 60_000 + g.below(600_000) as i64,
                )
            })
            .collect();
        let record_all = || -> Vec<u64> {
            findings
                .iter()
                .map(|f| {
                    store
                        .record_finding("a", "LM", f, window)
                        .expect("stored")
                        .1
                        .id
                })
                .collect()
        };
        record_all();
        let alerts = all_alerts(&store, "a");
        assert!(alerts.len() > 2, "{} alerts", alerts.len());
        // the alert each finding's time lies in once all are stored (its first alert may
        // have merged into an older one since)
        let holding: Vec<u64> = findings
            .iter()
            .map(|f| {
                alerts
                    .iter()
                    .find(|a| {
                        a.dedup_key == f.dedup_key
                            && a.first_seen <= f.time
                            && f.time <= a.last_seen
                    })
                    .map(|a| a.id)
                    .expect("an alert holds every finding")
            })
            .collect();
        let again = record_all();
        assert_eq!(holding, again, "each lands in the alert that holds it");
        let spans = |alerts: &[Alert]| -> Vec<(String, i64, i64, u64)> {
            alerts
                .iter()
                .map(|a| (a.dedup_key.clone(), a.first_seen, a.last_seen, a.id))
                .collect()
        };
        assert_eq!(
            spans(&alerts),
            spans(&all_alerts(&store, "a")),
            "no span moved"
        );
        for key in ["k1", "k2"] {
            let mut spans: Vec<(i64, i64)> = alerts
                .iter()
                .filter(|a| a.dedup_key == key)
                .map(|a| (a.first_seen, a.last_seen))
                .collect();
            spans.sort();
            for pair in spans.windows(2) {
                assert!(
                    pair[1].0 - pair[0].1 > window,
                    "spans within a window of each other {pair:?}"
                );
            }
        }
    }

    /// The reference of the dedup: per key, the finding times sorted and cut wherever two
    /// neighbours lie more than `window` apart; each piece is one alert's span and count.
    fn clusters(
        findings: &[Finding],
        window: i64,
    ) -> std::collections::BTreeSet<(String, i64, i64, u64)> {
        let mut by_key: std::collections::BTreeMap<&str, Vec<i64>> = Default::default();
        for f in findings {
            by_key.entry(&f.dedup_key).or_default().push(f.time);
        }
        let mut out = std::collections::BTreeSet::new();
        for (key, mut times) in by_key {
            times.sort_unstable();
            let mut start = 0;
            for i in 1..=times.len() {
                if i == times.len() || times[i] - times[i - 1] > window {
                    out.insert((
                        key.to_owned(),
                        times[start],
                        times[i - 1],
                        (i - start) as u64,
                    ));
                    start = i;
                }
            }
        }
        out
    }

    #[test]
    fn any_order_and_any_replay_of_the_same_findings_gives_the_same_alerts() {
        // the property of issue 15: the findings come in any order (backfills, senders with
        // skewed clocks), and a crash replays any stretch of them again; the alerts' spans are
        // always the clusters of the findings' times, and each finding is counted once per
        // time it was reported
        let window = 10 * 60_000;
        let mut g = Gen(0x0dd5_eed5_0f15_5e15);
        for _ in 0..12 {
            let findings: Vec<Finding> = (0..90)
                .map(|_| {
                    let key = ["k1", "k2"][g.below(2) as usize];
                    // slots 7 minutes apart, up to 5 minutes late: some neighbours are within
                    // the window, some are not, and many findings bridge two alerts
                    let time = g.below(30) as i64 * 7 * 60_000 + g.below(300_000) as i64;
                    finding(key, time)
                })
                .collect();
            let reference = clusters(&findings, window);
            for run in 0..4 {
                let mut order: Vec<&Finding> = findings.iter().collect();
                if run > 0 {
                    for i in (1..order.len()).rev() {
                        order.swap(i, g.below(i as u64 + 1) as usize);
                    }
                }
                // run 0 and 1: no crash; else a crash after `crash` findings replays those
                // from `replay` on again
                let crash = g.below(order.len() as u64 + 1) as usize;
                let replay = if run < 2 {
                    crash
                } else {
                    g.below(crash as u64 + 1) as usize
                };
                let dir = tempfile::tempdir().expect("tmp");
                let store = Store::open(dir.path()).expect("opens");
                let mut merges = 0;
                let reported: Vec<Finding> = order[..crash]
                    .iter()
                    .chain(&order[replay..])
                    .map(|f| (*f).clone())
                    .collect();
                let results = store
                    .record_findings("a", "LM", &reported, window)
                    .expect("stored");
                for (change, alert) in results {
                    if change == AlertChange::Merged {
                        merges += 1;
                        for gone in &alert.merged {
                            assert!(store.alert("a", *gone).expect("reads").is_none());
                        }
                    }
                }
                let alerts = all_alerts(&store, "a");
                let spans: std::collections::BTreeSet<(String, i64, i64)> = alerts
                    .iter()
                    .map(|a| (a.dedup_key.clone(), a.first_seen, a.last_seen))
                    .collect();
                let expected: std::collections::BTreeSet<(String, i64, i64)> = reference
                    .iter()
                    .map(|(k, first, last, _)| (k.clone(), *first, *last))
                    .collect();
                assert_eq!(spans, expected, "run {run}: crash {crash}, replay {replay}");
                assert_eq!(
                    alerts.iter().map(|a| a.count).sum::<u64>(),
                    (findings.len() + crash - replay) as u64
                );
                if replay == crash {
                    let counted: std::collections::BTreeSet<(String, i64, i64, u64)> = alerts
                        .iter()
                        .map(|a| (a.dedup_key.clone(), a.first_seen, a.last_seen, a.count))
                        .collect();
                    assert_eq!(counted, reference);
                }
                if run == 1 {
                    assert!(merges > 0, "a shuffled order bridges alerts");
                }
                // the indexes know only the alerts that remain
                let by_rule = AlertFilter {
                    rule: Some("lateral-movement".into()),
                    limit: 1000,
                    ..AlertFilter::default()
                };
                let indexed: Vec<u64> = store
                    .alerts("a", &by_rule)
                    .expect("query")
                    .0
                    .iter()
                    .map(|a| a.id)
                    .collect();
                let stored: Vec<u64> = alerts.iter().map(|a| a.id).collect();
                assert_eq!(indexed, stored);
                if run == 3 {
                    check_all_filters(&store, (0, 30 * 7 * 60_000));
                }
            }
        }
    }

    #[test]
    fn a_schema_2_store_gets_its_dedup_spans_on_open() {
        let dir = tempfile::tempdir().expect("tmp");
        let (early, late);
        {
            let store = Store::open(dir.path()).expect("opens");
            early = store
                .record_finding("a", "LM", &finding("k1", 1_000), HOUR)
                .expect("ok")
                .1;
            late = store
                .record_finding("a", "LM", &finding("k1", 1_000 + 10 * HOUR), HOUR)
                .expect("ok")
                .1;
            // what a schema-2 host left: the old dedup tree, no spans
            assert!(store.db().drop_tree("alert_spans").expect("drops"));
            store
                .db()
                .open_tree("alert_keys")
                .expect("tree")
                .insert("a\0lateral-movement\0k1", &late.id.to_be_bytes())
                .expect("insert");
            store
                .meta
                .insert("schema", &2u32.to_be_bytes())
                .expect("marks");
            store.flush().expect("flush");
        }
        let store = Store::open(dir.path()).expect("reopens and upgrades");
        let schema = store.meta.get("schema").expect("reads").expect("a schema");
        assert_eq!(schema.as_ref(), &super::super::SCHEMA_VERSION.to_be_bytes());
        assert!(
            !store
                .db()
                .tree_names()
                .iter()
                .any(|n| n.as_ref() == b"alert_keys"),
            "the old dedup index is gone"
        );
        let (_, a) = store
            .record_finding("a", "LM", &finding("k1", 2_000), HOUR)
            .expect("ok");
        assert_eq!((a.id, a.count), (early.id, 2));
    }

    #[test]
    fn a_store_without_indexes_is_indexed_on_open() {
        let dir = tempfile::tempdir().expect("tmp");
        let mut g = Gen(42);
        {
            let store = Store::open(dir.path()).expect("opens");
            fill(&store, &mut g, 0..600);
            // what a schema-1 host left: the alerts, no index trees
            for name in alert_index::TREES {
                assert!(store.db().drop_tree(name).expect("drops"));
            }
            store
                .meta
                .insert("schema", &1u32.to_be_bytes())
                .expect("marks");
            store.flush().expect("flush");
        }
        let store = Store::open(dir.path()).expect("reopens and indexes");
        let schema = store.meta.get("schema").expect("reads").expect("a schema");
        assert_eq!(schema.as_ref(), &super::super::SCHEMA_VERSION.to_be_bytes());
        let all = all_alerts(&store, "a");
        for filter in filters((200_000, 450_000)).iter().step_by(5) {
            check_pages(&store, &all, filter, 50, usize::MAX);
        }
        let by_rule = AlertFilter {
            rule: Some("r1".into()),
            limit: 1000,
            ..AlertFilter::default()
        };
        let indexed = store.alerts("a", &by_rule).expect("query").0;
        assert!(!indexed.is_empty());
        assert_eq!(
            indexed,
            store.alerts_by_scan("a", &by_rule).expect("scan").0
        );
    }
}
