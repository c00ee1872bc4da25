//! One entry of the in-process tier: its value behind a type-erased `Arc`, with what the
//! tier and the orchestrator judge it by ([`Meta`]).
//!
//! An entry of a plain cache pays for what every entry needs and nothing else, 32 bytes:
//! its cache's generation, its freshness deadline with the entry's flags packed into the
//! same word (one load on a hit reads both), its weight, and its cache as an id (the tier
//! looks the cache up in its table when it counts an entry in or out, never on a hit,
//! which already knows its cache). Tags, a `stale_if_error` window and a refresh point
//! live in a box of their own that only entries with one of them have.

use std::any::Any;
use std::sync::Arc;
use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};

use super::map_key::MapKey;
use crate::state::{self, CacheState, TagState};

/// The generations an entry was computed under: its cache's, and each tag's.
pub(crate) type Generations = (u64, Box<[(Arc<TagState>, u64)]>);

/// Flags, in the low byte of [`Meta`]'s deadline word.
const FLAGS: u64 = 0xff;
/// Counted into the cache's `entries` and `bytes`.
const COUNTED: u64 = 1;
/// Left the map (evicted, removed, purged or replaced): threads' hot copies drop it.
const RETIRED: u64 = 2;
/// Set by the first hit past `refresh_after`, so one refresh runs per entry.
const REFRESHING: u64 = 4;
/// The fail-safe copy kept for `fail_throttle` after a failed recomputation: served as
/// stale (never as a hit) until `fresh_until`; its refresh point is 0, so it never takes
/// the plain hit path.
const THROTTLED: u64 = 8;

/// What only some entries have (see the module docs).
struct Extra {
    /// Tags with their generation when the computation began (`invalidate_tag` bumps it).
    tags: Box<[(Arc<TagState>, u64)]>,
    stale_until: u64,
    refresh_after: u64,
    /// The step of the last read, for the cache's `tti` (`local/idle.rs`); 0 without.
    read_at: AtomicU32,
}

/// What every entry knows about itself, whatever its value type.
pub(crate) struct Meta {
    /// The cache's generation when the computation began (`invalidate_all` bumps it).
    generation: u64,
    /// `fresh_until` in coarse ticks, its low byte cleared (a deadline up to 256 ticks,
    /// 60 ns, early), holding the flags.
    stamp: AtomicU64,
    /// Tags, stale window, refresh point: `None` for none, no stale window (`stale_until`
    /// is `fresh_until`) and no refresh point.
    extra: Option<Box<Extra>>,
    /// What the entry is charged against the byte budget (saturated at `u32::MAX`).
    weight: u32,
    /// Its cache's id (`CacheState::id`).
    cache: u32,
}

impl Meta {
    /// The bookkeeping of a new entry of `cache`, judged by the generations its value was
    /// computed under, with its deadlines `(fresh_until, stale_until, refresh_after)`: not
    /// refreshing, not yet counted, not retired.
    pub(crate) fn new(
        cache: u32,
        (generation, tags): Generations,
        (fresh_until, stale_until, refresh_after): (u64, u64, u64),
        weight: u64,
        throttled: bool,
    ) -> Self {
        // A refresh point at or past the freshness deadline is never reached by a hit.
        let refresh_after = if refresh_after >= fresh_until {
            u64::MAX
        } else {
            refresh_after
        };
        let fresh = fresh_until & !FLAGS;
        let stale_until = if stale_until <= fresh_until {
            fresh
        } else {
            stale_until
        };
        let plain = tags.is_empty() && stale_until == fresh && refresh_after == u64::MAX;
        let extra = (!plain).then(|| {
            Box::new(Extra {
                tags,
                stale_until,
                refresh_after,
                read_at: AtomicU32::new(0),
            })
        });
        let flags = if throttled { THROTTLED } else { 0 };
        Self {
            generation,
            stamp: AtomicU64::new(fresh | flags),
            extra,
            weight: u32::try_from(weight).unwrap_or(u32::MAX),
            cache,
        }
    }

    /// This entry, read at `step` for its cache's `tti`: the step lives with what only
    /// some entries have, so a cache without `tti` pays nothing for it.
    #[must_use]
    pub(crate) fn with_idle(mut self, step: u32) -> Self {
        let fresh = self.fresh_until();
        let extra = self.extra.get_or_insert_with(|| {
            Box::new(Extra {
                tags: Box::default(),
                stale_until: fresh,
                refresh_after: u64::MAX,
                read_at: AtomicU32::new(0),
            })
        });
        *extra.read_at.get_mut() = step;
        self
    }

    /// Whether the entry has not been read for its cache's `tti` (0: none) at `now`.
    #[inline]
    pub(crate) fn idle_at(&self, now: u64, tti: u64) -> bool {
        tti != 0
            && self
                .extra
                .as_ref()
                .is_some_and(|e| super::local::idle::is_idle(&e.read_at, now, tti))
    }

    /// A hit at `now` of an entry of a cache with a `tti` (not 0): false when it is
    /// idle, else the read is recorded.
    #[inline]
    pub(crate) fn read_idle(&self, now: u64, tti: u64) -> bool {
        self.extra
            .as_ref()
            .is_none_or(|e| super::local::idle::read(&e.read_at, now, tti))
    }

    /// The tags with their generations it was computed under.
    #[inline]
    pub(crate) fn tags(&self) -> &[(Arc<TagState>, u64)] {
        self.extra.as_ref().map_or(&[], |e| &e.tags)
    }

    /// Served fresh before this (coarse ticks).
    #[inline]
    pub(crate) fn fresh_until(&self) -> u64 {
        self.stamp.load(Ordering::Relaxed) & !FLAGS
    }

    /// The end of its `stale_if_error` window (`fresh_until` without one).
    #[inline]
    pub(crate) fn stale_until(&self) -> u64 {
        self.extra
            .as_ref()
            .map_or_else(|| self.fresh_until(), |e| e.stale_until)
    }

    /// Its refresh point (`u64::MAX`: none).
    #[inline]
    pub(crate) fn refresh_after(&self) -> u64 {
        self.extra.as_ref().map_or(u64::MAX, |e| e.refresh_after)
    }

    #[inline]
    pub(crate) fn weight(&self) -> u64 {
        u64::from(self.weight)
    }

    /// Its cache's id.
    #[inline]
    pub(crate) fn cache(&self) -> u32 {
        self.cache
    }

    /// The copy `fail_throttle` keeps (see [`THROTTLED`]).
    #[inline]
    pub(crate) fn throttled(&self) -> bool {
        self.stamp.load(Ordering::Relaxed) & THROTTLED != 0
    }

    /// Left the map: no hot copy serves it.
    #[inline]
    pub(crate) fn retired(&self) -> bool {
        self.stamp.load(Ordering::Acquire) & RETIRED != 0
    }

    /// A plain fresh hit at `now` of an entry of `cache` (current, fresh and before its
    /// refresh point): its `fresh_until`. Its deadline and flags are one load, and a plain
    /// entry's checks end at its own cache's generation.
    #[inline]
    pub(crate) fn fresh_hit(&self, cache: &CacheState, now: u64) -> Option<u64> {
        let stamp = self.stamp.load(Ordering::Acquire);
        let fresh_until = stamp & !FLAGS;
        if now >= fresh_until
            || stamp & THROTTLED != 0
            || cache.generation.load(Ordering::Acquire) != self.generation
        {
            return None;
        }
        match &self.extra {
            None => Some(fresh_until),
            Some(e) => (now < e.refresh_after
                && e.tags
                    .iter()
                    .all(|(t, g)| t.generation.load(Ordering::Acquire) == *g))
            .then_some(fresh_until),
        }
    }

    /// Not invalidated since it was computed (`cache`: its cache).
    #[inline]
    pub(crate) fn is_current(&self, cache: &CacheState) -> bool {
        debug_assert_eq!(cache.id, self.cache, "an entry judged by another cache");
        cache.generation.load(Ordering::Acquire) == self.generation
            && self
                .tags()
                .iter()
                .all(|(t, g)| t.generation.load(Ordering::Acquire) == *g)
    }

    /// Not invalidated since it was computed, expiries (`expire_all`, `expire_tag`)
    /// allowed: see `state.rs`.
    #[inline]
    pub(crate) fn is_alive(&self, cache: &CacheState) -> bool {
        state::alive(cache.generation.load(Ordering::Acquire), self.generation)
            && self
                .tags()
                .iter()
                .all(|(t, g)| state::alive(t.generation.load(Ordering::Acquire), *g))
    }

    /// Whether the entry has a `stale_if_error` window at all.
    #[inline]
    pub(crate) fn has_stale_window(&self) -> bool {
        self.stale_until() > self.fresh_until()
    }

    /// Whether the entry, not fresh at `now`, may serve as the fail-safe copy: inside its
    /// stale window, and current, or expired by `expire*` with a stale window of its own
    /// (without `stale_if_error` an expiry is an invalidation).
    #[inline]
    pub(crate) fn keepable_at(&self, cache: &CacheState, now: u64) -> bool {
        now < self.stale_until()
            && (self.is_current(cache) || (self.has_stale_window() && self.is_alive(cache)))
    }

    /// Claims the entry's one refresh: true for the one caller that set the flag.
    #[inline]
    pub(crate) fn claim_refresh(&self) -> bool {
        self.stamp.load(Ordering::Relaxed) & REFRESHING == 0
            && self.stamp.fetch_or(REFRESHING, Ordering::AcqRel) & REFRESHING == 0
    }

    /// Lets a later hit try the refresh again.
    pub(crate) fn release_refresh(&self) {
        self.stamp.fetch_and(!REFRESHING, Ordering::Release);
    }

    /// Marks it counted into its cache's `entries` and `bytes`; true the first time (the
    /// caller counts).
    pub(crate) fn count_in(&self) -> bool {
        self.stamp.fetch_or(COUNTED, Ordering::AcqRel) & COUNTED == 0
    }

    /// Marks it retired: `(first time, was counted)` (the caller uncounts it).
    pub(crate) fn retire(&self) -> (bool, bool) {
        let before = self.stamp.fetch_or(RETIRED, Ordering::AcqRel);
        let counted = before & COUNTED != 0
            && self.stamp.fetch_and(!COUNTED, Ordering::AcqRel) & COUNTED != 0;
        (before & RETIRED == 0, counted)
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
        let fresh_until = m.fresh_until().min(now);
        let deadlines = (fresh_until, m.stale_until(), u64::MAX);
        // Expired, a copy `fail_throttle` kept is an ordinary fail-safe copy.
        let meta = Meta::new(
            m.cache,
            (m.generation, m.tags().into()),
            deadlines,
            m.weight(),
            false,
        );
        let meta = match &m.extra {
            Some(e) => meta.with_idle(e.read_at.load(Ordering::Relaxed)),
            None => meta,
        };
        Arc::new(Slot {
            meta,
            value: self.value.clone(),
        })
    }
}

/// What quick_cache's slot costs an entry: its slab entry (key, value pointer, list
/// links) and its hash table's index with the growth slack of both (about 60 bytes at 10k
/// to 1M entries by the scale bench's counting allocator), and its share of what a full,
/// evicting tier holds besides (ghost entries, freed memory the allocator keeps):
/// `tests/budget.rs` holds resident memory within 10% of `max_bytes` with it.
const MAP_SLOT: usize = 96;

/// An allocation of `n` bytes as the allocator rounds it (16-byte steps, an 8-byte header,
/// at least 32 bytes).
const fn allocated(n: usize) -> usize {
    let chunks = (n + 8).div_ceil(16);
    if chunks < 2 { 32 } else { chunks * 16 }
}

/// The bytes an entry occupies besides its value's own heap bytes: quick_cache's slot, the
/// key's heap bytes (none inline), the `Arc`ed slot holding a value of `value_size` bytes,
/// and, when it has `extra` (tags, a stale window or a refresh point), that box and the
/// tags' slice (`Some(number of tags)`).
pub(crate) fn entry_bytes(key_len: usize, value_size: usize, extra: Option<usize>) -> u64 {
    let slot = allocated(16 + size_of::<Meta>() + value_size);
    let extra = extra.map_or(0, |tags| {
        let slice = tags * size_of::<(Arc<TagState>, u64)>();
        allocated(size_of::<Extra>()) + if tags > 0 { allocated(slice) } else { 0 }
    });
    (MAP_SLOT + MapKey::heap_bytes(key_len) + slot + extra) as u64
}

/// An entry as the map holds it.
pub(crate) type Entry = Arc<dyn ErasedSlot>;

/// Downcasts an entry to its value type.
#[inline]
pub(crate) fn value_of<V: 'static>(entry: &Entry) -> Option<&V> {
    entry.as_any().downcast_ref::<Slot<V>>().map(|s| &s.value)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_plain_entry_is_32_bytes_and_keeps_its_deadlines() {
        assert_eq!(size_of::<Meta>(), 32);
        let m = Meta::new(
            3,
            (7, Box::default()),
            (1 << 20, 1 << 20, u64::MAX),
            99,
            false,
        );
        assert!(m.extra.is_none());
        assert_eq!(
            (m.fresh_until(), m.stale_until(), m.refresh_after()),
            (1 << 20, 1 << 20, u64::MAX)
        );
        assert_eq!((m.weight(), m.cache(), m.generation), (99, 3, 7));
        assert!(!m.has_stale_window() && !m.throttled() && !m.retired());
        // The flags leave the deadline alone.
        assert!(m.count_in() && !m.count_in() && m.claim_refresh() && !m.claim_refresh());
        m.release_refresh();
        assert_eq!(m.fresh_until(), 1 << 20);
        assert_eq!(m.retire(), (true, true));
        assert_eq!(m.retire(), (false, false));
        assert!(m.retired());
    }

    #[test]
    fn stale_windows_refresh_points_and_throttled_copies_keep_theirs() {
        let m = Meta::new(0, (0, Box::default()), (1000, 5000, 600), u64::MAX, true);
        assert_eq!(
            (m.fresh_until(), m.stale_until(), m.refresh_after()),
            (1000 & !FLAGS, 5000, 600)
        );
        assert!(m.throttled() && m.has_stale_window());
        assert_eq!(m.weight(), u64::from(u32::MAX));
        // A refresh point past the deadline is none.
        let m = Meta::new(0, (0, Box::default()), (1000, 1000, 2000), 1, false);
        assert!(m.extra.is_none());
    }
}
