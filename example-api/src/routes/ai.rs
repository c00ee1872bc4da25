use axum::Json;
use axum::extract::State;
use serde::Deserialize;

use crate::AppState;
use crate::error::{ApiError, ErrorBody};
use crate::routes::Throttled;
use crate::routes::extract::ApiJson;
use crate::services::ai::{self, Optimization, PostText};
use crate::services::analyzer::{ContentAnalysis, Goal};

/// The error answers of both routes, described once for the OpenAPI.
#[derive(utoipa::IntoResponses)]
#[allow(dead_code)] // only described, never built: the answers are `ApiError`s
enum TextErrors {
    #[response(status = 400, description = "Blank text or malformed JSON")]
    BadRequest(ErrorBody),
    #[response(
        status = 413,
        description = "Text over 65536 characters, or a body over 1 MiB"
    )]
    TooLarge(ErrorBody),
    #[response(status = 415, description = "Not `Content-Type: application/json`")]
    NotJson(ErrorBody),
    #[response(status = 422, description = "Wrong JSON shape")]
    WrongShape(ErrorBody),
}

/// A post to analyse.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub(super) struct AnalyzeRequest {
    #[schema(schema_with = super::docs::analysis_text_schema)]
    text: String,
}

/// Analyse a post. Cache `ai_content_analysis`, 900 s; timed as `ai_content_optimization`.
#[utoipa::path(post, path = "/ai/analyze", tag = "ai", summary = "Analyse a post",
    request_body = AnalyzeRequest,
    responses((status = 200, description = "Analysis", body = ContentAnalysis),
        TextErrors, Throttled))]
pub(super) async fn analyze(
    ApiJson(body): ApiJson<AnalyzeRequest>,
) -> Result<Json<ContentAnalysis>, ApiError> {
    ai::analyze(PostText::new(body.text)?).await.map(Json)
}

/// A post to improve, and what for.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub(super) struct OptimizeRequest {
    #[schema(schema_with = super::docs::analysis_text_schema)]
    text: String,
    #[serde(default)]
    goal: Goal,
}

/// Suggestions to improve a post, built on the cached analysis and best posting times.
#[utoipa::path(post, path = "/ai/optimize", tag = "ai", summary = "Suggestions to improve a post",
    request_body = OptimizeRequest,
    responses((status = 200, description = "Suggestions", body = Optimization),
        TextErrors, Throttled))]
pub(super) async fn optimize(
    State(state): State<AppState>,
    ApiJson(body): ApiJson<OptimizeRequest>,
) -> Result<Json<Optimization>, ApiError> {
    let text = PostText::new(body.text)?;
    ai::optimize(&state.db, text, body.goal).await.map(Json)
}
