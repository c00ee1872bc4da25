//! The timer families of the Prometheus text, written through the one [`Exposition`]
//! writer.

use crate::export::prometheus::{Exposition, FamilyOf};
use crate::timer::registry::exports;
use crate::timer::snapshot::{
    BUCKET_LABELS, CANCELLED, DURATION, ERRORS, IN_FLIGHT, TimerExport, TimerStats,
};

const MS_PER_SEC: f64 = 1e3;

/// Writes every registered timer in the Prometheus text exposition format:
///
/// - `function_duration_seconds` (histogram): one `_bucket` per bound of
///   [`TIMER_BUCKETS_SECONDS`](crate::TIMER_BUCKETS_SECONDS) and `+Inf`, `_sum` and
///   `_count`, so that Prometheus computes quantiles over any set of instances
///   (`histogram_quantile(0.95, sum by (le, function) (rate(function_duration_seconds_bucket[5m])))`).
///   Process-local quantiles are not exported (they do not add up across instances, and a
///   summary cannot share the histogram's name): `timers()` and `/performance` keep them;
/// - `function_errors_total` and `function_cancelled_total` (counters);
/// - `function_in_flight` (gauge);
///
/// each labelled `function="<name>"`, with `HELP` and `TYPE` once per family. Every count
/// runs from registration (or the last `reset_timers`), so never goes down between scrapes.
/// Writes nothing when no timer is registered. Users reach it through
/// `CacheRuntime::prometheus`; one timer renders as (buckets shortened):
///
/// ```text
/// # HELP function_duration_seconds Latency of timed functions.
/// # TYPE function_duration_seconds histogram
/// function_duration_seconds_bucket{function="users.fetch",le="0.0005"} 0
/// function_duration_seconds_bucket{function="users.fetch",le="0.001"} 0
/// function_duration_seconds_bucket{function="users.fetch",le="0.0025"} 2
/// function_duration_seconds_bucket{function="users.fetch",le="0.005"} 4
/// ...
/// function_duration_seconds_bucket{function="users.fetch",le="10"} 4
/// function_duration_seconds_bucket{function="users.fetch",le="+Inf"} 4
/// function_duration_seconds_sum{function="users.fetch"} 0.01
/// function_duration_seconds_count{function="users.fetch"} 4
/// # HELP function_errors_total Completed calls of timed functions that returned an error or panicked.
/// # TYPE function_errors_total counter
/// function_errors_total{function="users.fetch"} 1
/// # HELP function_cancelled_total Timed futures dropped before completing.
/// # TYPE function_cancelled_total counter
/// function_cancelled_total{function="users.fetch"} 2
/// # HELP function_in_flight Calls of timed functions in progress.
/// # TYPE function_in_flight gauge
/// function_in_flight{function="users.fetch"} 3
/// ```
pub(crate) fn render(out: &mut Exposition) {
    render_timers(out, &exports());
}

/// Writes `timers` (see [`render`]).
pub(crate) fn render_timers(out: &mut Exposition, timers: &[TimerExport]) {
    if timers.is_empty() {
        return;
    }
    out.family(&DURATION);
    for TimerExport { stats: t, buckets } in timers {
        let name = t.name.as_str();
        for (le, count) in BUCKET_LABELS.iter().zip(buckets) {
            let labels = [("function", name), ("le", le)];
            out.sample("function_duration_seconds_bucket", &labels, *count);
        }
        let labels = [("function", name), ("le", "+Inf")];
        out.sample("function_duration_seconds_bucket", &labels, t.count);
        let function = [("function", name)];
        let sum_seconds = t.mean_ms * t.count as f64 / MS_PER_SEC;
        out.sample("function_duration_seconds_sum", &function, sum_seconds);
        out.sample("function_duration_seconds_count", &function, t.count);
    }
    let families: [FamilyOf<TimerStats>; 3] = [
        (ERRORS, |t| t.errors.into()),
        (CANCELLED, |t| t.cancelled.into()),
        (IN_FLIGHT, |t| t.in_flight.into()),
    ];
    for (family, value) in families {
        out.family(&family);
        for TimerExport { stats: t, .. } in timers {
            out.sample(family.name, &[("function", t.name.as_str())], value(t));
        }
    }
}
