//! axum handler shapes: extractor patterns bind the key inputs, `State` and `Extension`
//! are left out of the key, and `Json<T>` / `Result<Json<T>, E>` cache `T`.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use axum::Json;
use axum::extract::{Extension, Path, Query, State};
use cache_runtime::cache_result;
use serde::{Deserialize, Serialize};

#[derive(Clone, Default)]
struct AppState {
    calls: Arc<AtomicUsize>,
}

#[derive(Clone)]
struct RequestId(#[allow(dead_code)] u64);

#[derive(Serialize, Deserialize)]
struct Page {
    page: u32,
    per_page: u32,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
struct User {
    id: u64,
    page: u32,
}

#[derive(Debug)]
struct ApiError;

#[cache_result("axum_user", ttl = "5m")]
async fn user(
    Path(id): Path<u64>,
    Query(q): Query<Page>,
    State(state): State<AppState>,
    Extension(request): Extension<RequestId>,
) -> Json<User> {
    let _ = request;
    state.calls.fetch_add(1, Ordering::SeqCst);
    Json(User {
        id,
        page: q.page * q.per_page,
    })
}

#[cache_result("axum_user_result", ttl = "5m")]
async fn user_result(
    Path((org, id)): Path<(String, u64)>,
    State(state): State<AppState>,
) -> Result<Json<User>, ApiError> {
    state.calls.fetch_add(1, Ordering::SeqCst);
    if org.is_empty() {
        return Err(ApiError);
    }
    Ok(Json(User { id, page: 0 }))
}

fn assert_send<T: Send>(t: T) -> T {
    t
}

#[tokio::main]
async fn main() {
    let state = AppState::default();
    let call = || {
        user(
            Path(1),
            Query(Page {
                page: 2,
                per_page: 10,
            }),
            State(state.clone()),
            Extension(RequestId(fastrand())),
        )
    };
    assert_eq!(assert_send(call()).await.0, User { id: 1, page: 20 });
    // A different request id and state: still a hit.
    assert_eq!(call().await.0, User { id: 1, page: 20 });
    assert_eq!(state.calls.load(Ordering::SeqCst), 1);

    let ok = user_result(Path(("acme".into(), 5)), State(state.clone())).await;
    assert_eq!(ok.unwrap().0, User { id: 5, page: 0 });
    let ok = user_result(Path(("acme".into(), 5)), State(state.clone())).await;
    assert_eq!(ok.unwrap().0.id, 5);
    assert!(
        user_result(Path((String::new(), 5)), State(state.clone()))
            .await
            .is_err()
    );
    // Errors are not cached.
    assert!(
        user_result(Path((String::new(), 5)), State(state.clone()))
            .await
            .is_err()
    );
    assert_eq!(state.calls.load(Ordering::SeqCst), 4);
}

fn fastrand() -> u64 {
    use std::time::{SystemTime, UNIX_EPOCH};
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos() as u64)
}
