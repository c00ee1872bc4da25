//! The in-process tier (L1): one quick_cache (S3-FIFO, sharded) for every cache of a runtime
//! (and one of its own for each cache with a `capacity`, `local/capped.rs`), weighted by
//! bytes, holding decoded values behind a type-erased `Arc`. Entries leaving it are told
//! to the eviction listeners (`local/events.rs`); `tti` is `local/idle.rs`.
//!
//! quick_cache has no notion of time: each entry carries its own deadlines, checked on
//! read against the coarse clock (see `notes/l1-hit-path.md` in the design notes for why
//! this beats moka's timer wheel on the hit path). An expired entry stays until it is
//! replaced or evicted, which is also what lets it serve as the fail-safe copy for
//! `stale_if_error`. The full encoded key is the map key, so a hit always compares it.
//!
//! # Hot copies
//!
//! Every hit through quick_cache writes shared cache lines: the shard's read lock and the
//! entry's `Arc` count, which two cores calling one hot key fight over. So each thread
//! also keeps [`HOT_SLOTS`] copies of entries it hit twice in a row (direct-mapped by the
//! key's hash, the full key compared), and serves a fresh hit from there with reads
//! only. A copy never answers for longer than the map would:
//!
//! - an entry leaves its copies when it leaves the map: eviction, removal, a purge and
//!   replacement by a newer value (under the cache's store lock) mark it *retired*, which
//!   every copy checks, and uncount it from the cache's `entries` and `bytes` at once;
//! - the generation checks (`invalidate_all`, tags), the TTL and the refresh point are
//!   the map path's, checked on every copy hit; anything but a plain fresh hit goes
//!   through the map;
//! - copies belong to one tier (runtime) by a process-wide id, never reused;
//! - every [`HOT_TOUCH`]th hit of a copy goes through the map, so quick_cache still sees
//!   the key as hot and does not evict it for want of reads;
//! - only entries up to [`HOT_MAX_WEIGHT`](super::slot::HOT_MAX_WEIGHT) bytes are
//!   copied: a retired entry a thread still holds in a slot it has not touched since is
//!   freed when the slot is reused or the thread exits, so this bounds what copies can
//!   hold beyond `max_bytes` to `HOT_SLOTS * HOT_MAX_WEIGHT` per thread.

use std::cell::RefCell;
use std::hash::BuildHasher;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use super::map_key::MapKey;
pub(crate) use super::slot::{Entry, Made, Meta, New, entry_bytes, make, value_of};
use crate::clock;
use crate::state::{CacheState, CacheTable};

mod builder;
mod capped;
mod events;
pub(crate) mod idle;

pub(crate) use capped::Part;
use capped::Parts;

pub(crate) use events::Listeners;
pub use events::{Eviction, EvictionCause, EvictionReceiver};

#[derive(Clone)]
struct Weigher;

impl quick_cache::Weighter<MapKey, Entry> for Weigher {
    fn weight(&self, key: &MapKey, _val: &Entry) -> u64 {
        key.weight()
    }
}

#[derive(Clone)]
struct Evictions;

impl quick_cache::Lifecycle<MapKey, Entry> for Evictions {
    type RequestState = Evicted;
    /// Called for evicted values and, by an insert, for the value it replaces: both are
    /// set aside, to be told apart and released once the shard's lock is free.
    fn on_evict(&self, state: &mut Evicted, key: MapKey, val: Entry) {
        state.0.push((key, val));
    }
}

/// What one request of the map took out of it, for [`Local::insert`] to retire once the
/// shard's lock is free.
#[derive(Default)]
struct Evicted(smallvec::SmallVec<[(MapKey, Entry); 2]>);

/// Takes a retired entry of `weight` out of its cache's `entries` and `bytes`.
fn uncount(cache: &CacheState, weight: u64) {
    cache.counters.entries.fetch_sub(1, Ordering::Relaxed);
    cache.counters.bytes.fetch_sub(weight, Ordering::Relaxed);
}

/// The entry under `key` (of `cache`) left the map: no hot copy serves it again, and it
/// no longer counts in its cache's `entries` and `bytes` (a copy may keep it alive a
/// while). True the first time.
fn retire(cache: &CacheState, key: &MapKey, entry: &Entry) -> bool {
    let (first, counted) = entry.meta().retire();
    if counted {
        uncount(cache, key.weight());
    }
    first
}

/// Hot copies per thread (see the module docs).
pub(crate) const HOT_SLOTS: usize = 32;
/// One hit of a copy in this many goes through the map instead.
pub(crate) const HOT_TOUCH: u8 = 16;

/// One hot copy.
#[derive(Default)]
struct Hot {
    /// The tier it belongs to (0: empty).
    tier: u64,
    key: Vec<u8>,
    entry: Option<Entry>,
    /// The hash of the last key hit through the map at this slot: a second hit in a row
    /// makes the copy.
    candidate: u64,
    hits: u8,
}

thread_local! {
    static HOT: RefCell<Vec<Hot>> = const { RefCell::new(Vec::new()) };
}

/// Ids of tiers, so that no copy answers for another runtime's tier.
static NEXT_TIER: AtomicU64 = AtomicU64::new(1);

/// The hash that picks a key's hot slot.
#[inline]
pub(crate) fn hot_hash(key: &[u8]) -> u64 {
    foldhash::fast::FixedState::with_seed(0x5eed).hash_one(key)
}

type Map = quick_cache::sync::Cache<MapKey, Entry, Weigher, foldhash::fast::RandomState, Evictions>;

/// The tier itself.
pub(crate) struct Local {
    /// The map of every cache without a capacity of its own.
    map: Map,
    capacity: u64,
    /// The maps of the caches with one (`capped.rs`).
    parts: Parts,
    /// This tier's id for the threads' hot copies.
    id: u64,
    /// The caches of the runtime, by id: an entry names its cache by id only.
    caches: Arc<CacheTable>,
    /// Who hears of entries leaving; `None` (one branch) when nobody listens.
    events: Option<Box<Listeners>>,
}

impl Local {
    pub(crate) fn new(capacity_bytes: u64, caches: Arc<CacheTable>, listeners: Listeners) -> Self {
        Self {
            map: capped::map(capacity_bytes, None),
            capacity: capacity_bytes,
            parts: Parts::default(),
            id: NEXT_TIER.fetch_add(1, Ordering::Relaxed),
            caches,
            events: (!listeners.is_empty()).then(|| Box::new(listeners)),
        }
    }

    /// The map of a part: a capped cache's own, or the shared one.
    #[inline]
    fn map_of<'a>(&'a self, part: &'a Part) -> &'a Map {
        part.as_ref().map_or(&self.map, |c| &c.map)
    }

    /// Gives cache `cache_id` a map of its own of `capacity` bytes (the first capacity
    /// given wins) and returns it, for its call sites to keep.
    pub(crate) fn capped(&self, cache_id: u32, capacity: u64) -> Part {
        Some(self.parts.capped(cache_id, capacity))
    }

    /// The part cache `cache_id` lives in (a registry read: not for the hit path).
    pub(crate) fn part(&self, cache_id: u32) -> Part {
        self.parts.of(cache_id)
    }

    /// The byte budget and weight of cache `cache_id`'s own map; `None` when it shares
    /// the tier's.
    pub(crate) fn capped_usage(&self, cache_id: u32) -> Option<(u64, u64)> {
        self.parts
            .of(cache_id)
            .map(|c| (c.capacity, c.map.weight()))
    }

    #[inline]
    pub(crate) fn get(&self, part: &Part, key: &[u8]) -> Option<Entry> {
        self.map_of(part).get(key)
    }

    /// Serves a hit from the calling thread's hot copy of `key` (`hash`: its
    /// [`hot_hash`]): `serve` sees the entry and returns what to answer, or `None` to go
    /// through the map. `None` as well when there is no copy, it was retired, or this hit
    /// is the one in [`HOT_TOUCH`] that reads the map.
    #[inline]
    pub(crate) fn hot<T>(
        &self,
        key: &[u8],
        hash: u64,
        serve: impl FnOnce(&Entry) -> Option<T>,
    ) -> Option<T> {
        HOT.try_with(|hot| {
            let mut hot = hot.try_borrow_mut().ok()?;
            let slot = hot.get_mut(hash as usize % HOT_SLOTS)?;
            if slot.tier != self.id || slot.key != key {
                return None;
            }
            let entry = slot.entry.as_ref()?;
            if entry.meta().retired() {
                slot.entry = None;
                slot.tier = 0;
                return None;
            }
            slot.hits = slot.hits.wrapping_add(1);
            if slot.hits % HOT_TOUCH == 0 {
                return None;
            }
            serve(entry)
        })
        .ok()
        .flatten()
    }

    /// After a fresh hit of `entry` through the map: the second such hit of `key` in a
    /// row at its slot makes it the thread's hot copy there.
    pub(crate) fn remember(&self, key: &[u8], hash: u64, entry: &Entry) {
        if entry.meta().heavy() {
            return;
        }
        let _ = HOT.try_with(|hot| {
            let Ok(mut hot) = hot.try_borrow_mut() else {
                return;
            };
            if hot.is_empty() {
                hot.resize_with(HOT_SLOTS, Hot::default);
            }
            let slot = &mut hot[hash as usize % HOT_SLOTS];
            let copied = slot.tier == self.id
                && slot.key == key
                && slot.entry.as_ref().is_some_and(|e| Arc::ptr_eq(e, entry));
            if copied {
                return;
            }
            if slot.candidate != hash {
                slot.candidate = hash;
                return;
            }
            slot.tier = self.id;
            slot.key.clear();
            slot.key.extend_from_slice(key);
            slot.entry = Some(Arc::clone(entry));
            slot.hits = 0;
        });
    }

    /// Stores `entry` under `key`. The entry it replaces (which quick_cache hands to the
    /// eviction hook too) is retired, so no hot copy serves it, without counting as an
    /// eviction; what the insert evicted to make room, or `entry` itself when it is
    /// refused, counts as evicted. Listeners hear of both (see `events.rs`).
    /// `cache`: the entry's own; `part`: its map; `weight`: its charge against the
    /// budget.
    pub(crate) fn insert(&self, cache: &CacheState, part: &Part, key: &[u8], entry: (Entry, u64)) {
        let map = self.map_of(part);
        self.insert_as(cache, map, key, entry, Some(EvictionCause::Replaced));
    }

    /// [`insert`](Self::insert), the replaced entry reported with `replaced` (nothing
    /// when `None`: its expired copy takes its place, `expire`).
    fn insert_as(
        &self,
        cache: &CacheState,
        map: &Map,
        key: &[u8],
        (entry, weight): (Entry, u64),
        replaced: Option<EvictionCause>,
    ) {
        let map_key = MapKey::new(key, weight);
        debug_assert_eq!(
            map_key.cache_id(),
            cache.id,
            "an entry stored as another cache's"
        );
        if entry.meta().count_in() {
            cache.counters.entries.fetch_add(1, Ordering::Relaxed);
            cache
                .counters
                .bytes
                .fetch_add(map_key.weight(), Ordering::Relaxed);
        }
        // Its address tells it apart from the value it replaced (both alive until
        // `evicted` is released), without a count of its own.
        let inserted = Arc::as_ptr(&entry).cast::<()>();
        let mut evicted = Evicted::default();
        map.insert_with_lifecycle(map_key, entry, &mut evicted);
        // The shard's lock is released: retire, count and report.
        for (k, old) in evicted.0.drain(..) {
            if k.as_bytes() == key && Arc::as_ptr(&old).cast::<()>() != inserted {
                let first = retire(cache, &k, &old);
                if let (true, Some(events), Some(cause)) = (first, &self.events, replaced) {
                    let cause = events::cause_at(cache, old.meta(), clock::now(), cause);
                    events.tell(cache, k.as_bytes(), cause);
                }
            } else {
                self.caches.with(k.cache_id(), |c| {
                    if !retire(c, &k, &old) {
                        return;
                    }
                    c.counters.evictions.fetch_add(1, Ordering::Relaxed);
                    if let Some(events) = &self.events {
                        let cause =
                            events::cause_at(c, old.meta(), clock::now(), EvictionCause::Capacity);
                        events.tell(c, k.as_bytes(), cause);
                    }
                });
            }
        }
    }

    /// Ends the freshness of the entry under `key` (`expire(name, key)`): replaced by a
    /// copy that is expired at `now` and stays as the fail-safe copy inside its stale
    /// window, or removed when it has no window (then an expiry is an invalidation).
    /// Whether there was an entry. The caller holds the cache's store lock.
    pub(crate) fn expire(&self, cache: &CacheState, part: &Part, key: &[u8], now: u64) -> bool {
        let map = self.map_of(part);
        let Some(entry) = map.get(key) else {
            return false;
        };
        let meta = entry.meta();
        if !meta.has_stale_window() || now >= meta.stale_until() {
            return self.remove(part, key);
        }
        if now < meta.fresh_until() {
            // A stale window lives in the entry's extra part, which keeps its weight.
            let weight = meta.kept_weight().unwrap_or(0);
            self.insert_as(cache, map, key, (entry.expired(now), weight), None);
        }
        true
    }

    /// Removes the entry under `key` (an invalidation). Whether there was one.
    pub(crate) fn remove(&self, part: &Part, key: &[u8]) -> bool {
        let Some((k, entry)) = self.map_of(part).remove(key) else {
            return false;
        };
        self.caches.with(k.cache_id(), |c| {
            if retire(c, &k, &entry)
                && let Some(events) = &self.events
            {
                events.tell(c, k.as_bytes(), EvictionCause::Invalidated);
            }
        });
        true
    }

    /// Drops every entry of one cache.
    pub(crate) fn purge(&self, cache_id: u32) {
        let part = self.part(cache_id);
        // Set aside under the shards' locks, reported after.
        let gone = RefCell::new(Vec::new());
        self.caches.with(cache_id, |c| {
            self.map_of(&part).retain(|k, v| {
                let keep = k.cache_id() != cache_id;
                if !keep && retire(c, k, v) && self.events.is_some() {
                    gone.borrow_mut().push(k.as_bytes().to_vec());
                }
                keep
            });
            if let Some(events) = &self.events {
                for k in gone.into_inner() {
                    events.tell(c, &k, EvictionCause::Invalidated);
                }
            }
        });
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
