//! The rule limits of `yagura serve` (`--memory-mib`, `--deadline-ms`) reach the sandbox its
//! tenants' rules run in, and an engine that cannot keep up turns ingest away with 429 and
//! `Retry-After` instead of queueing without end.

use tower::ServiceExt;
use yagura::engine::EngineOptions;
use yagura::sandbox::Limits;

use super::*;

/// A signed one-rule pack `hostile` of the hostile fixture, misbehaving as `mode`.
fn hostile_bundle(dir: &Path, key: &SecretKey, mode: &str) -> Vec<u8> {
    let rule_dir = dir.join(format!("hostile-{mode}"));
    std::fs::create_dir_all(&rule_dir).expect("mkdir");
    let component = root().join("target/rules/fixtures/hostile.wasm");
    assert!(
        component.exists(),
        "{} is missing: run `cargo xtask build-rules` first",
        component.display()
    );
    let manifest = format!(
        "[pack]\nname = \"hostile\"\nversion = \"1.0.0\"\npublisher = \"ACME\"\n\
         description = \"misbehaves\"\nlicense = \"Apache-2.0\"\n\
         [requires]\nwit = \"^0.1\"\nhost = \">=0.1.0\"\n\
         [[rule]]\nid = \"hostile\"\ncomponent = \"{}\"\n[rule.config]\nmode = \"{mode}\"\n",
        component.display()
    );
    let path = rule_dir.join("pack.toml");
    std::fs::write(&path, manifest).expect("manifest");
    let mut bundle = Bundle::build(&path).expect("builds");
    bundle.sign(key);
    bundle.to_bytes().expect("bytes")
}

/// A server on a fresh store with `limits`, `queue_events` and a 10 ms idle flush; trusting
/// the fixture's key.
fn server_with(limits: Limits, queue_events: usize) -> Fixture {
    fixture_with(|c| ServerConfig {
        limits,
        queue_events,
        flush_after: Duration::from_millis(10),
        ..c
    })
}

/// With 1 MiB per instance, a Rust rule whose module asks for more memory at start cannot
/// run: its pack is refused, saying why. The default 64 MiB takes it (every other test).
#[tokio::test]
async fn the_memory_limit_reaches_the_tenants_rules() {
    let f = server_with(
        Limits {
            memory_bytes: 1 << 20,
            ..Limits::default()
        },
        100_000,
    );
    let bundle = scan_bundle(f.dir.path(), Some(&f.key), "1.0.0");
    let (status, body) = post(&f.router, "/v1/packs", &f.admin, bundle).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
    assert!(body.to_string().contains("memory"), "{body}");
}

/// An event of class process at `t` ms.
fn event(t: i64) -> String {
    format!(r#"{{"time":{t},"class":"process","activity":"create"}}"#)
}

/// A server whose engine is busy with a rule that spins until its deadline, with one event
/// queued behind it in a queue of `queue_events`.
///
/// No step waits on a clock. Batches of one event, and events 20 s apart (past the 5 s
/// lateness), make the engine evaluate the first event at the latest while it takes the second
/// request: from then on the rule spins, holding the second request in the queue (the queue
/// counts a request until the engine has pushed its events). The spin lasts 10 s of CPU
/// time, far longer than a few in-process requests, and the rule is quarantined at its first
/// timeout so it spins once.
async fn busy_engine(queue_events: usize) -> Fixture {
    let f = fixture_with(|c| ServerConfig {
        limits: Limits {
            call_deadline: Duration::from_secs(10),
            ..Limits::default()
        },
        queue_events,
        flush_after: Duration::from_millis(10),
        engine: EngineOptions {
            batch_size: 1,
            quarantine_faults: 1,
            ..EngineOptions::default()
        },
        ..c
    });
    let bundle = hostile_bundle(f.dir.path(), &f.key, "loop");
    let (status, body) = post(&f.router, "/v1/packs", &f.admin, bundle).await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    let (status, body) = post(
        &f.router,
        "/v1/packs/hostile/activate",
        &f.admin,
        r#"{"version":"1.0.0"}"#,
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{body}");

    let (status, body) = post(&f.router, "/v1/events", &f.admin, event(1_000)).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    // the engine has taken the first request (it may be spinning on it already)
    let text = metrics_until(&f.router, &f.admin, |text| {
        text.contains(r#"yagura_engine_queue_events{tenant="default"} 0"#)
    })
    .await;
    assert!(
        text.contains(r#"yagura_engine_queue_events{tenant="default"} 0"#),
        "{text}"
    );
    let (status, body) = post(&f.router, "/v1/events", &f.admin, event(21_000)).await;
    assert_eq!(
        status,
        StatusCode::OK,
        "queued behind the busy rule: {body}"
    );
    f
}

/// With room for one queued event, the first request is taken, the second waits in the
/// queue behind the spinning rule, and the third is answered 429 with `Retry-After: 1`,
/// counted as refused (`queue_full`) before its body is read; nothing of it is taken.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_busy_engine_answers_429_with_retry_after() {
    let f = busy_engine(1).await;
    let request = Request::builder()
        .method(Method::POST)
        .uri("/v1/events")
        .header("authorization", format!("Bearer {}", f.admin))
        .body(Body::from(event(41_000)))
        .expect("request");
    let response = f.router.clone().oneshot(request).await.expect("answers");
    assert_eq!(response.status(), StatusCode::TOO_MANY_REQUESTS);
    assert_eq!(
        response
            .headers()
            .get("retry-after")
            .and_then(|v| v.to_str().ok()),
        Some("1")
    );
    // its body was not read: the connection cannot carry another request, and says so
    assert_eq!(
        response
            .headers()
            .get("connection")
            .and_then(|v| v.to_str().ok()),
        Some("close")
    );
    let (status, metrics) = get(&f.router, "/metrics", &f.admin).await;
    assert_eq!(status, StatusCode::OK);
    let text = metrics.as_str().expect("text");
    assert!(
        text.contains(
            r#"yagura_ingest_requests_refused_total{tenant="default",reason="queue_full"} 1"#
        ),
        "{text}"
    );
    assert!(
        text.contains(r#"yagura_events_accepted_total{tenant="default",source="http"} 2"#),
        "the refused event is not counted as accepted: {text}"
    );

    // refused before its body is read: a body that is not even gzip gets the 429, not a 400
    let request = Request::builder()
        .method(Method::POST)
        .uri("/v1/events")
        .header("authorization", format!("Bearer {}", f.admin))
        .body(Body::from(vec![0x1f, 0x8b, 0, 1, 2, 3]))
        .expect("request");
    let response = f.router.clone().oneshot(request).await.expect("answers");
    assert_eq!(response.status(), StatusCode::TOO_MANY_REQUESTS);
}

/// A body with more events than the queue has room for is refused (429) as soon as its
/// events outgrow the room, while it is read: the rest is not parsed, nothing is taken, and
/// it counts as refused (`queue_room`), not as throttled events.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_body_larger_than_the_queue_room_is_refused_while_it_is_read() {
    let f = busy_engine(1_500).await;
    // 1,499 places left: 3,000 events do not fit, 1,000 do
    let big: String = (0..3_000).map(|i| event(41_000 + i) + "\n").collect();
    let (status, body) = post(&f.router, "/v1/events", &f.admin, big).await;
    assert_eq!(status, StatusCode::TOO_MANY_REQUESTS, "{body}");
    assert!(body.to_string().contains("at least 2048 events"), "{body}");
    let (status, metrics) = get(&f.router, "/metrics", &f.admin).await;
    assert_eq!(status, StatusCode::OK);
    let text = metrics.as_str().expect("text");
    assert!(
        text.contains(
            r#"yagura_ingest_requests_refused_total{tenant="default",reason="queue_room"} 1"#
        ),
        "{text}"
    );
    assert!(
        !text.contains("yagura_events_throttled_total{"),
        "refused while read, not parsed whole and throttled: {text}"
    );
    let small: String = (0..1_000).map(|i| event(41_000 + i) + "\n").collect();
    let (status, body) = post(&f.router, "/v1/events", &f.admin, small).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["accepted"], 1_000, "{body}");
}
