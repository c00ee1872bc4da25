//! The one error type of the service and its JSON form.

use axum::Json;
use axum::extract::rejection::{JsonRejection, QueryRejection};
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
    /// No such resource: 404.
    #[error("{0}")]
    NotFound(String),
    /// Body or field too large: 413.
    #[error("{0}")]
    PayloadTooLarge(String),
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
}

/// The JSON body of every error response.
#[derive(Debug, Serialize)]
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
            Self::NotFound(_) => StatusCode::NOT_FOUND,
            Self::PayloadTooLarge(_) => StatusCode::PAYLOAD_TOO_LARGE,
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
            Self::NotFound(_) => "not_found",
            Self::PayloadTooLarge(_) => "payload_too_large",
            Self::Unprocessable(_) => "unprocessable_entity",
            Self::UnsupportedMediaType(_) => "unsupported_media_type",
            Self::Timeout(_) => "timeout",
            Self::Database(_) => "database_error",
            Self::Internal(_) => "internal_error",
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
        let status = self.status();
        let body = ErrorBody {
            error: self.code(),
            message: self.to_string(),
        };
        let mut response = (status, Json(body)).into_response();
        if matches!(self, Self::Unauthorized) {
            response
                .headers_mut()
                .insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
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
