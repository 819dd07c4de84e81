//! The Windows event model and its mapping to normalized events, shared by the EVTX,
//! Windows-JSON and ECS adapters.
//!
//! An adapter reads its shape into a [`WinRecord`] (the System fields and the EventData or
//! UserData fields as ordered name/value pairs); [`to_event`] maps it by channel family and
//! EventID to a class and typed fields. Data fields a mapping does not use go to the event's
//! attributes under their source names; an EventID with no mapping becomes class `other` with
//! all its data as attributes. `-`, empty strings and unknown `%%` message-table references
//! mean "absent". The field-by-field table is docs/adapters-windows.md.
//!
//! # Layout
//! This file holds the record, the dispatch by family and EventID ([`to_event`]), field access
//! and the value parsers every family shares; each family's mappings, with their tests, are in
//! `auth`, `process`, `network`, `objects` (files, shares, registry, DNS), `services` (and
//! scheduled tasks) and `powershell`.

mod auth;
mod network;
mod objects;
mod powershell;
mod process;
mod services;

use std::net::IpAddr;

use auth::{explicit_credentials, kerberos, logon, ntlm_validation, special_logon};
use network::{sysmon_network, wfp_connection};
use objects::{share_access, sysmon_dns, sysmon_file, sysmon_registry};
use powershell::{module_logging, pipeline_details, script_block};
use process::{
    security_process_create, security_process_exit, sysmon_process_create, sysmon_process_exit,
    sysmon_process_target,
};
use services::{scheduled_task, security_service_install, service_install, service_state};

use crate::event::{
    Activity, Auth, AuthProtocol, Device, Direction, Disposition, Endpoint, Event, EventClass,
    File, Integrity, Job, JobKind, Network, Outcome, Process, Query, Registry, Script, Source,
    Transport, User,
};

/// One Windows event: the System fields and the EventData/UserData fields.
#[derive(Debug, Clone, Default, PartialEq)]
pub(crate) struct WinRecord {
    pub provider: Option<String>,
    pub channel: Option<String>,
    pub event_id: Option<u32>,
    pub record_id: Option<u64>,
    /// Event time (System/TimeCreated), ms since the Unix epoch, UTC.
    pub time: Option<i64>,
    /// System/Computer: the host's FQDN or NetBIOS name.
    pub computer: Option<String>,
    /// System/Keywords (audit success 0x0020…, audit failure 0x0010…).
    pub keywords: Option<u64>,
    /// System/Security/@UserID, with the name and domain when the exporter resolved it.
    pub user_sid: Option<String>,
    pub user_name: Option<String>,
    pub user_domain: Option<String>,
    /// The rendered message, when the exporter kept one. Read only where the data lacks the
    /// facts (classic PowerShell 800 from NXLog); kept as an attribute when there is no data.
    pub message: Option<String>,
    /// EventData or UserData fields in source order; unnamed `<Data>` are `param1`, `param2`….
    pub data: Vec<(String, String)>,
}

const AUDIT_FAILURE: u64 = 0x0010_0000_0000_0000;
const AUDIT_SUCCESS: u64 = 0x0020_0000_0000_0000;

/// Which provider family an event comes from: EventIDs only mean something within one.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Family {
    Security,
    Sysmon,
    ServiceControl,
    PowerShell,
    ClassicPowerShell,
    Other,
}

fn family(rec: &WinRecord) -> Family {
    let provider = rec.provider.as_deref().unwrap_or("").to_ascii_lowercase();
    let channel = rec.channel.as_deref().unwrap_or("").to_ascii_lowercase();
    if provider.contains("sysmon") || channel.starts_with("microsoft-windows-sysmon") {
        Family::Sysmon
    } else if provider == "microsoft-windows-security-auditing" || channel == "security" {
        Family::Security
    } else if provider == "service control manager" || (channel == "system" && provider.is_empty())
    {
        Family::ServiceControl
    } else if channel == "microsoft-windows-powershell/operational"
        || provider == "microsoft-windows-powershell"
    {
        Family::PowerShell
    } else if channel == "windows powershell" || provider == "powershell" {
        Family::ClassicPowerShell
    } else {
        Family::Other
    }
}

/// Maps one Windows record to a normalized event. `Err` only for a record with no EventID or
/// no time; an EventID without a mapping gives class `other`.
pub(crate) fn to_event(rec: &WinRecord, format: &str) -> Result<Option<Event>, String> {
    let code = rec
        .event_id
        .ok_or("missing field `EventID` (no Windows event id)")?;
    let time = rec
        .time
        .ok_or("missing field `TimeCreated` (no event time)")?;
    let (hostname, domain) = split_computer(rec.computer.as_deref());
    let mut ev = Event {
        time,
        class: EventClass::Other,
        source: Source {
            format: format.to_owned(),
            code: Some(code),
            channel: rec.channel.clone(),
            provider: rec.provider.clone(),
            record_id: rec.record_id,
        },
        device: Device {
            hostname,
            domain,
            ip: None,
        },
        ..Event::default()
    };
    if let Some(k) = rec.keywords {
        if k & AUDIT_FAILURE != 0 {
            ev.outcome = Outcome::Failure;
        } else if k & AUDIT_SUCCESS != 0 {
            ev.outcome = Outcome::Success;
        }
    }
    let mut f = Fields::new(rec);
    let sysmon = family(rec) == Family::Sysmon;
    // Sysmon's System user is always the Sysmon service, and its UtcTime repeats the event
    // time (kept only as a process start time): neither says anything.
    let mut system_user_used = sysmon;
    if sysmon && code != 1 {
        f.raw("UtcTime");
    }
    match (family(rec), code) {
        (Family::Security, 4624) => logon(&mut f, &mut ev, Activity::Logon),
        (Family::Security, 4625) => {
            logon(&mut f, &mut ev, Activity::Logon);
            ev.outcome = Outcome::Failure;
        }
        (Family::Security, 4634 | 4647) => logon(&mut f, &mut ev, Activity::Logoff),
        (Family::Security, 4648) => explicit_credentials(&mut f, &mut ev),
        (Family::Security, 4672) => special_logon(&mut f, &mut ev),
        (Family::Security, 4768 | 4769 | 4771) => kerberos(&mut f, &mut ev, code),
        (Family::Security, 4776) => ntlm_validation(&mut f, &mut ev),
        (Family::Security, 4688) => security_process_create(&mut f, &mut ev),
        (Family::Security, 4689) => security_process_exit(&mut f, &mut ev),
        (Family::Security, 4697) => security_service_install(&mut f, &mut ev),
        (Family::Security, 4698 | 4702) => scheduled_task(&mut f, &mut ev, code),
        (Family::Security, 5140 | 5145) => share_access(&mut f, &mut ev),
        (Family::Security, 5156 | 5157) => wfp_connection(&mut f, &mut ev, code),
        (Family::ServiceControl, 7045) => {
            system_user_used = service_install(&mut f, &mut ev, rec);
        }
        (Family::ServiceControl, 7036) => service_state(&mut f, &mut ev),
        (Family::Sysmon, 1) => sysmon_process_create(&mut f, &mut ev),
        (Family::Sysmon, 5) => sysmon_process_exit(&mut f, &mut ev),
        (Family::Sysmon, 3) => sysmon_network(&mut f, &mut ev),
        (Family::Sysmon, 7 | 8 | 10) => sysmon_process_target(&mut f, &mut ev, code),
        (Family::Sysmon, 2 | 11 | 15 | 17 | 18 | 23 | 26) => sysmon_file(&mut f, &mut ev, code),
        (Family::Sysmon, 12..=14) => sysmon_registry(&mut f, &mut ev, code),
        (Family::Sysmon, 22) => sysmon_dns(&mut f, &mut ev),
        (Family::PowerShell, 4104) => {
            system_user_used = script_block(&mut f, &mut ev, rec);
        }
        (Family::PowerShell, 4103) => {
            system_user_used = module_logging(&mut f, &mut ev, rec);
        }
        (Family::ClassicPowerShell, 800) => {
            system_user_used = pipeline_details(&mut f, &mut ev, rec);
        }
        _ => {}
    }
    // source data first, then what a mapping drew out of composite fields
    let drawn = std::mem::take(&mut ev.attributes);
    let mut attributes = f.rest();
    attributes.extend(drawn);
    if !system_user_used && let Some(sid) = meaningful(rec.user_sid.as_deref()) {
        attributes.push(("UserID".to_owned(), sid.to_owned()));
    }
    // a rendered message is kept only where there is no data to carry the facts
    if rec.data.is_empty()
        && ev.class == EventClass::Other
        && let Some(m) = meaningful(rec.message.as_deref())
    {
        attributes.push(("Message".to_owned(), m.to_owned()));
    }
    ev.attributes = attributes;
    Ok(Some(ev))
}

// ---------------------------------------------------------------------------------------
// Field access

/// The data fields of one record, remembering which ones a mapping used.
struct Fields<'a> {
    data: &'a [(String, String)],
    used: Vec<bool>,
}

impl<'a> Fields<'a> {
    fn new(rec: &'a WinRecord) -> Self {
        Fields {
            data: &rec.data,
            used: vec![false; rec.data.len()],
        }
    }

    /// The raw value of `name` (marked used), absent or not.
    fn raw(&mut self, name: &str) -> Option<&'a str> {
        let data = self.data;
        let i = data
            .iter()
            .position(|(k, _)| k == name)
            .or_else(|| data.iter().position(|(k, _)| k.eq_ignore_ascii_case(name)))?;
        self.used[i] = true;
        Some(data[i].1.as_str())
    }

    /// The value of `name` when it carries something.
    fn get(&mut self, name: &str) -> Option<&'a str> {
        meaningful(self.raw(name))
    }

    fn string(&mut self, name: &str) -> Option<String> {
        self.get(name).map(str::to_owned)
    }

    fn number(&mut self, name: &str) -> Option<u64> {
        self.get(name).and_then(parse_number)
    }

    fn u32(&mut self, name: &str) -> Option<u32> {
        self.number(name).and_then(|n| u32::try_from(n).ok())
    }

    fn ip(&mut self, name: &str) -> Option<IpAddr> {
        self.get(name).and_then(parse_ip)
    }

    fn port(&mut self, name: &str) -> Option<u16> {
        self.number(name).and_then(|n| u16::try_from(n).ok())
    }

    fn guid(&mut self, name: &str) -> Option<u128> {
        self.get(name).and_then(parse_guid)
    }

    fn flag(&mut self, name: &str) -> Option<bool> {
        // `%%1842`/`%%1843` (Yes/No) are read before placeholders count as absent
        match self.raw(name)?.trim().to_ascii_lowercase().as_str() {
            "true" | "1" | "%%1842" | "yes" => Some(true),
            "false" | "0" | "%%1843" | "no" => Some(false),
            _ => None,
        }
    }

    /// An account from four fields (name, domain, SID, logon id); `None` when all are absent.
    fn user(&mut self, name: &str, domain: &str, sid: &str, logon_id: &str) -> Option<User> {
        let user = User {
            name: self.string(name),
            domain: self.string(domain),
            uid: self.string(sid).filter(|s| s != "S-1-0-0"),
            logon_id: self.number(logon_id),
        };
        // the anonymous subject (`-`, `S-1-0-0`, `0x0`) is no user at all
        if user.name.is_none() && user.domain.is_none() && user.uid.is_none() {
            return None;
        }
        Some(user)
    }

    /// An account written `DOMAIN\name` (Sysmon `User`).
    fn qualified_user(&mut self, field: &str) -> Option<User> {
        self.get(field)
            .and_then(|text| some_user(split_account(text)))
    }

    /// Unused fields that carry something, in source order (known `%%` codes in words).
    fn rest(&self) -> Vec<(String, String)> {
        self.data
            .iter()
            .zip(&self.used)
            .filter(|(_, used)| !**used)
            .filter_map(|((k, v), _)| {
                let v = v.trim();
                if let Some(word) = message_code(v) {
                    return Some((k.clone(), word.to_owned()));
                }
                meaningful(Some(v)).map(|v| (k.clone(), v.to_owned()))
            })
            .collect()
    }
}

/// A value that carries something: not empty, `-` or an unresolved message-table reference
/// (`%%` and digits only, such as `%%1833`). Sysmon doubles a literal `%`, so `%%COMSPEC%% /c …`
/// is data and is kept.
fn meaningful(value: Option<&str>) -> Option<&str> {
    let v = value?.trim();
    let message_ref = v
        .strip_prefix("%%")
        .is_some_and(|rest| !rest.is_empty() && rest.bytes().all(|b| b.is_ascii_digit()));
    if v.is_empty() || v == "-" || message_ref {
        None
    } else {
        Some(v)
    }
}

/// The common Security-log message-table references, in words.
fn message_code(value: &str) -> Option<&'static str> {
    Some(match value {
        "%%1832" => "Identification",
        "%%1833" => "Impersonation",
        "%%1840" => "Delegation",
        "%%1842" => "Yes",
        "%%1843" => "No",
        "%%1936" => "TokenElevationTypeDefault (1)",
        "%%1937" => "TokenElevationTypeFull (2)",
        "%%1938" => "TokenElevationTypeLimited (3)",
        "%%14592" => "Inbound",
        "%%14593" => "Outbound",
        _ => return None,
    })
}

fn some_user(user: User) -> Option<User> {
    (user != User::default()).then_some(user)
}

/// `0x1a4` (hex) or `420` (decimal).
pub(crate) fn parse_number(text: &str) -> Option<u64> {
    let t = text.trim();
    match t.strip_prefix("0x").or_else(|| t.strip_prefix("0X")) {
        Some(hex) => u64::from_str_radix(hex, 16).ok(),
        None => t.parse().ok(),
    }
}

/// An IP as Windows writes it: `::ffff:10.0.0.5` is IPv4, a zone id is dropped, `-` is absent.
pub(crate) fn parse_ip(text: &str) -> Option<IpAddr> {
    let t = text.trim().trim_start_matches('[').trim_end_matches(']');
    let t = t.split('%').next().unwrap_or(t);
    match t.parse::<IpAddr>().ok()? {
        IpAddr::V6(v6) => Some(match v6.to_ipv4_mapped() {
            Some(v4) => IpAddr::V4(v4),
            None => IpAddr::V6(v6),
        }),
        v4 => Some(v4),
    }
}

pub(crate) use crate::event::parse_guid;

/// `DOMAIN\name` or `name@domain` into a user.
pub(crate) fn split_account(text: &str) -> User {
    let (domain, name) = match text.split_once('\\') {
        Some((d, n)) => (Some(d), n),
        None => match text.split_once('@') {
            Some((n, d)) => (Some(d), n),
            None => (None, text),
        },
    };
    User {
        name: meaningful(Some(name)).map(str::to_owned),
        domain: meaningful(domain).map(str::to_owned),
        ..User::default()
    }
}

/// `WORKSTATION6.theshire.local` into host name and domain.
pub(crate) fn split_computer(computer: Option<&str>) -> (Option<String>, Option<String>) {
    match meaningful(computer) {
        None => (None, None),
        Some(c) => match c.split_once('.') {
            Some((host, domain)) if !host.is_empty() && !domain.is_empty() => {
                (Some(host.to_owned()), Some(domain.to_owned()))
            }
            _ => (Some(c.to_owned()), None),
        },
    }
}

fn auth_protocol(package: &str) -> AuthProtocol {
    let p = package.to_ascii_lowercase();
    if p.contains("ntlm") || p.starts_with("microsoft_authentication_package") {
        AuthProtocol::Ntlm
    } else if p.contains("kerberos") {
        AuthProtocol::Kerberos
    } else if p.contains("negotiate") {
        AuthProtocol::Negotiate
    } else {
        AuthProtocol::Other
    }
}

/// Sysmon `IntegrityLevel` words or a 4688 `MandatoryLabel` SID.
fn integrity(text: &str) -> Integrity {
    match text.to_ascii_lowercase().as_str() {
        "system" | "s-1-16-16384" | "s-1-16-20480" | "s-1-16-28672" => Integrity::System,
        "high" | "s-1-16-12288" => Integrity::High,
        "medium" | "mediumplus" | "s-1-16-8192" | "s-1-16-8448" => Integrity::Medium,
        "low" | "s-1-16-4096" => Integrity::Low,
        "untrusted" | "s-1-16-0" => Integrity::Untrusted,
        _ => Integrity::Unknown,
    }
}

/// 4697 `ServiceStartType` numbers in the words 7045 uses.
fn start_type_word(text: &str) -> String {
    match parse_number(text) {
        Some(0) => "boot start".to_owned(),
        Some(1) => "system start".to_owned(),
        Some(2) => "auto start".to_owned(),
        Some(3) => "demand start".to_owned(),
        Some(4) => "disabled".to_owned(),
        _ => text.to_owned(),
    }
}

fn endpoint(ip: Option<IpAddr>, port: Option<u16>, hostname: Option<String>) -> Option<Endpoint> {
    let ep = Endpoint { ip, port, hostname };
    (ep != Endpoint::default()).then_some(ep)
}

fn process_ref(pid: Option<u32>, guid: Option<u128>, image: Option<String>) -> Option<Process> {
    let p = Process {
        pid,
        guid,
        image,
        ..Process::default()
    };
    (p != Process::default()).then_some(p)
}

fn sysmon_time(text: Option<&str>) -> Option<i64> {
    // Sysmon writes `2020-09-20 16:16:37.523`, UTC without an offset.
    let t = text?.trim();
    format!("{}Z", t.replacen(' ', "T", 1))
        .parse::<jiff::Timestamp>()
        .ok()
        .map(|ts| ts.as_millisecond())
}

fn system_user(rec: &WinRecord) -> Option<User> {
    some_user(User {
        name: meaningful(rec.user_name.as_deref()).map(str::to_owned),
        domain: meaningful(rec.user_domain.as_deref()).map(str::to_owned),
        uid: meaningful(rec.user_sid.as_deref()).map(str::to_owned),
        logon_id: None,
    })
}

/// What the families' tests share: one record of a family, mapped.
#[cfg(test)]
mod testing {
    use super::*;

    pub(super) const SECURITY: (&str, &str) = ("Microsoft-Windows-Security-Auditing", "Security");

    pub(super) const SYSMON: (&str, &str) = (
        "Microsoft-Windows-Sysmon",
        "Microsoft-Windows-Sysmon/Operational",
    );

    pub(super) const SCM: (&str, &str) = ("Service Control Manager", "System");

    pub(super) const PS: (&str, &str) = (
        "Microsoft-Windows-PowerShell",
        "Microsoft-Windows-PowerShell/Operational",
    );

    pub(super) fn rec(family: (&str, &str), id: u32, data: &[(&str, &str)]) -> WinRecord {
        WinRecord {
            provider: Some(family.0.to_owned()),
            channel: Some(family.1.to_owned()),
            event_id: Some(id),
            record_id: Some(42),
            time: Some(1_600_618_616_000),
            computer: Some("WORKSTATION6.theshire.local".to_owned()),
            data: data
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
            ..WinRecord::default()
        }
    }

    pub(super) fn map(r: &WinRecord) -> Event {
        to_event(r, "test")
            .expect("a well-formed record maps")
            .expect("every record gives an event")
    }

    pub(super) fn attr<'a>(ev: &'a Event, key: &str) -> Option<&'a str> {
        ev.attributes
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.as_str())
    }

    pub(super) fn ip(text: &str) -> Option<IpAddr> {
        text.parse().ok()
    }
}

#[cfg(test)]
mod tests {
    use super::testing::*;
    use super::*;

    #[test]
    fn doubled_percent_signs_are_data_and_message_references_are_not() {
        assert_eq!(meaningful(Some("%%1833")), None);
        assert_eq!(meaningful(Some(" - ")), None);
        assert_eq!(
            meaningful(Some("%%COMSPEC%% /c echo x")),
            Some("%%COMSPEC%% /c echo x")
        );
        assert_eq!(
            meaningful(Some(r"%%SystemRoot%%\PSEXESVC.exe")),
            Some(r"%%SystemRoot%%\PSEXESVC.exe")
        );
        assert_eq!(meaningful(Some("%%")), Some("%%"));
    }

    #[test]
    fn header_fields_come_from_the_system_part() {
        let ev = map(&rec(SECURITY, 4624, &[]));
        assert_eq!(ev.time, 1_600_618_616_000);
        assert_eq!(ev.source.format, "test");
        assert_eq!(ev.source.code, Some(4624));
        assert_eq!(ev.source.channel.as_deref(), Some("Security"));
        assert_eq!(
            ev.source.provider.as_deref(),
            Some("Microsoft-Windows-Security-Auditing")
        );
        assert_eq!(ev.source.record_id, Some(42));
        assert_eq!(ev.device.hostname.as_deref(), Some("WORKSTATION6"));
        assert_eq!(ev.device.domain.as_deref(), Some("theshire.local"));
    }

    #[test]
    fn a_record_without_id_or_time_is_an_error_naming_the_field() {
        let mut r = rec(SECURITY, 4624, &[]);
        r.event_id = None;
        assert!(to_event(&r, "t").expect_err("no id").contains("EventID"));
        let mut r = rec(SECURITY, 4624, &[]);
        r.time = None;
        assert!(
            to_event(&r, "t")
                .expect_err("no time")
                .contains("TimeCreated")
        );
    }

    #[test]
    fn an_unknown_event_id_is_other_with_all_data_as_attributes() {
        let ev = map(&rec(SECURITY, 4799, &[("A", "1"), ("B", "-"), ("C", "x")]));
        assert_eq!(ev.class, EventClass::Other);
        assert_eq!(
            ev.attributes,
            vec![("A".into(), "1".into()), ("C".into(), "x".into())]
        );
        // same id, other family: Hyper-V's System 10 is not Sysmon's process access
        let ev = map(&rec(
            ("Microsoft-Windows-Hyper-V-Netvsc", "System"),
            10,
            &[],
        ));
        assert_eq!(ev.class, EventClass::Other);
    }

    #[test]
    fn windows_values_parse() {
        assert_eq!(parse_ip("::ffff:10.0.0.5"), ip("10.0.0.5"));
        assert_eq!(parse_ip("fe80::1%12"), ip("fe80::1"));
        assert_eq!(parse_ip("-"), None);
        assert_eq!(parse_number("0x1a4"), Some(420));
        assert_eq!(parse_number("420"), Some(420));
        assert_eq!(split_computer(Some("DC01")), (Some("DC01".into()), None));
        let u = split_account("NT AUTHORITY\\SYSTEM");
        assert_eq!(
            (u.domain.as_deref(), u.name.as_deref()),
            (Some("NT AUTHORITY"), Some("SYSTEM"))
        );
    }
}
