use axum::Json;
use axum::extract::State;
use serde_json::{Value, json};

use crate::AppState;
use crate::services::performance::RedisStatus;

/// Liveness: answers without touching the database or the cache. `redis` is
/// `not configured`, `connected` or `unavailable` (the runtime's view, from its connection
/// and circuit breaker); the service answers either way.
#[utoipa::path(get, path = "/health", tag = "service", summary = "Liveness",
    responses((status = 200, description = "Alive: `status`, `version`, `uptime_seconds`, `database`, `cache`, `redis` (and `redis_circuit` when configured)", body = Object)))]
pub(super) async fn health(State(state): State<AppState>) -> Json<Value> {
    let l2 = cache_runtime::global().stats().l2;
    let redis = RedisStatus::of(l2.as_ref());
    let mut body = json!({
        "status": "ok",
        "version": env!("CARGO_PKG_VERSION"),
        "uptime_seconds": state.started.elapsed().as_secs(),
        "database": state.db.backend(),
        "cache": if l2.is_some() { "in-process + redis" } else { "in-process" },
        "redis": redis,
    });
    if let Some(l2) = l2 {
        body["redis_circuit"] = json!(l2.circuit);
    }
    Json(body)
}
