//! Time-to-idle (`tti`) without a shared write on every hit: an entry keeps the coarse
//! time of its last read in a `u32`, in steps of an eighth of its cache's `tti`, and a
//! hit writes it only when the step changed (at most eight writes per `tti` per entry,
//! whatever the hit rate). An entry is idle once more than [`STEPS`] steps passed since
//! the step of its last read: never before `tti` has passed, at most two steps (a quarter
//! of `tti`) after. Steps wrap around after 2^32 of them; an entry idle that long reads
//! as recently read (with the TTL far shorter than that, never in practice).

use std::sync::atomic::{AtomicU32, Ordering::Relaxed};

/// Steps per `tti`.
const STEPS: u32 = 8;

/// The step of `now` for a `tti` of `tti` ticks (not 0).
#[inline]
pub(crate) fn step(now: u64, tti: u64) -> u32 {
    (now / (tti / u64::from(STEPS)).max(1)) as u32
}

/// Records a read at `now` (a store only when the step changed).
#[inline]
pub(crate) fn touch(read_at: &AtomicU32, now: u64, tti: u64) {
    let s = step(now, tti);
    if read_at.load(Relaxed) != s {
        read_at.store(s, Relaxed);
    }
}

/// A hit at `now` of an entry last read at `read_at`: false when it is idle, else the
/// read is recorded. Out of line, so that the hit path of a cache without `tti` (which
/// never calls it) keeps its inlining as it was: measured, inlined it cost the plain sync
/// hit about 30 instructions.
#[inline(never)]
pub(crate) fn read(read_at: &AtomicU32, now: u64, tti: u64) -> bool {
    if is_idle(read_at, now, tti) {
        return false;
    }
    touch(read_at, now, tti);
    true
}

/// A stamp for an entry stored at `now`.
#[cfg(test)]
fn stamp(now: u64, tti: u64) -> AtomicU32 {
    AtomicU32::new(if tti == 0 { 0 } else { step(now, tti) })
}

/// Whether an entry last read at `read_at` has been idle for `tti` (not 0) at `now`.
#[inline]
pub(crate) fn is_idle(read_at: &AtomicU32, now: u64, tti: u64) -> bool {
    step(now, tti).wrapping_sub(read_at.load(Relaxed)) > STEPS
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn idle_after_tti_never_before_and_reads_keep_it() {
        let tti = 800;
        let at = stamp(1000, tti);
        assert!(!is_idle(&at, 1000 + tti - 1, tti));
        assert!(is_idle(&at, 1000 + tti + 2 * tti / 8, tti));
        touch(&at, 1000 + tti / 2, tti);
        assert!(!is_idle(&at, 1000 + tti + tti / 4, tti));
    }
}
