//! Alerts: every finding a tenant's rules report, persisted before anything else sees it, and
//! deduplicated: a finding with the rule and dedup key of an existing alert updates that alert
//! (its count goes up, the latest finding replaces the previous one) unless it comes more than
//! the dedup window (event time) after the alert's last finding: then it opens a new alert.
//!
//! Trees:
//! - `alerts`: `tenant \0 id` (id: sled's monotonic id, u64 big-endian, so a tenant's alerts
//!   scan in creation order) → [`Alert`] (JSON).
//! - `alert_keys`: `tenant \0 rule \0 dedup_key` → id: the dedup index.
//!
//! Both trees change in one sled transaction, and the database is flushed before
//! [`Store::record_finding`] returns.

use anyhow::Context;
use serde::{Deserialize, Serialize};
use sled::Transactional;
use sled::transaction::ConflictableTransactionError;

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
}

/// Whether a finding made a new alert or updated one.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum AlertChange {
    New,
    Updated,
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
        let open = |name: &str| {
            self.db()
                .open_tree(name)
                .with_context(|| format!("cannot open tree `{name}` of the store"))
        };
        Ok((open("alerts")?, open("alert_keys")?))
    }

    /// Stores a finding of `tenant` as a new alert or as an update of the alert with its rule
    /// and dedup key last seen at most `window_ms` of event time before it, and flushes;
    /// returns what changed and the alert as stored.
    pub fn record_finding(
        &self,
        tenant: &str,
        rule_name: &str,
        finding: &Finding,
        window_ms: i64,
    ) -> anyhow::Result<(AlertChange, Alert)> {
        let (alerts, keys) = self.alert_trees()?;
        let dedup = format!("{tenant}\0{}\0{}", finding.rule_id, finding.dedup_key);
        let fresh_id = self.db().generate_id()?;
        let now = now_ms();
        let ocsf = finding.to_ocsf(rule_name);
        let result = (&alerts, &keys)
            .transaction(|(alerts, keys)| {
                let existing = match keys.get(dedup.as_bytes())? {
                    Some(id) => {
                        let id = <[u8; 8]>::try_from(id.as_ref())
                            .map(u64::from_be_bytes)
                            .map_err(|_| ConflictableTransactionError::Abort("a bad alert id"))?;
                        alerts
                            .get(alert_key(tenant, id))?
                            .and_then(|v| serde_json::from_slice::<Alert>(&v).ok())
                            .filter(|a| finding.time.saturating_sub(a.last_seen) <= window_ms)
                    }
                    None => None,
                };
                let (change, alert) = match existing {
                    Some(mut a) => {
                        a.count += 1;
                        a.title = finding.title.clone();
                        a.severity = finding.severity;
                        a.first_seen = a.first_seen.min(finding.time);
                        a.last_seen = a.last_seen.max(finding.time);
                        a.updated_at = now;
                        a.hosts = names(finding, EntityKind::Host);
                        a.users = names(finding, EntityKind::User);
                        a.finding = ocsf.clone();
                        (AlertChange::Updated, a)
                    }
                    None => (
                        AlertChange::New,
                        Alert {
                            id: fresh_id,
                            tenant: tenant.to_owned(),
                            rule_id: finding.rule_id.clone(),
                            rule_name: rule_name.to_owned(),
                            dedup_key: finding.dedup_key.clone(),
                            title: finding.title.clone(),
                            severity: finding.severity,
                            count: 1,
                            first_seen: finding.time,
                            last_seen: finding.time,
                            created_at: now,
                            updated_at: now,
                            hosts: names(finding, EntityKind::Host),
                            users: names(finding, EntityKind::User),
                            finding: ocsf.clone(),
                        },
                    ),
                };
                let value = serde_json::to_vec(&alert)
                    .map_err(|_| ConflictableTransactionError::Abort("an unwritable alert"))?;
                alerts.insert(alert_key(tenant, alert.id), value)?;
                keys.insert(dedup.as_bytes(), &alert.id.to_be_bytes())?;
                Ok((change, alert))
            })
            .map_err(|e| anyhow::anyhow!("cannot store an alert of tenant `{tenant}`: {e}"))?;
        self.db().flush()?;
        Ok(result)
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

    /// `tenant`'s alerts matching `filter`, newest first, and the cursor of the next page (if
    /// there may be one).
    pub fn alerts(
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
}
