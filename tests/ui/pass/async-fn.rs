//! A free async fn: the body runs once per key, later calls are hits.

use std::sync::atomic::{AtomicUsize, Ordering};

use cache_runtime::cache_result;

static CALLS: AtomicUsize = AtomicUsize::new(0);

#[cache_result("square", ttl = "5m")]
async fn square(x: u64) -> u64 {
    CALLS.fetch_add(1, Ordering::SeqCst);
    x * x
}

#[cache_result("answer", ttl = 60)]
async fn answer() -> String {
    String::from("42")
}

#[tokio::main]
async fn main() {
    assert_eq!(square(3).await, 9);
    assert_eq!(square(3).await, 9);
    assert_eq!(square(4).await, 16);
    assert_eq!(CALLS.load(Ordering::SeqCst), 2);
    assert_eq!(answer().await, "42");
}
