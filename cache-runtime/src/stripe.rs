//! Per-thread striping: a value kept once per stripe, each stripe alone on its cache lines,
//! and the one rule that picks a thread's stripe.
//!
//! Figures that every call updates (timer shards) are striped so that threads
//! updating the same figure do not bounce one cache line between cores. Threads are dealt
//! stripes round-robin on first use and keep theirs, so up to [`STRIPES`] threads share no
//! line; readers sum or merge over all stripes.

use std::cell::Cell;
use std::sync::atomic::{AtomicUsize, Ordering};

/// Stripes per striped value; a power of two.
pub(crate) const STRIPES: usize = 8;
const _: () = assert!(STRIPES.is_power_of_two());

thread_local! {
    /// This thread's stripe; `usize::MAX` until its first use.
    static STRIPE: Cell<usize> = const { Cell::new(usize::MAX) };
}

/// The next stripe to deal to a thread.
static NEXT: AtomicUsize = AtomicUsize::new(0);

/// The stripe of the calling thread, in `0..STRIPES`.
#[inline]
pub(crate) fn index() -> usize {
    STRIPE
        .try_with(|cell| {
            let index = cell.get();
            if index < STRIPES {
                index
            } else {
                deal(cell)
            }
        })
        // During thread-local teardown any stripe is as good as another.
        .unwrap_or(0)
        // Already below `STRIPES`; the mask lets the compiler drop the bounds check.
        & (STRIPES - 1)
}

#[cold]
fn deal(cell: &Cell<usize>) -> usize {
    let index = NEXT.fetch_add(1, Ordering::Relaxed) % STRIPES;
    cell.set(index);
    index
}

/// One stripe, alone on its cache lines (128 bytes covers adjacent-line prefetching on
/// x86 and the 128-byte lines of Apple silicon).
#[repr(align(128))]
#[derive(Default)]
struct Padded<T>(T);

/// `T` once per stripe; each thread updates its own ([`Striped::mine`]).
pub(crate) struct Striped<T>([Padded<T>; STRIPES]);

impl<T> Striped<T> {
    /// Every stripe made by `make`.
    pub(crate) fn new(mut make: impl FnMut() -> T) -> Self {
        Self(std::array::from_fn(|_| Padded(make())))
    }

    /// The calling thread's stripe.
    #[inline]
    pub(crate) fn mine(&self) -> &T {
        &self.0[index()].0
    }

    /// Every stripe, for readers that sum or merge them.
    pub(crate) fn iter(&self) -> impl Iterator<Item = &T> {
        self.0.iter().map(|p| &p.0)
    }
}

impl<T: Default> Default for Striped<T> {
    fn default() -> Self {
        Self::new(T::default)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::AtomicU64;

    #[test]
    fn a_thread_keeps_its_stripe_and_threads_are_dealt_different_ones() {
        let first = index();
        assert!(first < STRIPES);
        assert_eq!(index(), first, "a thread keeps its stripe");
        // Threads dealt one after another get consecutive stripes, so STRIPES threads that
        // start in turn cover every stripe (other tests may deal stripes meanwhile, so
        // only ask that more than one stripe is used).
        let dealt: Vec<usize> = (0..STRIPES)
            .map(|_| std::thread::spawn(index).join().expect("thread"))
            .collect();
        assert!(dealt.iter().all(|&i| i < STRIPES));
        let mut distinct = dealt.clone();
        distinct.sort_unstable();
        distinct.dedup();
        assert!(distinct.len() > 1, "{dealt:?}");
    }

    #[test]
    fn stripes_sit_on_their_own_cache_lines_and_sum_exactly() {
        let counter: Striped<AtomicU64> = Striped::default();
        let addresses: Vec<usize> = counter.iter().map(|c| c as *const _ as usize).collect();
        assert!(addresses.windows(2).all(|w| w[1] - w[0] >= 128));
        std::thread::scope(|scope| {
            for _ in 0..4 {
                scope.spawn(|| {
                    for _ in 0..10_000 {
                        counter.mine().fetch_add(1, Ordering::Relaxed);
                    }
                });
            }
        });
        let total: u64 = counter.iter().map(|c| c.load(Ordering::Relaxed)).sum();
        assert_eq!(total, 40_000);
    }
}
