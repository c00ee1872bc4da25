//! The in-process tier (L1): one quick_cache (S3-FIFO, sharded) for every cache of a runtime,
//! weighted by bytes, holding decoded values behind a type-erased `Arc`.
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
//! - only entries up to [`HOT_MAX_WEIGHT`] bytes are copied: a retired entry a thread
//!   still holds in a slot it has not touched since is freed when the slot is reused or
//!   the thread exits, so this bounds what copies can hold beyond `max_bytes` to
//!   `HOT_SLOTS * HOT_MAX_WEIGHT` per thread.

use std::any::Any;
use std::cell::RefCell;
use std::hash::BuildHasher;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, Ordering};

use crate::clock;
use crate::state::{self, CacheState, TagState};

mod builder;
mod capped;
mod events;
pub(crate) mod idle;

pub(crate) use capped::Part;
use capped::Parts;

pub(crate) use events::Listeners;
pub use events::{Eviction, EvictionCause, EvictionReceiver};

/// The generations an entry was computed under: its cache's, and each tag's.
pub(crate) type Generations = (u64, Box<[(Arc<TagState>, u64)]>);

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
    /// Left the map (evicted, removed, purged or replaced): threads' hot copies drop it.
    pub(crate) retired: AtomicBool,
    /// The fail-safe copy kept for `fail_throttle` after a failed recomputation: served as
    /// stale (never as a hit) until `fresh_until`; its `refresh_after` is 0, so it never
    /// takes the plain hit path.
    pub(crate) throttled: bool,
    /// The step of the last read, for the cache's `tti` (see `idle.rs`); unused without.
    pub(crate) read_at: AtomicU32,
}

impl Meta {
    /// The bookkeeping of a new entry of `cache`, judged by the generations its value was
    /// computed under, with its deadlines `(fresh_until, stale_until, refresh_after)`: not
    /// refreshing, not yet counted, not retired.
    pub(crate) fn new(
        cache: Arc<CacheState>,
        (generation, tags): Generations,
        (fresh_until, stale_until, refresh_after): (u64, u64, u64),
        weight: u64,
        throttled: bool,
    ) -> Self {
        Self {
            cache,
            generation,
            tags,
            fresh_until,
            stale_until,
            refresh_after,
            refreshing: AtomicBool::new(false),
            weight,
            counted: AtomicBool::new(false),
            retired: AtomicBool::new(false),
            throttled,
            read_at: AtomicU32::new(0),
        }
    }

    /// Whether the entry has not been read for its cache's `tti` (0: none) at `now`.
    #[inline]
    pub(crate) fn idle_at(&self, now: u64, tti: u64) -> bool {
        tti != 0 && idle::is_idle(&self.read_at, now, tti)
    }

    /// Not invalidated since it was computed.
    #[inline]
    pub(crate) fn is_current(&self) -> bool {
        self.cache.generation.load(Ordering::Acquire) == self.generation
            && self
                .tags
                .iter()
                .all(|(t, g)| t.generation.load(Ordering::Acquire) == *g)
    }

    /// Not invalidated since it was computed, expiries (`expire_all`, `expire_tag`)
    /// allowed: see `state.rs`.
    #[inline]
    pub(crate) fn is_alive(&self) -> bool {
        state::alive(
            self.cache.generation.load(Ordering::Acquire),
            self.generation,
        ) && self
            .tags
            .iter()
            .all(|(t, g)| state::alive(t.generation.load(Ordering::Acquire), *g))
    }

    /// Whether the entry has a `stale_if_error` window at all.
    #[inline]
    pub(crate) fn has_stale_window(&self) -> bool {
        self.stale_until > self.fresh_until
    }

    /// Whether the entry, not fresh at `now`, may serve as the fail-safe copy: inside its
    /// stale window, and current, or expired by `expire*` with a stale window of its own
    /// (without `stale_if_error` an expiry is an invalidation).
    #[inline]
    pub(crate) fn keepable_at(&self, now: u64) -> bool {
        now < self.stale_until
            && (self.is_current() || (self.has_stale_window() && self.is_alive()))
    }

    pub(crate) fn count_in(&self) {
        if !self.counted.swap(true, Ordering::AcqRel) {
            let c = &self.cache.counters;
            c.entries.fetch_add(1, Ordering::Relaxed);
            c.bytes.fetch_add(self.weight, Ordering::Relaxed);
        }
    }

    /// The entry left the map: no hot copy serves it again, and it no longer counts in
    /// the cache's `entries` and `bytes` (a copy may keep it alive a while). True the
    /// first time.
    fn retire(&self) -> bool {
        let first = !self.retired.swap(true, Ordering::AcqRel);
        if self.counted.swap(false, Ordering::AcqRel) {
            let c = &self.cache.counters;
            c.entries.fetch_sub(1, Ordering::Relaxed);
            c.bytes.fetch_sub(self.weight, Ordering::Relaxed);
        }
        first
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
    /// A copy of this entry that is no longer fresh at `now` (`expire(name, key)`): the
    /// same value, generations and stale window, its freshness and refresh point ended.
    fn expired(&self, now: u64) -> Entry;
}

impl<V: Clone + Send + Sync + 'static> ErasedSlot for Slot<V> {
    #[inline]
    fn meta(&self) -> &Meta {
        &self.meta
    }
    #[inline]
    fn as_any(&self) -> &dyn Any {
        self
    }
    fn expired(&self, now: u64) -> Entry {
        let m = &self.meta;
        let fresh_until = m.fresh_until.min(now);
        let deadlines = (fresh_until, m.stale_until, m.refresh_after.min(fresh_until));
        let meta = Meta::new(
            Arc::clone(&m.cache),
            (m.generation, m.tags.clone()),
            deadlines,
            m.weight,
            // Expired, a copy `fail_throttle` kept is an ordinary fail-safe copy.
            false,
        );
        meta.read_at
            .store(m.read_at.load(Ordering::Relaxed), Ordering::Relaxed);
        Arc::new(Slot {
            meta,
            value: self.value.clone(),
        })
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
    type RequestState = Evicted;
    /// Called for evicted values and, by an insert, for the value it replaces: both are
    /// set aside, to be told apart and released once the shard's lock is free.
    fn on_evict(&self, state: &mut Evicted, key: Box<[u8]>, val: Entry) {
        state.0.push((key, val));
    }
}

/// What one request of the map took out of it. Dropped, it retires each entry and counts
/// it as an eviction (unless already retired: `Local::insert` retires the value it
/// replaced first, which is not an eviction).
#[derive(Default)]
struct Evicted(smallvec::SmallVec<[(Box<[u8]>, Entry); 2]>);

impl Drop for Evicted {
    fn drop(&mut self) {
        for (_, entry) in self.0.drain(..) {
            let meta = entry.meta();
            if meta.retire() {
                meta.cache
                    .counters
                    .evictions
                    .fetch_add(1, Ordering::Relaxed);
            }
        }
    }
}

/// Hot copies per thread (see the module docs).
pub(crate) const HOT_SLOTS: usize = 32;
/// Largest entry weight a thread copies.
pub(crate) const HOT_MAX_WEIGHT: u64 = 8 * 1024;
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

type Map =
    quick_cache::sync::Cache<Box<[u8]>, Entry, Weigher, foldhash::fast::RandomState, Evictions>;

/// The tier itself.
pub(crate) struct Local {
    /// The map of every cache without a capacity of its own.
    map: Map,
    capacity: u64,
    /// The maps of the caches with one (`capped.rs`).
    parts: Parts,
    /// This tier's id for the threads' hot copies.
    id: u64,
    /// Who hears of entries leaving; `None` (one branch) when nobody listens.
    events: Option<Box<Listeners>>,
}

impl Local {
    pub(crate) fn new(capacity_bytes: u64, listeners: Listeners) -> Self {
        Self {
            map: capped::map(capacity_bytes, None),
            capacity: capacity_bytes,
            parts: Parts::default(),
            id: NEXT_TIER.fetch_add(1, Ordering::Relaxed),
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
            if entry.meta().retired.load(Ordering::Acquire) {
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
        if entry.meta().weight > HOT_MAX_WEIGHT {
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
    pub(crate) fn insert(&self, part: &Part, key: &[u8], entry: Entry) {
        self.insert_as(self.map_of(part), key, entry, Some(EvictionCause::Replaced));
    }

    /// [`insert`](Self::insert), the replaced entry reported with `replaced` (nothing
    /// when `None`: its expired copy takes its place, `expire`).
    fn insert_as(&self, map: &Map, key: &[u8], entry: Entry, replaced: Option<EvictionCause>) {
        entry.meta().count_in();
        // Its address tells it apart from the value it replaced (both alive until
        // `evicted` drops), without a count of its own.
        let inserted = Arc::as_ptr(&entry).cast::<()>();
        let mut evicted = Evicted::default();
        map.insert_with_lifecycle(key.into(), entry, &mut evicted);
        // The shard's lock is released: retire, count and report.
        let now = if self.events.is_some() {
            clock::now()
        } else {
            0
        };
        for (k, old) in evicted.0.drain(..) {
            let meta = old.meta();
            if !meta.retire() {
                continue;
            }
            let cause = if *k == *key && Arc::as_ptr(&old).cast::<()>() != inserted {
                replaced
            } else {
                meta.cache
                    .counters
                    .evictions
                    .fetch_add(1, Ordering::Relaxed);
                Some(EvictionCause::Capacity)
            };
            if let (Some(events), Some(cause)) = (&self.events, cause) {
                events.tell(meta, &k, events::cause_at(meta, now, cause));
            }
        }
    }

    /// Ends the freshness of the entry under `key` (`expire(name, key)`): replaced by a
    /// copy that is expired at `now` and stays as the fail-safe copy inside its stale
    /// window, or removed when it has no window (then an expiry is an invalidation).
    /// Whether there was an entry. The caller holds the cache's store lock.
    pub(crate) fn expire(&self, part: &Part, key: &[u8], now: u64) -> bool {
        let map = self.map_of(part);
        let Some(entry) = map.get(key) else {
            return false;
        };
        let meta = entry.meta();
        if !meta.has_stale_window() || now >= meta.stale_until {
            return self.remove(part, key);
        }
        if now < meta.fresh_until {
            self.insert_as(map, key, entry.expired(now), None);
        }
        true
    }

    /// Removes the entry under `key` (an invalidation). Whether there was one.
    pub(crate) fn remove(&self, part: &Part, key: &[u8]) -> bool {
        let Some((k, entry)) = self.map_of(part).remove(key) else {
            return false;
        };
        if entry.meta().retire()
            && let Some(events) = &self.events
        {
            events.tell(entry.meta(), &k, EvictionCause::Invalidated);
        }
        true
    }

    /// Drops every entry of one cache.
    pub(crate) fn purge(&self, cache_id: u32) {
        let part = self.part(cache_id);
        // Set aside under the shards' locks, reported after.
        let gone = std::cell::RefCell::new(Vec::new());
        self.map_of(&part).retain(|k, v| {
            let keep = v.meta().cache.id != cache_id;
            if !keep && v.meta().retire() && self.events.is_some() {
                gone.borrow_mut().push((k.clone(), Arc::clone(v)));
            }
            keep
        });
        if let Some(events) = &self.events {
            for (k, entry) in gone.into_inner() {
                events.tell(entry.meta(), &k, EvictionCause::Invalidated);
            }
        }
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
