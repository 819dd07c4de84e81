//! The engine: events reach rules converted faithfully, in event-time order, only of the
//! classes they subscribed to, with watermarks; state carries across batches.

use yagura::EngineOptions;
use yagura_tests::{context, events, instance, run, run_with};

const PROCESS: &str = r#"{"time":"2024-05-01T10:00:02Z","class":"process","activity":"create","outcome":"success",
  "device":{"hostname":"WS01"},"actor":{"user":{"name":"alice","domain":"CORP"}},
  "process":{"pid":42,"image":"C:\\Windows\\System32\\cmd.exe","cmd_line":"cmd.exe /c whoami","parent_image":"C:\\Office\\WINWORD.EXE"}}"#;
const FLOW: &str = r#"{"time":"2024-05-01T10:00:01Z","class":"network","activity":"traffic",
  "src":{"ip":"10.0.0.66","port":40000},"dst":{"ip":"fe80::1","port":445},"network":{"transport":"tcp","disposition":"rejected"}}"#;
const LOGON: &str = r#"{"time":"2024-05-01T10:00:00Z","class":"authentication","activity":"logon","outcome":"failure","device":{"hostname":"DC01"}}"#;

fn one_line(json: &str) -> String {
    json.split_whitespace().collect::<Vec<_>>().join(" ") + "\n"
}

#[test]
fn every_field_reaches_the_rule_as_sent() {
    let input = events(&(one_line(PROCESS) + &one_line(FLOW)));
    let run = run(vec![instance("probe", &[])], input);
    let seen: Vec<_> = run
        .of("probe")
        .into_iter()
        .filter(|f| f.title == "event")
        .collect();
    assert_eq!(seen.len(), 2);
    // the flow is earlier in event time: it comes first, whatever the input order
    let (flow, process) = (seen[0], seen[1]);
    assert_eq!(context(flow, "class"), Some("network"));
    assert_eq!(context(flow, "src"), Some("10.0.0.66:40000"));
    assert_eq!(context(flow, "dst"), Some("[fe80::1]:445"));
    assert_eq!(context(process, "class"), Some("process"));
    assert_eq!(context(process, "activity"), Some("create"));
    assert_eq!(context(process, "outcome"), Some("success"));
    assert_eq!(context(process, "hostname"), Some("WS01"));
    assert_eq!(
        context(process, "image"),
        Some(r"C:\Windows\System32\cmd.exe")
    );
    assert_eq!(context(process, "cmd_line"), Some("cmd.exe /c whoami"));
    assert_eq!(
        context(process, "parent_image"),
        Some(r"C:\Office\WINWORD.EXE")
    );
    assert_eq!(context(process, "user"), Some(r"CORP\alice"));
    assert_eq!(context(process, "time"), Some("1714557602000"));
    assert_eq!(process.evidence, vec![1], "seq is the input ordinal");
}

#[test]
fn events_are_delivered_in_event_time_order_within_the_lateness() {
    // input order: 3 s, 1 s, 2 s, 0 s (all within the default 5 s lateness)
    let times = [3_000, 1_000, 2_000, 0];
    let lines: String = times
        .iter()
        .map(|t| format!(r#"{{"time":{},"class":"dns"}}"#, 1_700_000_000_000i64 + t) + "\n")
        .collect();
    let run = run_with(
        EngineOptions {
            batch_size: 1,
            ..EngineOptions::default()
        },
        vec![instance("probe", &[])],
        events(&lines),
    );
    let order: Vec<&str> = run
        .of("probe")
        .into_iter()
        .filter(|f| f.title == "event")
        .filter_map(|f| context(f, "seq"))
        .collect();
    assert_eq!(order, vec!["4", "2", "3", "1"]);
}

#[test]
fn late_events_are_still_evaluated_and_counted() {
    let mut lines = String::new();
    for t in [0i64, 10_000, 20_000, 30_000, 1_000] {
        lines += &format!(r#"{{"time":{},"class":"dns"}}"#, 1_700_000_000_000 + t);
        lines += "\n";
    }
    let mut engine = yagura::Engine::new(EngineOptions {
        batch_size: 1,
        lateness_ms: 0,
        ..EngineOptions::default()
    });
    engine.add_rule(instance("probe", &[]));
    let mut found = Vec::new();
    let mut sink = |_: &yagura::RuleInfo, f: yagura::Finding| found.push(f);
    for e in events(&lines) {
        engine.push(e, &mut sink);
    }
    engine.flush(&mut sink);
    assert_eq!(engine.stats().late_events, 1);
    let evaluated = found.iter().filter(|f| f.title == "event").count();
    assert_eq!(evaluated, 5, "the late event is evaluated too");
}

#[test]
fn rules_receive_only_the_classes_they_subscribed_to() {
    let input = events(&(one_line(PROCESS) + &one_line(FLOW) + &one_line(LOGON)));
    let run = run(
        vec![
            instance("office-spawns-shell", &[]),
            instance("vertical-port-scan", &[]),
            instance("py-failed-logon-burst", &[]),
            instance("probe", &[]),
        ],
        input,
    );
    assert_eq!(run.stats("office-spawns-shell").events_in, 1);
    assert_eq!(run.stats("vertical-port-scan").events_in, 1);
    assert_eq!(run.stats("py-failed-logon-burst").events_in, 1);
    assert_eq!(run.stats("probe").events_in, 3);
    assert_eq!(
        run.of("office-spawns-shell").len(),
        1,
        "WINWORD.EXE started cmd.exe"
    );
}

#[test]
fn host_state_carries_across_batches_and_ticks_follow_the_watermark() {
    let lines: String = (0..30)
        .map(|i| {
            format!(
                r#"{{"time":{},"class":"dns"}}"#,
                1_700_000_000_000i64 + i * 1_000
            ) + "\n"
        })
        .collect();
    let run = run_with(
        EngineOptions {
            batch_size: 4,
            ..EngineOptions::default()
        },
        vec![instance("probe", &[])],
        events(&lines),
    );
    let totals: Vec<&str> = run
        .of("probe")
        .into_iter()
        .filter(|f| f.title == "event")
        .filter_map(|f| context(f, "total"))
        .collect();
    let expected: Vec<String> = (1..=30).map(|n| n.to_string()).collect();
    assert_eq!(
        totals, expected,
        "the host counter continues from batch to batch"
    );

    let ticks: Vec<i64> = run
        .of("probe")
        .into_iter()
        .filter(|f| f.title == "tick")
        .filter_map(|f| context(f, "watermark")?.parse().ok())
        .collect();
    assert!(
        ticks.windows(2).all(|w| w[0] < w[1]),
        "watermarks only move on: {ticks:?}"
    );
    assert_eq!(
        ticks.last(),
        Some(&(1_700_000_000_000 + 29_000)),
        "a last tick at the end"
    );
    assert!(
        ticks.len() >= 3,
        "a tick every 10 s of event time: {ticks:?}"
    );
}

#[test]
fn a_batch_closes_at_its_byte_budget() {
    // 8 events of ~64 KiB text each, a 128 KiB budget: batches of 2 events, not 8
    let big = "x".repeat(64 << 10);
    let lines: String = (0..8)
        .map(|i| {
            format!(
                r#"{{"time":{},"class":"dns","query":{{"name":"{big}"}}}}"#,
                1_700_000_000_000i64 + i
            ) + "\n"
        })
        .collect();
    let run = run_with(
        EngineOptions {
            max_batch_bytes: 128 << 10,
            ..EngineOptions::default()
        },
        vec![instance("noop", &[])],
        events(&lines),
    );
    let stats = run.stats("noop");
    assert_eq!(stats.events_in, 8);
    let event_calls = stats.calls - 2; // minus the ticks (one after the first batch, one at the end)
    assert_eq!(event_calls, 4, "{stats:?}");
}
