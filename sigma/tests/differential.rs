//! Yagura's Sigma evaluation against a reference engine, rsigma-eval (the evaluator of the
//! parser Yagura compiles with), on the same events: every (rule, event) match of one and
//! not the other is listed, and the test holds the list (docs/sigma.md explains each).
//!
//! Rules: SigmaHQ's 2,407 Windows rules from `../shared/sigma` (the 123 committed in
//! `tests/data/sigmahq` without it). Events: SigmaHQ's regression exports committed there and,
//! when `../shared` is present, every `.evtx` of `../shared/data` and of SigmaHQ's regression
//! data (read with the `evtx` crate, as `evtx_dump` writes JSON). Both engines read the same
//! values: Yagura through `EvtxJson`, rsigma-eval through a flat object of the same fields.
//! Both compare only where the rule's `logsource` routes the event (rsigma-eval does not
//! route by itself), so a difference is one of matching. Each match also passes the rule's
//! gate (`Matching::gate`), which the Sigma engine's literal index relies on.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use rsigma_eval::Engine;
use rsigma_eval::event::JsonEvent;
use serde_json::Value;
use yagura_sigma::compile::{Options, compile_yaml};
use yagura_sigma::windows::{EvtxJson, route};
use yagura_sigma::{Fields, Matching};

fn manifest() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

/// `../shared`, or where `$YAGURA_SHARED` says (a path that is not there runs the test as a
/// fresh clone would).
fn shared() -> PathBuf {
    std::env::var_os("YAGURA_SHARED").map_or_else(|| manifest().join("../../shared"), PathBuf::from)
}

fn files(dir: &Path, ext: &str, out: &mut Vec<PathBuf>) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    let mut entries: Vec<PathBuf> = entries.map(|e| e.expect("entry").path()).collect();
    entries.sort();
    for path in entries {
        if path.is_dir() {
            files(&path, ext, out);
        } else if path.extension().is_some_and(|e| e == ext) {
            out.push(path);
        }
    }
}

/// The events, each with the file it came from.
fn events() -> Vec<(String, Value)> {
    let mut out = Vec::new();
    let mut json = Vec::new();
    files(
        &manifest().join("tests/data/sigmahq/regression"),
        "json",
        &mut json,
    );
    for path in json {
        let text = std::fs::read_to_string(&path).expect("readable");
        for value in serde_json::Deserializer::from_str(&text).into_iter::<Value>() {
            out.push((
                path.file_name()
                    .expect("name")
                    .to_string_lossy()
                    .into_owned(),
                value.expect("JSON"),
            ));
        }
    }
    let shared = shared();
    let mut evtx = Vec::new();
    files(&shared.join("data"), "evtx", &mut evtx);
    files(&shared.join("sigma/regression"), "evtx", &mut evtx);
    for path in evtx {
        let mut parser = evtx::EvtxParser::from_path(&path).expect("an EVTX file");
        for record in parser.records_json_value() {
            let record = record.expect("a record");
            out.push((
                path.file_name()
                    .expect("name")
                    .to_string_lossy()
                    .into_owned(),
                record.data,
            ));
        }
    }
    out
}

#[test]
fn yagura_and_the_reference_engine_match_the_same_events() {
    // all 2,407 SigmaHQ rules where `../shared` is there, else the 123 committed ones
    let from_shared = shared().join("sigma/rules/windows");
    let rules_dir = if from_shared.is_dir() {
        from_shared
    } else {
        manifest().join("tests/data/sigmahq/rules")
    };
    let mut paths = Vec::new();
    files(&rules_dir, "yml", &mut paths);
    let mut ours = Vec::new();
    let mut reference = Engine::new();
    let mut reference_rules = Vec::new();
    for path in &paths {
        let text = std::fs::read_to_string(path).expect("readable");
        for rule in compile_yaml(&text, &Options::default()).rules {
            let route = route(&rule.logsource).expect("routed");
            ours.push((Matching::new(rule).expect("usable"), route));
        }
        reference_rules.extend(
            rsigma_parser::parse_sigma_yaml(&text)
                .expect("parses")
                .rules,
        );
    }
    // one batch: the reference rebuilds its index after each add otherwise (quadratic)
    let refused = reference.add_rules(&reference_rules);
    assert!(
        refused.is_empty(),
        "the reference refuses rules Yagura runs: {refused:?}"
    );
    let routes: BTreeMap<String, usize> = ours
        .iter()
        .enumerate()
        .map(|(i, (m, _))| (m.rule().id.clone(), i))
        .collect();

    let events = events();
    let mut only_ours = BTreeSet::new();
    let mut only_reference = BTreeSet::new();
    let mut both = 0usize;
    for (index, (file, record)) in events.iter().enumerate() {
        let view = EvtxJson::new(record);
        let (channel, event_type) = (view.field("Channel"), view.field("EventType"));
        let event_id = view.field("EventID").and_then(|id| id.parse::<u32>().ok());
        let routed = |route: &yagura_sigma::windows::Route| {
            route.admits_parts(channel.as_deref(), event_id, event_type.as_deref())
        };
        let mine: BTreeSet<&str> = ours
            .iter()
            .filter(|(m, route)| routed(route) && m.matches(&view))
            .inspect(|(m, _)| {
                // the Sigma engine's literal index skips a rule whose gate fails: never one
                // that matches
                assert!(
                    m.gate().is_none_or(|gate| gate.admits(&view)),
                    "{} matches {file} #{index} but its gate {:?} refuses it",
                    m.rule().id,
                    m.gate()
                );
            })
            .map(|(m, _)| m.rule().id.as_str())
            .collect();
        let flat = EvtxJson::new(record).flat();
        let theirs: BTreeSet<String> = reference
            .evaluate(&JsonEvent::borrow(&flat))
            .into_iter()
            .filter_map(|r| r.header.rule_id)
            // compared where Yagura routes the event; rules Yagura refused are not compared
            .filter(|id| routes.get(id).is_some_and(|i| routed(&ours[*i].1)))
            .collect();
        both += mine.iter().filter(|id| theirs.contains(**id)).count();
        for id in mine.iter().filter(|id| !theirs.contains(**id)) {
            only_ours.insert(format!("{id} on {file} #{index}"));
        }
        for id in theirs.iter().filter(|id| !mine.contains(id.as_str())) {
            only_reference.insert(format!("{id} on {file} #{index}"));
        }
    }
    eprintln!(
        "{} events, {} rules: {both} matches by both",
        events.len(),
        ours.len()
    );
    eprintln!(
        "only Yagura ({}):\n  {}",
        only_ours.len(),
        only_ours.iter().cloned().collect::<Vec<_>>().join("\n  ")
    );
    eprintln!(
        "only the reference ({}):\n  {}",
        only_reference.len(),
        only_reference
            .iter()
            .cloned()
            .collect::<Vec<_>>()
            .join("\n  ")
    );
    assert!(
        both > 0,
        "the engines match nothing in common: the comparison is broken"
    );
    // Measured when this test was written: 1,972 events and 2,399 rules with `../shared`
    // (944 matches by both), 145 and 123 without (163); no difference. A difference found
    // later is listed above: mend the side that is wrong, or explain it in docs/sigma.md.
    assert!(
        only_ours.is_empty() && only_reference.is_empty(),
        "the engines differ (listed above)"
    );
}
