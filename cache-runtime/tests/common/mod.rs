//! Macro-free drivers of the runtime entry points, as generated code calls them; with the
//! `redis` feature, `remote` drives runtimes that have a Redis tier. The `redis-server`
//! processes themselves come from the `test-support` crate.

#![allow(dead_code, unreachable_pub)]

#[cfg(feature = "redis")]
pub mod remote;

use std::future::Future;
use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering::SeqCst};

use cache_runtime::__private::{self as p, Adapter, CacheSite, Kind, Lookup, SiteSpec, kind::*};
use cache_runtime::CacheRuntime;

pub const fn spec(name: &'static str, ttl_ms: u64) -> SiteSpec {
    SiteSpec {
        name,
        location: name,
        ttl_ms,
        version: 0,
        stale_if_error_ms: 0,
        refresh_ahead: 0.0,
        max_bytes: 0,
        tier: p::Tier::Both,
        lock: false,
        max_concurrent: 0,
        only_if_slower_ms: 0,
        hard_timeout_ms: 0,
        soft_timeout_ms: 0,
        fail_throttle_ms: 0,
        local_ttl_ms: 0,
        short_ttl_ms: 0,
        disk: true,
        tti_ms: 0,
        capacity_bytes: 0,
    }
}

pub type Res = Result<String, String>;

// The borrows are the autoref dispatch generated code uses.
#[allow(clippy::needless_borrow)]
pub fn adapter() -> impl Adapter<Res> {
    (&&&&Kind::<Res>::new()).adapter()
}

/// An async cached call of `f` under key `k` in the global runtime.
pub async fn call<F, Fut>(site: &'static CacheSite, k: u64, f: F) -> Res
where
    F: FnOnce() -> Fut,
    Fut: Future<Output = Res>,
{
    match p::lookup(site, p::key(&(k,), &[]), adapter()) {
        Lookup::Hit(v) | Lookup::Refresh(v, _) => v,
        Lookup::Miss(t) => t.run_async(f).await,
    }
}

/// Like [`call`] with tags.
pub async fn call_tagged<F, Fut>(site: &'static CacheSite, k: u64, tags: &[&str], f: F) -> Res
where
    F: FnOnce() -> Fut,
    Fut: Future<Output = Res>,
{
    match p::lookup(site, p::key(&(k,), &[]), adapter()) {
        Lookup::Hit(v) | Lookup::Refresh(v, _) => v,
        Lookup::Miss(t) => {
            t.with_tags(tags.iter().map(p::tag).collect())
                .run_async(f)
                .await
        }
    }
}

/// A refresh-ahead call: `make` builds the (owned, 'static) computation.
pub async fn call_refreshing<M, F, Fut>(site: &'static CacheSite, k: u64, make: M) -> Res
where
    M: Fn() -> F,
    F: FnOnce() -> Fut + Send + 'static,
    Fut: Future<Output = Res> + Send + 'static,
{
    match p::lookup(site, p::key(&(k,), &[]), adapter()) {
        Lookup::Hit(v) => v,
        Lookup::Refresh(v, t) => {
            t.refresh_async(make());
            v
        }
        Lookup::Miss(t) => t.run_async(make()).await,
    }
}

/// A sync cached call.
pub fn call_sync(site: &'static CacheSite, k: u64, f: impl FnOnce() -> Res) -> Res {
    match p::lookup(site, p::key(&(k,), &[]), adapter()) {
        Lookup::Hit(v) | Lookup::Refresh(v, _) => v,
        Lookup::Miss(t) => t.run_sync(f),
    }
}

/// A cached call in a runtime other than the global one.
pub async fn call_in<F, Fut>(rt: &CacheRuntime, site: &'static CacheSite, k: u64, f: F) -> Res
where
    F: FnOnce() -> Fut,
    Fut: Future<Output = Res>,
{
    match p::lookup_in(rt, site, p::key(&(k,), &[]), adapter()) {
        Lookup::Hit(v) | Lookup::Refresh(v, _) => v,
        Lookup::Miss(t) => t.run_async(f).await,
    }
}

/// A body that counts its runs and answers `v{run}`.
pub fn counted(runs: &Arc<AtomicU32>) -> impl Future<Output = Res> + Send + 'static {
    let runs = Arc::clone(runs);
    async move { Ok(format!("v{}", runs.fetch_add(1, SeqCst) + 1)) }
}
