//! The in-process tier's methods of [`CacheRuntimeBuilder`]: per-cache capacity and
//! eviction listeners. They live with the tier, as the Redis ones live with theirs.

use std::sync::Arc;

use super::{Eviction, EvictionReceiver};
use crate::runtime::CacheRuntimeBuilder;

impl CacheRuntimeBuilder {
    /// Gives cache `name` an in-process byte budget of its own, `bytes` (at least 1):
    /// its entries are weighed as against `max_bytes` and evicted among themselves, so a
    /// busy cache cannot push other caches' entries out, and the caches without one share
    /// `max_bytes` as before. Replaces the attribute's `capacity`. The figures are in the
    /// cache's `capacity_bytes` and `bytes` (Prometheus `cache_capacity_bytes`,
    /// `cache_bytes`); `stats().l1` covers the shared budget only.
    ///
    /// ```
    /// let rt = cache_runtime::CacheRuntime::builder()
    ///     .max_bytes(64 << 20)
    ///     .cache_capacity("thumbnails", 16 << 20)
    ///     .build();
    /// # let _ = rt;
    /// ```
    pub fn cache_capacity(mut self, name: impl Into<String>, bytes: u64) -> Self {
        self.capacities.insert(name.into(), bytes.max(1));
        self
    }

    /// Calls `listener` for every entry that leaves the in-process tier, with its cache,
    /// its key's readable form and why ([`EvictionCause`](crate::EvictionCause)): evicted
    /// for room, replaced, invalidated, expired or idle. It runs on the thread that
    /// stored, evicted or invalidated, after the map's lock is released, so it must be
    /// quick (hand slow work to [`evictions`](Self::evictions)); a panic in it is logged
    /// and swallowed. Without a listener nothing of this runs.
    ///
    /// The map has no timers: an entry past its TTL or `tti` is reported as `Expired` or
    /// `Idle` when its recomputation replaces it or the map evicts it, not the moment it
    /// expires.
    ///
    /// ```
    /// use std::sync::atomic::{AtomicU64, Ordering};
    /// use std::sync::Arc;
    /// use cache_runtime::{CacheRuntime, EvictionCause};
    ///
    /// let replaced = Arc::new(AtomicU64::new(0));
    /// let seen = Arc::clone(&replaced);
    /// let rt = CacheRuntime::builder()
    ///     .on_evict(move |e| {
    ///         if e.cause == EvictionCause::Replaced {
    ///             seen.fetch_add(1, Ordering::Relaxed);
    ///         }
    ///     })
    ///     .build();
    /// # let _ = rt;
    /// ```
    pub fn on_evict(mut self, listener: impl Fn(&Eviction) + Send + Sync + 'static) -> Self {
        self.listeners.add(Arc::new(listener));
        self
    }

    /// Eviction events (those [`on_evict`](Self::on_evict) sees) through a bounded queue
    /// of `capacity` events, for a listener that is slow or async: the cache never waits
    /// for it; an event that finds the queue full is dropped and counted in the cache's
    /// `eviction_events_dropped` (Prometheus `cache_eviction_events_dropped_total`).
    /// Returns the builder and the receiving end.
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")] async fn main() {
    /// let (builder, mut events) = cache_runtime::CacheRuntime::builder().evictions(4096);
    /// let rt = builder.build();
    /// tokio::spawn(async move {
    ///     while let Some(e) = events.recv().await {
    ///         println!("{} {}: {}", e.cache, e.key, e.cause);
    ///     }
    /// });
    /// # let _ = rt;
    /// # }
    /// ```
    pub fn evictions(mut self, capacity: usize) -> (Self, EvictionReceiver) {
        let receiver = self.listeners.queue(capacity);
        (self, receiver)
    }
}
