//! `ttl_from = |v| ..`: each entry's TTL comes from its value (here an upstream token's
//! expiry), bounded by `ttl` when both are given.
//!
//! `cargo run -p examples --example ttl_from`

use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

use cache_runtime::cache_result;

#[derive(Clone, Debug, serde::Serialize, serde::Deserialize)]
struct Token {
    value: String,
    expires_in: Duration,
}

static ISSUED: AtomicU32 = AtomicU32::new(0);

#[cache_result("token", ttl = "1h", ttl_from = |t| t.expires_in.saturating_sub(Duration::from_millis(50)))]
async fn token(scope: &str) -> Result<Token, String> {
    let n = ISSUED.fetch_add(1, Ordering::SeqCst) + 1;
    Ok(Token {
        value: format!("{scope}-token-{n}"),
        // The upstream says how long its token lives.
        expires_in: Duration::from_millis(if scope == "short" { 150 } else { 60_000 }),
    })
}

#[tokio::main]
async fn main() {
    examples::init_logging();
    println!(
        "{}",
        token("short").await.expect("the body returns Ok").value
    );
    println!(
        "{}",
        token("long").await.expect("the body returns Ok").value
    );
    tokio::time::sleep(Duration::from_millis(200)).await;
    println!(
        "after 200 ms: {} (renewed)",
        token("short").await.expect("the body returns Ok").value
    );
    println!(
        "after 200 ms: {} (still cached)",
        token("long").await.expect("the body returns Ok").value
    );
}
