//! Drivers of the runtime entry points for runtimes with a Redis tier (other than the
//! global one), against the real `redis-server` of `test_support`.

use std::future::Future;
use std::sync::Arc;
use std::sync::atomic::AtomicU32;
use std::time::{Duration, Instant};

use cache_runtime::__private::{self as p, CacheSite, Lookup};
use cache_runtime::{CacheRuntime, CacheStats};

use test_support::RedisServer;

pub use super::{Res, adapter};

/// A runtime with Redis at `url`, a namespace of its own and a given deadline.
pub fn runtime(url: &str, namespace: &str) -> CacheRuntime {
    CacheRuntime::builder()
        .namespace(namespace)
        .redis(url)
        .redis_timeout(Duration::from_millis(50))
        .build()
}

/// A cached async call of `f` under key `k` in `rt`, with tags.
pub async fn call_tagged_in<F, Fut>(
    rt: &CacheRuntime,
    site: &'static CacheSite,
    k: u64,
    tags: &[&str],
    f: F,
) -> Res
where
    F: FnOnce() -> Fut,
    Fut: Future<Output = Res>,
{
    match p::lookup_in(rt, site, p::key(&(k,), &[]), adapter()) {
        Lookup::Hit(v) | Lookup::Refresh(v, _) => v,
        Lookup::Miss(t) => {
            t.with_tags(tags.iter().map(p::tag).collect())
                .run_async(f)
                .await
        }
    }
}

/// A cached sync call in `rt`.
pub fn call_sync_in(
    rt: &CacheRuntime,
    site: &'static CacheSite,
    k: u64,
    f: impl FnOnce() -> Res,
) -> Res {
    match p::lookup_in(rt, site, p::key(&(k,), &[]), adapter()) {
        Lookup::Hit(v) | Lookup::Refresh(v, _) => v,
        Lookup::Miss(t) => t.run_sync(f),
    }
}

/// Whether `k` is a fresh hit in `rt`'s in-process tier (a miss computes nothing: the
/// ticket is dropped).
pub fn l1_has(rt: &CacheRuntime, site: &'static CacheSite, k: u64) -> bool {
    matches!(
        p::lookup_in(rt, site, p::key(&(k,), &[]), adapter()),
        Lookup::Hit(_) | Lookup::Refresh(..)
    )
}

/// The figures of cache `name` in `rt` (zeros if it was never used).
pub fn stats_of(rt: &CacheRuntime, name: &str) -> CacheStats {
    rt.stats()
        .cache(name)
        .cloned()
        .unwrap_or_else(|| panic!("cache {name} has no stats"))
}

/// Polls `cond` every few milliseconds until it holds or `limit` passes.
pub async fn eventually(limit: Duration, mut cond: impl FnMut() -> bool) -> bool {
    let until = Instant::now() + limit;
    loop {
        if cond() {
            return true;
        }
        if Instant::now() >= until {
            return false;
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}

/// Waits until the runtime's connection to Redis is established (and the backplane, which
/// subscribes at the same time, has had a moment).
pub async fn connected(rt: &CacheRuntime) {
    let ok = eventually(Duration::from_secs(5), || {
        rt.stats().l2.is_some_and(|l2| l2.connected)
    })
    .await;
    assert!(ok, "runtime did not connect to redis");
    tokio::time::sleep(Duration::from_millis(100)).await;
}

/// The Redis key of key `(k,)` of cache `name` (version 0, `String` values).
pub fn redis_key(ns: &str, name: &str, k: u64) -> String {
    cache_runtime::CacheKey::new::<String, _>(ns, name, 0, &(k,))
        .expect("key")
        .to_string()
}

/// Waits until `key` holds something in Redis.
pub async fn written(server: &RedisServer, key: &str) {
    let ok = eventually(Duration::from_secs(2), || server.holds_value(key)).await;
    assert!(ok, "{key} was not written to redis");
}

/// Two runtimes (two instances) of namespace `ns` on `server`, both connected.
pub async fn connected_pair(server: &RedisServer, ns: &str) -> (CacheRuntime, CacheRuntime) {
    let (a, b) = (runtime(&server.url(), ns), runtime(&server.url(), ns));
    connected(&a).await;
    connected(&b).await;
    (a, b)
}

/// Instances `a` and `b` of namespace `ns`, both holding key `k` of `site` (computed by
/// `a`, read from Redis by `b`).
pub async fn two_holding(
    server: &RedisServer,
    ns: &str,
    site: &'static CacheSite,
    name: &str,
    k: u64,
    runs: &Arc<AtomicU32>,
) -> (CacheRuntime, CacheRuntime) {
    let (a, b) = (runtime(&server.url(), ns), runtime(&server.url(), ns));
    connected(&a).await;
    connected(&b).await;
    super::call_in(&a, site, k, || super::counted(runs))
        .await
        .expect("computed");
    written(server, &redis_key(ns, name, k)).await;
    super::call_in(&b, site, k, || super::counted(runs))
        .await
        .expect("read");
    assert_eq!(stats_of(&b, name).l2.hits, 1);
    assert!(l1_has(&a, site, k) && l1_has(&b, site, k));
    (a, b)
}
