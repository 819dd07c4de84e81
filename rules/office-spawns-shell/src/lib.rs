//! Rule `office-spawns-shell`: an Office application starts a shell, a script host or a
//! living-off-the-land binary — the first step of most macro-borne intrusions (Emotet, Qakbot:
//! a document macro runs `powershell -enc …` or `mshta`).
//!
//! It reads process launches only. A launch matches when the parent's image basename is an
//! Office application and the child's is a shell or LOLBin; both lists take extra names from
//! the `extra_parents` and `extra_children` parameters. One alert per parent process and host
//! (the dedup key), so a macro that spawns ten shells is one alert, updated.
//!
//! The per-event path is two name-set lookups on borrowed text: no allocation unless an event
//! matches. This rule doubles as the benchmark's process rule.

use yagura_sdk::prelude::*;

/// Office applications whose children are suspicious.
pub const OFFICE: &[&str] = &[
    "winword.exe",
    "excel.exe",
    "powerpnt.exe",
    "outlook.exe",
    "onenote.exe",
    "msaccess.exe",
    "mspub.exe",
    "visio.exe",
];

/// Shells, script hosts and LOLBins a document has no business starting.
pub const SHELLS: &[&str] = &[
    "cmd.exe",
    "powershell.exe",
    "pwsh.exe",
    "wscript.exe",
    "cscript.exe",
    "mshta.exe",
    "rundll32.exe",
    "regsvr32.exe",
    "certutil.exe",
    "bitsadmin.exe",
    "wmic.exe",
];

/// The rule: the two name sets, built once in `init`.
struct OfficeSpawnsShell {
    parents: NameSet,
    children: NameSet,
}

impl Rule for OfficeSpawnsShell {
    fn info() -> RuleInfo {
        RuleInfo::new("office-spawns-shell", "Office application starts a shell")
            .description(
                "An Office application (Word, Excel, PowerPoint, Outlook…) started a shell, a \
                 script host or a living-off-the-land binary, as a malicious macro does.",
            )
            .severity(Severity::High)
            .technique("T1204.002")
            .technique("T1059")
            .subscribe(EventClass::Process)
            .param(Param::text_list(
                "extra_parents",
                "more parent image names (basenames such as `hwp.exe`) to treat as Office",
                &[],
            ))
            .param(Param::text_list(
                "extra_children",
                "more child image names (basenames such as `msbuild.exe`) to treat as shells",
                &[],
            ))
            .build()
    }

    fn init(config: &Config) -> Result<Self, String> {
        let mut parents = NameSet::new(OFFICE);
        parents.extend(config.text_list("extra_parents")?);
        let mut children = NameSet::new(SHELLS);
        children.extend(config.text_list("extra_children")?);
        Ok(OfficeSpawnsShell { parents, children })
    }

    fn on_events(&mut self, batch: &Batch, out: &mut Vec<Finding>) -> Result<(), String> {
        for ev in batch {
            // Launches only; an adapter that cannot tell says `unknown`.
            if !matches!(ev.activity, Activity::Create | Activity::Unknown) {
                continue;
            }
            let Some(process) = ev.process() else {
                continue;
            };
            let (Some(child), Some(parent)) =
                (ev.text(process.image), ev.text(process.parent_image))
            else {
                continue;
            };
            // Office parents are the rarer match: test them first.
            if self.parents.contains_path(parent) && self.children.contains_path(child) {
                out.push(finding(&ev, parent, child));
            }
        }
        Ok(())
    }
}

/// The finding for a matching launch.
fn finding(ev: &EventRef<'_>, parent: &str, child: &str) -> Finding {
    let host = ev.hostname().unwrap_or("");
    let parent_id = match (ev.parent_guid(), ev.parent_pid()) {
        (Some(guid), _) => guid.to_string(),
        (None, Some(pid)) => pid.to_string(),
        (None, None) => parent.to_ascii_lowercase(),
    };
    let mut f = Finding::new(format!("{} started {}", basename(parent), basename(child)))
        .description(format!(
            "{parent} started {child} on {}: Office applications do not start shells or script \
         hosts unless a document told them to.",
            if host.is_empty() {
                "an unnamed host"
            } else {
                host
            }
        ))
        .severity(Severity::High)
        .confidence(80)
        .technique("T1204.002")
        .technique("T1059")
        .evidence(ev.seq)
        .time(ev.time)
        .dedup_key(format!("{host}|{parent_id}"));
    if !host.is_empty() {
        f = f.host(host);
    }
    if let Some(user) = ev.qualified_user() {
        f = f.user(user);
    }
    if let Some(label) = ev.parent_label() {
        f = f.process(label).role("parent");
    }
    if let Some(label) = ev.process_label() {
        f = f.process(label).role("child");
    }
    f.context("parent_image", parent)
        .context("image", child)
        .context_opt("cmd_line", ev.process_cmd_line())
        .context_opt("parent_cmd_line", ev.parent_cmd_line())
        .build()
}

export_rule!(OfficeSpawnsShell);

#[cfg(test)]
mod tests {
    use yagura_sdk::testing::BatchBuilder;
    use yagura_sdk::{EntityKind, Guid};

    use super::*;

    fn rule(values: Vec<(String, Value)>) -> OfficeSpawnsShell {
        let config = Config::new(values).with_defaults(OfficeSpawnsShell::info().params);
        OfficeSpawnsShell::init(&config).expect("valid config")
    }

    fn run(rule: &mut OfficeSpawnsShell, batch: &Batch) -> Vec<Finding> {
        let mut out = Vec::new();
        rule.on_events(batch, &mut out).expect("never fails");
        out
    }

    fn launch(b: &mut BatchBuilder, seq: u64, parent: &str, child: &str) {
        b.event(EventClass::Process, seq, 1_000 + seq as i64)
            .activity(Activity::Create)
            .hostname("WS01")
            .user("CORP", "alice")
            .process_image(child)
            .process_pid(4242)
            .process_cmd_line("powershell -enc AAAA")
            .parent_image(parent)
            .parent_pid(100)
            .push();
    }

    #[test]
    fn word_starting_powershell_is_reported_with_its_entities() {
        let mut b = BatchBuilder::new();
        launch(
            &mut b,
            7,
            r"C:\Program Files\Microsoft Office\root\Office16\WINWORD.EXE",
            r"C:\Windows\System32\WindowsPowerShell\v1.0\powershell.exe",
        );
        let out = run(&mut rule(vec![]), &b.build());
        assert_eq!(out.len(), 1);
        let f = &out[0];
        assert_eq!(f.title, "WINWORD.EXE started powershell.exe");
        assert_eq!(f.techniques, ["T1204.002", "T1059"]);
        assert_eq!(f.evidence, [7]);
        assert_eq!(f.time, 1_007);
        assert_eq!(f.dedup_key, "WS01|100");
        let entity = |kind, role: Option<&str>| {
            f.entities
                .iter()
                .find(|e| e.kind == kind && e.role.as_deref() == role)
                .map(|e| e.value.as_str())
        };
        assert_eq!(entity(EntityKind::Host, None), Some("WS01"));
        assert_eq!(entity(EntityKind::User, None), Some(r"CORP\alice"));
        assert_eq!(
            entity(EntityKind::Process, Some("parent")),
            Some("WINWORD.EXE (pid 100)")
        );
        assert_eq!(
            entity(EntityKind::Process, Some("child")),
            Some("powershell.exe (pid 4242)")
        );
    }

    #[test]
    fn ordinary_launches_and_terminations_are_not_reported() {
        let mut b = BatchBuilder::new();
        launch(
            &mut b,
            1,
            r"C:\Windows\explorer.exe",
            r"C:\Windows\System32\cmd.exe",
        );
        launch(&mut b, 2, r"C:\Office\EXCEL.EXE", r"C:\Windows\notepad.exe");
        launch(
            &mut b,
            3,
            r"C:\Office\excel.exe.bak",
            r"C:\Windows\System32\cmd.exe",
        );
        b.event(EventClass::Process, 4, 0)
            .activity(Activity::Delete)
            .process_image("cmd.exe")
            .parent_image("winword.exe")
            .push();
        b.event(EventClass::Process, 5, 0)
            .activity(Activity::Create)
            .process_image("cmd.exe")
            .push();
        assert!(run(&mut rule(vec![]), &b.build()).is_empty());
    }

    #[test]
    fn parent_guid_makes_the_dedup_key() {
        let mut b = BatchBuilder::new();
        b.event(EventClass::Process, 1, 0)
            .process_image(r"C:\Windows\System32\mshta.exe")
            .parent_image(r"C:\Office\OUTLOOK.EXE")
            .parent_pid(100)
            .parent_guid(Guid { hi: 1, lo: 2 })
            .push();
        let out = run(&mut rule(vec![]), &b.build());
        assert_eq!(out.len(), 1);
        assert_eq!(out[0].dedup_key, "|{00000000-0000-0001-0000-000000000002}");
    }

    #[test]
    fn extra_names_extend_the_lists() {
        let mut b = BatchBuilder::new();
        launch(
            &mut b,
            1,
            r"C:\Hancom\Hwp.exe",
            r"C:\Windows\Microsoft.NET\msbuild.exe",
        );
        let batch = b.build();
        assert!(run(&mut rule(vec![]), &batch).is_empty());
        let mut tuned = rule(vec![
            (
                "extra_parents".into(),
                Value::TextList(vec!["hwp.exe".into()]),
            ),
            (
                "extra_children".into(),
                Value::TextList(vec!["MSBuild.exe".into()]),
            ),
        ]);
        assert_eq!(run(&mut tuned, &batch).len(), 1);
    }

    #[test]
    fn wrong_param_type_names_the_parameter() {
        let config = Config::new(vec![("extra_parents".into(), Value::Text("x".into()))])
            .with_defaults(OfficeSpawnsShell::info().params);
        let err = OfficeSpawnsShell::init(&config)
            .err()
            .expect("text is not a list");
        assert!(err.contains("extra_parents"), "{err}");
    }
}
