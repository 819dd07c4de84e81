//! Every rule's declarative cases (`rules/*/cases.toml`, docs/rule-cases.md) through the real
//! host, and the `yagura rule test` command's report.

use std::path::PathBuf;

use clap::Parser;
use yagura::cases::CaseFile;
use yagura::cli::{Cli, Command, RuleCommand, RuleTestArgs, run_rule_test};
use yagura_tests::{keep_ocsf, load, root, rules_dir};

/// `rules/<id>/cases.toml` of every rule that has one, sorted.
fn case_files() -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(root().join("rules"))
        .expect("rules/ is readable")
        .filter_map(|e| e.ok().map(|e| e.path().join("cases.toml")))
        .filter(|p| p.exists())
        .collect();
    files.sort();
    files
}

/// `yagura rule test ARGS…` as the binary parses it.
fn rule_test_args(args: &[&str]) -> RuleTestArgs {
    let argv = ["yagura", "rule", "test"].iter().chain(args);
    match Cli::try_parse_from(argv).expect("arguments parse").command {
        Command::Rule(RuleCommand::Test(args)) => args,
        other => panic!("`rule test` parses as rule test, got {other:?}"),
    }
}

#[test]
fn every_rules_cases_pass() {
    let files = case_files();
    assert!(
        files
            .iter()
            .any(|f| f.ends_with("vertical-port-scan/cases.toml")),
        "cases files found: {files:?}"
    );
    let mut failed = Vec::new();
    let mut passed = 0;
    for path in &files {
        let file = CaseFile::load(path).unwrap_or_else(|e| panic!("{e:#}"));
        let component = load(&file.rule);
        for result in file.run(&component).unwrap_or_else(|e| panic!("{e:#}")) {
            let name = &component.info().name;
            keep_ocsf(result.findings.iter().map(|f| f.to_ocsf(name)));
            if result.passed() {
                passed += 1;
            } else {
                failed.push(format!(
                    "{} — {}:\n{}",
                    path.display(),
                    result.name,
                    result.explain()
                ));
            }
        }
    }
    assert!(
        failed.is_empty(),
        "{} cases failed:\n{}",
        failed.len(),
        failed.join("\n")
    );
    assert!(passed >= 6, "only {passed} cases ran");
}

/// A failing case is reported with what was expected and what the rule reported instead,
/// and the run's totals count it.
#[test]
fn rule_test_reports_a_failing_case_with_the_findings() {
    let dir = tempfile::tempdir().expect("a temp dir");
    let cases = dir.path().join("cases.toml");
    let events =
        std::fs::read_to_string(root().join("rules/vertical-port-scan/cases/30-ports.ndjson"))
            .expect("the events file");
    std::fs::write(
        &cases,
        format!(
            "rule = \"vertical-port-scan\"\n\
             [[case]]\nname = \"passes\"\nevents = '''\n{events}'''\nfindings = 1\n\
             [[case]]\nname = \"wrong source\"\nevents = '''\n{events}'''\n\
             [[case.expect]]\nentities = [\"ip:10.9.9.9/source\"]\n"
        ),
    )
    .expect("write cases");
    let component = rules_dir().join("vertical-port-scan.wasm");
    let args = rule_test_args(&[
        "--rules",
        &component.display().to_string(),
        &cases.display().to_string(),
    ]);
    let mut out = Vec::new();
    let report = run_rule_test(&args, &mut out).expect("the run completes");
    let out = String::from_utf8(out).expect("utf-8");
    assert_eq!((report.passed, report.failed), (1, 1), "{out}");
    assert!(out.contains("  ok    passes (1 finding)"), "{out}");
    assert!(out.contains("  FAIL  wrong source"), "{out}");
    assert!(
        out.contains("expected a finding with entities [ip:10.9.9.9/source]; 0 matched"),
        "{out}"
    );
    assert!(
        out.contains("ip:10.0.0.5/source") && out.contains("dedup \"10.0.0.5>10.0.0.9\""),
        "the rule's finding is shown: {out}"
    );
    assert!(out.ends_with("cases: 1 passed, 1 failed\n"), "{out}");
}

/// A cases file for a rule that is not loaded names the rule and how to build it.
#[test]
fn rule_test_names_a_missing_rule() {
    let dir = tempfile::tempdir().expect("a temp dir");
    let cases = dir.path().join("cases.toml");
    std::fs::write(
        &cases,
        "rule = \"no-such-rule\"\n[[case]]\nname = \"c\"\nevents = '{}'\nfindings = 0\n",
    )
    .expect("write cases");
    let component = rules_dir().join("vertical-port-scan.wasm");
    let args = rule_test_args(&[
        "--rules",
        &component.display().to_string(),
        &cases.display().to_string(),
    ]);
    let e = run_rule_test(&args, &mut Vec::new()).expect_err("refused");
    let msg = format!("{e:#}");
    assert!(
        msg.contains("rule `no-such-rule`") && msg.contains("cargo xtask build-rules"),
        "{msg}"
    );
}
