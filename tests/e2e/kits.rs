//! Rule kits (issue 8; the C kit in `kits_c`): `yagura rule new` scaffolds a Rust, a Python and
//! a JavaScript project,
//! `yagura rule build` builds each into a component, and its cases pass in the real host; the
//! Python and JavaScript office-spawns-shell, written with their kits, pass the Rust rule's cases
//! with the same findings; the kits' own unit tests pass; components that import WASI are
//! refused.
//!
//! The Rust build compiles the SDK's dependencies for wasm32 into `target/kits`, shared between
//! runs, so only the first run pays for them.

use std::path::{Path, PathBuf};
use std::process::Command;

use clap::Parser;
use yagura::RuleComponent;
use yagura::cases::{CaseFile, describe};
use yagura::cli::{Cli, Command as Cmd, RuleCommand, run_rule_test};
use yagura_tests::{load, root, sandbox};

/// Runs `yagura rule ARGS…` as the binary parses it; returns what it printed.
pub(crate) fn rule(args: &[&str]) -> (String, Option<PathBuf>) {
    let argv = ["yagura", "rule"].iter().chain(args);
    let command = match Cli::try_parse_from(argv).expect("arguments parse").command {
        Cmd::Rule(command) => command,
        other => panic!("a rule command, got {other:?}"),
    };
    let mut out = Vec::new();
    let path = match &command {
        RuleCommand::New(a) => Some(a.run(&mut out).unwrap_or_else(|e| panic!("{e:#}"))),
        RuleCommand::Build(a) => Some(a.run(&mut out).unwrap_or_else(|e| panic!("{e:#}"))),
        RuleCommand::Test(a) => {
            let report = run_rule_test(a, &mut out).unwrap_or_else(|e| panic!("{e:#}"));
            let text = String::from_utf8_lossy(&out);
            assert_eq!(report.failed, 0, "{text}");
            None
        }
    };
    (String::from_utf8(out).expect("utf-8"), path)
}

/// Every case of `cases` passes on `component`.
pub(crate) fn assert_cases_pass(cases: &Path, component: &Path) {
    let bytes = std::fs::read(component).expect("the component");
    let component = sandbox()
        .load(&bytes, &component.display().to_string())
        .unwrap_or_else(|e| panic!("{e}"));
    let file = CaseFile::load(cases).unwrap_or_else(|e| panic!("{e:#}"));
    let results = file.run(&component).unwrap_or_else(|e| panic!("{e:#}"));
    assert_eq!(results.len(), 2, "a positive and a negative case");
    for r in &results {
        assert!(r.passed(), "{}: {}", r.name, r.explain());
    }
    assert_eq!(results[0].findings.len(), 1);
    assert!(results[1].findings.is_empty());
}

/// Scaffolds a project of `lang` named `name` in a temp dir and builds it.
pub(crate) fn scaffold_and_build(
    lang: &str,
    name: &str,
    build_args: &[&str],
) -> (tempfile::TempDir, PathBuf) {
    let tmp = tempfile::tempdir().expect("a temp dir");
    let dir = tmp.path().join(name);
    let dir_arg = dir.display().to_string();
    let (said, _) = rule(&["new", "--lang", lang, name, "--dir", &dir_arg]);
    assert!(said.contains("yagura rule build"), "{said}");
    let mut args = vec!["build", "--quiet"];
    args.extend_from_slice(build_args);
    args.push(&dir_arg);
    let (said, component) = rule(&args);
    let component = component.expect("a component path");
    assert_eq!(component, dir.join("target").join(format!("{name}.wasm")));
    assert!(said.starts_with("built "), "{said}");
    (tmp, component)
}

#[test]
fn a_scaffolded_python_rule_builds_and_passes_its_cases() {
    let (tmp, component) = scaffold_and_build("python", "kit-py", &[]);
    let dir = tmp.path().join("kit-py");
    assert_cases_pass(&dir.join("cases.toml"), &component);
    // and through `yagura rule test`, as the user runs it
    let rules = component.display().to_string();
    let cases = dir.join("cases.toml").display().to_string();
    let cache = root().join("target").join("yagura-test-cache");
    let (said, _) = rule(&[
        "test",
        "--rules",
        &rules,
        "--cache",
        &cache.display().to_string(),
        &cases,
    ]);
    assert!(said.ends_with("cases: 2 passed, 0 failed\n"), "{said}");
}

#[test]
fn a_scaffolded_rust_rule_builds_and_passes_its_cases() {
    let target = root().join("target").join("kits");
    let (tmp, component) = scaffold_and_build(
        "rust",
        "kit-rs",
        &["--target-dir", &target.display().to_string()],
    );
    assert_cases_pass(&tmp.path().join("kit-rs").join("cases.toml"), &component);
}

/// The cases files of office-spawns-shell are one set of cases: the same text after the
/// `rule = …` line, on byte-identical copies of the events files (each example keeps its own
/// copy so that it packs with its cases).
#[test]
fn the_office_cases_are_shared_by_every_language() {
    let body = |dir: &str| {
        let text = std::fs::read_to_string(root().join(dir).join("cases.toml")).expect("cases");
        let start = text.find("\n[[case]]").expect("cases");
        text[start..].to_owned()
    };
    let events = |dir: &str| {
        let mut files: Vec<(String, Vec<u8>)> = std::fs::read_dir(root().join(dir).join("cases"))
            .expect("the events folder")
            .map(|e| {
                let path = e.expect("an entry").path();
                let name = path
                    .file_name()
                    .expect("a name")
                    .to_string_lossy()
                    .into_owned();
                (name, std::fs::read(&path).expect("an events file"))
            })
            .collect();
        files.sort();
        files
    };
    let rust = "rules/office-spawns-shell";
    for example in [
        "examples/python/office-spawns-shell",
        "examples/js/office-spawns-shell",
        "examples/c/office-spawns-shell",
    ] {
        assert_eq!(
            body(rust),
            body(example),
            "keep the [[case]] tables of {rust} and {example} identical"
        );
        assert_eq!(
            events(rust),
            events(example),
            "keep the events of {example}/cases those of {rust}/cases"
        );
    }
}

/// Runs a cases file on a built rule; every case passes. Returns each case's name and the
/// findings it reported, described.
pub(crate) fn run_cases(cases: &str, rule: &str) -> Vec<(String, Vec<String>)> {
    run_cases_on(cases, &load(rule))
}

/// [`run_cases`] on a loaded component.
pub(crate) fn run_cases_on(cases: &str, component: &RuleComponent) -> Vec<(String, Vec<String>)> {
    let file = CaseFile::load(&root().join(cases)).unwrap_or_else(|e| panic!("{e:#}"));
    let results = file.run(component).unwrap_or_else(|e| panic!("{e:#}"));
    let rule = &component.info().id;
    for r in &results {
        assert!(r.passed(), "{rule}: {}: {}", r.name, r.explain());
    }
    results
        .iter()
        .map(|r| {
            let found: Vec<String> = r
                .findings
                .iter()
                .map(|f| format!("{} evidence {:?} time {}", describe(f), f.evidence, f.time))
                .collect();
            (r.name.clone(), found)
        })
        .collect()
}

/// The Python office-spawns-shell (built by `cargo xtask build-rules` with the kit) passes the
/// shared cases and reports exactly what the Rust rule reports, case by case.
#[test]
fn python_office_spawns_shell_matches_the_rust_rule() {
    let rust = run_cases(
        "rules/office-spawns-shell/cases.toml",
        "office-spawns-shell",
    );
    let python = run_cases(
        "examples/python/office-spawns-shell/cases.toml",
        "py-office-spawns-shell",
    );
    assert_eq!(rust.len(), 4);
    assert_eq!(rust, python);
}

/// The JavaScript office-spawns-shell (built by `cargo xtask build-rules` with componentize-js
/// and the kit) passes the shared cases and reports exactly what the Rust rule reports: the
/// same titles, entities, context and dedup keys, and the same evidence `seq`s and times
/// through the kit's BigInt handling.
#[test]
fn js_office_spawns_shell_matches_the_rust_rule() {
    let rust = run_cases(
        "rules/office-spawns-shell/cases.toml",
        "office-spawns-shell",
    );
    let js = run_cases(
        "examples/js/office-spawns-shell/cases.toml",
        "js-office-spawns-shell",
    );
    assert_eq!(rust.len(), 4);
    assert_eq!(rust, js);
}

/// The JavaScript office-spawns-shell imports only the Yagura world (the sandbox refuses any
/// other import at load): the kit's build script disables componentize-js's WASI-needing
/// features. Its `info` comes through the kit's plain objects.
#[test]
fn the_js_component_imports_only_the_yagura_world() {
    let component = load("js-office-spawns-shell");
    assert_eq!(component.info().id, "js-office-spawns-shell");
    assert_eq!(component.info().techniques, ["T1204.002", "T1059"]);
}

/// `yagura rule new --lang js` → `yagura rule build` (componentize-js through sdk/js/build.mjs)
/// → the scaffold's cases pass, in the host and through `yagura rule test`.
#[test]
fn a_scaffolded_js_rule_builds_and_passes_its_cases() {
    let (tmp, component) = scaffold_and_build("js", "kit-js", &[]);
    let dir = tmp.path().join("kit-js");
    assert_cases_pass(&dir.join("cases.toml"), &component);
    let rules = component.display().to_string();
    let cases = dir.join("cases.toml").display().to_string();
    let cache = root().join("target").join("yagura-test-cache");
    let (said, _) = rule(&[
        "test",
        "--rules",
        &rules,
        "--cache",
        &cache.display().to_string(),
        "--verbose",
        &cases,
    ]);
    assert!(said.ends_with("cases: 2 passed, 0 failed\n"), "{said}");
    assert!(
        said.contains("- \"powershell.exe ran an encoded command\" severity medium"),
        "{said}"
    );
}

/// The kit's own unit tests (sdk/python/tests), in plain CPython.
#[test]
fn the_python_kit_unit_tests_pass() {
    assert_script_passes("python3", "sdk/python/tests/test_kit.py");
}

/// The JavaScript kit's own unit tests (sdk/js/tests), in plain Node.js with the host's
/// imports faked.
#[test]
fn the_js_kit_unit_tests_pass() {
    assert_script_passes("node", "sdk/js/tests/test_kit.mjs");
}

/// `interpreter SCRIPT` (relative to the root) exits 0; its output is the failure message.
fn assert_script_passes(interpreter: &str, script: &str) {
    let out = Command::new(interpreter)
        .arg(root().join(script))
        .output()
        .unwrap_or_else(|e| panic!("{interpreter} runs: {e}"));
    assert!(
        out.status.success(),
        "{}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

/// A Python component built without `--stub-wasi` imports WASI; the host refuses it, naming
/// the import and the flag that fixes the build.
#[test]
fn a_python_rule_built_without_stub_wasi_is_refused_with_the_fix() {
    let tmp = tempfile::tempdir().expect("a temp dir");
    let dir = tmp.path().join("wasi-py");
    let dir_arg = dir.display().to_string();
    rule(&["new", "--lang", "python", "wasi-py", "--dir", &dir_arg]);
    let wasm = tmp.path().join("wasi-py.wasm");
    let out = Command::new("componentize-py")
        .arg("-d")
        .arg(root().join("wit"))
        .args(["-w", "detection-rule", "componentize", "-p"])
        .arg(root().join("sdk/python"))
        .arg("-p")
        .arg(&dir)
        .args(["app", "-o"])
        .arg(&wasm)
        .output()
        .expect("componentize-py runs");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let bytes = std::fs::read(&wasm).expect("the component");
    let err = match sandbox().load(&bytes, "wasi-py.wasm") {
        Ok(_) => panic!("a component importing WASI was accepted"),
        Err(e) => e.to_string(),
    };
    assert!(
        err.starts_with("wasi-py.wasm: imports `wasi:") && err.contains("--stub-wasi"),
        "{err}"
    );
}

/// A JavaScript component built with componentize-js's default features imports WASI (stdio,
/// clocks, random…); the host refuses it at load, naming the import. `sdk/js/build.mjs`, which
/// disables those features, is what makes the other JavaScript tests load.
#[test]
fn a_js_rule_built_with_wasi_features_is_refused() {
    let tmp = tempfile::tempdir().expect("a temp dir");
    let app = tmp.path().join("app.js");
    std::fs::write(
        &app,
        "export const rule = { info() { return { id: 'wasi-js', name: 'w', description: '', \
         version: '0.1.0', severity: 'low', techniques: [], subscriptions: ['process'], \
         params: [] }; }, init() {}, onEvents() { console.log('x'); return []; }, \
         onTick() { return []; } };\n",
    )
    .expect("write app.js");
    let wasm = tmp.path().join("wasi-js.wasm");
    let componentize =
        root().join("sdk/js/node_modules/@bytecodealliance/componentize-js/src/componentize.js");
    assert!(
        componentize.is_file(),
        "componentize-js is not installed in sdk/js: run `cargo xtask build-rules` (it runs \
         `npm ci` there) before the tests"
    );
    let script = format!(
        "import {{ componentize }} from {componentize:?}; import {{ writeFile }} from 'node:fs/promises'; \
         const {{ component }} = await componentize({{ sourcePath: {app:?}, witPath: {wit:?}, \
         worldName: 'detection-rule' }}); await writeFile({wasm:?}, component);",
        componentize = componentize.display().to_string(),
        app = app.display().to_string(),
        wit = root().join("wit/types.wit").display().to_string(),
        wasm = wasm.display().to_string(),
    );
    let out = Command::new("node")
        .args(["--input-type=module", "-e", &script])
        .output()
        .expect("node runs");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let bytes = std::fs::read(&wasm).expect("the component");
    let err = match sandbox().load(&bytes, "wasi-js.wasm") {
        Ok(_) => panic!("a component importing WASI was accepted"),
        Err(e) => e.to_string(),
    };
    assert!(
        err.starts_with("wasi-js.wasm: imports `wasi:") && err.contains("rules may import only"),
        "{err}"
    );
}
