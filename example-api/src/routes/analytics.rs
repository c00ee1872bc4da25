use axum::Json;
use axum::extract::State;
use cache_runtime::CachedJson;
use serde::Deserialize;
use utoipa::IntoParams;

use crate::AppState;
use crate::error::{ApiError, ErrorBody};
use crate::routes::Throttled;
use crate::routes::extract::{ApiPath, ApiQuery};
use crate::services::analytics::{
    self, BestTimes, ChannelSummary, DEFAULT_HOURS, DEFAULT_LIMIT, DEFAULT_PERIOD, Hours, Limit,
    PostDynamics, TopPosts,
};
use crate::services::channel_metrics::{self, ChannelMetricsBatch};

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
        Throttled))]
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
    /// Window: whole hours up to a week (`1h` to `168h`), or whole days up to 90 (`1d`
    /// to `90d`); no leading zero.
    #[param(schema_with = super::docs::period_schema, example = "24h")]
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
        Throttled))]
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
    responses((status = 200, description = "Best slots", body = BestTimes),
        Throttled))]
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
        (status = 404, description = "Unknown channel", body = ErrorBody),
        Throttled))]
pub(super) async fn channel_metrics(
    State(state): State<AppState>,
    ApiPath(id): ApiPath<i64>,
) -> Result<CachedJson<ChannelSummary>, ApiError> {
    analytics::channel_summary(&state.db, id).await
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub(super) struct ChannelIdsQuery {
    /// 1 to 100 positive channel ids, comma-separated (`1,2,3`).
    #[param(
        example = "1,2,3",
        pattern = r"^[1-9][0-9]{0,17}(,[1-9][0-9]{0,17}){0,99}$"
    )]
    ids: String,
}

/// Many channels' lifetime metrics. Cache `channel_metrics`, 180 s, one entry per channel
/// (`#[cache_batch]`): one query reads only the channels no tier holds; ids that name no
/// channel are listed in `missing` (and remembered 30 s). Not shared with
/// `/analytics/channels/{id}/metrics`, which caches a whole summary.
#[utoipa::path(get, path = "/analytics/channels/metrics", tag = "analytics", summary = "Many channels' metrics",
    params(ChannelIdsQuery),
    responses((status = 200, description = "The channels found, in the order asked", body = ChannelMetricsBatch),
        (status = 400, description = "Bad `ids`: none, more than 100, or one that is not a positive integer", body = ErrorBody),
        Throttled))]
pub(super) async fn channels_metrics(
    State(state): State<AppState>,
    ApiQuery(q): ApiQuery<ChannelIdsQuery>,
) -> Result<Json<ChannelMetricsBatch>, ApiError> {
    let ids = channel_metrics::parse_ids(&q.ids)?;
    Ok(Json(
        channel_metrics::channel_metrics_batch(&state.db, &ids).await?,
    ))
}
