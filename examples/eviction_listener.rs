//! Eviction events: `on_evict` hears every entry that leaves the in-process tier with its
//! cache, its key and why (replaced, invalidated, expired, idle, evicted for room), on
//! the thread that caused it; `evictions(n)` hands the same events to an async task
//! through a bounded queue that never holds the cache up (a full queue drops the event
//! and counts it). An expired or idle entry is reported when its recomputation replaces
//! it or it is evicted: the map has no timers.
//!
//! `cargo run -p examples --example eviction_listener`

use std::time::Duration;

use cache_runtime::{CacheRuntime, Scope, cache_result};

#[cache_result("rates", ttl = "200ms")]
async fn rate(currency: &str) -> f64 {
    if currency == "EUR" { 1.08 } else { 1.0 }
}

#[cache_result("sessions", ttl = "10m", tti = "300ms")]
async fn session(user: u64) -> String {
    format!("session of {user}")
}

#[tokio::main]
async fn main() {
    examples::init_logging();
    let (builder, mut events) = CacheRuntime::builder()
        .on_evict(|e| println!("  on_evict: {} {} ({})", e.cache, e.key, e.cause))
        .evictions(1024);
    let rt = builder
        .install()
        .expect("the first runtime of this program");
    let task = tokio::spawn(async move {
        let mut n = 0;
        while let Some(e) = events.recv().await {
            n += 1;
            println!("  queue #{n}: {} {} ({})", e.cache, e.key, e.cause);
        }
    });

    println!("replaced (a refresh over a live entry):");
    rate("EUR").await;
    Scope::refresh().run(rate("EUR")).await;

    println!("expired (recomputed past its 200 ms ttl):");
    tokio::time::sleep(Duration::from_millis(300)).await;
    rate("EUR").await;

    println!("idle (not read for its 300 ms tti):");
    session(7).await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    session(7).await;

    println!("invalidated:");
    rt.invalidate("sessions", &(7u64,));

    tokio::time::sleep(Duration::from_millis(50)).await;
    let dropped: u64 = rt
        .stats()
        .caches
        .iter()
        .map(|c| c.eviction_events_dropped)
        .sum();
    println!("events the queue had no room for: {dropped}");
    task.abort();
}
