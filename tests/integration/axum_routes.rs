//! `#[cache_result]` on real axum handlers and services, exercised through the router.

use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering::SeqCst};

use axum::Router;
use axum::body::Body;
use axum::extract::{Path, Query, State};
use axum::http::{Request, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, middleware};
use cache_runtime::{Scope, cache_result};
use http_body_util::BodyExt;
use serde::{Deserialize, Serialize};
use tower::ServiceExt;

use crate::{setup, stats};

#[derive(Clone, Default)]
struct AppState {
    queries: Arc<AtomicU32>,
}

#[derive(Clone, Serialize, Deserialize, Debug, PartialEq)]
struct Channel {
    id: u64,
    name: String,
    period: String,
}

#[derive(Deserialize, Serialize)]
struct Params {
    period: String,
}

struct NotFound;

impl IntoResponse for NotFound {
    fn into_response(self) -> Response {
        (
            StatusCode::NOT_FOUND,
            Json(serde_json::json!({"error": "not found"})),
        )
            .into_response()
    }
}

/// A handler cached as it stands: `Path(id)` and `Query(params)` are the key, `State` is
/// left out automatically, `Err` is never cached and `Json<T>` caches `T`.
#[cache_result("it_axum_channel", ttl = 60)]
async fn channel(
    State(state): State<AppState>,
    Path(id): Path<u64>,
    Query(params): Query<Params>,
) -> Result<Json<Channel>, NotFound> {
    state.queries.fetch_add(1, SeqCst);
    if id == 0 {
        return Err(NotFound);
    }
    Ok(Json(Channel {
        id,
        name: format!("channel {id}"),
        period: params.period,
    }))
}

#[cache_result("it_axum_plain_json", ttl = 60)]
async fn plain_json(State(state): State<AppState>) -> Json<Vec<u32>> {
    state.queries.fetch_add(1, SeqCst);
    Json(vec![1, 2, 3])
}

/// Sets `X-Cache` from what the cached calls inside the request did.
async fn x_cache(req: Request<Body>, next: middleware::Next) -> Response {
    let (mut resp, outcomes) = Scope::observe().run(next.run(req)).await;
    resp.headers_mut().insert(
        "x-cache",
        axum::http::HeaderValue::from_static(outcomes.x_cache()),
    );
    resp
}

fn app(state: AppState) -> Router {
    Router::new()
        .route("/channels/{id}", get(channel))
        .route("/numbers", get(plain_json))
        .layer(middleware::from_fn(x_cache))
        .with_state(state)
}

async fn send(app: &Router, uri: &str) -> (StatusCode, String, serde_json::Value) {
    let resp = app
        .clone()
        .oneshot(Request::get(uri).body(Body::empty()).expect("request"))
        .await
        .expect("infallible router");
    let status = resp.status();
    let x_cache = resp
        .headers()
        .get("x-cache")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_owned();
    let bytes = resp.into_body().collect().await.expect("body").to_bytes();
    let json = serde_json::from_slice(&bytes).unwrap_or(serde_json::Value::Null);
    (status, x_cache, json)
}

#[tokio::test]
async fn handlers_cache_by_path_and_query_and_never_cache_errors() {
    setup();
    let state = AppState::default();
    let app = app(state.clone());

    let (s1, c1, j1) = send(&app, "/channels/7?period=7d").await;
    let (s2, c2, j2) = send(&app, "/channels/7?period=7d").await;
    assert_eq!(
        (s1, c1.as_str(), s2, c2.as_str()),
        (StatusCode::OK, "MISS", StatusCode::OK, "HIT")
    );
    assert_eq!(j1, j2, "cached and computed answers are identical");
    assert_eq!(j1["period"], "7d");

    let (_, c3, j3) = send(&app, "/channels/7?period=30d").await;
    assert_eq!(
        (c3.as_str(), &j3["period"]),
        ("MISS", &serde_json::json!("30d"))
    );

    for _ in 0..2 {
        let (s, c, j) = send(&app, "/channels/0?period=7d").await;
        assert_eq!(
            (s, c.as_str(), &j["error"]),
            (
                StatusCode::NOT_FOUND,
                "MISS",
                &serde_json::json!("not found")
            )
        );
    }
    assert_eq!(
        state.queries.load(SeqCst),
        4,
        "two misses, two uncached errors"
    );
    assert_eq!(stats("it_axum_channel").errors_not_cached, 2);

    // A different State value does not split the cache: State is not in the key.
    let other = app_with_new_state();
    let (_, c4, _) = send(&other, "/channels/7?period=7d").await;
    assert_eq!(c4, "HIT");
}

fn app_with_new_state() -> Router {
    app(AppState::default())
}

#[tokio::test]
async fn plain_json_returns_are_cached() {
    setup();
    let state = AppState::default();
    let app = app(state.clone());
    let (_, c1, j1) = send(&app, "/numbers").await;
    let (_, c2, j2) = send(&app, "/numbers").await;
    assert_eq!((c1.as_str(), c2.as_str()), ("MISS", "HIT"));
    assert_eq!(j1, serde_json::json!([1, 2, 3]));
    assert_eq!(j1, j2);
    assert_eq!(state.queries.load(SeqCst), 1);
}
