//! Per-cache capacity: `capacity = "256KiB"` gives a cache a byte budget of its own, so a
//! busy cache evicts among its own entries and cannot push the others out of the shared
//! `max_bytes`; `CacheRuntimeBuilder::cache_capacity` sets (and overrides) it at start-up.
//!
//! `cargo run -p examples --example per_cache_capacity`

use cache_runtime::{CacheRuntime, cache_result};

/// A busy cache of many keys, bounded to 256 KiB.
#[cache_result("thumbnails", ttl = "10m", capacity = "256KiB")]
async fn thumbnail(id: u64) -> String {
    format!("thumbnail {id:0>200}")
}

/// A small cache that matters: it shares the runtime's budget.
#[cache_result("users", ttl = "10m")]
async fn user(id: u64) -> String {
    format!("user {id}")
}

#[tokio::main]
async fn main() {
    examples::init_logging();
    let rt = CacheRuntime::builder()
        .max_bytes(4 << 20)
        // The operator's word beats the attribute: 512 KiB instead of 256.
        .cache_capacity("thumbnails", 512 << 10)
        .install()
        .expect("the first runtime of this program");
    for id in 0..100 {
        user(id).await;
    }
    // Thousands of thumbnails, many times what fits in their budget.
    for id in 0..20_000 {
        thumbnail(id).await;
    }
    for c in &rt.stats().caches {
        println!(
            "{:<10} {:>5} entries, {:>7} bytes of {:>7} (0: shared), {:>6} evictions",
            c.name, c.entries, c.bytes, c.capacity_bytes, c.evictions
        );
    }
    let users = rt.stats();
    let users = users.cache("users").expect("users ran");
    assert_eq!(
        users.evictions, 0,
        "the busy cache evicted none of the users"
    );
}
