//! Services and scheduled tasks: System 7045 and Security 4697 (service installed), System
//! 7036 (service state), Security 4698/4702 (task created, updated).

use super::*;

/// System 7045. Returns whether the System user (who installed it) was used.
pub(super) fn service_install(f: &mut Fields, ev: &mut Event, rec: &WinRecord) -> bool {
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

pub(super) fn security_service_install(f: &mut Fields, ev: &mut Event) {
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
pub(super) fn service_state(f: &mut Fields, ev: &mut Event) {
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

pub(super) fn scheduled_task(f: &mut Fields, ev: &mut Event, code: u32) {
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

#[cfg(test)]
mod tests {
    use super::super::testing::*;
    use super::*;

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
}
