//! Alert sinks: a stored alert reaches a rotating file and a webhook (retried after a 500),
//! a webhook that never answers neither slows ingest nor keeps alerts from the store, and a
//! sink filtered to some tenants gets only their alerts. Webhooks over https: `sink_tls.rs`.

use std::sync::{Arc, Mutex};

use axum::extract::State;
use axum::http::StatusCode;
use yagura::server::{SinkConfig, SinkKind};

use super::*;

/// `n` port scans from distinct sources: one alert each (threshold 20).
pub(super) fn scans(n: usize) -> String {
    let mut out = String::new();
    for k in 0..n {
        for port in 1..=20 {
            let time = 1_714_557_600_000_i64 + (k * 100 + port) as i64 * 10;
            out.push_str(&format!(
                r#"{{"time":{time},"class":"network","activity":"open","outcome":"failure","src":{{"ip":"10.1.{k}.5","port":40000}},"dst":{{"ip":"10.0.0.9","port":{port}}}}}"#
            ));
            out.push('\n');
        }
    }
    out
}

/// A server with `sinks` and the scan pack active for `default`.
pub(super) async fn with_sinks(dir: &Path, sinks: Vec<SinkConfig>) -> (App, Router, String) {
    let (app, admin) = App::open(ServerConfig {
        sinks,
        ..config(dir)
    })
    .expect("opens");
    let admin = admin.expect("token");
    let key = SecretKey::generate().expect("key");
    app.store().trust_key(&key.public()).expect("trust");
    let router = app.router();
    let (status, body) = post(
        &router,
        "/v1/packs",
        &admin,
        scan_bundle(dir, Some(&key), "1.0.0"),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    let (status, body) = post(
        &router,
        "/v1/packs/acme/activate",
        &admin,
        r#"{"version":"1.0.0"}"#,
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    (app, router, admin)
}

pub(super) async fn metrics(router: &Router, token: &str) -> String {
    let request = Request::builder()
        .uri("/metrics")
        .header("authorization", format!("Bearer {token}"))
        .body(Body::empty())
        .expect("request");
    let response = router.clone().oneshot(request).await.expect("infallible");
    let bytes = axum::body::to_bytes(response.into_body(), 1 << 20)
        .await
        .expect("body");
    String::from_utf8_lossy(&bytes).into_owned()
}

fn webhook(url: String, tries: u32, queue: usize) -> SinkConfig {
    SinkConfig {
        name: "hook".into(),
        queue,
        tenants: None,
        kind: SinkKind::Webhook {
            url,
            tries,
            backoff: Duration::from_millis(20),
            max_backoff: Duration::from_millis(100),
            timeout: Duration::from_secs(60),
            ca_file: None,
        },
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_file_sink_writes_each_alert_as_a_json_line_and_rotates() {
    let dir = tempfile::tempdir().expect("tmp");
    let path = dir.path().join("out/alerts.jsonl");
    let sink = SinkConfig {
        name: "file".into(),
        queue: 100,
        tenants: None,
        // smaller than one alert: every alert starts a new file
        kind: SinkKind::File {
            path: path.clone(),
            max_bytes: 10,
            keep: 2,
        },
    };
    let (app, router, admin) = with_sinks(dir.path(), vec![sink]).await;
    let (status, body) = post(&router, "/v1/events", &admin, scans(4)).await;
    assert_eq!(
        (status, body["accepted"].as_u64()),
        (StatusCode::OK, Some(80)),
        "{body}"
    );
    let closing = app.clone();
    tokio::task::spawn_blocking(move || closing.close())
        .await
        .expect("joins")
        .expect("closes");
    let read =
        |p: PathBuf| std::fs::read_to_string(&p).unwrap_or_else(|e| panic!("{}: {e}", p.display()));
    let mut sources = Vec::new();
    for p in [
        path.with_extension("jsonl.2"),
        path.with_extension("jsonl.1"),
        path.clone(),
    ] {
        let text = read(p);
        assert_eq!(text.lines().count(), 1, "one alert per file: {text}");
        let line: Value = serde_json::from_str(text.trim()).expect("a JSON line");
        assert_eq!(line["change"], "new");
        assert_eq!(line["rule_id"], "vertical-port-scan");
        assert_eq!(line["tenant"], "default");
        assert_eq!(
            line["finding"]["class_uid"], 2004,
            "the OCSF Detection Finding"
        );
        sources.push(line["title"].as_str().expect("title").to_owned());
    }
    assert!(
        !path.with_extension("jsonl.3").exists(),
        "only `keep` = 2 rotated files stay"
    );
    assert!(
        sources[2].contains("10.1.3.5"),
        "the newest alert is in the live file: {sources:?}"
    );
    let text = metrics(&router, &admin).await;
    assert!(
        text.contains("yagura_sink_delivered_total{sink=\"file\"} 4"),
        "{text}"
    );
}

/// What the test's webhook receiver saw.
#[derive(Default)]
struct Received {
    attempts: usize,
    bodies: Vec<Value>,
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_webhook_sink_posts_each_alert_and_retries_after_a_500() {
    let received = Arc::new(Mutex::new(Received::default()));
    async fn hook(State(r): State<Arc<Mutex<Received>>>, body: String) -> StatusCode {
        let mut r = r.lock().expect("lock");
        r.attempts += 1;
        if r.attempts == 1 {
            return StatusCode::INTERNAL_SERVER_ERROR;
        }
        r.bodies
            .push(serde_json::from_str(&body).expect("a JSON body"));
        StatusCode::NO_CONTENT
    }
    let receiver = Router::new()
        .route("/hook", axum::routing::post(hook))
        .with_state(received.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = listener.local_addr().expect("addr");
    tokio::spawn(async move { axum::serve(listener, receiver).await });

    let dir = tempfile::tempdir().expect("tmp");
    let sink = webhook(format!("http://{addr}/hook"), 5, 100);
    let (_app, router, admin) = with_sinks(dir.path(), vec![sink]).await;
    let (status, _) = post(&router, "/v1/events", &admin, scans(1)).await;
    assert_eq!(status, StatusCode::OK);
    for _ in 0..POLLS {
        if !received.lock().expect("lock").bodies.is_empty() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    {
        let r = received.lock().expect("lock");
        assert_eq!(r.attempts, 2, "one 500, then taken");
        assert_eq!(r.bodies.len(), 1);
        assert_eq!(r.bodies[0]["change"], "new");
        assert_eq!(r.bodies[0]["rule_id"], "vertical-port-scan");
    }
    // the sink counts the delivery once the receiver's answer is back
    let text = metrics_until(&router, &admin, |t| {
        t.contains("yagura_sink_delivered_total{sink=\"hook\"} 1")
    })
    .await;
    assert!(
        text.contains("yagura_sink_delivered_total{sink=\"hook\"} 1"),
        "{text}"
    );
    assert!(
        text.contains("yagura_sink_retries_total{sink=\"hook\"} 1"),
        "{text}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_webhook_that_never_answers_does_not_slow_ingest_or_the_store() {
    // accepts connections and never answers
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = listener.local_addr().expect("addr");
    tokio::spawn(async move {
        let mut held = Vec::new();
        while let Ok((socket, _)) = listener.accept().await {
            held.push(socket);
        }
    });
    let dir = tempfile::tempdir().expect("tmp");
    // queue of 1: the first alert hangs in the post, the second waits, the rest are dropped;
    // the post waits an hour, so an ingest that waited on the sink would trip the guard below
    let mut sink = webhook(format!("http://{addr}/hook"), 3, 1);
    if let SinkKind::Webhook { timeout, .. } = &mut sink.kind {
        *timeout = Duration::from_secs(3600);
    }
    let (_app, router, admin) = with_sinks(dir.path(), vec![sink]).await;
    for batch in 0..3 {
        let events = scans(10).replace("10.1.", &format!("10.{}.", 10 + batch));
        let answer = tokio::time::timeout(
            Duration::from_secs(300),
            post(&router, "/v1/events", &admin, events),
        )
        .await
        .expect("ingest answers while the webhook hangs");
        assert_eq!(answer.0, StatusCode::OK, "{}", answer.1);
    }
    // every alert is stored although the sink holds at most two
    for _ in 0..POLLS {
        let (_, body) = get(&router, "/v1/alerts?limit=100", &admin).await;
        if body["alerts"].as_array().map_or(0, Vec::len) == 30 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let (_, body) = get(&router, "/v1/alerts?limit=100", &admin).await;
    assert_eq!(body["alerts"].as_array().map(Vec::len), Some(30), "{body}");
    // the dispatcher counts a drop after the alert is stored: it may be a notice behind
    let dropped = |text: &str| -> Option<f64> {
        text.lines()
            .find_map(|l| l.strip_prefix("yagura_sink_dropped_total{sink=\"hook\"} "))
            .and_then(|v| v.parse().ok())
    };
    let text = metrics_until(&router, &admin, |t| dropped(t).is_some_and(|d| d >= 28.0)).await;
    let dropped = dropped(&text).unwrap_or_else(|| panic!("no drop count: {text}"));
    assert!(dropped >= 28.0, "the full queue dropped alerts: {dropped}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_sink_filtered_to_tenants_gets_only_their_alerts() {
    let dir = tempfile::tempdir().expect("tmp");
    let file = |name: &str, tenants: Option<&[&str]>| SinkConfig {
        name: name.into(),
        queue: 100,
        tenants: tenants.map(|t| t.iter().map(|s| (*s).to_owned()).collect()),
        kind: SinkKind::File {
            path: dir.path().join(format!("{name}.jsonl")),
            max_bytes: 1 << 20,
            keep: 1,
        },
    };
    let sinks = vec![
        file("only-default", Some(&["default"])),
        file("only-globex", Some(&["globex"])),
        file("all", None),
    ];
    let (app, router, admin) = with_sinks(dir.path(), sinks).await;

    // a second tenant with the same pack active
    let (status, body) = post(&router, "/v1/tenants", &admin, r#"{"name":"globex"}"#).await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    let scopes =
        json!({ "tenant": "globex", "name": "t", "scopes": ["packs:write", "events:write"] });
    let (status, body) = post(&router, "/v1/tokens", &admin, scopes.to_string()).await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    let globex = body["token"].as_str().expect("token").to_owned();
    let key = SecretKey::generate().expect("key");
    app.store().trust_key(&key.public()).expect("trust");
    let bundle = scan_bundle(dir.path(), Some(&key), "1.0.0");
    let (status, body) = post(&router, "/v1/packs", &globex, bundle).await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    let activate = r#"{"version":"1.0.0"}"#;
    let (status, body) = post(&router, "/v1/packs/acme/activate", &globex, activate).await;
    assert_eq!(status, StatusCode::OK, "{body}");

    // two alerts for `default`, three for `globex`
    let (status, body) = post(&router, "/v1/events", &admin, scans(2)).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let events = scans(3).replace("10.1.", "10.20.");
    let (status, body) = post(&router, "/v1/events", &globex, events).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    // close evaluates the accepted events, stores their alerts and lets the sinks write them
    let closing = app.clone();
    tokio::task::spawn_blocking(move || closing.close())
        .await
        .expect("joins")
        .expect("closes");

    let tenants = |name: &str| -> Vec<String> {
        let path = dir.path().join(format!("{name}.jsonl"));
        let text =
            std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        let mut tenants: Vec<String> = text
            .lines()
            .map(|l| {
                let line: Value = serde_json::from_str(l).expect("a JSON line");
                assert_eq!(line["rule_id"], "vertical-port-scan", "{line}");
                line["tenant"].as_str().expect("tenant").to_owned()
            })
            .collect();
        tenants.sort();
        tenants
    };
    assert_eq!(tenants("only-default"), ["default"; 2]);
    assert_eq!(tenants("only-globex"), ["globex"; 3]);
    assert_eq!(
        tenants("all"),
        ["default", "default", "globex", "globex", "globex"],
        "an unfiltered sink gets every tenant's alerts"
    );
    let text = metrics(&router, &admin).await;
    for (sink, n) in [("only-default", 2), ("only-globex", 3), ("all", 5)] {
        assert!(
            text.contains(&format!(
                "yagura_sink_delivered_total{{sink=\"{sink}\"}} {n}"
            )),
            "{sink}: {text}"
        );
    }
    for sink in ["only-default", "only-globex"] {
        assert_eq!(
            metric(
                &text,
                &format!("yagura_sink_dropped_total{{sink=\"{sink}\"}}")
            )
            .unwrap_or(0.0),
            0.0,
            "another tenant's alert is not a drop: {text}"
        );
    }
}

/// The value of the sample `series` (name and labels) in a /metrics text.
pub(super) fn metric(text: &str, series: &str) -> Option<f64> {
    text.lines()
        .find_map(|l| l.strip_prefix(series)?.strip_prefix(' '))
        .and_then(|v| v.trim().parse().ok())
}
