//! Fail-safe throttle: after a recomputation fails and the last good value is served
//! (`stale_if_error`), that value answers the key's calls for a while without calling the
//! failing upstream again (`fail_throttle`); then one call tries again.
//!
//! `cargo run -p examples --example fail_safe_throttle`

use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use std::time::Duration;

use cache_runtime::{Scope, cache_result};

static UPSTREAM_UP: AtomicBool = AtomicBool::new(true);
static UPSTREAM_CALLS: AtomicU32 = AtomicU32::new(0);

#[cache_result(
    "exchange_rate",
    ttl = "1s",
    stale_if_error = "1m",
    fail_throttle = "2s"
)]
async fn exchange_rate(pair: String) -> Result<f64, String> {
    UPSTREAM_CALLS.fetch_add(1, Ordering::SeqCst);
    if UPSTREAM_UP.load(Ordering::SeqCst) {
        Ok(if pair == "EURUSD" { 1.08 } else { 0.0 })
    } else {
        Err("upstream unavailable".into())
    }
}

async fn call(when: &str) {
    let (rate, outcomes) = Scope::observe().run(exchange_rate("EURUSD".into())).await;
    println!(
        "{when:>28}: {rate:?}  X-Cache: {:5}  upstream calls so far: {}",
        outcomes.x_cache(),
        UPSTREAM_CALLS.load(Ordering::SeqCst)
    );
}

#[tokio::main]
async fn main() {
    examples::init_logging();
    call("fresh").await;
    UPSTREAM_UP.store(false, Ordering::SeqCst);
    tokio::time::sleep(Duration::from_millis(1_200)).await; // past the TTL
    call("expired, upstream down").await;
    for _ in 0..3 {
        tokio::time::sleep(Duration::from_millis(300)).await;
        call("within the throttle").await;
    }
    tokio::time::sleep(Duration::from_millis(1_300)).await;
    call("after the throttle").await;
    UPSTREAM_UP.store(true, Ordering::SeqCst);
    tokio::time::sleep(Duration::from_millis(2_100)).await;
    call("upstream back, next retry").await;
    let stats = cache_runtime::global().stats();
    let c = stats.cache("exchange_rate").expect("used");
    println!(
        "stale served: {}, of which throttled (no upstream call): {}",
        c.stale_served, c.fail_throttled
    );
}
