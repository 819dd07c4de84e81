//! SigmaHQ's Windows rules and their regression data (docs/sigma.md).
//!
//! - Each of the 123 rules with regression data matches its events (SigmaHQ's own check:
//!   the rule must match the `.evtx`; here its JSON export, read as Sigma reads an EVTX record),
//!   and as many times as `info.yml`'s `match_count` says, but for three files whose export
//!   holds more events that the rule rightly matches. These run on the
//!   copies committed in `tests/data/sigmahq` (DRL 1.1).
//! - Every one of the 2,407 rules of `../shared/sigma` compiles or is refused with a reason;
//!   the counts by reason are printed. Without `../shared` that test says it is skipped.

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};

use serde_json::Value;
use yagura_sigma::compile::{Options, compile_yaml};
use yagura_sigma::windows::{EvtxJson, route};
use yagura_sigma::{Matching, Rule};

fn committed() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/sigmahq")
}

/// `../shared/sigma`, or under `$YAGURA_SHARED` (a path that is not there runs the tests as a
/// fresh clone would).
fn shared() -> Option<PathBuf> {
    let root = std::env::var_os("YAGURA_SHARED").map_or_else(
        || Path::new(env!("CARGO_MANIFEST_DIR")).join("../../shared"),
        PathBuf::from,
    );
    let dir = root.join("sigma");
    dir.is_dir().then_some(dir)
}

fn files(dir: &Path, name: impl Fn(&Path) -> bool + Copy) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let mut entries: Vec<_> = std::fs::read_dir(dir)
        .expect("readable dir")
        .map(|e| e.expect("entry").path())
        .collect();
    entries.sort();
    for path in entries {
        if path.is_dir() {
            out.extend(files(&path, name));
        } else if name(&path) {
            out.push(path);
        }
    }
    out
}

fn yml(path: &Path) -> bool {
    path.extension().is_some_and(|e| e == "yml")
}

fn options() -> Options {
    Options {
        license: Some("DRL-1.1".into()),
    }
}

/// Every rule under `dir/rules`, compiled, by id.
fn rules(dir: &Path) -> HashMap<String, Rule> {
    let mut out = HashMap::new();
    for path in files(&dir.join("rules"), yml) {
        let text = std::fs::read_to_string(&path).expect("readable rule");
        for rule in compile_yaml(&text, &options()).rules {
            out.insert(rule.id.clone(), rule);
        }
    }
    out
}

/// The JSON values of a file holding one or more JSON documents.
fn events(path: &Path) -> Vec<Value> {
    let text = std::fs::read_to_string(path).expect("readable events");
    serde_json::Deserializer::from_str(&text)
        .into_iter::<Value>()
        .map(|v| v.expect("valid JSON"))
        .collect()
}

/// `rule_metadata[0].id` and `match_count` of an `info.yml`, read line by line (the file's
/// shape is fixed; the project has no YAML parser of its own besides rsigma's).
fn info(path: &Path) -> (String, Option<usize>) {
    let text = std::fs::read_to_string(path).expect("readable info.yml");
    let mut lines = text
        .lines()
        .skip_while(|l| !l.starts_with("rule_metadata:"));
    let id = lines
        .find_map(|l| {
            l.trim()
                .strip_prefix("- id:")
                .map(|id| id.trim().to_owned())
        })
        .expect("info.yml names its rule");
    let count = text.lines().find_map(|l| {
        l.trim()
            .strip_prefix("match_count:")
            .map(|n| n.trim().parse().expect("a count"))
    });
    (id, count)
}

#[test]
fn every_rule_with_regression_data_matches_its_events() {
    let dir = committed();
    let rules = rules(&dir);
    let infos = files(&dir.join("regression"), |p| {
        p.file_name().is_some_and(|n| n == "info.yml")
    });
    assert_eq!(infos.len(), 123, "the committed regression data");
    let mut failures = Vec::new();
    let mut count_differs = Vec::new();
    for info_path in &infos {
        let folder = info_path.parent().expect("a folder");
        let (id, expected) = info(info_path);
        let Some(rule) = rules.get(&id) else {
            failures.push(format!("{}: rule {id} did not compile", folder.display()));
            continue;
        };
        let route = route(&rule.logsource).expect("compiled rules are routed");
        let matching = Matching::new(rule.clone()).expect("compiled rules are usable");
        let records: Vec<Value> = files(folder, |p| p.extension().is_some_and(|e| e == "json"))
            .iter()
            .flat_map(|p| events(p))
            .collect();
        let hits = records
            .iter()
            .filter(|r| {
                let event = EvtxJson::new(r);
                route.admits(&event) && matching.matches(&event)
            })
            .count();
        let name = folder.file_name().expect("name").to_string_lossy();
        if hits == 0 {
            failures.push(format!(
                "{} ({name}): none of {} events match",
                rule.title,
                records.len()
            ));
        } else if expected.is_some_and(|n| n != hits) {
            // SigmaHQ's check asks for one match at least; where the export holds more events
            // than its count, each was read and checked by hand (docs/sigma.md lists them).
            count_differs.push(format!(
                "{name}: {hits} of {} events, info.yml says {expected:?}",
                records.len()
            ));
        }
    }
    assert_eq!(
        count_differs,
        [
            "file_event_win_anydesk_artefact: 3 of 5 events, info.yml says Some(1)",
            "registry_set_change_security_zones: 3 of 3 events, info.yml says Some(1)",
            "registry_set_disable_administrative_share: 2 of 2 events, info.yml says Some(1)",
        ],
        "rules whose matches differ from info.yml's match_count"
    );
    assert!(
        failures.is_empty(),
        "{} of {} rules fail their regression data:\n{}",
        failures.len(),
        infos.len(),
        failures.join("\n")
    );
}

#[test]
fn the_committed_rules_all_compile() {
    let dir = committed();
    for path in files(&dir.join("rules"), yml) {
        let compiled = compile_yaml(
            &std::fs::read_to_string(&path).expect("readable"),
            &options(),
        );
        assert!(
            compiled.refused.is_empty(),
            "{}: {:?}",
            path.display(),
            compiled.refused
        );
        for rule in &compiled.rules {
            assert!(
                rule.author.is_some(),
                "{}: SigmaHQ's rules name their author",
                path.display()
            );
            assert_eq!(rule.license.as_deref(), Some("DRL-1.1"));
        }
    }
}

#[test]
fn every_sigmahq_windows_rule_compiles_or_is_refused_with_a_reason() {
    let Some(dir) = shared() else {
        eprintln!(
            "skipped: ../shared/sigma is absent (the 2,407 SigmaHQ rules are read from there)"
        );
        return;
    };
    let paths = files(&dir.join("rules/windows"), yml);
    assert_eq!(paths.len(), 2407);
    let (mut compiled, mut refused) = (0usize, 0usize);
    let mut reasons: BTreeMap<String, usize> = BTreeMap::new();
    for path in &paths {
        let out = compile_yaml(
            &std::fs::read_to_string(path).expect("readable"),
            &options(),
        );
        assert!(
            !out.rules.is_empty() || !out.refused.is_empty(),
            "{}: neither compiled nor refused",
            path.display()
        );
        compiled += out.rules.len();
        refused += out.refused.len();
        for r in &out.refused {
            assert!(
                !r.refusal.what.is_empty(),
                "{}: a refusal without a reason",
                path.display()
            );
            *reasons.entry(r.refusal.reason()).or_default() += 1;
        }
    }
    eprintln!("{compiled} compiled, {refused} refused");
    for (reason, n) in &reasons {
        eprintln!("{n:>5}  {reason}");
    }
    // Measured at the commit that added this test: 2,399 of 2,407 compile; the 8 others read
    // `file_access` and `file_rename`, which no Sysmon event carries. A change that refuses
    // more must say why (docs/sigma.md keeps the counts).
    assert_eq!((compiled, refused), (2399, 8), "{reasons:#?}");
}
