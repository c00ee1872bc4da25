//! The one error type of the service and its JSON form.
//!
//! Every error response of the service has the same body, `{"error": CODE, "message":
//! TEXT}`: those of the handlers, those of axum and tower (a wrong method, a body over the
//! limit; see the `middleware` module) and those of the server itself (too many
//! connections, see the `server` module).

use axum::Json;
use axum::extract::rejection::{BytesRejection, JsonRejection, QueryRejection};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Serialize;

/// Every error a handler can return. Rendered as `{ "error": CODE, "message": TEXT }`.
///
/// It is `Clone` so that the cache runtime can hand one failure to every caller that
/// waited on the same computation (errors are never cached).
#[derive(Debug, Clone, thiserror::Error)]
pub enum ApiError {
    /// Malformed input: 400.
    #[error("{0}")]
    BadRequest(String),
    /// Missing or invalid bearer token: 401.
    #[error("a valid `Authorization: Bearer <token>` header is required")]
    Unauthorized,
    /// Authenticated, but not allowed to do this (e.g. change another user's channel): 403.
    #[error("{0}")]
    Forbidden(String),
    /// No such resource: 404.
    #[error("{0}")]
    NotFound(String),
    /// The route exists, not with this method: 405, with `Allow` listing the methods.
    #[error("method {method} is not allowed here; allowed: {allow}")]
    MethodNotAllowed {
        /// The method of the request.
        method: String,
        /// The methods of the route, as in the `Allow` header.
        allow: String,
    },
    /// Well-formed, but the current state refuses it (e.g. a post dated before its
    /// channel existed): 409.
    #[error("{0}")]
    Conflict(String),
    /// Body or field too large: 413.
    #[error("{0}")]
    PayloadTooLarge(String),
    /// The request target is too long: 414.
    #[error("{0}")]
    UriTooLong(String),
    /// The request's header fields are too many or too large: 431.
    #[error("{0}")]
    HeaderFieldsTooLarge(String),
    /// The client's budget is spent (a computation of a new answer, or a write, beyond its
    /// rate): 429, with `Retry-After`.
    #[error("this client's budget of computations and writes is spent; retry after {} s", retry_after_secs(*.retry_after))]
    TooManyRequests {
        /// When the client may send its next request.
        retry_after: std::time::Duration,
    },
    /// The server is at a limit (connections or requests in flight): 503, with
    /// `Retry-After: 1`.
    #[error("{0}")]
    Overloaded(String),
    /// Well-formed JSON with the wrong shape: 422.
    #[error("{0}")]
    Unprocessable(String),
    /// Wrong content type: 415.
    #[error("{0}")]
    UnsupportedMediaType(String),
    /// The request took longer than the configured timeout: 503.
    #[error("the request took longer than {0:?}")]
    Timeout(std::time::Duration),
    /// The database failed; the details are logged, not returned.
    #[error("database error")]
    Database(String),
    /// Anything else that is our fault; the details are logged, not returned.
    #[error("internal error")]
    Internal(String),
    /// Another client error produced outside the handlers (by axum, tower or hyper),
    /// kept with its status.
    #[error("{message}")]
    Other {
        /// Its HTTP status.
        status: StatusCode,
        /// What went wrong.
        message: String,
    },
}

/// Whole seconds to wait, rounded up, at least 1 (the `Retry-After` value).
fn retry_after_secs(wait: std::time::Duration) -> u64 {
    let secs = wait.as_secs() + u64::from(wait.subsec_nanos() > 0);
    secs.max(1)
}

/// The JSON body of every error response.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct ErrorBody {
    /// A stable, machine-readable code, e.g. `not_found`.
    pub error: &'static str,
    /// A human-readable explanation.
    pub message: String,
}

impl ApiError {
    /// The HTTP status of this error.
    pub fn status(&self) -> StatusCode {
        match self {
            Self::BadRequest(_) => StatusCode::BAD_REQUEST,
            Self::Unauthorized => StatusCode::UNAUTHORIZED,
            Self::Forbidden(_) => StatusCode::FORBIDDEN,
            Self::NotFound(_) => StatusCode::NOT_FOUND,
            Self::MethodNotAllowed { .. } => StatusCode::METHOD_NOT_ALLOWED,
            Self::Conflict(_) => StatusCode::CONFLICT,
            Self::PayloadTooLarge(_) => StatusCode::PAYLOAD_TOO_LARGE,
            Self::UriTooLong(_) => StatusCode::URI_TOO_LONG,
            Self::HeaderFieldsTooLarge(_) => StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE,
            Self::TooManyRequests { .. } => StatusCode::TOO_MANY_REQUESTS,
            Self::Overloaded(_) => StatusCode::SERVICE_UNAVAILABLE,
            Self::Other { status, .. } => *status,
            Self::Unprocessable(_) => StatusCode::UNPROCESSABLE_ENTITY,
            Self::UnsupportedMediaType(_) => StatusCode::UNSUPPORTED_MEDIA_TYPE,
            Self::Timeout(_) => StatusCode::SERVICE_UNAVAILABLE,
            Self::Database(_) | Self::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    /// The stable code in the `error` field.
    pub fn code(&self) -> &'static str {
        match self {
            Self::BadRequest(_) => "bad_request",
            Self::Unauthorized => "unauthorized",
            Self::Forbidden(_) => "forbidden",
            Self::NotFound(_) => "not_found",
            Self::MethodNotAllowed { .. } => "method_not_allowed",
            Self::Conflict(_) => "conflict",
            Self::PayloadTooLarge(_) => "payload_too_large",
            Self::UriTooLong(_) => "uri_too_long",
            Self::HeaderFieldsTooLarge(_) => "header_fields_too_large",
            Self::TooManyRequests { .. } => "rate_limited",
            Self::Overloaded(_) => "overloaded",
            Self::Other { status, .. } if status.is_server_error() => "server_error",
            Self::Other { .. } => "client_error",
            Self::Unprocessable(_) => "unprocessable_entity",
            Self::UnsupportedMediaType(_) => "unsupported_media_type",
            Self::Timeout(_) => "timeout",
            Self::Database(_) => "database_error",
            Self::Internal(_) => "internal_error",
        }
    }

    /// The JSON body of this error.
    ///
    /// ```
    /// let body = example_api::ApiError::NotFound("no such route".into()).body();
    /// assert_eq!(serde_json::to_string(&body).unwrap(), r#"{"error":"not_found","message":"no such route"}"#);
    /// ```
    pub fn body(&self) -> ErrorBody {
        ErrorBody {
            error: self.code(),
            message: self.to_string(),
        }
    }
}

/// A cache's bulkhead (`max_concurrent`) stayed full past the runtime's `max_wait`: 503
/// with `Retry-After`, like any other overload.
impl From<cache_runtime::Overloaded> for ApiError {
    fn from(e: cache_runtime::Overloaded) -> Self {
        ApiError::Overloaded(e.to_string())
    }
}

/// A cached computation beyond the client's budget (see `middleware`): 429 with
/// `Retry-After`.
impl From<cache_runtime::Throttled> for ApiError {
    fn from(t: cache_runtime::Throttled) -> Self {
        ApiError::TooManyRequests {
            retry_after: t.retry_after(),
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        match &self {
            Self::Database(detail) | Self::Internal(detail) => {
                tracing::error!(error = %detail, "{}", self.code());
            }
            _ => {}
        }
        let mut response = (self.status(), Json(self.body())).into_response();
        let headers = response.headers_mut();
        match &self {
            Self::Unauthorized => {
                headers.insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
            }
            Self::MethodNotAllowed { allow, .. } if !allow.is_empty() => {
                if let Ok(v) = HeaderValue::from_str(allow) {
                    headers.insert(header::ALLOW, v);
                }
            }
            Self::TooManyRequests { retry_after } => {
                headers.insert(header::RETRY_AFTER, retry_after_secs(*retry_after).into());
            }
            Self::Overloaded(_) => {
                headers.insert(header::RETRY_AFTER, HeaderValue::from_static("1"));
            }
            _ => {}
        }
        response
    }
}

impl From<sqlx::Error> for ApiError {
    fn from(e: sqlx::Error) -> Self {
        Self::Database(e.to_string())
    }
}

impl From<JsonRejection> for ApiError {
    fn from(rejection: JsonRejection) -> Self {
        let message = rejection.body_text();
        match rejection.status() {
            StatusCode::PAYLOAD_TOO_LARGE => Self::PayloadTooLarge(message),
            StatusCode::UNPROCESSABLE_ENTITY => Self::Unprocessable(message),
            StatusCode::UNSUPPORTED_MEDIA_TYPE => Self::UnsupportedMediaType(message),
            _ => Self::BadRequest(message),
        }
    }
}

impl From<QueryRejection> for ApiError {
    fn from(rejection: QueryRejection) -> Self {
        Self::BadRequest(rejection.body_text())
    }
}

impl From<BytesRejection> for ApiError {
    fn from(rejection: BytesRejection) -> Self {
        let message = rejection.body_text();
        match rejection.status() {
            StatusCode::PAYLOAD_TOO_LARGE => Self::PayloadTooLarge(message),
            _ => Self::BadRequest(message),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retry_after_rounds_up_to_whole_seconds() {
        use std::time::Duration;
        assert_eq!(retry_after_secs(Duration::ZERO), 1);
        assert_eq!(retry_after_secs(Duration::from_millis(100)), 1);
        assert_eq!(retry_after_secs(Duration::from_millis(1001)), 2);
        assert_eq!(retry_after_secs(Duration::from_secs(3)), 3);
    }

    #[test]
    fn every_error_has_its_status_and_headers() {
        let r = ApiError::MethodNotAllowed {
            method: "PUT".into(),
            allow: "GET,HEAD".into(),
        }
        .into_response();
        assert_eq!(r.status(), 405);
        assert_eq!(r.headers()[header::ALLOW], "GET,HEAD");
        let r = ApiError::TooManyRequests {
            retry_after: std::time::Duration::from_millis(2500),
        }
        .into_response();
        assert_eq!(r.status(), 429);
        assert_eq!(r.headers()[header::RETRY_AFTER], "3");
        let r = ApiError::Overloaded("busy".into()).into_response();
        assert_eq!(r.status(), 503);
        assert_eq!(r.headers()[header::RETRY_AFTER], "1");
        // A computation beyond the client's budget.
        let r = ApiError::from(cache_runtime::Throttled::new(
            std::time::Duration::from_millis(1500),
        ))
        .into_response();
        assert_eq!(r.status(), 429);
        assert_eq!(r.headers()[header::RETRY_AFTER], "2");
        // A full bulkhead of a cached service function answers the same way.
        let r = ApiError::from(cache_runtime::Overloaded).into_response();
        assert_eq!(r.status(), 503);
        assert_eq!(r.headers()[header::RETRY_AFTER], "1");
        assert_eq!(
            ApiError::Other {
                status: StatusCode::IM_A_TEAPOT,
                message: "x".into()
            }
            .code(),
            "client_error"
        );
    }
}
