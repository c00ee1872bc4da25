//! Factory timeouts: `soft_timeout` answers with the fail-safe copy once a recomputation
//! has run that long (it finishes in the background and stores), `hard_timeout` stops
//! waiting and returns the function's `From<Timeout>` error when there is no copy.
//!
//! `cargo run -p examples --example timeouts`

use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use std::time::{Duration, Instant};

use cache_runtime::{Timeout, cache_result};

#[derive(Debug)]
enum ApiError {
    TooSlow,
}

impl From<Timeout> for ApiError {
    fn from(_: Timeout) -> Self {
        ApiError::TooSlow
    }
}

static SLOW: AtomicBool = AtomicBool::new(false);
static CALLS: AtomicU32 = AtomicU32::new(0);

async fn upstream(id: u64) -> String {
    let n = CALLS.fetch_add(1, Ordering::SeqCst) + 1;
    if SLOW.load(Ordering::SeqCst) {
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
    format!("rates {id}, upstream call {n}")
}

#[cache_result(
    "rates",
    ttl = "200ms",
    stale_if_error = "1h",
    soft_timeout = "50ms",
    hard_timeout = "2s"
)]
async fn rates(id: u64) -> Result<String, ApiError> {
    Ok(upstream(id).await)
}

#[cache_result("quote", hard_timeout = "100ms")]
async fn quote(id: u64) -> Result<String, ApiError> {
    Ok(upstream(id).await)
}

async fn timed<T: std::fmt::Debug>(label: &str, f: impl std::future::Future<Output = T>) {
    let began = Instant::now();
    let v = f.await;
    println!("{label}: {v:?} in {:?}", began.elapsed());
}

#[tokio::main]
async fn main() {
    examples::init_logging();
    timed("rates, cold", rates(1)).await;
    tokio::time::sleep(Duration::from_millis(250)).await;
    SLOW.store(true, Ordering::SeqCst);
    timed("rates, expired, upstream slow (the copy)", rates(1)).await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    timed("rates, stored by the background run", rates(1)).await;
    timed("quote, upstream slow, no copy", quote(1)).await;
    let stats = cache_runtime::global().stats();
    println!(
        "soft timeouts: {}, hard timeouts: {}",
        stats.cache("rates").expect("cache seen").soft_timeouts,
        stats.cache("quote").expect("cache seen").hard_timeouts
    );
}
