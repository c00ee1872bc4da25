//! The cache families of the Prometheus text: per cache (labelled `namespace` and
//! `cache`), the in-process tier and, when there is one, the remote tier, written
//! through the one [`Exposition`] writer.

use crate::export::prometheus::{Exposition, Family, FamilyOf, Value};
use crate::stats::names::{
    BACKPLANE_RECEIVED, BACKPLANE_RESUBSCRIBED, BACKPLANE_SENT, BYTES, CAPACITY_BYTES, COALESCED,
    COMPUTATIONS, COMPUTE_SECONDS_MEAN, ENCODE_ERRORS, ENTRIES, ERRORS_NOT_CACHED,
    EVICTION_EVENTS_DROPPED, EVICTIONS, EXPIRATIONS, FAIL_THROTTLED, HARD_TIMEOUTS, HIT_RATIO,
    HITS, INVALIDATIONS, L1_BYTES, L1_CAPACITY_BYTES, L1_ENTRIES, L2_CIRCUIT_STATE, L2_CONNECTED,
    L2_DECODE_FAILURES, L2_ERRORS, L2_HITS, L2_LATENCY_SECONDS_MEAN, L2_LOCK_WAITS, L2_MISSES,
    L2_OPERATION_ERRORS, L2_OPERATION_TIMEOUTS, L2_OPERATIONS_SKIPPED, L2_READ_SECONDS_MEAN,
    L2_REJECTED, L2_REPAIRED, L2_SKIPPED, L2_TIMEOUTS, L2_WRITES, MISSES, NOT_STORED, OVERLOADED,
    QUEUED, RECOVERY_BYTES, RECOVERY_OVERFLOWED, RECOVERY_PENDING, RECOVERY_REPLAYED,
    RECOVERY_SUPERSEDED, REFRESHES, SOFT_TIMEOUTS, STALE_SERVED, THROTTLED, TOO_LARGE,
};
use crate::stats::{CacheStats, L2CacheStats, RuntimeStats};

/// One family per entry of `families`, one sample per cache labelled `namespace` and
/// `cache`, read from the part of each cache's figures that `part` picks.
fn render_per_cache<T>(
    out: &mut Exposition,
    families: &[FamilyOf<T>],
    stats: &RuntimeStats,
    part: impl Fn(&CacheStats) -> &T,
) {
    for (family, value) in families {
        out.family(family);
        for c in &stats.caches {
            let labels = [("namespace", stats.namespace.as_str()), ("cache", &c.name)];
            out.sample(family.name, &labels, value(part(c)));
        }
    }
}

/// One family with the single sample `value`, labelled `namespace`.
fn render_runtime(out: &mut Exposition, family: &Family, ns: &str, value: impl Into<Value>) {
    out.family(family);
    out.sample(family.name, &[("namespace", ns)], value);
}

/// Writes the cache figures of `stats` in the Prometheus text exposition format.
pub(crate) fn render(stats: &RuntimeStats, out: &mut Exposition) {
    let families: [FamilyOf<CacheStats>; 25] = [
        (HITS, |c| c.hits.into()),
        (MISSES, |c| c.misses.into()),
        (COMPUTATIONS, |c| c.computes.into()),
        (QUEUED, |c| c.queued.into()),
        (OVERLOADED, |c| c.overloaded.into()),
        (THROTTLED, |c| c.throttled.into()),
        (NOT_STORED, |c| c.not_stored.into()),
        (HARD_TIMEOUTS, |c| c.hard_timeouts.into()),
        (SOFT_TIMEOUTS, |c| c.soft_timeouts.into()),
        (FAIL_THROTTLED, |c| c.fail_throttled.into()),
        (COALESCED, |c| c.coalesced.into()),
        (STALE_SERVED, |c| c.stale_served.into()),
        (REFRESHES, |c| c.refreshes.into()),
        (ERRORS_NOT_CACHED, |c| c.errors_not_cached.into()),
        (TOO_LARGE, |c| c.too_large.into()),
        (ENCODE_ERRORS, |c| c.encode_errors.into()),
        (EVICTIONS, |c| c.evictions.into()),
        (INVALIDATIONS, |c| c.invalidations.into()),
        (EXPIRATIONS, |c| c.expirations.into()),
        (EVICTION_EVENTS_DROPPED, |c| {
            c.eviction_events_dropped.into()
        }),
        (ENTRIES, |c| c.entries.into()),
        (BYTES, |c| c.bytes.into()),
        (CAPACITY_BYTES, |c| c.capacity_bytes.into()),
        (COMPUTE_SECONDS_MEAN, |c| (c.mean_compute_ms / 1e3).into()),
        (HIT_RATIO, |c| c.hit_ratio.into()),
    ];
    render_per_cache(out, &families, stats, |c| c);
    let ns = stats.namespace.as_str();
    let l1 = &stats.l1;
    for (family, value) in [
        (L1_BYTES, l1.bytes),
        (L1_CAPACITY_BYTES, l1.capacity_bytes),
        (L1_ENTRIES, l1.entries),
    ] {
        render_runtime(out, &family, ns, value);
    }
    // The remote tier's families only when there is one.
    if stats.l2.is_some() {
        render_l2(stats, out);
    }
}

fn render_l2(stats: &RuntimeStats, out: &mut Exposition) {
    let families: [FamilyOf<L2CacheStats>; 9] = [
        (L2_HITS, |c| c.hits.into()),
        (L2_MISSES, |c| c.misses.into()),
        (L2_ERRORS, |c| c.errors.into()),
        (L2_TIMEOUTS, |c| c.timeouts.into()),
        (L2_DECODE_FAILURES, |c| c.decode_failures.into()),
        (L2_SKIPPED, |c| c.skipped.into()),
        (L2_WRITES, |c| c.writes.into()),
        (L2_LOCK_WAITS, |c| c.lock_waits.into()),
        (L2_READ_SECONDS_MEAN, |c| (c.mean_read_ms / 1e3).into()),
    ];
    render_per_cache(out, &families, stats, |c| &c.l2);
    let Some(l2) = &stats.l2 else {
        return;
    };
    let ns = stats.namespace.as_str();
    let runtime: [(Family, Value); 16] = [
        (L2_CONNECTED, l2.connected.into()),
        (L2_CIRCUIT_STATE, u64::from(l2.circuit.gauge()).into()),
        (L2_OPERATION_ERRORS, l2.errors.into()),
        (L2_OPERATION_TIMEOUTS, l2.timeouts.into()),
        (L2_OPERATIONS_SKIPPED, l2.skipped.into()),
        (L2_REPAIRED, l2.repaired.into()),
        (L2_REJECTED, l2.rejected.into()),
        (L2_LATENCY_SECONDS_MEAN, (l2.mean_latency_ms / 1e3).into()),
        (BACKPLANE_SENT, l2.backplane_sent.into()),
        (BACKPLANE_RECEIVED, l2.backplane_received.into()),
        (BACKPLANE_RESUBSCRIBED, l2.backplane_resubscribed.into()),
        (RECOVERY_PENDING, l2.recovery_pending.into()),
        (RECOVERY_BYTES, l2.recovery_bytes.into()),
        (RECOVERY_REPLAYED, l2.recovery_replayed.into()),
        (RECOVERY_SUPERSEDED, l2.recovery_superseded.into()),
        (RECOVERY_OVERFLOWED, l2.recovery_overflowed.into()),
    ];
    for (family, value) in runtime {
        render_runtime(out, &family, ns, value);
    }
}
