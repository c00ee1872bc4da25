//! `capacity` (a size string or whole bytes) and `tti`, alone and together, async and
//! sync; both reach the runtime (the capacity in the cache's statistics, the tti expiring
//! an entry nobody reads).

use cache_runtime::cache_result;

#[cache_result("ct_both", ttl = "10m", tti = "5m", capacity = "16MiB")]
async fn both(id: u64) -> u64 {
    id
}

#[cache_result("ct_bytes_sync", capacity = 65536)]
fn in_bytes(id: u64) -> u64 {
    id
}

#[cache_result("ct_decimal", capacity = "10MB", tier = "local")]
async fn decimal(id: u64) -> u64 {
    id
}

#[cache_result("ct_idle_sync", ttl = 60, tti = "50ms")]
fn idle(id: u64) -> u64 {
    std::hint::black_box(id)
}

#[tokio::main(flavor = "current_thread")]
async fn main() {
    assert_eq!(both(1).await, 1);
    assert_eq!(in_bytes(2), 2);
    assert_eq!(decimal(3).await, 3);
    assert_eq!(idle(4), 4);
    let stats = cache_runtime::global().stats();
    assert_eq!(stats.cache("ct_both").map(|c| c.capacity_bytes), Some(16 << 20));
    assert_eq!(stats.cache("ct_bytes_sync").map(|c| c.capacity_bytes), Some(65536));
    assert_eq!(stats.cache("ct_decimal").map(|c| c.capacity_bytes), Some(10_000_000));
    std::thread::sleep(std::time::Duration::from_millis(120));
    assert_eq!(idle(4), 4);
    assert_eq!(stats.cache("ct_idle_sync").map(|c| c.misses), Some(1));
    let after = cache_runtime::global().stats();
    assert_eq!(after.cache("ct_idle_sync").map(|c| c.misses), Some(2), "idle: recomputed");
}
