use axum::Json;
use axum::extract::State;
use axum::http::header;
use axum::response::IntoResponse;

use crate::AppState;
use crate::services::performance::{self, PerformanceReport};

pub(super) async fn report(State(state): State<AppState>) -> Json<PerformanceReport> {
    Json(performance::report(&state))
}

pub(super) async fn metrics(State(state): State<AppState>) -> impl IntoResponse {
    (
        [(
            header::CONTENT_TYPE,
            "text/plain; version=0.0.4; charset=utf-8",
        )],
        performance::prometheus(&state),
    )
}
