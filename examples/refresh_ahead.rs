//! Refresh-ahead: after 80% of the TTL, a hit returns the cached value at once and
//! refreshes the entry in the background, so callers never wait for a recomputation.
//!
//! `cargo run -p examples --example refresh_ahead`

use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

use cache_runtime::cache_result;

static VERSION: AtomicU32 = AtomicU32::new(0);

#[cache_result("dashboard", ttl = "2s", refresh_ahead = 0.8)]
async fn dashboard(team: String) -> String {
    tokio::time::sleep(Duration::from_millis(300)).await; // an expensive aggregation
    format!(
        "{team} dashboard v{}",
        VERSION.fetch_add(1, Ordering::SeqCst) + 1
    )
}

#[tokio::main]
async fn main() {
    examples::init_logging();
    let start = Instant::now();
    for _ in 0..12 {
        let t = Instant::now();
        let d = dashboard("core".into()).await;
        println!(
            "{:>5} ms: {d} (took {} ms)",
            start.elapsed().as_millis(),
            t.elapsed().as_millis()
        );
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    let stats = cache_runtime::global().stats();
    let c = stats.cache("dashboard").expect("used above");
    println!("background refreshes: {}, hits: {}", c.refreshes, c.hits);
}
