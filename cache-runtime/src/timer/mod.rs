//! The registry behind `#[performance_timer]`: per-name latency histograms, call, error and
//! cancellation counts, in-flight gauges, slow-call logging and (feature `metrics`) emission
//! through the [`metrics`](https://docs.rs/metrics) facade.
//!
//! # Model
//!
//! Every annotated function owns one `static` [`TimerSite`] (its name and slow-call
//! threshold). On its first call the site resolves its `TimerState` from a global registry
//! keyed by name and keeps it, so later calls never touch the registry. Sites that use the same
//! name share one state, and so one set of figures.
//!
//! Generated code wraps the body in [`time_sync`] or, for `async fn`, in [`time_async`], which
//! returns the [`Timed`] future:
//!
//! - a call is *in flight* from its start (the first poll, for a future) until it completes;
//! - a completed call adds one to `count`, its latency to the histogram, and one to `errors`
//!   when `is_error` says so; a panic in the timed code counts as a completed error (its
//!   latency is recorded) and then continues to unwind;
//! - a future dropped after its first poll and before completion counts as `cancelled` and
//!   records no latency; a future dropped without ever being polled counts nothing;
//! - a call slower than the site's threshold is logged with `tracing::warn!` and counted in
//!   `slow_calls`;
//! - with the `metrics` feature, each completion and cancellation is also sent to the
//!   recorder in effect at that moment, so a recorder installed after the first call still
//!   receives every call after it.
//!
//! [`timers`] returns a snapshot of every registered timer, `CacheRuntime::prometheus`
//! renders the same figures in the Prometheus text format, and [`reset_timers`] clears them.
//!
//! # Cost and concurrency
//!
//! The clock is `quanta`, read raw (the TSC where it is invariant) and scaled once per call.
//! Each state is striped into eight cache-line-aligned shards, each a `parking_lot::Mutex`
//! around a histogram and its counters, beside an atomic count of the calls started there.
//! Threads are dealt shards round-robin on their first striped update (`crate::stripe`,
//! shared with the cache hit counters) and keep theirs, so up to eight threads timing the
//! same name share no lock and no cache line. A completed call costs two clock reads, one
//! uncontended atomic add (the start) and one lock of the thread's own shard (the record),
//! where it parks its latency for the next call to add (so that nothing waits on the clock
//! read that ends it) and adds the previous call's to a table of counts by histogram
//! bucket: about 30 ns (sync) and 40 ns (an awaited `async fn`) above the untimed call on
//! this project's 2-core EPYC VM, where one clock read alone is about 11 ns (see
//! benches/NOTES.md, "The timer"). Tracing happens only for slow calls, and nothing
//! allocates on the fast path except the rare growth of the counts to a new maximum.
//! Snapshots lock each shard in turn, move its counts into its histogram and merge.
//!
//! Latencies are kept in nanoseconds, in histograms with 2 significant figures (quantiles
//! within 1% relative error) that grow as needed up to one hour; longer calls are recorded
//! as one hour in the quantiles (min, max and mean stay exact).
//!
//! # Files
//!
//! - `site.rs`: [`TimerSite`], [`time_sync`], [`time_async`] and [`Timed`]: what a call
//!   counts, and when;
//! - `state.rs`: the striped figures of one name; `snapshot.rs`: [`TimerStats`] and the
//!   names of its figures;
//! - `registry.rs`: one state per name, [`timers`] and [`reset_timers`];
//! - `clock.rs`: the precise clock; `metrics.rs`: emission through the `metrics` facade;
//! - `span.rs`: the call's `tracing` span ([`CallSpan`]);
//! - `nest.rs`: the timer current on a thread and each timer's table of timed children;
//! - `window.rs`: per-minute and per-five-minute rings built from snapshots; `trend.rs`:
//!   the trend classifier; `report.rs`: the sampler thread and [`performance_snapshot`]
//!   (history, trends, bottlenecks).
//!
//! # Over time
//!
//! Windows cost the call path nothing: a sampler thread snapshots the cumulative figures
//! once a minute and keeps the differences (see `window.rs`). Nesting costs a thread-local
//! swap per call and, for a call made inside another timed call on the same task, two
//! relaxed atomic additions into the parent's fixed table of children.
//!
//! The timer families of the Prometheus text are written by `export/timers.rs`.

mod children;
#[cfg(feature = "metrics")]
mod metrics;
mod nest;
pub(crate) mod registry;
mod report;
mod site;
pub(crate) mod snapshot;
mod span;
mod state;
#[cfg(test)]
mod tests;
mod trend;
mod window;

pub(crate) use nest::note_cache;
pub use registry::{reset_timers, timers};
pub use report::{
    Bottleneck, CacheHistory, CacheInFront, CachePoint, PerformanceSnapshot, TimedChild,
    TimerHistory, TimerPoint, performance_snapshot, performance_snapshot_day,
};
pub use site::{Timed, TimerSite, time_async, time_async_in, time_sync, time_sync_in};
pub use snapshot::{TIMER_BUCKETS_SECONDS, TimerStats};
pub use span::CallSpan;
pub use trend::{
    BASELINE_MINUTES, CacheTrend, Direction, MIN_CALLS, MIN_LOOKUPS, RECENT_MINUTES, TimerTrend,
    Trends,
};
