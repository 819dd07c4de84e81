//! Durability (issue 7, items 2, 3 and 6): rule state is checkpointed and restored across a
//! restart; an acknowledged event survives `kill -9` (write-ahead log) and is evaluated once
//! into the state; a crash during an activation leaves the old or the new version running,
//! never a mix. The real binary also shows its stdout alert sink here (one JSON line per alert).
//!
//! The proofs use the fixture rule `counter` (tests/rules/counter): it counts events per host
//! and in total in host state, and can report every event with its seq and the running total
//! (dedup key = seq), so the alerts show which seqs were evaluated and what the state held
//! at each. The crash tests run the real binary and kill it.
//!
//! Needs the fixture components (`cargo xtask build-rules`; `cargo xtask test` runs it first).

use std::collections::BTreeSet;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::OnceLock;
use std::sync::mpsc;
use std::time::Duration;

use axum::Router;
use axum::body::Body;
use axum::http::{Method, StatusCode};
use serde_json::{Value as Json, json};

use yagura::engine::{Engine, EngineOptions, EngineSnapshot};
use yagura::event::Event;
use yagura::finding::Finding;
use yagura::pack::{Bundle, SecretKey};
use yagura::rule::{RuleInfo, Value};
use yagura::sandbox::{RuleInstance, Sandbox};
use yagura::server::{App, ServerConfig};
use yagura::state::{RuleState, StateLimits};
use yagura::store::{DEFAULT_TENANT, Store};

use crate::support::{POLLS, TEST_DEADLINE_MS, call_as, root, test_limits};

const T0: i64 = 1_714_557_600_000;

fn fixture_path(name: &str) -> PathBuf {
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

/// A signed pack `swaptest@VERSION` of the counter rule with `config` (TOML lines).
fn counter_bundle(dir: &Path, key: &SecretKey, version: &str, config: &str) -> Vec<u8> {
    let rule_dir = dir.join(format!("src-{version}"));
    std::fs::create_dir_all(&rule_dir).expect("mkdir");
    let case = format!(
        "rule = \"counter\"\n\n[[case]]\nname = \"two events of a host reach threshold 2\"\n\
         config = {{ threshold = 2, report_each = false }}\nfindings = 1\nevents = \"\"\"\n{}\n{}\n\"\"\"\n\n\
         [[case.expect]]\ntitle = \"threshold\"\n",
        r#"{"time":1714557600000,"class":"process","device":{"hostname":"h"}}"#,
        r#"{"time":1714557601000,"class":"process","device":{"hostname":"h"}}"#,
    );
    std::fs::write(rule_dir.join("cases.toml"), case).expect("cases");
    let manifest = format!(
        "[pack]\nname = \"swaptest\"\nversion = \"{version}\"\npublisher = \"ACME\"\n\
         description = \"fixtures\"\nlicense = \"Apache-2.0\"\n\
         [requires]\nwit = \"^0.1\"\nhost = \">=0.1.0\"\n\
         [[rule]]\nid = \"counter\"\ncomponent = \"{}\"\ncases = \"cases.toml\"\n\
         [rule.config]\n{config}\n",
        fixture_path("counter").display()
    );
    let manifest_path = rule_dir.join("pack.toml");
    std::fs::write(&manifest_path, manifest).expect("manifest");
    let mut bundle = Bundle::build(&manifest_path).expect("builds");
    bundle.sign(key);
    bundle.to_bytes().expect("bytes")
}

/// Events `from..to` of host `h1`, one second apart, as NDJSON.
fn ndjson(from: i64, to: i64) -> String {
    (from..to)
        .map(|i| {
            format!(
                r#"{{"time":{},"class":"process","device":{{"hostname":"h1"}}}}"#,
                T0 + i * 1_000
            ) + "\n"
        })
        .collect()
}

/// The alerts of `title` (the finding's title).
fn titled<'a>(alerts: &'a [Json], title: &str) -> Vec<&'a Json> {
    alerts.iter().filter(|a| a["title"] == title).collect()
}

fn context<'a>(alert: &'a Json, key: &str) -> &'a str {
    alert["finding"]["unmapped"]["context"][key]
        .as_str()
        .unwrap_or_else(|| panic!("context `{key}` in {alert}"))
}

// ---------------------------------------------------------------------------------------
// engine: snapshot and restore

fn counter_instance() -> RuleInstance {
    static SANDBOX: OnceLock<Sandbox> = OnceLock::new();
    let sandbox = SANDBOX.get_or_init(|| {
        Sandbox::builder()
            .limits(test_limits())
            .cache_dir(root().join("target/yagura-test-cache"))
            .build()
            .expect("the sandbox starts")
    });
    let bytes = std::fs::read(fixture_path("counter")).expect("read the component");
    sandbox
        .load(&bytes, "counter")
        .expect("counter loads")
        .instantiate(&[("report_each".to_owned(), Value::Boolean(true))])
        .expect("counter instantiates")
}

/// A finding as the tests compare it: title, dedup key, context.
type Seen = (String, String, Vec<(String, String)>);

fn push_all(engine: &mut Engine, events: &[Event], seen: &mut Vec<Seen>) {
    let mut sink = |_: &RuleInfo, f: Finding| seen.push((f.title, f.dedup_key, f.context));
    for event in events {
        engine.push(event.clone(), &mut sink);
    }
}

fn flush(engine: &mut Engine, seen: &mut Vec<Seen>) {
    engine.flush(&mut |_: &RuleInfo, f: Finding| seen.push((f.title, f.dedup_key, f.context)));
}

#[test]
fn an_engine_restored_from_a_snapshot_goes_on_as_if_it_never_stopped() {
    let options = EngineOptions {
        batch_size: 4,
        lateness_ms: 5_000,
        ..EngineOptions::default()
    };
    // two hosts, 1 s apart, every third event 2.5 s late: some wait in the reorder buffer,
    // some in a partial batch, some arrive late
    let events: Vec<Event> = (0..60)
        .map(|i| {
            let late = if i % 3 == 2 { 2_500 } else { 0 };
            let host = if i % 2 == 0 { "h1" } else { "h2" };
            let json = format!(
                r#"{{"time":{},"class":"process","device":{{"hostname":"{host}"}}}}"#,
                T0 + i * 1_000 - late
            );
            yagura::event::parse_event(&json).expect("a valid event")
        })
        .collect();

    let mut whole = Engine::new(options);
    whole.add_rule(counter_instance());
    let mut expected = Vec::new();
    push_all(&mut whole, &events, &mut expected);
    flush(&mut whole, &mut expected);

    let mut first = Engine::new(options);
    first.add_rule(counter_instance());
    let mut seen = Vec::new();
    push_all(&mut first, &events[..31], &mut seen);
    assert!(first.pending() > 0, "events wait at the checkpoint");
    // through the encodings the store keeps
    let snapshot: EngineSnapshot =
        serde_json::from_slice(&serde_json::to_vec(&first.snapshot()).expect("encodes"))
            .expect("decodes");
    let states: Vec<(String, Vec<u8>)> = first
        .rule_states()
        .map(|(id, state)| (id.to_owned(), state.encode()))
        .collect();
    drop(first);

    let mut second = Engine::new(options);
    second.add_rule(counter_instance());
    let restored = second.restore(snapshot, |info| {
        let (_, bytes) = states.iter().find(|(id, _)| *id == info.id)?;
        Some(RuleState::decode(bytes, StateLimits::default()).expect("the state decodes"))
    });
    assert_eq!(restored, vec!["counter".to_owned()]);
    push_all(&mut second, &events[31..], &mut seen);
    flush(&mut second, &mut seen);
    assert!(expected.len() >= 60, "one finding per event at least");
    assert_eq!(
        seen, expected,
        "the same findings, in the same order, with the same counts"
    );
}

// ---------------------------------------------------------------------------------------
// in process: a graceful restart

fn config(store: &Path) -> ServerConfig {
    ServerConfig {
        store: store.to_path_buf(),
        cache_dir: Some(root().join("target/yagura-test-cache")),
        flush_after: Duration::from_millis(50),
        // only at shutdown: this test is about the shutdown checkpoint
        checkpoint_every: None,
        limits: test_limits(),
        ..ServerConfig::default()
    }
}

async fn close(app: App) {
    tokio::task::spawn_blocking(move || app.close())
        .await
        .expect("joins")
        .expect("closes");
}

/// Polls the tenant's alerts until `done` holds for them; returns them.
async fn wait_for_alerts(
    router: &Router,
    token: &str,
    done: impl Fn(&[Json]) -> bool,
) -> Vec<Json> {
    let mut last = Vec::new();
    for _ in 0..POLLS {
        let (status, body) = call_as(
            router,
            Method::GET,
            "/v1/alerts?limit=1000",
            token,
            Body::empty(),
        )
        .await;
        assert_eq!(status, StatusCode::OK, "{body}");
        last = body["alerts"].as_array().cloned().unwrap_or_default();
        if done(&last) {
            return last;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!(
        "the alerts did not reach the expected state after {POLLS} polls; last: {} alerts",
        last.len()
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_counting_window_continues_across_a_graceful_restart() {
    let dir = tempfile::tempdir().expect("tmp");
    let store = dir.path().join("store");
    let key = SecretKey::generate().expect("key");
    let (app, admin) = App::open(config(&store)).expect("the server opens");
    let admin = admin.expect("a fresh store prints an admin token");
    app.store().trust_key(&key.public()).expect("trust");
    let router = app.router();
    let bundle = counter_bundle(dir.path(), &key, "1.0.0", "threshold = 10");
    let (status, body) = call_as(&router, Method::POST, "/v1/packs", &admin, bundle).await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    let (status, body) = call_as(
        &router,
        Method::POST,
        "/v1/packs/swaptest/activate",
        &admin,
        json!({ "version": "1.0.0" }).to_string(),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let (status, body) = call_as(&router, Method::POST, "/v1/events", &admin, ndjson(0, 6)).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    close(app).await;
    // the router holds the store open
    drop(router);

    // the shutdown checkpoint holds the count and seq; the WAL is trimmed
    let saved = Store::open(&store).expect("reopens");
    let checkpoint = saved
        .load_checkpoint(DEFAULT_TENANT)
        .expect("readable")
        .expect("saved at shutdown");
    assert_eq!(checkpoint.engine.next_seq, 7, "six events took seq 1-6");
    assert!(checkpoint.rules.iter().any(|(id, _)| id == "counter"));
    assert_eq!(
        saved.wal_len(DEFAULT_TENANT).expect("wal"),
        0,
        "covered by the checkpoint"
    );
    drop(saved);

    let (app, none) = App::open(config(&store)).expect("the server opens again");
    assert!(none.is_none(), "no new admin token on a known store");
    let router = app.router();
    let (status, body) = call_as(&router, Method::POST, "/v1/events", &admin, ndjson(6, 10)).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let alerts = wait_for_alerts(&router, &admin, |a| !titled(a, "threshold").is_empty()).await;
    let threshold = titled(&alerts, "threshold");
    assert_eq!(threshold.len(), 1, "{alerts:?}");
    assert_eq!(
        context(threshold[0], "count"),
        "10",
        "6 before the restart + 4 after"
    );
    assert!(
        titled(&alerts, "seq-gap").is_empty(),
        "seq continued at 7: {alerts:?}"
    );
    close(app).await;
}

// ---------------------------------------------------------------------------------------
// the real binary, killed

/// A running `yagura serve`.
struct Server {
    child: Child,
    base: String,
    /// the admin token, on the first start of a store
    token: Option<String>,
    /// what it prints after it listens: (from stdout, the line)
    output: mpsc::Receiver<(bool, String)>,
}

impl Server {
    /// Starts `yagura serve` on `store` (free port), checkpointing every `checkpoint_s`, with
    /// the crash hook at `crash_at`; returns once it listens (after its recovery).
    fn start(store: &Path, checkpoint_s: u32, crash_at: Option<&str>) -> Server {
        Server::start_with(store, checkpoint_s, crash_at, &[])
    }

    /// [`Server::start`] with more arguments (`--config FILE`…).
    fn start_with(
        store: &Path,
        checkpoint_s: u32,
        crash_at: Option<&str>,
        args: &[&str],
    ) -> Server {
        // a store without tokens gets an admin token, printed (stdout) before the address
        // (stderr); the store is closed again before the server opens it
        let fresh = !Store::open(store)
            .expect("the store opens")
            .has_tokens()
            .expect("readable");
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_yagura"));
        cmd.args(["serve", "--listen", "127.0.0.1:0", "--flush-ms", "50"])
            .args(["--deadline-ms", TEST_DEADLINE_MS])
            .arg("--store")
            .arg(store)
            .args(["--checkpoint-s", &checkpoint_s.to_string()])
            .args(args)
            .env_remove("YAGURA_CONFIG")
            .env("RUST_LOG", "info")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        match crash_at {
            Some(point) => cmd.env("YAGURA_CRASH_AT", point),
            None => cmd.env_remove("YAGURA_CRASH_AT"),
        };
        let mut child = cmd.spawn().expect("yagura serve starts");
        let (lines, read) = mpsc::channel::<(bool, String)>();
        let stdout = child.stdout.take().expect("stdout");
        let stderr = child.stderr.take().expect("stderr");
        for (is_out, stream) in [
            (true, Box::new(stdout) as Box<dyn std::io::Read + Send>),
            (false, Box::new(stderr)),
        ] {
            let lines = lines.clone();
            // drains the pipe for the life of the process, so the server never blocks on it
            std::thread::spawn(move || {
                for line in BufReader::new(stream).lines().map_while(Result::ok) {
                    let _ = lines.send((is_out, line));
                }
            });
        }
        let (mut token, mut base) = (None, None);
        let mut seen = Vec::new();
        // the two pipes race: read on until both the address and (on a fresh store) the
        // token have come, whatever their order
        while base.is_none() || (fresh && token.is_none()) {
            let Ok((is_out, line)) = read.recv_timeout(Duration::from_secs(120)) else {
                panic!(
                    "yagura serve did not report its address (and, on a fresh store, its token); output:\n{}",
                    seen.join("\n")
                );
            };
            if is_out
                && let Some(t) = line
                    .split(": ")
                    .nth(1)
                    .filter(|_| line.starts_with("admin token"))
            {
                token = Some(t.trim().to_owned());
            }
            if let Some(rest) = line.strip_prefix("yagura serve: listening on ") {
                base = rest.split(',').next().map(str::to_owned);
            }
            seen.push(line);
        }
        Server {
            child,
            base: base.expect("an address"),
            token,
            output: read,
        }
    }

    fn kill_9(mut self) {
        self.child.kill().expect("SIGKILL");
        self.child.wait().expect("reaped");
    }

    /// SIGTERM, and waits for a clean exit.
    fn stop(mut self) {
        let status = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status()
            .expect("kill runs");
        assert!(status.success());
        let exit = self.child.wait().expect("exits");
        assert!(exit.success(), "graceful shutdown: {exit}");
    }

    /// Waits for the process to end by itself (a crash hook); true if it aborted.
    fn wait_for_crash(mut self) -> bool {
        let exit = self.child.wait().expect("exits");
        !exit.success()
    }
}

/// A test that fails before it stops its server must not leave the process running.
impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

async fn http(
    base: &str,
    token: &str,
    method: reqwest::Method,
    path: &str,
    body: impl Into<reqwest::Body>,
) -> reqwest::Result<(u16, Json)> {
    let response = reqwest::Client::new()
        .request(method, format!("{base}{path}"))
        .header("authorization", format!("Bearer {token}"))
        .body(body)
        .send()
        .await?;
    let status = response.status().as_u16();
    let text = response.text().await?;
    Ok((
        status,
        serde_json::from_str(&text).unwrap_or(Json::String(text)),
    ))
}

async fn ok(
    base: &str,
    token: &str,
    method: reqwest::Method,
    path: &str,
    body: impl Into<reqwest::Body>,
) -> Json {
    let (status, body) = http(base, token, method, path, body)
        .await
        .expect("the server answers");
    assert!((200..300).contains(&status), "{path}: {status} {body}");
    body
}

async fn alerts(base: &str, token: &str) -> Vec<Json> {
    let body = ok(
        base,
        token,
        reqwest::Method::GET,
        "/v1/alerts?limit=1000",
        "",
    )
    .await;
    body["alerts"].as_array().cloned().unwrap_or_default()
}

async fn poll_alerts(base: &str, token: &str, done: impl Fn(&[Json]) -> bool) -> Vec<Json> {
    let mut last = Vec::new();
    for _ in 0..POLLS {
        last = alerts(base, token).await;
        if done(&last) {
            return last;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let seqs: Vec<&str> = titled(&last, "event")
        .iter()
        .filter_map(|a| a["dedup_key"].as_str())
        .collect();
    panic!(
        "the alerts did not reach the expected state after {POLLS} polls; last: {} alerts, {} of \
         events, newest seqs {:?}",
        last.len(),
        seqs.len(),
        &seqs[..seqs.len().min(5)]
    );
}

/// A fresh store trusting `key`, its folder inside `dir`.
fn store_trusting(dir: &Path, key: &SecretKey) -> PathBuf {
    let store = dir.join("store");
    Store::open(&store)
        .expect("store")
        .trust_key(&key.public())
        .expect("trust");
    store
}

async fn upload_and_activate(server: &Server, token: &str, bundle: Vec<u8>, version: &str) {
    ok(
        &server.base,
        token,
        reqwest::Method::POST,
        "/v1/packs",
        bundle,
    )
    .await;
    if !version.is_empty() {
        let body = json!({ "version": version }).to_string();
        ok(
            &server.base,
            token,
            reqwest::Method::POST,
            "/v1/packs/swaptest/activate",
            body,
        )
        .await;
    }
}

/// Checks the alerts of the counter rule reporting each event: every seq from 1 to at least
/// `acknowledged` was evaluated (at most `unsure` more: a request the crash cut off after its
/// events were durable), under one alert each, and the running total it saw equals its seq
/// (the state counted each earlier event exactly once). Returns the highest seq.
fn check_each_event_once(alerts: &[Json], acknowledged: u64, unsure: u64) -> u64 {
    let events = titled(alerts, "event");
    let seqs: BTreeSet<u64> = events
        .iter()
        .map(|a| {
            a["dedup_key"]
                .as_str()
                .and_then(|k| k.parse().ok())
                .expect("dedup key = seq")
        })
        .collect();
    assert_eq!(seqs.len(), events.len(), "one alert per seq, never two");
    let last = seqs.last().copied().unwrap_or(0);
    assert!(
        (acknowledged..=acknowledged + unsure).contains(&last),
        "{acknowledged} events acknowledged, seqs up to {last}"
    );
    assert_eq!(
        seqs,
        (1..=last).collect::<BTreeSet<u64>>(),
        "every acknowledged event, by seq"
    );
    for alert in &events {
        assert_eq!(
            context(alert, "total"),
            alert["dedup_key"].as_str().expect("key"),
            "the state counted each earlier event exactly once: {alert}"
        );
        let count = alert["count"].as_u64().expect("count");
        assert!(
            (1..=2).contains(&count),
            "reported at most twice (once more after the crash): {alert}"
        );
    }
    assert!(
        titled(alerts, "seq-gap").is_empty(),
        "seq continued without a gap"
    );
    last
}

/// Posts events `from..from + 10` as one request; the number acknowledged, or `None` if the
/// server did not answer.
async fn post_ten(server: &Server, token: &str, from: i64) -> Option<u64> {
    let events = ndjson(from, from + 10);
    match http(
        &server.base,
        token,
        reqwest::Method::POST,
        "/v1/events",
        events,
    )
    .await
    {
        Ok((200, body)) => Some(body["accepted"].as_u64().expect("accepted")),
        Ok((status, body)) => panic!("{status} {body}"),
        Err(_) => None,
    }
}

#[tokio::test(flavor = "multi_thread")]
#[cfg_attr(
    not(feature = "crash-points"),
    ignore = "needs the crash-points feature (cargo xtask test turns it on)"
)]
async fn acknowledged_events_survive_kill_9_and_are_counted_once() {
    // `None`: killed right after its last acknowledgement, with a checkpoint in between.
    // `checkpoint-saved`: then restarted with the hook, it aborts by itself between saving
    // its first checkpoint and trimming the WAL that checkpoint covers, while events flow.
    for crash_at in [None, Some("checkpoint-saved")] {
        let dir = tempfile::tempdir().expect("tmp");
        let key = SecretKey::generate().expect("key");
        let store = store_trusting(dir.path(), &key);
        let server = Server::start(&store, 1, None);
        let token = server
            .token
            .clone()
            .expect("a fresh store prints an admin token");
        let bundle = counter_bundle(dir.path(), &key, "1.0.0", "report_each = true");
        upload_and_activate(&server, &token, bundle, "1.0.0").await;

        let mut acknowledged = 0u64;
        let mut next = 0i64;
        for request in 0..20 {
            if request == 10 {
                // a checkpoint lands in between: the restart restores it and replays the rest
                tokio::time::sleep(Duration::from_millis(1_500)).await;
            }
            acknowledged += post_ten(&server, &token, next).await.expect("answered");
            next += 10;
        }
        server.kill_9();
        let mut unsure = 0;

        if let Some(point) = crash_at {
            let server = Server::start(&store, 1, Some(point));
            // events flow until the first checkpoint ends the process
            for _ in 0..500 {
                match post_ten(&server, &token, next).await {
                    Some(n) => acknowledged += n,
                    None => break,
                }
                next += 10;
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
            assert!(server.wait_for_crash(), "the server aborted at `{point}`");
            // the request cut off may have been made durable before the crash
            unsure = 10;
            let left = Store::open(&store)
                .expect("the store reopens")
                .wal_len(DEFAULT_TENANT)
                .expect("wal");
            assert!(
                left > 0,
                "entries the checkpoint covers are still in the WAL"
            );
        }

        let server = Server::start(&store, 1, None);
        // ingest goes on where it stopped: 5 events later in event time than any before, so
        // the one engine thread evaluates (and stores the alerts of) every recovered event
        // before theirs; their last alert marks the end of the recovered stretch
        let more = ndjson(10_000, 10_005);
        ok(
            &server.base,
            &token,
            reqwest::Method::POST,
            "/v1/events",
            more,
        )
        .await;
        let newest = T0 + 10_004 * 1_000;
        let alerts = poll_alerts(&server.base, &token, |a| {
            titled(a, "event").iter().any(|e| e["last_seen"] == newest)
        })
        .await;
        eprintln!("{crash_at:?}: {acknowledged} events acknowledged");
        let last = check_each_event_once(&alerts, acknowledged + 5, unsure);
        server.stop();

        let store = Store::open(&store).expect("the store reopens");
        assert_eq!(
            store.wal_len(DEFAULT_TENANT).expect("wal"),
            0,
            "the shutdown checkpoint covers the WAL"
        );
        let checkpoint = store
            .load_checkpoint(DEFAULT_TENANT)
            .expect("readable")
            .expect("saved");
        assert_eq!(checkpoint.engine.next_seq, last + 1);
    }
}

#[tokio::test(flavor = "multi_thread")]
#[cfg_attr(
    not(feature = "crash-points"),
    ignore = "needs the crash-points feature (cargo xtask test turns it on)"
)]
async fn killed_during_an_activation_the_old_or_the_new_version_runs() {
    // before the activation is recorded: the old version; after it, before the engine swaps:
    // the new one. Either way the window of 6 events before the crash goes on.
    for (point, expected, label) in [("activate", "1.0.0", "a"), ("swap", "1.0.1", "b")] {
        let dir = tempfile::tempdir().expect("tmp");
        let key = SecretKey::generate().expect("key");
        let store = store_trusting(dir.path(), &key);
        let server = Server::start(&store, 10, None);
        let token = server
            .token
            .clone()
            .expect("a fresh store prints an admin token");
        let a = counter_bundle(dir.path(), &key, "1.0.0", "threshold = 10\nlabel = \"a\"");
        let b = counter_bundle(dir.path(), &key, "1.0.1", "threshold = 10\nlabel = \"b\"");
        upload_and_activate(&server, &token, a, "1.0.0").await;
        upload_and_activate(&server, &token, b, "").await;
        ok(
            &server.base,
            &token,
            reqwest::Method::POST,
            "/v1/events",
            ndjson(0, 6),
        )
        .await;
        // a crash during ingest first: no checkpoint was due, the WAL holds the six
        server.kill_9();

        let server = Server::start(&store, 10, Some(point));
        let body = json!({ "version": "1.0.1" }).to_string();
        let answer = http(
            &server.base,
            &token,
            reqwest::Method::POST,
            "/v1/packs/swaptest/activate",
            body,
        )
        .await;
        assert!(
            answer.is_err(),
            "{point}: the activation never answers: {answer:?}"
        );
        assert!(server.wait_for_crash(), "the server aborted at `{point}`");

        let server = Server::start(&store, 10, None);
        ok(
            &server.base,
            &token,
            reqwest::Method::POST,
            "/v1/events",
            ndjson(6, 10),
        )
        .await;
        let alerts =
            poll_alerts(&server.base, &token, |a| !titled(a, "threshold").is_empty()).await;
        let threshold = titled(&alerts, "threshold");
        assert_eq!(threshold.len(), 1, "{alerts:?}");
        assert_eq!(
            context(threshold[0], "count"),
            "10",
            "{point}: 6 before the crashes + 4 after"
        );
        assert_eq!(
            context(threshold[0], "label"),
            label,
            "{point}: the running version"
        );
        server.stop();

        let store = Store::open(&store).expect("the store reopens");
        assert_eq!(
            store
                .active(DEFAULT_TENANT, "swaptest")
                .expect("active")
                .as_deref(),
            Some(expected),
            "{point}"
        );
        let history = store.history(DEFAULT_TENANT, "swaptest").expect("history");
        assert_eq!(
            history.last().map(|h| h.to.as_str()),
            Some(expected),
            "{point}: history agrees with active"
        );
        store
            .bundle("swaptest", expected)
            .expect("the active version loads");
    }
}

/// The real binary's stdout sink, set in a config file (`[[sink]] kind = "stdout"`): every
/// alert comes out on stdout as one JSON line, with its tenant, rule, change and the OCSF
/// finding, after the `listening` line and apart from the logs (stderr).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_stdout_sink_writes_each_alert_as_one_json_line() {
    let dir = tempfile::tempdir().expect("tmp");
    let key = SecretKey::generate().expect("key");
    let store = store_trusting(dir.path(), &key);
    let config = dir.path().join("serve.toml");
    std::fs::write(&config, "[[sink]]\nkind = \"stdout\"\n").expect("config");
    let config = config.to_str().expect("utf-8 path");
    let server = Server::start_with(&store, 60, None, &["--config", config]);
    let token = server
        .token
        .clone()
        .expect("a fresh store prints an admin token");
    let bundle = counter_bundle(dir.path(), &key, "1.0.0", "report_each = true");
    upload_and_activate(&server, &token, bundle, "1.0.0").await;
    ok(
        &server.base,
        &token,
        reqwest::Method::POST,
        "/v1/events",
        ndjson(0, 3),
    )
    .await;

    let mut alerts = Vec::new();
    // the guard only stops a hung test
    let deadline = std::time::Instant::now() + Duration::from_secs(600);
    while alerts.len() < 3 {
        let left = deadline.saturating_duration_since(std::time::Instant::now());
        let Ok((from_stdout, line)) = server.output.recv_timeout(left) else {
            panic!("3 alerts on stdout within 10 minutes; got {alerts:?}");
        };
        if from_stdout {
            let alert: Json = serde_json::from_str(&line)
                .unwrap_or_else(|e| panic!("stdout carries only JSON alerts: {e}: {line}"));
            alerts.push(alert);
        }
    }
    for alert in &alerts {
        assert_eq!(alert["change"], "new", "{alert}");
        assert_eq!(alert["tenant"], DEFAULT_TENANT, "{alert}");
        assert_eq!(alert["rule_id"], "counter", "{alert}");
        assert_eq!(alert["title"], "event", "{alert}");
        assert_eq!(alert["finding"]["class_uid"], 2004, "{alert}");
    }
    let ids: BTreeSet<String> = alerts.iter().map(|a| a["id"].to_string()).collect();
    assert_eq!(ids.len(), 3, "one line per alert");
    server.stop();
}
