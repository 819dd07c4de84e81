//! The HTTP management API behind `yagura serve` (axum): tenants and tokens, packs, event
//! ingest into one engine per tenant, alerts (query and live stream), health and metrics.
//! Routes and the auth model are in `docs/api.md`; flags and files in `docs/operations.md`.
//!
//! # Layout
//! - `error`: [`ApiError`], the one error type, rendered as `{"error": {"code", "message"}}`.
//! - `request`: the caller (bearer token, scopes, tenant), body limits, JSON and query parsing.
//! - `openapi`: `/v1/openapi.json`, generated (utoipa) from the handlers' `#[utoipa::path]`s.
//! - `admin`: `/v1/tenants`, `/v1/tokens`, `/v1/keys`, `PUT /v1/rules/{id}/enabled`.
//! - `packs`: `/v1/packs…` (upload with the checks of `pack import`, activation, rollback).
//! - `follow`: `/v1/follows…`: OCI repositories followed with a semver requirement, and the
//!   poller that checks them.
//! - `ingest`: `/v1/events`, `/v1/rules` (with per-tenant rule config).
//! - `alerts`: `/v1/alerts`, `/v1/alerts/stream`.
//! - `conn`: the connections (hyper HTTP/1): header and body deadlines, the connection cap,
//!   graceful shutdown.
//! - `admission`: `POST /v1/events` admitted before work: each tenant's share of requests in
//!   flight, the decode turns.
//!
//! The tenants' engines, the rule sets they run and their alerts are the [`Runtime`]'s
//! (`runtime/`); this module is its HTTP front door.
//!
//! Lifecycle: [`App::open`] opens the store, creates the first admin token on a fresh store and
//! opens the runtime, which starts every tenant's engine with its active packs; [`serve`]
//! answers requests until its shutdown future resolves, then stops taking requests, ends the live streams, lets each
//! engine evaluate what it holds (its findings are stored), and flushes the store.

mod admin;
mod admission;
mod alerts;
mod conn;
mod error;
mod follow;
mod ingest;
mod openapi;
mod packs;
mod request;
mod shadow;

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use anyhow::Context;
use axum::Router;
use axum::extract::{DefaultBodyLimit, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{delete, get, post, put};
use tokio::sync::watch;

pub use crate::alert::sink::{SinkConfig, SinkKind, SinkTable};
pub use crate::source::{ListenerState, MissingTime, SyslogListener};
pub use conn::ConnectionLimits;
pub use error::ApiError;
use request::Caller;

use crate::engine::EngineOptions;
use crate::pack::Trust;
use crate::runtime::{Runtime, RuntimeOptions};
use crate::sandbox::{Limits, Sandbox};
use crate::store::{DEFAULT_TENANT, Scope, Store};

/// How the server runs; `yagura serve`'s flags.
#[derive(Debug, Clone)]
pub struct ServerConfig {
    /// the address `yagura serve` listens on (loopback unless told otherwise)
    pub listen: SocketAddr,
    /// the store folder
    pub store: PathBuf,
    /// compiled-artifact cache (default: `<store>/cache`)
    pub cache_dir: Option<PathBuf>,
    /// what sled may keep of the store's pages in memory, bytes
    pub store_cache_bytes: u64,
    /// largest JSON body of the management routes
    pub max_json_bytes: usize,
    /// largest body of POST /v1/events (after gzip is undone, too)
    pub max_events_bytes: usize,
    /// largest pack bundle of POST /v1/packs
    pub max_bundle_bytes: usize,
    /// events a tenant's engine queue holds before ingest answers 429
    pub queue_events: usize,
    /// a quiet engine flushes (evaluates what it buffers) after this long without events
    pub flush_after: Duration,
    /// accept unsigned packs (development only)
    pub allow_unsigned: bool,
    /// a finding updates its rule and dedup key's alert last seen at most this long before it
    /// (event time); later, it opens a new alert
    pub dedup_window: Duration,
    /// syslog listeners, each feeding its tenant (none by default)
    pub syslog: Vec<SyslogListener>,
    /// what each rule instance may use: memory, time per call, output
    pub limits: Limits,
    pub engine: EngineOptions,
    /// wall time between two checkpoints of each tenant's engine (`None`: only at shutdown)
    pub checkpoint_every: Option<Duration>,
    /// where stored alerts also go (none by default)
    pub sinks: Vec<SinkConfig>,
    /// header and body deadlines, and the cap on open connections
    pub connections: ConnectionLimits,
    /// how much of `POST /v1/events` runs at once
    pub ingest: IngestLimits,
    /// the registries (`HOST[:PORT]`) follows may use; none by default, so that a tenant's
    /// token cannot make the server connect where its operator did not say
    pub follow_registries: Vec<String>,
    /// CA certificates (PEM) the follows trust for their registries, besides the public roots
    pub registry_ca: Option<PathBuf>,
}

/// How much of `POST /v1/events` runs at once (`server/admission.rs`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct IngestLimits {
    /// requests of one tenant in flight at most; one more is answered 429 unread
    pub per_tenant: usize,
    /// bodies decoded (gunzip, parse) at once, over all tenants; the rest wait their turn
    pub decoders: usize,
}

impl Default for IngestLimits {
    fn default() -> Self {
        IngestLimits {
            per_tenant: 8,
            decoders: std::thread::available_parallelism().map_or(2, usize::from),
        }
    }
}

impl Default for ServerConfig {
    fn default() -> Self {
        ServerConfig {
            listen: SocketAddr::from(([127, 0, 0, 1], 8080)),
            store: PathBuf::from(".yagura"),
            cache_dir: None,
            store_cache_bytes: crate::store::DEFAULT_CACHE_BYTES,
            max_json_bytes: 1 << 20,
            max_events_bytes: 32 << 20,
            max_bundle_bytes: 64 << 20,
            queue_events: 100_000,
            flush_after: Duration::from_secs(1),
            allow_unsigned: false,
            dedup_window: Duration::from_secs(3600),
            syslog: Vec::new(),
            limits: Limits::default(),
            engine: EngineOptions::default(),
            checkpoint_every: Some(Duration::from_secs(10)),
            sinks: Vec::new(),
            connections: ConnectionLimits::default(),
            ingest: IngestLimits::default(),
            follow_registries: Vec::new(),
            registry_ca: None,
        }
    }
}

impl ServerConfig {
    /// What of it the tenant runtime takes.
    pub(crate) fn runtime_options(&self) -> RuntimeOptions {
        RuntimeOptions {
            engine: self.engine,
            queue_events: self.queue_events,
            flush_after: self.flush_after,
            dedup_window: self.dedup_window,
            checkpoint_every: self.checkpoint_every,
            trust: Trust {
                keys: Vec::new(),
                allow_unsigned: self.allow_unsigned,
            },
        }
    }
}

/// What every handler shares.
pub(crate) struct AppState {
    /// the tenants' engines, the store and the sandbox: what every front door shares
    runtime: Runtime,
    config: ServerConfig,
    /// `true` once shutdown began: readiness fails, ingest answers 503, streams end
    shutdown: watch::Sender<bool>,
    /// the alert sinks, fed from the runtime's alerts; closed by [`App::close`] after the
    /// engines
    sinks: Mutex<crate::alert::sink::Sinks>,
    /// the syslog UDP sockets, whose kernel drop counters each scrape reads
    udp: Mutex<Vec<crate::source::syslog::UdpWatch>>,
    /// the syslog listeners running, with what each rejected (`GET /v1/syslog`)
    syslog: Mutex<Vec<ListenerState>>,
    /// ingest requests in flight per tenant, and the decode turns
    admission: admission::Admission,
    /// the follows' checks, one at a time, and the poller's wake-up
    follows: follow::Follows,
}

impl std::fmt::Debug for AppState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AppState")
            .field("store", &self.runtime.store.dir())
            .finish_non_exhaustive()
    }
}

/// The server, before and while it serves.
#[derive(Debug, Clone)]
pub struct App {
    state: Arc<AppState>,
}

impl App {
    /// Opens the store, creates the first admin token if the store has none (returned: show it
    /// once, it is not stored), and starts every tenant's engine with its active packs.
    pub fn open(config: ServerConfig) -> anyhow::Result<(App, Option<String>)> {
        if let Some(ca) = &config.registry_ca {
            // read now, so that a bad file stops the start instead of every follow's check
            crate::pack::oci::ca_certificates(ca).context("--registry-ca")?;
        }
        let store = Store::open_with_cache(&config.store, config.store_cache_bytes)?;
        let cache = config
            .cache_dir
            .clone()
            .unwrap_or_else(|| store.cache_dir());
        let sandbox = Sandbox::builder()
            .cache_dir(cache)
            .limits(config.limits)
            .build()?;
        // the admin token before the engines start: a fresh store gets its default tenant (and
        // so its engine) here
        let token = first_start(&store)?;
        let mut runtime = Runtime::open(store, sandbox, config.runtime_options());
        // the sinks subscribe before the engines start, so they get the alerts of the WAL replay
        let sinks = crate::alert::sink::Sinks::start(
            &config.sinks,
            runtime.subscribe(),
            runtime.metrics(),
        )?;
        runtime.start()?;
        let (shutdown, _) = watch::channel(false);
        let admission = admission::Admission::new(
            config.ingest.per_tenant,
            config.ingest.decoders,
            runtime.metrics(),
        );
        let state = Arc::new(AppState {
            runtime,
            config,
            shutdown,
            sinks: Mutex::new(sinks),
            udp: Mutex::new(Vec::new()),
            syslog: Mutex::new(Vec::new()),
            admission,
            follows: follow::Follows::default(),
        });
        Ok((App { state }, token))
    }

    /// The store the server runs on.
    pub fn store(&self) -> &Store {
        &self.state.runtime.store
    }

    /// Every route, for `axum::serve` or for tests (`tower::ServiceExt::oneshot`).
    pub fn router(&self) -> Router {
        Router::new()
            .route("/healthz", get(healthz))
            .route("/readyz", get(readyz))
            .route("/metrics", get(metrics_text))
            .route("/v1/openapi.json", get(openapi_json))
            .route(
                "/v1/tenants",
                get(admin::list_tenants).post(admin::create_tenant),
            )
            .route(
                "/v1/tokens",
                get(admin::list_tokens).post(admin::create_token),
            )
            .route("/v1/tokens/{id}", delete(admin::revoke_token))
            .route("/v1/keys", get(admin::list_keys).post(admin::trust_key))
            .route("/v1/keys/{id}", delete(admin::untrust_key))
            .route("/v1/packs", get(packs::list).post(packs::upload))
            .route(
                "/v1/packs/{pack}",
                get(packs::inspect).delete(packs::remove),
            )
            .route("/v1/packs/{name}/activate", post(packs::activate))
            .route("/v1/packs/{name}/rollback", post(packs::rollback))
            .route("/v1/packs/{name}/history", get(packs::history))
            .route(
                "/v1/packs/{name}/shadow",
                get(shadow::report)
                    .post(shadow::start)
                    .delete(shadow::discard),
            )
            .route("/v1/packs/{name}/shadow/promote", post(shadow::promote))
            .route("/v1/follows", get(follow::list).post(follow::create))
            .route("/v1/follows/{id}", get(follow::one).delete(follow::remove))
            .route("/v1/follows/{id}/check", post(follow::check_now))
            .route("/v1/rules", get(ingest::rules))
            .route(
                "/v1/rules/{id}/config",
                get(ingest::get_config).put(ingest::put_config),
            )
            .route("/v1/rules/{id}/enable", post(ingest::enable))
            .route("/v1/rules/{id}/enabled", put(admin::put_enabled))
            .route("/v1/events", post(ingest::events))
            .route("/v1/syslog", get(ingest::syslog))
            .route("/v1/alerts", get(alerts::list))
            .route("/v1/alerts/stream", get(alerts::stream))
            .route("/v1/alerts/{id}", get(alerts::one))
            .fallback(not_found)
            .method_not_allowed_fallback(method_not_allowed)
            // bodies are read with each route's own limit (request::read_body)
            .layer(DefaultBodyLimit::disable())
            .with_state(self.state.clone())
    }

    /// Starts the syslog listeners the config names (inside a tokio runtime); returns them
    /// with the UDP and TCP addresses bound. They stop at shutdown.
    pub async fn start_syslog(&self) -> anyhow::Result<Vec<SyslogListener>> {
        let (bound, watches) = crate::source::syslog::start(
            &self.state.runtime,
            &self.state.config.syslog,
            self.state.shutdown.subscribe(),
        )
        .await?;
        if let Ok(mut udp) = self.state.udp.lock() {
            udp.extend(watches);
        }
        let listeners = bound.iter().map(|l| l.listener.clone()).collect();
        if let Ok(mut syslog) = self.state.syslog.lock() {
            syslog.extend(bound);
        }
        Ok(listeners)
    }

    /// Begins shutdown: readiness fails, ingest is refused, live streams end.
    pub fn begin_shutdown(&self) {
        self.state.shutdown.send_replace(true);
    }

    /// Lets every engine evaluate what it holds, stops them, and flushes the store. Blocking.
    pub fn close(&self) -> anyhow::Result<()> {
        self.begin_shutdown();
        self.state.runtime.close();
        // after the engines: their last alerts are stored and sent to the broadcast
        if let Ok(mut sinks) = self.state.sinks.lock() {
            sinks.close();
        }
        self.state.runtime.store.flush()
    }
}

/// On a store without tokens: the default tenant and an admin token for it.
fn first_start(store: &Store) -> anyhow::Result<Option<String>> {
    if store.has_tokens()? {
        return Ok(None);
    }
    if !store.tenant_exists(DEFAULT_TENANT)? {
        store.create_tenant(DEFAULT_TENANT)?;
    }
    let token = store.create_token(DEFAULT_TENANT, "initial admin", &[Scope::Admin])?;
    Ok(Some(token.token))
}

/// Serves `app` on `listener` until `shutdown` resolves, then drains: in-flight requests end,
/// streams close, engines evaluate what they hold, the store is flushed.
pub async fn serve(
    app: App,
    listener: tokio::net::TcpListener,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> anyhow::Result<()> {
    let router = app.router();
    let stopping = app.clone();
    // freed memory back to the system every few seconds (runtime/memory.rs)
    let trimmer = tokio::spawn(async {
        let mut every = tokio::time::interval(crate::runtime::memory::EVERY);
        loop {
            every.tick().await;
            let _ = tokio::task::spawn_blocking(crate::runtime::memory::give_back).await;
        }
    });
    // the follows of OCI repositories, checked when due (server/follow.rs)
    let poller = tokio::spawn(follow::poll(
        app.state.clone(),
        app.state.shutdown.subscribe(),
    ));
    conn::serve(
        listener,
        router,
        app.state.config.connections,
        app.state.runtime.metrics(),
        shutdown,
        move || stopping.begin_shutdown(),
    )
    .await;
    trimmer.abort();
    // shutdown began: the poller returns after the check it may be running (bounded by the
    // registry client's timeouts), so no activation of a follow races the engines' close
    if let Err(e) = poller.await {
        tracing::error!(error = %e, "the follows' poller failed");
    }
    tokio::task::spawn_blocking(move || app.close())
        .await
        .context("the shutdown task failed")??;
    tracing::info!("engines flushed, store flushed");
    Ok(())
}

impl AppState {
    fn shutting_down(&self) -> bool {
        *self.shutdown.borrow()
    }
}

#[utoipa::path(
    get,
    path = "/healthz",
    tag = "service",
    summary = "Liveness",
    description = "No token. `{\"status\": \"ok\"}` while the process runs.",
    responses((status = 200, description = "`{status: \"ok\"}`", body = Object))
)]
async fn healthz() -> Response {
    json_response(StatusCode::OK, &serde_json::json!({ "status": "ok" }))
}

#[utoipa::path(
    get,
    path = "/readyz",
    tag = "service",
    summary = "Readiness (503 once shutdown began)",
    description = "No token.",
    responses(
        (status = 200, description = "`{status: \"ready\"}`", body = Object),
        (status = 503, description = "shutting down; `Retry-After: 5`", body = openapi::ErrorBody),
    )
)]
async fn readyz(State(state): State<Arc<AppState>>) -> Response {
    if state.shutting_down() {
        return ApiError::unavailable("shutting down").into_response();
    }
    json_response(StatusCode::OK, &serde_json::json!({ "status": "ready" }))
}

#[utoipa::path(
    get,
    path = "/metrics",
    tag = "service",
    summary = "Prometheus metrics (a non-admin token sees its tenant's series)",
    description = "Any token, whatever its scopes.",
    responses(
        (status = 200, description = "Prometheus text format 0.0.4", body = String,
            content_type = "text/plain; version=0.0.4"),
        (status = 401, description = "missing or wrong token", body = openapi::ErrorBody),
    ),
    security(("token" = []))
)]
async fn metrics_text(State(state): State<Arc<AppState>>, caller: Caller) -> Response {
    let tenant = (!caller.is_admin()).then_some(caller.0.tenant.as_str());
    state.runtime.refresh_gauges();
    if let Ok(udp) = state.udp.lock() {
        for watch in udp.iter() {
            if let Some(dropped) = watch.dropped() {
                state.runtime.metrics.set(
                    crate::metrics::SYSLOG_UDP_DROPPED,
                    vec![("tenant", watch.tenant.clone())],
                    dropped as f64,
                );
            }
        }
    }
    (
        [(header::CONTENT_TYPE, "text/plain; version=0.0.4")],
        state.runtime.metrics.render(tenant),
    )
        .into_response()
}

#[utoipa::path(
    get,
    path = "/v1/openapi.json",
    tag = "service",
    summary = "This document",
    description = "No token. OpenAPI 3.1, generated from the handlers.",
    responses((status = 200, description = "the OpenAPI document", body = Object))
)]
async fn openapi_json() -> Response {
    json_response(StatusCode::OK, &openapi::document())
}

async fn not_found() -> ApiError {
    ApiError::not_found("no such route; the routes are listed in docs/api.md")
}

async fn method_not_allowed() -> ApiError {
    ApiError::new(
        StatusCode::METHOD_NOT_ALLOWED,
        "method_not_allowed",
        "this route does not take that method",
    )
}

/// A JSON response.
fn json_response(status: StatusCode, value: &impl serde::Serialize) -> Response {
    match serde_json::to_string(value) {
        Ok(body) => (status, [(header::CONTENT_TYPE, "application/json")], body).into_response(),
        Err(e) => {
            ApiError::internal(&anyhow::anyhow!("cannot write the answer: {e}")).into_response()
        }
    }
}

/// Runs blocking work (sandbox, parsing, sled scans) off the async threads.
async fn blocking<T: Send + 'static>(
    f: impl FnOnce() -> Result<T, ApiError> + Send + 'static,
) -> Result<T, ApiError> {
    tokio::task::spawn_blocking(f)
        .await
        .map_err(|e| ApiError::internal(&anyhow::anyhow!("a worker task failed: {e}")))?
}
