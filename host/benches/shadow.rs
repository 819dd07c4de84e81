//! Shadow benchmark: what a shadow costs the live path. One `yagura serve` app in process (its
//! router, a real sled store on disk), the core pack 0.1.0 active for the tenant, and rounds
//! of the same events posted through `POST /v1/events`, alternately with no shadow and with a
//! shadow of the core pack 0.2.0 (the same rules: the shadow does the live rules' work once
//! more), in one run.
//!
//! Each round posts `N` process launches and network flows (the swap benchmark's mix, 1 ms
//! apart, over 40 hosts) in requests of 2,000 and times:
//! - **ingest**: until the last request is answered (the events are in the WAL);
//! - **live**: until the live rules have evaluated every event (their `events_in` in `GET
//!   /v1/rules`);
//! - **shadow**: until the shadow has too (`lag_events` 0 and its `events` equal to the live
//!   ones).
//!
//! It also times the one thing the live engine's thread does more with a shadow: copying each
//! batch of parsed events for it. The figures are medians over the rounds of each mode. On 2 cores the shadow's thread
//! competes with the live worker and the HTTP side for the CPU: that contention, not only the
//! copy and the send, is what the live figure shows.
//!
//! Run: `cargo xtask bench --bench shadow` (builds the rules first), or after
//! `cargo xtask build-rules`: `cargo bench -p yagura --bench shadow`.
//! `YAGURA_BENCH_QUICK=1` posts fewer events (for CI smoke runs).

mod mix;

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use axum::Router;
use axum::body::Body;
use axum::http::{Method, Request, StatusCode};
use serde_json::{Value as Json, json};
use tower::ServiceExt;

use yagura::pack::{Bundle, SecretKey};
use yagura::server::{App, ServerConfig};

const CHUNK: usize = 2_000;

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..")
}

/// The core pack at `version`, signed with `key`.
fn core_pack(dir: &Path, key: &SecretKey, version: &str) -> Vec<u8> {
    let manifest = std::fs::read_to_string(root().join("rules/pack.toml")).expect("manifest");
    let rules = root().join("rules").canonicalize().expect("rules dir");
    let manifest = manifest
        .replacen(
            "version = \"0.1.0\"",
            &format!("version = \"{version}\""),
            1,
        )
        .replace(
            "component = \"",
            &format!("component = \"{}/", rules.display()),
        )
        .replace("cases = \"", &format!("cases = \"{}/", rules.display()));
    let path = dir.join(format!("pack-{version}.toml"));
    std::fs::write(&path, manifest).expect("write the manifest");
    let mut bundle = Bundle::build(&path).unwrap_or_else(|e| {
        panic!("the core pack builds ({e:#}); run `cargo xtask build-rules` first")
    });
    bundle.sign(key);
    bundle.to_bytes().expect("bytes")
}

/// Round `round`'s events as NDJSON requests of [`CHUNK`]: the mix (`mix::line`), each round
/// later than the one before (never late).
fn requests(round: usize, n: usize) -> Vec<String> {
    let t0 = 1_714_557_600_000i64 + (round * n) as i64;
    let lines: Vec<String> = (0..n).map(|i| mix::line(i, t0)).collect();
    lines.chunks(CHUNK).map(|c| c.join("\n")).collect()
}

async fn call(router: &Router, method: Method, uri: &str, token: &str, body: String) -> Json {
    let request = Request::builder()
        .method(method)
        .uri(uri)
        .header("authorization", format!("Bearer {token}"))
        .body(Body::from(body))
        .expect("request");
    let response = router.clone().oneshot(request).await.expect("infallible");
    let status = response.status();
    let bytes = axum::body::to_bytes(response.into_body(), 64 << 20)
        .await
        .expect("body");
    let value: Json = serde_json::from_slice(&bytes).unwrap_or(Json::Null);
    assert!(status.is_success(), "{uri}: {status}: {value}");
    value
}

/// The live rules' events, summed.
async fn live_events(router: &Router, token: &str) -> u64 {
    let rules = call(router, Method::GET, "/v1/rules", token, String::new()).await;
    rules["rules"]
        .as_array()
        .map(|r| r.iter().filter_map(|r| r["events_in"].as_u64()).sum())
        .unwrap_or(0)
}

/// The shadow's events and the live rules' it compares, summed, and its lag.
async fn shadow_events(router: &Router, token: &str) -> (u64, u64, u64) {
    let report = call(
        router,
        Method::GET,
        "/v1/packs/yagura-core/shadow",
        token,
        String::new(),
    )
    .await;
    let sum = |side: &str| -> u64 {
        report["rules"]
            .as_array()
            .map(|r| r.iter().filter_map(|r| r[side]["events"].as_u64()).sum())
            .unwrap_or(0)
    };
    (
        sum("active"),
        sum("shadow"),
        report["lag_events"].as_u64().unwrap_or(u64::MAX),
    )
}

struct Round {
    ingest: Duration,
    live: Duration,
    shadow: Option<Duration>,
}

fn median(mut v: Vec<Duration>) -> Duration {
    v.sort();
    v.get(v.len() / 2).copied().unwrap_or_default()
}

#[allow(clippy::too_many_lines)]
fn main() {
    let quick = std::env::var_os("YAGURA_BENCH_QUICK").is_some();
    let (n, rounds) = if quick { (4_000, 2) } else { (40_000, 5) };
    let dir = tempfile::tempdir().expect("tmp");
    let config = ServerConfig {
        store: dir.path().join("store"),
        cache_dir: Some(root().join("target/yagura-bench-cache")),
        flush_after: Duration::from_millis(20),
        queue_events: 1_000_000,
        ..ServerConfig::default()
    };
    let (app, admin) = App::open(config).expect("the server opens");
    let admin = admin.expect("a fresh store prints an admin token");
    let key = SecretKey::generate().expect("key");
    app.store().trust_key(&key.public()).expect("trust");
    let router = app.router();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("tokio");
    runtime.block_on(async {
        for version in ["0.1.0", "0.2.0"] {
            let bundle = core_pack(dir.path(), &key, version);
            let request = Request::builder()
                .method(Method::POST)
                .uri("/v1/packs")
                .header("authorization", format!("Bearer {admin}"))
                .body(Body::from(bundle))
                .expect("request");
            let response = router.clone().oneshot(request).await.expect("infallible");
            assert_eq!(response.status(), StatusCode::CREATED);
        }
        call(
            &router,
            Method::POST,
            "/v1/packs/yagura-core/activate",
            &admin,
            json!({ "version": "0.1.0" }).to_string(),
        )
        .await;

        // a warm-up round without a shadow, which also gives what a round adds to the sum of
        // the rules' events (the same mix every round)
        let before = live_events(&router, &admin).await;
        for body in requests(0, n) {
            call(&router, Method::POST, "/v1/events", &admin, body).await;
        }
        let mut last = (before, Instant::now());
        loop {
            tokio::time::sleep(Duration::from_millis(100)).await;
            let now = live_events(&router, &admin).await;
            if now != last.0 {
                last = (now, Instant::now());
            } else if last.1.elapsed() > Duration::from_secs(2) {
                break;
            }
        }
        let per_round = last.0 - before;

        let mut plain = Vec::new();
        let mut shadowed = Vec::new();
        for round in 1..=2 * rounds {
            let with_shadow = round % 2 == 0;
            if with_shadow {
                call(
                    &router,
                    Method::POST,
                    "/v1/packs/yagura-core/shadow",
                    &admin,
                    json!({ "version": "0.2.0", "max_lag": 10_000_000 }).to_string(),
                )
                .await;
            }
            let target = live_events(&router, &admin).await + per_round;
            let started = Instant::now();
            for body in requests(round, n) {
                call(&router, Method::POST, "/v1/events", &admin, body).await;
            }
            let ingest = started.elapsed();
            while live_events(&router, &admin).await < target {
                tokio::time::sleep(Duration::from_millis(2)).await;
            }
            let live = started.elapsed();
            let shadow = if with_shadow {
                loop {
                    let (active, shadow, lag) = shadow_events(&router, &admin).await;
                    if lag == 0 && shadow >= active && active > 0 {
                        break;
                    }
                    tokio::time::sleep(Duration::from_millis(2)).await;
                }
                let took = started.elapsed();
                let report = call(
                    &router,
                    Method::DELETE,
                    "/v1/packs/yagura-core/shadow",
                    &admin,
                    String::new(),
                )
                .await;
                assert_eq!(
                    report["findings"]["active_only"], 0,
                    "the same rules find the same: {report:#}"
                );
                assert_eq!(report["findings"]["shadow_only"], 0, "{report:#}");
                Some(took)
            } else {
                None
            };
            let figures = Round {
                ingest,
                live,
                shadow,
            };
            if with_shadow {
                shadowed.push(figures);
            } else {
                plain.push(figures);
            }
        }
        let rate = |d: Duration| n as f64 / d.as_secs_f64();
        let report = |name: &str, rounds: &[Round]| {
            let ingest = median(rounds.iter().map(|r| r.ingest).collect());
            let live = median(rounds.iter().map(|r| r.live).collect());
            let shadow = median(rounds.iter().filter_map(|r| r.shadow).collect());
            println!(
                "{name:<14} ingest {:>9.0} events/s   live rules done {:>9.0} events/s{}",
                rate(ingest),
                rate(live),
                if rounds.iter().any(|r| r.shadow.is_some()) {
                    format!("   shadow done {:>9.0} events/s", rate(shadow))
                } else {
                    String::new()
                }
            );
            live
        };
        let rules = call(&router, Method::GET, "/v1/rules", &admin, String::new()).await;
        println!(
            "shadow benchmark: {n} events per round, {rounds} rounds per mode, the core pack's \
             {} rules, medians",
            rules["rules"].as_array().map_or(0, Vec::len)
        );
        let without = report("no shadow", &plain);
        let with = report("with a shadow", &shadowed);
        println!(
            "live path with a shadow: {:.2}x the time without (live rules done)",
            with.as_secs_f64() / without.as_secs_f64()
        );
        // the one thing the live engine's thread does more: copy each batch for the shadow
        let events: Vec<yagura::event::Event> = requests(0, n)
            .iter()
            .flat_map(|r| r.lines().map(str::to_owned).collect::<Vec<_>>())
            .map(|line| yagura::event::parse_event(&line).expect("an event"))
            .collect();
        let mut copies = Vec::new();
        for _ in 0..5 {
            let started = Instant::now();
            for batch in events.chunks(CHUNK) {
                std::hint::black_box(batch.to_vec());
            }
            copies.push(started.elapsed());
        }
        let copy = median(copies);
        println!(
            "copy handed to the shadow: {:.0} ns per event, {:.1} % of the live time per event \
             without a shadow",
            copy.as_nanos() as f64 / n as f64,
            100.0 * copy.as_secs_f64() / without.as_secs_f64()
        );
    });
    runtime.block_on(async { tokio::task::yield_now().await });
    app.close().expect("closes");
}
