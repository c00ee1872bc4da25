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

/// Bodies accepted by `/ai/*`: room for 65536 characters of text even when each is sent as
/// a JSON escape (at most 12 bytes: a surrogate pair), with the rest of the object.
const AI_BODY_LIMIT: usize = 1024 * 1024;
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
    docs::finish(&mut spec);
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
        .routes(routes!(analytics::channels_metrics))
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

/// The `429` of every budgeted route, described once for the OpenAPI: a computation
/// (`/analytics/*`, `/ai/*`: a miss, a forced refresh) or a write (`PATCH`/`POST` under
/// `/channels/`) beyond the client's budget. Answers from the cache, 304s and fail-safe
/// copies are never refused.
#[derive(utoipa::IntoResponses)]
#[allow(dead_code)] // only described, never built: the answer is `ApiError::TooManyRequests`
pub(crate) enum Throttled {
    #[response(
        status = 429,
        description = "This client's budget is spent (computations of new answers on /analytics/* and /ai/*, writes under /channels/; answers from the cache and 304s never count); wait `Retry-After` seconds",
        headers(("Retry-After" = u64, description = "Seconds until the budget admits one more"))
    )]
    TooManyRequests(crate::error::ErrorBody),
}

async fn not_found() -> ApiError {
    ApiError::NotFound("no such route".into())
}
