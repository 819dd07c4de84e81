//! `yagura sigma` and `yagura replay --sigma` through the binary, as a user types them: what
//! compiles, what is refused and why, the counts by reason, the exit codes; SigmaHQ's
//! regression rules run in the sandbox on their own events, read by Yagura's intake and the
//! Sigma engine's field map.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use serde_json::Value;
use yagura_sigma::compile::{Options, compile_yaml};
use yagura_sigma::windows::{EvtxJson, Route, route};
use yagura_sigma::{Fields, Matching};

use crate::support::root;

fn yagura(args: &[&str], dir: &Path) -> Output {
    Command::new(env!("CARGO_BIN_EXE_yagura"))
        .args(args)
        .current_dir(dir)
        .output()
        .expect("yagura runs")
}

fn rule(id: &str, title: &str, detection: &str) -> String {
    format!(
        "title: {title}\nid: {id}\nauthor: Test Author\nlevel: high\nlogsource:\n  product: windows\n  category: process_creation\n\
         detection:\n{detection}"
    )
}

const ID_A: &str = "0b1e6a53-0000-4000-8000-00000000000a";
const ID_B: &str = "0b1e6a53-0000-4000-8000-00000000000b";
const ID_C: &str = "0b1e6a53-0000-4000-8000-00000000000c";

#[test]
fn check_reports_each_refusal_and_counts_by_reason() {
    let dir = tempfile::tempdir().expect("tempdir");
    let rules = dir.path().join("rules");
    std::fs::create_dir_all(rules.join("sub")).expect("mkdir");
    let good = rule(
        ID_A,
        "Good",
        "  selection:\n    Image|endswith: '\\whoami.exe'\n  condition: selection\n",
    );
    std::fs::write(rules.join("good.yml"), &good).expect("write");
    std::fs::write(rules.join("sub/dup.yaml"), &good).expect("write");
    let expand = rule(
        ID_B,
        "Expand",
        "  selection:\n    Image|expand: '%x%'\n  condition: selection\n",
    );
    std::fs::write(rules.join("sub/expand.yml"), expand).expect("write");
    let timeframe = rule(
        ID_C,
        "Old",
        "  selection:\n    Image: x\n  timeframe: 5m\n  condition: selection\n",
    );
    std::fs::write(rules.join("old.yml"), timeframe).expect("write");
    std::fs::write(rules.join("notes.txt"), "not a rule").expect("write");
    // a link back up is not followed (it would never end)
    std::os::unix::fs::symlink(&rules, rules.join("sub/loop")).expect("symlink");

    let out = yagura(&["sigma", "check", "rules"], dir.path());
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(3), "some refused: {stdout}");
    let lines: Vec<&str> = stdout.lines().collect();
    assert_eq!(
        lines,
        [
            "rules/old.yml: refused Old (0b1e6a53-0000-4000-8000-00000000000c): detection: `timeframe: 5m` (write a correlation rule)",
            "rules/sub/dup.yaml: refused Good (0b1e6a53-0000-4000-8000-00000000000a): metadata: `id`, first in rules/good.yml: an id another rule has",
            "rules/sub/expand.yml: refused Expand (0b1e6a53-0000-4000-8000-00000000000b): modifier: selection `selection`: field `Image`: `expand`",
            "1 compiled, 3 refused, from 4 files",
            "refused, by reason:",
            "      1  detection: `timeframe: 5m` (write a correlation rule)",
            "      1  metadata: an id another rule has",
            "      1  modifier: `expand`",
        ]
    );

    let json = yagura(
        &[
            "sigma",
            "check",
            "--json",
            "rules/good.yml",
            "rules/sub/expand.yml",
        ],
        dir.path(),
    );
    assert_eq!(json.status.code(), Some(3));
    let report: serde_json::Value = serde_json::from_slice(&json.stdout).expect("JSON");
    assert_eq!(report["files"], 2);
    assert_eq!(report["compiled"], 1);
    assert_eq!(report["refused"][0]["kind"], "modifier");
    assert_eq!(
        report["refused"][0]["at"],
        "selection `selection`: field `Image`"
    );
    assert_eq!(report["refused"][0]["what"], "`expand`");
    assert_eq!(report["reasons"]["modifier: `expand`"], 1);

    let clean = yagura(
        &["sigma", "check", "--summary", "rules/good.yml"],
        dir.path(),
    );
    assert_eq!(clean.status.code(), Some(0));
    assert_eq!(
        String::from_utf8_lossy(&clean.stdout),
        "1 compiled, 0 refused, from 1 file\n"
    );
}

#[test]
fn check_says_what_it_cannot_read() {
    let dir = tempfile::tempdir().expect("tempdir");
    let missing = yagura(&["sigma", "check", "nowhere"], dir.path());
    assert_eq!(missing.status.code(), Some(1));
    assert_eq!(
        String::from_utf8_lossy(&missing.stderr),
        "yagura sigma: error: nowhere: no such file or directory\n"
    );
    std::fs::create_dir(dir.path().join("empty")).expect("mkdir");
    let empty = yagura(&["sigma", "check", "empty"], dir.path());
    assert_eq!(empty.status.code(), Some(1));
    assert_eq!(
        String::from_utf8_lossy(&empty.stderr),
        "yagura sigma: error: no .yml or .yaml file under empty\n"
    );
    std::fs::write(dir.path().join("broken.yml"), "title: [unclosed\n").expect("write");
    let broken = yagura(&["sigma", "check", "broken.yml"], dir.path());
    assert_eq!(broken.status.code(), Some(3));
    let stdout = String::from_utf8_lossy(&broken.stdout);
    assert!(
        stdout.starts_with("broken.yml: refused a document: yaml: "),
        "{stdout}"
    );
    assert!(
        stdout.contains("\n      1  yaml: a document that does not parse\n"),
        "{stdout}"
    );
}

/// The Sigma engine component, built by `cargo xtask build-rules`.
fn engine() -> PathBuf {
    let path = root().join("target/rules/engines/sigma.wasm");
    assert!(
        path.exists(),
        "{} is missing: run `cargo xtask build-rules` first",
        path.display()
    );
    path
}

fn files(dir: &Path, ext: &str, out: &mut Vec<PathBuf>) {
    let mut entries: Vec<PathBuf> = std::fs::read_dir(dir)
        .expect("readable dir")
        .map(|e| e.expect("entry").path())
        .collect();
    entries.sort();
    for path in entries {
        if path.is_dir() {
            files(&path, ext, out);
        } else if path.extension().is_some_and(|e| e == ext) {
            out.push(path);
        }
    }
}

/// The compiled rules of `dir`, ready to match, with their routes.
fn direct_rules(dir: &Path) -> Vec<(Matching, Route)> {
    let mut paths = Vec::new();
    files(dir, "yml", &mut paths);
    let mut rules = Vec::new();
    for path in paths {
        let text = std::fs::read_to_string(&path).expect("readable rule");
        for rule in compile_yaml(&text, &Options::default()).rules {
            let route = route(&rule.logsource).expect("a compiled rule is routed");
            rules.push((Matching::new(rule).expect("usable"), route));
        }
    }
    rules
}

/// The (event number, rule id) matches of `rules` on EVTX records read as Sigma reads them
/// (the record's own field names, no intake): event n is `records[n - 1]`.
fn direct_matches(rules: &[(Matching, Route)], records: &[Value]) -> BTreeSet<(u64, String)> {
    let mut out = BTreeSet::new();
    for (n, record) in (1u64..).zip(records) {
        let view = EvtxJson::new(record);
        let (channel, event_type) = (view.field("Channel"), view.field("EventType"));
        let id = view.field("EventID").and_then(|id| id.parse::<u32>().ok());
        for (matching, route) in rules {
            if route.admits_parts(channel.as_deref(), id, event_type.as_deref())
                && matching.matches(&view)
            {
                out.insert((n, matching.rule().id.clone()));
            }
        }
    }
    out
}

/// The (event `seq`, Sigma rule id) pairs of a replay's findings.
fn replay_matches(findings: &[Value]) -> BTreeSet<(u64, String)> {
    let mut out = BTreeSet::new();
    let mut pairs = 0;
    for f in findings {
        let uid = f["finding_info"]["analytic"]["uid"]
            .as_str()
            .expect("analytic uid");
        for related in f["finding_info"]["related_events"]
            .as_array()
            .expect("related events")
        {
            let seq = related["uid"]
                .as_str()
                .expect("seq")
                .parse()
                .expect("number");
            out.insert((seq, uid.to_owned()));
            pairs += 1;
        }
    }
    assert_eq!(pairs, out.len(), "a rule reported an event twice");
    out
}

/// Runs `yagura replay --sigma RULES … FILES` in `dir`; its findings. A rule refused is
/// allowed (exit code 3, listed on stderr): SigmaHQ's full set has some.
fn replay_sigma(dir: &Path, rules: &Path, files: &[PathBuf]) -> Vec<Value> {
    let engine = engine();
    let mut args: Vec<String> = [
        "replay",
        "--sigma",
        rules.to_str().expect("utf-8 path"),
        "--sigma-license",
        "DRL-1.1",
        "--sigma-engine",
        engine.to_str().expect("utf-8 path"),
        // not a speed test: no call may time out on a slow machine
        "--deadline-ms",
        "600000",
        "--quiet",
        "--output",
        "findings.jsonl",
    ]
    .map(str::to_owned)
    .to_vec();
    args.extend(
        files
            .iter()
            .map(|f| f.to_str().expect("utf-8 path").to_owned()),
    );
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let out = yagura(&args, dir);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        matches!(out.status.code(), Some(0 | 3)),
        "{:?}: {stderr}",
        out.status
    );
    assert!(
        !stderr.contains("yagura replay: rejected") && !stderr.contains("rule call failed"),
        "every record read, no call failed: {stderr}"
    );
    std::fs::read_to_string(dir.join("findings.jsonl"))
        .expect("findings")
        .lines()
        .map(|l| serde_json::from_str(l).expect("a JSON finding"))
        .collect()
}

#[test]
fn replay_sigma_matches_the_regression_events_in_the_sandbox() {
    let data = root().join("sigma/tests/data/sigmahq");
    let dir = tempfile::tempdir().expect("tempdir");
    // Every record of the JSON exports as one line of one file, in file order: the replay's
    // event n (its `seq`) is line n, whose rule is `owner[n - 1]` (the file is named by it).
    let mut exports = Vec::new();
    files(&data.join("regression"), "json", &mut exports);
    let mut lines = String::new();
    let mut records = Vec::new();
    let mut owner: Vec<String> = Vec::new();
    for path in &exports {
        let id = path
            .file_stem()
            .expect("stem")
            .to_string_lossy()
            .into_owned();
        let text = std::fs::read_to_string(path).expect("readable export");
        for record in serde_json::Deserializer::from_str(&text).into_iter::<Value>() {
            let record = record.expect("JSON record");
            lines.push_str(&record.to_string());
            lines.push('\n');
            records.push(record);
            owner.push(id.clone());
        }
    }
    let rule_ids: BTreeSet<&str> = owner.iter().map(String::as_str).collect();
    assert_eq!(rule_ids.len(), 123, "one export per regression rule");
    let events = dir.path().join("events.ndjson");
    std::fs::write(&events, lines).expect("write");

    let rules = data.join("rules");
    let findings = replay_sigma(dir.path(), &rules, &[events]);
    // `cargo xtask test` checks the findings against the OCSF schema (scripts/ocsf_check.py)
    if let Some(out) = std::env::var_os("YAGURA_OCSF_OUT") {
        std::fs::create_dir_all(&out).expect("YAGURA_OCSF_OUT can be created");
        std::fs::copy(
            dir.path().join("findings.jsonl"),
            Path::new(&out).join("sigma.replay_regression.jsonl"),
        )
        .expect("YAGURA_OCSF_OUT is writable");
    }
    let replayed = replay_matches(&findings);
    // SigmaHQ's test: each rule matches its own events, read by the intake and the field map
    let missed: Vec<&str> = rule_ids
        .iter()
        .copied()
        .filter(|id| {
            !replayed
                .iter()
                .any(|(seq, rule)| rule == id && owner[(*seq - 1) as usize] == *id)
        })
        .collect();
    assert!(
        missed.is_empty(),
        "rules that miss their own events: {missed:?}"
    );
    // and every match is the one Sigma's own reading of the record gives
    let direct = direct_matches(&direct_rules(&rules), &records);
    assert_eq!(
        replayed, direct,
        "the replay and the direct evaluation differ"
    );
    assert_eq!(direct.len(), 163, "matches when this test was written");

    // A finding names the Sigma rule and shows its author and licence (DRL 1.1).
    let findstr = findings
        .iter()
        .find(|f| f["finding_info"]["analytic"]["uid"] == "fe63010f-8823-4864-a96b-a7b4a0f7b929")
        .expect("a finding of `LSASS Process Reconnaissance Via Findstr.EXE`");
    let analytic = &findstr["finding_info"]["analytic"];
    assert_eq!(analytic["related_analytics"][0]["uid"], "sigma");
    assert_eq!(findstr["unmapped"]["rule_license"], "DRL-1.1");
    assert_eq!(
        findstr["unmapped"]["rule_author"],
        "Florian Roth (Nextron Systems)"
    );
    assert_eq!(
        analytic["name"],
        "LSASS Process Reconnaissance Via Findstr.EXE"
    );
    assert_eq!(findstr["severity"], "High");
    assert_eq!(
        findstr["finding_info"]["attacks"][0]["technique"]["uid"],
        "T1552.006"
    );
}

#[test]
fn replay_sigma_lists_refused_rules_and_names_a_missing_engine() {
    let dir = tempfile::tempdir().expect("tempdir");
    let good = rule(
        ID_A,
        "Whoami",
        "  selection:\n    Image|endswith: '\\whoami.exe'\n  condition: selection\n",
    );
    std::fs::write(dir.path().join("good.yml"), &good).expect("write");
    let expand = rule(
        ID_B,
        "Expand",
        "  selection:\n    Image|expand: '%x%'\n  condition: selection\n",
    );
    std::fs::write(dir.path().join("expand.yml"), expand).expect("write");
    let event = r#"{"time":1714557800000,"class":"process","activity":"create","device":{"hostname":"WS01"},"source":{"code":1,"channel":"Microsoft-Windows-Sysmon/Operational"},"process":{"pid":42,"image":"C:\\Windows\\System32\\whoami.exe","cmd_line":"whoami /all"}}"#;
    std::fs::write(dir.path().join("events.ndjson"), format!("{event}\n")).expect("write");
    let engine = engine();
    let out = yagura(
        &[
            "replay",
            "--sigma",
            "good.yml",
            "--sigma",
            "expand.yml",
            "--sigma-engine",
            engine.to_str().expect("utf-8 path"),
            "events.ndjson",
        ],
        dir.path(),
    );
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(3), "a rule was refused: {stderr}");
    assert!(
        stderr.contains(
            "yagura replay: expand.yml: refused Sigma rule Expand (0b1e6a53-0000-4000-8000-00000000000b): modifier: selection `selection`: field `Image`: `expand`"
        ),
        "{stderr}"
    );
    assert!(stderr.contains("1 Sigma rule was refused"), "{stderr}");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let findings: Vec<Value> = stdout
        .lines()
        .map(|l| serde_json::from_str(l).expect("JSON"))
        .collect();
    assert_eq!(findings.len(), 1, "{stdout}");
    let f = &findings[0];
    assert_eq!(f["finding_info"]["analytic"]["uid"], ID_A);
    assert_eq!(f["finding_info"]["analytic"]["name"], "Whoami");
    assert_eq!(f["severity"], "High");
    assert_eq!(f["unmapped"]["rule_author"], "Test Author");
    assert_eq!(f["device"]["hostname"], "WS01");

    // the engine's config, written for a pack or --set: the rules that compiled
    let compiled = yagura(
        &[
            "sigma",
            "compile",
            "good.yml",
            "expand.yml",
            "-o",
            "rules.json",
        ],
        dir.path(),
    );
    assert_eq!(compiled.status.code(), Some(3), "a rule was refused");
    assert!(
        String::from_utf8_lossy(&compiled.stdout).ends_with("wrote 1 rules to rules.json\n"),
        "{}",
        String::from_utf8_lossy(&compiled.stdout)
    );
    let rules: Vec<yagura_sigma::Rule> =
        serde_json::from_slice(&std::fs::read(dir.path().join("rules.json")).expect("written"))
            .expect("compiled rules");
    assert_eq!(rules.len(), 1);
    assert_eq!(rules[0].id, ID_A);
    assert_eq!(rules[0].author.as_deref(), Some("Test Author"));

    let missing = yagura(
        &["replay", "--sigma", "good.yml", "events.ndjson"],
        dir.path(),
    );
    assert_eq!(missing.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&missing.stderr);
    assert!(
        stderr.contains("the Sigma engine component is not at target/rules/engines/sigma.wasm"),
        "{stderr}"
    );
}

/// `../shared`, or where `$YAGURA_SHARED` says (a path that is not there runs the test as a
/// fresh clone would).
fn shared() -> PathBuf {
    std::env::var_os("YAGURA_SHARED").map_or_else(|| root().join("../shared"), PathBuf::from)
}

#[test]
fn replay_sigma_agrees_with_sigma_on_the_shared_windows_logs() {
    let shared = shared();
    let rules = shared.join("sigma/rules/windows");
    if !rules.is_dir() {
        eprintln!(
            "skipped: no {} (the committed regression data is tested above)",
            rules.display()
        );
        return;
    }
    let mut evtx = Vec::new();
    files(&shared.join("data"), "evtx", &mut evtx);
    files(&shared.join("sigma/regression"), "evtx", &mut evtx);
    let mut records = Vec::new();
    for path in &evtx {
        let mut parser = evtx::EvtxParser::from_path(path).expect("an EVTX file");
        for record in parser.records_json_value() {
            records.push(record.expect("a record").data);
        }
    }
    let dir = tempfile::tempdir().expect("tempdir");
    let replayed = replay_matches(&replay_sigma(dir.path(), &rules, &evtx));
    let direct = direct_matches(&direct_rules(&rules), &records);
    let only = |a: &BTreeSet<(u64, String)>, b: &BTreeSet<(u64, String)>| -> Vec<String> {
        a.difference(b)
            .map(|(n, id)| format!("{id} on event {n}"))
            .collect()
    };
    eprintln!(
        "{} records of {} EVTX files, all SigmaHQ Windows rules: {} matches by the replay, {} by Sigma's reading",
        records.len(),
        evtx.len(),
        replayed.len(),
        direct.len()
    );
    assert_eq!(
        (only(&replayed, &direct), only(&direct, &replayed)),
        (Vec::new(), Vec::new()),
        "(only the replay, only the direct evaluation)"
    );
    // 747 when this test was written (1,827 records of 135 files)
    assert!(
        direct.len() > 700,
        "{} matches: the comparison is broken",
        direct.len()
    );
}
