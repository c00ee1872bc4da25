//! Thin axum handlers: extract, call one service function, wrap the answer in JSON.

use axum::Router;
use axum::extract::DefaultBodyLimit;
use utoipa::OpenApi as _;
use utoipa_axum::router::{OpenApiRouter, UtoipaMethodRouter};
use utoipa_axum::routes;

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
    let (router, _) = api().split_for_parts();
    router
        .nest("/dashboard", cache_runtime::dashboard::router())
        .fallback(not_found)
}

/// The OpenAPI description of [`router`]: the same list, so it cannot miss a route.
pub(crate) fn openapi() -> utoipa::openapi::OpenApi {
    let mut spec = api().into_openapi();
    spec.info.description = Some(docs::description());
    spec
}

/// THE list of routes: each handler carries `#[utoipa::path(...)]` (method, path,
/// parameters, responses), and adding one here puts it in the router and in
/// `/openapi.json` at once.
fn api() -> OpenApiRouter<AppState> {
    OpenApiRouter::with_openapi(docs::ApiDoc::openapi())
        .routes(routes!(health::health))
        .routes(routes!(analytics::post_dynamics))
        .routes(routes!(analytics::top_posts))
        .routes(routes!(analytics::best_times))
        .routes(routes!(analytics::channel_metrics))
        .routes(routes!(channels::list))
        .routes(limited(routes!(writes::rename_channel), CHANNEL_BODY_LIMIT))
        .routes(limited(routes!(writes::publish_post), POST_BODY_LIMIT))
        .routes(limited(routes!(ai::analyze), AI_BODY_LIMIT))
        .routes(limited(routes!(ai::optimize), AI_BODY_LIMIT))
        .routes(routes!(performance::report))
        .routes(routes!(performance::metrics))
        .routes(routes!(admin::invalidate))
        .routes(routes!(admin::warm))
        .routes(routes!(docs::openapi))
        .routes(routes!(docs::page))
        .routes(routes!(docs::asset))
}

/// A route with its own request body limit.
fn limited(
    (schemas, paths, method): UtoipaMethodRouter<AppState>,
    limit: usize,
) -> UtoipaMethodRouter<AppState> {
    (schemas, paths, method.layer(DefaultBodyLimit::max(limit)))
}

async fn not_found() -> ApiError {
    ApiError::NotFound("no such route".into())
}
