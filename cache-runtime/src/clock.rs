//! The two clocks of the runtime:
//!
//! - the cheap monotonic clock read on every hit (`CLOCK_MONOTONIC_COARSE` on Linux, a few
//!   nanoseconds, millisecond-ish resolution), in coarsetime ticks (2^-32 s): expiry;
//! - the precise clock of timers and of a computation's duration: `quanta`, read raw (the
//!   TSC where it is invariant, else the OS monotonic clock) and scaled once per duration.

use std::sync::OnceLock;
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

/// The process-wide precise clock.
static PRECISE: OnceLock<quanta::Clock> = OnceLock::new();

#[inline]
fn precise() -> &'static quanta::Clock {
    PRECISE.get_or_init(quanta::Clock::new)
}

/// A raw precise reading (TSC ticks or nanoseconds): cheaper than `Instant::now()` (a
/// `clock_gettime` call, several times the TSC read under a hypervisor) and than
/// `quanta::Instant::now()`, which also scales and checks for a per-thread mock clock.
#[inline]
pub(crate) fn now_raw() -> u64 {
    precise().raw()
}

/// Nanoseconds elapsed since the raw reading `start` (0 if the clock appears to go back).
#[inline]
pub(crate) fn nanos_since(start: u64) -> u64 {
    let clock = precise();
    clock.delta_as_nanos(start, clock.raw())
}
