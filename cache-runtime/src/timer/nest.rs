//! Which timed calls run inside which: the timer active on the current thread while a timed
//! future is polled or a timed closure runs, and, per timer, a small fixed table of the timed
//! calls made inside it (its *children*) with their count and time.
//!
//! A call's parent is the timer whose body was running on the same thread when the call
//! finished: for a future, the timer whose poll polled it, so the parent is on the same task
//! (a task spawned from a timed body has no parent). The table (`Children`, in
//! `children.rs`) is filled at the child's end with two relaxed atomic additions; nothing
//! locks or allocates.

use std::cell::Cell;

use crate::timer::state::TimerState;

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
