//! `/v1/alerts`: the tenant's alerts, newest first, with filters and cursor pagination;
//! `/v1/alerts/{id}`; `/v1/alerts/stream`: new and updated alerts as Server-Sent Events.

use std::convert::Infallible;
use std::sync::Arc;
use std::time::Duration;

use axum::extract::State;
use axum::http::{StatusCode, Uri};
use axum::response::sse::{Event as SseEvent, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use serde_json::json;
use tokio::sync::broadcast::error::RecvError;

use super::error::{ApiError, ApiResult};
use super::openapi::{Denied, ErrorBody};
use super::request::{Caller, PathParam, TenantQuery, parse_query};
use super::{AppState, json_response};
use crate::finding::Severity;
use crate::store::{AlertChange, AlertFilter, Scope};

#[derive(Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
struct AlertsQuery {
    /// act on this tenant (admin tokens only, unless it is the token's own)
    #[param(pattern = "^[a-z0-9][a-z0-9_-]{0,63}$")]
    tenant: Option<String>,
    /// alerts seen at or after this event time: ms since the Unix epoch (at most 18 digits), or
    /// an RFC 3339 date-time
    #[param(schema_with = time_schema)]
    since: Option<String>,
    /// alerts seen at or before this event time: ms since the Unix epoch (at most 18 digits),
    /// or an RFC 3339 date-time
    #[param(schema_with = time_schema)]
    until: Option<String>,
    /// a rule id
    rule: Option<String>,
    /// this or higher
    #[param(schema_with = severity_schema)]
    severity: Option<String>,
    /// a host the alert names
    host: Option<String>,
    /// a user the alert names
    user: Option<String>,
    /// a substring of the alert
    text: Option<String>,
    /// 1-1000, default 100
    #[param(minimum = 1, maximum = 1000)]
    limit: Option<usize>,
    /// `next_cursor` of the previous page
    #[param(pattern = "^[0-9]{1,19}$")]
    cursor: Option<String>,
}

/// The schema of `since` and `until`: ms since the Unix epoch, or an RFC 3339 date-time.
fn time_schema() -> utoipa::openapi::schema::Schema {
    use utoipa::openapi::schema::{
        AnyOfBuilder, KnownFormat, ObjectBuilder, SchemaFormat, SchemaType, Type,
    };
    let text = || ObjectBuilder::new().schema_type(SchemaType::Type(Type::String));
    AnyOfBuilder::new()
        .item(text().pattern(Some(MS_PATTERN)))
        .item(text().format(Some(SchemaFormat::KnownFormat(KnownFormat::DateTime))))
        .build()
        .into()
}

/// The schema of `severity`: one of the five, lower case.
fn severity_schema() -> utoipa::openapi::schema::Schema {
    use utoipa::openapi::schema::{ObjectBuilder, SchemaType, Type};
    ObjectBuilder::new()
        .schema_type(SchemaType::Type(Type::String))
        .enum_values(Some(["informational", "low", "medium", "high", "critical"]))
        .into()
}

/// ms since the Unix epoch as a query parameter: at most 18 digits, so every value fits i64.
const MS_PATTERN: &str = "^-?[0-9]{1,18}$";

/// A time parameter: ms since the Unix epoch (at most 18 digits), or an RFC 3339 date-time
/// (`2026-12-07T10:00:00Z`, `…T10:00:00.5+01:00`; `t`, `z` and a space for `T` too; digits of a
/// second past the 9th are dropped): exactly what the OpenAPI document says (`time_schema`).
fn time_param(name: &str, value: &str) -> ApiResult<i64> {
    let bad = |why: String| {
        ApiError::bad_request(format!(
            "`{name}`: `{value}` is neither ms since the Unix epoch (at most 18 digits) nor an \
             RFC 3339 date-time: {why}"
        ))
    };
    let digits = value.strip_prefix('-').unwrap_or(value);
    if !digits.is_empty() && digits.bytes().all(|b| b.is_ascii_digit()) {
        if digits.len() > 18 {
            return Err(bad("more than 18 digits".into()));
        }
        return value.parse::<i64>().map_err(|e| bad(e.to_string()));
    }
    rfc3339(value)
        .ok_or_else(|| bad("not of the form 2026-12-07T10:00:00Z".into()))?
        .parse::<jiff::Timestamp>()
        .map(|t| t.as_millisecond())
        .map_err(|e| bad(e.to_string()))
}

/// `value` if it has the shape of an RFC 3339 date-time (`YYYY-MM-DDTHH:MM:SS[.frac](Z|±HH:MM)`),
/// upper-cased and with at most 9 digits of a second, for jiff (which also reads forms RFC 3339
/// does not have, refused here, and checks the calendar).
fn rfc3339(value: &str) -> Option<String> {
    let b = value.as_bytes();
    let digits = |range: std::ops::Range<usize>| {
        b.get(range)
            .is_some_and(|d| d.iter().all(u8::is_ascii_digit))
    };
    let shape = b.len() >= 20
        && digits(0..4)
        && b[4] == b'-'
        && digits(5..7)
        && b[7] == b'-'
        && digits(8..10)
        && matches!(b[10], b'T' | b't' | b' ')
        && digits(11..13)
        && b[13] == b':'
        && digits(14..16)
        && b[16] == b':'
        && digits(17..19);
    if !shape {
        return None;
    }
    let mut rest = &value[19..];
    let mut fraction = "";
    if let Some(after) = rest.strip_prefix('.') {
        let n = after.bytes().take_while(u8::is_ascii_digit).count();
        if n == 0 {
            return None;
        }
        fraction = &after[..n.min(9)];
        rest = &after[n..];
    }
    let offset = match rest.as_bytes() {
        [b'Z' | b'z'] => "Z",
        [b'+' | b'-', h1, h2, b':', m1, m2]
            if [h1, h2, m1, m2].iter().all(|d| d.is_ascii_digit()) =>
        {
            rest
        }
        _ => return None,
    };
    let dot = if fraction.is_empty() { "" } else { "." };
    Some(format!(
        "{}T{}{dot}{fraction}{offset}",
        &value[..10],
        &value[11..19]
    ))
}

fn severity_param(value: &str) -> ApiResult<Severity> {
    serde_json::from_value(serde_json::Value::String(value.to_owned())).map_err(|_| {
        ApiError::bad_request(format!(
            "`severity`: `{value}` is not one of informational, low, medium, high, critical"
        ))
    })
}

#[utoipa::path(
    get,
    path = "/v1/alerts",
    operation_id = "list_alerts",
    tag = "alerts",
    summary = "Query alerts, newest first",
    params(AlertsQuery),
    responses(
        (status = 200, description = "`{tenant, alerts: [alert], next_cursor}`; an alert is \
            `{id, tenant, rule_id, rule_name, dedup_key, title, severity, count, first_seen, \
            last_seen, created_at, updated_at, hosts, users, finding}` and `merged` (the ids of \
            alerts merged into it) when there are any", body = Object),
        (status = 400, description = "a bad filter, limit, cursor or query string",
            body = ErrorBody),
        Denied,
        (status = 404, description = "the tenant does not exist", body = ErrorBody),
    ),
    security(("token" = ["alerts:read"]))
)]
pub async fn list(
    State(state): State<Arc<AppState>>,
    caller: Caller,
    uri: Uri,
) -> ApiResult<Response> {
    caller.require(Scope::AlertsRead)?;
    let q: AlertsQuery = parse_query(&uri)?;
    let tenant = caller.tenant(&state, q.tenant.as_deref())?;
    let limit = q.limit.unwrap_or(100);
    if !(1..=1000).contains(&limit) {
        return Err(ApiError::bad_request("`limit` must be 1-1000"));
    }
    let filter =
        AlertFilter {
            since: q
                .since
                .as_deref()
                .map(|v| time_param("since", v))
                .transpose()?,
            until: q
                .until
                .as_deref()
                .map(|v| time_param("until", v))
                .transpose()?,
            rule: q.rule,
            severity: q.severity.as_deref().map(severity_param).transpose()?,
            host: q.host,
            user: q.user,
            text: q.text,
            limit,
            cursor: q
                .cursor
                .as_deref()
                .map(|c| {
                    let digits =
                        !c.is_empty() && c.len() <= 19 && c.bytes().all(|b| b.is_ascii_digit());
                    digits.then(|| c.parse::<u64>().ok()).flatten().ok_or_else(|| {
                    ApiError::bad_request(format!(
                        "`cursor`: `{c}` is not a cursor from a previous page's `next_cursor`"
                    ))
                })
                })
                .transpose()?,
        };
    let st = state.clone();
    let t = tenant.clone();
    let (alerts, next) = super::blocking(move || Ok(st.runtime.store.alerts(&t, &filter)?)).await?;
    Ok(json_response(
        StatusCode::OK,
        &json!({
            "tenant": tenant,
            "alerts": alerts,
            "next_cursor": next.map(|n| n.to_string()),
        }),
    ))
}

#[utoipa::path(
    get,
    path = "/v1/alerts/{id}",
    operation_id = "get_alert",
    tag = "alerts",
    summary = "One alert",
    params(("id" = String, Path, description = "the alert's id"), TenantQuery),
    responses(
        (status = 200, description = "the alert, as in the list", body = Object),
        (status = 400, description = "a bad query string", body = ErrorBody),
        Denied,
        (status = 404, description = "no such tenant, or it has no such alert (or it was merged \
            into an older one)", body = ErrorBody),
    ),
    security(("token" = ["alerts:read"]))
)]
pub async fn one(
    State(state): State<Arc<AppState>>,
    caller: Caller,
    PathParam(id): PathParam,
    uri: Uri,
) -> ApiResult<Response> {
    caller.require(Scope::AlertsRead)?;
    let tenant = caller.tenant_of(&state, &uri)?;
    let missing = || ApiError::not_found(format!("tenant `{tenant}` has no alert `{id}`"));
    let number = id.parse::<u64>().map_err(|_| missing())?;
    let alert = state
        .runtime
        .store
        .alert(&tenant, number)?
        .ok_or_else(missing)?;
    Ok(json_response(StatusCode::OK, &alert))
}

/// New, updated and merged alerts of the tenant as they are stored: `event: alert.new`,
/// `alert.updated` or `alert.merged`, `id:` the alert id, `data:` the alert. A client too slow
/// to keep up gets `event: lagged` with how many it missed (query `/v1/alerts` for them). The
/// stream ends at shutdown.
#[utoipa::path(
    get,
    path = "/v1/alerts/stream",
    operation_id = "stream_alerts",
    tag = "alerts",
    summary = "New and updated alerts as Server-Sent Events",
    description = "`event: alert.new`, `alert.updated` or `alert.merged` (the alerts in its \
        `merged` list are gone), `id:` the alert id, `data:` the alert. \
        A client too slow to keep up gets `event: lagged` with `{missed}` (query /v1/alerts for \
        them). A keep-alive comment every 15 s; the stream ends at shutdown.",
    params(TenantQuery),
    responses(
        (status = 200, description = "an SSE stream", body = String,
            content_type = "text/event-stream"),
        (status = 400, description = "a bad query string", body = ErrorBody),
        Denied,
        (status = 404, description = "the tenant does not exist", body = ErrorBody),
    ),
    security(("token" = ["alerts:read"]))
)]
pub async fn stream(
    State(state): State<Arc<AppState>>,
    caller: Caller,
    uri: Uri,
) -> ApiResult<Response> {
    caller.require(Scope::AlertsRead)?;
    let tenant = caller.tenant_of(&state, &uri)?;
    let receiver = state.runtime.alerts.subscribe();
    let shutdown = state.shutdown.subscribe();
    let events = futures_util::stream::unfold(
        (receiver, shutdown, tenant),
        |(mut receiver, mut shutdown, tenant)| async move {
            loop {
                if *shutdown.borrow() {
                    return None;
                }
                let next = tokio::select! {
                    next = receiver.recv() => next,
                    _ = shutdown.changed() => return None,
                };
                let event = match next {
                    Ok(notice) if notice.alert.tenant == tenant => {
                        let name = match notice.change {
                            AlertChange::New => "alert.new",
                            AlertChange::Updated => "alert.updated",
                            AlertChange::Merged => "alert.merged",
                        };
                        match serde_json::to_string(&notice.alert) {
                            Ok(data) => SseEvent::default()
                                .event(name)
                                .id(notice.alert.id.to_string())
                                .data(data),
                            Err(_) => continue,
                        }
                    }
                    Ok(_) => continue,
                    Err(RecvError::Lagged(missed)) => SseEvent::default()
                        .event("lagged")
                        .data(json!({ "missed": missed }).to_string()),
                    Err(RecvError::Closed) => return None,
                };
                return Some((Ok::<_, Infallible>(event), (receiver, shutdown, tenant)));
            }
        },
    );
    Ok(Sse::new(events)
        .keep_alive(KeepAlive::new().interval(Duration::from_secs(15)))
        .into_response())
}
