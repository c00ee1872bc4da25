//! Caching and timing for the functions behind web services.
//!
//! Annotate a function and its results are cached in process, keyed by its arguments;
//! annotate it again and every call's latency is recorded under a name:
//!
//! ```
//! # #[derive(Clone, serde::Serialize, serde::Deserialize)] pub struct Summary { views: u64 }
//! # #[derive(Debug)] pub struct DbError;
//! use cache_runtime::{cache_result, performance_timer};
//!
//! #[performance_timer("analytics_metrics_retrieval", slow = "250ms")]
//! #[cache_result("analytics_summary", ttl = 180)]
//! async fn channel_summary(channel_id: i64, period: String) -> Result<Summary, DbError> {
//!     Ok(Summary { views: channel_id as u64 * 10 })
//! }
//! # #[tokio::main(flavor = "current_thread")] async fn main() {
//! assert_eq!(channel_summary(4, "7d".into()).await.unwrap().views, 40); // computed
//! assert_eq!(channel_summary(4, "7d".into()).await.unwrap().views, 40); // cached
//! let stats = cache_runtime::global().stats();
//! assert_eq!(stats.cache("analytics_summary").unwrap().hits, 1);
//! # }
//! ```
//!
//! # How a call flows
//!
//! The macros parse and validate at compile time and expand into a thin call of this
//! crate; everything that happens at run time lives here, and the order of it in one
//! module, `cache/` (read `cache/mod.rs` first):
//!
//! 1. **Site** (`cache/site.rs`). Each annotated function owns a static description of its
//!    cache (name, TTL, options), resolved once against the runtime: its policy after
//!    overrides, its tiers.
//! 2. **Key** (`key/`). The key inputs (the arguments, minus `self`, `skip(...)`ped ones
//!    and axum `State`/`Extension` extractors; or the value of `key = ...`) are encoded
//!    into a compact canonical byte string on the stack, plus the concrete types of a
//!    generic function's type parameters. The 256-bit blake3 [`CacheKey`] is only computed
//!    for tiers outside the process.
//! 3. **Local tier** (`cache/lookup.rs`, `tier/local.rs`). One byte-bounded
//!    [quick_cache](https://docs.rs/quick_cache) for all caches (S3-FIFO eviction; default
//!    64 MiB), holding decoded values, so a hit is a lookup, a validity check, a deadline
//!    check against a coarse clock and a clone: no decoding, allocation or hashing beyond
//!    foldhash.
//! 4. **Single-flight** (`cache/fill.rs`, `cache/flight.rs`). Concurrent misses of one key
//!    run the body once; the others wait for its value. It is cancellation-safe (a dropped
//!    leader hands over to a waiter) and panic-safe (a panicking body panics every waiter,
//!    with its message, instead of hanging them). A computation that began before an
//!    invalidation is never joined by a call that begins after it.
//! 5. **Remote tier** (`cache/fetch.rs`, `tier/remote/`, feature `redis`). The leader reads
//!    Redis before computing; see [Two tiers](#two-tiers-feature-redis).
//! 6. **Store** (`cache/fill.rs`). `Ok`/`Some`/plain values are stored with their TTL;
//!    `Err` and `None` are never stored (decided by type, see [`CacheValue`]); a value
//!    whose computation an invalidation overtook is not stored.
//!
//! An invalidation (`cache/invalidate.rs`) goes through the same layers in the same
//! order: invalidation state (epochs, generations) -> local tier -> remote tier ->
//! announcement to the other instances; what an announcement from another instance does
//! is written there too.
//!
//! # Policies
//!
//! - `stale_if_error = "10m"`: when the recomputation after expiry fails, the last good
//!   value is served for up to that long (counted as `stale_served`).
//! - `refresh_ahead = 0.8`: a hit after 80% of the TTL returns the cached value and
//!   refreshes it in the background, once per entry.
//! - `tags = [...]`: group invalidation with [`CacheRuntime::invalidate_tag`].
//! - `max_bytes = N`: larger values are returned but not cached.
//! - Runtime overrides by cache name ([`CacheRuntimeBuilder::cache_ttl`],
//!   [`CacheRuntimeBuilder::disable_cache`]) and per-call [`Scope`]s.
//!
//! # Writes: entries, `#[cache_invalidate]`, `#[cache_put]`
//!
//! `#[cache_result]` generates beside each function a companion `<fn>_entry(&key args)`
//! returning a [`CacheEntry<V>`](CacheEntry): the entry of those arguments, with the key
//! computed as the call computes it (`cache/entry.rs`). `invalidate()` goes through the
//! same fan-out as [`CacheRuntime::invalidate`]; `put(v)` first drops the key (so a
//! computation already running does not store over it), then stores `v` in process and
//! drops the Redis copy; `put_async(v)` writes Redis too; `peek()` reads the local tier
//! only. `#[cache_invalidate(f(a), cache = "..", tags = [..])]` and `#[cache_put(f(a))]`
//! call them from mutating functions when those succeed.
//!
//! ```
//! use cache_runtime::{cache_invalidate, cache_put, cache_result};
//!
//! #[cache_result("doc_names", ttl = 60)]
//! fn name(id: u64) -> String {
//!     format!("user {id}")
//! }
//!
//! #[cache_put(name(id))]
//! fn rename(id: u64, new: &str) -> String {
//!     new.to_owned()
//! }
//!
//! #[cache_invalidate(name(id))]
//! fn forget(id: u64) {
//!     let _ = id;
//! }
//!
//! assert_eq!(name(1), "user 1");
//! rename(1, "Ada");
//! assert_eq!(name(1), "Ada", "the put is what the next read serves");
//! assert_eq!(name_entry(&1).peek().as_deref(), Some("Ada"));
//! forget(1);
//! assert_eq!(name_entry(&1).peek(), None);
//! assert_eq!(name(1), "user 1", "recomputed after the invalidation");
//! ```
//!
//! On the store path only (never on a hit): `unless` and `only_if_slower` may refuse a
//! computed value, `ttl_from` gives its TTL; `hard_timeout` bounds the wait for an async
//! body, `soft_timeout` answers with the fail-safe copy while the body finishes as a task.
//!
//! # Invalidation and consistency
//!
//! [`CacheRuntime::invalidate`], [`invalidate_all`](CacheRuntime::invalidate_all) and
//! [`invalidate_tag`](CacheRuntime::invalidate_tag) take effect before they return: a call
//! that begins afterwards never receives a value computed before, not from the local tier,
//! not by joining a computation already in progress, and not from Redis on this instance.
//! A call that joined a computation before the invalidation may still receive its value. A
//! computation that began before an invalidation never stores its result after it.
//!
//! # Trends and bottlenecks
//!
//! [`performance_snapshot`] gives the last hour of every timer and cache per minute, the
//! [`Trends`] (last 5 minutes against the 30 before: regressed, improved or steady) and the
//! ranked [`Bottleneck`]s, each naming the timed calls made inside it and the cache in front
//! of it. The windows are differences of one snapshot a minute of the cumulative figures
//! (`timer/window.rs`), so the call path pays nothing for them; nesting costs a
//! thread-local swap per timed call (`timer/nest.rs`).
//!
//! # Features
//!
//! - `axum`: `Json<T>` and `Result<Json<T>, E>` return types cache `T`; [`CachedJson`]
//!   caches the serialized response body itself, so a hit skips serialization; the
//!   [`http`] module's `HttpCache` layer serves it with an ETag and 304s, its stored
//!   gzip/brotli variants and a `Cache-Control` from the entry's remaining TTL; the live
//!   dashboard `dashboard::router()` (charts, bottlenecks, trends) to nest in any app.
//! - `metrics`: cache and timer figures are also emitted through the `metrics` facade,
//!   to the recorder in effect at each update (one installed late receives what follows).
//! - `postcard`: the [`codec::Postcard`] codec (compact, not self-describing).
//! - `redis`: Redis as a second tier shared by every instance, with a pub/sub backplane;
//!   see [Two tiers](#two-tiers-feature-redis).
//!
//! # Two tiers (feature `redis`)
//!
//! With `CacheRuntimeBuilder::redis`, every cache becomes two-tier: a hit in process
//! costs no I/O; a miss there reads Redis; a miss in both computes once and writes both.
//! Instances sharing one Redis and namespace stay coherent through a backplane.
//!
//! - **Where Redis sits in a call.** Only the leader of a single-flight reads Redis, after
//!   joining and before computing, so concurrent misses of one key cost one read. A hit
//!   fills the in-process tier with the entry's *remaining* TTL and is reported as a hit;
//!   a miss computes, and the value is written to Redis in the background (the caller
//!   never waits for it), with an expiry of its TTL plus its `stale_if_error` window.
//! - **Synchronous functions** are cached in process only: a thread that is not inside
//!   an async runtime has nothing to wait on Redis with.
//! - **Readiness.** [`CacheRuntime::ready`] waits, with a deadline, until Redis is
//!   connected; a service awaits it before it reports itself ready.
//! - **Fail-safe copies.** Redis keeps an entry for its TTL plus its `stale_if_error`
//!   window, and any instance that finds it expired but inside that window keeps it as the
//!   fail-safe copy: if its recomputation fails, it serves that copy (`stale_served`).
//! - **Failures.** Every Redis operation has a deadline
//!   (`redis_timeout`, default 50 ms); a failed or
//!   late read is a miss, a failed or late write is dropped. After 5 consecutive errors,
//!   or when timeouts are at least half of a 2 s window's operations (and at least 8),
//!   Redis is skipped for 2 s, then probed. A call never fails, hangs or panics because of
//!   Redis; the runtime starts while Redis is down and uses it once it answers.
//! - **Foreign bytes** under a key (corrupt, another format version, another type) are a
//!   counted miss (`l2.decode_failures`) and are overwritten by the fresh value. A
//!   generation that is not an integer is reset (a miss for that call), and a lock key
//!   that holds no lock is deleted (`l2.repaired`); neither counts against the breaker.
//! - **Invalidation.** `invalidate` deletes the key in Redis; `invalidate_all` and
//!   `invalidate_tag` bump generation counters in Redis that every read checks in the
//!   same round trip, so no keyspace scan is needed and no instance reads an invalidated
//!   entry from Redis once the invalidation has landed. Each is announced on the
//!   backplane and the other instances drop their in-process copies (typically within a
//!   millisecond on a LAN); an instance whose subscription was interrupted clears its
//!   in-process tier when it resubscribes.
//! - **Per cache:** `#[cache_result(..., tier = "local")]` (`"both"`, the default,
//!   `"local"` or `"remote"`) chooses the tiers; `CacheRuntimeBuilder::cache_tier`
//!   overrides it by cache name.
//! - **Single-flight across instances:** with `#[cache_result(..., lock = true)]` a miss
//!   in both tiers takes a lock in Redis before computing, and other instances missing the
//!   same key wait for its value instead of computing it too (bounded by 5 s or
//!   `CacheRuntimeBuilder::lock_ttl`; a lock whose holder died expires).
//! - **Redis Cluster:** `redis+cluster://host:port[,host:port...]`; each cache's keys share
//!   the hash tag `{namespace:name}`, so no operation crosses slots.
//! - **Without a remote tier** (feature off, or no URL) `tier` and `lock` compile and have
//!   no effect.
//!
//! The README's "Two tiers: Redis" states what a reader may see, and for how long, after
//! an invalidation.
#![cfg_attr(docsrs, feature(doc_cfg))]

mod bounds;
mod cache;
mod clock;
pub mod codec;
#[cfg(feature = "axum")]
#[cfg_attr(docsrs, doc(cfg(feature = "axum")))]
pub mod dashboard;
mod export;
#[cfg(feature = "axum")]
#[cfg_attr(docsrs, doc(cfg(feature = "axum")))]
pub mod http;
#[cfg(feature = "axum")]
mod json;
mod key;
mod per_thread;
mod runtime;
mod state;
mod stats;
mod stripe;
mod tier;
mod timer;
mod value;

/// Not public API: the items generated code calls. Names and signatures change between
/// any two releases, which is why `cache-runtime` pins `cache-macros` exactly.
#[doc(hidden)]
pub mod __private {
    pub use crate::bounds::{
        CacheKey, CacheValue, CachedPart, Checked, KeyInput, Never, Uncacheable, checked, whole,
    };
    pub use crate::cache::{
        CacheEntry, EntryKey, Owned, PutFuture, StoreRules, TimedOut, owned, timed_out,
    };
    pub use crate::cache::{
        CacheSite, Lookup, OverloadKind, SiteSpec, ThrottleKind, Ticket, assert_refresh_arg,
        lookup, overload, tag, throttle,
    };
    pub use crate::key::{KeyArg, KeyArgs, KeyBytes, KeyWriter, key, key_args};
    pub use crate::runtime::global;
    pub use crate::runtime::lookup_in;
    #[cfg(feature = "redis")]
    pub use crate::tier::remote::{open_envelope, seal_envelope};
    pub use crate::timer::{Timed, TimerSite, time_async, time_sync};
    pub use crate::value::{
        Adapter, ErrKind, IsOption, Kind, assert_option, err_kind, kind, option_whole,
    };
    pub use crate::value::{SuccessKind, success};
}

pub use cache::{
    Budget, Budgeted, CacheEntry, CacheOverride, CallOutcome, DEFAULT_MAX_BYTES, DEFAULT_MAX_WAIT,
    DEFAULT_TTL, Outcome, Outcomes, Overloaded, Scope, Scoped, Throttled, Timeout, with_budget,
    with_budget_sync,
};
pub use cache::{EntryInfo, ServedFrom};
pub use cache_macros::{cache_invalidate, cache_put, cache_result, performance_timer};
#[cfg(feature = "axum")]
#[cfg_attr(docsrs, doc(cfg(feature = "axum")))]
pub use json::CachedJson;
pub use key::{CacheKey, KeyError};
pub use runtime::{CacheRuntime, CacheRuntimeBuilder, InstallError, Readiness, global};
pub use stats::{CacheStats, CircuitState, L1Stats, L2CacheStats, L2Stats, RuntimeStats};
pub use tier::remote::Tier;
pub use timer::{
    BASELINE_MINUTES, Bottleneck, CacheHistory, CacheInFront, CachePoint, CacheTrend, Direction,
    MIN_CALLS, MIN_LOOKUPS, PerformanceSnapshot, RECENT_MINUTES, TimedChild, TimerHistory,
    TimerPoint, TimerTrend, Trends, performance_snapshot, performance_snapshot_day,
};
pub use timer::{TimerStats, reset_timers, timers};
pub use value::CacheValue;

#[cfg(doctest)]
#[doc = include_str!("../../README.md")]
struct ReadmeDoctests;
