use axum::Json;
use axum::extract::State;
use serde::Deserialize;

use crate::AppState;
use crate::content::{ContentAnalysis, Goal};
use crate::error::ApiError;
use crate::routes::extract::ApiJson;
use crate::services::ai::{self, Optimization, PostText};

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct AnalyzeRequest {
    text: String,
}

pub(super) async fn analyze(
    ApiJson(body): ApiJson<AnalyzeRequest>,
) -> Result<Json<ContentAnalysis>, ApiError> {
    ai::analyze(PostText::new(body.text)?).await.map(Json)
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct OptimizeRequest {
    text: String,
    #[serde(default)]
    goal: Goal,
}

pub(super) async fn optimize(
    State(state): State<AppState>,
    ApiJson(body): ApiJson<OptimizeRequest>,
) -> Result<Json<Optimization>, ApiError> {
    let text = PostText::new(body.text)?;
    ai::optimize(&state.db, text, body.goal).await.map(Json)
}
