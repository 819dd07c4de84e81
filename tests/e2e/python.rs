//! The contract is language-neutral: a Python rule (componentize-py --stub-wasi) runs in the
//! same host, reads typed events and text spans, and keeps its counts in host state.

use yagura::{EngineOptions, Value};
use yagura_tests::{context, events, instance, run_with};

const RULE: &str = "py-failed-logon-burst";

/// `n` failed network logons from `src` to DC01, `gap_ms` apart, starting at `t0`.
fn failures(src: &str, n: usize, t0: i64, gap_ms: i64) -> String {
    (0..n)
        .map(|i| {
            format!(
                r#"{{"time":{},"class":"authentication","activity":"logon","outcome":"failure","device":{{"hostname":"DC01"}},"user":{{"name":"user{i}"}},"src":{{"ip":"{src}"}},"auth":{{"logon_type":3}}}}"#,
                t0 + i as i64 * gap_ms
            ) + "\n"
        })
        .collect()
}

fn small_batches() -> EngineOptions {
    // two events per call: the count must live in host state, across calls
    EngineOptions {
        batch_size: 2,
        ..EngineOptions::default()
    }
}

#[test]
fn a_burst_of_failures_from_one_source_gives_one_finding() {
    let input = events(&failures("10.0.0.66", 8, 1_700_000_000_000, 1_000));
    let run = run_with(small_batches(), vec![instance(RULE, &[])], input);
    let found = run.of(RULE);
    assert_eq!(found.len(), 1, "{found:#?}");
    let f = found[0];
    assert_eq!(
        f.evidence,
        vec![5],
        "the fifth failure crosses the default threshold of 5"
    );
    assert_eq!(context(f, "count"), Some("5"));
    assert!(
        f.entities.iter().any(|e| e.value == "10.0.0.66"),
        "{:?}",
        f.entities
    );
    assert!(
        f.entities.iter().any(|e| e.value == "DC01"),
        "text spans decode: {:?}",
        f.entities
    );
    assert_eq!(f.techniques, vec!["T1110".to_string()]);
    assert_eq!(run.stats(RULE).faults, 0);
}

#[test]
fn failures_spread_wider_than_the_window_do_not_fire() {
    // 8 failures, 2 minutes apart: never 5 within 300 s
    let input = events(&failures("10.0.0.66", 8, 1_700_000_000_000, 120_000));
    let run = run_with(small_batches(), vec![instance(RULE, &[])], input);
    assert!(run.of(RULE).is_empty(), "{:#?}", run.of(RULE));
}

#[test]
fn the_threshold_is_per_tenant_config() {
    let input = events(&failures("10.0.0.7", 3, 1_700_000_000_000, 1_000));
    let run = run_with(
        small_batches(),
        vec![instance(RULE, &[("threshold", Value::Integer(3))])],
        input,
    );
    assert_eq!(run.of(RULE).len(), 1);
    let component = yagura_tests::load(RULE);
    let err = component
        .instantiate(&[("threshold".into(), Value::Integer(0))])
        .expect_err("init refuses 0");
    assert!(err.to_string().contains("threshold"), "{err}");
}
