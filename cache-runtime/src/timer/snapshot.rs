//! [`TimerStats`]: the serializable snapshot of one timer's figures, and the names of those
//! figures in the Prometheus text and the `metrics` facade.

use crate::export::prometheus::{Family, Kind};

/// A snapshot of one timer's figures. Durations are in milliseconds; all figures except
/// `in_flight` and `slow_ms` count from registration or the last [`reset_timers`](crate::reset_timers).
///
/// Quantiles come from a histogram with 2 significant figures (within 1% of the exact
/// value); `min_ms`, `mean_ms` and `max_ms` are exact. With no completed call, all durations
/// are `0.0`.
///
/// # Example
///
/// ```rust
/// use cache_runtime::__private::{TimerSite, time_sync};
/// use cache_runtime::{TimerStats, timers};
///
/// static SITE: TimerSite = TimerSite::new("doc.stats", 0);
/// time_sync(&SITE, |_: &()| false, || ());
///
/// let stats: TimerStats = timers().into_iter().find(|t| t.name == "doc.stats").unwrap();
/// assert_eq!(stats.count, 1);
/// assert!(stats.min_ms <= stats.p50_ms && stats.p50_ms <= stats.max_ms);
/// ```
#[derive(Clone, Debug, serde::Serialize, serde::Deserialize, PartialEq)]
pub struct TimerStats {
    /// The timer's name.
    pub name: String,
    /// Completed calls, errors and panics included.
    pub count: u64,
    /// Completed calls whose result `is_error` flagged, plus panics.
    pub errors: u64,
    /// Futures dropped after their first poll and before completing.
    pub cancelled: u64,
    /// Calls started and not yet completed or cancelled (not cleared by a reset).
    pub in_flight: u64,
    /// The slow-call threshold (the smallest, if sites sharing the name differ); `None` when
    /// no site sets one.
    pub slow_ms: Option<f64>,
    /// Completed calls slower than their site's threshold.
    pub slow_calls: u64,
    /// Fastest completed call.
    pub min_ms: f64,
    /// Mean of completed calls.
    pub mean_ms: f64,
    /// Median.
    pub p50_ms: f64,
    /// 90th percentile.
    pub p90_ms: f64,
    /// 95th percentile.
    pub p95_ms: f64,
    /// 99th percentile.
    pub p99_ms: f64,
    /// Slowest completed call.
    pub max_ms: f64,
}

/// The upper bounds (`le`, in seconds) of the `function_duration_seconds` histogram
/// buckets, below the implicit `+Inf`: 0.5 ms to 10 s in steps of x2 to x2.5 (1, 2.5, 5
/// per decade).
///
/// Why these: a timed call that is answered from memory takes microseconds and lands in
/// the first bucket (below 0.5 ms nothing needs telling apart on a dashboard); database
/// queries and cache misses take 1 to 50 ms; request handlers have slow thresholds of
/// 100 to 500 ms; past 10 s a client or proxy has usually given up. Steps of at most x2.5
/// bound the error of `histogram_quantile` (which interpolates inside one bucket) to that
/// bucket's width, and 15 series per timer stay cheap for Prometheus. The same bounds
/// suit a `metrics` exporter fed through the facade (feature `metrics`), e.g.
/// `PrometheusBuilder::set_buckets_for_metric(Matcher::Full("function_duration_seconds".into()), &TIMER_BUCKETS_SECONDS)`,
/// so both paths give the same buckets.
pub const TIMER_BUCKETS_SECONDS: [f64; 14] = [
    0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
];

/// [`TIMER_BUCKETS_SECONDS`] as written in the `le` label.
pub(crate) const BUCKET_LABELS: [&str; 14] = [
    "0.0005", "0.001", "0.0025", "0.005", "0.01", "0.025", "0.05", "0.1", "0.25", "0.5", "1",
    "2.5", "5", "10",
];

/// A timer's figures as the Prometheus text writes them: its snapshot and, per bound of
/// [`TIMER_BUCKETS_SECONDS`], the calls that took at most that long (cumulative, as `le`
/// buckets are), all read from one merge of the shards, so the last bucket never exceeds
/// `stats.count` (the `+Inf` bucket).
#[derive(Clone, Debug)]
pub(crate) struct TimerExport {
    pub(crate) stats: TimerStats,
    pub(crate) buckets: [u64; TIMER_BUCKETS_SECONDS.len()],
}

pub(crate) const DURATION: Family = Family {
    name: "function_duration_seconds",
    kind: Kind::Histogram,
    help: "Latency of timed functions.",
};
pub(crate) const ERRORS: Family = Family {
    name: "function_errors_total",
    kind: Kind::Counter,
    help: "Completed calls of timed functions that returned an error or panicked.",
};
pub(crate) const CANCELLED: Family = Family {
    name: "function_cancelled_total",
    kind: Kind::Counter,
    help: "Timed futures dropped before completing.",
};
pub(crate) const IN_FLIGHT: Family = Family {
    name: "function_in_flight",
    kind: Kind::Gauge,
    help: "Calls of timed functions in progress.",
};
