//! Per-cache capacity (`capacity = "16MiB"`, `CacheRuntimeBuilder::cache_capacity`): a
//! capped cache gets a quick_cache map of its own, weighted like the shared one with that
//! byte budget, so its entries are evicted among themselves and never push another
//! cache's out; the caches without one share the tier's map and its `max_bytes`.
//!
//! A call site finds its cache's map once, when it is resolved ([`Part`]), so a hit
//! reads no registry; invalidations, which name a cache, look it up here.

use std::collections::HashMap;
use std::sync::Arc;

use parking_lot::RwLock;

use super::{Evictions, Map, Weigher};

/// The map of one capped cache, or `None`: the shared one.
pub(crate) type Part = Option<Arc<Capped>>;

/// One capped cache's map and budget.
pub(crate) struct Capped {
    pub(super) map: Map,
    pub(super) capacity: u64,
}

/// The capped caches of a tier, by cache id.
#[derive(Default)]
pub(crate) struct Parts {
    maps: RwLock<HashMap<u32, Arc<Capped>>>,
}

impl Parts {
    /// The map of cache `id`, made with `capacity` bytes the first time (a later call
    /// with another capacity gets the first one's map).
    pub(crate) fn capped(&self, id: u32, capacity: u64) -> Arc<Capped> {
        if let Some(c) = self.maps.read().get(&id) {
            return Arc::clone(c);
        }
        let mut maps = self.maps.write();
        Arc::clone(maps.entry(id).or_insert_with(|| {
            Arc::new(Capped {
                map: map(capacity, Some(capacity)),
                capacity,
            })
        }))
    }

    /// The map of cache `id` if it is capped.
    pub(crate) fn of(&self, id: u32) -> Part {
        self.maps.read().get(&id).cloned()
    }
}

/// A map of `capacity` bytes. `shards`: for a capped cache's map (`Some(capacity)`), few
/// enough that each shard holds at least 64 KiB (quick_cache splits the budget evenly
/// among its shards, and refuses an entry heavier than its shard's part).
pub(super) fn map(capacity: u64, capped: Option<u64>) -> Map {
    // Estimated entries: a byte budget of small API values averages a few hundred bytes.
    let estimated = (capacity / 512).clamp(if capped.is_some() { 64 } else { 1024 }, 4 << 20);
    let mut opts = quick_cache::OptionsBuilder::new();
    opts.estimated_items_capacity(estimated as usize)
        .weight_capacity(capacity.max(1));
    if let Some(bytes) = capped {
        let shards = (bytes / (64 << 10)).clamp(1, 64);
        // A power of two at most `shards`.
        opts.shards(1 << (63 - shards.leading_zeros()));
    }
    let Ok(options) = opts.build() else {
        // Only reachable with a zero capacity, excluded by `max(1)` above.
        unreachable!("quick_cache options with a positive capacity are valid")
    };
    Map::with_options(
        options,
        Weigher,
        foldhash::fast::RandomState::default(),
        Evictions,
    )
}
