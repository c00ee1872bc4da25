//! `fail_throttle`, `local_ttl`, `cache_none = "30s"` and `cache_err` with `err_ttl`,
//! together and alone, async and sync; without Redis `local_ttl` has no effect (one copy,
//! which lives `ttl`).

use std::sync::atomic::{AtomicUsize, Ordering};

use cache_runtime::cache_result;

static CALLS: AtomicUsize = AtomicUsize::new(0);

#[cache_result(
    "fso_all",
    ttl = "10m",
    stale_if_error = "1h",
    fail_throttle = "5s",
    local_ttl = "30s",
    cache_none = "1m",
)]
async fn all(id: u64) -> Option<String> {
    CALLS.fetch_add(1, Ordering::SeqCst);
    (id > 0).then(|| id.to_string())
}

#[cache_result("fso_throttle_sync", ttl = 60, stale_if_error = 600, fail_throttle = "250ms")]
fn throttled(id: u64) -> Result<u64, String> {
    Ok(id)
}

#[cache_result("fso_local", ttl = 60, local_ttl = 10)]
async fn local(id: u64) -> u64 {
    id
}

#[cache_result("fso_none_sync", cache_none = "30s")]
fn none_for_a_while(id: u64) -> Option<u64> {
    (id > 0).then_some(id)
}

#[cache_result("fso_none_off", cache_none = false)]
fn none_not_cached(id: u64) -> Option<u64> {
    (id > 0).then_some(id)
}

#[derive(Clone, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
enum ApiError {
    NotFound,
    Down,
}

fn is_not_found(e: &ApiError) -> bool {
    *e == ApiError::NotFound
}

#[cache_result("fso_err_fn", ttl = "5m", cache_err = is_not_found, err_ttl = "10s")]
async fn by_path(id: u64) -> Result<u64, ApiError> {
    CALLS.fetch_add(1, Ordering::SeqCst);
    if id == 0 { Err(ApiError::NotFound) } else { Err(ApiError::Down) }
}

#[cache_result(
    "fso_err_closure",
    cache_err = |e| matches!(e, ApiError::NotFound),
    err_ttl = "5s",
    stale_if_error = "1m",
    fail_throttle = "1s",
)]
fn by_closure(id: u64) -> Result<u64, ApiError> {
    Ok(id)
}

#[tokio::main]
async fn main() {
    assert_eq!(all(1).await, Some("1".into()));
    assert_eq!(all(0).await, None);
    assert_eq!(all(0).await, None);
    assert_eq!(CALLS.load(Ordering::SeqCst), 2, "None is cached");
    assert_eq!(throttled(3), Ok(3));
    assert_eq!(local(4).await, 4);
    assert_eq!(none_for_a_while(0), None);
    assert_eq!(none_not_cached(5), Some(5));
    let before = CALLS.load(Ordering::SeqCst);
    assert_eq!(by_path(0).await, Err(ApiError::NotFound));
    assert_eq!(by_path(0).await, Err(ApiError::NotFound));
    assert_eq!(by_path(1).await, Err(ApiError::Down));
    assert_eq!(by_path(1).await, Err(ApiError::Down));
    assert_eq!(CALLS.load(Ordering::SeqCst), before + 3, "NotFound is cached, Down is not");
    assert_eq!(by_closure(6), Ok(6));
    assert_eq!(by_path_entry(&0).peek(), Some(Err(ApiError::NotFound)));
}
