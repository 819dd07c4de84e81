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
use super::request::{Caller, PathParam, parse_query};
use super::{AppState, json_response};
use crate::finding::Severity;
use crate::store::{AlertChange, AlertFilter, Scope};

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct AlertsQuery {
    tenant: Option<String>,
    since: Option<String>,
    until: Option<String>,
    rule: Option<String>,
    severity: Option<String>,
    host: Option<String>,
    user: Option<String>,
    text: Option<String>,
    limit: Option<usize>,
    cursor: Option<String>,
}

/// A time parameter: ms since the Unix epoch, or RFC 3339.
fn time_param(name: &str, value: &str) -> ApiResult<i64> {
    if let Ok(ms) = value.parse::<i64>() {
        return Ok(ms);
    }
    value
        .parse::<jiff::Timestamp>()
        .map(|t| t.as_millisecond())
        .map_err(|e| {
            ApiError::bad_request(format!(
                "`{name}`: `{value}` is neither ms since the Unix epoch nor an RFC 3339 time: {e}"
            ))
        })
}

fn severity_param(value: &str) -> ApiResult<Severity> {
    serde_json::from_value(serde_json::Value::String(value.to_lowercase())).map_err(|_| {
        ApiError::bad_request(format!(
            "`severity`: `{value}` is not one of informational, low, medium, high, critical"
        ))
    })
}

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
    let filter = AlertFilter {
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
                c.parse::<u64>().map_err(|_| {
                    ApiError::bad_request(format!(
                        "`cursor`: `{c}` is not a cursor from a previous page's `next_cursor`"
                    ))
                })
            })
            .transpose()?,
    };
    let st = state.clone();
    let t = tenant.clone();
    let (alerts, next) = super::blocking(move || Ok(st.store.alerts(&t, &filter)?)).await?;
    Ok(json_response(
        StatusCode::OK,
        &json!({
            "tenant": tenant,
            "alerts": alerts,
            "next_cursor": next.map(|n| n.to_string()),
        }),
    ))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct TenantQuery {
    tenant: Option<String>,
}

pub async fn one(
    State(state): State<Arc<AppState>>,
    caller: Caller,
    PathParam(id): PathParam,
    uri: Uri,
) -> ApiResult<Response> {
    caller.require(Scope::AlertsRead)?;
    let q: TenantQuery = parse_query(&uri)?;
    let tenant = caller.tenant(&state, q.tenant.as_deref())?;
    let missing = || ApiError::not_found(format!("tenant `{tenant}` has no alert `{id}`"));
    let number = id.parse::<u64>().map_err(|_| missing())?;
    let alert = state.store.alert(&tenant, number)?.ok_or_else(missing)?;
    Ok(json_response(StatusCode::OK, &alert))
}

/// New and updated alerts of the tenant as they are stored: `event: alert.new` or
/// `alert.updated`, `id:` the alert id, `data:` the alert. A client too slow to keep up gets
/// `event: lagged` with how many it missed (query `/v1/alerts` for them). The stream ends at
/// shutdown.
pub async fn stream(
    State(state): State<Arc<AppState>>,
    caller: Caller,
    uri: Uri,
) -> ApiResult<Response> {
    caller.require(Scope::AlertsRead)?;
    let q: TenantQuery = parse_query(&uri)?;
    let tenant = caller.tenant(&state, q.tenant.as_deref())?;
    let receiver = state.alerts.subscribe();
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
