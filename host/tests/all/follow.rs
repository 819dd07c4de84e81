//! Follows (issue 17, item 3): a server follows a repository of a real registry (Debian's
//! `docker-registry`, started by the test) with a semver requirement. Each test asks for its
//! checks through `POST /v1/follows/{id}/check`, so what a check finds never depends on when
//! the poller runs; one test waits for the poller itself, by polling the follow's status.
//!
//! Needs `docker-registry` (`cargo xtask test` installs it) and the rule components.

use std::path::Path;
use std::time::Duration;

use axum::body::Body;
use axum::http::{Method, StatusCode};
use serde_json::{Value as Json, json};

use yagura::engine::EngineOptions;
use yagura::pack::oci::{PackRef, RegistryOptions};
use yagura::pack::{Bundle, SecretKey};
use yagura::server::ServerConfig;

use crate::oci::Registry;
use crate::shadow::{events, hostile_pack};
use crate::support::{POLLS, call_as};
use crate::swap::{Server, bundle, server_with, wait_for_rule};

/// Pack `acme@VERSION`: the counter rule; `threshold` 2 passes its case, 5 fails it.
fn acme(dir: &Path, key: &SecretKey, version: &str, threshold: u32) -> Vec<u8> {
    bundle(
        dir,
        key,
        ("acme", version),
        "counter",
        &format!("threshold = {threshold}"),
        &format!(
            "[[case]]\nname = \"two events of a host reach the threshold\"\nfindings = 1\n\
             events = \"\"\"\n{}\n{}\n\"\"\"\n\n[[case.expect]]\ntitle = \"threshold\"\n",
            r#"{"time":1714557600000,"class":"process","device":{"hostname":"h"}}"#,
            r#"{"time":1714557601000,"class":"process","device":{"hostname":"h"}}"#,
        ),
    )
}

/// Pushes `bytes` to `repo` under its version.
async fn push(registry: &Registry, repo: &str, bytes: &[u8]) -> String {
    let bundle = Bundle::from_bytes(bytes, "test").expect("a bundle");
    let target = PackRef::parse(&registry.repo(repo)).expect("a reference");
    let pushed = RegistryOptions::default()
        .connect(&target)
        .expect("a client")
        .push(&bundle, bytes, &bundle.manifest.pack.version.to_string())
        .await
        .expect("pushed");
    pushed.digest
}

/// A registry, then a server that may follow it (`follow_registries`). The registry's folder
/// outlives the server's.
fn setup(engine: EngineOptions) -> (tempfile::TempDir, Registry, Server) {
    let dir = tempfile::tempdir().expect("tmp");
    let registry = Registry::start(dir.path(), None);
    let host = registry.host.clone();
    let srv = server_with(engine, |config, _| ServerConfig {
        follow_registries: vec![host],
        ..config
    });
    (dir, registry, srv)
}

impl Server {
    async fn follow(&self, body: Json) -> (StatusCode, Json) {
        call_as(
            &self.router,
            Method::POST,
            "/v1/follows",
            &self.admin,
            body.to_string(),
        )
        .await
    }

    /// Checks the follow now; its status after.
    async fn check(&self, id: &str) -> Json {
        let (status, body) = call_as(
            &self.router,
            Method::POST,
            &format!("/v1/follows/{id}/check"),
            &self.admin,
            Body::empty(),
        )
        .await;
        assert_eq!(status, StatusCode::OK, "{body}");
        body
    }

    fn active(&self, pack: &str) -> Option<String> {
        self.app.store().active("default", pack).expect("active")
    }
}

fn result(follow: &Json) -> String {
    follow["status"]["last_result"]
        .as_str()
        .unwrap_or_default()
        .to_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_follow_moves_up_within_its_range_and_never_to_the_next_major() {
    let (_registry_dir, registry, srv) = setup(EngineOptions::default());
    let dir = srv._dir.path().to_owned();
    let d120 = push(&registry, "acme", &acme(&dir, &srv.key, "1.2.0", 2)).await;

    let (status, made) = srv
        .follow(json!({ "repository": registry.repo("acme"), "req": "^1.2", "interval_s": 3600 }))
        .await;
    assert_eq!(status, StatusCode::CREATED, "{made}");
    let id = made["id"].as_str().expect("an id").to_owned();
    assert_eq!(made["status"]["checks"], 0);
    // the same repository twice is a conflict
    let (status, body) = srv
        .follow(json!({ "repository": registry.repo("acme"), "req": "^1" }))
        .await;
    assert_eq!(status, StatusCode::CONFLICT, "{body}");
    // the longest interval: its default jitter is the most there may be
    let (status, body) = srv
        .follow(json!({ "repository": registry.repo("daily"), "req": "^1", "interval_s": 86400 }))
        .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    assert_eq!(body["jitter_s"], 3600, "{body}");
    // a registry the operator did not name: the server never connects to it
    let (status, body) = srv
        .follow(json!({ "repository": "oci://registry.example.com/acme", "req": "^1" }))
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
    assert!(
        body["error"]["message"]
            .as_str()
            .is_some_and(|m| m.contains("--follow-registries")),
        "{body}"
    );

    let after = srv.check(&id).await;
    assert!(
        result(&after).contains(&format!("activated acme@1.2.0 ({d120}), was none")),
        "{after:#}"
    );
    // the tenant's pull is its own: another tenant uploading the same bytes sees no source
    let v120 = acme(&dir.join("again"), &srv.key, "1.2.0", 2);
    let (status, body) = call_as(
        &srv.router,
        Method::POST,
        "/v1/tenants",
        &srv.admin,
        json!({ "name": "other" }).to_string(),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    let (status, body) = call_as(
        &srv.router,
        Method::POST,
        "/v1/packs?tenant=other",
        &srv.admin,
        v120,
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    for (tenant, source) in [
        (
            "default",
            json!({ "repository": registry.repo("acme"), "digest": d120 }),
        ),
        ("other", Json::Null),
    ] {
        let (status, body) = call_as(
            &srv.router,
            Method::GET,
            &format!("/v1/packs/acme@1.2.0?tenant={tenant}"),
            &srv.admin,
            Body::empty(),
        )
        .await;
        assert_eq!(status, StatusCode::OK, "{body}");
        assert_eq!(body["source"], source, "{tenant}: {body}");
    }
    assert_eq!(after["pack"], "acme");
    assert_eq!(srv.active("acme").as_deref(), Some("1.2.0"));

    push(&registry, "acme", &acme(&dir, &srv.key, "1.2.1", 2)).await;
    push(&registry, "acme", &acme(&dir, &srv.key, "2.0.0", 2)).await;
    let after = srv.check(&id).await;
    assert!(result(&after).contains("activated acme@1.2.1"), "{after:#}");
    assert_eq!(srv.active("acme").as_deref(), Some("1.2.1"));

    let d130 = push(&registry, "acme", &acme(&dir, &srv.key, "1.3.0", 2)).await;
    let after = srv.check(&id).await;
    assert!(result(&after).contains("activated acme@1.3.0"), "{after:#}");
    assert_eq!(after["status"]["activated"]["previous"], "1.2.1");
    let after = srv.check(&id).await;
    assert!(
        result(&after).contains("up to date: acme@1.3.0 is active"),
        "{after:#}"
    );
    assert_eq!(srv.active("acme").as_deref(), Some("1.3.0"));
    assert_eq!(after["status"]["checks"], 4);

    // the history names the follow and the digest of each version it made active
    let history = srv.app.store().history("default", "acme").expect("history");
    let to: Vec<&str> = history.iter().map(|e| e.to.as_str()).collect();
    assert_eq!(to, ["1.2.0", "1.2.1", "1.3.0"]);
    assert!(
        history
            .iter()
            .all(|e| e.who.starts_with(&format!("follow {id}")))
    );
    assert_eq!(history[0].digest.as_deref(), Some(d120.as_str()));
    assert_eq!(history[2].digest.as_deref(), Some(d130.as_str()));
    // 2.0.0 was never pulled
    assert!(
        srv.app
            .store()
            .records()
            .expect("records")
            .iter()
            .all(|r| r.version != "2.0.0")
    );

    // removed: what runs stays
    let (status, body) = call_as(
        &srv.router,
        Method::DELETE,
        &format!("/v1/follows/{id}"),
        &srv.admin,
        Body::empty(),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(srv.active("acme").as_deref(), Some("1.3.0"));
    srv.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_refused_version_keeps_the_running_one_and_is_retried_only_when_its_tag_changes() {
    let (_registry_dir, registry, srv) = setup(EngineOptions::default());
    let dir = srv._dir.path().to_owned();
    push(&registry, "acme", &acme(&dir, &srv.key, "1.0.0", 2)).await;
    let (status, made) = srv
        .follow(json!({ "repository": registry.repo("acme"), "req": "^1", "interval_s": 3600 }))
        .await;
    assert_eq!(status, StatusCode::CREATED, "{made}");
    let id = made["id"].as_str().expect("an id").to_owned();
    srv.check(&id).await;
    assert_eq!(srv.active("acme").as_deref(), Some("1.0.0"));

    // 1.1.0's own cases fail with its config
    let bad = push(&registry, "acme", &acme(&dir, &srv.key, "1.1.0", 5)).await;
    let after = srv.check(&id).await;
    let refusal = &after["status"]["refused"]["1.1.0"];
    assert_eq!(refusal["digest"], bad.as_str(), "{after:#}");
    assert!(
        refusal["reason"]
            .as_str()
            .is_some_and(|r| r.contains("the pack's cases failed")),
        "{after:#}"
    );
    assert_eq!(srv.active("acme").as_deref(), Some("1.0.0"));
    wait_for_rule(&srv.router, &srv.admin, "counter", |r| r["enabled"] == true).await;

    // not tried again while the registry holds the same content
    let after = srv.check(&id).await;
    assert!(
        result(&after).contains("up to date: acme@1.0.0"),
        "{after:#}"
    );
    assert!(!result(&after).contains("refused oci://"), "{after:#}");

    // a signature the host does not trust is refused too, with its reason
    let stranger = SecretKey::generate().expect("key");
    push(
        &registry,
        "acme",
        &acme(&dir.join("x"), &stranger, "1.0.1", 2),
    )
    .await;
    let after = srv.check(&id).await;
    assert!(
        after["status"]["refused"]["1.0.1"]["reason"]
            .as_str()
            .is_some_and(|r| r.contains("not trusted")),
        "{after:#}"
    );
    assert_eq!(srv.active("acme").as_deref(), Some("1.0.0"));

    // the publisher replaces 1.1.0 in the registry (deleted, then pushed again, fixed): new
    // content under the tag, so it is tried again
    let deleted = reqwest::Client::new()
        .delete(format!("http://{}/v2/acme/manifests/{bad}", registry.host))
        .send()
        .await
        .expect("the registry answers");
    assert_eq!(deleted.status().as_u16(), 202);
    let fixed = push(
        &registry,
        "acme",
        &acme(&dir.join("y"), &srv.key, "1.1.0", 2),
    )
    .await;
    assert_ne!(fixed, bad);
    let after = srv.check(&id).await;
    assert!(
        result(&after).contains(&format!("activated acme@1.1.0 ({fixed})")),
        "{after:#}"
    );
    assert_eq!(srv.active("acme").as_deref(), Some("1.1.0"));
    srv.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_registry_going_down_leaves_the_running_rules_and_shows_in_the_status() {
    let (_registry_dir, registry, srv) = setup(EngineOptions::default());
    let dir = srv._dir.path().to_owned();
    push(&registry, "acme", &acme(&dir, &srv.key, "1.0.0", 2)).await;
    let (_, made) = srv
        .follow(json!({ "repository": registry.repo("acme"), "req": "^1", "interval_s": 3600 }))
        .await;
    let id = made["id"].as_str().expect("an id").to_owned();
    srv.check(&id).await;
    assert_eq!(srv.active("acme").as_deref(), Some("1.0.0"));
    let host = registry.host.clone();
    drop(registry);

    let after = srv.check(&id).await;
    let error = after["status"]["registry_error"]
        .as_str()
        .unwrap_or_default();
    assert!(error.contains(&format!("cannot reach {host}")), "{after:#}");
    assert!(
        result(&after).contains("what runs is unchanged"),
        "{after:#}"
    );
    assert_eq!(srv.active("acme").as_deref(), Some("1.0.0"));
    // the rule still runs: events reach it
    srv.ingest(events("h1", 0, 3)).await;
    wait_for_rule(&srv.router, &srv.admin, "counter", |r| r["events_in"] == 3).await;

    // the list shows it too
    let (status, list) = call_as(
        &srv.router,
        Method::GET,
        "/v1/follows",
        &srv.admin,
        Body::empty(),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{list}");
    assert_eq!(list["follows"][0]["status"]["registry_error"], error);
    srv.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_version_whose_rules_fault_within_the_health_window_is_rolled_back() {
    // one event per call, so that each event is a call
    let (_registry_dir, registry, srv) = setup(EngineOptions {
        batch_size: 1,
        lateness_ms: 0,
        ..EngineOptions::default()
    });
    let dir = srv._dir.path().to_owned();
    push(
        &registry,
        "faulty",
        &hostile_pack(&dir, &srv.key, "1.0.0", "none"),
    )
    .await;
    let (status, made) = srv
        .follow(json!({
            "repository": registry.repo("faulty"), "req": "^1", "interval_s": 3600,
            "health_window_s": 3600,
        }))
        .await;
    assert_eq!(status, StatusCode::CREATED, "{made}");
    let id = made["id"].as_str().expect("an id").to_owned();
    let after = srv.check(&id).await;
    assert_eq!(after["status"]["gate"]["version"], "1.0.0", "{after:#}");
    assert_eq!(srv.active("faulty").as_deref(), Some("1.0.0"));

    // 1.1.0 passes its cases (they run in mode none) but fails on live events
    let bad = push(
        &registry,
        "faulty",
        &hostile_pack(&dir, &srv.key, "1.1.0", "error"),
    )
    .await;
    let after = srv.check(&id).await;
    assert!(
        result(&after).contains("activated faulty@1.1.0"),
        "{after:#}"
    );
    assert_eq!(after["status"]["gate"]["version"], "1.1.0", "{after:#}");
    srv.ingest(events("h1", 0, 2)).await;
    wait_for_rule(&srv.router, &srv.admin, "hostile", |r| {
        r["faults"].as_u64().is_some_and(|f| f > 0)
    })
    .await;

    let after = srv.check(&id).await;
    assert!(
        result(&after).contains("faulty@1.1.0: rule `hostile` faulted")
            && result(&after).contains("rolled back to 1.0.0"),
        "{after:#}"
    );
    assert_eq!(srv.active("faulty").as_deref(), Some("1.0.0"));
    assert_eq!(after["status"]["refused"]["1.1.0"]["digest"], bad.as_str());
    assert!(after["status"]["gate"].is_null(), "{after:#}");
    let history = srv
        .app
        .store()
        .history("default", "faulty")
        .expect("history");
    assert_eq!(history.last().map(|e| e.action.as_str()), Some("rollback"));
    // and not activated again
    let after = srv.check(&id).await;
    assert!(
        result(&after).contains("up to date: faulty@1.0.0"),
        "{after:#}"
    );
    srv.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_server_polls_its_follows_by_itself() {
    let (_registry_dir, registry, srv) = setup(EngineOptions::default());
    let dir = srv._dir.path().to_owned();
    push(&registry, "acme", &acme(&dir, &srv.key, "1.0.0", 2)).await;
    // the poller runs in `serve`: a real server on loopback
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let serving = tokio::spawn(yagura::server::serve(srv.app.clone(), listener, async {
        let _ = stopped.await;
    }));
    let (status, made) = srv
        .follow(json!({ "repository": registry.repo("acme"), "req": "^1", "interval_s": 1, "jitter_s": 0 }))
        .await;
    assert_eq!(status, StatusCode::CREATED, "{made}");
    for _ in 0..POLLS {
        if srv.active("acme").as_deref() == Some("1.0.0") {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(srv.active("acme").as_deref(), Some("1.0.0"));
    push(&registry, "acme", &acme(&dir, &srv.key, "1.0.1", 2)).await;
    for _ in 0..POLLS {
        if srv.active("acme").as_deref() == Some("1.0.1") {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(srv.active("acme").as_deref(), Some("1.0.1"));
    let _ = stop.send(());
    serving.await.expect("joins").expect("served");
}
