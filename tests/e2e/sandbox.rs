//! The sandbox holds: refused imports, and hostile rules that trap, loop, allocate without
//! end, flood findings or fail, while the other rules carry on.

use std::time::Duration;

use yagura::sandbox::{FaultKind, Limits, SandboxError};
use yagura::{EngineOptions, Value};
use yagura_tests::{events, instance, instance_with, run, run_with, sandbox};

/// Ten process events, one second apart.
fn ten_events() -> Vec<yagura::Event> {
    let lines: String = (0..10)
        .map(|i| {
            format!(
                r#"{{"time":{},"class":"process","activity":"create","device":{{"hostname":"WS{i:02}"}}}}"#,
                1_700_000_000_000i64 + i * 1000
            ) + "\n"
        })
        .collect();
    events(&lines)
}

fn text(s: &str) -> Value {
    Value::Text(s.to_owned())
}

fn faults(run: &yagura_tests::Run, rule: &str, kind: FaultKind) -> u64 {
    run.stats(rule)
        .faults_by_kind
        .iter()
        .find(|(k, _)| *k == kind)
        .map_or(0, |(_, n)| *n)
}

#[test]
fn a_component_importing_wasi_is_refused_naming_the_import() {
    let wat = r#"(component
        (import "wasi:cli/environment@0.2.0" (instance
            (export "get-arguments" (func (result (list string))))))
    )"#;
    let err = sandbox()
        .load(wat.as_bytes(), "wasi-rule.wasm")
        .expect_err("WASI must be refused");
    assert!(
        matches!(err, SandboxError::ForbiddenImport { .. }),
        "{err:?}"
    );
    let msg = err.to_string();
    assert!(
        msg.starts_with("wasi-rule.wasm: imports `wasi:cli/environment@0.2.0`"),
        "{msg}"
    );
    assert!(
        msg.contains("--stub-wasi"),
        "the message says how to fix the build: {msg}"
    );
}

#[test]
fn a_component_built_for_another_wit_major_is_refused() {
    let wat = r#"(component
        (import "yagura:detection/state@1.0.0" (instance
            (export "remove" (func (param "key" string)))))
    )"#;
    let msg = sandbox()
        .load(wat.as_bytes(), "future.wasm")
        .expect_err("another major must be refused")
        .to_string();
    assert!(
        msg.contains("built against yagura:detection@1.0.0"),
        "{msg}"
    );
    assert!(
        msg.contains("this host runs yagura:detection@0.1.0"),
        "{msg}"
    );
}

#[test]
fn bytes_that_are_not_a_component_are_refused() {
    let msg = sandbox()
        .load(b"\0asm\x01\0\0\0", "core-module.wasm")
        .expect_err("a core module is not a rule")
        .to_string();
    assert!(
        msg.starts_with("core-module.wasm: not a valid rule component"),
        "{msg}"
    );
}

#[test]
fn a_trapping_rule_does_not_stop_the_others() {
    let rules = vec![
        instance("hostile", &[("mode", text("trap"))]),
        instance("probe", &[]),
    ];
    let run = run_with(
        EngineOptions {
            batch_size: 2,
            ..EngineOptions::default()
        },
        rules,
        ten_events(),
    );
    assert_eq!(
        run.of("probe")
            .iter()
            .filter(|f| f.title == "event")
            .count(),
        10
    );
    assert!(
        run.of("hostile").is_empty(),
        "a trapped call's findings are dropped"
    );
    assert_eq!(
        faults(&run, "hostile", FaultKind::Trap),
        5,
        "one trap per batch of 2"
    );
    let last = run
        .stats("hostile")
        .last_fault
        .clone()
        .expect("a fault is kept");
    assert!(last.reason.starts_with("trapped"), "{}", last.reason);
    assert!(
        last.reason
            .contains("rule panicked at tests/rules/hostile/src/lib.rs:")
            && last.reason.contains(": hostile rule: trap mode after"),
        "the SDK's panic hook logs the message and the fault quotes it: {}",
        last.reason
    );
    assert_eq!(run.stats("probe").faults, 0);
}

#[test]
fn an_infinite_loop_is_stopped_by_the_deadline() {
    let limits = Limits {
        call_deadline: Duration::from_millis(50),
        ..sandbox().limits()
    };
    let rules = vec![
        instance_with("hostile", &[("mode", text("loop"))], limits),
        instance("probe", &[]),
    ];
    let run = run(rules, ten_events());
    assert_eq!(
        faults(&run, "hostile", FaultKind::Timeout),
        1,
        "one batch, one timeout"
    );
    let reason = run
        .stats("hostile")
        .last_fault
        .clone()
        .expect("fault")
        .reason;
    assert!(reason.contains("deadline"), "{reason}");
    assert_eq!(
        run.of("probe")
            .iter()
            .filter(|f| f.title == "event")
            .count(),
        10
    );
}

#[test]
fn a_memory_bomb_is_stopped_by_the_limit() {
    let limits = Limits {
        memory_bytes: 16 << 20,
        ..sandbox().limits()
    };
    let rules = vec![
        instance_with("hostile", &[("mode", text("alloc"))], limits),
        instance("probe", &[]),
    ];
    let run = run(rules, ten_events());
    assert_eq!(faults(&run, "hostile", FaultKind::MemoryLimit), 1);
    let reason = run
        .stats("hostile")
        .last_fault
        .clone()
        .expect("fault")
        .reason;
    assert!(reason.contains("memory limit of 16 MiB"), "{reason}");
    assert_eq!(
        run.of("probe")
            .iter()
            .filter(|f| f.title == "event")
            .count(),
        10
    );
}

#[test]
fn a_flood_of_findings_is_cut_at_the_cap() {
    let limits = Limits {
        max_findings_per_call: 500,
        ..sandbox().limits()
    };
    let flood = [
        ("mode", text("flood")),
        ("flood_findings", Value::Integer(2_000)),
    ];
    let rules = vec![instance_with("hostile", &flood, limits)];
    let capped = run(rules, ten_events());
    let stats = capped.stats("hostile");
    // one batch, so one call floods (ticks do not)
    assert_eq!(capped.of("hostile").len(), 500);
    assert_eq!(stats.findings_dropped, 2_000 - 500);
    assert_eq!(stats.faults, 0, "a capped call is not a fault");

    // the byte cap: 1 KiB descriptions, 256 KiB allowed
    let limits = Limits {
        max_output_bytes_per_call: 256 << 10,
        ..sandbox().limits()
    };
    let rules = vec![instance_with("hostile", &flood, limits)];
    let kept = run(rules, ten_events()).of("hostile").len();
    assert!(
        (200..256).contains(&kept),
        "kept {kept} findings of ~1.1 KiB under 256 KiB"
    );
}

#[test]
fn a_flood_past_the_memory_limit_is_a_fault_not_a_crash() {
    // 100 000 findings of 1 KiB do not fit in 64 MiB: the guest runs out before returning
    let rules = vec![instance("hostile", &[("mode", text("flood"))])];
    let run = run(rules, ten_events());
    assert!(run.of("hostile").is_empty());
    assert_eq!(faults(&run, "hostile", FaultKind::MemoryLimit), 1);
}

#[test]
fn a_rule_error_is_counted_and_its_findings_dropped() {
    let rules = vec![instance("hostile", &[("mode", text("error"))])];
    let run = run(rules, ten_events());
    assert!(run.of("hostile").is_empty());
    assert!(faults(&run, "hostile", FaultKind::RuleError) >= 1);
}

#[test]
fn a_fresh_instance_after_a_trap_keeps_the_host_state() {
    // The rule counts events in host state and traps once it has seen more than 5. If the
    // fresh instance after a trap lost that count, it would answer "ok" again.
    let rules = vec![instance(
        "hostile",
        &[("mode", text("trap")), ("after", Value::Integer(5))],
    )];
    let run = run_with(
        EngineOptions {
            batch_size: 1,
            ..EngineOptions::default()
        },
        rules,
        ten_events(),
    );
    let ok = run.of("hostile").iter().filter(|f| f.title == "ok").count();
    assert_eq!(ok, 5);
    assert_eq!(faults(&run, "hostile", FaultKind::Trap), 5);
}

#[test]
fn init_errors_and_bad_config_name_the_parameter() {
    let component = yagura_tests::load("vertical-port-scan");
    let err = component
        .instantiate(&[("treshold".into(), Value::Integer(3))])
        .expect_err("unknown parameter");
    let msg = err.to_string();
    assert!(
        msg.starts_with("rule `vertical-port-scan`: unknown parameter `treshold`"),
        "{msg}"
    );
    let err = component
        .instantiate(&[("threshold".into(), Value::Text("many".into()))])
        .expect_err("wrong type");
    assert!(
        err.to_string()
            .contains("parameter `threshold` is integer, got text"),
        "{err}"
    );
    let err = component
        .instantiate(&[("threshold".into(), Value::Integer(0))])
        .expect_err("the rule's init refuses 0");
    assert!(matches!(err, SandboxError::Init { .. }), "{err:?}");
    assert!(err.to_string().contains("threshold"), "{err}");
}
