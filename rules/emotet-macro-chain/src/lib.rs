//! Rule `emotet-macro-chain`: an Emotet-style intrusion from a document macro, followed as a
//! chain of stages on one host rather than as single events.
//!
//! 1. Office (Word, Excel, PowerPoint, Outlook, OneNote…) starts a shell, script host or
//!    LOLBin — directly, or indirectly: WmiPrvSE.exe (WMI `Win32_Process.Create`) or
//!    explorer.exe (COM `ShellBrowserWindow`) starts it shortly after Office opened a
//!    document on the same host;
//! 2. an encoded or obfuscated command line, or a download cradle, in that process tree;
//! 3. a network connection by the tree;
//! 4. an executable or DLL written by the tree into a user-writable folder;
//! 5. that file run, or loaded by rundll32/regsvr32;
//! 6. a Run key pointing at it.
//!
//! One finding per chain (the Office process on its host is the dedup key), reported by the
//! event that brings it to `min_stages` stages and again, with the same key, by each event
//! that adds a stage;
//! severity rises with the stages. Stages join while they are less than `window_minutes`
//! apart; tree membership passes from parent to child and expires a window after the member
//! last acted.
//!
//! # Layout
//! - `lists`: the Office, shell and indirect-parent names, user-writable folders, payload
//!   and document extensions, Run keys.
//! - `cmdline`: stage-2 indicators in command lines, file names in command lines.
//! - `chain`: one chain's stages and samples, and its encoding for host state.
//! - `track`: every host-state key of the rule (tree, Office launches, files, chains, the
//!   hot-host set) behind `Tracker`.
//! - `follow`: what each event class contributes to a chain.
//! - `report`: the finding.
//!
//! Cost: an event is first matched by name (Office parent and shell child, Office actor, an
//! indirect parent) without allocating; anything else is looked at only when its host is in
//! the hot set, a guest-memory mirror of the hosts with a chain in progress.

mod chain;
mod cmdline;
mod follow;
mod lists;
mod report;
mod track;

use yagura_sdk::prelude::*;

use crate::lists::{DLL_LOADERS, INDIRECT_PARENTS, OFFICE, SHELLS};
use crate::track::Tracker;

/// The rule id.
pub const ID: &str = "emotet-macro-chain";

/// The rule: its settings, the name sets built from them, and its state tracker.
pub struct EmotetMacroChain {
    window: Window,
    link_ms: i64,
    office: NameSet,
    shells: NameSet,
    indirect: NameSet,
    loaders: NameSet,
    /// command-line substrings that keep a launch from rooting a chain
    allowed: Vec<String>,
    /// more user-writable folder fragments
    writable: Vec<String>,
    track: Tracker,
}

impl Rule for EmotetMacroChain {
    fn info() -> RuleInfo {
        RuleInfo::new(ID, "Emotet-style macro chain")
            .description(
                "A document macro's chain on one host: Office (directly, or through WMI or COM) \
                 starts a shell, which runs an encoded command or a download cradle, connects \
                 out, writes an executable into a user-writable folder, runs it and adds a Run \
                 key. One finding per chain, updated as stages add up.",
            )
            .severity(Severity::High)
            .technique("T1566.001")
            .technique("T1204.002")
            .technique("T1059.001")
            .technique("T1027")
            .technique("T1105")
            .technique("T1218.011")
            .technique("T1547.001")
            .subscribe(EventClass::Process)
            .subscribe(EventClass::Network)
            .subscribe(EventClass::Dns)
            .subscribe(EventClass::File)
            .subscribe(EventClass::Registry)
            .param(Param::integer(
                "window_minutes",
                "stages of one chain join while they are less than this many minutes of event \
                 time apart; a tree member is followed this long after it last acted",
                10,
            ))
            .param(Param::integer(
                "indirect_link_seconds",
                "a shell started by WmiPrvSE.exe or explorer.exe roots a chain when Office \
                 started or opened a document on the same host at most this many seconds \
                 before; 0 turns indirect links off",
                120,
            ))
            .param(Param::integer(
                "min_stages",
                "stages a chain needs before it is reported (1 to 6)",
                2,
            ))
            .param(Param::text_list(
                "extra_office",
                "more image names (basenames such as `hwp.exe`) to treat as Office",
                &[],
            ))
            .param(Param::text_list(
                "extra_children",
                "more image names (basenames such as `msbuild.exe`) that root a chain when \
                 Office starts them",
                &[],
            ))
            .param(Param::text_list(
                "indirect_parents",
                "parents whose shell children root a chain after an Office launch (WMI and COM \
                 hosts); the children of any parent but WmiPrvSE.exe (explorer.exe) also need a \
                 stage-2 command line",
                INDIRECT_PARENTS,
            ))
            .param(Param::text_list(
                "allowed_command_lines",
                "command-line substrings (case-insensitive) of sanctioned add-ins: a shell \
                 whose command line contains one does not root a chain",
                &[],
            ))
            .param(Param::text_list(
                "extra_writable_dirs",
                "more user-writable folders, as path fragments such as `\\PerfLogs\\`",
                &[],
            ))
            .build()
    }

    fn init(config: &Config) -> Result<Self, String> {
        let window = config.integer_in("window_minutes", 1..=24 * 60)?;
        let link = config.integer_in("indirect_link_seconds", 0..=3_600)?;
        let min_stages = config.integer_in("min_stages", 1..=6)?;
        let mut office = NameSet::new(OFFICE);
        office.extend(config.text_list("extra_office")?);
        let mut shells = NameSet::new(SHELLS);
        shells.extend(config.text_list("extra_children")?);
        let indirect = NameSet::new(config.text_list("indirect_parents")?);
        let allowed = non_empty(config, "allowed_command_lines")?;
        let writable = non_empty(config, "extra_writable_dirs")?;
        let window = Window::minutes(window.unsigned_abs());
        let link_ms = link * 1_000;
        let min_stages = u32::try_from(min_stages).map_err(|e| e.to_string())?;
        Ok(EmotetMacroChain {
            window,
            link_ms,
            office,
            shells,
            indirect,
            loaders: NameSet::new(DLL_LOADERS),
            allowed,
            writable,
            track: Tracker::new(window, link_ms, min_stages),
        })
    }

    fn on_events(&mut self, batch: &Batch, out: &mut Vec<Finding>) -> Result<(), String> {
        self.track.state_errors = 0;
        for ev in batch {
            self.follow(&ev);
        }
        self.report(out);
        if self.track.state_errors > 0 {
            log::warn(&format!(
                "host state refused {} updates in a batch of {}; parts of chains may be missed",
                self.track.state_errors,
                batch.len()
            ));
        }
        Ok(())
    }
}

/// The entries of a text-list parameter, trimmed; an empty entry is an error naming it.
fn non_empty(config: &Config, name: &str) -> Result<Vec<String>, ConfigError> {
    let mut out = Vec::new();
    for entry in config.text_list(name)? {
        let entry = entry.trim();
        if entry.is_empty() {
            return Err(ConfigError::invalid(
                name,
                "empty entry: it would match every command line or path",
            ));
        }
        out.push(entry.to_owned());
    }
    Ok(out)
}

export_rule!(EmotetMacroChain);

#[cfg(test)]
mod tests {
    use super::*;

    fn init(values: Vec<(&str, Value)>) -> Result<EmotetMacroChain, String> {
        let values = values.into_iter().map(|(k, v)| (k.to_owned(), v)).collect();
        EmotetMacroChain::init(&Config::new(values).with_defaults(EmotetMacroChain::info().params))
    }

    #[test]
    fn defaults_are_valid() {
        let rule = init(vec![]).expect("defaults");
        assert_eq!(rule.window, Window::minutes(10));
        assert_eq!(rule.link_ms, 120_000);
        assert!(rule.indirect.contains("WmiPrvSE.exe"));
    }

    #[test]
    fn bad_settings_name_the_parameter() {
        for (name, value) in [
            ("window_minutes", Value::Integer(0)),
            ("window_minutes", Value::Text("ten".into())),
            ("indirect_link_seconds", Value::Integer(-1)),
            ("min_stages", Value::Integer(7)),
            ("extra_office", Value::Text("hwp.exe".into())),
            ("allowed_command_lines", Value::TextList(vec![" ".into()])),
            ("extra_writable_dirs", Value::TextList(vec!["".into()])),
        ] {
            let err = init(vec![(name, value)]).err().expect("refused");
            assert!(err.contains(name), "{err}");
        }
    }

    #[test]
    fn info_declares_what_it_reads() {
        let info = EmotetMacroChain::info();
        assert_eq!(info.id, ID);
        assert!(info.techniques.iter().any(|t| t == "T1204.002"));
        assert_eq!(info.subscriptions.len(), 5);
        assert_eq!(info.params.len(), 8);
    }
}
