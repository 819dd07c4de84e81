//! Shadow versions (issue 19): a pack version run beside the active one on the same events,
//! the difference of their findings and alerts, promotion and its state, the limits that stop
//! a shadow, and the live path untouched by it.
//!
//! The packs are one-rule packs of the fixture `counter` (tests/rules/counter), which counts
//! events per host in host state: with a `threshold` it reports `threshold` (dedup key
//! `threshold:<host>`) when a host's count reaches it; with `report_each` one `event` finding
//! per event (dedup key = seq). So a version can lose a detection (no threshold), add a noisy
//! one (each event) or carry a window across a promotion (a threshold reached after it), and
//! `check_seq` reports any seq that does not follow the last one.
//!
//! Needs the fixture components (`cargo xtask build-rules`; `cargo xtask test` runs it first).

use std::path::Path;
use std::time::Duration;

use axum::body::Body;
use axum::http::{Method, StatusCode};
use serde_json::{Value as Json, json};

use yagura::engine::EngineOptions;
use yagura::pack::SecretKey;
use yagura::server::{ServerConfig, SinkConfig, SinkKind};

use crate::support::{POLLS, call_as};
use crate::swap::{Server, T0, bundle, server, server_with, wait_for_rule};

/// Pack `shadowtest@VERSION`: the counter rule with `config` (TOML lines).
fn counter_pack(dir: &Path, key: &SecretKey, version: &str, config: &str) -> Vec<u8> {
    bundle(
        dir,
        key,
        ("shadowtest", version),
        "counter",
        config,
        &format!(
            "[[case]]\nname = \"two events of a host reach threshold 2\"\n\
             config = {{ threshold = 2, report_each = false }}\nfindings = 1\n\
             events = \"\"\"\n{}\n{}\n\"\"\"\n\n[[case.expect]]\ntitle = \"threshold\"\n",
            r#"{"time":1714557600000,"class":"process","device":{"hostname":"h"}}"#,
            r#"{"time":1714557601000,"class":"process","device":{"hostname":"h"}}"#,
        ),
    )
}

/// Events `from..to` of `host`, one second apart.
pub(crate) fn events(host: &str, from: i64, to: i64) -> String {
    (from..to)
        .map(|i| {
            format!(
                r#"{{"time":{},"class":"process","device":{{"hostname":"{host}"}}}}"#,
                T0 + i * 1_000
            ) + "\n"
        })
        .collect()
}

/// The counter config of a version that keeps the threshold and reports every event too.
const NOISY: &str = "threshold = 3\nreport_each = true";

impl Server {
    /// Uploads `shadowtest` at each (version, counter config) and activates the first.
    async fn counter_packs(&self, versions: &[(&str, &str)]) {
        let dir = self._dir.path().to_owned();
        for (version, config) in versions {
            self.upload(counter_pack(&dir, &self.key, version, config))
                .await;
        }
        self.activate("shadowtest", versions[0].0).await;
    }

    async fn discard(&self) -> (StatusCode, Json) {
        call_as(
            &self.router,
            Method::DELETE,
            "/v1/packs/shadowtest/shadow",
            &self.admin,
            Body::empty(),
        )
        .await
    }

    async fn upload(&self, bundle: Vec<u8>) {
        let (status, body) =
            call_as(&self.router, Method::POST, "/v1/packs", &self.admin, bundle).await;
        assert_eq!(status, StatusCode::CREATED, "{body}");
    }

    async fn shadow(&self, body: Json) -> (StatusCode, Json) {
        call_as(
            &self.router,
            Method::POST,
            "/v1/packs/shadowtest/shadow",
            &self.admin,
            body.to_string(),
        )
        .await
    }

    async fn report(&self) -> (StatusCode, Json) {
        call_as(
            &self.router,
            Method::GET,
            "/v1/packs/shadowtest/shadow",
            &self.admin,
            Body::empty(),
        )
        .await
    }

    async fn promote(&self, body: Json) -> (StatusCode, Json) {
        call_as(
            &self.router,
            Method::POST,
            "/v1/packs/shadowtest/shadow/promote",
            &self.admin,
            body.to_string(),
        )
        .await
    }

    async fn alerts(&self) -> Vec<Json> {
        let (status, body) = call_as(
            &self.router,
            Method::GET,
            "/v1/alerts",
            &self.admin,
            Body::empty(),
        )
        .await;
        assert_eq!(status, StatusCode::OK, "{body}");
        body["alerts"].as_array().cloned().unwrap_or_default()
    }

    /// Polls the difference until `done` holds for it.
    async fn report_until(&self, what: &str, done: impl Fn(&Json) -> bool) -> Json {
        report_until(&self.router, &self.admin, what, done).await
    }

    /// Polls the live alerts until `done` holds for them.
    async fn alerts_until(&self, what: &str, done: impl Fn(&[Json]) -> bool) -> Vec<Json> {
        let mut last = Vec::new();
        for _ in 0..POLLS {
            let alerts = self.alerts().await;
            if done(&alerts) {
                return alerts;
            }
            last = alerts;
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        panic!("the live alerts never showed {what}; last: {last:#?}");
    }
}

/// Polls the difference of `shadowtest`'s shadow until `done` holds for it.
async fn report_until(
    router: &axum::Router,
    token: &str,
    what: &str,
    done: impl Fn(&Json) -> bool,
) -> Json {
    let mut last = Json::Null;
    for _ in 0..POLLS {
        let (status, body) = call_as(
            router,
            Method::GET,
            "/v1/packs/shadowtest/shadow",
            token,
            Body::empty(),
        )
        .await;
        assert_eq!(status, StatusCode::OK, "{body}");
        if done(&body) {
            return body;
        }
        last = body;
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("the shadow's difference never showed {what}; last: {last:#}");
}

/// The counter rule's row of a difference.
fn counter_row(report: &Json) -> &Json {
    report["rules"]
        .as_array()
        .and_then(|rules| rules.iter().find(|r| r["id"] == "counter"))
        .unwrap_or_else(|| panic!("no counter row: {report:#}"))
}

/// Whether both sides evaluated `n` events since the shadow started and the shadow holds none.
fn both_saw(report: &Json, n: u64) -> bool {
    let row = counter_row(report);
    row["active"]["events"] == n && row["shadow"]["events"] == n && report["lag_events"] == 0
}

fn titles(alerts: &[Json]) -> Vec<String> {
    let mut titles: Vec<String> = alerts
        .iter()
        .map(|a| a["title"].as_str().unwrap_or_default().to_owned())
        .collect();
    titles.sort();
    titles
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_lost_detection_and_a_noisy_one_show_in_the_difference_and_never_reach_the_live_alerts() {
    // every stored alert also goes to a file sink (in a folder of its own: the server's goes
    // with it at close)
    let out = tempfile::tempdir().expect("tmp");
    let sink_file = out.path().join("alerts.jsonl");
    let srv = server_with(EngineOptions::default(), |config, _| ServerConfig {
        sinks: vec![SinkConfig {
            name: "file".into(),
            queue: 100,
            tenants: None,
            kind: SinkKind::File {
                path: sink_file.clone(),
                max_bytes: 1 << 20,
                keep: 1,
            },
        }],
        ..config
    });
    // 1.1.0 loses the threshold detection; 1.2.0 keeps it and reports every event too
    srv.counter_packs(&[
        ("1.0.0", "threshold = 3"),
        ("1.1.0", "threshold = 0"),
        ("1.2.0", NOISY),
    ])
    .await;

    // no shadow yet; the active version cannot be its own shadow
    let (status, body) = srv.report().await;
    assert_eq!(status, StatusCode::NOT_FOUND, "{body}");
    let (status, body) = srv.shadow(json!({ "version": "1.0.0" })).await;
    assert_eq!(status, StatusCode::CONFLICT, "{body}");

    let (status, body) = srv.shadow(json!({ "version": "1.1.0" })).await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    assert_eq!(body["status"], "running", "{body}");
    assert_eq!(body["active_version"], "1.0.0");
    assert_eq!(body["start"], "copy");
    // one shadow per pack and tenant
    let (status, body) = srv.shadow(json!({ "version": "1.2.0" })).await;
    assert_eq!(status, StatusCode::CONFLICT, "{body}");

    srv.ingest(events("h1", 0, 3)).await;
    let report = srv
        .report_until("3 events on both sides and the lost alert", |r| {
            both_saw(r, 3) && r["alerts"]["active_only"] == 1
        })
        .await;
    assert_eq!(
        report["findings"],
        json!({ "active_only": 1, "shadow_only": 0, "both": 0 }),
        "{report:#}"
    );
    let lost = &report["alert_list"]["active_only"];
    assert_eq!(lost.as_array().map(Vec::len), Some(1), "{report:#}");
    assert_eq!(lost[0]["rule"], "counter");
    assert_eq!(lost[0]["dedup_key"], "threshold:h1");
    assert_eq!(lost[0]["title"], "threshold");
    assert_eq!(
        lost[0]["rule_version"],
        counter_row(&report)["active"]["version"]
    );
    assert_eq!(report["alert_list"]["shadow_only"], json!([]));
    assert_eq!(counter_row(&report)["shadow"]["faults"], 0);
    assert!(
        counter_row(&report)["shadow"]["latency_ms"]["calls"]
            .as_u64()
            .is_some_and(|calls| calls > 0),
        "{report:#}"
    );

    // discarded: gone, the live rules untouched
    let (status, body) = srv.discard().await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["status"], "discarded");
    let (status, _) = srv.report().await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let metrics = srv.metrics().await;
    assert!(
        !metrics.contains("yagura_shadow_running{"),
        "a discarded shadow has no series: {metrics}"
    );

    // the noisy one: the same threshold alert on both sides, three `event` alerts in the shadow
    let (status, body) = srv.shadow(json!({ "version": "1.2.0" })).await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    srv.ingest(events("h2", 3, 6)).await;
    let report = srv
        .report_until("3 events on both sides and the shared alert", |r| {
            both_saw(r, 3) && r["alerts"]["both"] == 1 && r["alerts"]["shadow_only"] == 3
        })
        .await;
    assert_eq!(
        report["findings"],
        json!({ "active_only": 0, "shadow_only": 3, "both": 1 }),
        "{report:#}"
    );
    assert_eq!(report["alerts"]["active_only"], 0, "{report:#}");
    let both = &report["alert_list"]["both"];
    assert_eq!(both[0]["dedup_key"], "threshold:h2", "{report:#}");
    let noisy = report["alert_list"]["shadow_only"]
        .as_array()
        .expect("a list");
    assert!(noisy.iter().all(|a| a["title"] == "event"), "{report:#}");

    // the live alerts hold the active version's two threshold alerts, never a shadow finding
    let alerts = srv
        .alerts_until("the two threshold alerts", |a| a.len() >= 2)
        .await;
    assert_eq!(titles(&alerts), ["threshold", "threshold"], "{alerts:#?}");
    let metrics = srv.metrics().await;
    assert!(
        metrics.contains(r#"yagura_alerts_total{tenant="default",change="new"} 2"#),
        "{metrics}"
    );
    for series in [
        r#"yagura_shadow_running{tenant="default",pack="shadowtest"} 1"#,
        r#"yagura_shadow_lag_events{tenant="default",pack="shadowtest"} 0"#,
        r#"yagura_shadow_alerts{tenant="default",pack="shadowtest",side="active_only"} 0"#,
        r#"yagura_shadow_alerts{tenant="default",pack="shadowtest",side="shadow_only"} 3"#,
        r#"yagura_shadow_alerts{tenant="default",pack="shadowtest",side="both"} 1"#,
    ] {
        assert!(metrics.contains(series), "no `{series}` in {metrics}");
    }
    // close lets the sink write what it holds: the two live alerts, no shadow finding
    srv.close().await;
    let sunk = std::fs::read_to_string(&sink_file).expect("the sink's file");
    let sunk: Vec<Json> = sunk
        .lines()
        .map(|l| serde_json::from_str(l).expect("a JSON line"))
        .collect();
    assert_eq!(sunk.len(), 2, "{sunk:#?}");
    assert!(
        sunk.iter()
            .all(|a| a["finding"]["finding_info"]["title"] == "threshold"),
        "{sunk:#?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_promotion_keeps_every_window_with_the_state_it_is_told_to_keep() {
    let srv = server(EngineOptions::default());
    srv.counter_packs(&[
        ("1.0.0", "threshold = 5"),
        ("1.1.0", "threshold = 5\nlabel = \"b\""),
        ("1.2.0", "threshold = 7\nlabel = \"c\""),
    ])
    .await;
    srv.ingest(events("h1", 0, 2)).await;
    wait_for_rule(&srv.router, &srv.admin, "counter", |r| r["events_in"] == 2).await;

    // copied state: the shadow counts on from 2; promoted with it, the 5th event fires
    let (status, body) = srv.shadow(json!({ "version": "1.1.0" })).await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    srv.ingest(events("h1", 2, 4)).await;
    srv.report_until("2 events on both sides", |r| both_saw(r, 2))
        .await;
    let (status, body) = srv
        .promote(json!({ "state": "shadow", "reason": "no difference" }))
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["version"], "1.1.0");
    assert_eq!(body["previous"], "1.0.0");
    assert_eq!(body["state"], "shadow");
    let (_, report) = srv.report().await;
    assert_eq!(report["status"], "promoted", "{report:#}");
    srv.ingest(events("h1", 4, 5)).await;
    let alerts = srv
        .alerts_until("the threshold alert", |a| !a.is_empty())
        .await;
    let context = &alerts[0]["finding"]["unmapped"]["context"];
    assert_eq!(alerts[0]["title"], "threshold", "{alerts:#?}");
    assert_eq!(context["label"], "b", "the promoted version fired");
    assert_eq!(context["count"], "5", "it counted every event: {alerts:#?}");
    let (status, history) = call_as(
        &srv.router,
        Method::GET,
        "/v1/packs/shadowtest/history",
        &srv.admin,
        Body::empty(),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{history}");
    let last = history["history"]
        .as_array()
        .and_then(|h| h.iter().find(|e| e["to"] == "1.1.0"))
        .unwrap_or_else(|| panic!("no activation of 1.1.0: {history:#}"));
    assert_eq!(last["reason"], "no difference");

    // an empty shadow: promoted with its own state it has counted 2 of host h1's 7 events, so
    // its threshold of 7 is 5 events away; with the live state it would fire at once
    let (status, body) = srv
        .shadow(json!({ "version": "1.2.0", "start": "empty" }))
        .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    srv.ingest(events("h1", 5, 7)).await;
    srv.report_until("2 events on both sides", |r| both_saw(r, 2))
        .await;
    let (status, body) = srv.promote(json!(null)).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["state"], "shadow");
    srv.ingest(events("h1", 7, 12)).await;
    let alerts = srv
        .alerts_until("the second threshold alert", |a| {
            a.iter()
                .any(|a| a["finding"]["unmapped"]["context"]["label"] == "c")
        })
        .await;
    let fired = alerts
        .iter()
        .find(|a| a["finding"]["unmapped"]["context"]["label"] == "c")
        .expect("found");
    assert_eq!(
        fired["finding"]["unmapped"]["context"]["count"], "7",
        "the shadow's own count reached 7 at the 12th event: {alerts:#?}"
    );
    wait_for_rule(&srv.router, &srv.admin, "counter", |r| r["events_in"] == 12).await;
    // no seq gap anywhere: the promoted rules continued the live engine's seq
    assert!(
        alerts.iter().all(|a| a["title"] != "seq-gap"),
        "{alerts:#?}"
    );
    srv.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_shadow_survives_a_hot_swap_of_the_active_version_and_stops_at_its_bounds() {
    let srv = server(EngineOptions::default());
    srv.counter_packs(&[
        ("1.0.0", "threshold = 3"),
        ("1.1.0", "threshold = 3\nlabel = \"b\""),
        ("1.2.0", NOISY),
    ])
    .await;
    let (status, body) = srv.shadow(json!({ "version": "1.2.0" })).await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    srv.ingest(events("h1", 0, 2)).await;
    srv.report_until("2 events on both sides", |r| both_saw(r, 2))
        .await;

    // the active version is swapped under the shadow: both go on, the threshold is shared
    srv.activate("shadowtest", "1.1.0").await;
    srv.ingest(events("h1", 2, 4)).await;
    let report = srv
        .report_until("4 events on both sides and the shared alert", |r| {
            both_saw(r, 4) && r["alerts"]["both"] == 1
        })
        .await;
    assert_eq!(report["status"], "running", "{report:#}");
    assert_eq!(report["alerts"]["shadow_only"], 4, "{report:#}");
    let rule = wait_for_rule(&srv.router, &srv.admin, "counter", |r| r["events_in"] == 4).await;
    assert_eq!(rule["swaps"], 1, "{rule}");

    // a shadow that falls behind its bound stops; the live rules take every event
    let (_, body) = srv.discard().await;
    assert_eq!(body["status"], "discarded", "{body}");
    let (status, body) = srv
        .shadow(json!({ "version": "1.2.0", "max_lag": 2 }))
        .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    srv.ingest(events("h1", 4, 7)).await;
    let report = srv
        .report_until("the shadow stopped", |r| r["status"] == "stopped")
        .await;
    assert!(
        report["reason"]
            .as_str()
            .is_some_and(|r| r.contains("behind")),
        "{report:#}"
    );
    wait_for_rule(&srv.router, &srv.admin, "counter", |r| r["events_in"] == 7).await;
    // a stopped shadow's state is behind: promoting with it is refused, with the live one not
    let (status, body) = srv.promote(json!({ "state": "shadow" })).await;
    assert_eq!(status, StatusCode::CONFLICT, "{body}");
    let (status, body) = srv.promote(json!({ "state": "active" })).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["state"], "active");

    // bad limits are refused before anything starts; a whole number may be written 3600.0
    for bad in [json!(0), json!(1.5), json!(-1), json!("1h")] {
        let (status, body) = srv
            .shadow(json!({ "version": "1.0.0", "duration_s": bad }))
            .await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{bad}: {body}");
    }
    let (status, body) = srv
        .shadow(json!({ "version": "1.0.0", "duration_s": 3600.0 }))
        .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    srv.close().await;
}

/// Pack `faulty@VERSION`: the hostile rule in `mode`.
pub(crate) fn hostile_pack(dir: &Path, key: &SecretKey, version: &str, mode: &str) -> Vec<u8> {
    bundle(
        dir,
        key,
        ("faulty", version),
        "hostile",
        &format!("mode = \"{mode}\""),
        "[[case]]\nname = \"behaves\"\nconfig = { mode = \"none\" }\nfindings = 1\n\
         events = '{\"time\":1714557600000,\"class\":\"process\"}'\n\n\
         [[case.expect]]\ntitle = \"ok\"\n",
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_shadow_whose_rules_fault_is_stopped_and_the_live_rules_never_fault() {
    // one event per call, so that each event is a call
    let srv = server(EngineOptions {
        batch_size: 1,
        lateness_ms: 0,
        ..EngineOptions::default()
    });
    let dir = srv._dir.path().to_owned();
    srv.upload(hostile_pack(&dir, &srv.key, "1.0.0", "none"))
        .await;
    srv.upload(hostile_pack(&dir, &srv.key, "1.1.0", "error"))
        .await;
    srv.activate("faulty", "1.0.0").await;
    let (status, body) = call_as(
        &srv.router,
        Method::POST,
        "/v1/packs/faulty/shadow",
        &srv.admin,
        json!({ "version": "1.1.0", "max_faults": 2 }).to_string(),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    srv.ingest(events("h1", 0, 4)).await;
    let mut report = Json::Null;
    for _ in 0..POLLS {
        let (status, body) = call_as(
            &srv.router,
            Method::GET,
            "/v1/packs/faulty/shadow",
            &srv.admin,
            Body::empty(),
        )
        .await;
        assert_eq!(status, StatusCode::OK, "{body}");
        report = body;
        if report["status"] == "stopped" {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(report["status"], "stopped", "{report:#}");
    assert!(
        report["reason"]
            .as_str()
            .is_some_and(|r| r.contains("faulted") && r.contains("bound of 2")),
        "{report:#}"
    );
    let rule = wait_for_rule(&srv.router, &srv.admin, "hostile", |r| r["events_in"] == 4).await;
    assert_eq!(rule["faults"], 0, "{rule}");
    assert_eq!(rule["quarantined"], false, "{rule}");
    srv.close().await;
}

/// `yagura ARGS…` (the binary), without the environment's server and token.
async fn yagura(args: Vec<String>) -> std::process::Output {
    tokio::task::spawn_blocking(move || {
        std::process::Command::new(env!("CARGO_BIN_EXE_yagura"))
            .args(&args)
            .env_remove("YAGURA_SERVER")
            .env_remove("YAGURA_TOKEN")
            .output()
            .expect("yagura runs")
    })
    .await
    .expect("joins")
}

fn stdout(output: &std::process::Output) -> String {
    String::from_utf8_lossy(&output.stdout).into_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_cli_starts_reads_promotes_and_discards_a_shadow_on_a_real_server() {
    let srv = server(EngineOptions::default());
    srv.counter_packs(&[("1.0.0", "threshold = 3"), ("1.2.0", NOISY)])
        .await;
    let Server {
        _dir: _keep,
        app,
        router,
        admin,
        ..
    } = srv;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let base = format!("http://{}", listener.local_addr().expect("addr"));
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let served = tokio::spawn(yagura::server::serve(app, listener, async {
        let _ = stopped.await;
    }));
    let cli = |words: &[&str]| {
        let mut args: Vec<String> = words.iter().map(|w| (*w).to_owned()).collect();
        args.extend([
            "--server".into(),
            base.clone(),
            "--token".into(),
            admin.clone(),
        ]);
        yagura(args)
    };

    let out = cli(&["pack", "shadow", "start", "shadowtest", "^1.1"]).await;
    assert!(out.status.success(), "{out:?}");
    assert!(
        stdout(&out).contains("shadowtest@1.2.0: shadow started beside shadowtest@1.0.0"),
        "{out:?}"
    );
    let (status, body) = call_as(
        &router,
        Method::POST,
        "/v1/events",
        &admin,
        events("h1", 0, 3),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    report_until(&router, &admin, "3 events on both sides", |r| {
        both_saw(r, 3) && r["alerts"]["both"] == 1
    })
    .await;

    let out = cli(&["pack", "shadow", "status", "shadowtest"]).await;
    assert!(out.status.success(), "{out:?}");
    let text = stdout(&out);
    for expected in [
        "shadow shadowtest@1.2.0 beside shadowtest@1.0.0 for tenant `default`: running",
        "findings  0 in the active version only, 3 in the shadow only, 1 in both",
        "alerts in the shadow only (new if promoted):",
        "counter [threshold:h1] threshold",
    ] {
        assert!(text.contains(expected), "no `{expected}` in:\n{text}");
    }
    let out = cli(&["pack", "shadow", "status", "shadowtest", "--json"]).await;
    let json: Json = serde_json::from_slice(&out.stdout).expect("JSON");
    assert_eq!(json["status"], "running", "{json:#}");

    let out = cli(&[
        "pack",
        "shadow",
        "promote",
        "shadowtest",
        "--state",
        "active",
    ])
    .await;
    assert!(out.status.success(), "{out:?}");
    assert!(
        stdout(&out).contains("shadowtest: 1.2.0 active for tenant `default` (was 1.0.0)"),
        "{out:?}"
    );
    let out = cli(&["pack", "shadow", "discard", "shadowtest"]).await;
    assert!(out.status.success(), "{out:?}");
    // nothing left: a clear error naming the request and the server's answer
    let out = cli(&["pack", "shadow", "discard", "shadowtest"]).await;
    assert_eq!(out.status.code(), Some(1), "{out:?}");
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("DELETE") && err.contains("404") && err.contains("has no shadow of pack"),
        "{err}"
    );
    // no token: a usage error before any request
    let out = yagura(
        ["pack", "shadow", "status", "shadowtest", "--server", &base]
            .map(str::to_owned)
            .to_vec(),
    )
    .await;
    assert_eq!(out.status.code(), Some(2), "{out:?}");
    let _ = stop.send(());
    served
        .await
        .expect("joins")
        .expect("the server stops cleanly");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_running_shadow_starts_again_after_a_restart_and_a_discarded_one_does_not() {
    let srv = server(EngineOptions::default());
    srv.counter_packs(&[("1.0.0", "threshold = 3"), ("1.2.0", NOISY)])
        .await;
    let (status, started) = srv
        .shadow(json!({ "version": "1.2.0", "duration_s": 3600, "max_lag": 5000 }))
        .await;
    assert_eq!(status, StatusCode::CREATED, "{started}");
    srv.ingest(events("h1", 0, 2)).await;
    srv.report_until("2 events on both sides", |r| both_saw(r, 2))
        .await;

    // a restart: the live rules restore their checkpoint, the shadow starts again from them
    let Server {
        _dir: keep,
        app,
        admin,
        router,
        ..
    } = srv;
    // the router holds the server's state: dropped, the store is let go
    drop(router);
    tokio::task::spawn_blocking(move || app.close())
        .await
        .expect("joins")
        .expect("closes");
    let reopen = || {
        let config = ServerConfig {
            store: keep.path().join("store"),
            cache_dir: Some(crate::support::root().join("target/yagura-test-cache")),
            flush_after: Duration::from_millis(50),
            limits: crate::support::test_limits(),
            ..ServerConfig::default()
        };
        yagura::server::App::open(config)
            .expect("the server opens again")
            .0
    };
    let app = reopen();
    let router = app.router();
    let (status, report) = call_as(
        &router,
        Method::GET,
        "/v1/packs/shadowtest/shadow",
        &admin,
        Body::empty(),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{report}");
    assert_eq!(report["status"], "running", "{report:#}");
    assert_eq!(report["version"], "1.2.0");
    assert_eq!(report["ends_at"], started["ends_at"], "it keeps its end");
    let (status, body) = call_as(
        &router,
        Method::POST,
        "/v1/events",
        &admin,
        events("h1", 2, 4),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    // the third event of h1 reaches the threshold on both sides: both counted on from 2
    let report = report_until(&router, &admin, "2 more events and the shared alert", |r| {
        both_saw(r, 2) && r["alerts"]["both"] == 1
    })
    .await;
    assert_eq!(report["alerts"]["active_only"], 0, "{report:#}");

    // discarded, it is gone for good
    let (status, body) = call_as(
        &router,
        Method::DELETE,
        "/v1/packs/shadowtest/shadow",
        &admin,
        Body::empty(),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    drop(router);
    tokio::task::spawn_blocking(move || app.close())
        .await
        .expect("joins")
        .expect("closes");
    let app = reopen();
    let (status, body) = call_as(
        &app.router(),
        Method::GET,
        "/v1/packs/shadowtest/shadow",
        &admin,
        Body::empty(),
    )
    .await;
    assert_eq!(status, StatusCode::NOT_FOUND, "{body}");
    tokio::task::spawn_blocking(move || app.close())
        .await
        .expect("joins")
        .expect("closes");
}
