//! `span = false` on both attributes: no `tracing` span for a hot function, its figures
//! unchanged.

use cache_runtime::{cache_result, performance_timer, timers};

#[performance_timer("span_false_timer", span = false)]
fn hot(x: u64) -> u64 {
    x + 1
}

#[performance_timer("span_false_async", span = false)]
#[cache_result("span_false_cache", ttl = 60, span = false)]
async fn cached(x: u64) -> Result<u64, String> {
    Ok(x * 2)
}

#[cache_result("span_true_cache", ttl = 60, span = true)]
fn cached_sync(x: u64) -> u64 {
    x * 3
}

#[tokio::main(flavor = "current_thread")]
async fn main() {
    assert_eq!(hot(1), 2);
    assert_eq!(cached(2).await, Ok(4));
    assert_eq!(cached(2).await, Ok(4));
    assert_eq!(cached_sync(2), 6);
    let t = timers().into_iter().find(|t| t.name == "span_false_timer").unwrap();
    assert_eq!(t.count, 1);
}
