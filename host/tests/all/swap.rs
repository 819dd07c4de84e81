//! Hot swap (issue 7, first increment): the engine replaces its rule set between two batches,
//! keeping seq, the reorder buffer and the watermark, and hands each rule's host-kept state to
//! its next version; a rule that faults too often is quarantined and can be re-enabled; the
//! server swaps instead of rebuilding the engine.
//!
//! The proofs use the fixture rule `counter` (tests/rules/counter): it counts events in host
//! state and can report every event with its seq, its configuration's `label` and its running
//! total, so a test can see which version evaluated which event, and whether the count went on.
//!
//! Needs the fixture components (`cargo xtask build-rules`; `cargo xtask test` runs it first).

use std::cell::Cell;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::OnceLock;
use std::time::Duration;

use axum::Router;
use axum::body::Body;
use axum::http::{Method, StatusCode};
use serde_json::{Value as Json, json};

use yagura::engine::{Engine, EngineOptions};
use yagura::event::{Event, parse_event};
use yagura::finding::Finding;
use yagura::pack::{Bundle, SecretKey};
use yagura::rule::{RuleInfo, Value};
use yagura::sandbox::{RuleComponent, RuleInstance, Sandbox};
use yagura::server::{App, ServerConfig};

use crate::support::{self, POLLS, call_as, root};

pub(crate) fn fixture_path(name: &str) -> PathBuf {
    let path = root()
        .join("target/rules/fixtures")
        .join(format!("{name}.wasm"));
    assert!(
        path.exists(),
        "{} is missing: run `cargo xtask build-rules` first",
        path.display()
    );
    path
}

fn sandbox() -> &'static Sandbox {
    static SANDBOX: OnceLock<Sandbox> = OnceLock::new();
    SANDBOX.get_or_init(|| {
        Sandbox::builder()
            .limits(support::test_limits())
            .cache_dir(root().join("target/yagura-test-cache"))
            .build()
            .expect("the sandbox starts")
    })
}

fn component(name: &str) -> RuleComponent {
    let bytes = std::fs::read(fixture_path(name)).expect("read the component");
    sandbox()
        .load(&bytes, name)
        .unwrap_or_else(|e| panic!("{name} loads: {e}"))
}

fn instance(name: &str, config: &[(&str, Value)]) -> RuleInstance {
    let config: Vec<(String, Value)> = config
        .iter()
        .map(|(k, v)| ((*k).to_owned(), v.clone()))
        .collect();
    component(name)
        .instantiate(&config)
        .unwrap_or_else(|e| panic!("{name} instantiates: {e}"))
}

/// The counter rule reporting every event, labelled `label`.
fn counter(label: &str, threshold: i64) -> RuleInstance {
    instance(
        "counter",
        &[
            ("label", Value::Text(label.into())),
            ("threshold", Value::Integer(threshold)),
            ("report_each", Value::Boolean(true)),
        ],
    )
}

pub(crate) const T0: i64 = 1_714_557_600_000;

fn event(time: i64, host: &str) -> Event {
    parse_event(&format!(
        r#"{{"time":{time},"class":"process","device":{{"hostname":"{host}"}}}}"#
    ))
    .expect("a valid event")
}

fn ctx<'a>(f: &'a Finding, key: &str) -> &'a str {
    f.context
        .iter()
        .find(|(k, _)| k == key)
        .map(|(_, v)| v.as_str())
        .unwrap_or_else(|| panic!("finding `{}` has no context `{key}`", f.title))
}

fn num(f: &Finding, key: &str) -> u64 {
    ctx(f, key).parse().expect("a number")
}

// ---------------------------------------------------------------------------------------
// engine

#[test]
fn a_counting_rule_keeps_its_window_across_a_swap() {
    let mut engine = Engine::new(EngineOptions {
        batch_size: 2,
        lateness_ms: 2_000,
        ..EngineOptions::default()
    });
    engine.add_rule(counter("a", 10));
    let mut findings: Vec<Finding> = Vec::new();
    let mut sink = |_: &RuleInfo, f: Finding| findings.push(f);
    for i in 0..6 {
        engine.push(event(T0 + i * 1_000, "h1"), &mut sink);
    }
    // events within 2 s of the newest are still buffered: the new version evaluates them
    let report = engine.swap_rules(vec![counter("b", 10)]);
    assert_eq!(report.carried, vec!["counter".to_owned()]);
    assert!(report.added.is_empty() && report.removed.is_empty());
    assert!(report.pending > 0, "some events wait for the new version");
    let pending = report.pending as u64;
    for i in 6..10 {
        let seq = engine.push(event(T0 + i * 1_000, "h1"), &mut sink);
        assert_eq!(seq, i as u64 + 1, "seq keeps counting across the swap");
    }
    engine.flush(&mut sink);

    let each: Vec<&Finding> = findings.iter().filter(|f| f.title == "event").collect();
    let seqs: Vec<u64> = each.iter().map(|f| num(f, "seq")).collect();
    assert_eq!(
        seqs,
        (1..=10).collect::<Vec<_>>(),
        "each event once, in order"
    );
    let by_a = each.iter().filter(|f| ctx(f, "label") == "a").count() as u64;
    assert_eq!(
        by_a,
        6 - pending,
        "the old version evaluated what left before the swap"
    );
    for f in &each {
        assert_eq!(num(f, "total"), num(f, "seq"), "the count continued: {f:?}");
    }
    let threshold: Vec<&Finding> = findings.iter().filter(|f| f.title == "threshold").collect();
    assert_eq!(threshold.len(), 1, "10 events of h1 split across the swap");
    assert_eq!(ctx(threshold[0], "label"), "b");
    assert_eq!(ctx(threshold[0], "count"), "10");
    assert!(
        !findings.iter().any(|f| f.title == "seq-gap"),
        "the new version saw the old one's last seq"
    );
    let (_, stats) = engine.rule_stats().next().expect("one rule");
    assert_eq!(stats.events_in, 10, "counters continue across versions");
    assert_eq!(stats.swaps, 1);
}

#[test]
fn a_new_rule_starts_empty_and_a_removed_rules_state_is_dropped() {
    let mut engine = Engine::new(EngineOptions {
        batch_size: 1,
        lateness_ms: 0,
        ..EngineOptions::default()
    });
    engine.add_rule(counter("a", 0));
    let mut findings: Vec<Finding> = Vec::new();
    let mut sink = |_: &RuleInfo, f: Finding| findings.push(f);
    for i in 0..3 {
        engine.push(event(T0 + i, "h1"), &mut sink);
    }
    let report = engine.swap_rules(Vec::new());
    assert_eq!(report.removed.len(), 1);
    assert_eq!(report.removed[0].0, "counter");
    assert_eq!(
        report.removed[0].1.events_in, 3,
        "its final counters are reported"
    );
    engine.push(event(T0 + 3, "h1"), &mut sink);
    let report = engine.swap_rules(vec![counter("b", 0), instance("noop", &[])]);
    assert_eq!(report.added, vec!["counter".to_owned(), "noop".to_owned()]);
    engine.push(event(T0 + 4, "h1"), &mut sink);
    engine.flush(&mut sink);
    let last = findings
        .iter()
        .rfind(|f| f.title == "event")
        .expect("an event finding");
    assert_eq!(num(last, "seq"), 5, "seq went on through the empty set");
    assert_eq!(ctx(last, "label"), "b");
    assert_eq!(num(last, "total"), 1, "a rule new to the set starts empty");
    let stats: BTreeMap<String, u64> = engine
        .rule_stats()
        .map(|(i, s)| (i.id.clone(), s.events_in))
        .collect();
    assert_eq!(stats["counter"], 1);
    assert_eq!(stats["noop"], 1);
}

/// 20,000 sequenced events, 100 swaps alternating two configurations of the counting rule.
/// Every event must be evaluated exactly once, by the version that was active when its batch
/// was dispatched, and the count in host state must go on across all 100 swaps.
#[test]
fn swap_under_load_evaluates_every_event_exactly_once_by_one_version() {
    const EVENTS: u64 = 20_000;
    const SWAPS: u64 = 100;
    let hosts = ["h0", "h1", "h2", "h3", "h4", "h5", "h6"];
    let mut engine = Engine::new(EngineOptions {
        batch_size: 64,
        lateness_ms: 5_000,
        ..EngineOptions::default()
    });
    let a = component("counter");
    let make = |label: &str| {
        a.instantiate(&[
            ("label".into(), Value::Text(label.into())),
            ("report_each".into(), Value::Boolean(true)),
        ])
        .expect("counter instantiates")
    };
    engine.add_rule(make("a"));
    // generation g runs label a when g is even, b when odd
    let generation = Cell::new(0u64);
    let mut seen: Vec<(u64, String, u64, u64)> = Vec::with_capacity(EVENTS as usize);
    let mut others: Vec<Finding> = Vec::new();
    {
        let mut sink = |_: &RuleInfo, f: Finding| {
            if f.title == "event" {
                seen.push((
                    num(&f, "seq"),
                    ctx(&f, "label").to_owned(),
                    num(&f, "total"),
                    generation.get(),
                ));
            } else {
                others.push(f);
            }
        };
        let every = EVENTS / SWAPS;
        for i in 0..EVENTS {
            // 100 ms apart: about 50 events wait in the reorder buffer at any time
            let seq = engine.push(event(T0 + i as i64 * 100, hosts[i as usize % 7]), &mut sink);
            assert_eq!(seq, i + 1);
            if (i + 1).is_multiple_of(every) {
                let g = generation.get() + 1;
                let next = make(if g.is_multiple_of(2) { "a" } else { "b" });
                let report = engine.swap_rules(vec![next]);
                assert_eq!(report.carried.len(), 1);
                generation.set(g);
            }
        }
        engine.flush(&mut sink);
    }
    assert!(others.is_empty(), "no gap, no threshold: {others:?}");
    assert_eq!(seen.len() as u64, EVENTS, "one report per event");
    let mut seqs: Vec<u64> = seen.iter().map(|s| s.0).collect();
    seqs.sort_unstable();
    seqs.dedup();
    assert_eq!(seqs.len() as u64, EVENTS, "no event evaluated twice");
    assert_eq!(seqs.first(), Some(&1));
    assert_eq!(seqs.last(), Some(&EVENTS), "none lost");
    for (seq, label, total, g) in &seen {
        let expected = if g.is_multiple_of(2) { "a" } else { "b" };
        assert_eq!(
            label, expected,
            "event {seq} was evaluated by the version active at its dispatch"
        );
        assert_eq!(total, seq, "the count went on across every swap");
    }
    let versions: std::collections::BTreeSet<u64> = seen.iter().map(|s| s.3).collect();
    assert!(
        versions.len() as u64 > SWAPS / 2,
        "events met many versions: {}",
        versions.len()
    );
    let (_, stats) = engine.rule_stats().next().expect("one rule");
    assert_eq!(stats.events_in, EVENTS);
    assert_eq!(stats.swaps, SWAPS);
    assert_eq!(stats.faults, 0);
}

fn hostile_trap() -> RuleInstance {
    instance("hostile", &[("mode", Value::Text("trap".into()))])
}

#[test]
fn a_rule_that_faults_too_often_is_quarantined_and_can_be_re_enabled() {
    let mut engine = Engine::new(EngineOptions {
        batch_size: 1,
        lateness_ms: 0,
        quarantine_faults: 3,
        quarantine_calls: 5,
        ..EngineOptions::default()
    });
    engine.add_rule(hostile_trap());
    engine.add_rule(counter("a", 0));
    let mut findings: Vec<Finding> = Vec::new();
    let mut sink = |_: &RuleInfo, f: Finding| findings.push(f);
    for i in 0..10 {
        engine.push(event(T0 + i, "h1"), &mut sink);
    }
    let stats: BTreeMap<String, yagura::RuleStats> = engine
        .rule_stats()
        .map(|(i, s)| (i.id.clone(), s.clone()))
        .collect();
    let hostile = &stats["hostile"];
    assert!(hostile.quarantined);
    assert_eq!(hostile.quarantines, 1);
    assert_eq!(hostile.faults, 3, "not called after the third fault");
    assert_eq!(hostile.skipped_events, 7);
    assert_eq!(stats["counter"].events_in, 10, "the other rule carries on");

    // the same component and config swapped in: still quarantined
    let report = engine.swap_rules(vec![hostile_trap(), counter("a", 0)]);
    assert_eq!(report.still_quarantined, vec!["hostile".to_owned()]);
    assert_eq!(report.kept.len(), 2, "unchanged rules keep their instances");

    assert_eq!(engine.enable_rule("hostile"), Some(true));
    assert_eq!(engine.enable_rule("nope"), None);
    for i in 10..13 {
        engine.push(event(T0 + i, "h1"), &mut sink);
    }
    let (_, hostile) = engine.rule_stats().next().expect("hostile first");
    assert_eq!(hostile.faults, 6, "called again once re-enabled");
    assert!(
        hostile.quarantined,
        "and quarantined again after 3 more faults"
    );
    assert_eq!(hostile.quarantines, 2);

    // a new config gets a clean slate
    let fixed = instance("hostile", &[("mode", Value::Text("none".into()))]);
    let report = engine.swap_rules(vec![fixed, counter("a", 0)]);
    assert!(report.still_quarantined.is_empty());
    engine.push(event(T0 + 13, "h1"), &mut sink);
    let (_, hostile) = engine.rule_stats().next().expect("hostile first");
    assert!(!hostile.quarantined);
    assert_eq!(hostile.faults, 6);
    assert_eq!(hostile.events_in, 7, "3 + 3 faulted calls, then 1 good one");
}

// ---------------------------------------------------------------------------------------
// server

/// A signed one-rule pack `NAME@VERSION` of fixture `rule` with `config` (TOML lines) and a
/// cases file holding `case` (a `[[case]]` table).
pub(crate) fn bundle(
    dir: &Path,
    key: &SecretKey,
    (name, version): (&str, &str),
    rule: &str,
    config: &str,
    case: &str,
) -> Vec<u8> {
    let rule_dir = dir.join(format!("src-{name}-{version}"));
    std::fs::create_dir_all(&rule_dir).expect("mkdir");
    std::fs::write(
        rule_dir.join("cases.toml"),
        format!("rule = \"{rule}\"\n\n{case}"),
    )
    .expect("cases");
    let manifest = format!(
        "[pack]\nname = \"{name}\"\nversion = \"{version}\"\npublisher = \"ACME\"\n\
         description = \"fixtures\"\nlicense = \"Apache-2.0\"\n\
         [requires]\nwit = \"^0.1\"\nhost = \">=0.1.0\"\n\
         [[rule]]\nid = \"{rule}\"\ncomponent = \"{}\"\ncases = \"cases.toml\"\n\
         [rule.config]\n{config}\n",
        fixture_path(rule).display()
    );
    let manifest_path = rule_dir.join("pack.toml");
    std::fs::write(&manifest_path, manifest).expect("manifest");
    let mut bundle = Bundle::build(&manifest_path).expect("builds");
    bundle.sign(key);
    bundle.to_bytes().expect("bytes")
}

/// Pack `swaptest@VERSION`: the counter rule, threshold 10, labelled `label`.
fn counter_bundle(dir: &Path, key: &SecretKey, version: &str, label: &str) -> Vec<u8> {
    bundle(
        dir,
        key,
        ("swaptest", version),
        "counter",
        &format!("threshold = 10\nlabel = \"{label}\""),
        &format!(
            "[[case]]\nname = \"two events of a host reach threshold 2\"\n\
             config = {{ threshold = 2 }}\nfindings = 1\nevents = \"\"\"\n{}\n{}\n\"\"\"\n\n\
             [[case.expect]]\ntitle = \"threshold\"\n",
            r#"{"time":1714557600000,"class":"process","device":{"hostname":"h"}}"#,
            r#"{"time":1714557601000,"class":"process","device":{"hostname":"h"}}"#,
        ),
    )
}

pub(crate) struct Server {
    pub _dir: tempfile::TempDir,
    pub app: App,
    pub router: Router,
    pub admin: String,
    pub key: SecretKey,
}

pub(crate) fn server(engine: EngineOptions) -> Server {
    server_with(engine, |config, _| config)
}

/// [`server`] with the config as `edit` changes it (given the test's folder).
pub(crate) fn server_with(
    engine: EngineOptions,
    edit: impl FnOnce(ServerConfig, &Path) -> ServerConfig,
) -> Server {
    let dir = tempfile::tempdir().expect("tmp");
    let config = ServerConfig {
        store: dir.path().join("store"),
        cache_dir: Some(root().join("target/yagura-test-cache")),
        flush_after: Duration::from_millis(50),
        engine,
        limits: support::test_limits(),
        ..ServerConfig::default()
    };
    let (app, admin) = App::open(edit(config, dir.path())).expect("the server opens");
    let admin = admin.expect("a fresh store prints an admin token");
    let key = SecretKey::generate().expect("key");
    app.store().trust_key(&key.public()).expect("trust");
    let router = app.router();
    Server {
        _dir: dir,
        app,
        router,
        admin,
        key,
    }
}

impl Server {
    pub(crate) async fn upload_and_activate(&self, bundle: Vec<u8>, name: &str, version: &str) {
        let (status, body) =
            call_as(&self.router, Method::POST, "/v1/packs", &self.admin, bundle).await;
        assert_eq!(status, StatusCode::CREATED, "{body}");
        self.activate(name, version).await;
    }

    pub(crate) async fn activate(&self, name: &str, version: &str) {
        let (status, body) = call_as(
            &self.router,
            Method::POST,
            &format!("/v1/packs/{name}/activate"),
            &self.admin,
            json!({ "version": version }).to_string(),
        )
        .await;
        assert_eq!(status, StatusCode::OK, "{body}");
    }

    pub(crate) async fn ingest(&self, ndjson: String) {
        let (status, body) = call_as(
            &self.router,
            Method::POST,
            "/v1/events",
            &self.admin,
            ndjson,
        )
        .await;
        assert_eq!(status, StatusCode::OK, "{body}");
    }

    pub(crate) async fn metrics(&self) -> String {
        let (status, metrics) = call_as(
            &self.router,
            Method::GET,
            "/metrics",
            &self.admin,
            Body::empty(),
        )
        .await;
        assert_eq!(status, StatusCode::OK);
        metrics.as_str().expect("text").to_owned()
    }

    async fn enable(&self, rule: &str) -> (StatusCode, Json) {
        call_as(
            &self.router,
            Method::POST,
            &format!("/v1/rules/{rule}/enable"),
            &self.admin,
            Body::empty(),
        )
        .await
    }

    pub(crate) async fn close(self) {
        let app = self.app;
        tokio::task::spawn_blocking(move || app.close())
            .await
            .expect("joins")
            .expect("closes");
    }
}

/// Polls `/v1/rules` until rule `id`'s view satisfies `done`; returns the view.
pub(crate) async fn wait_for_rule(
    router: &Router,
    token: &str,
    id: &str,
    done: impl Fn(&Json) -> bool,
) -> Json {
    let mut last = Json::Null;
    for _ in 0..POLLS {
        let (status, body) = call_as(router, Method::GET, "/v1/rules", token, Body::empty()).await;
        assert_eq!(status, StatusCode::OK, "{body}");
        if let Some(rule) = body["rules"]
            .as_array()
            .and_then(|r| r.iter().find(|r| r["id"] == id))
        {
            if done(rule) {
                return rule.clone();
            }
            last = rule.clone();
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("rule `{id}` did not reach the expected state after {POLLS} polls; last: {last}");
}

/// Polls `/v1/rules` until the counter rule has been called with `n` events.
async fn wait_for_events(router: &Router, token: &str, n: u64) -> Json {
    wait_for_rule(router, token, "counter", |r| {
        r["events_in"].as_u64() == Some(n)
    })
    .await
}

pub(crate) fn ndjson(from: i64, to: i64) -> String {
    (from..to)
        .map(|i| {
            format!(
                r#"{{"time":{},"class":"process","device":{{"hostname":"h1"}}}}"#,
                T0 + i * 1_000
            ) + "\n"
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_activation_swaps_the_rules_and_a_window_split_across_it_still_fires() {
    let srv = server(EngineOptions::default());
    let dir = srv._dir.path().to_owned();
    srv.upload_and_activate(
        counter_bundle(&dir, &srv.key, "1.0.0", "a"),
        "swaptest",
        "1.0.0",
    )
    .await;
    srv.ingest(ndjson(0, 6)).await;
    wait_for_events(&srv.router, &srv.admin, 6).await;

    // v1.0.1 (label b) takes over the same rule id: its count starts at 6
    srv.upload_and_activate(
        counter_bundle(&dir, &srv.key, "1.0.1", "b"),
        "swaptest",
        "1.0.1",
    )
    .await;
    srv.ingest(ndjson(6, 10)).await;
    let rule = wait_for_events(&srv.router, &srv.admin, 10).await;
    assert_eq!(rule["swaps"], 1, "{rule}");
    assert_eq!(rule["quarantined"], false);

    let mut alerts = Vec::new();
    for _ in 0..POLLS {
        let (status, body) = call_as(
            &srv.router,
            Method::GET,
            "/v1/alerts",
            &srv.admin,
            Body::empty(),
        )
        .await;
        assert_eq!(status, StatusCode::OK, "{body}");
        alerts = body["alerts"].as_array().cloned().unwrap_or_default();
        if !alerts.is_empty() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(alerts.len(), 1, "{alerts:?}");
    let context = &alerts[0]["finding"]["unmapped"]["context"];
    assert_eq!(alerts[0]["title"], "threshold", "{}", alerts[0]);
    assert_eq!(
        context["label"], "b",
        "the new version reported the 10th event"
    );
    assert_eq!(
        context["count"], "10",
        "it counted the old version's 6 events"
    );

    // a rollback swaps back with the window intact too; a config change is a swap as well
    let (status, body) = call_as(
        &srv.router,
        Method::POST,
        "/v1/packs/swaptest/rollback",
        &srv.admin,
        Body::empty(),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let (status, body) = call_as(
        &srv.router,
        Method::PUT,
        "/v1/rules/counter/config",
        &srv.admin,
        json!({ "config": { "threshold": 12 } }).to_string(),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    srv.ingest(ndjson(10, 12)).await;
    let rule = wait_for_events(&srv.router, &srv.admin, 12).await;
    assert_eq!(rule["swaps"], 3, "{rule}");
    // the alert of host h1 (one dedup key) is updated by the finding at 12
    let mut latest = Json::Null;
    for _ in 0..POLLS {
        let (_, body) = call_as(
            &srv.router,
            Method::GET,
            "/v1/alerts",
            &srv.admin,
            Body::empty(),
        )
        .await;
        latest = body["alerts"][0].clone();
        if latest["finding"]["unmapped"]["context"]["count"] == "12" {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(
        latest["finding"]["unmapped"]["context"]["count"], "12",
        "threshold 12 reached across three swaps: {latest}"
    );
    assert_eq!(latest["count"], 2, "{latest}");

    // re-enabling a running rule that is not quarantined; an unknown rule is 404
    let (status, body) = srv.enable("counter").await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["was_quarantined"], false);
    let (status, body) = srv.enable("nope").await;
    assert_eq!(status, StatusCode::NOT_FOUND, "{body}");
    let metrics = srv.metrics().await;
    assert!(
        metrics.contains(r#"yagura_rule_quarantined{tenant="default",rule="counter"} 0"#),
        "{metrics}"
    );
    srv.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_rule_that_keeps_trapping_is_quarantined_shown_and_re_enabled_over_http() {
    // one event per call, so that eight events are eight calls
    let srv = server(EngineOptions {
        batch_size: 1,
        lateness_ms: 0,
        ..EngineOptions::default()
    });
    let dir = srv._dir.path().to_owned();
    let hostile = bundle(
        &dir,
        &srv.key,
        ("bad", "1.0.0"),
        "hostile",
        "mode = \"trap\"",
        &format!(
            "[[case]]\nname = \"behaves when told to\"\nconfig = {{ mode = \"none\" }}\n\
             findings = 1\nevents = \"\"\"\n{}\n\"\"\"\n\n[[case.expect]]\ntitle = \"ok\"\n",
            r#"{"time":1714557600000,"class":"process","device":{"hostname":"h"}}"#,
        ),
    );
    srv.upload_and_activate(hostile, "bad", "1.0.0").await;
    srv.ingest(ndjson(0, 8)).await;
    // the default policy: 5 faults within 20 calls
    let rule = wait_for_rule(&srv.router, &srv.admin, "hostile", |r| {
        r["skipped_events"].as_u64() == Some(3)
    })
    .await;
    assert_eq!(rule["quarantined"], true, "{rule}");
    assert_eq!(rule["faults"], 5, "{rule}");
    assert_eq!(rule["quarantines"], 1, "{rule}");
    let metrics = srv.metrics().await;
    assert!(
        metrics.contains(r#"yagura_rule_quarantined{tenant="default",rule="hostile"} 1"#),
        "{metrics}"
    );
    assert!(
        metrics.contains(r#"yagura_rule_skipped_events_total{tenant="default",rule="hostile"} 3"#),
        "{metrics}"
    );

    let (status, body) = srv.enable("hostile").await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["was_quarantined"], true);
    let rule = wait_for_rule(&srv.router, &srv.admin, "hostile", |_| true).await;
    assert_eq!(rule["quarantined"], false, "{rule}");
    // still broken: called again, and quarantined again after five more faults
    srv.ingest(ndjson(8, 13)).await;
    let rule = wait_for_rule(&srv.router, &srv.admin, "hostile", |r| {
        r["quarantines"].as_u64() == Some(2)
    })
    .await;
    assert_eq!(rule["faults"], 10, "{rule}");
    assert_eq!(rule["quarantined"], true, "{rule}");
    srv.close().await;
}
