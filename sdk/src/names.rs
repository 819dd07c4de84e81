//! The WIT names of the generated enums (`event-class` `process`, `activity`
//! `ticket-request`…): `as_str()` and `Display` for each, as the event JSON and docs spell them.

use core::fmt;

use crate::{
    Activity, AuthProtocol, Direction, Disposition, EntityKind, EventClass, Integrity, JobKind,
    Outcome, Severity, Transport,
};

macro_rules! wit_names {
    ($($ty:ident { $($variant:ident => $name:literal),* $(,)? })*) => {$(
        impl $ty {
            /// The case's name as the WIT spells it.
            pub const fn as_str(&self) -> &'static str {
                match self {
                    $($ty::$variant => $name,)*
                }
            }
        }

        impl fmt::Display for $ty {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(self.as_str())
            }
        }
    )*};
}

wit_names! {
    EventClass {
        Authentication => "authentication",
        Process => "process",
        Network => "network",
        File => "file",
        Registry => "registry",
        Dns => "dns",
        Http => "http",
        Job => "job",
        Script => "script",
        Other => "other",
    }
    Activity {
        Unknown => "unknown",
        Create => "create",
        Delete => "delete",
        Modify => "modify",
        Rename => "rename",
        Open => "open",
        Logon => "logon",
        Logoff => "logoff",
        TicketRequest => "ticket-request",
        ServiceTicket => "service-ticket",
        CredentialValidation => "credential-validation",
        Traffic => "traffic",
        Refuse => "refuse",
        Query => "query",
        Execute => "execute",
        Other => "other",
    }
    Outcome {
        Unknown => "unknown",
        Success => "success",
        Failure => "failure",
    }
    Integrity {
        Unknown => "unknown",
        Untrusted => "untrusted",
        Low => "low",
        Medium => "medium",
        High => "high",
        System => "system",
    }
    AuthProtocol {
        Unknown => "unknown",
        Ntlm => "ntlm",
        Kerberos => "kerberos",
        Negotiate => "negotiate",
        Other => "other",
    }
    Transport {
        Unknown => "unknown",
        Tcp => "tcp",
        Udp => "udp",
        Icmp => "icmp",
        Other => "other",
    }
    Direction {
        Unknown => "unknown",
        Inbound => "inbound",
        Outbound => "outbound",
        Lateral => "lateral",
        Local => "local",
    }
    Disposition {
        Unknown => "unknown",
        Allowed => "allowed",
        Blocked => "blocked",
        Rejected => "rejected",
        NoAnswer => "no-answer",
        Established => "established",
    }
    JobKind {
        Service => "service",
        ScheduledTask => "scheduled-task",
    }
    Severity {
        Informational => "informational",
        Low => "low",
        Medium => "medium",
        High => "high",
        Critical => "critical",
    }
    EntityKind {
        Host => "host",
        User => "user",
        Ip => "ip",
        Process => "process",
        File => "file",
        Other => "other",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_follow_the_wit() {
        assert_eq!(EventClass::Authentication.as_str(), "authentication");
        assert_eq!(Activity::TicketRequest.to_string(), "ticket-request");
        assert_eq!(Disposition::NoAnswer.to_string(), "no-answer");
        assert_eq!(JobKind::ScheduledTask.as_str(), "scheduled-task");
        assert_eq!(Severity::Critical.as_str(), "critical");
        let names: Vec<&str> = EventClass::ALL.iter().map(EventClass::as_str).collect();
        assert_eq!(names.len(), 10);
        assert!(names.iter().all(|n| !n.is_empty()));
    }
}
