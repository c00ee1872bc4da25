//! The cheap monotonic clock read on every hit (`CLOCK_MONOTONIC_COARSE` on Linux, a few
//! nanoseconds, millisecond-ish resolution), in coarsetime ticks (2^-32 s).

use std::time::Duration;

/// Now, in ticks.
#[inline]
pub(crate) fn now() -> u64 {
    // `now()` would also store the reading in a shared atomic: a write on every hit that
    // two cores would fight over.
    coarsetime::Instant::now_without_cache_update().as_ticks()
}

/// A duration in ticks.
pub(crate) fn ticks(d: Duration) -> u64 {
    coarsetime::Duration::from(d).as_ticks()
}
