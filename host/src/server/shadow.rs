//! `/v1/packs/{name}/shadow…`: run another version of a pack beside the active one on the
//! tenant's live events, read the difference of their findings and alerts as it grows, then
//! promote the version or discard the shadow (docs/shadow.md, `runtime/shadow.rs`).

use std::sync::Arc;
use std::time::Duration;

use axum::body::Body;
use axum::extract::State;
use axum::http::{StatusCode, Uri};
use axum::response::Response;
use serde::Deserialize;
use serde_json::json;

use super::error::{ApiError, ApiResult};
use super::openapi::{Denied, ErrorBody};
use super::packs::who;
use super::request::{
    Caller, PathParam, TenantQuery, json, optional_json, parse_query, whole_number,
};
use super::{AppState, blocking, json_response};
use crate::runtime::{Carry, ShadowLimits, ShadowStart};
use crate::store::Scope;

/// The longest a shadow may run: 30 days.
const MAX_DURATION_S: u64 = 30 * 24 * 3600;

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
struct ShadowRequest {
    /// an exact version or a requirement (`^1.2`: the highest held version matching); anything
    /// else is 422
    version: String,
    /// the state the shadow's rules start with: a copy of the live rules' (`copy`, the
    /// default) or none (`empty`)
    #[serde(default)]
    start: ShadowStart,
    /// seconds after which the shadow stops itself: 1 to 2,592,000 (30 days); default 86,400
    #[schema(minimum = 1, maximum = 2_592_000)]
    #[serde(default, deserialize_with = "whole_number")]
    duration_s: Option<u64>,
    /// the shadow stops once its rules faulted more than this many times in all: 0 to
    /// 1,000,000,000; default 100
    #[schema(minimum = 0, maximum = 1_000_000_000)]
    #[serde(default, deserialize_with = "whole_number")]
    max_faults: Option<u64>,
    /// the shadow stops once it is this many events behind the live rules: 1 to 10,000,000;
    /// default 100,000
    #[schema(minimum = 1, maximum = 10_000_000)]
    #[serde(default, deserialize_with = "whole_number")]
    max_lag: Option<u64>,
}

impl ShadowRequest {
    fn limits(&self) -> ApiResult<ShadowLimits> {
        let mut limits = ShadowLimits::default();
        if let Some(s) = self.duration_s {
            if !(1..=MAX_DURATION_S).contains(&s) {
                return Err(ApiError::bad_request(format!(
                    "`duration_s` must be 1-{MAX_DURATION_S} (30 days)"
                )));
            }
            limits.duration = Duration::from_secs(s);
        }
        if let Some(n) = self.max_faults {
            if n > 1_000_000_000 {
                return Err(ApiError::bad_request("`max_faults` must be 0-1000000000"));
            }
            limits.max_faults = n;
        }
        if let Some(n) = self.max_lag {
            if !(1..=10_000_000).contains(&n) {
                return Err(ApiError::bad_request("`max_lag` must be 1-10000000"));
            }
            limits.max_lag = usize::try_from(n).unwrap_or(usize::MAX);
        }
        Ok(limits)
    }
}

#[utoipa::path(
    post,
    path = "/v1/packs/{name}/shadow",
    operation_id = "start_shadow",
    tag = "packs",
    summary = "Run {version} beside the active version, on the same events",
    description = "The checks of an activation (signature against today's keys, requirements, \
        cases, the rule set built and `init`ed), then the version runs beside the active one: \
        its findings are kept apart (never stored as alerts, sent to sinks or the live stream) \
        and compared with the live ones. One shadow per pack and tenant.",
    params(("name" = String, Path, description = "the pack's name"), TenantQuery),
    request_body = ShadowRequest,
    responses(
        (status = 201, description = "the shadow's difference, as `GET` answers it",
            body = Object),
        (status = 400, description = "a bad body or query string, or a limit out of range",
            body = ErrorBody),
        Denied,
        (status = 404, description = "no such tenant, or no held version matches",
            body = ErrorBody),
        (status = 409, description = "the version is the active one, or a shadow of the pack \
            already runs", body = ErrorBody),
        (status = 413, description = "the body is over the JSON limit", body = ErrorBody),
        (status = 422, description = "`version` is neither a version nor a requirement, or \
            the bundle or the rule set is refused", body = ErrorBody),
    ),
    security(("token" = ["packs:write"]))
)]
pub async fn start(
    State(state): State<Arc<AppState>>,
    caller: Caller,
    PathParam(name): PathParam,
    uri: Uri,
    body: Body,
) -> ApiResult<Response> {
    caller.require(Scope::PacksWrite)?;
    let tenant = caller.tenant_of(&state, &uri)?;
    let body: ShadowRequest = json(body, &state).await?;
    let limits = body.limits()?;
    let st = state.clone();
    blocking(move || {
        st.runtime
            .start_shadow(&tenant, &name, &body.version, body.start, limits)?;
        let report = st.runtime.shadow_report(&tenant, &name, 100)?;
        Ok(json_response(StatusCode::CREATED, &report))
    })
    .await
}

#[derive(Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
struct ReportQuery {
    /// act on this tenant (admin tokens only, unless it is the token's own)
    #[param(pattern = "^[a-z0-9][a-z0-9_-]{0,63}$")]
    tenant: Option<String>,
    /// alerts listed of each kind (active only, shadow only, both): 0-1000, default 100
    #[param(minimum = 0, maximum = 1000)]
    limit: Option<usize>,
}

#[utoipa::path(
    get,
    path = "/v1/packs/{name}/shadow",
    operation_id = "shadow_report",
    tag = "packs",
    summary = "The shadow's difference: per rule and in all, with the alerts of each side",
    description = "Per rule: events, calls, findings, faults and p50/p99 call latency of each \
        side since the shadow started; findings and alerts in the active version only, in the \
        shadow only and in both (a finding matched by rule, dedup key, time and evidence, an \
        alert by rule and dedup key). It grows as events arrive; `lag_events` is what the \
        shadow has yet to evaluate.",
    params(("name" = String, Path, description = "the pack's name"), ReportQuery),
    responses(
        (status = 200, description = "`{tenant, name, version, active_version, start, status: \
            running | stopped | promoted, reason, started_at, ends_at, ended_at, lag_events, \
            findings: {active_only, shadow_only, both}, alerts: {…}, rules: [{id, active, \
            shadow, findings, alerts}], alert_list: {active_only, shadow_only, both}}`",
            body = Object),
        (status = 400, description = "a bad query string", body = ErrorBody),
        Denied,
        (status = 404, description = "no such tenant, or no shadow of the pack",
            body = ErrorBody),
    ),
    security(("token" = ["packs:write"]), ("token" = ["alerts:read"]))
)]
pub async fn report(
    State(state): State<Arc<AppState>>,
    caller: Caller,
    PathParam(name): PathParam,
    uri: Uri,
) -> ApiResult<Response> {
    caller.require_any(&[Scope::PacksWrite, Scope::AlertsRead])?;
    let q: ReportQuery = parse_query(&uri)?;
    let tenant = caller.tenant(&state, q.tenant.as_deref())?;
    let limit = q.limit.unwrap_or(100);
    if limit > 1000 {
        return Err(ApiError::bad_request("`limit` must be 0-1000"));
    }
    let report = state.runtime.shadow_report(&tenant, &name, limit)?;
    Ok(json_response(StatusCode::OK, &report))
}

#[utoipa::path(
    delete,
    path = "/v1/packs/{name}/shadow",
    operation_id = "discard_shadow",
    tag = "packs",
    summary = "Discard the shadow (the active version runs on, untouched)",
    params(("name" = String, Path, description = "the pack's name"), TenantQuery),
    responses(
        (status = 200, description = "the shadow's last difference, `status: discarded`",
            body = Object),
        (status = 400, description = "a bad query string", body = ErrorBody),
        Denied,
        (status = 404, description = "no such tenant, or no shadow of the pack",
            body = ErrorBody),
    ),
    security(("token" = ["packs:write"]))
)]
pub async fn discard(
    State(state): State<Arc<AppState>>,
    caller: Caller,
    PathParam(name): PathParam,
    uri: Uri,
) -> ApiResult<Response> {
    caller.require(Scope::PacksWrite)?;
    let tenant = caller.tenant_of(&state, &uri)?;
    let st = state.clone();
    blocking(move || {
        let report = st.runtime.discard_shadow(&tenant, &name)?;
        Ok(json_response(StatusCode::OK, &report))
    })
    .await
}

#[derive(Deserialize, Default, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
struct PromoteRequest {
    /// whose state the pack's rules keep: the shadow's (`shadow`, the default; the shadow must
    /// be running) or the live rules' (`active`)
    #[serde(default)]
    state: Carry,
    /// why, for the history (default: "promoted from its shadow")
    #[serde(default)]
    reason: String,
}

#[utoipa::path(
    post,
    path = "/v1/packs/{name}/shadow/promote",
    operation_id = "promote_shadow",
    tag = "packs",
    summary = "Activate the shadow's version: {state: shadow | active, reason} (optional)",
    description = "The checks of any activation, then the swap, between two batches: the \
        shadow first evaluates every event it was handed, and the pack's rules keep the state \
        the shadow built (`state: shadow`) or the live one (`state: active`). The history \
        records an activation.",
    params(("name" = String, Path, description = "the pack's name"), TenantQuery),
    request_body(content = Option<PromoteRequest>,
        description = "optional: an empty body or `null` promotes with the shadow's state"),
    responses(
        (status = 200, description = "`{tenant, name, version, previous, rules: [id], state}`",
            body = Object),
        (status = 400, description = "a bad body or query string", body = ErrorBody),
        Denied,
        (status = 404, description = "no such tenant, or no shadow of the pack",
            body = ErrorBody),
        (status = 409, description = "the shadow stopped and `state` is `shadow`, or its \
            version is already active", body = ErrorBody),
        (status = 413, description = "the body is over the JSON limit", body = ErrorBody),
        (status = 422, description = "the bundle or the rule set is refused; the active \
            version is unchanged", body = ErrorBody),
    ),
    security(("token" = ["packs:write"]))
)]
pub async fn promote(
    State(state): State<Arc<AppState>>,
    caller: Caller,
    PathParam(name): PathParam,
    uri: Uri,
    body: Body,
) -> ApiResult<Response> {
    caller.require(Scope::PacksWrite)?;
    let tenant = caller.tenant_of(&state, &uri)?;
    let body: PromoteRequest = optional_json(body, &state).await?;
    let who = who(&caller);
    let st = state.clone();
    blocking(move || {
        let done = st
            .runtime
            .promote(&tenant, &name, body.state, &who, &body.reason)?;
        let a = done.activation;
        Ok(json_response(
            StatusCode::OK,
            &json!({ "tenant": tenant, "name": name, "version": a.version, "previous": a.previous, "rules": a.rules, "state": done.state }),
        ))
    })
    .await
}
