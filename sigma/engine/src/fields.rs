//! The field map: a normalized event read with Sigma's Windows field names.
//!
//! Yagura's Windows adapters move each source field to a typed place (`Image` of Sysmon 1 to
//! `process.image`, `TargetUserName` of 4624 to the authentication's `user.name`…) and keep
//! the data fields they do not map as attributes under their source names. This view undoes
//! that: a Sigma field name is looked up in the typed place of the event's class first
//! ([`typed`]), then among the attributes. Names are matched as written (Sigma's field names
//! are case-sensitive in SigmaHQ's rules); attributes without ASCII case. docs/sigma.md has the
//! table; the tests below check each class with the values an adapter writes.

use std::borrow::Cow;
use std::cell::OnceCell;
use std::collections::HashMap;
use std::net::IpAddr;

use yagura_sdk::{
    AuthProtocol, Body, Direction, EventRef, Integrity, JobKind, Outcome, Transport, User,
};
use yagura_sigma::{Fields, fold};

/// An event of a batch as Sigma rules read it.
#[derive(Clone, Copy)]
pub struct SigmaEvent<'a> {
    ev: EventRef<'a>,
}

impl<'a> SigmaEvent<'a> {
    pub fn new(ev: EventRef<'a>) -> Self {
        SigmaEvent { ev }
    }

    /// Sysmon's `EventType` of a registry event (12, 13, 14), from the event code, the
    /// activity and whether the adapter split off a value name.
    pub fn event_type(&self) -> Option<&'static str> {
        let r = self.ev.registry()?;
        registry_event_type(
            self.ev.code().unwrap_or(0),
            self.ev.activity,
            r.value_name.is_some(),
        )
    }
}

type Value<'a> = Option<Cow<'a, str>>;

fn text(s: Option<&str>) -> Value<'_> {
    s.filter(|s| !s.is_empty()).map(Cow::Borrowed)
}

fn number(n: impl Into<u64>) -> Value<'static> {
    let n = n.into();
    (n != 0).then(|| Cow::Owned(n.to_string()))
}

fn hex(n: impl Into<u64>) -> Value<'static> {
    let n = n.into();
    (n != 0).then(|| Cow::Owned(format!("{n:#x}")))
}

fn ip(ip: Option<IpAddr>) -> Value<'static> {
    ip.map(|ip| Cow::Owned(ip.to_string()))
}

impl<'a> SigmaEvent<'a> {
    fn text(&self, span: impl Into<Option<yagura_sdk::Text>>) -> Value<'a> {
        text(self.ev.text(span))
    }

    /// `DOMAIN\name`, as Sysmon writes `User`.
    fn qualified(&self, user: Option<&User>) -> Value<'a> {
        let user = user?;
        let name = self.ev.text(user.name).filter(|n| !n.is_empty())?;
        match self.ev.text(user.domain).filter(|d| !d.is_empty()) {
            Some(domain) => Some(Cow::Owned(format!("{domain}\\{name}"))),
            None => Some(Cow::Borrowed(name)),
        }
    }

    /// The `Subject*` and `Target*` fields of an account (`part` is the rest of the name);
    /// `None` for a part an account has no place for.
    fn account(&self, user: Option<&User>, part: &str) -> Option<Value<'a>> {
        if !matches!(part, "UserName" | "DomainName" | "UserSid" | "LogonId") {
            return None;
        }
        let Some(user) = user else {
            return Some(None);
        };
        Some(match part {
            "UserName" => self.text(user.name),
            "DomainName" => self.text(user.domain),
            "UserSid" => self.text(user.sid),
            _ => hex(user.logon_id),
        })
    }

    /// The fields every class has: the header and the source.
    fn header(&self, name: &str) -> Option<Value<'a>> {
        let ev = &self.ev;
        Some(match name {
            "EventID" => ev.code().and_then(number),
            "Channel" => text(ev.channel()),
            "Provider_Name" => text(ev.attribute("source.provider")),
            "Computer" => text(ev.hostname()),
            "EventRecordID" => text(ev.attribute("source.record_id")),
            _ => return None,
        })
    }

    /// The field in the typed place of the event's class; `None` when the class keeps no
    /// such field (the attributes are tried next).
    fn typed(&self, name: &str) -> Option<Value<'a>> {
        if let Some(v) = self.header(name) {
            return Some(v);
        }
        let ev = &self.ev;
        let code = ev.code().unwrap_or(0);
        Some(match &ev.body {
            Body::Process(p) => {
                let pr = &p.process;
                match name {
                    "Image" | "NewProcessName" | "SourceImage" => self.text(pr.image),
                    "CommandLine" => self.text(pr.cmd_line),
                    "ParentImage" | "ParentProcessName" => self.text(pr.parent_image),
                    "ParentCommandLine" => self.text(pr.parent_cmd_line),
                    // Sysmon 7's module, 8's and 10's target process
                    "ImageLoaded" | "TargetImage" => self.text(p.target),
                    "ProcessId" | "SourceProcessId" => number(pr.pid),
                    "NewProcessId" => hex(pr.pid),
                    "ParentProcessId" => number(pr.parent_pid),
                    "ProcessGuid" | "SourceProcessGuid" => {
                        pr.guid.map(|g| Cow::Owned(g.to_string()))
                    }
                    "ParentProcessGuid" => pr.parent_guid.map(|g| Cow::Owned(g.to_string())),
                    // Sysmon 7: the module's, as an attribute; else the process's own
                    "Hashes" if code == 7 => text(ev.attribute("file.hashes")),
                    "Hashes" => self.text(pr.hashes),
                    "IntegrityLevel" => integrity(pr.integrity).map(|(word, _)| word.into()),
                    "MandatoryLabel" => integrity(pr.integrity).map(|(_, sid)| sid.into()),
                    "User" | "SourceUser" => self.qualified(p.user.as_ref()),
                    "LogonId" => hex(p.user.as_ref().map_or(0, |u| u.logon_id)),
                    "CurrentDirectory" => text(ev.attribute("process.cwd")),
                    _ => {
                        let part = name.strip_prefix("Subject")?;
                        return self.account(p.user.as_ref(), part);
                    }
                }
            }
            Body::Network(n) => match name {
                "SourceIp" | "SourceAddress" => ip(ev.src_ip()),
                "SourcePort" => number(n.src.port),
                "SourceHostname" => self.text(n.src.hostname),
                "DestinationIp" | "DestAddress" => ip(ev.dst_ip()),
                "DestinationPort" | "DestPort" => number(n.dst.port),
                "DestinationHostname" => self.text(n.dst.hostname),
                "Protocol" if code == 3 => match n.transport {
                    Transport::Tcp => Some("tcp".into()),
                    Transport::Udp => Some("udp".into()),
                    Transport::Icmp => Some("icmp".into()),
                    Transport::Unknown | Transport::Other => number(n.protocol_num),
                },
                "Protocol" => number(n.protocol_num),
                "Initiated" => match n.direction {
                    Direction::Outbound => Some("true".into()),
                    Direction::Inbound => Some("false".into()),
                    _ => None,
                },
                "Image" | "Application" => self.text(n.process.as_ref().and_then(|p| p.image)),
                "ProcessId" | "ProcessID" => number(n.process.as_ref().map_or(0, |p| p.pid)),
                "User" => self.qualified(n.user.as_ref()),
                _ => return None,
            },
            Body::File(f) => match name {
                "TargetFilename" | "PipeName" | "ObjectName" => self.text(f.path),
                "Hashes" | "Hash" => self.text(f.hashes),
                "ShareName" => self.text(f.share_name),
                "RelativeTargetName" => self.text(f.relative_target),
                "AccessMask" => hex(f.access_mask),
                "IpAddress" => ip(ev.src_ip()),
                "IpPort" => number(f.src.port),
                "Image" => self.text(f.process.as_ref().and_then(|p| p.image)),
                "ProcessId" => number(f.process.as_ref().map_or(0, |p| p.pid)),
                "User" => self.qualified(f.user.as_ref()),
                _ => {
                    let part = name.strip_prefix("Subject")?;
                    return self.account(f.user.as_ref(), part);
                }
            },
            Body::Registry(r) => match name {
                "TargetObject" => {
                    let key = self.ev.text(r.key)?;
                    match self.ev.text(r.value_name) {
                        Some(value) => Some(Cow::Owned(format!("{key}\\{value}"))),
                        None => text(Some(key)),
                    }
                }
                "Details" if code == 13 => self.text(r.value_data),
                "NewName" if code == 14 => self.text(r.value_data),
                "EventType" => registry_event_type(code, ev.activity, r.value_name.is_some())
                    .map(Cow::Borrowed),
                "Image" => self.text(r.process.as_ref().and_then(|p| p.image)),
                "ProcessId" => number(r.process.as_ref().map_or(0, |p| p.pid)),
                "User" => self.qualified(r.user.as_ref()),
                _ => return None,
            },
            Body::Dns(q) | Body::Http(q) => match name {
                "QueryName" => self.text(q.name),
                "QueryResults" => self.text(q.detail),
                "QueryStatus" if code == 22 && ev.outcome == Outcome::Success => Some("0".into()),
                "Image" => self.text(q.process.as_ref().and_then(|p| p.image)),
                "ProcessId" => number(q.process.as_ref().map_or(0, |p| p.pid)),
                "User" => self.qualified(q.user.as_ref()),
                _ => return None,
            },
            Body::Job(j) => match name {
                "ServiceName" if j.kind == JobKind::Service => self.text(j.name),
                "TaskName" if j.kind == JobKind::ScheduledTask => self.text(j.name),
                "ImagePath" | "ServiceFileName" => self.text(j.command),
                "StartType" | "ServiceStartType" => self.text(j.start_type),
                "AccountName" | "ServiceAccount" => self.text(j.account),
                _ => {
                    let part = name.strip_prefix("Subject")?;
                    return self.account(j.user.as_ref(), part);
                }
            },
            Body::Script(s) => match name {
                "ScriptBlockText" | "Payload" => self.text(s.text),
                "ScriptBlockId" => self.text(s.block_id),
                "MessageNumber" => number(s.part),
                "MessageTotal" => number(s.parts),
                "HostApplication" => self.text(s.host_application),
                _ => return None,
            },
            Body::Authentication(a) => match name {
                "LogonType" => number(a.logon_type),
                "IpAddress" => ip(ev.src_ip()),
                "IpPort" => number(a.src.port),
                "WorkstationName" | "Workstation" => self.text(a.src.hostname),
                "AuthenticationPackageName" => match a.protocol {
                    AuthProtocol::Ntlm => Some("NTLM".into()),
                    AuthProtocol::Kerberos => Some("Kerberos".into()),
                    AuthProtocol::Negotiate => Some("Negotiate".into()),
                    AuthProtocol::Unknown | AuthProtocol::Other => None,
                },
                "KeyLength" => a.key_length.map(|n| Cow::Owned(n.to_string())),
                "LogonProcessName" => self.text(a.logon_process),
                // Kerberos and NTLM write `0x0` for success; 4625 keeps one code, SubStatus
                // where it is not 0 (docs/sigma.md)
                "Status"
                    if a.status_code == 0
                        && ev.outcome == Outcome::Success
                        && matches!(code, 4768 | 4769 | 4771 | 4776) =>
                {
                    Some("0x0".into())
                }
                "Status" | "SubStatus" => hex(a.status_code),
                "ServiceName" | "TargetServerName" => self.text(a.service),
                "TicketOptions" => hex(a.ticket_options),
                "TicketEncryptionType" => hex(a.ticket_encryption),
                "ProcessName" => text(ev.attribute("actor.process.image")),
                _ => {
                    if let Some(part) = name.strip_prefix("Target") {
                        return self.account(Some(&a.user), part);
                    }
                    let part = name.strip_prefix("Subject")?;
                    return self.account(a.subject.as_ref(), part);
                }
            },
            Body::Other => return None,
        })
    }
}

/// Sysmon's word and the token's mandatory label SID for an integrity level.
fn integrity(level: Integrity) -> Option<(&'static str, &'static str)> {
    Some(match level {
        Integrity::Unknown => return None,
        Integrity::Untrusted => ("Untrusted", "S-1-16-0"),
        Integrity::Low => ("Low", "S-1-16-4096"),
        Integrity::Medium => ("Medium", "S-1-16-8192"),
        Integrity::High => ("High", "S-1-16-12288"),
        Integrity::System => ("System", "S-1-16-16384"),
    })
}

/// Sysmon's `EventType` of registry events 12, 13 and 14.
fn registry_event_type(
    code: u32,
    activity: yagura_sdk::Activity,
    has_value: bool,
) -> Option<&'static str> {
    use yagura_sdk::Activity;
    Some(match (code, activity, has_value) {
        (12, Activity::Create, false) => "CreateKey",
        (12, Activity::Create, true) => "CreateValue",
        (12, Activity::Delete, false) => "DeleteKey",
        (12, Activity::Delete, true) => "DeleteValue",
        (13, _, _) => "SetValue",
        (14, _, _) => "RenameKey",
        _ => return None,
    })
}

/// The Sigma field names [`SigmaEvent::typed`] reads per class, for keyword search.
const KEYWORD_FIELDS: &[&str] = &[
    "Image",
    "CommandLine",
    "ParentImage",
    "ParentCommandLine",
    "ImageLoaded",
    "TargetImage",
    "Hashes",
    "User",
    "SourceIp",
    "SourceHostname",
    "DestinationIp",
    "DestinationHostname",
    "TargetFilename",
    "ShareName",
    "RelativeTargetName",
    "IpAddress",
    "WorkstationName",
    "TargetObject",
    "Details",
    "NewName",
    "QueryName",
    "QueryResults",
    "ServiceName",
    "TaskName",
    "ImagePath",
    "AccountName",
    "ScriptBlockText",
    "HostApplication",
    "TargetUserName",
    "TargetDomainName",
    "SubjectUserName",
    "SubjectDomainName",
    "LogonProcessName",
];

impl<'a> SigmaEvent<'a> {
    /// The value of the Sigma field `name`: in its typed place, else the attribute.
    pub fn value(&self, name: &str) -> Option<Cow<'a, str>> {
        match self.typed(name) {
            Some(value) => value,
            None => text(self.ev.attribute(name)),
        }
    }
}

impl Fields for SigmaEvent<'_> {
    fn field(&self, name: &str) -> Option<Cow<'_, str>> {
        self.value(name)
    }

    fn any_value(&self, found: &mut dyn FnMut(&str) -> bool) -> bool {
        let mut seen = false;
        for name in KEYWORD_FIELDS {
            if let Some(Some(v)) = self.typed(name)
                && found(&v)
            {
                seen = true;
                break;
            }
        }
        seen || self
            .ev
            .attributes()
            .any(|(key, value)| !key.contains('.') && found(value))
    }
}

/// An event whose field values are read once each, as they are first asked for, and folded
/// once: thousands of rules read the same few fields (`Image`, `CommandLine`) of an event.
/// `names` numbers the fields the loaded rules read; another name is read afresh each time.
pub struct Cached<'a, 'c> {
    event: SigmaEvent<'a>,
    names: &'c HashMap<String, usize>,
    values: Vec<OnceCell<Option<Cow<'a, str>>>>,
    folded: Vec<OnceCell<Option<String>>>,
    /// every value keywords search, with its folded form
    keywords: OnceCell<Vec<(String, String)>>,
}

impl<'a, 'c> Cached<'a, 'c> {
    pub fn new(event: SigmaEvent<'a>, names: &'c HashMap<String, usize>) -> Self {
        Cached {
            event,
            names,
            values: (0..names.len()).map(|_| OnceCell::new()).collect(),
            folded: (0..names.len()).map(|_| OnceCell::new()).collect(),
            keywords: OnceCell::new(),
        }
    }
}

impl Fields for Cached<'_, '_> {
    fn field(&self, name: &str) -> Option<Cow<'_, str>> {
        match self.names.get(name) {
            Some(&i) => self.values[i]
                .get_or_init(|| self.event.value(name))
                .as_deref()
                .map(Cow::Borrowed),
            None => self.event.value(name),
        }
    }

    fn folded(&self, name: &str) -> Option<Cow<'_, str>> {
        match self.names.get(name) {
            Some(&i) => self.folded[i]
                .get_or_init(|| self.field(name).map(|v| fold(&v)))
                .as_deref()
                .map(Cow::Borrowed),
            None => self.event.value(name).map(|v| Cow::Owned(fold(&v))),
        }
    }

    fn any_value(&self, found: &mut dyn FnMut(&str) -> bool) -> bool {
        self.event.any_value(found)
    }

    fn any_folded(&self, found: &mut dyn FnMut(&str, &str) -> bool) -> bool {
        let values = self.keywords.get_or_init(|| {
            let mut values = Vec::new();
            self.event.any_value(&mut |v| {
                values.push((v.to_owned(), fold(v)));
                false
            });
            values
        });
        values.iter().any(|(value, lower)| found(value, lower))
    }
}

#[cfg(test)]
mod tests {
    //! One test per class: each row of the map, with the value an adapter would have written.

    use yagura_sdk::testing::BatchBuilder;
    use yagura_sdk::{Activity, EventClass, Guid, Outcome};

    use super::*;

    fn get(batch: &yagura_sdk::Batch, name: &str) -> Option<String> {
        let ev = SigmaEvent::new(batch.get(0).expect("one event"));
        ev.field(name).map(Cow::into_owned)
    }

    #[test]
    fn process_creation_reads_sysmon_and_security_names() {
        let mut b = BatchBuilder::new();
        b.event(EventClass::Process, 1, 1_000)
            .activity(Activity::Create)
            .code(1)
            .hostname("WS01")
            .user("CORP", "alice")
            .process_image(r"C:\Windows\System32\cmd.exe")
            .process_pid(4242)
            .process_cmd_line("cmd /c whoami")
            .process_guid(Guid {
                hi: 0x5AA1_3A44_0C90_68FC,
                lo: 0xBF1D_0000_0000_4002,
            })
            .parent_image(r"C:\Program Files\Microsoft Office\WINWORD.EXE")
            .parent_pid(100)
            .attribute("source.channel", "Microsoft-Windows-Sysmon/Operational")
            .attribute("source.provider", "Microsoft-Windows-Sysmon")
            .attribute("process.cwd", r"C:\Users\alice\")
            .attribute("OriginalFileName", "Cmd.Exe")
            .push();
        let batch = b.build();
        let cases = [
            ("Image", Some(r"C:\Windows\System32\cmd.exe")),
            ("NewProcessName", Some(r"C:\Windows\System32\cmd.exe")),
            ("CommandLine", Some("cmd /c whoami")),
            (
                "ParentImage",
                Some(r"C:\Program Files\Microsoft Office\WINWORD.EXE"),
            ),
            ("ProcessId", Some("4242")),
            ("NewProcessId", Some("0x1092")),
            ("ParentProcessId", Some("100")),
            (
                "ProcessGuid",
                Some("{5AA13A44-0C90-68FC-BF1D-000000004002}"),
            ),
            ("User", Some(r"CORP\alice")),
            ("SubjectUserName", Some("alice")),
            ("SubjectDomainName", Some("CORP")),
            ("CurrentDirectory", Some(r"C:\Users\alice\")),
            ("OriginalFileName", Some("Cmd.Exe")),
            ("EventID", Some("1")),
            ("Channel", Some("Microsoft-Windows-Sysmon/Operational")),
            ("Provider_Name", Some("Microsoft-Windows-Sysmon")),
            ("Computer", Some("WS01")),
            ("ParentCommandLine", None),
            ("IntegrityLevel", None),
            ("Description", None),
        ];
        for (name, want) in cases {
            assert_eq!(get(&batch, name).as_deref(), want, "{name}");
        }
    }

    #[test]
    fn image_loads_read_the_module_and_its_hashes() {
        let mut b = BatchBuilder::new();
        b.event(EventClass::Process, 1, 1_000)
            .activity(Activity::Open)
            .code(7)
            .process_image(r"C:\Windows\System32\rundll32.exe")
            .process_target(r"C:\Windows\System32\comsvcs.dll")
            .attribute("file.hashes", "SHA256=AB,IMPHASH=CD")
            .attribute("Signed", "true")
            .push();
        let batch = b.build();
        check(
            &batch,
            &[
                ("Image", Some(r"C:\Windows\System32\rundll32.exe")),
                ("ImageLoaded", Some(r"C:\Windows\System32\comsvcs.dll")),
                ("Hashes", Some("SHA256=AB,IMPHASH=CD")),
                ("Signed", Some("true")),
            ],
        );
    }

    #[test]
    fn kerberos_success_reads_status_zero() {
        let mut b = BatchBuilder::new();
        b.event(EventClass::Authentication, 1, 1_000)
            .activity(Activity::Logon)
            .outcome(Outcome::Success)
            .code(4769)
            .user("CORP", "alice")
            .push();
        b.event(EventClass::Authentication, 2, 1_000)
            .outcome(Outcome::Success)
            .code(4624)
            .user("CORP", "alice")
            .push();
        let batch = b.build();
        let status = |i: usize| {
            SigmaEvent::new(batch.get(i).expect("event"))
                .field("Status")
                .map(Cow::into_owned)
        };
        assert_eq!(status(0).as_deref(), Some("0x0"));
        assert_eq!(status(1), None, "4624 has no Status");
    }

    #[test]
    fn keywords_search_typed_values_and_source_attributes_only() {
        let mut b = BatchBuilder::new();
        b.event(EventClass::Process, 1, 1_000)
            .code(1)
            .process_cmd_line("mimikatz sekurlsa::logonpasswords")
            .attribute("source.format", "evtx")
            .attribute("Company", "gentilkiwi")
            .push();
        let batch = b.build();
        let ev = SigmaEvent::new(batch.get(0).expect("one event"));
        let has = |needle: &str| ev.any_value(&mut |v| v.contains(needle));
        assert!(has("sekurlsa"));
        assert!(has("gentilkiwi"));
        assert!(
            !has("evtx"),
            "the host's own attributes are not source values"
        );
        assert!(!has("absent"));
    }

    /// Checks each `(name, value)` of `cases` on the batch's one event.
    fn check(batch: &yagura_sdk::Batch, cases: &[(&str, Option<&str>)]) {
        for (name, want) in cases {
            assert_eq!(get(batch, name).as_deref(), *want, "{name}");
        }
    }

    #[test]
    fn registry_rebuilds_target_object_and_event_type() {
        let mut b = BatchBuilder::new();
        b.event(EventClass::Registry, 1, 1_000)
            .activity(Activity::Modify)
            .code(13)
            .user("CORP", "alice")
            .with(|e, text| {
                if let Body::Registry(r) = &mut e.body {
                    r.key = Some(text(
                        r"HKU\S-1-5-21-1\Software\Microsoft\Windows\CurrentVersion\Run",
                    ));
                    r.value_name = Some(text("updater"));
                    r.value_data = Some(text(r"C:\Users\a\x.exe"));
                    r.process = Some(yagura_sdk::ActorProcess {
                        pid: 7,
                        guid: None,
                        image: Some(text(r"C:\Windows\regedit.exe")),
                    });
                }
            })
            .push();
        let batch = b.build();
        check(
            &batch,
            &[
                (
                    "TargetObject",
                    Some(r"HKU\S-1-5-21-1\Software\Microsoft\Windows\CurrentVersion\Run\updater"),
                ),
                ("Details", Some(r"C:\Users\a\x.exe")),
                ("NewName", None),
                ("EventType", Some("SetValue")),
                ("Image", Some(r"C:\Windows\regedit.exe")),
                ("ProcessId", Some("7")),
                ("User", Some(r"CORP\alice")),
            ],
        );
        assert_eq!(
            registry_event_type(12, Activity::Create, false),
            Some("CreateKey")
        );
        assert_eq!(
            registry_event_type(12, Activity::Create, true),
            Some("CreateValue")
        );
        assert_eq!(
            registry_event_type(12, Activity::Delete, false),
            Some("DeleteKey")
        );
        assert_eq!(
            registry_event_type(12, Activity::Delete, true),
            Some("DeleteValue")
        );
        assert_eq!(
            registry_event_type(14, Activity::Rename, false),
            Some("RenameKey")
        );
        assert_eq!(registry_event_type(12, Activity::Unknown, false), None);
    }

    #[test]
    fn authentication_reads_target_and_subject_accounts() {
        let mut b = BatchBuilder::new();
        b.event(EventClass::Authentication, 1, 1_000)
            .activity(Activity::Logon)
            .outcome(Outcome::Failure)
            .code(4625)
            .user("CORP", "administrator")
            .subject("CORP", "DC01$")
            .src("10.0.0.66".parse().expect("ip"), Some(50056))
            .src_hostname("WS07")
            .attribute("actor.process.image", r"C:\Windows\System32\lsass.exe")
            .attribute("LmPackageName", "NTLM V2")
            .with(|e, text| {
                if let Body::Authentication(a) = &mut e.body {
                    a.logon_type = 3;
                    a.protocol = AuthProtocol::Ntlm;
                    a.key_length = Some(0);
                    a.logon_process = Some(text("NtLmSsp"));
                    a.status_code = 0xC000_006A;
                    a.user.logon_id = 0x3e7;
                    a.ticket_options = 0x4081_0010;
                    a.ticket_encryption = 0x17;
                }
            })
            .push();
        let batch = b.build();
        check(
            &batch,
            &[
                ("TargetUserName", Some("administrator")),
                ("TargetDomainName", Some("CORP")),
                ("TargetLogonId", Some("0x3e7")),
                ("TargetUserSid", None),
                ("SubjectUserName", Some("DC01$")),
                ("SubjectDomainName", Some("CORP")),
                ("IpAddress", Some("10.0.0.66")),
                ("IpPort", Some("50056")),
                ("WorkstationName", Some("WS07")),
                ("Workstation", Some("WS07")),
                ("LogonType", Some("3")),
                ("AuthenticationPackageName", Some("NTLM")),
                ("KeyLength", Some("0")),
                ("LogonProcessName", Some("NtLmSsp")),
                ("Status", Some("0xc000006a")),
                ("TicketOptions", Some("0x40810010")),
                ("TicketEncryptionType", Some("0x17")),
                ("ProcessName", Some(r"C:\Windows\System32\lsass.exe")),
                ("LmPackageName", Some("NTLM V2")),
                ("ServiceName", None),
            ],
        );
    }

    #[test]
    fn network_reads_sysmon_and_filtering_platform_names() {
        let mut b = BatchBuilder::new();
        b.event(EventClass::Network, 1, 1_000)
            .code(3)
            .user("CORP", "alice")
            .src("10.0.0.5".parse().expect("ip"), Some(49152))
            .dst("203.0.113.7".parse().expect("ip"), Some(443))
            .dst_hostname("evil.example")
            .with(|e, text| {
                if let Body::Network(n) = &mut e.body {
                    n.transport = yagura_sdk::Transport::Tcp;
                    n.protocol_num = 6;
                    n.direction = Direction::Outbound;
                    n.process = Some(yagura_sdk::ActorProcess {
                        pid: 4242,
                        guid: None,
                        image: Some(text(r"C:\Windows\System32\rundll32.exe")),
                    });
                }
            })
            .push();
        let batch = b.build();
        check(
            &batch,
            &[
                ("SourceIp", Some("10.0.0.5")),
                ("SourceAddress", Some("10.0.0.5")),
                ("SourcePort", Some("49152")),
                ("DestinationIp", Some("203.0.113.7")),
                ("DestAddress", Some("203.0.113.7")),
                ("DestinationPort", Some("443")),
                ("DestPort", Some("443")),
                ("DestinationHostname", Some("evil.example")),
                ("SourceHostname", None),
                ("Protocol", Some("tcp")),
                ("Initiated", Some("true")),
                ("Image", Some(r"C:\Windows\System32\rundll32.exe")),
                ("Application", Some(r"C:\Windows\System32\rundll32.exe")),
                ("ProcessId", Some("4242")),
                ("User", Some(r"CORP\alice")),
            ],
        );
    }

    #[test]
    fn file_reads_sysmon_files_and_security_shares() {
        let mut b = BatchBuilder::new();
        b.event(EventClass::File, 1, 1_000)
            .code(5145)
            .user("CORP", "alice")
            .src("10.0.0.66".parse().expect("ip"), Some(445))
            .with(|e, text| {
                if let Body::File(f) = &mut e.body {
                    f.path = Some(text(r"C:\Windows\Temp\x.exe"));
                    f.hashes = Some(text("SHA256=AB"));
                    f.share_name = Some(text(r"\\*\ADMIN$"));
                    f.relative_target = Some(text("PSEXESVC.exe"));
                    f.access_mask = 0x2;
                }
            })
            .push();
        let batch = b.build();
        check(
            &batch,
            &[
                ("TargetFilename", Some(r"C:\Windows\Temp\x.exe")),
                ("Hashes", Some("SHA256=AB")),
                ("ShareName", Some(r"\\*\ADMIN$")),
                ("RelativeTargetName", Some("PSEXESVC.exe")),
                ("AccessMask", Some("0x2")),
                ("IpAddress", Some("10.0.0.66")),
                ("IpPort", Some("445")),
                ("SubjectUserName", Some("alice")),
                ("SubjectDomainName", Some("CORP")),
                ("User", Some(r"CORP\alice")),
                ("Image", None),
            ],
        );
    }

    #[test]
    fn jobs_and_scripts_read_their_source_names() {
        let mut b = BatchBuilder::new();
        b.event(EventClass::Job, 1, 1_000)
            .code(7045)
            .with(|e, text| {
                if let Body::Job(j) = &mut e.body {
                    j.kind = JobKind::Service;
                    j.name = Some(text("PSEXESVC"));
                    j.command = Some(text(r"%SystemRoot%\PSEXESVC.exe"));
                    j.start_type = Some(text("demand start"));
                    j.account = Some(text("LocalSystem"));
                }
            })
            .push();
        let batch = b.build();
        check(
            &batch,
            &[
                ("ServiceName", Some("PSEXESVC")),
                ("TaskName", None),
                ("ImagePath", Some(r"%SystemRoot%\PSEXESVC.exe")),
                ("ServiceFileName", Some(r"%SystemRoot%\PSEXESVC.exe")),
                ("StartType", Some("demand start")),
                ("AccountName", Some("LocalSystem")),
            ],
        );
        let mut b = BatchBuilder::new();
        b.event(EventClass::Script, 1, 1_000)
            .code(4104)
            .with(|e, text| {
                if let Body::Script(s) = &mut e.body {
                    s.text = Some(text("IEX (New-Object Net.WebClient)"));
                    s.block_id = Some(text("b1"));
                    s.part = 1;
                    s.parts = 2;
                    s.host_application = Some(text("powershell.exe -enc AAA"));
                }
            })
            .attribute("Path", r"C:\x.ps1")
            .push();
        let batch = b.build();
        check(
            &batch,
            &[
                ("ScriptBlockText", Some("IEX (New-Object Net.WebClient)")),
                ("Payload", Some("IEX (New-Object Net.WebClient)")),
                ("ScriptBlockId", Some("b1")),
                ("MessageNumber", Some("1")),
                ("MessageTotal", Some("2")),
                ("HostApplication", Some("powershell.exe -enc AAA")),
                ("Path", Some(r"C:\x.ps1")),
            ],
        );
    }
}
