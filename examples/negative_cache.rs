//! Negative caching with a TTL of its own: `cache_none = "500ms"` keeps a `None` (a user
//! not found) briefly, so a burst of lookups of a missing key costs one query, while a
//! found user (`Some`) is kept for the cache's `ttl`. `cache_err` does the same for the
//! errors it picks (`NotFound`), for `err_ttl`; other errors (`Unavailable`) are never
//! cached.
//!
//! `cargo run -p examples --example negative_cache`

use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

use cache_runtime::cache_result;
use serde::{Deserialize, Serialize};

static QUERIES: AtomicU32 = AtomicU32::new(0);

#[cache_result("user_by_email", ttl = "10m", cache_none = "500ms")]
async fn user_by_email(email: String) -> Option<u64> {
    QUERIES.fetch_add(1, Ordering::SeqCst);
    (email == "ann@example.com").then_some(7)
}

#[derive(Clone, Debug, Serialize, Deserialize)]
enum ProfileError {
    NotFound,
    Unavailable,
}

fn is_not_found(e: &ProfileError) -> bool {
    matches!(e, ProfileError::NotFound)
}

#[cache_result("profile", ttl = "10m", cache_err = is_not_found, err_ttl = "500ms")]
async fn profile(id: u64) -> Result<String, ProfileError> {
    QUERIES.fetch_add(1, Ordering::SeqCst);
    match id {
        7 => Ok("Ann".into()),
        8 => Err(ProfileError::NotFound),
        _ => Err(ProfileError::Unavailable),
    }
}

#[tokio::main]
async fn main() {
    examples::init_logging();
    let queries = || QUERIES.load(Ordering::SeqCst);
    for _ in 0..3 {
        user_by_email("ann@example.com".into()).await;
        user_by_email("bob@example.com".into()).await;
    }
    println!("three lookups of each address: {} queries", queries());
    tokio::time::sleep(Duration::from_millis(600)).await;
    println!(
        "after 600 ms, bob (the None expired): {:?}, ann (Some, 10m): {:?}; {} queries",
        user_by_email("bob@example.com".into()).await,
        user_by_email("ann@example.com".into()).await,
        queries()
    );
    QUERIES.store(0, Ordering::SeqCst);
    for id in [7, 8, 9, 7, 8, 9] {
        println!("profile({id}): {:?}", profile(id).await);
    }
    println!(
        "two calls of each: {} queries (Ok and NotFound cached, Unavailable never)",
        queries()
    );
}
