//! The 30-second tour: cache an async function's `Ok` results, see hits in the stats.
//!
//! `cargo run -p examples --example basic`

use std::time::{Duration, Instant};

use cache_runtime::cache_result;
use serde::{Deserialize, Serialize};

#[derive(Clone, Debug, Serialize, Deserialize)]
struct Summary {
    channel_id: i64,
    views: u64,
}

#[derive(Debug)]
#[allow(dead_code)] // read through Debug
struct DbError(String);

/// Pretends to be a slow database query.
#[cache_result("channel_summary", ttl = "3m")]
async fn channel_summary(channel_id: i64) -> Result<Summary, DbError> {
    tokio::time::sleep(Duration::from_millis(200)).await;
    if channel_id < 0 {
        return Err(DbError(format!("no channel {channel_id}")));
    }
    Ok(Summary {
        channel_id,
        views: channel_id as u64 * 1_000,
    })
}

#[tokio::main]
async fn main() {
    examples::init_logging();
    for attempt in 1..=3 {
        let t = Instant::now();
        let s = channel_summary(42).await;
        println!("call {attempt}: {s:?} in {:?}", t.elapsed());
    }
    // Errors are returned, never cached: both calls run the body.
    for _ in 0..2 {
        println!("{:?}", channel_summary(-1).await);
    }
    let stats = cache_runtime::global().stats();
    let c = stats.cache("channel_summary").expect("used above");
    println!(
        "hits {} misses {} errors not cached {} hit ratio {:.2}",
        c.hits, c.misses, c.errors_not_cached, c.hit_ratio
    );
}
