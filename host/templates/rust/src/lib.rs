//! Rule `{{id}}`: PowerShell started with an encoded command (`-enc <base64>`), which hides
//! what the script does (ATT&CK T1059.001, T1027).
//!
//! Scaffolded by `yagura rule new`: an example detection to replace with yours. Keep the cases
//! in `cases.toml` in step with it and run them with `yagura rule test`.

use yagura_sdk::prelude::*;

/// PowerShell hosts.
const POWERSHELL: &[&str] = &["powershell.exe", "pwsh.exe"];

/// Spellings of `-EncodedCommand` (PowerShell accepts any unambiguous prefix).
const ENCODED: &[&str] = &["-enc", " -e ", " -ec "];

struct EncodedPowershell {
    hosts: NameSet,
}

impl Rule for EncodedPowershell {
    fn info() -> RuleInfo {
        RuleInfo::new("{{id}}", "Encoded PowerShell command")
            .description("PowerShell was started with an encoded command (-EncodedCommand).")
            .severity(Severity::Medium)
            .technique("T1059.001")
            .technique("T1027")
            .subscribe(EventClass::Process)
            .param(Param::text_list(
                "extra_hosts",
                "more PowerShell host images (basenames) to watch",
                &[],
            ))
            .build()
    }

    fn init(config: &Config) -> Result<Self, String> {
        let mut hosts = NameSet::new(POWERSHELL);
        hosts.extend(config.text_list("extra_hosts")?);
        Ok(EncodedPowershell { hosts })
    }

    fn on_events(&mut self, batch: &Batch, out: &mut Vec<Finding>) -> Result<(), String> {
        for ev in batch {
            if ev.activity != Activity::Create {
                continue;
            }
            let (Some(image), Some(cmd)) = (ev.process_image(), ev.process_cmd_line()) else {
                continue;
            };
            if !self.hosts.contains_path(image) || !contains_any_ignore_case(cmd, ENCODED) {
                continue;
            }
            let host = ev.hostname().unwrap_or("");
            let mut f = Finding::new(format!("{} ran an encoded command", basename(image)))
                .description(format!(
                    "{image} was started with an encoded command on {host}: `{cmd}`"
                ))
                .severity(Severity::Medium)
                .confidence(70)
                .technique("T1059.001")
                .technique("T1027")
                .evidence(ev.seq)
                .time(ev.time)
                .dedup_key(format!("{host}|{}", ev.process_pid().unwrap_or(0)))
                .context("cmd_line", cmd);
            if !host.is_empty() {
                f = f.host(host);
            }
            if let Some(user) = ev.qualified_user() {
                f = f.user(user);
            }
            if let Some(label) = ev.process_label() {
                f = f.process(label).role("actor");
            }
            if let Some(label) = ev.parent_label() {
                f = f.process(label).role("parent");
            }
            out.push(f.build());
        }
        Ok(())
    }
}

export_rule!(EncodedPowershell);
