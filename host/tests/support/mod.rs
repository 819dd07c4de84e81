//! What the host's integration tests share: the workspace root, the source files of a small
//! pack (vertical-port-scan's cases), and one request through the API router in process.
//!
//! Each test binary includes this with `mod support;` and uses part of it.
#![allow(dead_code)]

use std::path::{Path, PathBuf};

use axum::Router;
use axum::body::Body;
use axum::http::{Method, Request, StatusCode};
use serde_json::Value;
use tower::ServiceExt;

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
