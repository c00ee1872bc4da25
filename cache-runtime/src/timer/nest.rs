//! Which timed calls run inside which: the timer active on the current thread while a timed
//! future is polled or a timed closure runs, and, per timer, a small fixed table of the timed
//! calls made inside it (its *children*) with their count and time.
//!
//! A call's parent is the timer whose body was running on the same thread when the call
//! finished: for a future, the timer whose poll polled it, so the parent is on the same task
//! (a task spawned from a timed body has no parent). The table is filled at the child's end
//! with two relaxed atomic additions; nothing locks or allocates.

use std::cell::Cell;
use std::sync::atomic::{AtomicU32, AtomicU64, Ordering::Relaxed};

use crate::timer::state::TimerState;

/// Children kept per timer; calls of further children are counted in `others`.
const SLOTS: usize = 8;

thread_local! {
    /// The timer whose body runs on this thread now.
    static CURRENT: Cell<Option<&'static TimerState>> = const { Cell::new(None) };
}

/// Makes `state` the current timer and returns the one it replaces (the caller's parent),
/// to be put back with [`leave`].
#[inline]
pub(crate) fn enter(state: &'static TimerState) -> Option<&'static TimerState> {
    CURRENT.try_with(|c| c.replace(Some(state))).unwrap_or(None)
}

/// Puts back the timer [`enter`] replaced.
#[inline]
pub(crate) fn leave(parent: Option<&'static TimerState>) {
    let _ = CURRENT.try_with(|c| c.set(parent));
}

/// The timer whose body runs on this thread now, if any.
pub(crate) fn current() -> Option<&'static TimerState> {
    CURRENT.try_with(Cell::get).unwrap_or(None)
}

/// Which timer each cache was first resolved under: the timer whose calls the cache
/// answers (`#[performance_timer]` above `#[cache_result]`, or a timed caller).
static CACHED_UNDER: parking_lot::Mutex<std::collections::BTreeMap<Box<str>, Box<str>>> =
    parking_lot::Mutex::new(std::collections::BTreeMap::new());

/// A cache site named `cache` is resolved (once per site): remembers the current timer, if
/// any, as the one that cache answers for.
pub(crate) fn note_cache(cache: &str) {
    if let Some(timer) = current() {
        CACHED_UNDER
            .lock()
            .entry(cache.into())
            .or_insert_with(|| timer.name().into());
    }
}

/// Every cache resolved under a timer, as (cache, timer) names.
pub(crate) fn cached_under() -> Vec<(String, String)> {
    CACHED_UNDER
        .lock()
        .iter()
        .map(|(c, t)| (c.to_string(), t.to_string()))
        .collect()
}

/// One child of a timer: its id (plus one; 0 while the slot is free), calls and time.
#[derive(Default)]
struct Slot {
    child: AtomicU32,
    calls: AtomicU64,
    nanos: AtomicU64,
}

/// The timed calls made inside one timer's calls, by child.
#[derive(Default)]
pub(crate) struct Children {
    slots: [Slot; SLOTS],
    others_calls: AtomicU64,
    others_nanos: AtomicU64,
}

/// What one timer's calls spent in one timed child: `id` is the child's timer id.
#[derive(Clone, Copy, Debug, PartialEq)]
pub(crate) struct ChildTotals {
    /// The child's id (`TimerState::id`); `None`: the children past the table's size.
    pub(crate) id: Option<u32>,
    pub(crate) calls: u64,
    pub(crate) nanos: u64,
}

impl Children {
    /// A call of the timer `child_id` that ran `nanos` inside this timer ended.
    #[inline]
    pub(crate) fn add(&self, child_id: u32, nanos: u64) {
        let tag = child_id.wrapping_add(1);
        for slot in &self.slots {
            let held = slot.child.load(Relaxed);
            let mine = held == tag
                || (held == 0
                    && match slot.child.compare_exchange(0, tag, Relaxed, Relaxed) {
                        Ok(_) => true,
                        Err(now) => now == tag,
                    });
            if mine {
                slot.calls.fetch_add(1, Relaxed);
                slot.nanos.fetch_add(nanos, Relaxed);
                return;
            }
        }
        self.others_calls.fetch_add(1, Relaxed);
        self.others_nanos.fetch_add(nanos, Relaxed);
    }

    /// The children seen so far, and the rest (when any) as one entry with `id: None`.
    pub(crate) fn totals(&self) -> Vec<ChildTotals> {
        let mut out: Vec<ChildTotals> = self
            .slots
            .iter()
            .filter_map(|s| {
                let tag = s.child.load(Relaxed);
                (tag != 0).then(|| ChildTotals {
                    id: Some(tag - 1),
                    calls: s.calls.load(Relaxed),
                    nanos: s.nanos.load(Relaxed),
                })
            })
            .collect();
        let calls = self.others_calls.load(Relaxed);
        if calls > 0 {
            out.push(ChildTotals {
                id: None,
                calls,
                nanos: self.others_nanos.load(Relaxed),
            });
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn children_are_kept_by_id_and_the_overflow_is_summed() {
        let c = Children::default();
        c.add(3, 10);
        c.add(3, 5);
        c.add(0, 1);
        for id in 10..20 {
            c.add(id, 100);
        }
        let totals = c.totals();
        assert_eq!(
            totals[0],
            ChildTotals {
                id: Some(3),
                calls: 2,
                nanos: 15
            }
        );
        assert_eq!(totals[1].id, Some(0));
        assert_eq!(totals.len(), SLOTS + 1, "eight slots and the rest");
        let rest = totals.last().expect("the rest");
        assert_eq!((rest.id, rest.calls, rest.nanos), (None, 4, 400));
    }
}
