//! What every handler reads from a request: the caller (bearer token → [`Caller`], scope
//! checks, the tenant acted on), bodies with a size limit, JSON with errors that name the
//! field, and query strings.

use axum::body::{Body, Bytes};
use axum::extract::{FromRequestParts, Path, Query};
use axum::http::header;
use axum::http::request::Parts;
use serde::de::DeserializeOwned;

use super::AppState;
use super::error::{ApiError, ApiResult};
use crate::store::{Scope, TokenRecord};
use std::sync::Arc;

/// `?tenant=NAME`: the tenant a route acts on (default: the token's own).
#[derive(Debug, Default, serde::Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct TenantQuery {
    /// act on this tenant (admin tokens only, unless it is the token's own)
    #[param(pattern = "^[a-z0-9][a-z0-9_-]{0,63}$")]
    pub tenant: Option<String>,
}

/// The authenticated caller of a request.
#[derive(Debug, Clone)]
pub struct Caller(pub TokenRecord);

impl Caller {
    /// Refuses with 403 unless the token has `scope` (or `admin`).
    pub(crate) fn require(&self, scope: Scope) -> ApiResult<()> {
        if self.0.has(scope) {
            Ok(())
        } else {
            Err(ApiError::forbidden(format!(
                "this token lacks the scope `{}` (it has: {})",
                scope.as_str(),
                self.scopes()
            )))
        }
    }

    /// Refuses with 403 unless the token has one of `scopes` (or `admin`).
    pub(crate) fn require_any(&self, scopes: &[Scope]) -> ApiResult<()> {
        if scopes.iter().any(|s| self.0.has(*s)) {
            return Ok(());
        }
        let wanted: Vec<&str> = scopes.iter().map(|s| s.as_str()).collect();
        Err(ApiError::forbidden(format!(
            "this token needs one of the scopes {} (it has: {})",
            wanted.join(", "),
            self.scopes()
        )))
    }

    fn scopes(&self) -> String {
        let s: Vec<&str> = self.0.scopes.iter().map(|s| s.as_str()).collect();
        s.join(", ")
    }

    pub fn is_admin(&self) -> bool {
        self.0.scopes.contains(&Scope::Admin)
    }

    /// The tenant a request acts on: the token's own, or `requested` (`?tenant=`), which only
    /// an admin token may name when it is another tenant. The tenant must exist.
    /// The tenant a route with only `?tenant=` in its query acts on: [`Caller::tenant`] of it.
    pub(crate) fn tenant_of(&self, state: &AppState, uri: &axum::http::Uri) -> ApiResult<String> {
        let q: TenantQuery = parse_query(uri)?;
        self.tenant(state, q.tenant.as_deref())
    }

    pub fn tenant(&self, state: &AppState, requested: Option<&str>) -> ApiResult<String> {
        let tenant = match requested {
            None => self.0.tenant.clone(),
            Some(t) if t == self.0.tenant => t.to_owned(),
            Some(t) if self.is_admin() => t.to_owned(),
            Some(t) => {
                return Err(ApiError::forbidden(format!(
                    "this token belongs to tenant `{}` and cannot act on tenant `{t}`",
                    self.0.tenant
                )));
            }
        };
        if !state.runtime.store.tenant_exists(&tenant)? {
            return Err(ApiError::not_found(format!(
                "tenant `{tenant}` does not exist"
            )));
        }
        Ok(tenant)
    }
}

impl FromRequestParts<Arc<AppState>> for Caller {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &Arc<AppState>) -> ApiResult<Caller> {
        let Some(value) = parts.headers.get(header::AUTHORIZATION) else {
            return Err(ApiError::unauthorized(
                "missing token: send `Authorization: Bearer <token>`",
            ));
        };
        let token = value
            .to_str()
            .ok()
            .and_then(|v| v.strip_prefix("Bearer "))
            .map(str::trim)
            .ok_or_else(|| {
                ApiError::unauthorized("the Authorization header must be `Bearer <token>`")
            })?;
        match state.runtime.store.authenticate(token)? {
            Some(record) => Ok(Caller(record)),
            None => Err(ApiError::unauthorized(
                "unknown or revoked token".to_owned(),
            )),
        }
    }
}

/// One path parameter, with a JSON error (400) when it cannot be decoded.
#[derive(Debug)]
pub struct PathParam(pub String);

impl<S: Send + Sync> FromRequestParts<S> for PathParam {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> ApiResult<PathParam> {
        Path::<String>::from_request_parts(parts, state)
            .await
            .map(|p| PathParam(p.0))
            .map_err(|e| ApiError::bad_request(format!("bad path: {}", e.body_text())))
    }
}

/// Reads a whole body, refusing more than `limit` bytes with 413, and a body that does not
/// arrive within the server's body deadline with 408.
pub(crate) async fn read_body(body: Body, limit: usize, state: &AppState) -> ApiResult<Bytes> {
    let deadline = state.config.connections.body_timeout;
    let read = tokio::time::timeout(deadline, axum::body::to_bytes(body, limit))
        .await
        .map_err(|_| {
            ApiError::new(
                axum::http::StatusCode::REQUEST_TIMEOUT,
                "request_timeout",
                format!("the request body did not arrive within {deadline:?}"),
            )
        })?;
    read.map_err(|e| {
        // to_bytes fails on the limit (http-body-util's LengthLimitError) or on a broken
        // connection
        let inner = e.into_inner();
        let mut source: Option<&(dyn std::error::Error + 'static)> = Some(inner.as_ref());
        let mut text = Vec::new();
        while let Some(err) = source {
            if err.is::<http_body_util::LengthLimitError>() {
                return ApiError::too_large(limit);
            }
            text.push(err.to_string());
            source = err.source();
        }
        ApiError::bad_request(format!("cannot read the request body: {}", text.join(": ")))
    })
}

/// A JSON body of at most the server's JSON limit (413 beyond), parsed into `T` (400 naming
/// the line, column and field); `None` for an empty body.
///
/// Not an extractor on purpose: axum runs a body extractor before the handler, so a bad
/// body would answer 400 where the caller lacks the scope or names another tenant (403),
/// which the handler checks first.
pub(crate) async fn json_body<T: DeserializeOwned>(
    body: Body,
    state: &AppState,
) -> ApiResult<Option<T>> {
    let bytes = read_body(body, state.config.max_json_bytes, state).await?;
    if bytes.is_empty() {
        return Ok(None);
    }
    parse_json(&bytes).map(Some)
}

/// [`json_body`] of a route whose body is optional: an empty body or `null` is `T`'s default.
pub(crate) async fn optional_json<T: DeserializeOwned + Default>(
    body: Body,
    state: &AppState,
) -> ApiResult<T> {
    Ok(json_body::<Option<T>>(body, state)
        .await?
        .flatten()
        .unwrap_or_default())
}

/// [`json_body`], required.
pub async fn json<T: DeserializeOwned>(body: Body, state: &AppState) -> ApiResult<T> {
    json_body(body, state).await?.ok_or_else(|| {
        ApiError::bad_request("the request body is empty; this route takes a JSON object")
    })
}

/// Parses a JSON body into `T`; a bad body is a 400 naming the line, column and field.
pub(crate) fn parse_json<T: DeserializeOwned>(bytes: &[u8]) -> ApiResult<T> {
    if bytes.is_empty() {
        return Err(ApiError::bad_request(
            "the request body is empty; this route takes a JSON object",
        ));
    }
    // serde reads an array into a struct field by field; every body here is an object
    if bytes.iter().find(|b| !b.is_ascii_whitespace()) == Some(&b'[') {
        return Err(ApiError::bad_request(
            "the JSON body is an array; this route takes a JSON object",
        ));
    }
    let mut de = serde_json::Deserializer::from_slice(bytes);
    let value = serde_path_to_error::deserialize(&mut de).map_err(|e| {
        let path = e.path().to_string();
        let inner = e.into_inner();
        if path == "." || path.is_empty() {
            ApiError::bad_request(format!("the JSON body is invalid: {inner}"))
        } else {
            ApiError::bad_request(format!("the JSON body is invalid at `{path}`: {inner}"))
        }
    })?;
    de.end()
        .map_err(|e| ApiError::bad_request(format!("the JSON body is invalid: {e}")))?;
    Ok(value)
}

/// Parses the query string into `T` (400 naming the problem).
pub(crate) fn parse_query<T: DeserializeOwned>(parts: &axum::http::Uri) -> ApiResult<T> {
    Query::<T>::try_from_uri(parts)
        .map(|q| q.0)
        .map_err(|e| ApiError::bad_request(format!("bad query string: {}", e.body_text())))
}

/// A JSON body's optional whole number: `86400` or `86400.0` (JSON Schema's integers include
/// the latter), never a fraction, a negative number or one past `u64`.
pub(crate) fn whole_number<'de, D>(deserializer: D) -> Result<Option<u64>, D::Error>
where
    D: serde::Deserializer<'de>,
{
    use serde::Deserialize;
    let Some(number) = Option::<serde_json::Number>::deserialize(deserializer)? else {
        return Ok(None);
    };
    if let Some(n) = number.as_u64() {
        return Ok(Some(n));
    }
    match number.as_f64() {
        Some(f) if f.fract() == 0.0 && (0.0..=u64::MAX as f64).contains(&f) => Ok(Some(f as u64)),
        _ => Err(serde::de::Error::custom(format!(
            "`{number}` is not a whole number of 0 or more"
        ))),
    }
}
