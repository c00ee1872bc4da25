//! The precise clock of the timers: `quanta`, read raw (the TSC where it is invariant, else
//! the OS monotonic clock) and scaled once per call.

use std::sync::OnceLock;

/// The process-wide clock.
static CLOCK: OnceLock<quanta::Clock> = OnceLock::new();

#[inline]
fn clock() -> &'static quanta::Clock {
    CLOCK.get_or_init(quanta::Clock::new)
}

/// A raw clock reading (TSC ticks or nanoseconds): cheaper than `quanta::Instant::now()`,
/// which also scales and checks for a per-thread mock clock on every call.
#[inline]
pub(crate) fn now_raw() -> u64 {
    clock().raw()
}

/// Nanoseconds elapsed since the raw reading `start` (0 if the clock appears to go back).
#[inline]
pub(crate) fn nanos_since(start: u64) -> u64 {
    let clock = clock();
    clock.delta_as_nanos(start, clock.raw())
}
