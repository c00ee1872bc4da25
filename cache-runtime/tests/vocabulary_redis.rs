//! The typed entry handle and `#[cache_put]` / `#[cache_invalidate]` with the remote tier,
//! against a real redis-server: a put reaches Redis (another instance reads it), an
//! invalidation removes it there. The global runtime is this test's first instance.

#![cfg(feature = "redis")]

mod common;

use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering::SeqCst};
use std::time::Duration;

use cache_runtime::__private::CacheSite;
use cache_runtime::{CacheRuntime, cache_invalidate, cache_put, cache_result, global};
use common::remote::*;
use common::{call_in, counted, spec};
use test_support::RedisServer;

static PROFILE_RUNS: AtomicU32 = AtomicU32::new(0);

#[cache_result("voc_l2_profile", ttl = 60)]
async fn profile(id: u64) -> Result<String, String> {
    PROFILE_RUNS.fetch_add(1, SeqCst);
    Ok(format!("profile {id}"))
}

#[cache_put(profile(id))]
async fn rename(id: u64, name: String) -> Result<String, String> {
    Ok(name)
}

#[cache_invalidate(profile(id))]
async fn delete(id: u64) -> Result<(), String> {
    let _ = id;
    Ok(())
}

/// The same cache as `profile`, as another instance's call site sees it.
static OTHER: CacheSite = CacheSite::new(spec("voc_l2_profile", 60_000));

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_put_reaches_redis_and_an_invalidation_removes_it_there() {
    let server = RedisServer::start();
    let ns = "vocab";
    let first = CacheRuntime::builder()
        .namespace(ns)
        .redis(server.url())
        .redis_timeout(Duration::from_millis(50))
        .install()
        .expect("the global runtime of this test");
    connected(first).await;
    let other = runtime(&server.url(), ns);
    connected(&other).await;
    let key = redis_key(ns, "voc_l2_profile", 7);

    // The write path stores its result: in process, in Redis, for every instance.
    assert_eq!(rename(7, "Ada".into()).await.expect("ok"), "Ada");
    written(&server, &key).await;
    assert_eq!(profile(7).await.expect("ok"), "Ada", "local hit");
    let runs = Arc::new(AtomicU32::new(0));
    assert_eq!(
        call_in(&other, &OTHER, 7, || counted(&runs))
            .await
            .expect("ok"),
        "Ada",
        "the other instance reads the put value from Redis"
    );
    assert_eq!(runs.load(SeqCst), 0);
    assert_eq!(PROFILE_RUNS.load(SeqCst), 0, "nothing was computed");
    assert_eq!(stats_of(&other, "voc_l2_profile").l2.hits, 1);

    // An invalidation removes it from Redis and from the other instance's memory.
    delete(7).await.expect("ok");
    assert!(
        first.flush(Duration::from_secs(5)).await.is_complete(),
        "landed"
    );
    assert!(!server.holds_value(&key), "deleted in redis");
    assert!(
        eventually(Duration::from_secs(2), || !l1_has(&other, &OTHER, 7)).await,
        "the other instance dropped its copy (backplane)"
    );
    assert_eq!(
        profile(7).await.expect("ok"),
        "profile 7",
        "recomputed here"
    );
    assert_eq!(PROFILE_RUNS.load(SeqCst), 1);

    // A sync put (no remote write) removes the stale copy from Redis instead.
    assert!(
        first.flush(Duration::from_secs(5)).await.is_complete(),
        "landed"
    );
    assert!(
        server.holds_value(&key),
        "the recomputed value was written to redis"
    );
    profile_entry(&7).put("Grace".into());
    let gone = eventually(Duration::from_secs(2), || !server.holds_value(&key)).await;
    assert!(gone, "the old copy was dropped from redis");
    assert_eq!(profile(7).await.expect("ok"), "Grace");
    let _ = global();
}
