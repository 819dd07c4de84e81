//! Files, shares, registry, DNS: Sysmon 2, 11, 15, 17, 18, 23, 26 (files and pipes),
//! Security 5140/5145 (share access), Sysmon 12-14 (registry), Sysmon 22 (DNS query).

use super::*;

pub(super) fn sysmon_file(f: &mut Fields, ev: &mut Event, code: u32) {
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

pub(super) fn share_access(f: &mut Fields, ev: &mut Event) {
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

pub(super) fn sysmon_registry(f: &mut Fields, ev: &mut Event, code: u32) {
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

pub(super) fn sysmon_dns(f: &mut Fields, ev: &mut Event) {
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

#[cfg(test)]
mod tests {
    use super::super::testing::*;
    use super::*;

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
}
