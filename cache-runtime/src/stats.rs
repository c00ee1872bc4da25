//! Per-cache counters, their serializable snapshot, and the names of their figures.
//!
//! Every figure has one name, used by the Prometheus text (`export/caches.rs`) and
//! the `metrics` facade alike: `cache_hits_total` is the family and the facade counter.
//! With the `metrics` feature, each change of a counter also reaches the recorder in effect
//! at that moment (see `export/metrics.rs`).

use std::sync::atomic::{AtomicU64, Ordering, Ordering::Relaxed};

use serde::{Deserialize, Serialize};

#[cfg(feature = "metrics")]
use crate::export::metrics::{Described, Series, Shape};
use crate::export::prometheus::{Family, Kind};
use crate::per_thread;

/// The labels of one cache's facade series: `namespace` and `cache`.
#[cfg(feature = "metrics")]
type Labels<'a> = [(&'static str, &'a str); 2];

/// A counter bumped on every cache hit: one cell per thread (see `crate::per_thread`), so
/// a hit adds with a plain store, and two threads hitting one hot key share no line.
#[derive(Default)]
pub(crate) struct HitCounter {
    count: per_thread::Counter,
    #[cfg(feature = "metrics")]
    series: Option<Box<Series>>,
}

impl HitCounter {
    #[cfg(feature = "metrics")]
    fn labelled(labels: &Labels<'_>) -> Self {
        Self {
            count: per_thread::Counter::default(),
            series: Some(Box::new(Series::new(
                Described::of(HITS),
                Shape::Counter,
                labels,
            ))),
        }
    }

    #[inline]
    pub(crate) fn incr(&self) {
        self.count.incr();
        #[cfg(feature = "metrics")]
        if let Some(series) = &self.series {
            series.add(1, || 0);
        }
    }

    pub(crate) fn get(&self) -> u64 {
        self.count.get()
    }
}

/// One figure of a cache: an `AtomicU64` with the methods of one (`fetch_add`,
/// `fetch_sub`, `load`), whose changes also reach the `metrics` facade when it is labelled
/// (feature `metrics`, counters made by [`Counters::new`]).
#[derive(Default)]
pub(crate) struct Tally {
    value: AtomicU64,
    #[cfg(feature = "metrics")]
    series: Option<Box<Series>>,
}

impl Tally {
    #[cfg(feature = "metrics")]
    fn labelled(family: Family, shape: Shape, labels: &Labels<'_>) -> Self {
        Self::described(Described::of(family), shape, labels)
    }

    #[cfg(feature = "metrics")]
    fn described(metric: Described, shape: Shape, labels: &Labels<'_>) -> Self {
        Self {
            value: AtomicU64::new(0),
            series: Some(Box::new(Series::new(metric, shape, labels))),
        }
    }

    /// Adds `n`, returning the previous value.
    #[inline]
    pub(crate) fn fetch_add(&self, n: u64, order: Ordering) -> u64 {
        let prev = self.value.fetch_add(n, order);
        #[cfg(feature = "metrics")]
        if let Some(series) = &self.series {
            series.add(n, || prev.wrapping_add(n));
        }
        prev
    }

    /// Subtracts `n`, returning the previous value.
    #[inline]
    pub(crate) fn fetch_sub(&self, n: u64, order: Ordering) -> u64 {
        let prev = self.value.fetch_sub(n, order);
        #[cfg(feature = "metrics")]
        if let Some(series) = &self.series {
            series.sub(n, || prev.wrapping_sub(n));
        }
        prev
    }

    #[inline]
    pub(crate) fn load(&self, order: Ordering) -> u64 {
        self.value.load(order)
    }
}

/// The live counters of one cache name.
#[derive(Default)]
pub(crate) struct Counters {
    pub(crate) hits: HitCounter,
    pub(crate) misses: Tally,
    pub(crate) coalesced: Tally,
    pub(crate) stale_served: Tally,
    pub(crate) refreshes: Tally,
    pub(crate) errors_not_cached: Tally,
    pub(crate) too_large: Tally,
    pub(crate) encode_errors: Tally,
    pub(crate) evictions: Tally,
    pub(crate) invalidations: Tally,
    pub(crate) entries: Tally,
    pub(crate) bytes: Tally,
    pub(crate) computes: Tally,
    pub(crate) compute_nanos: Tally,
    /// Computations that waited for a permit of the cache's bulkhead.
    pub(crate) queued: Tally,
    /// Computations turned away because the bulkhead stayed full past `max_wait`.
    pub(crate) overloaded: Tally,
    /// Computations refused because the caller's computation budget was spent.
    pub(crate) throttled: Tally,
    /// Values returned but not stored: refused by `unless`, faster than
    /// `only_if_slower`, or given a zero TTL by `ttl_from`.
    pub(crate) not_stored: Tally,
    /// Calls that stopped waiting for the body at `hard_timeout`.
    pub(crate) hard_timeouts: Tally,
    /// Calls answered with the fail-safe copy at `soft_timeout`.
    pub(crate) soft_timeouts: Tally,
    pub(crate) l2: L2Counters,
}

/// The remote-tier counters of one cache name.
#[derive(Default)]
pub(crate) struct L2Counters {
    pub(crate) hits: Tally,
    pub(crate) misses: Tally,
    pub(crate) errors: Tally,
    pub(crate) timeouts: Tally,
    pub(crate) decode_failures: Tally,
    pub(crate) skipped: Tally,
    pub(crate) writes: Tally,
    pub(crate) lock_waits: Tally,
    pub(crate) reads: Tally,
    pub(crate) read_nanos: Tally,
}

/// Facade histograms of durations, whose Prometheus text families are means.
#[cfg(feature = "metrics")]
const COMPUTE_SECONDS: Described = Described {
    name: "cache_compute_seconds",
    help: "Duration of a body run.",
};
#[cfg(feature = "metrics")]
const L2_READ_SECONDS: Described = Described {
    name: "cache_l2_read_seconds",
    help: "Duration of a successful Redis read.",
};

impl L2Counters {
    #[cfg(feature = "metrics")]
    fn labelled(labels: &Labels<'_>) -> Self {
        let counter = |family| Tally::labelled(family, Shape::Counter, labels);
        Self {
            hits: counter(L2_HITS),
            misses: counter(L2_MISSES),
            errors: counter(L2_ERRORS),
            timeouts: counter(L2_TIMEOUTS),
            decode_failures: counter(L2_DECODE_FAILURES),
            skipped: counter(L2_SKIPPED),
            writes: counter(L2_WRITES),
            lock_waits: counter(L2_LOCK_WAITS),
            // Counted by the histogram's own count.
            reads: Tally::default(),
            read_nanos: Tally::described(L2_READ_SECONDS, Shape::Seconds, labels),
        }
    }

    fn snapshot(&self) -> L2CacheStats {
        let reads = self.reads.load(Relaxed);
        L2CacheStats {
            hits: self.hits.load(Relaxed),
            misses: self.misses.load(Relaxed),
            errors: self.errors.load(Relaxed),
            timeouts: self.timeouts.load(Relaxed),
            decode_failures: self.decode_failures.load(Relaxed),
            skipped: self.skipped.load(Relaxed),
            writes: self.writes.load(Relaxed),
            lock_waits: self.lock_waits.load(Relaxed),
            mean_read_ms: if reads == 0 {
                0.0
            } else {
                self.read_nanos.load(Relaxed) as f64 / reads as f64 / 1e6
            },
        }
    }
}

impl Counters {
    /// The counters of cache `name` in `namespace`; with the `metrics` feature their
    /// changes reach the facade labelled `namespace` and `cache` (those made by `default()`
    /// carry no labels and stay in process).
    #[cfg_attr(not(feature = "metrics"), allow(unused_variables))]
    pub(crate) fn new(namespace: &str, name: &str) -> Self {
        #[cfg(not(feature = "metrics"))]
        return Self::default();
        #[cfg(feature = "metrics")]
        {
            let labels = [("namespace", namespace), ("cache", name)];
            let counter = |family| Tally::labelled(family, Shape::Counter, &labels);
            let gauge = |family| Tally::labelled(family, Shape::Gauge, &labels);
            Self {
                hits: HitCounter::labelled(&labels),
                misses: counter(MISSES),
                coalesced: counter(COALESCED),
                stale_served: counter(STALE_SERVED),
                refreshes: counter(REFRESHES),
                errors_not_cached: counter(ERRORS_NOT_CACHED),
                too_large: counter(TOO_LARGE),
                encode_errors: counter(ENCODE_ERRORS),
                evictions: counter(EVICTIONS),
                invalidations: counter(INVALIDATIONS),
                entries: gauge(ENTRIES),
                bytes: gauge(BYTES),
                // Counted by the histogram's own count.
                computes: Tally::default(),
                compute_nanos: Tally::described(COMPUTE_SECONDS, Shape::Seconds, &labels),
                queued: counter(QUEUED),
                overloaded: counter(OVERLOADED),
                throttled: counter(THROTTLED),
                not_stored: counter(NOT_STORED),
                hard_timeouts: counter(HARD_TIMEOUTS),
                soft_timeouts: counter(SOFT_TIMEOUTS),
                l2: L2Counters::labelled(&labels),
            }
        }
    }

    pub(crate) fn bump(c: &Tally) {
        c.fetch_add(1, Relaxed);
    }

    pub(crate) fn record_compute(&self, nanos: u64) {
        self.computes.fetch_add(1, Relaxed);
        self.compute_nanos.fetch_add(nanos, Relaxed);
    }

    pub(crate) fn snapshot(&self, name: &str) -> CacheStats {
        let hits = self.hits.get();
        let misses = self.misses.load(Relaxed);
        let computes = self.computes.load(Relaxed);
        let lookups = hits + misses;
        CacheStats {
            name: name.to_owned(),
            hits,
            misses,
            coalesced: self.coalesced.load(Relaxed),
            stale_served: self.stale_served.load(Relaxed),
            refreshes: self.refreshes.load(Relaxed),
            errors_not_cached: self.errors_not_cached.load(Relaxed),
            too_large: self.too_large.load(Relaxed),
            encode_errors: self.encode_errors.load(Relaxed),
            evictions: self.evictions.load(Relaxed),
            invalidations: self.invalidations.load(Relaxed),
            entries: self.entries.load(Relaxed),
            bytes: self.bytes.load(Relaxed),
            computes,
            queued: self.queued.load(Relaxed),
            overloaded: self.overloaded.load(Relaxed),
            throttled: self.throttled.load(Relaxed),
            not_stored: self.not_stored.load(Relaxed),
            hard_timeouts: self.hard_timeouts.load(Relaxed),
            soft_timeouts: self.soft_timeouts.load(Relaxed),
            mean_compute_ms: if computes == 0 {
                0.0
            } else {
                self.compute_nanos.load(Relaxed) as f64 / computes as f64 / 1e6
            },
            hit_ratio: if lookups == 0 {
                0.0
            } else {
                hits as f64 / lookups as f64
            },
            l2: self.l2.snapshot(),
        }
    }
}

/// Figures of one cache name since start-up.
///
/// `hits + misses` is the number of lookups; `coalesced` counts misses that waited for a
/// concurrent caller's computation instead of computing; `computes` counts runs of the
/// function body. `hits` and `misses` are those of the in-process tier; with the `redis`
/// feature, `l2` counts what its misses found in Redis.
///
/// ```
/// let stats = cache_runtime::global().stats();
/// for c in &stats.caches {
///     println!("{}: {:.1}% hits", c.name, c.hit_ratio * 100.0);
/// }
/// ```
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct CacheStats {
    /// The cache name given to `#[cache_result]`.
    pub name: String,
    /// Lookups answered from the cache.
    pub hits: u64,
    /// Lookups that found no fresh entry.
    pub misses: u64,
    /// Misses that waited for a concurrent computation of the same key.
    pub coalesced: u64,
    /// Calls answered with an expired value because the recomputation failed.
    pub stale_served: u64,
    /// Background refreshes started by `refresh_ahead`.
    pub refreshes: u64,
    /// Results not cached because they were `Err` (or `None`).
    pub errors_not_cached: u64,
    /// Values not cached because they exceeded `max_bytes`.
    pub too_large: u64,
    /// Calls whose key, or values, that could not be encoded (run or returned uncached).
    pub encode_errors: u64,
    /// Entries evicted to stay within the byte budget.
    pub evictions: u64,
    /// Invalidation calls that named this cache.
    pub invalidations: u64,
    /// Entries held now.
    pub entries: u64,
    /// Bytes held now (encoded size plus key and bookkeeping).
    pub bytes: u64,
    /// Runs of the function body.
    pub computes: u64,
    /// Computations that waited for a permit of the cache's bulkhead (`max_concurrent`).
    #[serde(default)]
    pub queued: u64,
    /// Computations turned away (with the function's `From<Overloaded>` error) because the
    /// bulkhead stayed full past `max_wait`.
    #[serde(default)]
    pub overloaded: u64,
    /// Computations refused (served the fail-safe copy, or the function's
    /// `From<Throttled>` error) because the caller's computation budget was spent
    /// ([`with_budget`](crate::with_budget)).
    #[serde(default)]
    pub throttled: u64,
    /// Values returned but not stored because `unless` refused them, they were computed
    /// faster than `only_if_slower`, or `ttl_from` gave them no time to live.
    #[serde(default)]
    pub not_stored: u64,
    /// Calls that stopped waiting for the body at `hard_timeout` (answered with the
    /// fail-safe copy, or with the function's `From<Timeout>` error).
    #[serde(default)]
    pub hard_timeouts: u64,
    /// Calls answered with the fail-safe copy at `soft_timeout` while the body went on
    /// in the background.
    #[serde(default)]
    pub soft_timeouts: u64,
    /// Mean duration of a body run, in milliseconds.
    pub mean_compute_ms: f64,
    /// `hits / (hits + misses)`, 0 when there were no lookups.
    pub hit_ratio: f64,
    /// The remote tier's figures for this cache (all 0 without a remote tier).
    #[serde(default)]
    pub l2: L2CacheStats,
}

/// Figures of one cache in the remote tier.
///
/// A miss in process that leads its computation reads Redis once and ends up in exactly
/// one of `hits`, `misses`, `errors`, `timeouts`, `decode_failures` or `skipped`; `errors`
/// and `timeouts` also count failed background writes.
///
/// ```
/// # #[cfg(feature = "redis")] {
/// let stats = cache_runtime::global().stats();
/// for c in &stats.caches {
///     println!("{}: {} from redis, {} decode failures", c.name, c.l2.hits, c.l2.decode_failures);
/// }
/// # }
/// ```
#[derive(Clone, Debug, Default, Serialize, Deserialize, PartialEq)]
pub struct L2CacheStats {
    /// Reads that found a current entry in Redis (filled in process, not computed).
    pub hits: u64,
    /// Reads that found no entry, or an invalidated or expired one.
    pub misses: u64,
    /// Reads and writes that failed (connection or server error).
    pub errors: u64,
    /// Reads and writes that got no answer within the deadline.
    pub timeouts: u64,
    /// Reads that found bytes that are not an entry of this format and value type; the
    /// entry is overwritten by the value computed next.
    pub decode_failures: u64,
    /// Reads not attempted: not connected yet, circuit open, or an invalidation of this
    /// instance still on its way.
    pub skipped: u64,
    /// Values written to Redis.
    pub writes: u64,
    /// Misses of a `lock = true` cache that waited for another instance's computation and
    /// were answered with its value (they also count as a miss: the first read found
    /// nothing).
    #[serde(default)]
    pub lock_waits: u64,
    /// Mean duration of a successful read as the caller saw it, in milliseconds.
    pub mean_read_ms: f64,
}

/// State of the remote tier's circuit breaker.
///
/// ```
/// use cache_runtime::CircuitState;
/// assert_eq!(serde_json::to_string(&CircuitState::HalfOpen).unwrap(), "\"half_open\"");
/// ```
#[derive(Clone, Copy, Debug, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum CircuitState {
    /// Redis is used.
    Closed,
    /// Redis failed repeatedly and is skipped until the cool-down ends.
    Open,
    /// One probe is on its way to Redis; other calls skip it until it answers.
    HalfOpen,
}

impl CircuitState {
    pub(crate) fn gauge(self) -> u8 {
        match self {
            CircuitState::Closed => 0,
            CircuitState::HalfOpen => 1,
            CircuitState::Open => 2,
        }
    }
}

/// Figures of the remote tier as a whole.
///
/// ```
/// # #[cfg(feature = "redis")] {
/// if let Some(l2) = cache_runtime::global().stats().l2 {
///     println!("redis: {:?}, {} errors, {} backplane messages in", l2.circuit, l2.errors, l2.backplane_received);
/// }
/// # }
/// ```
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct L2Stats {
    /// Whether Redis is reachable now: connected, and the backplane's subscription
    /// answered its last ping (sent every second). It reconnects by itself.
    pub connected: bool,
    /// The circuit breaker's state.
    pub circuit: CircuitState,
    /// Operations of any kind (reads, writes, invalidations) that failed.
    pub errors: u64,
    /// Operations of any kind that got no answer within the deadline.
    pub timeouts: u64,
    /// Operations not attempted (not connected, circuit open, invalidation in flight).
    pub skipped: u64,
    /// Values under this runtime's keys that it never writes (a generation that is not an
    /// integer, a lock key that holds no lock), found and reset.
    #[serde(default)]
    pub repaired: u64,
    /// Entries refused for their authenticity, each a miss whose recomputed value
    /// overwrites it: written for another key (copied or moved there), written without
    /// the runtime's signing key or with a MAC that does not verify, or encrypted with a
    /// key it does not hold.
    #[serde(default)]
    pub rejected: u64,
    /// Mean duration of a successful operation on the Redis thread, in milliseconds.
    pub mean_latency_ms: f64,
    /// Messages this instance announced on the backplane.
    pub backplane_sent: u64,
    /// Messages of other instances received on the backplane.
    pub backplane_received: u64,
    /// Times the backplane subscription was re-established (each clears the in-process tier).
    pub backplane_resubscribed: u64,
}

/// Figures of the in-process tier as a whole.
///
/// ```
/// let l1 = cache_runtime::global().stats().l1;
/// assert!(l1.bytes <= l1.capacity_bytes);
/// ```
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct L1Stats {
    /// Entries held.
    pub entries: u64,
    /// Weighted bytes held.
    pub bytes: u64,
    /// The byte budget.
    pub capacity_bytes: u64,
}

/// A snapshot of every cache of a runtime.
///
/// ```
/// let snapshot = cache_runtime::global().stats();
/// let json = serde_json::to_string(&snapshot).unwrap();
/// assert!(json.contains("\"caches\""));
/// ```
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct RuntimeStats {
    /// The runtime's namespace.
    pub namespace: String,
    /// The in-process tier.
    pub l1: L1Stats,
    /// One entry per cache name, sorted by name.
    pub caches: Vec<CacheStats>,
    /// The remote tier, when one is configured.
    #[serde(default)]
    pub l2: Option<L2Stats>,
}

impl RuntimeStats {
    /// The figures of one cache, if it has been used.
    ///
    /// ```
    /// let stats = cache_runtime::global().stats();
    /// assert!(stats.cache("never_used").is_none());
    /// ```
    pub fn cache(&self, name: &str) -> Option<&CacheStats> {
        self.caches.iter().find(|c| c.name == name)
    }
}

pub(crate) const fn family(name: &'static str, kind: Kind, help: &'static str) -> Family {
    Family { name, kind, help }
}

pub(crate) const HITS: Family = family(
    "cache_hits_total",
    Kind::Counter,
    "Lookups answered from the cache.",
);
pub(crate) const MISSES: Family = family(
    "cache_misses_total",
    Kind::Counter,
    "Lookups that found no fresh entry.",
);
pub(crate) const COALESCED: Family = family(
    "cache_coalesced_total",
    Kind::Counter,
    "Misses that waited for a concurrent computation.",
);
pub(crate) const STALE_SERVED: Family = family(
    "cache_stale_served_total",
    Kind::Counter,
    "Expired values served because recomputation failed.",
);
pub(crate) const REFRESHES: Family = family(
    "cache_refreshes_total",
    Kind::Counter,
    "Background refreshes started.",
);
pub(crate) const ERRORS_NOT_CACHED: Family = family(
    "cache_errors_not_cached_total",
    Kind::Counter,
    "Err or None results not cached.",
);
pub(crate) const TOO_LARGE: Family = family(
    "cache_too_large_total",
    Kind::Counter,
    "Values over max_bytes, not cached.",
);
pub(crate) const ENCODE_ERRORS: Family = family(
    "cache_encode_errors_total",
    Kind::Counter,
    "Calls run uncached because the key failed to encode.",
);
pub(crate) const EVICTIONS: Family = family(
    "cache_evictions_total",
    Kind::Counter,
    "Entries evicted to stay within the byte budget.",
);
pub(crate) const INVALIDATIONS: Family = family(
    "cache_invalidations_total",
    Kind::Counter,
    "Invalidation calls naming the cache.",
);
pub(crate) const QUEUED: Family = family(
    "cache_queued_total",
    Kind::Counter,
    "Computations that waited for a permit of the cache's bulkhead.",
);
pub(crate) const OVERLOADED: Family = family(
    "cache_overloaded_total",
    Kind::Counter,
    "Computations turned away because the cache's bulkhead stayed full.",
);
pub(crate) const THROTTLED: Family = family(
    "cache_throttled_total",
    Kind::Counter,
    "Computations refused because the caller's computation budget was spent.",
);
pub(crate) const NOT_STORED: Family = family(
    "cache_not_stored_total",
    Kind::Counter,
    "Values returned but not stored (unless, only_if_slower, ttl_from).",
);
pub(crate) const HARD_TIMEOUTS: Family = family(
    "cache_hard_timeouts_total",
    Kind::Counter,
    "Calls that stopped waiting for the body at hard_timeout.",
);
pub(crate) const SOFT_TIMEOUTS: Family = family(
    "cache_soft_timeouts_total",
    Kind::Counter,
    "Calls answered with the fail-safe copy at soft_timeout.",
);
pub(crate) const ENTRIES: Family = family("cache_entries", Kind::Gauge, "Entries held.");
pub(crate) const BYTES: Family = family("cache_bytes", Kind::Gauge, "Bytes held.");

pub(crate) const L2_HITS: Family = family(
    "cache_l2_hits_total",
    Kind::Counter,
    "Reads that found a current entry in Redis.",
);
pub(crate) const L2_MISSES: Family = family(
    "cache_l2_misses_total",
    Kind::Counter,
    "Reads that found no current entry in Redis.",
);
pub(crate) const L2_ERRORS: Family = family(
    "cache_l2_errors_total",
    Kind::Counter,
    "Redis reads and writes that failed.",
);
pub(crate) const L2_TIMEOUTS: Family = family(
    "cache_l2_timeouts_total",
    Kind::Counter,
    "Redis reads and writes past the deadline.",
);
pub(crate) const L2_DECODE_FAILURES: Family = family(
    "cache_l2_decode_failures_total",
    Kind::Counter,
    "Redis entries that did not decode (overwritten).",
);
pub(crate) const L2_SKIPPED: Family = family(
    "cache_l2_skipped_total",
    Kind::Counter,
    "Redis reads skipped (circuit open, not connected).",
);
pub(crate) const L2_WRITES: Family = family(
    "cache_l2_writes_total",
    Kind::Counter,
    "Values written to Redis.",
);
pub(crate) const L2_LOCK_WAITS: Family = family(
    "cache_l2_lock_waits_total",
    Kind::Counter,
    "Misses answered by another instance's computation (lock = true).",
);
