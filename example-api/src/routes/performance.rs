use axum::Json;
use axum::extract::State;
use axum::http::header;
use axum::response::IntoResponse;

use crate::AppState;
use crate::services::performance::{self, PerformanceReport};

/// Cache, timer and pool figures.
#[utoipa::path(get, path = "/performance", tag = "service", summary = "Cache, timer and pool figures",
    responses((status = 200, description = "Report: `api_performance`, `system_stats`, `optimization_features`, `caches`, `timers`, `bottlenecks`", body = Object)))]
pub(super) async fn report(State(state): State<AppState>) -> Json<PerformanceReport> {
    Json(performance::report(&state))
}

/// Prometheus metrics.
#[utoipa::path(get, path = "/metrics", tag = "service", summary = "Prometheus metrics",
    responses((status = 200, description = "Prometheus text format", body = String, content_type = "text/plain")))]
pub(super) async fn metrics(State(state): State<AppState>) -> impl IntoResponse {
    (
        [(
            header::CONTENT_TYPE,
            "text/plain; version=0.0.4; charset=utf-8",
        )],
        performance::prometheus(&state),
    )
}
