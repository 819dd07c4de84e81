//! [`FindingBuilder`]: builds the [`Finding`] a rule reports, started by [`Finding::new`].
//!
//! ```
//! use yagura_sdk::{Finding, Severity};
//!
//! let finding = Finding::new("Office application started a shell")
//!     .severity(Severity::High)
//!     .confidence(80)
//!     .technique("T1204.002")
//!     .host("WS01")
//!     .user(r"CORP\alice")
//!     .process("cmd.exe (pid 4242)").role("child")
//!     .evidence(17)
//!     .dedup_key("WS01|100")
//!     .time(1_700_000_000_000)
//!     .context("cmd_line", "cmd.exe /c whoami")
//!     .build();
//! assert_eq!(finding.entities.len(), 3);
//! ```

use core::fmt::Display;

use crate::{Entity, EntityKind, Finding, Severity};

impl Finding {
    /// Starts a finding with its title. Severity defaults to medium, confidence to 50, time to
    /// 0 (set it to the event time of the last evidence).
    #[allow(clippy::new_ret_no_self)] // a builder, as for `RuleInfo::new`
    pub fn new(title: impl Into<String>) -> FindingBuilder {
        FindingBuilder {
            finding: Finding {
                title: title.into(),
                description: String::new(),
                severity: Severity::Medium,
                confidence: 50,
                techniques: Vec::new(),
                entities: Vec::new(),
                evidence: Vec::new(),
                dedup_key: String::new(),
                time: 0,
                context: Vec::new(),
            },
        }
    }
}

/// Builds a [`Finding`]; see [`Finding::new`].
#[derive(Debug, Clone)]
pub struct FindingBuilder {
    finding: Finding,
}

impl FindingBuilder {
    /// Sets the description: what happened, in a sentence or two.
    pub fn description(mut self, description: impl Into<String>) -> Self {
        self.finding.description = description.into();
        self
    }

    /// Sets the severity.
    pub fn severity(mut self, severity: Severity) -> Self {
        self.finding.severity = severity;
        self
    }

    /// Sets the confidence, 0 to 100 (larger values are capped at 100).
    pub fn confidence(mut self, confidence: u8) -> Self {
        self.finding.confidence = confidence.min(100);
        self
    }

    /// Adds a MITRE ATT&CK technique id.
    pub fn technique(mut self, id: impl Into<String>) -> Self {
        self.finding.techniques.push(id.into());
        self
    }

    /// Adds MITRE ATT&CK technique ids.
    pub fn techniques<S: Into<String>>(mut self, ids: impl IntoIterator<Item = S>) -> Self {
        self.finding
            .techniques
            .extend(ids.into_iter().map(Into::into));
        self
    }

    /// Adds an entity of any kind, with an optional role.
    pub fn entity(mut self, kind: EntityKind, value: impl Display, role: Option<&str>) -> Self {
        self.finding.entities.push(Entity {
            kind,
            value: value.to_string(),
            role: role.map(str::to_owned),
        });
        self
    }

    /// Adds a host entity.
    pub fn host(self, name: impl Display) -> Self {
        self.entity(EntityKind::Host, name, None)
    }

    /// Adds a user entity (`DOMAIN\name` or `name`).
    pub fn user(self, name: impl Display) -> Self {
        self.entity(EntityKind::User, name, None)
    }

    /// Adds an IP address entity (an `IpAddr`, an [`IpAddress`](crate::IpAddress), or text).
    pub fn ip(self, ip: impl Display) -> Self {
        self.entity(EntityKind::Ip, ip, None)
    }

    /// Adds a process entity, e.g. `powershell.exe (pid 4242)`.
    pub fn process(self, label: impl Display) -> Self {
        self.entity(EntityKind::Process, label, None)
    }

    /// Adds a file entity.
    pub fn file(self, path: impl Display) -> Self {
        self.entity(EntityKind::File, path, None)
    }

    /// Sets the role of the entity added last (`source`, `target`, `parent`…). Does nothing
    /// when no entity was added.
    pub fn role(mut self, role: &str) -> Self {
        if let Some(entity) = self.finding.entities.last_mut() {
            entity.role = Some(role.to_owned());
        }
        self
    }

    /// Adds the `seq` of an event that supports the finding.
    pub fn evidence(mut self, seq: u64) -> Self {
        self.finding.evidence.push(seq);
        self
    }

    /// Adds the `seq`s of events that support the finding.
    pub fn evidence_all(mut self, seqs: impl IntoIterator<Item = u64>) -> Self {
        self.finding.evidence.extend(seqs);
        self
    }

    /// Sets the dedup key: findings of one rule with the same key are one alert, updated.
    pub fn dedup_key(mut self, key: impl Into<String>) -> Self {
        self.finding.dedup_key = key.into();
        self
    }

    /// Sets the event time of the finding, ms since the Unix epoch.
    pub fn time(mut self, ms: i64) -> Self {
        self.finding.time = ms;
        self
    }

    /// Adds a key/value pair of context.
    pub fn context(mut self, key: impl Into<String>, value: impl Display) -> Self {
        self.finding.context.push((key.into(), value.to_string()));
        self
    }

    /// Adds a key/value pair of context when `value` is present.
    pub fn context_opt(self, key: impl Into<String>, value: Option<impl Display>) -> Self {
        match value {
            Some(value) => self.context(key, value),
            None => self,
        }
    }

    /// Finishes the finding.
    pub fn build(self) -> Finding {
        self.finding
    }
}

impl From<FindingBuilder> for Finding {
    fn from(builder: FindingBuilder) -> Finding {
        builder.build()
    }
}

#[cfg(test)]
mod tests {
    use core::net::IpAddr;

    use super::*;
    use crate::IpAddress;

    #[test]
    fn defaults() {
        let f = Finding::new("t").build();
        assert_eq!(f.title, "t");
        assert_eq!(f.severity, Severity::Medium);
        assert_eq!(f.confidence, 50);
        assert!(f.entities.is_empty() && f.evidence.is_empty() && f.context.is_empty());
    }

    #[test]
    fn builds_every_part() {
        let src: IpAddr = "10.0.0.5".parse().expect("ip");
        let f: Finding = Finding::new("Port scan")
            .description("d")
            .severity(Severity::Low)
            .confidence(250)
            .technique("T1046")
            .techniques(["T1", "T2"])
            .ip(src)
            .role("source")
            .ip(IpAddress::V4(0x0a00_0006))
            .role("destination")
            .host("WS01")
            .user("bob")
            .process("a.exe")
            .file("/tmp/x")
            .evidence(1)
            .evidence_all([2, 3])
            .dedup_key("k")
            .time(99)
            .context("ports", 20)
            .context_opt("absent", None::<&str>)
            .context_opt("present", Some("yes"))
            .into();
        assert_eq!(f.confidence, 100);
        assert_eq!(f.techniques, ["T1046", "T1", "T2"]);
        assert_eq!(f.entities[0].value, "10.0.0.5");
        assert_eq!(f.entities[0].role.as_deref(), Some("source"));
        assert_eq!(f.entities[1].value, "10.0.0.6");
        assert_eq!(f.entities[1].role.as_deref(), Some("destination"));
        assert_eq!(f.entities[2].kind, EntityKind::Host);
        assert_eq!(f.entities[2].role, None);
        assert_eq!(f.entities.len(), 6);
        assert_eq!(f.evidence, [1, 2, 3]);
        assert_eq!(f.dedup_key, "k");
        assert_eq!(f.time, 99);
        assert_eq!(
            f.context,
            [
                ("ports".to_owned(), "20".to_owned()),
                ("present".to_owned(), "yes".to_owned())
            ]
        );
    }

    #[test]
    fn role_without_entity_is_ignored() {
        assert!(Finding::new("t").role("x").build().entities.is_empty());
    }
}
