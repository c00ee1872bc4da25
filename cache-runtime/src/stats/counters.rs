//! The live counters of each cache name: a per-thread hit counter and atomic figures that,
//! with the `metrics` feature, also reach the recorder in effect when they change (see
//! `export/metrics.rs`).

use std::sync::atomic::{AtomicU64, Ordering, Ordering::Relaxed};

#[cfg(feature = "metrics")]
use super::names::{
    BYTES, COALESCED, COMPUTE_SECONDS, ENCODE_ERRORS, ENTRIES, ERRORS_NOT_CACHED,
    EVICTION_EVENTS_DROPPED, EVICTIONS, EXPIRATIONS, FAIL_THROTTLED, HARD_TIMEOUTS, HITS,
    INVALIDATIONS, L2_DECODE_FAILURES, L2_ERRORS, L2_HITS, L2_LOCK_WAITS, L2_MISSES,
    L2_READ_SECONDS, L2_SKIPPED, L2_TIMEOUTS, L2_WRITES, MISSES, NOT_STORED, OVERLOADED, QUEUED,
    REFRESHES, SOFT_TIMEOUTS, STALE_SERVED, THROTTLED, TOO_LARGE,
};
use super::snapshot::{CacheStats, L2CacheStats};
#[cfg(feature = "metrics")]
use crate::export::metrics::{Described, Series, Shape};
#[cfg(feature = "metrics")]
use crate::export::prometheus::Family;
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
    /// `expire*` calls that named this cache.
    pub(crate) expirations: Tally,
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
    /// Calls answered with the fail-safe copy within `fail_throttle` of a failed
    /// recomputation, without calling the body.
    pub(crate) fail_throttled: Tally,
    /// Eviction events the queue of `CacheRuntimeBuilder::evictions` had no room for.
    pub(crate) eviction_events_dropped: Tally,
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
                expirations: counter(EXPIRATIONS),
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
                fail_throttled: counter(FAIL_THROTTLED),
                eviction_events_dropped: counter(EVICTION_EVENTS_DROPPED),
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
            expirations: self.expirations.load(Relaxed),
            entries: self.entries.load(Relaxed),
            bytes: self.bytes.load(Relaxed),
            computes,
            queued: self.queued.load(Relaxed),
            overloaded: self.overloaded.load(Relaxed),
            throttled: self.throttled.load(Relaxed),
            not_stored: self.not_stored.load(Relaxed),
            hard_timeouts: self.hard_timeouts.load(Relaxed),
            soft_timeouts: self.soft_timeouts.load(Relaxed),
            fail_throttled: self.fail_throttled.load(Relaxed),
            eviction_events_dropped: self.eviction_events_dropped.load(Relaxed),
            capacity_bytes: 0,
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
