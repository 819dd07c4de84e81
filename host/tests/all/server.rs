//! `yagura serve`'s HTTP API: every route in process (`tower::ServiceExt::oneshot`), with its
//! auth failures and cross-tenant isolation, and one end-to-end run on a real listener: the
//! signed core pack uploaded and activated, real Windows logs posted, the lateral-movement
//! alert read back through the query route and the live stream.
//!
//! Needs the rule components (`cargo xtask build-rules`; `cargo xtask test` runs it first).

use std::path::{Path, PathBuf};
use std::time::Duration;

use axum::Router;
use axum::body::Body;
use axum::http::{Method, Request, StatusCode};
use serde_json::{Value, json};
use tower::ServiceExt;

use yagura::pack::{Bundle, SecretKey};
use yagura::server::{App, MissingTime, ServerConfig, SyslogListener};

use crate::support::{self, POLLS, call, root};

fn component(name: &str) -> PathBuf {
    let path = root().join("target/rules").join(format!("{name}.wasm"));
    assert!(
        path.exists(),
        "{} is missing: run `cargo xtask build-rules` first",
        path.display()
    );
    path
}

/// A signed one-rule bundle (vertical-port-scan with its cases, threshold 20) at `version`.
fn scan_bundle(dir: &Path, key: Option<&SecretKey>, version: &str) -> Vec<u8> {
    let rule_dir = dir.join(format!("src-{version}"));
    support::copy_scan_cases(&rule_dir);
    let manifest = format!(
        "[pack]\nname = \"acme\"\nversion = \"{version}\"\npublisher = \"ACME\"\n\
         description = \"scans\"\nlicense = \"Apache-2.0\"\n\
         [requires]\nwit = \"^0.1\"\nhost = \">=0.1.0\"\n\
         [[rule]]\nid = \"vertical-port-scan\"\ncomponent = \"{}\"\ncases = \"cases.toml\"\n\
         [rule.config]\nthreshold = 20\n",
        component("vertical-port-scan").display()
    );
    let manifest_path = rule_dir.join("pack.toml");
    std::fs::write(&manifest_path, manifest).expect("manifest");
    let mut bundle = Bundle::build(&manifest_path).expect("builds");
    if let Some(key) = key {
        bundle.sign(key);
    }
    bundle.to_bytes().expect("bytes")
}

struct Fixture {
    dir: tempfile::TempDir,
    app: App,
    router: Router,
    admin: String,
    key: SecretKey,
}

fn config(dir: &Path) -> ServerConfig {
    ServerConfig {
        store: dir.join("store"),
        cache_dir: Some(root().join("target/yagura-test-cache")),
        flush_after: Duration::from_millis(50),
        limits: support::test_limits(),
        ..ServerConfig::default()
    }
}

fn fixture() -> Fixture {
    fixture_with(|c| c)
}

/// A server on a fresh store with the test config as `edit` changes it, trusting a new key.
fn fixture_with(edit: impl FnOnce(ServerConfig) -> ServerConfig) -> Fixture {
    let dir = tempfile::tempdir().expect("tmp");
    let (app, admin) = App::open(edit(config(dir.path()))).expect("the server opens");
    let admin = admin.expect("a fresh store prints an admin token");
    let key = SecretKey::generate().expect("key");
    app.store().trust_key(&key.public()).expect("trust");
    let router = app.router();
    Fixture {
        dir,
        app,
        router,
        admin,
        key,
    }
}

async fn get(router: &Router, uri: &str, token: &str) -> (StatusCode, Value) {
    call(router, Method::GET, uri, Some(token), Body::empty()).await
}

async fn post(
    router: &Router,
    uri: &str,
    token: &str,
    body: impl Into<Body>,
) -> (StatusCode, Value) {
    call(router, Method::POST, uri, Some(token), body).await
}

async fn delete(router: &Router, uri: &str, token: &str) -> (StatusCode, Value) {
    call(router, Method::DELETE, uri, Some(token), Body::empty()).await
}

/// Creates a tenant and a token of it with `scopes`.
async fn tenant_token(f: &Fixture, tenant: &str, scopes: &[&str]) -> String {
    let (status, _) = post(
        &f.router,
        "/v1/tenants",
        &f.admin,
        json!({ "name": tenant }).to_string(),
    )
    .await;
    assert!(
        status == StatusCode::CREATED || status == StatusCode::CONFLICT,
        "{status}"
    );
    let (status, body) = post(
        &f.router,
        "/v1/tokens",
        &f.admin,
        json!({ "tenant": tenant, "name": "test", "scopes": scopes }).to_string(),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    body["token"].as_str().expect("token").to_owned()
}

fn error_code(body: &Value) -> &str {
    body["error"]["code"].as_str().unwrap_or("<no error body>")
}

/// Polls `/metrics` (as `token`) until `done` holds for it; the text. Returns the last text
/// when it never does, for the caller's assertion to show.
async fn metrics_until(router: &Router, token: &str, done: impl Fn(&str) -> bool) -> String {
    let mut text = String::new();
    for _ in 0..POLLS {
        let (status, body) = get(router, "/metrics", token).await;
        assert_eq!(status, StatusCode::OK, "{body}");
        text = body.as_str().expect("text").to_owned();
        if done(&text) {
            return text;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    text
}

/// Polls the alerts of `token`'s tenant until one matches `query`.
async fn wait_for_alerts(router: &Router, token: &str, query: &str) -> Vec<Value> {
    for _ in 0..POLLS {
        let (status, body) = get(router, &format!("/v1/alerts?{query}"), token).await;
        assert_eq!(status, StatusCode::OK, "{body}");
        let alerts = body["alerts"].as_array().cloned().unwrap_or_default();
        if !alerts.is_empty() {
            return alerts;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("no alert matched `{query}` after {POLLS} polls");
}

const PROTECTED: &[(&str, &str)] = &[
    ("GET", "/metrics"),
    ("GET", "/v1/tenants"),
    ("POST", "/v1/tenants"),
    ("GET", "/v1/tokens"),
    ("POST", "/v1/tokens"),
    ("DELETE", "/v1/tokens/abc"),
    ("GET", "/v1/keys"),
    ("POST", "/v1/keys"),
    ("DELETE", "/v1/keys/abc"),
    ("GET", "/v1/packs"),
    ("POST", "/v1/packs"),
    ("GET", "/v1/packs/acme@1.0.0"),
    ("DELETE", "/v1/packs/acme@1.0.0"),
    ("POST", "/v1/packs/acme/activate"),
    ("POST", "/v1/packs/acme/rollback"),
    ("GET", "/v1/packs/acme/history"),
    ("GET", "/v1/packs/acme/shadow"),
    ("POST", "/v1/packs/acme/shadow"),
    ("DELETE", "/v1/packs/acme/shadow"),
    ("POST", "/v1/packs/acme/shadow/promote"),
    ("GET", "/v1/follows"),
    ("POST", "/v1/follows"),
    ("GET", "/v1/follows/abc"),
    ("DELETE", "/v1/follows/abc"),
    ("POST", "/v1/follows/abc/check"),
    ("GET", "/v1/rules"),
    ("GET", "/v1/rules/vertical-port-scan/config"),
    ("PUT", "/v1/rules/vertical-port-scan/config"),
    ("POST", "/v1/rules/vertical-port-scan/enable"),
    ("PUT", "/v1/rules/vertical-port-scan/enabled"),
    ("POST", "/v1/events"),
    ("GET", "/v1/syslog"),
    ("GET", "/v1/alerts"),
    ("GET", "/v1/alerts/1"),
    ("GET", "/v1/alerts/stream"),
];

/// `GET /v1/openapi.json`, the document utoipa generates from the handlers.
async fn openapi_document(f: &Fixture) -> Value {
    let (status, doc) = call(
        &f.router,
        Method::GET,
        "/v1/openapi.json",
        None,
        Body::empty(),
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    assert!(doc.is_object(), "not a JSON object: {doc}");
    doc
}

/// Routes that need no token.
const OPEN: &[(&str, &str)] = &[
    ("GET", "/healthz"),
    ("GET", "/readyz"),
    ("GET", "/v1/openapi.json"),
];

#[tokio::test]
async fn the_openapi_document_describes_every_route() {
    let f = fixture();
    let doc = openapi_document(&f).await;
    let mut routed: Vec<(String, String)> = PROTECTED
        .iter()
        .chain(OPEN)
        .map(|(method, uri)| {
            // the concrete test URIs back to the templates
            let path = match *uri {
                "/v1/tokens/abc" => "/v1/tokens/{id}".to_owned(),
                "/v1/keys/abc" => "/v1/keys/{id}".to_owned(),
                "/v1/follows/abc" => "/v1/follows/{id}".to_owned(),
                "/v1/follows/abc/check" => "/v1/follows/{id}/check".to_owned(),
                "/v1/packs/acme@1.0.0" => "/v1/packs/{pack}".to_owned(),
                "/v1/alerts/1" => "/v1/alerts/{id}".to_owned(),
                "/v1/rules/vertical-port-scan/config" => "/v1/rules/{id}/config".to_owned(),
                "/v1/rules/vertical-port-scan/enabled" => "/v1/rules/{id}/enabled".to_owned(),
                "/v1/rules/vertical-port-scan/enable" => "/v1/rules/{id}/enable".to_owned(),
                other => other.replace("/acme/", "/{name}/"),
            };
            (method.to_lowercase(), path)
        })
        .collect();
    let mut documented: Vec<(String, String)> = doc["paths"]
        .as_object()
        .expect("paths")
        .iter()
        .flat_map(|(path, item)| {
            let methods = item.as_object().expect("a path item");
            methods.keys().map(|m| (m.clone(), path.clone()))
        })
        .collect();
    routed.sort();
    documented.sort();
    // both ways: no route missing from the document, no operation without a route
    assert_eq!(documented, routed);
}

#[tokio::test]
async fn the_openapi_document_is_3_1_with_scopes_and_error_bodies() {
    let f = fixture();
    let doc = openapi_document(&f).await;
    let version = doc["openapi"].as_str().unwrap_or_default();
    assert!(version.starts_with("3.1."), "openapi: {version:?}");
    let scheme = &doc["components"]["securitySchemes"]["token"];
    assert_eq!(
        (&scheme["type"], &scheme["scheme"]),
        (&json!("http"), &json!("bearer"))
    );
    assert!(doc["components"]["schemas"]["Error"].is_object());
    let mut unauthorized = 0;
    for (path, item) in doc["paths"].as_object().expect("paths") {
        for (method, op) in item.as_object().expect("a path item") {
            let open = OPEN.contains(&(method.to_uppercase().as_str(), path.as_str()));
            let security = op["security"].as_array();
            if open {
                assert!(security.is_none(), "{method} {path} asks for a token");
                continue;
            }
            // one requirement per scope that allows the route, each naming the token scheme
            let security = security.unwrap_or_else(|| panic!("{method} {path}: no security"));
            assert!(!security.is_empty(), "{method} {path}: empty security");
            for requirement in security {
                assert!(
                    requirement["token"].is_array(),
                    "{method} {path}: {requirement}"
                );
            }
            let schema = &op["responses"]["401"]["content"]["application/json"]["schema"];
            assert_eq!(
                schema["$ref"], "#/components/schemas/Error",
                "{method} {path}: the 401 response"
            );
            unauthorized += 1;
        }
    }
    assert_eq!(unauthorized, PROTECTED.len());
}

#[tokio::test]
async fn the_openapi_document_states_the_constraints_the_server_enforces() {
    let f = fixture();
    let doc = openapi_document(&f).await;
    let schemas = &doc["components"]["schemas"];
    let tenant = "^[a-z0-9][a-z0-9_-]{0,63}$";
    assert_eq!(
        schemas["NewTenant"]["properties"]["name"]["pattern"],
        tenant
    );
    assert_eq!(schemas["NewToken"]["properties"]["scopes"]["minItems"], 1);
    assert_eq!(schemas["NewToken"]["properties"]["name"]["maxLength"], 256);
    assert!(
        schemas["NewKey"]["properties"]["public_key"]["pattern"].is_string(),
        "{}",
        schemas["NewKey"]
    );
    let param = |path: &str, method: &str, name: &str| -> Value {
        doc["paths"][path][method]["parameters"]
            .as_array()
            .and_then(|ps| ps.iter().find(|p| p["name"] == name).cloned())
            .unwrap_or_else(|| panic!("{method} {path}: no parameter `{name}`"))
    };
    for (path, method) in [("/v1/packs/{pack}", "get"), ("/v1/packs/{pack}", "delete")] {
        let pattern = param(path, method, "pack")["schema"]["pattern"].clone();
        assert!(
            pattern.as_str().is_some_and(|p| p.contains('@')),
            "{pattern}"
        );
    }
    // since/until: ms (a pattern) or an RFC 3339 date-time (a format)
    for name in ["since", "until"] {
        let schema = param("/v1/alerts", "get", name)["schema"].clone();
        let any = schema["anyOf"].as_array().cloned().unwrap_or_default();
        assert!(
            any.iter().any(|s| s["pattern"] == "^-?[0-9]{1,18}$")
                && any.iter().any(|s| s["format"] == "date-time"),
            "{schema}"
        );
        assert_ne!(param("/v1/alerts", "get", name)["required"], true);
    }
    let severity = param("/v1/alerts", "get", "severity")["schema"]["enum"].clone();
    assert_eq!(
        severity,
        json!(["informational", "low", "medium", "high", "critical"])
    );
    assert_eq!(
        param("/v1/alerts", "get", "cursor")["schema"]["pattern"],
        "^[0-9]{1,19}$"
    );
    for (path, method) in [
        ("/v1/alerts", "get"),
        ("/v1/events", "post"),
        ("/v1/packs", "get"),
    ] {
        assert_eq!(param(path, method, "tenant")["schema"]["pattern"], tenant);
    }
    // each pattern is what the server enforces: a value it takes matches, and back
    let (status, _) = call(
        &f.router,
        Method::POST,
        "/v1/tenants",
        Some(&f.admin),
        r#"{"name":"Not-Valid"}"#,
    )
    .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
}

#[tokio::test]
async fn a_null_rollback_body_is_no_reason_as_the_document_says() {
    let f = fixture();
    let doc = openapi_document(&f).await;
    let body = &doc["paths"]["/v1/packs/{name}/rollback"]["post"]["requestBody"];
    let schema = body["content"]["application/json"]["schema"].to_string();
    assert!(schema.contains("null"), "the body is nullable: {schema}");
    // nothing active to roll back: 404, not a 400 for the `null`
    let (status, answer) = call(
        &f.router,
        Method::POST,
        "/v1/packs/acme/rollback",
        Some(&f.admin),
        "null",
    )
    .await;
    assert_eq!(status, StatusCode::NOT_FOUND, "{answer}");
}

#[tokio::test]
async fn health_and_readiness_need_no_token_and_readiness_fails_at_shutdown() {
    let f = fixture();
    let (status, body) = call(&f.router, Method::GET, "/healthz", None, Body::empty()).await;
    assert_eq!(
        (status, body["status"].as_str()),
        (StatusCode::OK, Some("ok"))
    );
    let (status, _) = call(&f.router, Method::GET, "/readyz", None, Body::empty()).await;
    assert_eq!(status, StatusCode::OK);
    f.app.begin_shutdown();
    let (status, body) = call(&f.router, Method::GET, "/readyz", None, Body::empty()).await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(error_code(&body), "unavailable");
    let (status, body) = post(&f.router, "/v1/events", &f.admin, "{}").await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE, "{body}");
}

#[tokio::test]
async fn every_route_but_health_answers_401_with_a_json_error_without_a_valid_token() {
    let f = fixture();
    let (_, revoked_token) = {
        let token = tenant_token(&f, "acme", &["alerts:read"]).await;
        let (_, list) = get(&f.router, "/v1/tokens?tenant=acme", &f.admin).await;
        let id = list["tokens"][0]["id"].as_str().expect("id").to_owned();
        let (status, _) = delete(&f.router, &format!("/v1/tokens/{id}"), &f.admin).await;
        assert_eq!(status, StatusCode::OK);
        (id, token)
    };
    for (method, uri) in PROTECTED {
        let method: Method = method.parse().expect("method");
        for token in [
            None,
            Some("ygr_0000000000000000_bad"),
            Some("not-a-token"),
            Some(revoked_token.as_str()),
        ] {
            let (status, body) = call(&f.router, method.clone(), uri, token, Body::empty()).await;
            assert_eq!(status, StatusCode::UNAUTHORIZED, "{method} {uri} {token:?}");
            assert_eq!(error_code(&body), "unauthorized", "{method} {uri}");
        }
    }
    let (status, body) = call(&f.router, Method::GET, "/nowhere", None, Body::empty()).await;
    assert_eq!(
        (status, error_code(&body)),
        (StatusCode::NOT_FOUND, "not_found")
    );
    let (status, body) = call(&f.router, Method::PUT, "/v1/alerts", None, Body::empty()).await;
    assert_eq!(
        (status, error_code(&body)),
        (StatusCode::METHOD_NOT_ALLOWED, "method_not_allowed")
    );
}

#[tokio::test]
async fn scopes_are_enforced_with_403() {
    let f = fixture();
    let ingest = tenant_token(&f, "acme", &["events:write"]).await;
    let reader = tenant_token(&f, "acme", &["alerts:read"]).await;
    let publisher = tenant_token(&f, "acme", &["packs:write"]).await;
    let refused: &[(&str, &str, &str)] = &[
        ("GET", "/v1/tenants", &ingest),
        ("POST", "/v1/tenants", &publisher),
        ("GET", "/v1/tokens", &reader),
        ("POST", "/v1/tokens", &publisher),
        ("DELETE", "/v1/tokens/abc", &reader),
        // a tenant's own keys take packs:write (the store-wide ones: admin)
        ("GET", "/v1/keys", &ingest),
        ("POST", "/v1/keys", &reader),
        ("DELETE", "/v1/keys/abc", &ingest),
        ("GET", "/v1/alerts", &ingest),
        ("GET", "/v1/alerts/1", &publisher),
        ("GET", "/v1/alerts/stream", &ingest),
        ("POST", "/v1/events", &reader),
        ("POST", "/v1/packs", &reader),
        ("DELETE", "/v1/packs/acme@1.0.0", &ingest),
        ("POST", "/v1/packs/acme/activate", &reader),
        ("POST", "/v1/packs/acme/rollback", &ingest),
        ("GET", "/v1/packs", &ingest),
        ("GET", "/v1/packs/acme@1.0.0", &ingest),
        ("GET", "/v1/packs/acme/history", &ingest),
        ("GET", "/v1/rules", &ingest),
        ("GET", "/v1/rules/x/config", &ingest),
        ("PUT", "/v1/rules/x/config", &reader),
        ("PUT", "/v1/rules/x/enabled", &reader),
    ];
    for (method, uri, token) in refused {
        let method: Method = method.parse().expect("method");
        let (status, body) = call(&f.router, method.clone(), uri, Some(token), "{}").await;
        assert_eq!(status, StatusCode::FORBIDDEN, "{method} {uri}: {body}");
        assert_eq!(error_code(&body), "forbidden");
        assert!(
            body["error"]["message"]
                .as_str()
                .is_some_and(|m| m.contains("scope")),
            "{body}"
        );
    }
}

#[tokio::test]
async fn tenants_and_tokens_are_created_listed_and_revoked() {
    let f = fixture();
    let (status, body) = post(&f.router, "/v1/tenants", &f.admin, r#"{"name":"acme"}"#).await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    let (status, body) = post(&f.router, "/v1/tenants", &f.admin, r#"{"name":"acme"}"#).await;
    assert_eq!(
        (status, error_code(&body)),
        (StatusCode::CONFLICT, "conflict")
    );
    let (status, body) = post(&f.router, "/v1/tenants", &f.admin, r#"{"name":"Not OK"}"#).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    let (_, body) = get(&f.router, "/v1/tenants", &f.admin).await;
    let names: Vec<&str> = body["tenants"]
        .as_array()
        .expect("list")
        .iter()
        .filter_map(|t| t["name"].as_str())
        .collect();
    assert_eq!(names, ["acme", "default"]);

    let (status, created) = post(
        &f.router,
        "/v1/tokens",
        &f.admin,
        r#"{"tenant":"acme","name":"siem","scopes":["events:write","alerts:read"]}"#,
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "{created}");
    let token = created["token"].as_str().expect("shown once");
    let (status, body) = post(
        &f.router,
        "/v1/tokens",
        &f.admin,
        r#"{"tenant":"nobody","scopes":["alerts:read"]}"#,
    )
    .await;
    assert_eq!(status, StatusCode::NOT_FOUND, "{body}");
    let (status, body) = post(
        &f.router,
        "/v1/tokens",
        &f.admin,
        r#"{"tenant":"acme","scopes":["root"]}"#,
    )
    .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(
        body["error"]["message"]
            .as_str()
            .is_some_and(|m| m.contains("scopes")),
        "names the field: {body}"
    );

    let (_, list) = get(&f.router, "/v1/tokens?tenant=acme", &f.admin).await;
    let tokens = list["tokens"].as_array().expect("tokens");
    assert_eq!(tokens.len(), 1);
    assert_eq!(tokens[0]["name"], "siem");
    let text = list.to_string();
    assert!(
        !text.contains(token) && !text.contains("sha256") && !text.contains("\"token\""),
        "no secrets in the list: {text}"
    );
    let (status, _) = get(&f.router, "/v1/alerts", token).await;
    assert_eq!(status, StatusCode::OK, "the new token works");
    let id = tokens[0]["id"].as_str().expect("id");
    let (status, _) = delete(&f.router, &format!("/v1/tokens/{id}"), &f.admin).await;
    assert_eq!(status, StatusCode::OK);
    let (status, _) = get(&f.router, "/v1/alerts", token).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED, "revoked");
    let (status, _) = delete(&f.router, &format!("/v1/tokens/{id}"), &f.admin).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn trusted_keys_are_managed_by_the_admin_and_gate_uploads_and_activations() {
    let f = fixture();
    let token = tenant_token(&f, "acme", &["packs:write"]).await;
    let publisher = SecretKey::generate().expect("key");
    let bundle = scan_bundle(f.dir.path(), Some(&publisher), "2.0.0");
    let (status, body) = post(&f.router, "/v1/packs", &token, bundle.clone()).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "not trusted yet");
    // advice an API client can follow (issue 23, item 6)
    assert!(body.to_string().contains("POST /v1/keys"), "{body}");

    let (status, body) = post(
        &f.router,
        "/v1/keys",
        &f.admin,
        json!({ "public_key": publisher.public().to_text() }).to_string(),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    let id = publisher.public().id();
    assert_eq!(body["id"], id);
    let (status, body) = post(&f.router, "/v1/keys", &f.admin, r#"{"public_key":"nope"}"#).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    let (_, list) = get(&f.router, "/v1/keys", &f.admin).await;
    assert!(list.to_string().contains(&id), "{list}");

    let (status, body) = post(&f.router, "/v1/packs", &token, bundle).await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    let (status, _) = delete(&f.router, &format!("/v1/keys/{id}"), &f.admin).await;
    assert_eq!(status, StatusCode::OK);
    let (status, body) = post(
        &f.router,
        "/v1/packs/acme/activate",
        &token,
        r#"{"version":"2.0.0"}"#,
    )
    .await;
    assert_eq!(
        status,
        StatusCode::UNPROCESSABLE_ENTITY,
        "untrusted since: {body}"
    );
    let (status, _) = delete(&f.router, &format!("/v1/keys/{id}"), &f.admin).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn bad_bodies_are_400_or_413_naming_the_problem() {
    let f = fixture();
    for (body, needle) in [
        ("", "empty"),
        ("{", "EOF"),
        (r#"{"name": 3}"#, "`name`"),
        (r#"{"name":"a"} trailing"#, "trailing"),
    ] {
        let (status, answer) = post(&f.router, "/v1/tenants", &f.admin, body).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{body}: {answer}");
        let message = answer["error"]["message"].as_str().expect("message");
        assert!(message.contains(needle), "{body}: {message}");
    }
    let deep = format!("{}{}", "[".repeat(10_000), "]".repeat(10_000));
    let (status, _) = post(&f.router, "/v1/tenants", &f.admin, deep).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "nesting is limited");
    let big = format!(r#"{{"name":"{}"}}"#, "a".repeat(2 << 20));
    let (status, answer) = post(&f.router, "/v1/tenants", &f.admin, big).await;
    assert_eq!(status, StatusCode::PAYLOAD_TOO_LARGE);
    assert_eq!(error_code(&answer), "payload_too_large");
    let (status, answer) = get(&f.router, "/v1/alerts?limit=abc", &f.admin).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{answer}");
    let (status, answer) = get(&f.router, "/v1/alerts?since=yesterday", &f.admin).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(answer.to_string().contains("since"), "{answer}");
    let (status, _) = get(&f.router, "/v1/alerts?severity=urgent", &f.admin).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    let (status, _) = get(&f.router, "/v1/alerts?cursor=x", &f.admin).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    let (status, answer) = get(&f.router, "/v1/alerts/%FF", &f.admin).await;
    assert_eq!(
        (status, error_code(&answer)),
        (StatusCode::BAD_REQUEST, "bad_request")
    );
    let (status, answer) = post(&f.router, "/v1/packs/acme/activate", &f.admin, "{}").await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(answer.to_string().contains("version"), "{answer}");
}

/// What schemathesis found (issue 15, item 4): the server refused requests its OpenAPI
/// document allows, and took some it does not. Now 400 is exactly "the document refuses it",
/// and 422 "the document allows it, but its content cannot be used".
#[tokio::test]
async fn the_server_refuses_exactly_what_its_openapi_document_refuses() {
    let f = fixture();
    // serde reads a JSON array into a struct field by field: `["zz1"]` made a tenant
    for (path, body) in [
        ("/v1/tenants", r#"["zz1"]"#),
        ("/v1/tokens", r#"[null, "x", ["alerts:read"]]"#),
        ("/v1/packs/acme/activate", r#"["0.1.0"]"#),
    ] {
        let (status, answer) = post(&f.router, path, &f.admin, body).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{path} {body}: {answer}");
        assert!(answer.to_string().contains("array"), "{answer}");
    }
    let (_, tenants) = get(&f.router, "/v1/tenants", &f.admin).await;
    assert!(!tenants.to_string().contains("zz1"), "{tenants}");

    // since/until: ms of at most 18 digits (every one fits), or an RFC 3339 date-time
    for (query, status) in [
        ("since=999999999999999999", StatusCode::OK),
        ("since=-5", StatusCode::OK),
        ("since=9999999999999999999", StatusCode::BAD_REQUEST),
        ("since=1000000000000000000", StatusCode::BAD_REQUEST),
        ("since=2026-12-07T10:00:00Z", StatusCode::OK),
        ("since=2026-12-07t10:00:00.123456z", StatusCode::OK),
        (
            "until=2026-12-07T10:00:00.1234567890123%2B01:00",
            StatusCode::OK,
        ),
        ("since=1580-55-83T22:97:30.49203Z", StatusCode::BAD_REQUEST),
        // forms jiff reads that RFC 3339 has not
        ("since=2026-12-07T10:00Z", StatusCode::BAD_REQUEST),
        ("since=20261207T100000Z", StatusCode::BAD_REQUEST),
        ("since=2026-12-07", StatusCode::BAD_REQUEST),
        // severity: the five names, lower case, as the document's enum
        ("severity=high", StatusCode::OK),
        ("severity=HIGH", StatusCode::BAD_REQUEST),
        // cursor: 1-19 digits
        ("cursor=18446744073709551615", StatusCode::BAD_REQUEST),
        ("cursor=1844674407370955161", StatusCode::OK),
        ("cursor=", StatusCode::BAD_REQUEST),
    ] {
        let (got, answer) = get(&f.router, &format!("/v1/alerts?{query}"), &f.admin).await;
        assert_eq!(got, status, "{query}: {answer}");
    }

    // a key of the right form that is not a curve point: 422, and the field named once
    let (status, answer) = post(
        &f.router,
        "/v1/keys",
        &f.admin,
        r#"{"public_key":"00Fe0dcdf7C46a9C48D78d03ca0Db0Ac04AaafE0EaaA4dad28AB32fD27271e03"}"#,
    )
    .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{answer}");
    let message = answer["error"]["message"].as_str().expect("message");
    assert_eq!(message.matches("public_key").count(), 1, "{message}");

    // `name`: at most 256 characters, not bytes
    let name = "é".repeat(200);
    let (status, answer) = post(
        &f.router,
        "/v1/tokens",
        &f.admin,
        json!({ "name": name, "scopes": ["alerts:read"] }).to_string(),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "{answer}");

    // a version that is neither a version nor a requirement: the document takes any string
    let (status, answer) = post(
        &f.router,
        "/v1/packs/acme/activate",
        &f.admin,
        r#"{"version":""}"#,
    )
    .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{answer}");
}

#[tokio::test]
async fn events_are_counted_with_line_errors_in_any_format() {
    let f = fixture();
    let bad = std::fs::read(root().join("tests/data/ocsf/bad.ndjson")).expect("fixture");
    let (status, body) = post(&f.router, "/v1/events", &f.admin, bad).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let rejected = body["rejected"].as_u64().expect("count");
    assert!(rejected > 0, "{body}");
    let errors = body["errors"].as_array().expect("errors");
    assert_eq!(errors.len() as u64, rejected.min(100));
    assert!(errors[0]["line"].as_u64().is_some_and(|l| l >= 1));
    assert!(errors[0]["message"].as_str().is_some_and(|m| !m.is_empty()));

    let good = std::fs::read(root().join("tests/data/ocsf/classes.ndjson")).expect("fixture");
    let (status, body) = post(&f.router, "/v1/events?format=ocsf", &f.admin, good.clone()).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(
        (body["rejected"].as_u64(), body["format"].as_str()),
        (Some(0), Some("ocsf"))
    );
    let accepted = body["accepted"].as_u64().expect("count");
    assert!(accepted > 0);

    // a JSON array of the same records, gzip-compressed
    let lines: Vec<Value> = String::from_utf8(good)
        .expect("utf-8")
        .lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| serde_json::from_str(l).expect("json"))
        .collect();
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    std::io::Write::write_all(&mut gz, Value::Array(lines).to_string().as_bytes()).expect("gz");
    let (status, body) = post(&f.router, "/v1/events", &f.admin, gz.finish().expect("gz")).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["accepted"].as_u64(), Some(accepted));

    // Yagura's own events: one name, `ndjson`, in the answer as in `?format=` (`json` is taken
    // as an alias) (issue 23, item 4)
    let own = std::fs::read(root().join("examples/events/sample.ndjson")).expect("sample");
    for query in ["", "?format=ndjson", "?format=json"] {
        let (status, body) = post(
            &f.router,
            &format!("/v1/events{query}"),
            &f.admin,
            own.clone(),
        )
        .await;
        assert_eq!(status, StatusCode::OK, "{query}: {body}");
        assert_eq!(body["format"], "ndjson", "{query}: {body}");
    }
    let (status, body) = post(&f.router, "/v1/events?format=bogus", &f.admin, "{}").await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(
        body.to_string().contains("zeek-conn"),
        "lists the formats: {body}"
    );
    // a well-formed request whose body is not events in any format: 422, not 400 (the
    // OpenAPI document takes any body here)
    let (status, body) = post(&f.router, "/v1/events", &f.admin, "hello there\n").await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
    assert!(body.to_string().contains("?format="), "{body}");
    let (status, body) = post(&f.router, "/v1/events", &f.admin, "").await;
    assert_eq!(
        (status, body["accepted"].as_u64()),
        (StatusCode::OK, Some(0))
    );

    let evtx = std::fs::read(root().join("tests/data/evtx/sysmon_psexec_as_system.evtx"))
        .expect("fixture");
    let (status, body) = post(&f.router, "/v1/events?format=evtx", &f.admin, evtx).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert!(body["accepted"].as_u64().is_some_and(|n| n > 0), "{body}");

    let (_, metrics) = {
        let request = Request::get("/metrics")
            .header("authorization", format!("Bearer {}", f.admin))
            .body(Body::empty())
            .expect("request");
        let response = f.router.clone().oneshot(request).await.expect("infallible");
        let bytes = axum::body::to_bytes(response.into_body(), 1 << 20)
            .await
            .expect("body");
        ((), String::from_utf8(bytes.to_vec()).expect("utf-8"))
    };
    assert!(
        metrics.contains(&format!(
            "yagura_events_rejected_total{{tenant=\"default\",source=\"http\"}} {rejected}"
        )),
        "{metrics}"
    );
    assert!(metrics.contains("# TYPE yagura_events_accepted_total counter"));
}

#[tokio::test]
async fn packs_upload_activate_rollback_history_and_remove() {
    let f = fixture();
    let token = tenant_token(&f, "acme", &["packs:write", "alerts:read", "events:write"]).await;
    let r = &f.router;

    let unsigned = scan_bundle(f.dir.path(), None, "1.0.0");
    let (status, body) = post(r, "/v1/packs", &token, unsigned).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
    assert!(body.to_string().contains("unsigned"), "{body}");
    let stranger = SecretKey::generate().expect("key");
    let (status, body) = post(
        r,
        "/v1/packs",
        &token,
        scan_bundle(f.dir.path(), Some(&stranger), "1.0.0"),
    )
    .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
    assert!(body.to_string().contains("not trusted"), "{body}");
    let (status, body) = post(r, "/v1/packs", &token, b"not a bundle".to_vec()).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");

    let v1 = scan_bundle(f.dir.path(), Some(&f.key), "1.0.0");
    let (status, body) = post(r, "/v1/packs", &token, v1.clone()).await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    assert_eq!(body["stored"], "new");
    assert_eq!(body["rules"], json!(["vertical-port-scan"]));
    let (status, body) = post(r, "/v1/packs", &token, v1).await;
    assert_eq!(
        (status, body["stored"].as_str()),
        (StatusCode::CREATED, Some("already_stored"))
    );
    let (status, _) = post(
        r,
        "/v1/packs",
        &token,
        scan_bundle(f.dir.path(), Some(&f.key), "1.1.0"),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED);

    let (_, list) = get(r, "/v1/packs", &token).await;
    assert_eq!(list["packs"].as_array().map(Vec::len), Some(2), "{list}");
    let (status, inspect) = get(r, "/v1/packs/acme@1.0.0", &token).await;
    assert_eq!(status, StatusCode::OK, "{inspect}");
    assert_eq!(inspect["rules"][0]["config"]["threshold"], 20);
    assert_eq!(inspect["signer"], f.key.public().id());
    assert_eq!(inspect["active"], false);
    let (status, _) = get(r, "/v1/packs/acme@9.9.9", &token).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (status, _) = get(r, "/v1/packs/acme", &token).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "NAME@VERSION");

    let (status, body) = post(
        r,
        "/v1/packs/acme/activate",
        &token,
        r#"{"version":"1.0.0","reason":"first"}"#,
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["rules"], json!(["vertical-port-scan"]));
    let (status, body) = post(r, "/v1/packs/acme/activate", &token, r#"{"version":"^1"}"#).await;
    assert_eq!(
        (status, body["version"].as_str()),
        (StatusCode::OK, Some("1.1.0")),
        "{body}"
    );
    assert_eq!(body["previous"], "1.0.0");
    assert_eq!(body["changed"], true);
    // the active version again: not an activation (no history entry; the rollback below
    // still goes back to 1.0.0 and the one after it finds nothing)
    let (status, body) = post(
        r,
        "/v1/packs/acme/activate",
        &token,
        r#"{"version":"1.1.0"}"#,
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(
        (&body["version"], &body["previous"], &body["changed"]),
        (&json!("1.1.0"), &json!("1.1.0"), &json!(false)),
        "{body}"
    );
    assert_eq!(body["rules"], json!(["vertical-port-scan"]), "{body}");
    let (status, _) = post(r, "/v1/packs/acme/activate", &token, r#"{"version":"^2"}"#).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (status, _) = post(
        r,
        "/v1/packs/other/activate",
        &token,
        r#"{"version":"1.0.0"}"#,
    )
    .await;
    assert_eq!(status, StatusCode::NOT_FOUND);

    let (_, rules) = get(r, "/v1/rules", &token).await;
    assert_eq!(rules["rules"][0]["id"], "vertical-port-scan", "{rules}");

    // the running engine finds a scan; the alert is stored and deduplicated
    let scan = std::fs::read(root().join("rules/vertical-port-scan/cases/30-ports.ndjson"))
        .expect("events");
    let (status, body) = post(r, "/v1/events", &token, scan).await;
    assert_eq!(
        (status, body["accepted"].as_u64()),
        (StatusCode::OK, Some(30)),
        "{body}"
    );
    let alerts = wait_for_alerts(
        r,
        &token,
        "rule=vertical-port-scan&severity=medium&text=10.0.0.9",
    )
    .await;
    assert_eq!(alerts.len(), 1);
    let id = alerts[0]["id"].as_u64().expect("id");
    let (status, one) = get(r, &format!("/v1/alerts/{id}"), &token).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(one["finding"]["class_uid"], 2004);
    let (_, none) = get(r, "/v1/alerts?severity=critical", &token).await;
    assert_eq!(none["alerts"], json!([]));
    let (_, none) = get(r, "/v1/alerts?until=1000", &token).await;
    assert_eq!(none["alerts"], json!([]));

    let (status, body) = post(
        r,
        "/v1/packs/acme/rollback",
        &token,
        r#"{"reason":"too noisy"}"#,
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(
        (body["version"].as_str(), body["previous"].as_str()),
        (Some("1.0.0"), Some("1.1.0"))
    );
    let (status, body) = post(r, "/v1/packs/acme/rollback", &token, "").await;
    assert_eq!(status, StatusCode::CONFLICT, "nothing before 1.0.0: {body}");
    let (_, history) = get(r, "/v1/packs/acme/history", &token).await;
    let actions: Vec<&str> = history["history"]
        .as_array()
        .expect("history")
        .iter()
        .filter_map(|e| e["action"].as_str())
        .collect();
    assert_eq!(actions, ["activate", "activate", "rollback"]);
    assert_eq!(history["history"][2]["reason"], "too noisy");

    let (status, body) = delete(r, "/v1/packs/acme@1.0.0", &token).await;
    assert_eq!(status, StatusCode::CONFLICT, "active: {body}");
    let (status, body) = delete(r, "/v1/packs/acme@1.1.0", &token).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["deleted_from_store"], true);
    let (_, list) = get(r, "/v1/packs", &token).await;
    assert_eq!(list["packs"].as_array().map(Vec::len), Some(1), "{list}");
}

#[tokio::test]
async fn a_tenant_cannot_see_or_change_another_tenants_data() {
    let f = fixture();
    let all = ["packs:write", "alerts:read", "events:write"];
    let a = tenant_token(&f, "tenant-a", &all).await;
    let b = tenant_token(&f, "tenant-b", &all).await;
    let r = &f.router;
    // B: a pack, active, and an alert
    let (status, _) = post(
        r,
        "/v1/packs",
        &b,
        scan_bundle(f.dir.path(), Some(&f.key), "1.0.0"),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED);
    let (status, _) = post(r, "/v1/packs/acme/activate", &b, r#"{"version":"1.0.0"}"#).await;
    assert_eq!(status, StatusCode::OK);
    let scan = std::fs::read(root().join("rules/vertical-port-scan/cases/30-ports.ndjson"))
        .expect("events");
    let (status, _) = post(r, "/v1/events", &b, scan.clone()).await;
    assert_eq!(status, StatusCode::OK);
    let alerts = wait_for_alerts(r, &b, "rule=vertical-port-scan").await;
    let alert_id = alerts[0]["id"].as_u64().expect("id");

    // A sees none of it
    let (_, list) = get(r, "/v1/packs", &a).await;
    assert_eq!(list["packs"], json!([]));
    let (_, list) = get(r, "/v1/alerts", &a).await;
    assert_eq!(list["alerts"], json!([]));
    let (_, rules) = get(r, "/v1/rules", &a).await;
    assert_eq!(rules["rules"], json!([]));
    let not_found: &[(&str, String)] = &[
        ("GET", format!("/v1/alerts/{alert_id}")),
        ("GET", "/v1/packs/acme@1.0.0".into()),
        ("DELETE", "/v1/packs/acme@1.0.0".into()),
        ("POST", "/v1/packs/acme/activate".into()),
        ("POST", "/v1/packs/acme/rollback".into()),
        ("GET", "/v1/packs/acme/history".into()),
        ("GET", "/v1/rules/vertical-port-scan/config".into()),
        ("PUT", "/v1/rules/vertical-port-scan/config".into()),
    ];
    for (method, uri) in not_found {
        let method: Method = method.parse().expect("method");
        let body = if uri.ends_with("activate") {
            r#"{"version":"1.0.0"}"#
        } else if uri.ends_with("config") {
            r#"{"config":{"threshold":5}}"#
        } else {
            ""
        };
        let (status, answer) = call(r, method.clone(), uri, Some(&a), body).await;
        assert_eq!(status, StatusCode::NOT_FOUND, "{method} {uri}: {answer}");
    }
    // naming B's tenant is refused on every tenant-scoped route
    let forbidden: &[(&str, &str)] = &[
        ("GET", "/v1/packs?tenant=tenant-b"),
        ("POST", "/v1/packs?tenant=tenant-b"),
        ("GET", "/v1/packs/acme@1.0.0?tenant=tenant-b"),
        ("DELETE", "/v1/packs/acme@1.0.0?tenant=tenant-b"),
        ("POST", "/v1/packs/acme/activate?tenant=tenant-b"),
        ("POST", "/v1/packs/acme/rollback?tenant=tenant-b"),
        ("GET", "/v1/packs/acme/history?tenant=tenant-b"),
        ("GET", "/v1/rules?tenant=tenant-b"),
        ("GET", "/v1/rules/vertical-port-scan/config?tenant=tenant-b"),
        ("PUT", "/v1/rules/vertical-port-scan/config?tenant=tenant-b"),
        ("POST", "/v1/events?tenant=tenant-b"),
        ("GET", "/v1/alerts?tenant=tenant-b"),
        ("GET", "/v1/alerts/1?tenant=tenant-b"),
        ("GET", "/v1/alerts/stream?tenant=tenant-b"),
        ("GET", "/v1/tenants"),
        ("POST", "/v1/tokens"),
        ("GET", "/v1/tokens?tenant=tenant-b"),
        ("DELETE", "/v1/tokens/abc"),
        ("GET", "/v1/keys?tenant=tenant-b"),
        ("POST", "/v1/keys?tenant=tenant-b"),
        ("DELETE", "/v1/keys/abc?tenant=tenant-b"),
    ];
    for (method, uri) in forbidden {
        let method: Method = method.parse().expect("method");
        let (status, answer) = call(r, method.clone(), uri, Some(&a), "{}").await;
        assert_eq!(status, StatusCode::FORBIDDEN, "{method} {uri}: {answer}");
    }
    // A's events run A's (empty) rule set: no alert for A
    let (status, _) = post(r, "/v1/events", &a, scan).await;
    assert_eq!(status, StatusCode::OK);
    tokio::time::sleep(Duration::from_millis(300)).await;
    let (_, list) = get(r, "/v1/alerts", &a).await;
    assert_eq!(list["alerts"], json!([]));
    // metrics: A's token sees only A's series
    let request = Request::get("/metrics")
        .header("authorization", format!("Bearer {a}"))
        .body(Body::empty())
        .expect("request");
    let response = r.clone().oneshot(request).await.expect("infallible");
    let text = axum::body::to_bytes(response.into_body(), 1 << 20)
        .await
        .expect("body");
    let text = String::from_utf8_lossy(&text);
    assert!(text.contains("tenant=\"tenant-a\""), "{text}");
    assert!(!text.contains("tenant-b"), "{text}");
    // the admin may act on B
    let (_, list) = get(r, "/v1/alerts?tenant=tenant-b", &f.admin).await;
    assert_eq!(list["alerts"].as_array().map(Vec::len), Some(1));
}

/// The core pack over a real socket: upload, activate, the OTRF Empire PsExec capture posted,
/// the lateral-movement alert naming WORKSTATION6 read from `/v1/alerts` and from the SSE
/// stream; then a graceful shutdown.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn end_to_end_on_a_real_listener_core_pack_to_lateral_movement_alert() {
    let dir = tempfile::tempdir().expect("tmp");
    let (app, admin) = App::open(config(dir.path())).expect("opens");
    let admin = admin.expect("admin token");
    let key = SecretKey::generate().expect("key");
    app.store().trust_key(&key.public()).expect("trust");
    let mut bundle = Bundle::build(&root().join("rules/pack.toml")).expect("the core pack builds");
    bundle.sign(&key);
    let bundle = bundle.to_bytes().expect("bytes");

    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let base = format!("http://{}", listener.local_addr().expect("addr"));
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let server = tokio::spawn(yagura::server::serve(app, listener, async {
        let _ = stopped.await;
    }));
    let client = reqwest::Client::new();
    let auth = format!("Bearer {admin}");

    let ready = client
        .get(format!("{base}/readyz"))
        .send()
        .await
        .expect("readyz");
    assert_eq!(ready.status(), 200);
    let upload = client
        .post(format!("{base}/v1/packs"))
        .header("authorization", &auth)
        .body(bundle)
        .send()
        .await
        .expect("upload");
    let status = upload.status();
    assert_eq!(status, 201, "{}", upload.text().await.unwrap_or_default());
    let activate = client
        .post(format!("{base}/v1/packs/yagura-core/activate"))
        .header("authorization", &auth)
        .body(r#"{"version":"^0.1","reason":"e2e"}"#)
        .send()
        .await
        .expect("activate");
    assert_eq!(activate.status(), 200);

    let mut stream = client
        .get(format!("{base}/v1/alerts/stream"))
        .header("authorization", &auth)
        .send()
        .await
        .expect("stream");
    assert_eq!(stream.status(), 200);
    assert!(
        stream
            .headers()
            .get("content-type")
            .is_some_and(|v| v.as_bytes().starts_with(b"text/event-stream"))
    );

    let gz =
        std::fs::read(root().join("tests/data/windows/otrf_empire_psexec_lines_1150-1449.json.gz"))
            .expect("capture");
    let mut text = Vec::new();
    std::io::Read::read_to_end(&mut flate2::read::MultiGzDecoder::new(&gz[..]), &mut text)
        .expect("gunzip");
    let ingest = client
        .post(format!("{base}/v1/events"))
        .header("authorization", &auth)
        .body(text)
        .send()
        .await
        .expect("events");
    assert_eq!(ingest.status(), 200);
    let answer: Value = ingest.json_value().await;
    assert!(
        answer["accepted"].as_u64().is_some_and(|n| n > 200),
        "{answer}"
    );

    // the stream sees the alert as it is stored
    let mut seen = String::new();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
    while !(seen.contains("event: alert.") && seen.contains("WORKSTATION6")) {
        let chunk = tokio::time::timeout_at(deadline, stream.chunk())
            .await
            .expect("an alert on the stream within 60 s")
            .expect("stream reads");
        let Some(chunk) = chunk else {
            panic!("the stream ended early: {seen}");
        };
        seen.push_str(&String::from_utf8_lossy(&chunk));
    }
    assert!(seen.contains("lateral-movement"), "{seen}");

    // and the query route has it
    let alerts: Value = client
        .get(format!(
            "{base}/v1/alerts?rule=lateral-movement&host=WORKSTATION6"
        ))
        .header("authorization", &auth)
        .send()
        .await
        .expect("alerts")
        .json_value()
        .await;
    let list = alerts["alerts"].as_array().expect("alerts");
    assert!(!list.is_empty(), "{alerts}");
    assert!(
        list.len() <= 2,
        "an attack is one or two alerts, not a flood: {alerts}"
    );
    assert!(
        list[0]["finding"]["observables"]
            .to_string()
            .contains("WORKSTATION6")
    );

    let metrics = client
        .get(format!("{base}/metrics"))
        .header("authorization", &auth)
        .send()
        .await
        .expect("metrics")
        .text()
        .await
        .expect("text");
    assert!(
        metrics
            .contains("yagura_rule_findings_total{tenant=\"default\",rule=\"lateral-movement\"}"),
        "{metrics}"
    );

    // graceful shutdown: the stream ends, serve returns, the store is flushed and reopens
    let _ = stop.send(());
    // the guards only stop a hung test; nothing here is timed
    let ended = tokio::time::timeout(Duration::from_secs(300), async {
        while let Ok(Some(_)) = stream.chunk().await {}
    })
    .await;
    assert!(ended.is_ok(), "the stream ends at shutdown");
    tokio::time::timeout(Duration::from_secs(300), server)
        .await
        .expect("serve returns")
        .expect("joins")
        .expect("serve succeeds");
}

#[tokio::test]
async fn a_tenants_rule_config_is_checked_by_init_stored_and_swapped_in() {
    let f = fixture();
    let token = tenant_token(&f, "acme", &["packs:write", "alerts:read", "events:write"]).await;
    let r = &f.router;
    let uri = "/v1/rules/vertical-port-scan/config";
    let (status, _) = get(r, uri, &token).await;
    assert_eq!(status, StatusCode::NOT_FOUND, "not running yet");
    let (status, _) = post(
        r,
        "/v1/packs",
        &token,
        scan_bundle(f.dir.path(), Some(&f.key), "1.0.0"),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED);
    let (status, _) = post(
        r,
        "/v1/packs/acme/activate",
        &token,
        r#"{"version":"1.0.0"}"#,
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    let (status, body) = get(r, uri, &token).await;
    assert_eq!((status, &body["config"]), (StatusCode::OK, &json!({})));

    let put = |body: &'static str| call(r, Method::PUT, uri, Some(&token), body);
    let (status, body) = put(r#"{"config":{"nope":1}}"#).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
    assert!(body.to_string().contains("nope"), "{body}");
    let (status, body) = put(r#"{"config":{"threshold":"many"}}"#).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
    let (status, body) = put(r#"{"config":{"threshold":40}}"#).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let (_, body) = get(r, uri, &token).await;
    assert_eq!(body["config"]["threshold"], 40);

    // 30 ports stay under a threshold of 40
    let scan = std::fs::read(root().join("rules/vertical-port-scan/cases/30-ports.ndjson"))
        .expect("events");
    let (status, _) = post(r, "/v1/events", &token, scan.clone()).await;
    assert_eq!(status, StatusCode::OK);
    tokio::time::sleep(Duration::from_millis(400)).await;
    let (_, list) = get(r, "/v1/alerts", &token).await;
    assert_eq!(list["alerts"], json!([]), "{list}");
    // back to the pack's 20: the same scan is found
    let (status, _) = put(r#"{"config":{}}"#).await;
    assert_eq!(status, StatusCode::OK);
    let (status, _) = post(r, "/v1/events", &token, scan).await;
    assert_eq!(status, StatusCode::OK);
    wait_for_alerts(r, &token, "rule=vertical-port-scan").await;
}

/// Packs imported and activated from the CLI before the first `serve` run at start; the store
/// refuses to activate for a tenant name the API would refuse, so none is stranded there.
#[tokio::test]
async fn packs_activated_from_the_cli_run_at_start() {
    let dir = tempfile::tempdir().expect("tmp");
    let key = SecretKey::generate().expect("key");
    {
        let store = yagura::store::Store::open(&dir.path().join("store")).expect("store");
        store.trust_key(&key.public()).expect("trust");
        let bytes = scan_bundle(dir.path(), Some(&key), "1.0.0");
        let bundle = Bundle::from_bytes(&bytes, "test").expect("bundle");
        store
            .import(&bundle, Some(key.public().id()), "cli", None)
            .expect("import");
        store
            .activate("default", "acme", "1.0.0", "cli", "")
            .expect("activate");
        let err = store
            .activate("Not A Tenant", "acme", "1.0.0", "cli", "")
            .expect_err("a name the API refuses");
        assert!(
            err.to_string()
                .contains("tenant name `Not A Tenant` must be"),
            "{err}"
        );
    }
    let (app, admin) = App::open(config(dir.path())).expect("starts");
    let admin = admin.expect("token");
    let router = app.router();
    let (_, rules) = get(&router, "/v1/rules", &admin).await;
    assert_eq!(rules["rules"][0]["id"], "vertical-port-scan", "{rules}");
    let (_, packs) = get(&router, "/v1/packs", &admin).await;
    assert_eq!(packs["packs"][0]["active"], true, "{packs}");
}

/// Shutdown evaluates what the engines hold: with a flush interval far away, the scan's events
/// sit in the reorder buffer until `close`, whose findings are stored as the alert.
#[tokio::test]
async fn shutdown_evaluates_accepted_events_and_stores_their_alerts() {
    let dir = tempfile::tempdir().expect("tmp");
    let (app, admin) = App::open(ServerConfig {
        flush_after: Duration::from_secs(600),
        ..config(dir.path())
    })
    .expect("opens");
    let admin = admin.expect("token");
    let key = SecretKey::generate().expect("key");
    app.store().trust_key(&key.public()).expect("trust");
    let router = app.router();
    let (status, _) = post(
        &router,
        "/v1/packs",
        &admin,
        scan_bundle(dir.path(), Some(&key), "1.0.0"),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED);
    let (status, _) = post(
        &router,
        "/v1/packs/acme/activate",
        &admin,
        r#"{"version":"1.0.0"}"#,
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    let scan = std::fs::read(root().join("rules/vertical-port-scan/cases/30-ports.ndjson"))
        .expect("events");
    let (status, body) = post(&router, "/v1/events", &admin, scan).await;
    assert_eq!(
        (status, body["accepted"].as_u64()),
        (StatusCode::OK, Some(30))
    );
    tokio::time::sleep(Duration::from_millis(200)).await;
    let (_, list) = get(&router, "/v1/alerts", &admin).await;
    assert_eq!(list["alerts"], json!([]), "still buffered before shutdown");
    let closing = app.clone();
    tokio::task::spawn_blocking(move || closing.close())
        .await
        .expect("joins")
        .expect("closes");
    let (alerts, _) = app
        .store()
        .alerts(
            "default",
            &yagura::store::AlertFilter {
                limit: 10,
                ..Default::default()
            },
        )
        .expect("query");
    assert_eq!(
        alerts.len(),
        1,
        "the buffered scan was evaluated at shutdown"
    );
    assert_eq!(alerts[0].rule_id, "vertical-port-scan");
}

/// Syslog over UDP and TCP reaches the tenant's engine through the syslog adapter.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn syslog_over_udp_and_tcp_feeds_the_tenant() {
    let dir = tempfile::tempdir().expect("tmp");
    let any: std::net::SocketAddr = "127.0.0.1:0".parse().expect("addr");
    let (app, admin) = App::open(ServerConfig {
        syslog: vec![SyslogListener {
            tenant: "default".into(),
            udp: Some(any),
            tcp: Some(any),
            missing_time: MissingTime::Receipt,
        }],
        ..config(dir.path())
    })
    .expect("opens");
    let admin = admin.expect("token");
    let bound = app.start_syslog().await.expect("listeners");
    let (udp, tcp) = (bound[0].udp.expect("udp"), bound[0].tcp.expect("tcp"));
    let lines =
        std::fs::read_to_string(root().join("tests/data/network/netfilter.log")).expect("fixture");
    let count = lines.lines().filter(|l| !l.trim().is_empty()).count();

    let socket = tokio::net::UdpSocket::bind(any).await.expect("udp client");
    for line in lines.lines().filter(|l| !l.trim().is_empty()) {
        socket.send_to(line.as_bytes(), udp).await.expect("send");
    }
    let mut stream = tokio::net::TcpStream::connect(tcp)
        .await
        .expect("tcp client");
    tokio::io::AsyncWriteExt::write_all(&mut stream, lines.as_bytes())
        .await
        .expect("write");
    tokio::io::AsyncWriteExt::write_all(&mut stream, b"not syslog at all\n")
        .await
        .expect("write");
    tokio::io::AsyncWriteExt::shutdown(&mut stream)
        .await
        .expect("close");

    let router = app.router();
    let want_udp =
        format!("yagura_events_accepted_total{{tenant=\"default\",source=\"syslog-udp\"}} {count}");
    let want_tcp =
        format!("yagura_events_accepted_total{{tenant=\"default\",source=\"syslog-tcp\"}} {count}");
    let text = metrics_until(&router, &admin, |text| {
        text.contains(&want_udp) && text.contains(&want_tcp)
    })
    .await;
    assert!(text.contains(&want_udp), "{text}");
    assert!(text.contains(&want_tcp), "{text}");
    // the UDP socket's kernel drops are a series of their own (none here: every datagram
    // was accepted)
    assert!(
        text.contains(r#"yagura_syslog_udp_dropped_total{tenant="default"} 0"#),
        "{text}"
    );
    app.begin_shutdown();
}

/// `reqwest` without its `json` feature: the body as JSON.
trait JsonValue {
    async fn json_value(self) -> Value;
}

impl JsonValue for reqwest::Response {
    async fn json_value(self) -> Value {
        let text = self.text().await.expect("body");
        serde_json::from_str(&text).unwrap_or_else(|e| panic!("not JSON ({e}): {text}"))
    }
}

mod sinks;

mod tenant_keys;

mod enable_rules;

mod rule_latency;

mod syslog;

mod sink_tls;

mod limits;

mod connections;
