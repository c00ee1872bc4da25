//! `#[cache_invalidate(.., expire = true)]`: the entries, caches and tags named are
//! expired instead of dropped, so a failing recomputation still gets the last value
//! (with `stale_if_error`). On async and sync fns, with `before = true`, on a method.

use std::sync::atomic::{AtomicBool, Ordering};

use cache_runtime::{cache_invalidate, cache_result};

static DOWN: AtomicBool = AtomicBool::new(false);

fn source(id: u64) -> Result<String, String> {
    if DOWN.load(Ordering::SeqCst) {
        Err("down".into())
    } else {
        Ok(format!("price {id}"))
    }
}

#[cache_result("ui_expire_price", ttl = "10m", stale_if_error = "1h", tags = [format!("shop:{id}")])]
fn price(id: u64) -> Result<String, String> {
    source(id)
}

#[cache_result("ui_expire_stock", ttl = "10m", stale_if_error = "1h")]
async fn stock(id: u64) -> Result<String, String> {
    source(id)
}

#[cache_invalidate(price(id), expire = true)]
fn reprice(id: u64) -> Result<(), String> {
    let _ = id;
    Ok(())
}

#[cache_invalidate(stock(id), cache = "ui_expire_price", tags = [format!("shop:{id}")], expire = true)]
async fn restock(id: u64) -> Result<(), String> {
    let _ = id;
    Ok(())
}

#[cache_invalidate(price(id), before = true, expire = false)]
fn drop_price(id: u64) {
    let _ = id;
}

struct Shop;

impl Shop {
    #[cache_invalidate(stock(id), expire = true)]
    async fn recount(&self, id: u64) -> Option<()> {
        let _ = id;
        Some(())
    }
}

#[tokio::main(flavor = "current_thread")]
async fn main() {
    assert_eq!(price(1), Ok("price 1".into()));
    assert_eq!(stock(1).await, Ok("price 1".into()));
    reprice(1).expect("ok");
    restock(1).await.expect("ok");
    Shop.recount(1).await.expect("ok");
    DOWN.store(true, Ordering::SeqCst);
    // Expired, recomputed, failed: the expired values answer.
    assert_eq!(price(1), Ok("price 1".into()));
    assert_eq!(stock(1).await, Ok("price 1".into()));
    // `expire = false` (the default) drops: the error comes through.
    drop_price(1);
    assert_eq!(price(1), Err("down".into()));
}
