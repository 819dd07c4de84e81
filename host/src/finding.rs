//! Findings: what rules report, stamped by the host, and their OCSF Detection Finding form
//! (class_uid 2004), the JSON every output of Yagura writes.

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value as Json, json};
use sha2::{Digest, Sha256};

use crate::event::format_rfc3339_ms;

/// Finding severity (the WIT `severity`), ordered.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Severity {
    Informational,
    Low,
    Medium,
    High,
    Critical,
}

impl Severity {
    /// OCSF severity_id: 1 informational … 5 critical.
    pub(crate) fn ocsf_id(self) -> u8 {
        self as u8 + 1
    }

    /// OCSF severity caption.
    pub(crate) fn caption(self) -> &'static str {
        match self {
            Severity::Informational => "Informational",
            Severity::Low => "Low",
            Severity::Medium => "Medium",
            Severity::High => "High",
            Severity::Critical => "Critical",
        }
    }
}

/// The kind of thing an entity names.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum EntityKind {
    Host,
    User,
    Ip,
    Process,
    File,
    Other,
}

impl EntityKind {
    /// OCSF observable type_id and caption.
    fn ocsf_type(self) -> (u8, &'static str) {
        match self {
            EntityKind::Host => (1, "Hostname"),
            EntityKind::Ip => (2, "IP Address"),
            EntityKind::User => (4, "User Name"),
            EntityKind::File => (7, "File Name"),
            EntityKind::Process => (9, "Process Name"),
            EntityKind::Other => (99, "Other"),
        }
    }

    /// The kind's name: `host`, `user`, `ip`, `process`, `file`, `other`.
    pub fn as_str(self) -> &'static str {
        match self {
            EntityKind::Host => "host",
            EntityKind::User => "user",
            EntityKind::Ip => "ip",
            EntityKind::Process => "process",
            EntityKind::File => "file",
            EntityKind::Other => "other",
        }
    }
}

/// Something a finding names.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Entity {
    pub kind: EntityKind,
    pub value: String,
    pub role: Option<String>,
}

/// A finding as a rule reported it, with the rule's id and version added by the host.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Finding {
    pub rule_id: String,
    pub rule_version: String,
    pub title: String,
    pub description: String,
    pub severity: Severity,
    pub confidence: u8,
    pub techniques: Vec<String>,
    pub entities: Vec<Entity>,
    /// `seq` of the supporting events
    pub evidence: Vec<u64>,
    pub dedup_key: String,
    /// event time, ms since the Unix epoch
    pub time: i64,
    pub context: Vec<(String, String)>,
}

impl Finding {
    /// A stable id: the same rule, dedup key, time and evidence give the same id, so replays
    /// are reproducible.
    pub fn uid(&self) -> String {
        let mut h = Sha256::new();
        h.update(self.rule_id.as_bytes());
        h.update([0]);
        h.update(self.dedup_key.as_bytes());
        h.update([0]);
        h.update(self.time.to_le_bytes());
        for seq in &self.evidence {
            h.update(seq.to_le_bytes());
        }
        let digest = h.finalize();
        format!("{}-{}", self.rule_id, hex::encode(&digest[..8]))
    }

    /// The OCSF Detection Finding (class 2004) form of the finding.
    pub(crate) fn to_ocsf(&self, rule_name: &str) -> Json {
        let attacks: Vec<Json> = self
            .techniques
            .iter()
            .map(|t| json!({ "technique": { "uid": t } }))
            .collect();
        let observables: Vec<Json> = self
            .entities
            .iter()
            .map(|e| {
                let (type_id, type_name) = e.kind.ocsf_type();
                let name = match &e.role {
                    Some(role) => format!("{role}.{}", e.kind.as_str()),
                    None => e.kind.as_str().to_owned(),
                };
                json!({ "name": name, "type_id": type_id, "type": type_name, "value": e.value })
            })
            .collect();
        let related: Vec<Json> = self
            .evidence
            .iter()
            .map(|seq| json!({ "uid": seq.to_string() }))
            .collect();
        let context: Map<String, Json> = self
            .context
            .iter()
            .map(|(k, v)| (k.clone(), Json::String(v.clone())))
            .collect();
        json!({
            "class_uid": 2004,
            "class_name": "Detection Finding",
            "category_uid": 2,
            "activity_id": 1,
            "type_uid": 200401,
            "time": self.time,
            "time_dt": format_rfc3339_ms(self.time),
            "severity_id": self.severity.ocsf_id(),
            "severity": self.severity.caption(),
            "confidence_score": self.confidence,
            "status_id": 1,
            "message": self.title,
            "finding_info": {
                "uid": self.uid(),
                "title": self.title,
                "desc": self.description,
                "analytic": {
                    "uid": self.rule_id,
                    "name": rule_name,
                    "type_id": 1,
                    "type": "Rule",
                    "version": self.rule_version,
                },
                "attacks": attacks,
                "related_events": related,
            },
            "observables": observables,
            "metadata": {
                "version": "1.3.0",
                "product": { "name": "Yagura", "vendor_name": "Yagura", "version": env!("CARGO_PKG_VERSION") },
            },
            "unmapped": {
                "dedup_key": self.dedup_key,
                "context": context,
            },
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn finding() -> Finding {
        Finding {
            rule_id: "office-spawns-shell".into(),
            rule_version: "0.1.0".into(),
            title: "WINWORD.EXE started powershell.exe".into(),
            description: "d".into(),
            severity: Severity::High,
            confidence: 80,
            techniques: vec!["T1204.002".into(), "T1059.001".into()],
            entities: vec![
                Entity {
                    kind: EntityKind::Host,
                    value: "WS01".into(),
                    role: None,
                },
                Entity {
                    kind: EntityKind::Ip,
                    value: "10.0.0.5".into(),
                    role: Some("source".into()),
                },
            ],
            evidence: vec![7, 9],
            dedup_key: "WS01|42".into(),
            time: 1_600_604_168_123,
            context: vec![("stage".into(), "1".into())],
        }
    }

    #[test]
    fn ocsf_form_has_the_required_fields() {
        let f = finding();
        let o = f.to_ocsf("Office spawns shell");
        assert_eq!(o["class_uid"], 2004);
        assert_eq!(o["severity_id"], 4);
        assert_eq!(o["time_dt"], "2020-09-20T12:16:08.123Z");
        assert_eq!(o["finding_info"]["analytic"]["uid"], "office-spawns-shell");
        assert_eq!(
            o["finding_info"]["attacks"][1]["technique"]["uid"],
            "T1059.001"
        );
        assert_eq!(o["finding_info"]["related_events"][1]["uid"], "9");
        assert_eq!(o["observables"][1]["name"], "source.ip");
        assert_eq!(o["observables"][1]["type_id"], 2);
        assert_eq!(o["unmapped"]["context"]["stage"], "1");
    }

    #[test]
    fn uid_is_stable_and_depends_on_evidence() {
        let a = finding();
        assert_eq!(a.uid(), finding().uid());
        let mut b = finding();
        b.evidence.push(10);
        assert_ne!(a.uid(), b.uid());
        assert!(a.uid().starts_with("office-spawns-shell-"));
    }
}
