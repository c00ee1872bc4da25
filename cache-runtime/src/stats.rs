//! Per-cache counters, their serializable snapshot and Prometheus text.

use std::cell::Cell;
use std::fmt::Write as _;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};

use serde::{Deserialize, Serialize};

const STRIPES: usize = 8;

#[repr(align(128))]
#[derive(Default)]
struct Padded(AtomicU64);

/// A counter bumped on every cache hit: striped over cache lines so two threads hitting
/// one hot key do not bounce one line between cores.
#[derive(Default)]
pub(crate) struct HitCounter([Padded; STRIPES]);

thread_local! {
    static STRIPE: Cell<usize> = const { Cell::new(usize::MAX) };
}

fn stripe() -> usize {
    STRIPE.with(|s| {
        let v = s.get();
        if v != usize::MAX {
            return v;
        }
        static NEXT: AtomicU64 = AtomicU64::new(0);
        let v = (NEXT.fetch_add(1, Relaxed) as usize) % STRIPES;
        s.set(v);
        v
    })
}

impl HitCounter {
    #[inline]
    pub(crate) fn incr(&self) {
        self.0[stripe()].0.fetch_add(1, Relaxed);
    }
    pub(crate) fn get(&self) -> u64 {
        self.0.iter().map(|p| p.0.load(Relaxed)).sum()
    }
}

/// The live counters of one cache name.
#[derive(Default)]
pub(crate) struct Counters {
    pub(crate) hits: HitCounter,
    pub(crate) misses: AtomicU64,
    pub(crate) coalesced: AtomicU64,
    pub(crate) stale_served: AtomicU64,
    pub(crate) refreshes: AtomicU64,
    pub(crate) errors_not_cached: AtomicU64,
    pub(crate) too_large: AtomicU64,
    pub(crate) encode_errors: AtomicU64,
    pub(crate) evictions: AtomicU64,
    pub(crate) invalidations: AtomicU64,
    pub(crate) entries: AtomicU64,
    pub(crate) bytes: AtomicU64,
    pub(crate) computes: AtomicU64,
    pub(crate) compute_nanos: AtomicU64,
    /// Computations that waited for a permit of the cache's bulkhead.
    pub(crate) queued: AtomicU64,
    /// Computations turned away because the bulkhead stayed full past `max_wait`.
    pub(crate) overloaded: AtomicU64,
    pub(crate) l2: L2Counters,
}

/// The remote-tier counters of one cache name.
#[derive(Default)]
pub(crate) struct L2Counters {
    pub(crate) hits: AtomicU64,
    pub(crate) misses: AtomicU64,
    pub(crate) errors: AtomicU64,
    pub(crate) timeouts: AtomicU64,
    pub(crate) decode_failures: AtomicU64,
    pub(crate) skipped: AtomicU64,
    pub(crate) writes: AtomicU64,
    pub(crate) lock_waits: AtomicU64,
    pub(crate) reads: AtomicU64,
    pub(crate) read_nanos: AtomicU64,
}

impl L2Counters {
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
    pub(crate) fn bump(c: &AtomicU64) {
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
    fn gauge(self) -> u8 {
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

/// Escapes a Prometheus label value.
pub(crate) fn escape_label(v: &str) -> String {
    v.replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

/// A metric family: name, type, help text, and how to read a sample from one cache's
/// figures.
type Family<T> = (&'static str, &'static str, &'static str, fn(&T) -> f64);

/// One metric family per entry of `families`, one sample per cache, read from the part of
/// each cache's figures that `part` picks.
fn render_per_cache<T>(
    families: &[Family<T>],
    stats: &RuntimeStats,
    ns: &str,
    part: impl Fn(&CacheStats) -> &T,
    out: &mut String,
) {
    for (name, kind, help, field) in families {
        let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} {kind}");
        for c in &stats.caches {
            let _ = writeln!(
                out,
                "{name}{{namespace=\"{ns}\",cache=\"{}\"}} {}",
                escape_label(&c.name),
                field(part(c))
            );
        }
    }
}

/// Renders the cache figures in the Prometheus text exposition format.
pub(crate) fn render_prometheus(stats: &RuntimeStats, out: &mut String) {
    let families: [Family<CacheStats>; 16] = [
        (
            "cache_hits_total",
            "counter",
            "Lookups answered from the cache.",
            |c| c.hits as f64,
        ),
        (
            "cache_misses_total",
            "counter",
            "Lookups that found no fresh entry.",
            |c| c.misses as f64,
        ),
        (
            "cache_queued_total",
            "counter",
            "Computations that waited for a permit of the cache's bulkhead.",
            |c| c.queued as f64,
        ),
        (
            "cache_overloaded_total",
            "counter",
            "Computations turned away because the cache's bulkhead stayed full.",
            |c| c.overloaded as f64,
        ),
        (
            "cache_coalesced_total",
            "counter",
            "Misses that waited for a concurrent computation.",
            |c| c.coalesced as f64,
        ),
        (
            "cache_stale_served_total",
            "counter",
            "Expired values served because recomputation failed.",
            |c| c.stale_served as f64,
        ),
        (
            "cache_refreshes_total",
            "counter",
            "Background refreshes started.",
            |c| c.refreshes as f64,
        ),
        (
            "cache_errors_not_cached_total",
            "counter",
            "Err or None results not cached.",
            |c| c.errors_not_cached as f64,
        ),
        (
            "cache_too_large_total",
            "counter",
            "Values over max_bytes, not cached.",
            |c| c.too_large as f64,
        ),
        (
            "cache_encode_errors_total",
            "counter",
            "Calls run uncached because the key failed to encode.",
            |c| c.encode_errors as f64,
        ),
        (
            "cache_evictions_total",
            "counter",
            "Entries evicted to stay within the byte budget.",
            |c| c.evictions as f64,
        ),
        (
            "cache_invalidations_total",
            "counter",
            "Invalidation calls naming the cache.",
            |c| c.invalidations as f64,
        ),
        ("cache_entries", "gauge", "Entries held.", |c| {
            c.entries as f64
        }),
        ("cache_bytes", "gauge", "Bytes held.", |c| c.bytes as f64),
        (
            "cache_compute_seconds_mean",
            "gauge",
            "Mean duration of a body run.",
            |c| c.mean_compute_ms / 1e3,
        ),
        ("cache_hit_ratio", "gauge", "hits / (hits + misses).", |c| {
            c.hit_ratio
        }),
    ];
    let ns = escape_label(&stats.namespace);
    render_per_cache(&families, stats, &ns, |c| c, out);
    let l1 = &stats.l1;
    let _ = writeln!(
        out,
        "# HELP cache_l1_bytes Weighted bytes held by the in-process tier.\n# TYPE cache_l1_bytes gauge\ncache_l1_bytes{{namespace=\"{ns}\"}} {}\n# HELP cache_l1_capacity_bytes Byte budget of the in-process tier.\n# TYPE cache_l1_capacity_bytes gauge\ncache_l1_capacity_bytes{{namespace=\"{ns}\"}} {}\n# HELP cache_l1_entries Entries held by the in-process tier.\n# TYPE cache_l1_entries gauge\ncache_l1_entries{{namespace=\"{ns}\"}} {}",
        l1.bytes, l1.capacity_bytes, l1.entries
    );
    if stats.l2.is_some() {
        render_l2(stats, &ns, out);
    }
}

fn render_l2(stats: &RuntimeStats, ns: &str, out: &mut String) {
    let families: [Family<L2CacheStats>; 9] = [
        (
            "cache_l2_hits_total",
            "counter",
            "Reads that found a current entry in Redis.",
            |c| c.hits as f64,
        ),
        (
            "cache_l2_misses_total",
            "counter",
            "Reads that found no current entry in Redis.",
            |c| c.misses as f64,
        ),
        (
            "cache_l2_errors_total",
            "counter",
            "Redis reads and writes that failed.",
            |c| c.errors as f64,
        ),
        (
            "cache_l2_timeouts_total",
            "counter",
            "Redis reads and writes past the deadline.",
            |c| c.timeouts as f64,
        ),
        (
            "cache_l2_decode_failures_total",
            "counter",
            "Redis entries that did not decode (overwritten).",
            |c| c.decode_failures as f64,
        ),
        (
            "cache_l2_skipped_total",
            "counter",
            "Redis reads skipped (circuit open, not connected).",
            |c| c.skipped as f64,
        ),
        (
            "cache_l2_writes_total",
            "counter",
            "Values written to Redis.",
            |c| c.writes as f64,
        ),
        (
            "cache_l2_lock_waits_total",
            "counter",
            "Misses answered by another instance's computation (lock = true).",
            |c| c.lock_waits as f64,
        ),
        (
            "cache_l2_read_seconds_mean",
            "gauge",
            "Mean duration of a successful Redis read.",
            |c| c.mean_read_ms / 1e3,
        ),
    ];
    render_per_cache(&families, stats, ns, |c| &c.l2, out);
    let Some(l2) = &stats.l2 else {
        return;
    };
    let runtime: [(&str, &str, &str, f64); 10] = [
        (
            "cache_l2_connected",
            "gauge",
            "1 once the Redis connection is established.",
            f64::from(u8::from(l2.connected)),
        ),
        (
            "cache_l2_circuit_state",
            "gauge",
            "Circuit breaker: 0 closed, 1 half-open, 2 open.",
            f64::from(l2.circuit.gauge()),
        ),
        (
            "cache_l2_operation_errors_total",
            "counter",
            "Redis operations of any kind that failed.",
            l2.errors as f64,
        ),
        (
            "cache_l2_operation_timeouts_total",
            "counter",
            "Redis operations of any kind past the deadline.",
            l2.timeouts as f64,
        ),
        (
            "cache_l2_operations_skipped_total",
            "counter",
            "Redis operations not attempted.",
            l2.skipped as f64,
        ),
        (
            "cache_l2_repaired_total",
            "counter",
            "Values under this runtime's Redis keys that it never writes, found and reset.",
            l2.repaired as f64,
        ),
        (
            "cache_l2_latency_seconds_mean",
            "gauge",
            "Mean duration of a successful Redis operation.",
            l2.mean_latency_ms / 1e3,
        ),
        (
            "cache_backplane_sent_total",
            "counter",
            "Backplane messages sent.",
            l2.backplane_sent as f64,
        ),
        (
            "cache_backplane_received_total",
            "counter",
            "Backplane messages received from other instances.",
            l2.backplane_received as f64,
        ),
        (
            "cache_backplane_resubscribed_total",
            "counter",
            "Backplane resubscriptions (each clears the in-process tier).",
            l2.backplane_resubscribed as f64,
        ),
    ];
    for (name, kind, help, value) in runtime {
        let _ = writeln!(
            out,
            "# HELP {name} {help}\n# TYPE {name} {kind}\n{name}{{namespace=\"{ns}\"}} {value}"
        );
    }
}
