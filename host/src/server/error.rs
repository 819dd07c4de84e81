//! The API's one error type: every failure is a status and a JSON body
//! `{"error": {"code": "...", "message": "..."}}`. The runtime's typed errors map to it in
//! one place ([`From<RuntimeError>`]); a failure of ours is a 500 that says only "internal
//! error" and an id, which the log line with the whole error carries too.

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::json;

use crate::runtime::RuntimeError;
use crate::store::StoreError;

/// An error answered to a client.
#[derive(Debug)]
pub struct ApiError {
    pub status: StatusCode,
    /// a stable machine-readable code (`unauthorized`, `forbidden`, `not_found`, …)
    pub code: &'static str,
    pub message: String,
    /// seconds, for 429 and 503
    pub retry_after: Option<u32>,
}

pub type ApiResult<T> = Result<T, ApiError>;

impl ApiError {
    pub fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> ApiError {
        ApiError {
            status,
            code,
            message: message.into(),
            retry_after: None,
        }
    }

    pub fn bad_request(message: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::BAD_REQUEST, "bad_request", message)
    }

    pub fn unauthorized(message: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::UNAUTHORIZED, "unauthorized", message)
    }

    pub fn forbidden(message: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::FORBIDDEN, "forbidden", message)
    }

    pub fn not_found(message: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::NOT_FOUND, "not_found", message)
    }

    pub fn conflict(message: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::CONFLICT, "conflict", message)
    }

    /// The request was well formed but its content is refused (a bad bundle, failed cases).
    pub(crate) fn unprocessable(message: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::UNPROCESSABLE_ENTITY, "unprocessable", message)
    }

    pub fn too_large(limit: usize) -> ApiError {
        ApiError::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            "payload_too_large",
            format!("the request body is larger than the limit of {limit} bytes"),
        )
    }

    pub fn busy(message: impl Into<String>, retry_after: u32) -> ApiError {
        ApiError {
            retry_after: Some(retry_after),
            ..ApiError::new(StatusCode::TOO_MANY_REQUESTS, "busy", message)
        }
    }

    pub fn unavailable(message: impl Into<String>) -> ApiError {
        ApiError {
            retry_after: Some(5),
            ..ApiError::new(StatusCode::SERVICE_UNAVAILABLE, "unavailable", message)
        }
    }

    /// A failure of ours: the details go to the log under a fresh id, the client gets only
    /// the id (an error chain may name paths and internals that are not the client's).
    pub(crate) fn internal(error: &anyhow::Error) -> ApiError {
        let id = format!("{:016x}", getrandom::u64().unwrap_or_default());
        tracing::error!(error_id = %id, error = %format!("{error:#}"), "request failed");
        ApiError::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "internal",
            format!("internal error (id {id}; the server's log has the details)"),
        )
    }
}

impl From<anyhow::Error> for ApiError {
    fn from(e: anyhow::Error) -> ApiError {
        ApiError::internal(&e)
    }
}

impl From<StoreError> for ApiError {
    fn from(e: StoreError) -> ApiError {
        RuntimeError::from(e).into()
    }
}

impl From<RuntimeError> for ApiError {
    fn from(e: RuntimeError) -> ApiError {
        match e {
            RuntimeError::NotFound(m) => ApiError::not_found(m),
            RuntimeError::Invalid(m) => ApiError::bad_request(m),
            RuntimeError::Refused(_) | RuntimeError::CasesFailed { .. } => {
                ApiError::unprocessable(e.to_string())
            }
            RuntimeError::Conflict(m) => ApiError::conflict(m),
            RuntimeError::Internal(e) => ApiError::internal(&e),
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let body = json!({ "error": { "code": self.code, "message": self.message } });
        let mut response = (
            self.status,
            [(header::CONTENT_TYPE, "application/json")],
            body.to_string(),
        )
            .into_response();
        if let Some(secs) = self.retry_after {
            response
                .headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from(secs));
        }
        response
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_internal_error_tells_the_client_an_id_and_not_the_chain() {
        let e = anyhow::anyhow!("cannot open /srv/yagura/db/conf: permission denied")
            .context("reading the tenant table");
        let answer = ApiError::internal(&e);
        assert_eq!(answer.status, StatusCode::INTERNAL_SERVER_ERROR);
        assert_eq!(answer.code, "internal");
        assert!(!answer.message.contains("/srv"), "{}", answer.message);
        assert!(
            !answer.message.contains("tenant table"),
            "{}",
            answer.message
        );
        let id = answer
            .message
            .strip_prefix("internal error (id ")
            .and_then(|m| m.split(';').next())
            .unwrap_or_default();
        assert_eq!(id.len(), 16, "{}", answer.message);
        assert!(
            id.bytes().all(|b| b.is_ascii_hexdigit()),
            "{}",
            answer.message
        );
    }

    #[test]
    fn each_runtime_error_has_its_status() {
        let cases = [
            (RuntimeError::NotFound("x".into()), StatusCode::NOT_FOUND),
            (RuntimeError::Invalid("x".into()), StatusCode::BAD_REQUEST),
            (
                RuntimeError::Refused("x".into()),
                StatusCode::UNPROCESSABLE_ENTITY,
            ),
            (
                RuntimeError::CasesFailed {
                    label: "p@1.0.0".into(),
                    results: Vec::new(),
                },
                StatusCode::UNPROCESSABLE_ENTITY,
            ),
            (RuntimeError::Conflict("x".into()), StatusCode::CONFLICT),
            (
                RuntimeError::Internal(anyhow::anyhow!("x")),
                StatusCode::INTERNAL_SERVER_ERROR,
            ),
        ];
        for (e, status) in cases {
            let shown = format!("{e:?}");
            assert_eq!(ApiError::from(e).status, status, "{shown}");
        }
    }
}
