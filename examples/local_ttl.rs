//! `local_ttl`: the in-process copy lives a short while (here 1 s), the Redis copy the
//! whole `ttl` (here 5 s). Past `local_ttl` a call reads Redis instead of computing, which
//! bounds how long an instance serves its own copy even when it missed an invalidation.
//! Without Redis `local_ttl` has no effect: the one copy lives `ttl`.
//!
//! `REDIS_URL=redis://127.0.0.1:6379 cargo run -p examples --features redis --example local_ttl`

use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

use cache_runtime::{CacheRuntime, Readiness, Scope, cache_result};

static COMPUTED: AtomicU32 = AtomicU32::new(0);

#[cache_result("price", ttl = "5s", local_ttl = "1s")]
async fn price(sku: u64) -> u64 {
    COMPUTED.fetch_add(1, Ordering::SeqCst);
    sku * 100
}

async fn call(when: &str) {
    let (value, outcomes) = Scope::observe().run(price(3)).await;
    let stats = cache_runtime::global().stats();
    let read_from_redis = stats.cache("price").map_or(0, |c| c.l2.hits);
    println!(
        "{when:>22}: {value}  X-Cache: {}  computed: {}  read from redis: {read_from_redis}",
        outcomes.x_cache(),
        COMPUTED.load(Ordering::SeqCst),
    );
}

#[tokio::main]
async fn main() {
    examples::init_logging();
    let url = std::env::var("REDIS_URL").unwrap_or_else(|_| "redis://127.0.0.1:6379".into());
    CacheRuntime::builder()
        .namespace("example_local_ttl")
        .redis(url.as_str())
        .install()
        .expect("the first runtime of this process");
    if cache_runtime::global().ready(Duration::from_secs(2)).await != Readiness::Connected {
        println!("no Redis at {url}: local_ttl has no effect without it (the copy lives ttl)");
    }
    call("first call").await;
    call("at once").await;
    tokio::time::sleep(Duration::from_millis(1_200)).await;
    call("past local_ttl").await;
    tokio::time::sleep(Duration::from_millis(4_000)).await;
    call("past ttl").await;
}
