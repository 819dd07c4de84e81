//! What the host's integration tests share: the workspace root, the source files of a small
//! pack (vertical-port-scan's cases), and one request through the API router in process.

use std::path::{Path, PathBuf};

use axum::Router;
use axum::body::Body;
use axum::http::{Method, Request, StatusCode};
use serde_json::Value;
use tower::ServiceExt;

/// The rule limits of the tests' sandboxes and servers: the defaults with a per-call deadline
/// no slow machine reaches (a debug build, an emulator, a sanitizer), so that only the tests
/// of the deadline itself — with a rule that never returns — can see it fire.
pub fn test_limits() -> yagura::sandbox::Limits {
    yagura::sandbox::Limits {
        call_deadline: std::time::Duration::from_secs(60),
        ..yagura::sandbox::Limits::default()
    }
}

/// [`test_limits`]'s deadline as `--deadline-ms` takes it.
pub const TEST_DEADLINE_MS: &str = "60000";

/// How many times a test polls for something a server does in the background, 50 ms apart:
/// at least two minutes, a bound only a hung server reaches (a slow one gets there sooner or
/// later; a poll ends as soon as its condition holds).
pub const POLLS: usize = 2_400;

/// The workspace root.
pub fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..")
}

/// Copies vertical-port-scan's `cases.toml` and its events files (`cases/`) into `dest`, the
/// folder of a test pack's manifest.
pub fn copy_scan_cases(dest: &Path) {
    let src = root().join("rules/vertical-port-scan");
    std::fs::create_dir_all(dest.join("cases")).expect("mkdir");
    std::fs::copy(src.join("cases.toml"), dest.join("cases.toml")).expect("copy cases");
    for entry in std::fs::read_dir(src.join("cases")).expect("cases dir") {
        let path = entry.expect("entry").path();
        std::fs::copy(
            &path,
            dest.join("cases").join(path.file_name().expect("name")),
        )
        .expect("copy events");
    }
}

/// One request in process: the status and the body as JSON (`Null` when empty, a JSON string
/// holding the text when it is not JSON).
pub async fn call(
    router: &Router,
    method: Method,
    uri: &str,
    token: Option<&str>,
    body: impl Into<Body>,
) -> (StatusCode, Value) {
    let mut request = Request::builder().method(method).uri(uri);
    if let Some(token) = token {
        request = request.header("authorization", format!("Bearer {token}"));
    }
    let response = router
        .clone()
        .oneshot(request.body(body.into()).expect("request"))
        .await
        .expect("infallible");
    let status = response.status();
    let bytes = axum::body::to_bytes(response.into_body(), 64 << 20)
        .await
        .expect("body");
    let value = if bytes.is_empty() {
        Value::Null
    } else {
        serde_json::from_slice(&bytes)
            .unwrap_or_else(|_| Value::String(String::from_utf8_lossy(&bytes).into_owned()))
    };
    (status, value)
}

/// [`call`] with a token.
pub async fn call_as(
    router: &Router,
    method: Method,
    uri: &str,
    token: &str,
    body: impl Into<Body>,
) -> (StatusCode, Value) {
    call(router, method, uri, Some(token), body).await
}
