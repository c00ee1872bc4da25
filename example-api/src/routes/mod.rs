//! Thin axum handlers: extract, call one service function, wrap the answer in JSON.

use axum::Router;
use axum::extract::DefaultBodyLimit;
use axum::routing::{get, patch, post};

use crate::AppState;
use crate::error::ApiError;

mod admin;
mod ai;
mod analytics;
mod channels;
mod docs;
pub mod extract;
mod health;
mod performance;
mod writes;

pub use docs::openapi_spec;

/// Bodies accepted by `/ai/*`: room for 64 KiB of text with JSON escapes.
const AI_BODY_LIMIT: usize = 512 * 1024;
/// Bodies accepted by `PATCH /channels/{id}`: a name and a title.
const CHANNEL_BODY_LIMIT: usize = 4 * 1024;
/// Bodies accepted by `POST /channels/{id}/posts`: as for `/ai/*` (the same text limit).
const POST_BODY_LIMIT: usize = AI_BODY_LIMIT;

/// Every route of the service. Paths are part of the public contract.
pub fn router() -> Router<AppState> {
    Router::new()
        .route("/health", get(health::health))
        .route(
            "/analytics/demo/post-dynamics",
            get(analytics::post_dynamics),
        )
        .route("/analytics/demo/top-posts", get(analytics::top_posts))
        .route("/analytics/demo/best-times", get(analytics::best_times))
        .route(
            "/analytics/channels/{id}/metrics",
            get(analytics::channel_metrics),
        )
        .route("/channels", get(channels::list))
        .route(
            "/channels/{id}",
            patch(writes::rename_channel).layer(DefaultBodyLimit::max(CHANNEL_BODY_LIMIT)),
        )
        .route(
            "/channels/{id}/posts",
            post(writes::publish_post).layer(DefaultBodyLimit::max(POST_BODY_LIMIT)),
        )
        .route(
            "/ai/analyze",
            post(ai::analyze).layer(DefaultBodyLimit::max(AI_BODY_LIMIT)),
        )
        .route(
            "/ai/optimize",
            post(ai::optimize).layer(DefaultBodyLimit::max(AI_BODY_LIMIT)),
        )
        .route("/performance", get(performance::report))
        .route("/metrics", get(performance::metrics))
        .nest("/dashboard", cache_runtime::dashboard::router())
        .route("/admin/cache/invalidate", post(admin::invalidate))
        .route("/admin/cache/warm", post(admin::warm))
        .route("/openapi.json", get(docs::openapi))
        .route("/docs", get(docs::page))
        .fallback(not_found)
}

async fn not_found() -> ApiError {
    ApiError::NotFound("no such route".into())
}
