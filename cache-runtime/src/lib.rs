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
//! `Ok` values are cached per distinct arguments, errors are not; concurrent calls for a
//! missing key run the body once. [`cache_invalidate`] and [`cache_put`] keep entries right
//! on write paths, [`CacheRuntime`] configures the runtime (installed once, or the defaults:
//! an in-process tier of 64 MiB), and [`global`]`().stats()`, [`timers`] and
//! [`performance_snapshot`] report what happens.
//!
//! # Features
//!
//! - `redis`: Redis as a second tier shared by every instance, with a pub/sub backplane,
//!   `lock = true` across instances, Redis Cluster, signed and encrypted entries.
//! - `axum`: `Json<T>` and `Result<Json<T>, E>` return types cache `T`; `CachedJson`
//!   caches the serialized response body itself; the `http` module's `HttpCache` layer
//!   serves it with an ETag, 304s and stored gzip/brotli variants
//!   ([HTTP caching](crate::guide::http)); `dashboard::router()` charts timers and caches
//!   live.
//! - `metrics`: cache and timer figures are also emitted through the `metrics` facade.
//! - `postcard`: the `codec::Postcard` codec (compact, not self-describing).
//!
//! # The guide
//!
//! The [`guide`] module holds the chapters of `docs/guide/` (also readable on GitHub):
//!
//! - [Options](crate::guide::options): every `#[cache_result]` option, supported shapes,
//!   methods and trait impls, `<fn>_entry`, `#[cache_invalidate]`, `#[cache_put]`.
//! - [What is cached, and keys](crate::guide::keys).
//! - [The runtime, invalidation and consistency](crate::guide::invalidation).
//! - [Redis, the fleet and security](crate::guide::redis).
//! - [HTTP caching](crate::guide::http).
//! - [Timers, statistics, trends and the dashboard](crate::guide::observability).
//! - [Traces and dashboards](crate::guide::traces): spans, OpenTelemetry, Grafana.
//! - [Operations and tuning](crate::guide::operations): readiness, shutdown, limits.
//! - [How a call flows, and the choices behind it](crate::guide::design).
#![cfg_attr(docsrs, feature(doc_cfg))]

// Documentation only: the chapters live in `docs/guide/` at the workspace root, outside this
// crate's directory, so ordinary builds do not read them.
#[cfg(any(doc, doctest))]
pub mod guide {
    #![doc = include_str!("../../docs/guide/README.md")]

    pub mod options {
        #![doc = include_str!("../../docs/guide/options.md")]
    }
    pub mod batch {
        #![doc = include_str!("../../docs/guide/batch.md")]
    }
    pub mod keys {
        #![doc = include_str!("../../docs/guide/keys.md")]
    }
    pub mod invalidation {
        #![doc = include_str!("../../docs/guide/invalidation.md")]
    }
    pub mod redis {
        #![doc = include_str!("../../docs/guide/redis.md")]
    }
    pub mod disk {
        #![doc = include_str!("../../docs/guide/disk.md")]
    }
    pub mod http {
        #![doc = include_str!("../../docs/guide/http.md")]
    }
    pub mod observability {
        #![doc = include_str!("../../docs/guide/observability.md")]
    }
    pub mod traces {
        #![doc = include_str!("../../docs/guide/traces.md")]
    }
    pub mod operations {
        #![doc = include_str!("../../docs/guide/operations.md")]
    }
    pub mod design {
        #![doc = include_str!("../../docs/guide/design.md")]
    }
}

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
        Batch, BatchOutput, BatchTags, Present, RecordKind, Remembered, batch, batch_with,
    };
    pub use crate::cache::{
        CacheEntry, EntryKey, Owned, PutFuture, StoreRules, TimedOut, owned, timed_out,
    };
    pub use crate::cache::{
        CacheSite, Lookup, OverloadKind, SiteSpec, ThrottleKind, Ticket, Tier, assert_refresh_arg,
        cache_span, lookup, overload, tag, throttle,
    };
    pub use crate::key::{KeyArg, KeyArgs, KeyBytes, KeyWriter, key, key_args};
    pub use crate::runtime::global;
    pub use crate::runtime::{lookup_in, remote_round_trips};
    #[cfg(feature = "redis")]
    pub use crate::tier::remote::{open_envelope, seal_envelope};
    pub use crate::timer::{
        CallSpan, Timed, TimerSite, time_async, time_async_in, time_sync, time_sync_in,
    };
    pub use crate::value::{
        Adapter, ChosenErrors, ErrKind, IsOption, IsResult, Kind, PlainAdapter, assert_option,
        chosen_errors, err_kind, kind, option_whole,
    };
    pub use crate::value::{SuccessKind, success};
    /// The `tracing` crate, for the spans generated code opens.
    pub use tracing;
}

pub use cache::{
    Budget, Budgeted, CacheEntry, CacheOverride, CallOutcome, DEFAULT_MAX_BYTES, DEFAULT_MAX_WAIT,
    DEFAULT_TTL, Outcome, Outcomes, Overloaded, Scope, Scoped, Throttled, Timeout, with_budget,
    with_budget_sync,
};
pub use cache::{EntryInfo, ServedFrom, Tier};
pub use cache_macros::{cache_batch, cache_invalidate, cache_put, cache_result, performance_timer};
#[cfg(feature = "axum")]
#[cfg_attr(docsrs, doc(cfg(feature = "axum")))]
pub use json::CachedJson;
pub use key::{CacheKey, KeyError};
pub use runtime::{CacheRuntime, CacheRuntimeBuilder, Flushed, InstallError, Readiness, global};
pub use stats::{CacheStats, CircuitState, L1Stats, L2CacheStats, L2Stats, RuntimeStats};
pub use tier::disk::DiskStats;
pub use tier::local::{Eviction, EvictionCause, EvictionReceiver};
pub use timer::{
    BASELINE_MINUTES, Bottleneck, CacheHistory, CacheInFront, CachePoint, CacheTrend, Direction,
    MIN_CALLS, MIN_LOOKUPS, PerformanceSnapshot, RECENT_MINUTES, TimedChild, TimerHistory,
    TimerPoint, TimerTrend, Trends, performance_snapshot, performance_snapshot_day,
};
pub use timer::{TIMER_BUCKETS_SECONDS, TimerStats, reset_timers, timers};
pub use value::CacheValue;

#[cfg(doctest)]
#[doc = include_str!("../../README.md")]
struct ReadmeDoctests;
