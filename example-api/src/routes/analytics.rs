use axum::extract::State;
use cache_runtime::CachedJson;
use serde::Deserialize;

use crate::AppState;
use crate::error::ApiError;
use crate::routes::extract::{ApiPath, ApiQuery};
use crate::services::analytics::{
    self, BestTimes, ChannelSummary, DEFAULT_HOURS, DEFAULT_LIMIT, DEFAULT_PERIOD, Hours, Limit,
    PostDynamics, TopPosts,
};

#[derive(Debug, Deserialize)]
pub(super) struct DynamicsQuery {
    hours: Option<u32>,
}

pub(super) async fn post_dynamics(
    State(state): State<AppState>,
    ApiQuery(q): ApiQuery<DynamicsQuery>,
) -> Result<CachedJson<PostDynamics>, ApiError> {
    let hours = Hours::new(q.hours.unwrap_or(DEFAULT_HOURS), "hours")?;
    analytics::post_dynamics(&state.db, hours).await
}

#[derive(Debug, Deserialize)]
pub(super) struct TopPostsQuery {
    period: Option<String>,
    limit: Option<u32>,
}

pub(super) async fn top_posts(
    State(state): State<AppState>,
    ApiQuery(q): ApiQuery<TopPostsQuery>,
) -> Result<CachedJson<TopPosts>, ApiError> {
    let period = Hours::parse_period(q.period.as_deref().unwrap_or(DEFAULT_PERIOD))?;
    let limit = Limit::new(q.limit.unwrap_or(DEFAULT_LIMIT))?;
    analytics::top_posts(&state.db, period, limit).await
}

pub(super) async fn best_times(
    State(state): State<AppState>,
) -> Result<CachedJson<BestTimes>, ApiError> {
    analytics::best_times(&state.db).await
}

pub(super) async fn channel_metrics(
    State(state): State<AppState>,
    ApiPath(id): ApiPath<i64>,
) -> Result<CachedJson<ChannelSummary>, ApiError> {
    analytics::channel_summary(&state.db, id).await
}
