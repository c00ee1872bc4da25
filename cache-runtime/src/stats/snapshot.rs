//! The serializable snapshots of the figures: per cache, per tier and per runtime.

use serde::{Deserialize, Serialize};

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
    /// Expiry calls (`expire`, `expire_all`, the typed handle's `expire`) that named this
    /// cache.
    #[serde(default)]
    pub expirations: u64,
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
    /// Calls answered with the fail-safe copy, without calling the body, within
    /// `fail_throttle` of a failed recomputation of their key (also counted in
    /// `stale_served` and `misses`).
    #[serde(default)]
    pub fail_throttled: u64,
    /// Eviction events dropped because the queue of
    /// [`CacheRuntimeBuilder::evictions`](crate::CacheRuntimeBuilder::evictions) was full
    /// (its reader fell behind).
    #[serde(default)]
    pub eviction_events_dropped: u64,
    /// The cache's own byte budget in process (`capacity`, or
    /// [`CacheRuntimeBuilder::cache_capacity`](crate::CacheRuntimeBuilder::cache_capacity)),
    /// which `bytes` stays within; 0 when it shares the runtime's `max_bytes` with the
    /// other caches.
    #[serde(default)]
    pub capacity_bytes: u64,
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
/// let stats = cache_runtime::global().stats();
/// for c in &stats.caches {
///     println!("{}: {} from redis, {} decode failures", c.name, c.l2.hits, c.l2.decode_failures);
/// }
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
/// // `None` without a remote tier.
/// if let Some(l2) = cache_runtime::global().stats().l2 {
///     println!("redis: {:?}, {} errors, {} backplane messages in", l2.circuit, l2.errors, l2.backplane_received);
/// }
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
    /// Operations that did not reach Redis (writes, deletes, generation bumps,
    /// announcements), waiting in the recovery queue to be replayed when it answers.
    #[serde(default)]
    pub recovery_pending: u64,
    /// Bytes those operations hold.
    #[serde(default)]
    pub recovery_bytes: u64,
    /// Operations of the recovery queue that landed.
    #[serde(default)]
    pub recovery_replayed: u64,
    /// Operations of the recovery queue dropped because a newer one replaced them (the
    /// same key changed again, here or on another instance) or their value expired.
    #[serde(default)]
    pub recovery_superseded: u64,
    /// Operations the full recovery queue kept in a coarser form: a value replayed as a
    /// delete of its key, a key as an invalidation of its whole cache.
    #[serde(default)]
    pub recovery_overflowed: u64,
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
    /// The disk tier, when one is open (feature `disk`).
    #[serde(default)]
    pub disk: Option<crate::DiskStats>,
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
