//! The C rule kit (issue 8, sdk/c): `yagura rule new --lang c` → `yagura rule build` (clang for
//! wasm32-wasi with the kit and its `wit-bindgen c` bindings) → cases in the real host; the C
//! office-spawns-shell reports what the Rust rule reports; the kit's probe rule checks its
//! views, formatting, config and state helpers through cases and its error paths here; C code
//! that pulls in WASI is refused with the fix; and the four office-spawns-shell rules pack
//! with the core rules into one signed pack.
//!
//! The components are built in process, as a user runs `yagura rule build`, into each
//! project's `target/` (ignored by git), once per test run.

use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use yagura::RuleComponent;
use yagura::cases::CaseFile;
use yagura::pack::{Bundle, SecretKey, SignatureStatus, Trust};
use yagura_tests::{root, sandbox};

use crate::kits::{assert_cases_pass, rule, run_cases, run_cases_on, scaffold_and_build};

/// Builds the C project `dir` (relative to the root) once per run; returns its component.
fn built(cell: &'static OnceLock<PathBuf>, dir: &str) -> &'static Path {
    cell.get_or_init(|| {
        let dir = root().join(dir).display().to_string();
        let (_, component) = rule(&["build", "--quiet", &dir]);
        component.expect("a component path")
    })
}

fn office() -> RuleComponent {
    static CELL: OnceLock<PathBuf> = OnceLock::new();
    load_file(built(&CELL, "examples/c/office-spawns-shell"))
}

fn probe() -> RuleComponent {
    static CELL: OnceLock<PathBuf> = OnceLock::new();
    load_file(built(&CELL, "sdk/c/tests/probe"))
}

fn load_file(path: &Path) -> RuleComponent {
    let bytes = std::fs::read(path).expect("the component");
    sandbox()
        .load(&bytes, &path.display().to_string())
        .unwrap_or_else(|e| panic!("{e}"))
}

/// The C office-spawns-shell passes the shared cases and reports exactly what the Rust rule
/// reports, case by case: titles, entities, context, dedup keys, evidence and times.
#[test]
fn c_office_spawns_shell_matches_the_rust_rule() {
    let rust = run_cases(
        "rules/office-spawns-shell/cases.toml",
        "office-spawns-shell",
    );
    let c = run_cases_on("examples/c/office-spawns-shell/cases.toml", &office());
    assert_eq!(rust.len(), 4);
    assert_eq!(rust, c);
    let component = office();
    assert_eq!(component.info().id, "c-office-spawns-shell");
    assert_eq!(component.info().techniques, ["T1204.002", "T1059"]);
    assert_eq!(component.info().params.len(), 2);
}

/// `yagura rule new --lang c` → `yagura rule build` → the scaffold's two cases pass.
#[test]
fn a_scaffolded_c_rule_builds_and_passes_its_cases() {
    let (tmp, component) = scaffold_and_build("c", "kit-c", &[]);
    assert_cases_pass(&tmp.path().join("kit-c").join("cases.toml"), &component);
}

/// The probe's cases: process and network views, labels, GUIDs and addresses as text,
/// attributes, config of every type with defaults, counters, distinct sets, marks, on_tick.
#[test]
fn the_c_kit_probe_passes_its_cases() {
    let results = run_cases_on("sdk/c/tests/probe/cases.toml", &probe());
    assert_eq!(results.len(), 5);
}

/// Runs one inline case on the probe; returns its failures.
fn probe_failures(case: &str) -> Vec<String> {
    let text = format!("rule = \"c-kit-probe\"\n\n{case}");
    let file = CaseFile::parse(&text, &root().join("sdk/c/tests/probe/inline.toml"))
        .unwrap_or_else(|e| panic!("{e:#}"));
    let results = file.run(&probe()).unwrap_or_else(|e| panic!("{e:#}"));
    results.into_iter().flat_map(|r| r.failures).collect()
}

const ONE_EVENT: &str = "events = '''\n{\"time\":1715677200000,\"class\":\"process\",\
    \"activity\":\"create\",\"process\":{\"pid\":1,\"image\":\"cmd.exe\",\"cmd_line\":\"%CMD%\"}}\n'''\n";

/// A `yg_fail` in `on_events` is a rule fault carrying the rule's message; a `yg_fail` in
/// `init` refuses the config; an integer outside `yg_config_int_in`'s range and a read of a
/// parameter as another type fail `init` naming the parameter.
#[test]
fn c_kit_errors_reach_the_host_with_the_rules_words() {
    // (config, command line of the one event, what the case's failures must say)
    let expected: &[(&str, &str, &[&str])] = &[
        (
            "{}",
            "cmd /c FAIL",
            &["faulted 1 times", "asked to fail at seq 1"],
        ),
        (
            "{ label = \"refuse\" }",
            "cmd",
            &["did not start", "label `refuse` is refused"],
        ),
        (
            "{ limit = 500 }",
            "cmd",
            &["`limit` must be between 1 and 100, not 500"],
        ),
        (
            "{ misread = true }",
            "cmd",
            &["reads parameter `limit` as a text, but its info declares an integer"],
        ),
    ];
    for (config, cmd, words) in expected {
        let failures = probe_failures(&format!(
            "[[case]]\nname = \"error\"\nconfig = {config}\n{}findings = 0\n",
            ONE_EVENT.replace("%CMD%", cmd)
        ));
        assert!(
            failures.iter().any(|f| words.iter().all(|w| f.contains(w))),
            "{config} {cmd}: {failures:?}"
        );
    }
}

/// A C rule that calls libc's printf links stdio, which imports WASI; `yagura rule build`
/// refuses it, naming the imports and what to use instead. One without `yagura_rule` gets the
/// definition to add.
#[test]
fn c_rules_that_cannot_be_components_are_refused_with_the_fix() {
    let tmp = tempfile::tempdir().expect("a temp dir");
    let dir = tmp.path().join("printf-c");
    let dir_arg = dir.display().to_string();
    rule(&["new", "--lang", "c", "printf-c", "--dir", &dir_arg]);
    let source = dir.join("rule.c");
    let text = std::fs::read_to_string(&source).expect("rule.c");
    let with_printf = text.replace(
        "#include \"yagura.h\"",
        "#include \"yagura.h\"\n#include <stdio.h>",
    );
    let with_printf = with_printf.replace(
        "  (void)err;\n  yg_name_set_init",
        "  (void)err;\n  printf(\"init\\n\");\n  yg_name_set_init",
    );
    assert_ne!(with_printf, text, "the template changed: update this test");
    std::fs::write(&source, with_printf).expect("write rule.c");
    let err = build_error(&dir);
    assert!(
        err.contains("wasi_snapshot_preview1::fd_write") && err.contains("yg_log"),
        "{err}"
    );

    let without_rule = text.replace("const yg_rule yagura_rule =", "const yg_rule other_rule =");
    std::fs::write(&source, without_rule).expect("write rule.c");
    let err = build_error(&dir);
    assert!(
        err.contains("undefined symbol: yagura_rule") && err.contains("hint: the rule must define"),
        "{err}"
    );
}

fn build_error(dir: &Path) -> String {
    use clap::Parser;
    use yagura::cli::{Cli, Command as Cmd, RuleCommand};
    let dir_arg = dir.display().to_string();
    let argv = ["yagura", "rule", "build", "--quiet", &dir_arg];
    let Cmd::Rule(RuleCommand::Build(args)) = Cli::try_parse_from(argv).expect("parses").command
    else {
        panic!("a build command");
    };
    match args.run(&mut Vec::new()) {
        Ok(path) => panic!("{} was built", path.display()),
        Err(e) => format!("{e:#}"),
    }
}

/// examples/pack.toml: the core rules and office-spawns-shell in Rust, Python, JavaScript and
/// C build into one signed pack that verifies, and every rule's cases pass inside it.
#[test]
fn the_four_languages_pack_with_the_core_rules() {
    office(); // the C component the manifest names
    let key = SecretKey::generate().expect("a key");
    let mut bundle = Bundle::build(&root().join("examples/pack.toml")).unwrap_or_else(|e| {
        panic!("{e:#}\n(the Rust, Python and JS components come from `cargo xtask build-rules`)")
    });
    bundle.sign(&key);
    let bytes = bundle.to_bytes().expect("bytes");
    let read = Bundle::from_bytes(&bytes, "languages.ypack").expect("reads");
    let trust = Trust {
        keys: vec![key.public()],
        allow_unsigned: false,
    };
    assert!(matches!(
        read.verify(&trust, "languages.ypack").expect("verifies"),
        SignatureStatus::Trusted(_)
    ));
    let ids: Vec<&str> = read.manifest.rules.iter().map(|r| r.id.as_str()).collect();
    assert_eq!(
        ids,
        [
            "lateral-movement",
            "emotet-macro-chain",
            "scan-detection",
            "office-spawns-shell",
            "py-office-spawns-shell",
            "js-office-spawns-shell",
            "c-office-spawns-shell",
        ]
    );
    let results = yagura::pack::run_cases(&read, sandbox(), "languages.ypack").expect("cases run");
    assert_eq!(results.len(), 7);
    for rule in &results {
        assert_eq!(rule.failed().count(), 0, "{}", rule.rule);
    }
    let office_cases: usize = results[3..].iter().map(|r| r.results.len()).sum();
    assert_eq!(office_cases, 16, "four cases in each language");
}
