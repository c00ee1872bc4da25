//! Eviction events: why an entry left the in-process tier, told to the listeners the
//! runtime was built with ([`CacheRuntimeBuilder::on_evict`] and
//! [`CacheRuntimeBuilder::evictions`]).
//!
//! The map has no timers, so an entry past its TTL (or its `tti`) is reported when the
//! runtime next deals with it: when its recomputation replaces it, when the map evicts it
//! for room, or when an invalidation removes it; an expired entry nobody reads again and
//! nothing evicts stays (and is reported) later. Everything here runs after the shard's
//! lock is released, on the thread that stored, evicted or invalidated.
//!
//! [`CacheRuntimeBuilder::on_evict`]: crate::CacheRuntimeBuilder::on_evict
//! [`CacheRuntimeBuilder::evictions`]: crate::CacheRuntimeBuilder::evictions

use std::fmt;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::Arc;
use std::sync::atomic::Ordering;

use tokio::sync::mpsc;

use super::Meta;
use crate::ServedFrom;
use crate::key;
use crate::state::CacheState;

/// Why an entry left the in-process tier.
///
/// ```
/// use cache_runtime::EvictionCause;
/// assert_eq!(EvictionCause::Capacity.as_str(), "capacity");
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum EvictionCause {
    /// Past its TTL (or expired by `expire*`) when it was replaced by its recomputation,
    /// evicted or removed: reported then, not at the moment the TTL ran out.
    Expired,
    /// Not read for the cache's `tti` when it was replaced, evicted or removed.
    Idle,
    /// Evicted to keep the tier (or its cache's `capacity`) within its byte budget, or
    /// refused by it (a value larger than the budget allows).
    Capacity,
    /// A new value was stored over a live one (a recomputation, a refresh, `cache_put`).
    Replaced,
    /// Removed by an invalidation: of the key, of the whole cache, of one of its tags (the
    /// entry is reported when it is found dead: replaced, evicted), a purge.
    Invalidated,
}

impl EvictionCause {
    /// The cause in lower case, as a label.
    pub fn as_str(self) -> &'static str {
        match self {
            EvictionCause::Expired => "expired",
            EvictionCause::Idle => "idle",
            EvictionCause::Capacity => "capacity",
            EvictionCause::Replaced => "replaced",
            EvictionCause::Invalidated => "invalidated",
        }
    }
}

impl fmt::Display for EvictionCause {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// An entry that left a tier: the in-process tier, or the disk tier (feature `disk`).
///
/// ```
/// use cache_runtime::{CacheRuntime, Eviction};
/// let rt = CacheRuntime::builder()
///     .on_evict(|e: &Eviction| println!("{} {} left: {}", e.cache, e.key, e.cause))
///     .build();
/// # let _ = rt;
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct Eviction {
    /// The cache name.
    pub cache: Arc<str>,
    /// The key value read back from its encoding: `(7, "en")` for a function of
    /// `(id: u32, lang: &str)`, with `::<T>` after it for a generic function's type
    /// parameters (see [the keys guide](crate::guide::keys)). Empty for a record the disk
    /// engine dropped for room: it drops a whole block of records without reading them,
    /// and what it knows of each (a hash) names the cache, not the key.
    pub key: String,
    /// Why it left.
    pub cause: EvictionCause,
    /// The tier it left: [`ServedFrom::Local`] (the in-process tier) or
    /// [`ServedFrom::Disk`] (see [the disk guide](crate::guide::disk)).
    pub tier: ServedFrom,
}

/// The receiving end of [`CacheRuntimeBuilder::evictions`](crate::CacheRuntimeBuilder::evictions):
/// a bounded queue, so a slow reader never holds the cache up; events that find it full
/// are dropped and counted in each cache's `eviction_events_dropped`. Works in any async
/// runtime, and blocking outside one.
///
/// ```
/// # #[tokio::main(flavor = "current_thread")] async fn main() {
/// let (builder, mut events) = cache_runtime::CacheRuntime::builder().evictions(1024);
/// let rt = builder.build();
/// # drop(rt);
/// assert!(events.recv().await.is_none()); // the runtime is gone: no more events
/// # }
/// ```
#[derive(Debug)]
pub struct EvictionReceiver(mpsc::Receiver<Eviction>);

impl EvictionReceiver {
    /// The next event, waiting for it; `None` once the runtime is dropped and the queue
    /// is empty.
    pub async fn recv(&mut self) -> Option<Eviction> {
        self.0.recv().await
    }

    /// The next event if one is waiting.
    pub fn try_recv(&mut self) -> Option<Eviction> {
        self.0.try_recv().ok()
    }

    /// The next event, blocking the thread (never call it inside an async task).
    pub fn blocking_recv(&mut self) -> Option<Eviction> {
        self.0.blocking_recv()
    }
}

/// A synchronous eviction listener.
pub(crate) type OnEvict = Arc<dyn Fn(&Eviction) + Send + Sync>;

/// Who hears of evictions; the tier holds one only when someone listens.
#[derive(Clone, Default)]
pub(crate) struct Listeners {
    pub(crate) sync: Vec<OnEvict>,
    pub(crate) queue: Option<mpsc::Sender<Eviction>>,
}

impl fmt::Debug for Listeners {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Listeners")
            .field("sync", &self.sync.len())
            .field("queue", &self.queue.is_some())
            .finish()
    }
}

impl Listeners {
    /// A queue of `capacity` events (at least 1) and its receiver.
    pub(crate) fn queue(&mut self, capacity: usize) -> EvictionReceiver {
        let (tx, rx) = mpsc::channel(capacity.max(1));
        self.queue = Some(tx);
        EvictionReceiver(rx)
    }

    /// Adds a synchronous listener.
    pub(crate) fn add(&mut self, listener: OnEvict) {
        self.sync.push(listener);
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.sync.is_empty() && self.queue.is_none()
    }

    /// Tells every listener that the entry of `cache` under `key` (stamped) left for
    /// `cause`. A panicking listener is logged, never passed on to the cache's caller.
    pub(crate) fn tell(&self, cache: &CacheState, key: &[u8], cause: EvictionCause) {
        let key = key::display(key.get(key::PREFIX..).unwrap_or_default());
        self.tell_from(cache, key, cause, ServedFrom::Local);
    }

    /// Tells every listener that the entry of `cache` shown as `key` left `tier` for
    /// `cause` (the disk tier's events come through here).
    pub(crate) fn tell_from(
        &self,
        cache: &CacheState,
        key: String,
        cause: EvictionCause,
        tier: ServedFrom,
    ) {
        let event = Eviction {
            cache: Arc::from(&*cache.name),
            key,
            cause,
            tier,
        };
        for listener in &self.sync {
            if catch_unwind(AssertUnwindSafe(|| listener(&event))).is_err() {
                tracing::error!(cache = &*event.cache, "an eviction listener panicked");
            }
        }
        if let Some(queue) = &self.queue
            && queue.try_send(event).is_err()
        {
            crate::stats::Counters::bump(&cache.counters.eviction_events_dropped);
        }
    }
}

/// Why the entry of `meta` (of `cache`) leaves at `now`, when its leaving itself says
/// `otherwise` (replaced, evicted): dead by an invalidation, past its TTL or expired,
/// idle, or not.
pub(crate) fn cause_at(
    cache: &CacheState,
    meta: Meta<'_>,
    now: u64,
    otherwise: EvictionCause,
) -> EvictionCause {
    if !meta.is_alive(cache) {
        EvictionCause::Invalidated
    } else if !meta.is_current(cache) || now >= meta.fresh_until() {
        EvictionCause::Expired
    } else if meta.idle_at(now, cache.tti.load(Ordering::Relaxed)) {
        EvictionCause::Idle
    } else {
        otherwise
    }
}
