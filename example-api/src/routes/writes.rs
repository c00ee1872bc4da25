//! `PATCH /channels/{id}` and `POST /channels/{id}/posts`: owner-only writes whose
//! service functions drop the cached reads they make stale.

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use serde::Deserialize;

use crate::AppState;
use crate::db::Channel;
use crate::error::ApiError;
use crate::routes::extract::{ApiJson, ApiPath, CurrentUser};
use crate::services::writes::{self, ChannelChange, NewPost, Post, PostKind};

/// The body of `PATCH /channels/{id}`: at least one of the two.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RenameChannelRequest {
    /// The new handle, e.g. `rust_weekly`.
    name: Option<String>,
    /// The new display title.
    title: Option<String>,
}

/// The body of `POST /channels/{id}/posts`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct PublishPostRequest {
    /// The post's text.
    text: String,
    /// `text` (default), `photo` or `video`.
    #[serde(default)]
    kind: PostKind,
    /// RFC 3339 in UTC; default: now.
    published_at: Option<String>,
}

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
