//! The cache families of the Prometheus text: per cache (labelled `namespace` and
//! `cache`), the in-process tier and, when there is one, the remote tier, written
//! through the one [`Exposition`] writer.

use crate::export::prometheus::{Exposition, Family, FamilyOf, Kind, Value};
use crate::stats::{
    BYTES, COALESCED, CacheStats, ENCODE_ERRORS, ENTRIES, ERRORS_NOT_CACHED, EVICTIONS,
    HARD_TIMEOUTS, HITS, INVALIDATIONS, MISSES, NOT_STORED, OVERLOADED, QUEUED, REFRESHES,
    RuntimeStats, SOFT_TIMEOUTS, STALE_SERVED, THROTTLED, TOO_LARGE, family,
};
use crate::stats::{
    L2_DECODE_FAILURES, L2_ERRORS, L2_HITS, L2_LOCK_WAITS, L2_MISSES, L2_SKIPPED, L2_TIMEOUTS,
    L2_WRITES, L2CacheStats,
};

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
    let families: [FamilyOf<CacheStats>; 20] = [
        (HITS, |c| c.hits.into()),
        (MISSES, |c| c.misses.into()),
        (QUEUED, |c| c.queued.into()),
        (OVERLOADED, |c| c.overloaded.into()),
        (THROTTLED, |c| c.throttled.into()),
        (NOT_STORED, |c| c.not_stored.into()),
        (HARD_TIMEOUTS, |c| c.hard_timeouts.into()),
        (SOFT_TIMEOUTS, |c| c.soft_timeouts.into()),
        (COALESCED, |c| c.coalesced.into()),
        (STALE_SERVED, |c| c.stale_served.into()),
        (REFRESHES, |c| c.refreshes.into()),
        (ERRORS_NOT_CACHED, |c| c.errors_not_cached.into()),
        (TOO_LARGE, |c| c.too_large.into()),
        (ENCODE_ERRORS, |c| c.encode_errors.into()),
        (EVICTIONS, |c| c.evictions.into()),
        (INVALIDATIONS, |c| c.invalidations.into()),
        (ENTRIES, |c| c.entries.into()),
        (BYTES, |c| c.bytes.into()),
        (
            family(
                "cache_compute_seconds_mean",
                Kind::Gauge,
                "Mean duration of a body run.",
            ),
            |c| (c.mean_compute_ms / 1e3).into(),
        ),
        (
            family("cache_hit_ratio", Kind::Gauge, "hits / (hits + misses)."),
            |c| c.hit_ratio.into(),
        ),
    ];
    render_per_cache(out, &families, stats, |c| c);
    let ns = stats.namespace.as_str();
    let l1 = &stats.l1;
    for (family, value) in [
        (
            family(
                "cache_l1_bytes",
                Kind::Gauge,
                "Weighted bytes held by the in-process tier.",
            ),
            l1.bytes,
        ),
        (
            family(
                "cache_l1_capacity_bytes",
                Kind::Gauge,
                "Byte budget of the in-process tier.",
            ),
            l1.capacity_bytes,
        ),
        (
            family(
                "cache_l1_entries",
                Kind::Gauge,
                "Entries held by the in-process tier.",
            ),
            l1.entries,
        ),
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
        (
            family(
                "cache_l2_read_seconds_mean",
                Kind::Gauge,
                "Mean duration of a successful Redis read.",
            ),
            |c| (c.mean_read_ms / 1e3).into(),
        ),
    ];
    render_per_cache(out, &families, stats, |c| &c.l2);
    let Some(l2) = &stats.l2 else {
        return;
    };
    let ns = stats.namespace.as_str();
    let runtime: [(Family, Value); 11] = [
        (
            family(
                "cache_l2_connected",
                Kind::Gauge,
                "1 once the Redis connection is established.",
            ),
            l2.connected.into(),
        ),
        (
            family(
                "cache_l2_circuit_state",
                Kind::Gauge,
                "Circuit breaker: 0 closed, 1 half-open, 2 open.",
            ),
            u64::from(l2.circuit.gauge()).into(),
        ),
        (
            family(
                "cache_l2_operation_errors_total",
                Kind::Counter,
                "Redis operations of any kind that failed.",
            ),
            l2.errors.into(),
        ),
        (
            family(
                "cache_l2_operation_timeouts_total",
                Kind::Counter,
                "Redis operations of any kind past the deadline.",
            ),
            l2.timeouts.into(),
        ),
        (
            family(
                "cache_l2_operations_skipped_total",
                Kind::Counter,
                "Redis operations not attempted.",
            ),
            l2.skipped.into(),
        ),
        (
            family(
                "cache_l2_repaired_total",
                Kind::Counter,
                "Values under this runtime's Redis keys that it never writes, found and reset.",
            ),
            l2.repaired.into(),
        ),
        (
            family(
                "cache_l2_rejected_total",
                Kind::Counter,
                "Redis entries refused for their authenticity (another key's, unsigned, forged), overwritten.",
            ),
            l2.rejected.into(),
        ),
        (
            family(
                "cache_l2_latency_seconds_mean",
                Kind::Gauge,
                "Mean duration of a successful Redis operation.",
            ),
            (l2.mean_latency_ms / 1e3).into(),
        ),
        (
            family(
                "cache_backplane_sent_total",
                Kind::Counter,
                "Backplane messages sent.",
            ),
            l2.backplane_sent.into(),
        ),
        (
            family(
                "cache_backplane_received_total",
                Kind::Counter,
                "Backplane messages received from other instances.",
            ),
            l2.backplane_received.into(),
        ),
        (
            family(
                "cache_backplane_resubscribed_total",
                Kind::Counter,
                "Backplane resubscriptions (each clears the in-process tier).",
            ),
            l2.backplane_resubscribed.into(),
        ),
    ];
    for (family, value) in runtime {
        render_runtime(out, &family, ns, value);
    }
}
