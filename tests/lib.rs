//! Helpers for Yagura's end-to-end tests: the built rule components, a shared sandbox, and
//! a small driver that runs events through rules and collects the findings.
//!
//! The components come from `cargo xtask build-rules` (the README's test command runs it
//! first); a missing one fails the test with that instruction.

use std::path::PathBuf;
use std::sync::OnceLock;
use std::time::Duration;

use yagura::engine::{Engine, EngineOptions, RuleStats};
use yagura::event::{Event, parse_event};
use yagura::finding::Finding;
use yagura::rule::Value;
use yagura::sandbox::{Limits, RuleComponent, RuleInstance, Sandbox};

/// The workspace root.
pub fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("tests/ sits in the workspace root")
        .to_path_buf()
}

/// Where `cargo xtask build-rules` writes components (`YAGURA_RULES_DIR` overrides).
pub fn rules_dir() -> PathBuf {
    std::env::var_os("YAGURA_RULES_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| root().join("target").join("rules"))
}

/// The limits of the tests' sandbox: the defaults with a per-call deadline no slow machine
/// reaches (a debug build, an emulator, a sanitizer; load does not count, the deadline being
/// CPU time), so that only the tests of the deadline itself — with a rule that never returns
/// — see it fire.
pub fn test_limits() -> Limits {
    Limits {
        call_deadline: Duration::from_secs(60),
        ..Limits::default()
    }
}

/// One sandbox for the whole test binary, with a compiled-artifact cache under target/ so
/// that the Python component is compiled once, not once per test.
pub fn sandbox() -> &'static Sandbox {
    static SANDBOX: OnceLock<Sandbox> = OnceLock::new();
    SANDBOX.get_or_init(|| {
        Sandbox::builder()
            .limits(test_limits())
            .cache_dir(root().join("target").join("yagura-test-cache"))
            .build()
            .expect("the sandbox starts")
    })
}

/// Reads a built component's bytes: a rule of `rules/` or `examples/`, or a test fixture
/// of `tests/rules/` (built into `fixtures/`).
pub fn component_bytes(name: &str) -> Vec<u8> {
    let dir = rules_dir();
    let fixture = dir.join("fixtures").join(format!("{name}.wasm"));
    let path = if fixture.exists() {
        fixture
    } else {
        dir.join(format!("{name}.wasm"))
    };
    std::fs::read(&path).unwrap_or_else(|e| {
        panic!(
            "cannot read {}: {e}. Build the rule components first: `cargo xtask build-rules` \
             (or run the whole suite with `cargo xtask test`)",
            path.display()
        )
    })
}

/// Loads a built component into the shared sandbox.
pub fn load(name: &str) -> RuleComponent {
    sandbox()
        .load(&component_bytes(name), name)
        .unwrap_or_else(|e| panic!("{name} loads: {e}"))
}

/// Instantiates a built rule with parameter overrides (`("threshold", Value::Integer(3))`).
pub fn instance(name: &str, config: &[(&str, Value)]) -> RuleInstance {
    instance_with(name, config, sandbox().limits())
}

/// As [`instance`], with limits of its own.
pub fn instance_with(name: &str, config: &[(&str, Value)], limits: Limits) -> RuleInstance {
    let config: Vec<(String, Value)> = config
        .iter()
        .map(|(k, v)| ((*k).to_owned(), v.clone()))
        .collect();
    load(name)
        .instantiate_with(&config, limits)
        .unwrap_or_else(|e| panic!("{name} instantiates: {e}"))
}

/// Parses NDJSON text (one normalized event per non-blank line).
pub fn events(ndjson: &str) -> Vec<Event> {
    ndjson
        .lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| parse_event(l).unwrap_or_else(|e| panic!("fixture line `{l}`: {e}")))
        .collect()
}

/// What a run produced.
#[derive(Debug)]
pub struct Run {
    pub findings: Vec<Finding>,
    pub stats: Vec<(String, RuleStats)>,
}

impl Run {
    /// Findings of one rule.
    pub fn of(&self, rule: &str) -> Vec<&Finding> {
        self.findings.iter().filter(|f| f.rule_id == rule).collect()
    }

    /// Counters of one rule.
    pub fn stats(&self, rule: &str) -> &RuleStats {
        &self
            .stats
            .iter()
            .find(|(id, _)| id == rule)
            .unwrap_or_else(|| panic!("rule {rule} ran"))
            .1
    }
}

/// Runs events through rule instances with the given engine options and collects findings.
pub fn run_with(options: EngineOptions, rules: Vec<RuleInstance>, input: Vec<Event>) -> Run {
    let mut engine = Engine::new(options);
    for rule in rules {
        engine.add_rule(rule);
    }
    let mut findings = Vec::new();
    let mut sink = |info: &yagura::rule::RuleInfo, f: Finding| {
        keep_ocsf([f.to_ocsf(&info.name)]);
        findings.push(f);
    };
    for event in input {
        engine.push(event, &mut sink);
    }
    engine.flush(&mut sink);
    let stats = engine
        .rule_stats()
        .map(|(info, s)| (info.id.clone(), s.clone()))
        .collect();
    Run { findings, stats }
}

/// Keeps OCSF findings for the schema check: with `YAGURA_OCSF_OUT` set (`cargo xtask test`
/// sets it), appends them as lines to `<that folder>/<the test's name>.jsonl`, which
/// `scripts/ocsf_check.py` then validates against the official OCSF schema. Without it, nothing.
pub fn keep_ocsf(findings: impl IntoIterator<Item = serde_json::Value>) {
    use std::io::Write as _;
    let Some(dir) = std::env::var_os("YAGURA_OCSF_OUT") else {
        return;
    };
    let dir = PathBuf::from(dir);
    std::fs::create_dir_all(&dir).expect("YAGURA_OCSF_OUT can be created");
    let test = std::thread::current()
        .name()
        .unwrap_or("unnamed")
        .replace("::", ".");
    let mut text = String::new();
    for finding in findings {
        text.push_str(&finding.to_string());
        text.push('\n');
    }
    if text.is_empty() {
        return;
    }
    let mut file = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(dir.join(format!("{test}.jsonl")))
        .expect("YAGURA_OCSF_OUT is writable");
    file.write_all(text.as_bytes())
        .expect("YAGURA_OCSF_OUT is writable");
}

/// Runs with the default engine options.
pub fn run(rules: Vec<RuleInstance>, input: Vec<Event>) -> Run {
    run_with(EngineOptions::default(), rules, input)
}

/// The value of a finding's context key.
pub fn context<'a>(finding: &'a Finding, key: &str) -> Option<&'a str> {
    finding
        .context
        .iter()
        .find(|(k, _)| k == key)
        .map(|(_, v)| v.as_str())
}
