//! The in-process tier (L1): one quick_cache (S3-FIFO, sharded) for every cache of a runtime,
//! weighted by bytes, holding decoded values behind a type-erased `Arc`.
//!
//! quick_cache has no notion of time: each entry carries its own deadlines, checked on
//! read against the coarse clock (see `notes/l1-hit-path.md` in the design notes for why
//! this beats moka's timer wheel on the hit path). An expired entry stays until it is
//! replaced or evicted, which is also what lets it serve as the fail-safe copy for
//! `stale_if_error`. The full encoded key is the map key, so a hit always compares it.

use std::any::Any;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use crate::state::{CacheState, TagState};

/// What every entry knows about itself, whatever its value type.
pub(crate) struct Meta {
    pub(crate) cache: Arc<CacheState>,
    /// The cache's generation when the computation began (`invalidate_all` bumps it).
    pub(crate) generation: u64,
    /// Tags with their generation when the computation began (`invalidate_tag` bumps it).
    pub(crate) tags: Box<[(Arc<TagState>, u64)]>,
    pub(crate) fresh_until: u64,
    pub(crate) stale_until: u64,
    pub(crate) refresh_after: u64,
    /// Set by the first hit past `refresh_after`, so one refresh runs per entry.
    pub(crate) refreshing: AtomicBool,
    pub(crate) weight: u64,
    /// Whether this entry was counted into the cache's `entries` and `bytes`.
    pub(crate) counted: AtomicBool,
}

impl Meta {
    /// Not invalidated since it was computed.
    #[inline]
    pub(crate) fn is_current(&self) -> bool {
        self.cache.generation.load(Ordering::Acquire) == self.generation
            && self
                .tags
                .iter()
                .all(|(t, g)| t.generation.load(Ordering::Acquire) == *g)
    }

    pub(crate) fn count_in(&self) {
        if !self.counted.swap(true, Ordering::AcqRel) {
            let c = &self.cache.counters;
            c.entries.fetch_add(1, Ordering::Relaxed);
            c.bytes.fetch_add(self.weight, Ordering::Relaxed);
        }
    }
}

impl Drop for Meta {
    fn drop(&mut self) {
        if *self.counted.get_mut() {
            let c = &self.cache.counters;
            c.entries.fetch_sub(1, Ordering::Relaxed);
            c.bytes.fetch_sub(self.weight, Ordering::Relaxed);
        }
    }
}

/// One cached value with its bookkeeping.
pub(crate) struct Slot<V> {
    pub(crate) meta: Meta,
    pub(crate) value: V,
}

/// A slot whose value type has been erased.
pub(crate) trait ErasedSlot: Send + Sync {
    fn meta(&self) -> &Meta;
    fn as_any(&self) -> &dyn Any;
}

impl<V: Send + Sync + 'static> ErasedSlot for Slot<V> {
    #[inline]
    fn meta(&self) -> &Meta {
        &self.meta
    }
    #[inline]
    fn as_any(&self) -> &dyn Any {
        self
    }
}

pub(crate) type Entry = Arc<dyn ErasedSlot>;

/// Downcasts an entry to its value type.
#[inline]
pub(crate) fn value_of<V: 'static>(entry: &Entry) -> Option<&V> {
    entry.as_any().downcast_ref::<Slot<V>>().map(|s| &s.value)
}

#[derive(Clone)]
struct Weigher;

impl quick_cache::Weighter<Box<[u8]>, Entry> for Weigher {
    fn weight(&self, _key: &Box<[u8]>, val: &Entry) -> u64 {
        val.meta().weight
    }
}

#[derive(Clone)]
struct Evictions;

impl quick_cache::Lifecycle<Box<[u8]>, Entry> for Evictions {
    type RequestState = ();
    fn on_evict(&self, _state: &mut (), _key: Box<[u8]>, val: Entry) {
        val.meta()
            .cache
            .counters
            .evictions
            .fetch_add(1, Ordering::Relaxed);
    }
}

type Map =
    quick_cache::sync::Cache<Box<[u8]>, Entry, Weigher, foldhash::fast::RandomState, Evictions>;

/// The tier itself.
pub(crate) struct Local {
    map: Map,
    capacity: u64,
}

impl Local {
    pub(crate) fn new(capacity_bytes: u64) -> Self {
        // Estimated entries: a byte budget of small API values averages a few hundred bytes.
        let estimated = (capacity_bytes / 512).clamp(1024, 4 << 20) as usize;
        let mut opts = quick_cache::OptionsBuilder::new();
        opts.estimated_items_capacity(estimated)
            .weight_capacity(capacity_bytes.max(1));
        let Ok(options) = opts.build() else {
            // Only reachable with a zero capacity, excluded by `max(1)` above.
            unreachable!("quick_cache options with a positive capacity are valid")
        };
        Self {
            map: Map::with_options(
                options,
                Weigher,
                foldhash::fast::RandomState::default(),
                Evictions,
            ),
            capacity: capacity_bytes,
        }
    }

    #[inline]
    pub(crate) fn get(&self, key: &[u8]) -> Option<Entry> {
        self.map.get(key)
    }

    pub(crate) fn insert(&self, key: &[u8], entry: Entry) {
        entry.meta().count_in();
        self.map.insert(key.into(), entry);
    }

    pub(crate) fn remove(&self, key: &[u8]) -> bool {
        self.map.remove(key).is_some()
    }

    /// Drops every entry of one cache.
    pub(crate) fn purge(&self, cache_id: u32) {
        self.map.retain(|_, v| v.meta().cache.id != cache_id);
    }

    pub(crate) fn len(&self) -> u64 {
        self.map.len() as u64
    }

    pub(crate) fn weight(&self) -> u64 {
        self.map.weight()
    }

    pub(crate) fn capacity(&self) -> u64 {
        self.capacity
    }
}
