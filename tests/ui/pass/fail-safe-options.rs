//! `fail_throttle`, `local_ttl` and `cache_none = "30s"`, together and alone, async and
//! sync; without Redis `local_ttl` has no effect (one copy, which lives `ttl`).

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
}
