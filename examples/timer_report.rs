//! `#[performance_timer]`: latency percentiles, errors and slow-call warnings per name,
//! as JSON and as Prometheus text.
//!
//! `cargo run -p examples --example timer_report`

use std::time::Duration;

use cache_runtime::{cache_result, performance_timer};

#[performance_timer("db.load_user", slow = "20ms")]
async fn load_user(id: u64) -> Result<String, String> {
    tokio::time::sleep(Duration::from_millis(id % 30)).await;
    if id.is_multiple_of(10) {
        return Err(format!("user {id} not found"));
    }
    Ok(format!("user {id}"))
}

/// Timed outside the cache: the timer sees hits and misses alike.
#[performance_timer("api.profile")]
#[cache_result("profile", ttl = 60)]
async fn profile(id: u64) -> Result<String, String> {
    load_user(id).await.map(|u| format!("profile of {u}"))
}

#[performance_timer]
fn checksum(data: &[u8]) -> u64 {
    data.iter().map(|&b| u64::from(b)).sum()
}

#[tokio::main]
async fn main() {
    examples::init_logging();
    for id in 0..60 {
        let _ = profile(id % 20).await;
    }
    checksum(b"hello");
    let report = cache_runtime::timers();
    println!(
        "{}",
        serde_json::to_string_pretty(&report).expect("serializable")
    );
    println!("{}", cache_runtime::global().prometheus());
}
