//! The registry of timer names: one [`TimerState`] per name, shared by every site that uses
//! it, and the public readers [`timers`] and [`reset_timers`].

use std::collections::BTreeMap;
use std::sync::Arc;

use parking_lot::RwLock;

use crate::timer::snapshot::{TimerExport, TimerStats};
use crate::timer::state::TimerState;

/// Every timer ever used, by name (ordered, so snapshots come out sorted).
static REGISTRY: RwLock<BTreeMap<Box<str>, Arc<TimerState>>> = RwLock::new(BTreeMap::new());

/// The state of timer `name`, registered on first request; the same name always gives the
/// same state.
pub(crate) fn timer_state(name: &str) -> Arc<TimerState> {
    if let Some(state) = REGISTRY.read().get(name) {
        return Arc::clone(state);
    }
    Arc::clone(
        REGISTRY
            .write()
            .entry(name.into())
            .or_insert_with(|| Arc::new(TimerState::new(name))),
    )
}

pub(crate) fn registered() -> Vec<Arc<TimerState>> {
    REGISTRY.read().values().cloned().collect()
}

/// A snapshot of every registered timer, sorted by name.
///
/// # Example
///
/// ```rust
/// use cache_runtime::__private::{TimerSite, time_sync};
/// use cache_runtime::timers;
///
/// static A: TimerSite = TimerSite::new("doc.timers.a", 0);
/// static B: TimerSite = TimerSite::new("doc.timers.b", 0);
/// time_sync(&B, |_: &()| false, || ());
/// time_sync(&A, |_: &()| false, || ());
///
/// let names: Vec<String> = timers().into_iter().map(|t| t.name).collect();
/// let a = names.iter().position(|n| n == "doc.timers.a").unwrap();
/// let b = names.iter().position(|n| n == "doc.timers.b").unwrap();
/// assert!(a < b);
/// ```
#[must_use]
pub fn timers() -> Vec<TimerStats> {
    registered().iter().map(|state| state.stats()).collect()
}

/// Every registered timer's figures and histogram buckets, sorted by name, for the
/// Prometheus text.
pub(crate) fn exports() -> Vec<TimerExport> {
    registered().iter().map(|state| state.export()).collect()
}

/// Clears the figures of every timer (counts, errors, cancellations, slow calls, latencies),
/// keeping the registrations, the slow thresholds and the in-flight gauges.
///
/// # Example
///
/// ```rust
/// use cache_runtime::__private::{TimerSite, time_sync};
/// use cache_runtime::{reset_timers, timers};
///
/// static SITE: TimerSite = TimerSite::new("doc.reset", 0);
/// time_sync(&SITE, |_: &()| false, || ());
/// reset_timers();
///
/// let stats = timers().into_iter().find(|t| t.name == "doc.reset").unwrap();
/// assert_eq!(stats.count, 0);
/// ```
pub fn reset_timers() {
    for state in registered() {
        state.reset();
    }
}
