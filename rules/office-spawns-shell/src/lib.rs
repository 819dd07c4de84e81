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
const OFFICE: &[&str] = &[
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
const SHELLS: &[&str] = &[
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
            let (Some(child), Some(parent)) = (ev.process_image(), ev.parent_image()) else {
                continue;
            };
            if self.children.contains_path(child) && self.parents.contains_path(parent) {
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
