use axum::Json;
use axum::extract::State;
use serde::Deserialize;

use crate::AppState;
use crate::error::{ApiError, ErrorBody};
use crate::routes::extract::ApiJson;
use crate::services::ai::{self, Optimization, PostText};
use crate::services::analyzer::{ContentAnalysis, Goal};

/// A post to analyse.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub(super) struct AnalyzeRequest {
    /// The post's text, 1 to 65536 characters.
    #[schema(min_length = 1, max_length = 65536)]
    text: String,
}

/// Analyse a post. Cache `ai_content_analysis`, 900 s; timed as `ai_content_optimization`.
#[utoipa::path(post, path = "/ai/analyze", tag = "ai", summary = "Analyse a post",
    request_body = AnalyzeRequest,
    responses((status = 200, description = "Analysis", body = ContentAnalysis),
        (status = 400, description = "Empty text or malformed JSON", body = ErrorBody),
        (status = 413, description = "Text over 64 KiB", body = ErrorBody),
        (status = 415, description = "Not JSON", body = ErrorBody),
        (status = 422, description = "Wrong JSON shape", body = ErrorBody), (status = 429, description = "This client's rate limit on /analytics/* and /ai/* is exceeded; wait `Retry-After` seconds", body = ErrorBody, headers(("Retry-After" = u64, description = "Seconds until the next request is admitted")))))]
pub(super) async fn analyze(
    ApiJson(body): ApiJson<AnalyzeRequest>,
) -> Result<Json<ContentAnalysis>, ApiError> {
    ai::analyze(PostText::new(body.text)?).await.map(Json)
}

/// A post to improve, and what for.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub(super) struct OptimizeRequest {
    /// The post's text, 1 to 65536 characters.
    #[schema(min_length = 1, max_length = 65536)]
    text: String,
    #[serde(default)]
    goal: Goal,
}

/// Suggestions to improve a post, built on the cached analysis and best posting times.
#[utoipa::path(post, path = "/ai/optimize", tag = "ai", summary = "Suggestions to improve a post",
    request_body = OptimizeRequest,
    responses((status = 200, description = "Suggestions", body = Optimization),
        (status = 400, description = "Empty text or malformed JSON", body = ErrorBody),
        (status = 413, description = "Text over 64 KiB", body = ErrorBody),
        (status = 422, description = "Wrong JSON shape", body = ErrorBody), (status = 429, description = "This client's rate limit on /analytics/* and /ai/* is exceeded; wait `Retry-After` seconds", body = ErrorBody, headers(("Retry-After" = u64, description = "Seconds until the next request is admitted")))))]
pub(super) async fn optimize(
    State(state): State<AppState>,
    ApiJson(body): ApiJson<OptimizeRequest>,
) -> Result<Json<Optimization>, ApiError> {
    let text = PostText::new(body.text)?;
    ai::optimize(&state.db, text, body.goal).await.map(Json)
}
