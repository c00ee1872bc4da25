//! Negative caching with a TTL of its own: `cache_none = "500ms"` keeps a `None` (a user
//! not found) briefly, so a burst of lookups of a missing key costs one query, while a
//! found user (`Some`) is kept for the cache's `ttl`.
//!
//! `cargo run -p examples --example negative_cache`

use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

use cache_runtime::cache_result;

static QUERIES: AtomicU32 = AtomicU32::new(0);

#[cache_result("user_by_email", ttl = "10m", cache_none = "500ms")]
async fn user_by_email(email: String) -> Option<u64> {
    QUERIES.fetch_add(1, Ordering::SeqCst);
    (email == "ann@example.com").then_some(7)
}

#[tokio::main]
async fn main() {
    examples::init_logging();
    let queries = || QUERIES.load(Ordering::SeqCst);
    for _ in 0..3 {
        user_by_email("ann@example.com".into()).await;
        user_by_email("bob@example.com".into()).await;
    }
    println!("three lookups of each address: {} queries", queries());
    tokio::time::sleep(Duration::from_millis(600)).await;
    println!(
        "after 600 ms, bob (the None expired): {:?}, ann (Some, 10m): {:?}; {} queries",
        user_by_email("bob@example.com".into()).await,
        user_by_email("ann@example.com".into()).await,
        queries()
    );
}
