//! `#[cache_result]` and `#[performance_timer]` on one function, in both orders. The
//! attribute written first wraps the other.

use cache_runtime::{cache_result, performance_timer, timers};

#[performance_timer("combined_timer_first")]
#[cache_result("combined_cache_inner", ttl = "5m")]
async fn timer_first(id: u64) -> Result<u64, String> {
    Ok(id + 1)
}

#[cache_result("combined_cache_outer", ttl = "5m")]
#[performance_timer("combined_timer_inner", slow = "1s")]
async fn cache_first(id: u64) -> Result<u64, String> {
    Ok(id + 2)
}

#[performance_timer]
#[cache_result("combined_sync", refresh_ahead = 0.5)]
fn sync_both(id: u64) -> u64 {
    id * 3
}

struct Repo;

impl Repo {
    #[cache_result("combined_method", ttl = "5m")]
    #[performance_timer]
    async fn find(&self, id: u64) -> Option<u64> {
        Some(id)
    }
}

fn count(name: &str) -> u64 {
    timers()
        .into_iter()
        .find(|t| t.name == name)
        .map_or(0, |t| t.count)
}

#[tokio::main]
async fn main() {
    for _ in 0..3 {
        assert_eq!(timer_first(1).await, Ok(2));
        assert_eq!(cache_first(1).await, Ok(3));
        assert_eq!(sync_both(1), 3);
        assert_eq!(Repo.find(4).await, Some(4));
    }
    // The timer written first wraps the cache: every call is timed, hits included.
    assert_eq!(count("combined_timer_first"), 3);
    // The timer written second runs inside the cache: only the miss is timed.
    assert_eq!(count("combined_timer_inner"), 1);
    assert_eq!(count(concat!(module_path!(), "::", "sync_both")), 3);
    assert_eq!(count(concat!(module_path!(), "::", "find")), 1);
}
