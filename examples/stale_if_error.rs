//! Fail-safe: when a recomputation after expiry fails, the last good value is served for a
//! while (`stale_if_error`), so a flaky upstream does not take the endpoint down.
//!
//! `cargo run -p examples --example stale_if_error`

use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use cache_runtime::{Scope, cache_result};

static UPSTREAM_UP: AtomicBool = AtomicBool::new(true);

#[cache_result("exchange_rate", ttl = "1s", stale_if_error = "1m")]
async fn exchange_rate(pair: &str) -> Result<f64, String> {
    if UPSTREAM_UP.load(Ordering::SeqCst) {
        Ok(if pair == "EURUSD" { 1.08 } else { 0.0 })
    } else {
        Err("upstream unavailable".into())
    }
}

#[tokio::main]
async fn main() {
    examples::init_logging();
    println!("fresh: {:?}", exchange_rate("EURUSD").await);
    UPSTREAM_UP.store(false, Ordering::SeqCst);
    tokio::time::sleep(Duration::from_millis(1_200)).await; // past the TTL
    let (rate, outcomes) = Scope::observe().run(exchange_rate("EURUSD")).await;
    println!(
        "upstream down, expired entry: {rate:?} (X-Cache: {})",
        outcomes.x_cache()
    );
    println!("never cached pair: {:?}", exchange_rate("GBPJPY").await);
    let c = cache_runtime::global().stats();
    println!(
        "stale served: {}",
        c.cache("exchange_rate").map_or(0, |c| c.stale_served)
    );
}
