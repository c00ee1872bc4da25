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
        }
    }
}

/// Figures of one cache name since start-up.
///
/// `hits + misses` is the number of lookups; `coalesced` counts misses that waited for a
/// concurrent caller's computation instead of computing; `computes` counts runs of the
/// function body.
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
    /// Mean duration of a body run, in milliseconds.
    pub mean_compute_ms: f64,
    /// `hits / (hits + misses)`, 0 when there were no lookups.
    pub hit_ratio: f64,
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

/// Renders the cache figures in the Prometheus text exposition format.
pub(crate) fn render_prometheus(stats: &RuntimeStats, out: &mut String) {
    type Field = fn(&CacheStats) -> f64;
    let families: [(&str, &str, &str, Field); 14] = [
        ("cache_hits_total", "counter", "Lookups answered from the cache.", |c| c.hits as f64),
        ("cache_misses_total", "counter", "Lookups that found no fresh entry.", |c| c.misses as f64),
        ("cache_coalesced_total", "counter", "Misses that waited for a concurrent computation.", |c| c.coalesced as f64),
        ("cache_stale_served_total", "counter", "Expired values served because recomputation failed.", |c| c.stale_served as f64),
        ("cache_refreshes_total", "counter", "Background refreshes started.", |c| c.refreshes as f64),
        ("cache_errors_not_cached_total", "counter", "Err or None results not cached.", |c| c.errors_not_cached as f64),
        ("cache_too_large_total", "counter", "Values over max_bytes, not cached.", |c| c.too_large as f64),
        ("cache_encode_errors_total", "counter", "Calls run uncached because the key failed to encode.", |c| c.encode_errors as f64),
        ("cache_evictions_total", "counter", "Entries evicted to stay within the byte budget.", |c| c.evictions as f64),
        ("cache_invalidations_total", "counter", "Invalidation calls naming the cache.", |c| c.invalidations as f64),
        ("cache_entries", "gauge", "Entries held.", |c| c.entries as f64),
        ("cache_bytes", "gauge", "Bytes held.", |c| c.bytes as f64),
        ("cache_compute_seconds_mean", "gauge", "Mean duration of a body run.", |c| c.mean_compute_ms / 1e3),
        ("cache_hit_ratio", "gauge", "hits / (hits + misses).", |c| c.hit_ratio),
    ];
    let ns = escape_label(&stats.namespace);
    for (name, kind, help, field) in families {
        let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} {kind}");
        for c in &stats.caches {
            let _ = writeln!(
                out,
                "{name}{{namespace=\"{ns}\",cache=\"{}\"}} {}",
                escape_label(&c.name),
                field(c)
            );
        }
    }
    let l1 = &stats.l1;
    let _ = writeln!(
        out,
        "# HELP cache_l1_bytes Weighted bytes held by the in-process tier.\n# TYPE cache_l1_bytes gauge\ncache_l1_bytes{{namespace=\"{ns}\"}} {}\n# HELP cache_l1_capacity_bytes Byte budget of the in-process tier.\n# TYPE cache_l1_capacity_bytes gauge\ncache_l1_capacity_bytes{{namespace=\"{ns}\"}} {}\n# HELP cache_l1_entries Entries held by the in-process tier.\n# TYPE cache_l1_entries gauge\ncache_l1_entries{{namespace=\"{ns}\"}} {}",
        l1.bytes, l1.capacity_bytes, l1.entries
    );
}
