//! How figures leave the process: the one Prometheus text writer (`prometheus.rs`) and the
//! cache and timer families written through it (`caches.rs`, `timers.rs`), and (feature
//! `metrics`) the `metrics` facade plumbing that caches and timers push their figures
//! through (`metrics.rs`). The names of the figures are declared beside them
//! (`stats/names.rs`, `timer/snapshot.rs`); the serde snapshots are the public
//! `RuntimeStats` and `TimerStats`.

pub(crate) mod caches;
#[cfg(feature = "metrics")]
pub(crate) mod metrics;
pub(crate) mod prometheus;
pub(crate) mod timers;
