//! `POST /v1/events`: a body of records in any supported format (`?format=`, or detected from
//! the content; gzip undone; a JSON array is read as one record per element) parsed into
//! events, written to the tenant's WAL and queued for its engine; the answer waits until the
//! WAL is flushed, so a 200 survives a crash (docs/hot-swap.md). It counts what was accepted
//! and rejected, with the line and reason of each rejected record (the first 100).
//!
//! `GET /v1/rules`: the tenant's running rules with their counters.
//! `GET|PUT /v1/rules/{id}/config`: the tenant's own parameter values for a rule, over its
//! pack's config; a PUT rebuilds the tenant's rule set with them (the rule's `init` judges
//! them) and swaps it in, or changes nothing and answers 422.
//! `POST /v1/rules/{id}/enable`: re-enables a quarantined rule.

use std::sync::Arc;

use axum::body::Body;
use axum::extract::State;
use axum::http::{HeaderValue, StatusCode, Uri, header};
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use serde_json::json;

use super::error::{ApiError, ApiResult};
use super::openapi::{Denied, ErrorBody};
use super::request::{Caller, PathParam, TenantQuery, json, parse_query, read_body};
use super::{AppState, blocking, json_response};
use crate::intake::Format;
use crate::runtime::QueueError;
use crate::source::http::{self, BodyError};
use crate::store::{RuleConfig, Scope};

#[derive(Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
struct EventsQuery {
    /// act on this tenant (admin tokens only, unless it is the token's own)
    #[param(pattern = "^[a-z0-9][a-z0-9_-]{0,63}$")]
    tenant: Option<String>,
    /// the records' format; `auto` (the default) detects it from the content
    #[param(value_type = Option<super::openapi::FormatName>, inline)]
    format: Option<String>,
}

#[utoipa::path(
    post,
    path = "/v1/events",
    operation_id = "post_events",
    tag = "events",
    summary = "Ingest events (NDJSON or JSON array, any supported format, gzip allowed)",
    description = "The answer waits until the events are in the tenant's write-ahead log, \
        flushed to disk: a 200 survives a crash. A gzip body (by its magic bytes) is undone \
        first; a JSON array is read as one record per element. Records that do not parse are \
        counted, the first 100 with their line and reason.",
    params(EventsQuery),
    request_body(description = "records, one per line, or a JSON array of them", content(
        ("application/x-ndjson"),
        ("application/json"),
        ("text/plain"),
    )),
    responses(
        (status = 200, description = "`{tenant, format, accepted, rejected, errors: [{line, \
            message}]}`", body = Object),
        (status = 400, description = "an unknown format or a bad query string",
            body = ErrorBody),
        Denied,
        (status = 404, description = "the tenant does not exist", body = ErrorBody),
        (status = 413, description = "the body is over the events limit (also after gzip)",
            body = ErrorBody),
        (status = 422, description = "the body cannot be read as events at all: broken gzip, \
            a broken JSON array, no format recognised, or not the format named (a record \
            that does not parse is only counted as rejected)", body = ErrorBody),
        (status = 429, description = "the tenant's engine queue is full, the tenant has \
            --ingest-in-flight requests in flight, or the body holds more events than the \
            queue has room for (reading stops there); `Retry-After: 1`; nothing of the \
            request was taken", body = ErrorBody),
        (status = 503, description = "shutting down, or the write-ahead log failed; \
            `Retry-After: 5`; nothing of the request was taken", body = ErrorBody),
    ),
    security(("token" = ["events:write"]))
)]
pub async fn events(
    State(state): State<Arc<AppState>>,
    caller: Caller,
    uri: Uri,
    body: Body,
) -> ApiResult<Response> {
    caller.require(Scope::EventsWrite)?;
    let q: EventsQuery = parse_query(&uri)?;
    let tenant = caller.tenant(&state, q.tenant.as_deref())?;
    let format = match q.format.as_deref() {
        None => Format::Auto,
        Some(name) => name
            .parse()
            .map_err(|e| ApiError::bad_request(format!("`format`: {e}")))?,
    };
    if state.shutting_down() {
        return Err(ApiError::unavailable("the server is shutting down"));
    }
    // Admission before work: nothing is read for a tenant that could not take it. The body
    // left unread, the connection cannot carry another request: say so (`Connection: close`),
    // so that a client opens a new one rather than finding this one closed.
    let unread = |e: ApiError| {
        let mut response = e.into_response();
        response
            .headers_mut()
            .insert(header::CONNECTION, HeaderValue::from_static("close"));
        response
    };
    let _place = match state.admission.enter(&tenant) {
        Ok(place) => place,
        Err(e) => return Ok(unread(e)),
    };
    let inlet = state.runtime.inlet(&tenant, "http")?;
    if inlet.is_full() {
        state.admission.refuse(&tenant, "queue_full");
        return Ok(unread(ApiError::busy(
            format!(
                "the engine of tenant `{tenant}` is busy ({} events queued); nothing of this \
                 request was read, send it again later",
                inlet.queued()
            ),
            1,
        )));
    }
    let limit = state.config.max_events_bytes;
    let bytes = read_body(body, limit, &state).await?;
    let turn = state.admission.decode_turn().await?;
    let decoded = {
        let inlet = inlet.clone();
        blocking(move || Ok(http::decode(bytes, format, limit, |n| inlet.fits(n)))).await?
    };
    drop(turn);
    let parsed = match decoded {
        Ok(parsed) => parsed,
        Err(BodyError::TooLarge) => return Err(ApiError::too_large(limit)),
        Err(BodyError::OverBudget(n)) => {
            state.admission.refuse(&tenant, "queue_room");
            return Err(ApiError::busy(
                format!(
                    "the engine of tenant `{tenant}` is busy ({} events queued) and this \
                     request holds at least {n} events, more than there is room for; reading it \
                     stopped there and nothing of it was accepted, send it again later (or \
                     in smaller parts)",
                    inlet.queued()
                ),
                1,
            ));
        }
        // well formed as HTTP, but not events in any format read: 422
        Err(e) => return Err(ApiError::unprocessable(e.to_string())),
    };
    let accepted = parsed.events.len();
    // Write ahead, then acknowledge: the events are in the tenant's WAL, flushed to disk,
    // before the answer (docs/hot-swap.md, "What a crash costs").
    let queued = {
        let inlet = inlet.clone();
        let events = parsed.events;
        blocking(move || {
            let result = inlet.push(events).map_err(|(error, _)| error);
            if result.is_ok() {
                inlet.sync().map_err(|e| {
                    ApiError::internal(&e.context(
                        "the events are queued but could not be made durable; they may be \
                         evaluated without having been acknowledged",
                    ))
                })?;
            }
            Ok(result)
        })
        .await?
    };
    match queued {
        Ok(()) => {}
        Err(QueueError::Full) => {
            inlet.throttled(accepted as u64);
            return Err(ApiError::busy(
                format!(
                    "the engine of tenant `{tenant}` is busy ({} events queued); nothing of this \
                     request was accepted, send it again later",
                    inlet.queued()
                ),
                1,
            ));
        }
        Err(QueueError::Closed) if state.shutting_down() => {
            return Err(ApiError::unavailable("the server is shutting down"));
        }
        Err(QueueError::Closed) => {
            return Err(ApiError::unavailable(
                "the events could not be written to the tenant's write-ahead log (see the \
                 server log); nothing of this request was accepted",
            ));
        }
    }
    inlet.rejected(parsed.rejected);
    Ok(json_response(
        StatusCode::OK,
        &json!({
            "tenant": tenant,
            "format": parsed.format.as_str(),
            "accepted": accepted,
            "rejected": parsed.rejected,
            "errors": parsed.errors,
        }),
    ))
}

#[utoipa::path(
    get,
    path = "/v1/rules",
    operation_id = "list_rules",
    tag = "rules",
    summary = "Running rules and their counters; rules the tenant switched off with enabled: false",
    params(TenantQuery),
    responses(
        (status = 200, description = "`{tenant, queued_events, rules: [{id, name, version, \
            events_in, calls, findings, faults, busy_ms, last_fault, quarantined, quarantines, \
            skipped_events, swaps, enabled, disabled_reason?}]}`", body = Object),
        (status = 400, description = "a bad query string", body = ErrorBody),
        Denied,
        (status = 404, description = "the tenant does not exist", body = ErrorBody),
    ),
    security(("token" = ["packs:write"]), ("token" = ["alerts:read"]))
)]
pub async fn rules(
    State(state): State<Arc<AppState>>,
    caller: Caller,
    uri: Uri,
) -> ApiResult<Response> {
    caller.require_any(&[Scope::PacksWrite, Scope::AlertsRead])?;
    let tenant = caller.tenant_of(&state, &uri)?;
    let (rules, queued) = match state.runtime.existing_engine(&tenant) {
        Some(engine) => (engine.rules(), engine.queued()),
        None => (Vec::new(), 0),
    };
    Ok(json_response(
        StatusCode::OK,
        &json!({ "tenant": tenant, "queued_events": queued, "rules": rules }),
    ))
}

#[utoipa::path(
    get,
    path = "/v1/syslog",
    operation_id = "list_syslog_listeners",
    tag = "events",
    summary = "The tenant's syslog listeners, how many messages each rejected, and the last ones",
    params(TenantQuery),
    responses(
        (status = 200, description = "`{tenant, listeners: [{udp?, tcp?, missing_time, \
            rejected, samples: [{time, transport, peer, error, message}]}]}`: `rejected` counts \
            since the listener started; `samples` are the last 16 rejected, oldest first, each \
            message cut to 512 bytes", body = Object),
        (status = 400, description = "a bad query string", body = ErrorBody),
        Denied,
        (status = 404, description = "the tenant does not exist", body = ErrorBody),
    ),
    security(("token" = ["events:write"]), ("token" = ["alerts:read"]))
)]
pub async fn syslog(
    State(state): State<Arc<AppState>>,
    caller: Caller,
    uri: Uri,
) -> ApiResult<Response> {
    caller.require_any(&[Scope::EventsWrite, Scope::AlertsRead])?;
    let tenant = caller.tenant_of(&state, &uri)?;
    let listeners: Vec<serde_json::Value> = state
        .syslog
        .lock()
        .map(|all| {
            all.iter()
                .filter(|l| l.listener.tenant == tenant)
                .map(|l| {
                    let (rejected, samples) = l.rejections.snapshot();
                    let mut out = json!({
                        "missing_time": l.listener.missing_time.as_str(),
                        "rejected": rejected,
                        "samples": samples,
                    });
                    if let Some(udp) = l.listener.udp {
                        out["udp"] = json!(udp.to_string());
                    }
                    if let Some(tcp) = l.listener.tcp {
                        out["tcp"] = json!(tcp.to_string());
                    }
                    out
                })
                .collect()
        })
        .unwrap_or_default();
    Ok(json_response(
        StatusCode::OK,
        &json!({ "tenant": tenant, "listeners": listeners }),
    ))
}

#[utoipa::path(
    get,
    path = "/v1/rules/{id}/config",
    operation_id = "get_rule_config",
    tag = "rules",
    summary = "The tenant's parameter values for a rule",
    params(("id" = String, Path, description = "the rule's id"), TenantQuery),
    responses(
        (status = 200, description = "`{tenant, rule, config: {name: value}}`", body = Object),
        (status = 400, description = "a bad query string", body = ErrorBody),
        Denied,
        (status = 404, description = "no such tenant, or the rule does not run for it",
            body = ErrorBody),
    ),
    security(("token" = ["packs:write"]), ("token" = ["alerts:read"]))
)]
pub(crate) async fn get_config(
    State(state): State<Arc<AppState>>,
    caller: Caller,
    PathParam(rule): PathParam,
    uri: Uri,
) -> ApiResult<Response> {
    caller.require_any(&[Scope::PacksWrite, Scope::AlertsRead])?;
    let tenant = caller.tenant_of(&state, &uri)?;
    state.runtime.require_running(&tenant, &rule)?;
    let config = state.runtime.store.rule_config(&tenant, &rule)?;
    Ok(json_response(
        StatusCode::OK,
        &json!({ "tenant": tenant, "rule": rule, "config": config }),
    ))
}

#[utoipa::path(
    post,
    path = "/v1/rules/{id}/enable",
    operation_id = "enable_rule",
    tag = "rules",
    summary = "Re-enable a quarantined rule (no body); answers whether it was quarantined",
    params(("id" = String, Path, description = "the rule's id"), TenantQuery),
    responses(
        (status = 200, description = "`{tenant, rule, was_quarantined}`", body = Object),
        (status = 400, description = "a bad query string", body = ErrorBody),
        Denied,
        (status = 404, description = "no such tenant, or the rule does not run for it",
            body = ErrorBody),
    ),
    security(("token" = ["packs:write"]))
)]
pub async fn enable(
    State(state): State<Arc<AppState>>,
    caller: Caller,
    PathParam(rule): PathParam,
    uri: Uri,
) -> ApiResult<Response> {
    caller.require(Scope::PacksWrite)?;
    let tenant = caller.tenant_of(&state, &uri)?;
    let st = state.clone();
    blocking(move || {
        let was_quarantined = st.runtime.reenable(&tenant, &rule)?;
        Ok(json_response(
            StatusCode::OK,
            &json!({ "tenant": tenant, "rule": rule, "was_quarantined": was_quarantined }),
        ))
    })
    .await
}

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
struct NewConfig {
    /// parameter name → value; `{}` returns the rule to its pack's config
    #[schema(value_type = Object)]
    config: RuleConfig,
}

#[utoipa::path(
    put,
    path = "/v1/rules/{id}/config",
    operation_id = "put_rule_config",
    tag = "rules",
    summary = "Set the tenant's parameter values for a rule: {config}; checked by the rule's init, then swapped in",
    params(("id" = String, Path, description = "the rule's id"), TenantQuery),
    request_body = NewConfig,
    responses(
        (status = 200, description = "`{tenant, rule, config}`", body = Object),
        (status = 400, description = "a bad body or query string", body = ErrorBody),
        Denied,
        (status = 404, description = "no such tenant, or the rule does not run for it",
            body = ErrorBody),
        (status = 413, description = "the body is over the JSON limit", body = ErrorBody),
        (status = 422, description = "the rule refused the values; the config is unchanged",
            body = ErrorBody),
    ),
    security(("token" = ["packs:write"]))
)]
pub(crate) async fn put_config(
    State(state): State<Arc<AppState>>,
    caller: Caller,
    PathParam(rule): PathParam,
    uri: Uri,
    body: Body,
) -> ApiResult<Response> {
    caller.require(Scope::PacksWrite)?;
    let tenant = caller.tenant_of(&state, &uri)?;
    let body: NewConfig = json(body, &state).await?;
    let st = state.clone();
    blocking(move || {
        st.runtime.set_config(&tenant, &rule, &body.config)?;
        Ok(json_response(
            StatusCode::OK,
            &json!({ "tenant": tenant, "rule": rule, "config": body.config }),
        ))
    })
    .await
}
