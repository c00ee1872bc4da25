//! The timer families of the Prometheus text, written through the one [`Exposition`]
//! writer.

use crate::export::prometheus::{Exposition, FamilyOf};
use crate::timer::registry::timers;
use crate::timer::snapshot::{CANCELLED, DURATION, ERRORS, IN_FLIGHT, TimerStats};

const MS_PER_SEC: f64 = 1e3;

/// Writes every registered timer in the Prometheus text exposition format:
///
/// - `function_duration_seconds` (summary): quantiles 0.5, 0.9, 0.95 and 0.99, `_sum` and
///   `_count` (`NaN` quantiles before the first completed call);
/// - `function_errors_total` and `function_cancelled_total` (counters);
/// - `function_in_flight` (gauge);
///
/// each labelled `function="<name>"`, with `HELP` and `TYPE` once per family. Writes
/// nothing when no timer is registered. Users reach it through `CacheRuntime::prometheus`;
/// one timer renders as:
///
/// ```text
/// # HELP function_duration_seconds Latency of timed functions.
/// # TYPE function_duration_seconds summary
/// function_duration_seconds{function="users.fetch",quantile="0.5"} 0.002
/// function_duration_seconds{function="users.fetch",quantile="0.9"} 0.004
/// function_duration_seconds{function="users.fetch",quantile="0.95"} 0.004
/// function_duration_seconds{function="users.fetch",quantile="0.99"} 0.004
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
    render_timers(out, &timers());
}

/// Writes `timers` (see [`render`]).
pub(crate) fn render_timers(out: &mut Exposition, timers: &[TimerStats]) {
    if timers.is_empty() {
        return;
    }
    out.family(&DURATION);
    for t in timers {
        let function = [("function", t.name.as_str())];
        let quantiles = [
            ("0.5", t.p50_ms),
            ("0.9", t.p90_ms),
            ("0.95", t.p95_ms),
            ("0.99", t.p99_ms),
        ];
        for (quantile, ms) in quantiles {
            let seconds = if t.count == 0 {
                f64::NAN
            } else {
                ms / MS_PER_SEC
            };
            let labels = [("function", t.name.as_str()), ("quantile", quantile)];
            out.sample(DURATION.name, &labels, seconds);
        }
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
        for t in timers {
            out.sample(family.name, &[("function", t.name.as_str())], value(t));
        }
    }
}
