//! `yagura replay` end to end: files in, OCSF findings out, a summary, bad lines skipped.

use std::io::Write;

use clap::Parser;
use yagura::cli::{Cli, Command, ReplayArgs, run_replay};
use yagura_tests::{keep_ocsf, root, rules_dir};

fn args(extra: &[&str]) -> ReplayArgs {
    let cache = root().join("target").join("yagura-test-cache");
    let mut argv = vec![
        "yagura".to_owned(),
        "replay".to_owned(),
        "--quiet".to_owned(),
        "--cache".to_owned(),
        cache.display().to_string(),
        // no slow machine reaches it (yagura_tests::test_limits)
        "--deadline-ms".to_owned(),
        "60000".to_owned(),
    ];
    argv.extend(extra.iter().map(|s| (*s).to_owned()));
    match Cli::try_parse_from(argv).expect("arguments parse").command {
        Command::Replay(args) => args,
        other => panic!("`replay` parses as replay, got {other:?}"),
    }
}

fn rule(name: &str) -> String {
    rules_dir()
        .join(format!("{name}.wasm"))
        .display()
        .to_string()
}

/// The OCSF findings replay wrote, kept for the schema check.
fn findings(out: &[u8]) -> Vec<serde_json::Value> {
    let found: Vec<serde_json::Value> = String::from_utf8_lossy(out)
        .lines()
        .map(|l| serde_json::from_str(l).expect("each output line is JSON"))
        .collect();
    keep_ocsf(found.iter().cloned());
    found
}

fn rule_ids(found: &[serde_json::Value]) -> Vec<String> {
    let mut ids: Vec<String> = found
        .iter()
        .map(|f| {
            f["finding_info"]["analytic"]["uid"]
                .as_str()
                .unwrap_or("?")
                .to_owned()
        })
        .collect();
    ids.sort();
    ids
}

#[test]
fn the_sample_replay_finds_the_three_attacks_and_nothing_else() {
    let sample = root().join("examples/events/sample.ndjson");
    let (office, scan, py) = (
        rule("office-spawns-shell"),
        rule("vertical-port-scan"),
        rule("py-failed-logon-burst"),
    );
    let args = args(&[
        "--rules",
        &office,
        "--rules",
        &scan,
        "--rules",
        &py,
        sample.to_str().expect("utf-8 path"),
    ]);
    let (mut out, mut err) = (Vec::new(), Vec::new());
    let report = run_replay(&args, &mut out, &mut err).expect("replay runs");
    assert!(
        report.is_clean(),
        "{report:?} {}",
        String::from_utf8_lossy(&err)
    );
    assert_eq!(report.events, 62);
    let found = findings(&out);
    assert_eq!(
        rule_ids(&found),
        vec![
            "office-spawns-shell",
            "py-failed-logon-burst",
            "vertical-port-scan"
        ]
    );
    for f in &found {
        assert_eq!(f["class_uid"], 2004);
        assert!(
            f["finding_info"]["attacks"][0]["technique"]["uid"].is_string(),
            "{f}"
        );
        assert!(
            !f["finding_info"]["related_events"]
                .as_array()
                .expect("array")
                .is_empty()
        );
        assert!(!f["observables"].as_array().expect("array").is_empty());
    }
    let office = found
        .iter()
        .find(|f| f["finding_info"]["analytic"]["uid"] == "office-spawns-shell")
        .expect("office finding");
    let names: Vec<&str> = office["observables"]
        .as_array()
        .expect("array")
        .iter()
        .filter_map(|o| o["value"].as_str())
        .collect();
    assert!(names.contains(&"WS01"), "{names:?}");
    let scan = found
        .iter()
        .find(|f| f["finding_info"]["analytic"]["uid"] == "vertical-port-scan")
        .expect("scan finding");
    let names: Vec<&str> = scan["observables"]
        .as_array()
        .expect("array")
        .iter()
        .filter_map(|o| o["value"].as_str())
        .collect();
    assert!(
        names.contains(&"10.0.0.66") && names.contains(&"10.0.0.10"),
        "{names:?}"
    );
}

#[test]
fn malformed_lines_are_reported_with_their_line_numbers_and_skipped() {
    let dir = tempfile::tempdir().expect("temp dir");
    let input = dir.path().join("mixed.ndjson");
    let mut file = std::fs::File::create(&input).expect("create");
    let good = r#"{"time":1700000000000,"class":"process","activity":"create","process":{"image":"C:\\Windows\\System32\\cmd.exe","parent_image":"C:\\Office\\WINWORD.EXE"},"device":{"hostname":"WS9"}}"#;
    writeln!(file, "{good}").expect("write");
    writeln!(
        file,
        "{{\"time\":1700000000001,\"class\":\"process\",\"process\":{{\"pid\":\"seven\"}}}}"
    )
    .expect("write");
    writeln!(file, "this is not json").expect("write");
    writeln!(file, "{good}").expect("write");
    drop(file);
    let path = input.display().to_string();
    let args = args(&["--rules", &rule("office-spawns-shell"), &path]);
    let (mut out, mut err) = (Vec::new(), Vec::new());
    let report = run_replay(&args, &mut out, &mut err).expect("replay runs through bad lines");
    assert_eq!((report.events, report.rejected), (2, 2));
    assert!(!report.is_clean());
    let err = String::from_utf8_lossy(&err);
    assert!(
        err.contains(&format!("{path}:2: field `process.pid`: invalid type")),
        "{err}"
    );
    assert!(err.contains(&format!("{path}:3: ")), "{err}");
    assert!(!findings(&out).is_empty(), "the good lines were evaluated");
}

#[test]
fn a_bad_set_names_the_rule_and_parameter() {
    let args = args(&[
        "--rules",
        &rule("vertical-port-scan"),
        "--set",
        "vertical-port-scan.treshold=3",
        "examples/events/sample.ndjson",
    ]);
    let err = run_replay(&args, &mut Vec::new(), &mut Vec::new()).expect_err("unknown parameter");
    let msg = format!("{err:#}");
    assert!(
        msg.contains("rule `vertical-port-scan` has no parameter `treshold`"),
        "{msg}"
    );
}

#[test]
fn a_missing_rule_directory_says_how_to_build_rules() {
    let dir = tempfile::tempdir().expect("temp dir");
    let empty = dir.path().display().to_string();
    let args = args(&["--rules", &empty, "examples/events/sample.ndjson"]);
    let err = run_replay(&args, &mut Vec::new(), &mut Vec::new()).expect_err("no rules");
    assert!(
        format!("{err:#}").contains("cargo xtask build-rules"),
        "{err:#}"
    );
}
