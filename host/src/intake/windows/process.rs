//! Processes: Security 4688/4689, Sysmon 1 and 5 (create, exit), Sysmon 7, 8, 10 (image
//! loaded, remote thread, process access).

use super::*;

pub(super) fn security_process_create(f: &mut Fields, ev: &mut Event) {
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

pub(super) fn security_process_exit(f: &mut Fields, ev: &mut Event) {
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

pub(super) fn sysmon_process_create(f: &mut Fields, ev: &mut Event) {
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

pub(super) fn sysmon_process_exit(f: &mut Fields, ev: &mut Event) {
    ev.class = EventClass::Process;
    ev.activity = Activity::Delete;
    ev.user = f.qualified_user("User");
    ev.process = process_ref(f.u32("ProcessId"), f.guid("ProcessGuid"), f.string("Image"));
}

/// Sysmon 7 (image loaded), 8 (remote thread), 10 (process access): the acting process is
/// the event's process; the loaded image or target process image is `file.path`.
pub(super) fn sysmon_process_target(f: &mut Fields, ev: &mut Event, code: u32) {
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

#[cfg(test)]
mod tests {
    use super::super::testing::*;
    use super::*;

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
}
