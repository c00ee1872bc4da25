//! One timer's timed children: a fixed table of the timed calls made inside its calls, with
//! their count and time, filled at each child's end with relaxed atomic additions (see
//! `nest.rs` for how a call finds its parent).

use std::sync::atomic::{AtomicU32, AtomicU64, Ordering::Relaxed};

/// Children kept per timer; calls of further children are counted in `others`.
const SLOTS: usize = 8;

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
