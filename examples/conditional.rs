//! Conditional caching: `unless = |v| ..` keeps some values out of the cache, and
//! `only_if_slower = "50ms"` stores only computations slower than that.
//!
//! `cargo run -p examples --example conditional`

use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

use cache_runtime::cache_result;

static SEARCHES: AtomicU32 = AtomicU32::new(0);
static QUERIES: AtomicU32 = AtomicU32::new(0);

/// An empty result is likely to change soon: do not cache it.
#[cache_result("search", ttl = "5m", unless = |hits| hits.is_empty())]
fn search(q: &str) -> Vec<String> {
    SEARCHES.fetch_add(1, Ordering::SeqCst);
    ["rust", "redis", "axum"]
        .into_iter()
        .filter(|w| w.starts_with(q))
        .map(str::to_owned)
        .collect()
}

/// Caching a fast query costs more than it saves: store only the slow ones.
#[cache_result("report", ttl = "5m", only_if_slower = "50ms")]
async fn report(rows: u64) -> u64 {
    QUERIES.fetch_add(1, Ordering::SeqCst);
    tokio::time::sleep(Duration::from_millis(rows)).await;
    rows * 2
}

#[tokio::main]
async fn main() {
    examples::init_logging();
    for q in ["zig", "zig", "ru", "ru"] {
        println!("search({q:?}) = {:?}", search(q));
    }
    println!(
        "searches run: {} (the empty one twice)",
        SEARCHES.load(Ordering::SeqCst)
    );
    for rows in [1, 1, 80, 80] {
        report(rows).await;
    }
    println!(
        "queries run: {} (the fast one twice)",
        QUERIES.load(Ordering::SeqCst)
    );
    let stats = cache_runtime::global().stats();
    println!(
        "not stored: {}",
        stats.cache("search").expect("cache seen").not_stored
    );
}
