//! One error shape everywhere: limits on the request line and headers answered with JSON,
//! and any error response that axum or tower made without a JSON body rewritten into the
//! [`ApiError`] form (a wrong method's `405`, a body limit's `413`, ...), keeping its
//! status and headers (`Allow`, `Retry-After`, CORS, the request id).

use axum::body::to_bytes;
use axum::extract::Request;
use axum::http::{HeaderMap, Method, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

use crate::error::ApiError;

/// Longest request target (path and query) answered normally; a longer one is a `414`.
pub const MAX_URI_BYTES: usize = 8 * 1024;
/// Most header fields in a request; more is a `431` (the HTTP/1 parser itself takes up to
/// 100 and answers more with its own bodiless `431`).
pub const MAX_HEADER_COUNT: usize = 64;
/// Largest total size of a request's header fields (names and values); more is a `431`.
pub const MAX_HEADER_BYTES: usize = 16 * 1024;

/// Answers `414` or `431` (JSON) for requests over [`MAX_URI_BYTES`],
/// [`MAX_HEADER_COUNT`] or [`MAX_HEADER_BYTES`]. The server's own parser limits are set
/// well above these (see [`crate::server`]), so only far larger requests get its bodiless
/// answer.
pub(super) async fn request_limits(req: Request, next: Next) -> Response {
    let target = req.uri().path_and_query().map_or(0, |pq| pq.as_str().len());
    if target > MAX_URI_BYTES {
        return ApiError::UriTooLong(format!(
            "the request target is {target} bytes; at most {MAX_URI_BYTES} are accepted"
        ))
        .into_response();
    }
    let headers = req.headers();
    if headers.len() > MAX_HEADER_COUNT {
        return ApiError::HeaderFieldsTooLarge(format!(
            "{} header fields; at most {MAX_HEADER_COUNT} are accepted",
            headers.len()
        ))
        .into_response();
    }
    let size = header_bytes(headers);
    if size > MAX_HEADER_BYTES {
        return ApiError::HeaderFieldsTooLarge(format!(
            "the header fields are {size} bytes; at most {MAX_HEADER_BYTES} are accepted"
        ))
        .into_response();
    }
    next.run(req).await
}

fn header_bytes(headers: &HeaderMap) -> usize {
    headers
        .iter()
        .map(|(name, value)| name.as_str().len() + value.len() + 4)
        .sum()
}

/// Rewrites an error response without a JSON body into the [`ApiError`] form.
pub(super) async fn json_errors(req: Request, next: Next) -> Response {
    let method = req.method().clone();
    let response = next.run(req).await;
    let status = response.status();
    if !(status.is_client_error() || status.is_server_error()) || is_json(response.headers()) {
        return response;
    }
    let (mut parts, body) = response.into_parts();
    // A short plain-text explanation (axum's rejections have one) becomes the message.
    let text = if is_plain_text(&parts.headers) {
        to_bytes(body, 1024)
            .await
            .ok()
            .and_then(|b| String::from_utf8(b.to_vec()).ok())
            .map(|t| t.trim().to_owned())
            .filter(|t| !t.is_empty())
    } else {
        None
    };
    let error = as_api_error(status, &method, &parts.headers, text.as_deref());
    let mut rewritten = error.into_response();
    for name in [
        header::CONTENT_TYPE,
        header::CONTENT_LENGTH,
        header::CONTENT_ENCODING,
    ] {
        parts.headers.remove(name);
    }
    // Keep the original's headers (Allow, Retry-After, CORS, ...) where ours has none.
    let ours: Vec<header::HeaderName> = rewritten.headers().keys().cloned().collect();
    let mut last = None;
    for (name, value) in parts.headers {
        if let Some(n) = name {
            last = Some(n);
        }
        if let Some(name) = &last
            && !ours.contains(name)
        {
            rewritten.headers_mut().append(name.clone(), value);
        }
    }
    rewritten
}

fn as_api_error(
    status: StatusCode,
    method: &Method,
    headers: &HeaderMap,
    text: Option<&str>,
) -> ApiError {
    let or = |default: &str| text.unwrap_or(default).to_owned();
    match status {
        StatusCode::METHOD_NOT_ALLOWED => ApiError::MethodNotAllowed {
            method: method.to_string(),
            allow: headers
                .get(header::ALLOW)
                .and_then(|v| v.to_str().ok())
                .unwrap_or_default()
                .to_owned(),
        },
        StatusCode::PAYLOAD_TOO_LARGE => {
            ApiError::PayloadTooLarge(or("the request body is too large"))
        }
        StatusCode::URI_TOO_LONG => ApiError::UriTooLong(or("the request target is too long")),
        StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE => {
            ApiError::HeaderFieldsTooLarge(or("the request's header fields are too large"))
        }
        StatusCode::NOT_FOUND => ApiError::NotFound(or("not found")),
        StatusCode::BAD_REQUEST => ApiError::BadRequest(or("bad request")),
        StatusCode::UNSUPPORTED_MEDIA_TYPE => {
            ApiError::UnsupportedMediaType(or("unsupported media type"))
        }
        StatusCode::UNPROCESSABLE_ENTITY => ApiError::Unprocessable(or("unprocessable request")),
        _ => ApiError::Other {
            status,
            message: or(status.canonical_reason().unwrap_or("error")),
        },
    }
}

fn content_type(headers: &HeaderMap) -> &str {
    headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
}

fn is_json(headers: &HeaderMap) -> bool {
    content_type(headers).starts_with("application/json")
}

fn is_plain_text(headers: &HeaderMap) -> bool {
    content_type(headers).starts_with("text/plain")
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::HeaderValue;

    #[test]
    fn statuses_map_to_their_codes() {
        let none = HeaderMap::new();
        let mut allow = HeaderMap::new();
        allow.insert(header::ALLOW, HeaderValue::from_static("GET,HEAD"));
        let e = as_api_error(StatusCode::METHOD_NOT_ALLOWED, &Method::PUT, &allow, None);
        assert_eq!(e.code(), "method_not_allowed");
        assert_eq!(
            e.to_string(),
            "method PUT is not allowed here; allowed: GET,HEAD"
        );
        let e = as_api_error(
            StatusCode::PAYLOAD_TOO_LARGE,
            &Method::POST,
            &none,
            Some("Failed to buffer the request body: length limit exceeded"),
        );
        assert_eq!(e.code(), "payload_too_large");
        assert!(e.to_string().contains("length limit"));
        let e = as_api_error(StatusCode::REQUEST_TIMEOUT, &Method::GET, &none, None);
        assert_eq!(
            (e.status(), e.code()),
            (StatusCode::REQUEST_TIMEOUT, "client_error")
        );
        assert_eq!(e.to_string(), "Request Timeout");
        let e = as_api_error(StatusCode::BAD_GATEWAY, &Method::GET, &none, None);
        assert_eq!(e.code(), "server_error");
    }
}
