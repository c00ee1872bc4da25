//! Soft invalidation: `expire` ends an entry's freshness but keeps it as the fail-safe
//! copy, so after a data change the next call recomputes, and if the source is down at
//! that moment it still gets the last value (with `stale_if_error`), where `invalidate`
//! would pass the error on. By key, by cache, by tag, and as
//! `#[cache_invalidate(.., expire = true)]`.
//!
//! `cargo run -p examples --example expire`

use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};

use cache_runtime::{Scope, cache_invalidate, cache_result, global};

static UPSTREAM_UP: AtomicBool = AtomicBool::new(true);
static VERSION: AtomicU32 = AtomicU32::new(1);

#[cache_result("product", ttl = "10m", stale_if_error = "1h", tags = [format!("shop:{shop}")])]
async fn product(shop: u32, id: u32) -> Result<String, String> {
    if UPSTREAM_UP.load(Ordering::SeqCst) {
        let v = VERSION.load(Ordering::SeqCst);
        Ok(format!("product {id} of shop {shop}, catalogue v{v}"))
    } else {
        Err("catalogue service unavailable".into())
    }
}

/// A catalogue import: every product of the shop is stale from now on, but if the
/// catalogue service fails while they are recomputed, the old ones still answer.
#[cache_invalidate(tags = [format!("shop:{shop}")], expire = true)]
async fn import(shop: u32) -> Result<(), String> {
    VERSION.fetch_add(1, Ordering::SeqCst);
    Ok(())
}

#[tokio::main]
async fn main() {
    examples::init_logging();
    let rt = global();
    println!("fresh:        {:?}", product(1, 7).await);

    // By key: the next call recomputes (the source is up: the new value).
    VERSION.store(2, Ordering::SeqCst);
    rt.expire("product", &(1u32, 7u32));
    println!("after expire: {:?}", product(1, 7).await);

    // The source goes down, then the data changes: the expired value answers.
    UPSTREAM_UP.store(false, Ordering::SeqCst);
    import(1).await.expect("imported");
    let (p, outcomes) = Scope::observe().run(product(1, 7)).await;
    println!("source down:  {p:?} (X-Cache: {})", outcomes.x_cache());

    // `invalidate` in the same situation removes the copy: the error comes through.
    rt.invalidate("product", &(1u32, 7u32));
    println!("invalidated:  {:?}", product(1, 7).await);

    // `expire_all` for a whole cache.
    UPSTREAM_UP.store(true, Ordering::SeqCst);
    product(2, 8).await.expect("computed");
    rt.expire_all("product");
    UPSTREAM_UP.store(false, Ordering::SeqCst);
    println!("expire_all:   {:?}", product(2, 8).await);

    let s = rt.stats();
    let c = s.cache("product").expect("used");
    println!(
        "expirations: {}, stale served: {}",
        c.expirations, c.stale_served
    );
}
