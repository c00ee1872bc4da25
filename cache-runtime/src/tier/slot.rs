//! One entry of the in-process tier: its value behind a type-erased `Arc`, with what the
//! tier and the orchestrator judge it by.
//!
//! An entry of a plain cache pays for what every entry needs and nothing else, 16 bytes
//! ([`Head`]): its cache's generation, and its freshness deadline with the entry's flags
//! packed into the same word (one load on a hit reads both). Its weight lives in the map's
//! key (`map_key.rs`), its cache is the id every key begins with. Tags, a
//! `stale_if_error` window, a refresh point and the `tti` read step ([`Extra`]) are stored
//! in the same allocation by a second slot type that only entries with one of them have;
//! [`Meta`] is the view of both that every reader takes, from one virtual call.

use std::any::Any;
use std::sync::Arc;
use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};

use super::map_key::MapKey;
use crate::state::{self, CacheState, TagState};

/// The generations an entry was computed under: its cache's, and each tag's.
pub(crate) type Generations = (u64, Box<[(Arc<TagState>, u64)]>);

/// Flags, in the low byte of [`Head`]'s deadline word.
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
/// Weighs more than [`HOT_MAX_WEIGHT`]: no thread keeps a hot copy of it.
const HEAVY: u64 = 16;

/// Largest entry weight a thread copies (`local.rs`, hot copies).
pub(crate) const HOT_MAX_WEIGHT: u64 = 8 * 1024;

/// What only some entries have (see the module docs).
pub(crate) struct Extra {
    /// Tags with their generation when the computation began (`invalidate_tag` bumps it).
    tags: Box<[(Arc<TagState>, u64)]>,
    stale_until: u64,
    refresh_after: u64,
    /// The step of the last read, for the cache's `tti` (`local/idle.rs`); 0 without.
    read_at: AtomicU32,
    /// Its weight (saturated), for the expired copy `expire` puts in its place.
    weight: u32,
}

/// What every entry holds about itself, whatever its value type.
pub(crate) struct Head {
    /// The cache's generation when the computation began (`invalidate_all` bumps it).
    generation: u64,
    /// `fresh_until` in coarse ticks, its low byte cleared (a deadline up to 256 ticks,
    /// 60 ns, early), holding the flags.
    stamp: AtomicU64,
}

/// An entry's bookkeeping as its readers see it: its [`Head`], and its [`Extra`] when it
/// has one. Copied out of the entry by one virtual call.
#[derive(Clone, Copy)]
pub(crate) struct Meta<'a> {
    head: &'a Head,
    extra: Option<&'a Extra>,
}

/// A new entry's bookkeeping: judged by the generations its value was computed under,
/// with its deadlines `(fresh_until, stale_until, refresh_after)`, not refreshing, not
/// yet counted, not retired.
pub(crate) struct New {
    pub(crate) generations: Generations,
    pub(crate) deadlines: (u64, u64, u64),
    pub(crate) weight: u64,
    /// The copy `fail_throttle` keeps.
    pub(crate) throttled: bool,
    /// The `tti` step of its last read, for a cache with a `tti`.
    pub(crate) idle: Option<u32>,
}

/// A new entry for `value`, plain (16 bytes of bookkeeping) unless it needs an [`Extra`].
pub(crate) fn make<V: Clone + Send + Sync + 'static>(new: New, value: V) -> Made<V> {
    let New {
        generations: (generation, tags),
        deadlines: (fresh_until, stale_until, refresh_after),
        weight,
        throttled,
        idle,
    } = new;
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
    let mut flags = if throttled { THROTTLED } else { 0 };
    if weight > HOT_MAX_WEIGHT {
        flags |= HEAVY;
    }
    let head = Head {
        generation,
        stamp: AtomicU64::new(fresh | flags),
    };
    let plain =
        tags.is_empty() && stale_until == fresh && refresh_after == u64::MAX && idle.is_none();
    if plain {
        return Made::Plain(Arc::new(Slot {
            head,
            extra: (),
            value,
        }));
    }
    let extra = Extra {
        tags,
        stale_until,
        refresh_after,
        read_at: AtomicU32::new(idle.unwrap_or(0)),
        weight: u32::try_from(weight).unwrap_or(u32::MAX),
    };
    Made::Extra(Arc::new(Slot { head, extra, value }))
}

/// A new entry, typed: the caller may take its value back when nobody else holds it.
pub(crate) enum Made<V> {
    Plain(Arc<Slot<V>>),
    Extra(Arc<Slot<V, Extra>>),
}

impl<V: Clone + Send + Sync + 'static> Made<V> {
    /// The entry as the map holds it.
    pub(crate) fn erase(&self) -> Entry {
        match self {
            Self::Plain(s) => Arc::clone(s) as Entry,
            Self::Extra(s) => Arc::clone(s) as Entry,
        }
    }

    /// Its value: moved out when this is the only reference, else cloned.
    pub(crate) fn into_value(self) -> V {
        fn take<V: Clone, X>(slot: Arc<Slot<V, X>>) -> V {
            Arc::try_unwrap(slot).map_or_else(|s| s.value.clone(), |s| s.value)
        }
        match self {
            Self::Plain(s) => take(s),
            Self::Extra(s) => take(s),
        }
    }
}

impl Meta<'_> {
    /// Whether the entry has not been read for its cache's `tti` (0: none) at `now`.
    #[inline]
    pub(crate) fn idle_at(&self, now: u64, tti: u64) -> bool {
        tti != 0
            && self
                .extra
                .is_some_and(|e| super::local::idle::is_idle(&e.read_at, now, tti))
    }

    /// A hit at `now` of an entry of a cache with a `tti` (not 0): false when it is
    /// idle, else the read is recorded.
    #[inline]
    pub(crate) fn read_idle(&self, now: u64, tti: u64) -> bool {
        self.extra
            .is_none_or(|e| super::local::idle::read(&e.read_at, now, tti))
    }

    /// The tags with their generations it was computed under.
    #[inline]
    pub(crate) fn tags(&self) -> &[(Arc<TagState>, u64)] {
        self.extra.map_or(&[], |e| &e.tags)
    }

    /// Served fresh before this (coarse ticks).
    #[inline]
    pub(crate) fn fresh_until(&self) -> u64 {
        self.head.stamp.load(Ordering::Relaxed) & !FLAGS
    }

    /// The end of its `stale_if_error` window (`fresh_until` without one).
    #[inline]
    pub(crate) fn stale_until(&self) -> u64 {
        self.extra
            .map_or_else(|| self.fresh_until(), |e| e.stale_until)
    }

    /// Its refresh point (`u64::MAX`: none).
    #[inline]
    pub(crate) fn refresh_after(&self) -> u64 {
        self.extra.map_or(u64::MAX, |e| e.refresh_after)
    }

    /// Its weight, when it has an [`Extra`] (the map's key holds every entry's).
    #[inline]
    pub(crate) fn kept_weight(&self) -> Option<u64> {
        self.extra.map(|e| u64::from(e.weight))
    }

    /// Too heavy for a thread's hot copy.
    #[inline]
    pub(crate) fn heavy(&self) -> bool {
        self.head.stamp.load(Ordering::Relaxed) & HEAVY != 0
    }

    /// The copy `fail_throttle` keeps (see [`THROTTLED`]).
    #[inline]
    pub(crate) fn throttled(&self) -> bool {
        self.head.stamp.load(Ordering::Relaxed) & THROTTLED != 0
    }

    /// Left the map: no hot copy serves it.
    #[inline]
    pub(crate) fn retired(&self) -> bool {
        self.head.stamp.load(Ordering::Acquire) & RETIRED != 0
    }

    /// A plain fresh hit at `now` of an entry of `cache` (current, fresh and before its
    /// refresh point): its `fresh_until`. Its deadline and flags are one load, and a plain
    /// entry's checks end at its own cache's generation.
    #[inline]
    pub(crate) fn fresh_hit(&self, cache: &CacheState, now: u64) -> Option<u64> {
        let stamp = self.head.stamp.load(Ordering::Acquire);
        let fresh_until = stamp & !FLAGS;
        if now >= fresh_until
            || stamp & THROTTLED != 0
            || cache.generation.load(Ordering::Acquire) != self.head.generation
        {
            return None;
        }
        match self.extra {
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
        cache.generation.load(Ordering::Acquire) == self.head.generation
            && self
                .tags()
                .iter()
                .all(|(t, g)| t.generation.load(Ordering::Acquire) == *g)
    }

    /// Not invalidated since it was computed, expiries (`expire_all`, `expire_tag`)
    /// allowed: see `state.rs`.
    #[inline]
    pub(crate) fn is_alive(&self, cache: &CacheState) -> bool {
        state::alive(
            cache.generation.load(Ordering::Acquire),
            self.head.generation,
        ) && self
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
        self.head.stamp.load(Ordering::Relaxed) & REFRESHING == 0
            && self.head.stamp.fetch_or(REFRESHING, Ordering::AcqRel) & REFRESHING == 0
    }

    /// Lets a later hit try the refresh again.
    pub(crate) fn release_refresh(&self) {
        self.head.stamp.fetch_and(!REFRESHING, Ordering::Release);
    }

    /// Marks it counted into its cache's `entries` and `bytes`; true the first time (the
    /// caller counts).
    pub(crate) fn count_in(&self) -> bool {
        self.head.stamp.fetch_or(COUNTED, Ordering::AcqRel) & COUNTED == 0
    }

    /// Marks it retired: `(first time, was counted)` (the caller uncounts it).
    pub(crate) fn retire(&self) -> (bool, bool) {
        let before = self.head.stamp.fetch_or(RETIRED, Ordering::AcqRel);
        let counted = before & COUNTED != 0
            && self.head.stamp.fetch_and(!COUNTED, Ordering::AcqRel) & COUNTED != 0;
        (before & RETIRED == 0, counted)
    }
}

/// One cached value with its bookkeeping: `X` is `()` for a plain entry, [`Extra`] for
/// one with tags, a stale window, a refresh point or a `tti` step.
pub(crate) struct Slot<V, X = ()> {
    head: Head,
    extra: X,
    value: V,
}

/// What a slot holds besides its [`Head`]: nothing, or an [`Extra`].
pub(crate) trait Extras: Send + Sync + 'static {
    fn get(&self) -> Option<&Extra>;
}

impl Extras for () {
    #[inline]
    fn get(&self) -> Option<&Extra> {
        None
    }
}

impl Extras for Extra {
    #[inline]
    fn get(&self) -> Option<&Extra> {
        Some(self)
    }
}

/// A slot whose value type has been erased.
pub(crate) trait ErasedSlot: Send + Sync {
    fn meta(&self) -> Meta<'_>;
    /// Its value, for a downcast ([`value_of`]).
    fn value_any(&self) -> &dyn Any;
    /// A copy of this entry that is no longer fresh at `now` (`expire(name, key)`): the
    /// same value, generations and stale window, its freshness and refresh point ended.
    fn expired(&self, now: u64) -> Entry;
}

impl<V: Clone + Send + Sync + 'static, X: Extras> ErasedSlot for Slot<V, X> {
    #[inline]
    fn meta(&self) -> Meta<'_> {
        Meta {
            head: &self.head,
            extra: self.extra.get(),
        }
    }
    #[inline]
    fn value_any(&self) -> &dyn Any {
        &self.value
    }
    fn expired(&self, now: u64) -> Entry {
        let m = self.meta();
        let new = New {
            generations: (self.head.generation, m.tags().into()),
            deadlines: (m.fresh_until().min(now), m.stale_until(), u64::MAX),
            weight: m.kept_weight().unwrap_or(0),
            // Expired, a copy `fail_throttle` kept is an ordinary fail-safe copy.
            throttled: false,
            idle: m.extra.map(|e| e.read_at.load(Ordering::Relaxed)),
        };
        make(new, self.value.clone()).erase()
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
/// and, when it has `extra` (tags, a stale window, a refresh point or a `tti` step), the
/// [`Extra`] in that slot and the tags' slice (`Some(number of tags)`).
pub(crate) fn entry_bytes(key_len: usize, value_size: usize, extra: Option<usize>) -> u64 {
    let extra_size = extra.map_or(0, |_| size_of::<Extra>());
    let slot = allocated(16 + size_of::<Head>() + extra_size + value_size);
    let tags = extra.map_or(0, |tags| {
        let slice = tags * size_of::<(Arc<TagState>, u64)>();
        if tags > 0 { allocated(slice) } else { 0 }
    });
    (MAP_SLOT + MapKey::heap_bytes(key_len) + slot + tags) as u64
}

/// An entry as the map holds it.
pub(crate) type Entry = Arc<dyn ErasedSlot>;

/// Downcasts an entry to its value type.
#[inline]
pub(crate) fn value_of<V: 'static>(entry: &Entry) -> Option<&V> {
    entry.value_any().downcast_ref::<V>()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn new(deadlines: (u64, u64, u64), weight: u64, throttled: bool) -> New {
        New {
            generations: (7, Box::default()),
            deadlines,
            weight,
            throttled,
            idle: None,
        }
    }

    #[test]
    fn a_plain_entry_is_16_bytes_and_keeps_its_deadlines() {
        assert_eq!(size_of::<Head>(), 16);
        // With a `String`, counts and bookkeeping the slot is a 64-byte allocation.
        assert_eq!(allocated(16 + size_of::<Slot<String>>()), 64);
        let made = make(new((1 << 20, 1 << 20, u64::MAX), 99, false), 5u8);
        assert!(matches!(made, Made::Plain(_)));
        let entry = made.erase();
        let m = entry.meta();
        assert!(m.extra.is_none() && m.kept_weight().is_none() && !m.heavy());
        assert_eq!(
            (m.fresh_until(), m.stale_until(), m.refresh_after()),
            (1 << 20, 1 << 20, u64::MAX)
        );
        assert_eq!((m.head.generation, value_of::<u8>(&entry)), (7, Some(&5)));
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
        let entry = make(new((1000, 5000, 600), u64::MAX, true), 1u8).erase();
        let m = entry.meta();
        assert_eq!(
            (m.fresh_until(), m.stale_until(), m.refresh_after()),
            (1000 & !FLAGS, 5000, 600)
        );
        assert!(m.throttled() && m.has_stale_window() && m.heavy());
        assert_eq!(m.kept_weight(), Some(u64::from(u32::MAX)));
        // Its expired copy keeps the window and the weight, not the throttle.
        let copy = entry.expired(10);
        let c = copy.meta();
        assert_eq!((c.fresh_until(), c.stale_until()), (0, 5000));
        assert!(!c.throttled() && c.kept_weight() == Some(u64::from(u32::MAX)));
        assert_eq!(value_of::<u8>(&copy), Some(&1));
        // A refresh point past the deadline is none: a plain entry.
        let made = make(new((1000, 1000, 2000), 1, false), 1u8);
        assert!(matches!(made, Made::Plain(_)));
        // A `tti` step needs the extra part.
        let mut n = new((1000, 1000, u64::MAX), 1, false);
        n.idle = Some(3);
        assert!(matches!(make(n, 1u8), Made::Extra(_)));
    }
}
