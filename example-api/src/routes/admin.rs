use axum::Json;
use axum::body::Bytes;
use axum::extract::State;
use serde::Deserialize;
use serde_json::{Value, json};
use utoipa::openapi::{RefOr, Schema};

use crate::AppState;
use crate::error::{ApiError, ErrorBody};
use crate::routes::extract::{Admin, ApiJson, present};
use crate::services::{self, warming};

/// Exactly one of `cache` or `tag` (its schema: [`super::docs::invalidate_schema`]).
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct InvalidateRequest {
    #[serde(default, deserialize_with = "present")]
    cache: Option<String>,
    #[serde(default, deserialize_with = "present")]
    tag: Option<String>,
}

impl utoipa::PartialSchema for InvalidateRequest {
    fn schema() -> RefOr<Schema> {
        super::docs::invalidate_schema()
    }
}

impl utoipa::ToSchema for InvalidateRequest {}

/// `{"cache": NAME}` drops every entry of a cache; `{"tag": TAG}` every entry stored with
/// that tag (e.g. `channel:42`, `user:1`).
#[utoipa::path(post, path = "/admin/cache/invalidate", tag = "admin", summary = "Invalidate a cache or a tag",
    security(("bearer" = [])), request_body = InvalidateRequest,
    responses((status = 200, description = "Invalidated", body = Object),
        (status = 400, description = "Malformed JSON", body = ErrorBody),
        (status = 401, description = "Missing or bad admin token", body = ErrorBody),
        (status = 404, description = "Unknown cache", body = ErrorBody),
        (status = 413, description = "Body over 2 MB", body = ErrorBody),
        (status = 415, description = "Not `Content-Type: application/json`", body = ErrorBody),
        (status = 422, description = "Neither or both of cache and tag, an empty tag, or another shape", body = ErrorBody)))]
pub(super) async fn invalidate(
    _: Admin,
    ApiJson(body): ApiJson<InvalidateRequest>,
) -> Result<Json<Value>, ApiError> {
    let rt = cache_runtime::global();
    match (body.cache, body.tag) {
        (Some(cache), None) => {
            if !services::is_cache_name(&cache) {
                return Err(ApiError::NotFound(format!("no cache named `{cache}`")));
            }
            rt.invalidate_all(&cache);
            tracing::info!(cache = %cache, "cache invalidated");
            Ok(Json(json!({ "invalidated": { "cache": cache } })))
        }
        (None, Some(tag)) if !tag.is_empty() => {
            rt.invalidate_tag(&tag);
            tracing::info!(tag = %tag, "tag invalidated");
            Ok(Json(json!({ "invalidated": { "tag": tag } })))
        }
        _ => Err(ApiError::Unprocessable(
            "send exactly one of {\"cache\": NAME} or {\"tag\": TAG}".into(),
        )),
    }
}

/// The caches to refill.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
struct WarmRequest {
    #[schema(schema_with = super::docs::warmable_schema)]
    caches: Vec<String>,
}

/// Refills caches; the body `{"caches": [...]}` is optional (empty or `null`: the critical
/// ones). Its content type is not checked.
#[utoipa::path(post, path = "/admin/cache/warm", tag = "admin", summary = "Refill caches",
    security(("bearer" = [])), request_body(content = Option<WarmRequest>, description = "Optional; default: the critical caches"),
    responses((status = 200, description = "Warmed", body = Object),
        (status = 400, description = "Cache cannot be warmed", body = ErrorBody),
        (status = 401, description = "Missing or bad admin token", body = ErrorBody),
        (status = 413, description = "Body over 2 MB", body = ErrorBody),
        (status = 422, description = "Not {\"caches\": [NAME, ...]}", body = ErrorBody)))]
pub(super) async fn warm(
    _: Admin,
    State(state): State<AppState>,
    body: Bytes,
) -> Result<Json<Value>, ApiError> {
    let shape =
        |e: String| ApiError::Unprocessable(format!("expected {{\"caches\": [NAME, ...]}}: {e}"));
    let request = if body.iter().all(u8::is_ascii_whitespace) {
        None
    } else {
        match serde_json::from_slice::<Value>(&body).map_err(|e| shape(e.to_string()))? {
            Value::Null => None,
            value @ Value::Object(_) => Some(
                serde_json::from_value::<WarmRequest>(value).map_err(|e| shape(e.to_string()))?,
            ),
            _ => return Err(shape("not an object".into())),
        }
    };
    let names = match request {
        Some(request) => request.caches,
        None => warming::CRITICAL.map(String::from).to_vec(),
    };
    let warmed = warming::warm(&state.db, &names).await?;
    Ok(Json(json!({ "warmed": warmed })))
}
