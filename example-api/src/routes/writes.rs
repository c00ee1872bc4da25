//! `PATCH /channels/{id}` and `POST /channels/{id}/posts`: owner-only writes whose
//! service functions drop the cached reads they make stale.

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use serde::Deserialize;

use crate::AppState;
use crate::db::Channel;
use crate::error::{ApiError, ErrorBody};
use crate::routes::Throttled;
use crate::routes::extract::{ApiJson, ApiPath, CurrentUser, present};
use crate::services::writes::{self, ChannelChange, NewPost, Post, PostKind};

/// The body of `PATCH /channels/{id}`: at least one of the two.
// `minProperties: 1` is added by `docs::finish`.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub(super) struct RenameChannelRequest {
    #[serde(default, deserialize_with = "present")]
    #[schema(schema_with = super::docs::channel_name_schema)]
    name: Option<String>,
    #[serde(default, deserialize_with = "present")]
    #[schema(schema_with = super::docs::title_schema)]
    title: Option<String>,
}

/// The body of `POST /channels/{id}/posts`.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub(super) struct PublishPostRequest {
    #[schema(schema_with = super::docs::post_text_schema)]
    text: String,
    /// `text` (default), `photo` or `video`.
    #[serde(default)]
    kind: PostKind,
    #[serde(default, deserialize_with = "present")]
    #[schema(schema_with = super::docs::published_at_schema)]
    published_at: Option<String>,
}

/// The error answers both writes may give, described once for the OpenAPI.
#[derive(utoipa::IntoResponses)]
#[allow(dead_code)] // only described, never built: the answers are `ApiError`s
enum WriteErrors {
    #[response(
        status = 400,
        description = "A blank or malformed value, a bad id or time"
    )]
    BadRequest(ErrorBody),
    #[response(status = 401, description = "Missing or bad token")]
    Unauthorized(ErrorBody),
    #[response(status = 403, description = "The channel is another user's")]
    Forbidden(ErrorBody),
    #[response(status = 404, description = "No such channel")]
    NotFound(ErrorBody),
    #[response(
        status = 409,
        description = "A post's `published_at` before the channel was created, or in the future"
    )]
    Conflict(ErrorBody),
    #[response(
        status = 413,
        description = "A field over its length limit (characters), or a body over the route's limit"
    )]
    TooLarge(ErrorBody),
    #[response(status = 415, description = "Not `Content-Type: application/json`")]
    NotJson(ErrorBody),
    #[response(
        status = 422,
        description = "Wrong JSON shape (an unknown field, a `null`, a wrong type; for a rename: neither field)"
    )]
    WrongShape(ErrorBody),
}

/// Renames one of the caller's channels (owner only). Drops the owner's `user_channels`
/// entry, the channel's `analytics_summary` entry and the demo top posts, so the next read
/// shows the new name.
#[utoipa::path(patch, path = "/channels/{id}", tag = "channels", summary = "Rename a channel",
    security(("bearer" = [])),
    params(("id" = i64, Path, description = "The channel's id")),
    request_body = RenameChannelRequest,
    responses((status = 200, description = "The channel as stored", body = Channel), WriteErrors, Throttled))]
pub(super) async fn rename_channel(
    State(state): State<AppState>,
    CurrentUser(user): CurrentUser,
    ApiPath(id): ApiPath<i64>,
    ApiJson(body): ApiJson<RenameChannelRequest>,
) -> Result<Json<Channel>, ApiError> {
    let change = ChannelChange::new(body.name, body.title)?;
    writes::rename_channel(&state.db, &user, id, &change)
        .await
        .map(Json)
}

/// Publishes a post on one of the caller's channels (owner only). Drops the caches whose
/// answers count posts, so the next read of `/channels`, the channel's metrics and the
/// demo analytics includes it.
#[utoipa::path(post, path = "/channels/{id}/posts", tag = "channels", summary = "Publish a post",
    security(("bearer" = [])),
    params(("id" = i64, Path, description = "The channel's id")),
    request_body = PublishPostRequest,
    responses((status = 201, description = "The post as stored", body = Post), WriteErrors, Throttled))]
pub(super) async fn publish_post(
    State(state): State<AppState>,
    CurrentUser(user): CurrentUser,
    ApiPath(id): ApiPath<i64>,
    ApiJson(body): ApiJson<PublishPostRequest>,
) -> Result<(StatusCode, Json<Post>), ApiError> {
    let post = NewPost::new(body.text, body.kind, body.published_at.as_deref())?;
    let post = writes::publish_post(&state.db, &user, id, &post).await?;
    Ok((StatusCode::CREATED, Json(post)))
}
