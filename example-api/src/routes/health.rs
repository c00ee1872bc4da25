use axum::Json;
use axum::extract::State;
use serde_json::{Value, json};

use crate::AppState;

/// Liveness: answers without touching the database or the cache.
pub(super) async fn health(State(state): State<AppState>) -> Json<Value> {
    Json(json!({
        "status": "ok",
        "version": env!("CARGO_PKG_VERSION"),
        "uptime_seconds": state.started.elapsed().as_secs(),
        "database": state.db.backend(),
        "cache": "in-process",
        "redis": "not configured",
    }))
}
