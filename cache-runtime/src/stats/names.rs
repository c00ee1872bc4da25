//! The names of the cache figures: each has one name, used by the Prometheus text
//! (`export/caches.rs`) and the `metrics` facade alike (`cache_hits_total` is the family
//! and the facade counter). The facade's duration histograms are the exception: their
//! Prometheus text families are means.

#[cfg(feature = "metrics")]
use crate::export::metrics::Described;
use crate::export::prometheus::{Family, Kind};

const fn family(name: &'static str, kind: Kind, help: &'static str) -> Family {
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
/// The text's count of body runs; through the facade it is the count of the
/// `cache_compute_seconds` histogram.
pub(crate) const COMPUTATIONS: Family = family(
    "cache_computations_total",
    Kind::Counter,
    "Runs of the function body.",
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
pub(crate) const EXPIRATIONS: Family = family(
    "cache_expirations_total",
    Kind::Counter,
    "Expiry calls naming the cache (soft invalidation: the fail-safe copy is kept).",
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
pub(crate) const FAIL_THROTTLED: Family = family(
    "cache_fail_throttled_total",
    Kind::Counter,
    "Calls answered with the fail-safe copy within fail_throttle of a failed recomputation, without calling the body.",
);
pub(crate) const EVICTION_EVENTS_DROPPED: Family = family(
    "cache_eviction_events_dropped_total",
    Kind::Counter,
    "Eviction events dropped because the listener's queue was full.",
);
pub(crate) const CAPACITY_BYTES: Family = family(
    "cache_capacity_bytes",
    Kind::Gauge,
    "The cache's own in-process byte budget (0: shares the runtime's).",
);
pub(crate) const ENTRIES: Family = family("cache_entries", Kind::Gauge, "Entries held.");
pub(crate) const BYTES: Family = family("cache_bytes", Kind::Gauge, "Bytes held.");
pub(crate) const COMPUTE_SECONDS_MEAN: Family = family(
    "cache_compute_seconds_mean",
    Kind::Gauge,
    "Mean duration of a body run.",
);
pub(crate) const HIT_RATIO: Family =
    family("cache_hit_ratio", Kind::Gauge, "hits / (hits + misses).");

// The in-process tier as a whole.
pub(crate) const L1_BYTES: Family = family(
    "cache_l1_bytes",
    Kind::Gauge,
    "Weighted bytes held by the in-process tier.",
);
pub(crate) const L1_CAPACITY_BYTES: Family = family(
    "cache_l1_capacity_bytes",
    Kind::Gauge,
    "Byte budget of the in-process tier.",
);
pub(crate) const L1_ENTRIES: Family = family(
    "cache_l1_entries",
    Kind::Gauge,
    "Entries held by the in-process tier.",
);

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

pub(crate) const L2_READ_SECONDS_MEAN: Family = family(
    "cache_l2_read_seconds_mean",
    Kind::Gauge,
    "Mean duration of a successful Redis read.",
);

// The remote tier as a whole.
pub(crate) const L2_CONNECTED: Family = family(
    "cache_l2_connected",
    Kind::Gauge,
    "1 once the Redis connection is established.",
);
pub(crate) const L2_CIRCUIT_STATE: Family = family(
    "cache_l2_circuit_state",
    Kind::Gauge,
    "Circuit breaker: 0 closed, 1 half-open, 2 open.",
);
pub(crate) const L2_OPERATION_ERRORS: Family = family(
    "cache_l2_operation_errors_total",
    Kind::Counter,
    "Redis operations of any kind that failed.",
);
pub(crate) const L2_OPERATION_TIMEOUTS: Family = family(
    "cache_l2_operation_timeouts_total",
    Kind::Counter,
    "Redis operations of any kind past the deadline.",
);
pub(crate) const L2_OPERATIONS_SKIPPED: Family = family(
    "cache_l2_operations_skipped_total",
    Kind::Counter,
    "Redis operations not attempted.",
);
pub(crate) const L2_REPAIRED: Family = family(
    "cache_l2_repaired_total",
    Kind::Counter,
    "Values under this runtime's Redis keys that it never writes, found and reset.",
);
pub(crate) const L2_REJECTED: Family = family(
    "cache_l2_rejected_total",
    Kind::Counter,
    "Redis entries refused for their authenticity (another key's, unsigned, forged), overwritten.",
);
pub(crate) const L2_LATENCY_SECONDS_MEAN: Family = family(
    "cache_l2_latency_seconds_mean",
    Kind::Gauge,
    "Mean duration of a successful Redis operation.",
);
pub(crate) const BACKPLANE_SENT: Family = family(
    "cache_backplane_sent_total",
    Kind::Counter,
    "Backplane messages sent.",
);
pub(crate) const BACKPLANE_RECEIVED: Family = family(
    "cache_backplane_received_total",
    Kind::Counter,
    "Backplane messages received from other instances.",
);
pub(crate) const BACKPLANE_RESUBSCRIBED: Family = family(
    "cache_backplane_resubscribed_total",
    Kind::Counter,
    "Backplane resubscriptions (each clears the in-process tier).",
);

pub(crate) const RECOVERY_PENDING: Family = family(
    "cache_l2_recovery_pending",
    Kind::Gauge,
    "Redis operations that did not land, waiting in the recovery queue.",
);
pub(crate) const RECOVERY_BYTES: Family = family(
    "cache_l2_recovery_bytes",
    Kind::Gauge,
    "Bytes held by the recovery queue.",
);
pub(crate) const RECOVERY_REPLAYED: Family = family(
    "cache_l2_recovery_replayed_total",
    Kind::Counter,
    "Recovery queue operations that landed in Redis.",
);
pub(crate) const RECOVERY_SUPERSEDED: Family = family(
    "cache_l2_recovery_superseded_total",
    Kind::Counter,
    "Recovery queue operations dropped for a newer change of their key, or expired.",
);
pub(crate) const RECOVERY_OVERFLOWED: Family = family(
    "cache_l2_recovery_overflowed_total",
    Kind::Counter,
    "Recovery queue operations kept coarser because the queue was full.",
);

/// Facade histograms of durations, whose Prometheus text families are means.
#[cfg(feature = "metrics")]
pub(crate) const COMPUTE_SECONDS: Described = Described {
    name: "cache_compute_seconds",
    help: "Duration of a body run.",
};
#[cfg(feature = "metrics")]
pub(crate) const L2_READ_SECONDS: Described = Described {
    name: "cache_l2_read_seconds",
    help: "Duration of a successful Redis read.",
};
