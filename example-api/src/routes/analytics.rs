use axum::extract::State;
use cache_runtime::CachedJson;
use serde::Deserialize;
use utoipa::IntoParams;

use crate::AppState;
use crate::error::{ApiError, ErrorBody};
use crate::routes::extract::{ApiPath, ApiQuery};
use crate::services::analytics::{
    self, BestTimes, ChannelSummary, DEFAULT_HOURS, DEFAULT_LIMIT, DEFAULT_PERIOD, Hours, Limit,
    PostDynamics, TopPosts,
};

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub(super) struct DynamicsQuery {
    /// Window in hours: 1 to 168, or whole days (a multiple of 24) up to 2160.
    #[param(schema_with = super::docs::window_schema)]
    hours: Option<u32>,
}

/// Views over time. Cache `demo_post_dynamics`, 300 s. Cached HTTP answer: `ETag`/304, `Cache-Control: max-age` = TTL left, gzip/brotli variants, `X-Cache`, `X-Cache-Tier`.
#[utoipa::path(get, path = "/analytics/demo/post-dynamics", tag = "analytics", summary = "Views over time",
    params(DynamicsQuery),
    responses((status = 200, description = "Hourly views", body = PostDynamics),
        (status = 400, description = "Bad `hours`: out of range, or above 168 and not a multiple of 24", body = ErrorBody),
        (status = 429, description = "This client's rate limit on /analytics/* and /ai/* is exceeded; wait `Retry-After` seconds", body = ErrorBody, headers(("Retry-After" = u64, description = "Seconds until the next request is admitted")))))]
pub(super) async fn post_dynamics(
    State(state): State<AppState>,
    ApiQuery(q): ApiQuery<DynamicsQuery>,
) -> Result<CachedJson<PostDynamics>, ApiError> {
    let hours = Hours::new(q.hours.unwrap_or(DEFAULT_HOURS), "hours")?;
    analytics::post_dynamics(&state.db, hours).await
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub(super) struct TopPostsQuery {
    /// Window: whole hours up to 7d (`1h` to `168h`), then whole days up to 90d.
    #[param(default = "7d", pattern = "^[0-9]+[hd]$", example = "24h")]
    period: Option<String>,
    /// How many posts.
    #[param(minimum = 1, maximum = 100, default = 10)]
    limit: Option<u32>,
}

/// Most viewed posts. Cache `demo_top_posts`, 600 s. Cached HTTP answer: `ETag`/304, `Cache-Control: max-age` = TTL left, gzip/brotli variants, `X-Cache`, `X-Cache-Tier`.
#[utoipa::path(get, path = "/analytics/demo/top-posts", tag = "analytics", summary = "Most viewed posts",
    params(TopPostsQuery),
    responses((status = 200, description = "Ranked posts", body = TopPosts),
        (status = 400, description = "Bad `period` or `limit`", body = ErrorBody),
        (status = 429, description = "This client's rate limit on /analytics/* and /ai/* is exceeded; wait `Retry-After` seconds", body = ErrorBody, headers(("Retry-After" = u64, description = "Seconds until the next request is admitted")))))]
pub(super) async fn top_posts(
    State(state): State<AppState>,
    ApiQuery(q): ApiQuery<TopPostsQuery>,
) -> Result<CachedJson<TopPosts>, ApiError> {
    let period = Hours::parse_period(q.period.as_deref().unwrap_or(DEFAULT_PERIOD))?;
    let limit = Limit::new(q.limit.unwrap_or(DEFAULT_LIMIT))?;
    analytics::top_posts(&state.db, period, limit).await
}

/// Best hours and weekdays to post (UTC). Cache `demo_best_times`, 1800 s. Cached HTTP answer: `ETag`/304, `Cache-Control: max-age` = TTL left, gzip/brotli variants, `X-Cache`, `X-Cache-Tier`.
#[utoipa::path(get, path = "/analytics/demo/best-times", tag = "analytics", summary = "Best hours and weekdays to post (UTC)",
    responses((status = 200, description = "Best slots", body = BestTimes), (status = 429, description = "This client's rate limit on /analytics/* and /ai/* is exceeded; wait `Retry-After` seconds", body = ErrorBody, headers(("Retry-After" = u64, description = "Seconds until the next request is admitted")))))]
pub(super) async fn best_times(
    State(state): State<AppState>,
) -> Result<CachedJson<BestTimes>, ApiError> {
    analytics::best_times(&state.db).await
}

/// A channel's summary. Cache `analytics_summary`, 180 s; timed as
/// `analytics_metrics_retrieval`. Cached HTTP answer: `ETag`/304, `Cache-Control: max-age` = TTL left, gzip/brotli variants, `X-Cache`, `X-Cache-Tier`.
#[utoipa::path(get, path = "/analytics/channels/{id}/metrics", tag = "analytics", summary = "A channel's summary",
    params(("id" = i64, Path, description = "Channel id")),
    responses((status = 200, description = "Summary", body = ChannelSummary),
        (status = 400, description = "Bad id", body = ErrorBody),
        (status = 404, description = "Unknown channel", body = ErrorBody), (status = 429, description = "This client's rate limit on /analytics/* and /ai/* is exceeded; wait `Retry-After` seconds", body = ErrorBody, headers(("Retry-After" = u64, description = "Seconds until the next request is admitted")))))]
pub(super) async fn channel_metrics(
    State(state): State<AppState>,
    ApiPath(id): ApiPath<i64>,
) -> Result<CachedJson<ChannelSummary>, ApiError> {
    analytics::channel_summary(&state.db, id).await
}
