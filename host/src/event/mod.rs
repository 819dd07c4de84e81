//! The normalized event: Yagura's one event model, OCSF-aligned, and its JSON form.
//!
//! Adapters produce [`Event`]s; the sandbox lowers them into the WIT `event` record; rules
//! never see source formats. The JSON form (one object per line, `docs/events.md`) mirrors
//! this struct field for field with snake_case names. Values that are numbers or enums in
//! the WIT are numbers or enum names here too, so a rule reads them without parsing.

mod json;
mod schema;

use std::net::IpAddr;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

pub use json::{EventParseError, parse_event};
pub(crate) use json::{format_guid, format_rfc3339_ms, parse_guid, parse_hex_or_decimal};
pub use schema::event_schema;

/// One normalized security event.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
#[schemars(transform = schema::class_alias)]
pub struct Event {
    /// Ingest sequence number, assigned by the host (input values are replaced).
    #[serde(default)]
    pub seq: u64,
    /// Event time in ms since the Unix epoch, UTC. JSON: a number of ms or an RFC 3339 string.
    #[serde(with = "json::time_ms")]
    #[schemars(schema_with = "schema::time_ms")]
    pub time: i64,
    /// OCSF class. JSON: `class` by name (`"process"`) or by OCSF number (`1007`);
    /// `class_uid` is accepted as another name for the field.
    #[serde(alias = "class_uid", with = "json::class")]
    #[schemars(schema_with = "schema::class")]
    pub class: EventClass,
    #[serde(default)]
    pub activity: Activity,
    #[serde(default)]
    pub outcome: Outcome,
    #[serde(default)]
    pub source: Source,
    #[serde(default)]
    pub device: Device,
    #[serde(default, skip_serializing_if = "Actor::is_empty")]
    pub actor: Actor,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user: Option<User>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub process: Option<Process>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub src: Option<Endpoint>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dst: Option<Endpoint>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub auth: Option<Auth>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub network: Option<Network>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub file: Option<File>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub registry: Option<Registry>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub job: Option<Job>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub script: Option<Script>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub query: Option<Query>,
    /// Source fields with no typed home (OCSF `unmapped`), in source order.
    #[serde(
        default,
        rename = "unmapped",
        with = "json::attributes",
        skip_serializing_if = "Vec::is_empty"
    )]
    #[schemars(schema_with = "schema::unmapped")]
    pub attributes: Vec<(String, String)>,
}

macro_rules! named_enum {
    ($(#[$meta:meta])* $name:ident { $($(#[$vmeta:meta])* $variant:ident = $text:literal),+ $(,)? }) => {
        $(#[$meta])*
        #[derive(
            Debug, Clone, Copy, Default, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, JsonSchema,
        )]
        pub enum $name {
            #[default]
            $($(#[$vmeta])* #[serde(rename = $text)] $variant),+
        }

        impl<'de> Deserialize<'de> for $name {
            /// By name; an unknown name is an error listing the known ones.
            fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                let text = std::borrow::Cow::<str>::deserialize(d)?;
                $name::ALL.iter().copied().find(|v| v.as_str() == text).ok_or_else(|| {
                    let names: Vec<&str> = $name::ALL.iter().map(|v| v.as_str()).collect();
                    serde::de::Error::custom(format!(
                        "unknown {} `{text}`, expected one of {}",
                        json::snake_name(stringify!($name)),
                        names.join(", ")
                    ))
                })
            }
        }

        impl $name {
            /// Every variant, in declaration order.
            pub const ALL: &'static [$name] = &[$($name::$variant),+];

            /// The name used in JSON and on the command line.
            pub fn as_str(self) -> &'static str {
                match self { $($name::$variant => $text),+ }
            }
        }

        impl std::fmt::Display for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(self.as_str())
            }
        }
    };
}

named_enum!(
    /// OCSF event class (see the WIT `event-class`).
    EventClass {
        Other = "other",
        Authentication = "authentication",
        Process = "process",
        Network = "network",
        File = "file",
        Registry = "registry",
        Dns = "dns",
        Http = "http",
        Job = "job",
        Script = "script",
    }
);

impl EventClass {
    /// The OCSF class_uid this class maps to.
    pub fn ocsf_uid(self) -> u32 {
        match self {
            EventClass::Authentication => 3002,
            EventClass::Process => 1007,
            EventClass::Network => 4001,
            EventClass::File => 1001,
            EventClass::Registry => 201001,
            EventClass::Dns => 4003,
            EventClass::Http => 4002,
            EventClass::Job => 1006,
            EventClass::Script => 1009,
            EventClass::Other => 0,
        }
    }

    /// Every OCSF class_uid Yagura accepts, with the class it maps to (both registry classes
    /// map to `registry`). `from_ocsf_uid` and the JSON Schema read this table.
    pub(crate) const OCSF_UIDS: &'static [(u32, EventClass)] = &[
        (3002, EventClass::Authentication),
        (1007, EventClass::Process),
        (4001, EventClass::Network),
        (1001, EventClass::File),
        (201001, EventClass::Registry),
        (201002, EventClass::Registry),
        (4003, EventClass::Dns),
        (4002, EventClass::Http),
        (1006, EventClass::Job),
        (1009, EventClass::Script),
        (0, EventClass::Other),
    ];

    /// The class for an OCSF class_uid, if Yagura models it.
    pub(crate) fn from_ocsf_uid(uid: u32) -> Option<EventClass> {
        Self::OCSF_UIDS
            .iter()
            .find(|(u, _)| *u == uid)
            .map(|(_, class)| *class)
    }

    /// A one-bit mask, for subscription sets.
    pub fn bit(self) -> u16 {
        1 << (self as u16)
    }
}

named_enum!(
    /// What happened (see the WIT `activity`).
    Activity {
        Unknown = "unknown",
        Create = "create",
        Delete = "delete",
        Modify = "modify",
        Rename = "rename",
        Open = "open",
        Logon = "logon",
        Logoff = "logoff",
        TicketRequest = "ticket_request",
        ServiceTicket = "service_ticket",
        CredentialValidation = "credential_validation",
        Traffic = "traffic",
        Refuse = "refuse",
        Query = "query",
        Execute = "execute",
        Other = "other",
    }
);

named_enum!(
    /// Whether the action succeeded.
    Outcome {
        Unknown = "unknown",
        Success = "success",
        Failure = "failure",
    }
);

named_enum!(
    /// Windows mandatory integrity level.
    Integrity {
        Unknown = "unknown",
        Untrusted = "untrusted",
        Low = "low",
        Medium = "medium",
        High = "high",
        System = "system",
    }
);

named_enum!(
    /// Authentication protocol or package.
    AuthProtocol {
        Unknown = "unknown",
        Ntlm = "ntlm",
        Kerberos = "kerberos",
        Negotiate = "negotiate",
        Other = "other",
    }
);

named_enum!(
    /// Transport protocol.
    Transport {
        Unknown = "unknown",
        Tcp = "tcp",
        Udp = "udp",
        Icmp = "icmp",
        Other = "other",
    }
);

named_enum!(
    /// Traffic direction relative to the monitored network.
    Direction {
        Unknown = "unknown",
        Inbound = "inbound",
        Outbound = "outbound",
        Lateral = "lateral",
        Local = "local",
    }
);

named_enum!(
    /// What a device or the peer did with a connection.
    Disposition {
        Unknown = "unknown",
        Allowed = "allowed",
        Blocked = "blocked",
        Rejected = "rejected",
        NoAnswer = "no_answer",
        Established = "established",
    }
);

named_enum!(
    /// Service or scheduled task.
    JobKind {
        Service = "service",
        ScheduledTask = "scheduled_task",
    }
);

impl Event {
    /// Bytes of text the event carries (what it adds to a batch's string blob).
    pub(crate) fn text_bytes(&self) -> usize {
        fn o(s: &Option<String>) -> usize {
            s.as_ref().map_or(0, String::len)
        }
        fn user(u: &Option<User>) -> usize {
            u.as_ref()
                .map_or(0, |u| o(&u.name) + o(&u.domain) + o(&u.uid))
        }
        fn process(p: &Option<Process>) -> usize {
            p.as_ref().map_or(0, |p| {
                o(&p.image)
                    + o(&p.cmd_line)
                    + o(&p.cwd)
                    + o(&p.hashes)
                    + o(&p.parent_image)
                    + o(&p.parent_cmd_line)
            })
        }
        fn endpoint(e: &Option<Endpoint>) -> usize {
            e.as_ref().map_or(0, |e| o(&e.hostname))
        }
        self.source.format.len()
            + o(&self.source.channel)
            + o(&self.source.provider)
            + o(&self.device.hostname)
            + o(&self.device.domain)
            + user(&self.actor.user)
            + process(&self.actor.process)
            + user(&self.user)
            + process(&self.process)
            + endpoint(&self.src)
            + endpoint(&self.dst)
            + self
                .auth
                .as_ref()
                .map_or(0, |a| o(&a.logon_process) + o(&a.service))
            + self.network.as_ref().map_or(0, |n| o(&n.state))
            + self.file.as_ref().map_or(0, |f| {
                o(&f.path) + o(&f.hashes) + o(&f.share_name) + o(&f.relative_target)
            })
            + self
                .registry
                .as_ref()
                .map_or(0, |r| o(&r.key) + o(&r.value_name) + o(&r.value_data))
            + self.job.as_ref().map_or(0, |j| {
                o(&j.name) + o(&j.command) + o(&j.start_type) + o(&j.account)
            })
            + self
                .script
                .as_ref()
                .map_or(0, |s| o(&s.text) + o(&s.block_id) + o(&s.host_application))
            + self
                .query
                .as_ref()
                .map_or(0, |q| o(&q.name) + o(&q.detail) + o(&q.user_agent))
            + self
                .attributes
                .iter()
                .map(|(k, v)| k.len() + v.len())
                .sum::<usize>()
    }
}

/// Where the event came from.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Source {
    /// The adapter that produced the event (`ocsf`, `evtx`, …); `json` when read as normalized JSON.
    #[serde(default)]
    pub format: String,
    /// The source's event code, e.g. the Windows EventID.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub code: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub channel: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub provider: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub record_id: Option<u64>,
}

/// The host the event was recorded on.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Device {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hostname: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub domain: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(schema_with = "schema::opt_ip")]
    pub ip: Option<IpAddr>,
}

/// An account.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct User {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub domain: Option<String>,
    /// SID or other unique id.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub uid: Option<String>,
    /// Windows logon id. JSON: a number or a `0x…` hex string.
    #[serde(
        default,
        with = "json::opt_hex_u64",
        skip_serializing_if = "Option::is_none"
    )]
    #[schemars(schema_with = "schema::opt_hex_u64")]
    pub logon_id: Option<u64>,
}

/// A process. For a launch, the parent is the event's `actor.process`; adapters also fill the
/// `parent_*` fields here when the source has them.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Process {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pid: Option<u32>,
    /// Sysmon ProcessGuid. JSON: `{5770385F-C22A-43E0-BF4C-06F5698FFBD9}`, braces optional.
    #[serde(
        default,
        with = "json::opt_guid",
        skip_serializing_if = "Option::is_none"
    )]
    #[schemars(schema_with = "schema::opt_guid")]
    pub guid: Option<u128>,
    /// Full image path.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub image: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cmd_line: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cwd: Option<String>,
    #[serde(default)]
    pub integrity: Integrity,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hashes: Option<String>,
    /// Start time, ms since the Unix epoch.
    #[serde(
        default,
        with = "json::opt_time_ms",
        skip_serializing_if = "Option::is_none"
    )]
    #[schemars(schema_with = "schema::opt_time_ms")]
    pub start_time: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub parent_pid: Option<u32>,
    #[serde(
        default,
        with = "json::opt_guid",
        skip_serializing_if = "Option::is_none"
    )]
    #[schemars(schema_with = "schema::opt_guid")]
    pub parent_guid: Option<u128>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub parent_image: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub parent_cmd_line: Option<String>,
}

/// Who acted.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Actor {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user: Option<User>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub process: Option<Process>,
}

impl Actor {
    fn is_empty(&self) -> bool {
        self.user.is_none() && self.process.is_none()
    }
}

/// One end of a connection or authentication.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Endpoint {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(schema_with = "schema::opt_ip")]
    pub ip: Option<IpAddr>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub port: Option<u16>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hostname: Option<String>,
}

/// Authentication details.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Auth {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub logon_type: Option<u8>,
    #[serde(default)]
    pub protocol: AuthProtocol,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub key_length: Option<u16>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub logon_process: Option<String>,
    /// Failure status code. JSON: a number or a `0x…` hex string.
    #[serde(
        default,
        with = "json::opt_hex_u32",
        skip_serializing_if = "Option::is_none"
    )]
    #[schemars(schema_with = "schema::opt_hex_u32")]
    pub status_code: Option<u32>,
    #[serde(default)]
    pub elevated: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub service: Option<String>,
    #[serde(
        default,
        with = "json::opt_hex_u32",
        skip_serializing_if = "Option::is_none"
    )]
    #[schemars(schema_with = "schema::opt_hex_u32")]
    pub ticket_options: Option<u32>,
    #[serde(
        default,
        with = "json::opt_hex_u32",
        skip_serializing_if = "Option::is_none"
    )]
    #[schemars(schema_with = "schema::opt_hex_u32")]
    pub ticket_encryption: Option<u32>,
}

/// Network details.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Network {
    #[serde(default)]
    pub transport: Transport,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub protocol_num: Option<u8>,
    #[serde(default)]
    pub direction: Direction,
    #[serde(default)]
    pub disposition: Disposition,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bytes_out: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bytes_in: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub packets_out: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub packets_in: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub duration_ms: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub state: Option<String>,
}

/// A file, or a file-share access.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct File {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub path: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hashes: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub share_name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub relative_target: Option<String>,
    #[serde(
        default,
        with = "json::opt_hex_u32",
        skip_serializing_if = "Option::is_none"
    )]
    #[schemars(schema_with = "schema::opt_hex_u32")]
    pub access_mask: Option<u32>,
}

/// A registry key or value.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Registry {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub key: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub value_name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub value_data: Option<String>,
}

/// A service or scheduled task being installed.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Job {
    #[serde(default)]
    pub kind: JobKind,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub command: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub start_type: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub account: Option<String>,
}

/// Script execution.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Script {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub text: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub block_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub part: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub parts: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub host_application: Option<String>,
}

/// DNS query or HTTP request.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Query {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub code: Option<u16>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub detail: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user_agent: Option<String>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn class_bits_are_distinct_and_fit_a_u16() {
        let mut seen = 0u16;
        for class in EventClass::ALL {
            assert_eq!(seen & class.bit(), 0, "{class} shares a bit");
            seen |= class.bit();
        }
        assert_eq!(seen.count_ones() as usize, EventClass::ALL.len());
    }

    #[test]
    fn ocsf_uids_round_trip() {
        for class in EventClass::ALL {
            assert_eq!(EventClass::from_ocsf_uid(class.ocsf_uid()), Some(*class));
        }
        assert_eq!(EventClass::from_ocsf_uid(4242), None);
        assert_eq!(
            EventClass::from_ocsf_uid(201002),
            Some(EventClass::Registry)
        );
    }
}
