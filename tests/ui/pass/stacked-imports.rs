//! An attribute imported by name and written only below the other one: its import still
//! counts as used (the outer macro expands it, so the compiler never resolves it).
#![deny(unused_imports)]

use cache_runtime::performance_timer;

#[cache_runtime::cache_result("pass_stacked_cache", ttl = 60)]
#[performance_timer("pass_stacked_timer")]
async fn cached_then_timed(id: u64) -> u64 {
    id + 1
}

#[tokio::main(flavor = "current_thread")]
async fn main() {
    assert_eq!(cached_then_timed(1).await, 2);
    assert_eq!(cached_then_timed(1).await, 2);
    let timers = cache_runtime::timers();
    let t = timers.iter().find(|t| t.name == "pass_stacked_timer").expect("timer");
    assert_eq!(t.count, 1, "below the cache, only the computation is timed");
}
