//! Every option of `#[cache_result]` at once, and each alone.

use std::sync::atomic::{AtomicUsize, Ordering};

use cache_runtime::cache_result;
use serde::Serialize;

static CALLS: AtomicUsize = AtomicUsize::new(0);

#[derive(Clone)]
struct Db;

#[derive(Serialize)]
struct Filter {
    name: String,
}

#[cache_result(
    "options_all",
    ttl = "10m",
    version = 3,
    stale_if_error = "1h",
    refresh_ahead = 0.75,
    skip(db),
    tags = ["users", format!("user:{id}")],
    max_bytes = 65536,
    cache_none = true,
    tier = "both",
    lock = true,
)]
async fn all(id: u64, db: Db) -> Option<String> {
    let _ = db;
    CALLS.fetch_add(1, Ordering::SeqCst);
    (id > 0).then(|| id.to_string())
}

#[cache_result("options_key", key = filter.name.to_lowercase())]
fn by_key(filter: Filter, attempt: u32) -> String {
    let _ = attempt;
    CALLS.fetch_add(1, Ordering::SeqCst);
    filter.name
}

#[cache_result("options_skip", skip(db, attempt), ttl = 300)]
fn skipping(id: u64, db: Db, attempt: u32) -> u64 {
    let _ = (db, attempt);
    id
}

#[cache_result("options_ms", ttl = "250ms", stale_if_error = 30)]
fn short(id: u64) -> u64 {
    id
}

#[cache_result("options_days", ttl = "1d", version = 0)]
fn long(id: u64) -> u64 {
    id
}

#[cache_result("options_tags_only", tags = ["a", format!("id:{id}")])]
fn tagged(id: u64) -> u64 {
    id
}

// Without a remote tier (no `redis` feature, or no Redis configured) `tier` and `lock`
// have no effect: these are in-process caches like any other.
#[cache_result("options_tier_local", tier = "local")]
fn local_only(id: u64) -> u64 {
    id
}

#[cache_result("options_tier_remote", tier = "remote", lock = false)]
async fn remote_only(id: u64) -> u64 {
    CALLS.fetch_add(1, Ordering::SeqCst);
    id
}

#[tokio::main]
async fn main() {
    assert_eq!(all(1, Db).await, Some("1".into()));
    assert_eq!(all(1, Db).await, Some("1".into()));
    assert_eq!(all(0, Db).await, None);
    assert_eq!(all(0, Db).await, None);
    assert_eq!(CALLS.load(Ordering::SeqCst), 2);

    assert_eq!(by_key(Filter { name: "Ann".into() }, 1), "Ann");
    // Same key (`ann`), other argument differs: a hit.
    assert_eq!(by_key(Filter { name: "ANN".into() }, 2), "Ann");
    assert_eq!(CALLS.load(Ordering::SeqCst), 3);

    assert_eq!(skipping(1, Db, 1), 1);
    assert_eq!(short(2), 2);
    assert_eq!(long(3), 3);
    assert_eq!(tagged(4), 4);
    assert_eq!(local_only(5), 5);
    let before = CALLS.load(Ordering::SeqCst);
    assert_eq!(remote_only(6).await, 6);
    assert_eq!(remote_only(6).await, 6);
    assert_eq!(CALLS.load(Ordering::SeqCst), before + 1);
}
