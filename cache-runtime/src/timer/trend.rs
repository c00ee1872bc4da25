//! Trend analysis: the last 5 minutes of every timer and cache against the 30 minutes
//! before them, classified as [`Direction::Regressed`], [`Direction::Improved`] or
//! [`Direction::Steady`].
//!
//! A timer **regressed** when both windows hold at least [`MIN_CALLS`] calls and either its
//! p95 is at least 1.5 times the baseline's and 0.1 ms slower, or its error rate is at least
//! twice the baseline's, one percentage point higher, with at least 5 errors. It
//! **improved** by the mirror rules (a regression wins when both hold). A cache regressed
//! when both windows hold at least [`MIN_LOOKUPS`] lookups and its hit ratio fell by 5
//! points or more (improved: rose by 5 or more). Everything else, including any window too
//! small to tell, is steady, with the reason in `why`.

use serde::{Deserialize, Serialize};

use crate::timer::window::{CacheBucket, Points, TimerBucket};

/// Calls each window needs before a timer is anything but steady.
pub const MIN_CALLS: u64 = 30;
/// Lookups each window needs before a cache is anything but steady.
pub const MIN_LOOKUPS: u64 = 50;
/// The recent window, in minutes (the minute in progress included).
pub const RECENT_MINUTES: u64 = 5;
/// The baseline window before it, in minutes.
pub const BASELINE_MINUTES: u64 = 30;

const P95_RATIO: f64 = 1.5;
const MIN_P95_CHANGE_MS: f64 = 0.1;
const ERROR_RATIO: f64 = 2.0;
const MIN_ERROR_RATE_CHANGE: f64 = 0.01;
const MIN_ERRORS: u64 = 5;
const MIN_HIT_RATIO_CHANGE: f64 = 0.05;

/// Which way a figure went, recent window against baseline.
///
/// ```
/// use cache_runtime::Direction;
/// assert_eq!(serde_json::to_string(&Direction::Regressed).unwrap(), "\"regressed\"");
/// ```
#[derive(Clone, Copy, Debug, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum Direction {
    /// Slower, more errors, or (caches) a lower hit ratio, beyond the noise rules.
    Regressed,
    /// Faster, fewer errors, or a higher hit ratio, beyond the noise rules.
    Improved,
    /// Neither, or too few samples to tell.
    Steady,
}

/// One timer's last 5 minutes against the 30 before them.
///
/// ```
/// let snapshot = cache_runtime::performance_snapshot();
/// for t in &snapshot.trends.timers {
///     println!("{}: {:?} ({})", t.name, t.direction, t.why);
/// }
/// ```
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct TimerTrend {
    /// The timer's name.
    pub name: String,
    /// The classification.
    pub direction: Direction,
    /// Why, in words: the figure that decided, or the window that was too small.
    pub why: String,
    /// Completed calls in the recent window.
    pub recent_calls: u64,
    /// Completed calls in the baseline window.
    pub baseline_calls: u64,
    /// Completed calls per second over the recent window (or since first seen, if later).
    pub calls_per_second: f64,
    /// p95 of the recent window, in milliseconds.
    pub recent_p95_ms: f64,
    /// p95 of the baseline window, in milliseconds.
    pub baseline_p95_ms: f64,
    /// `recent_p95_ms / baseline_p95_ms`, when the baseline has calls.
    pub p95_ratio: Option<f64>,
    /// Errors per completed call, recent window.
    pub recent_error_rate: f64,
    /// Errors per completed call, baseline window.
    pub baseline_error_rate: f64,
    /// `recent_error_rate / baseline_error_rate`, when the baseline has errors.
    pub error_rate_ratio: Option<f64>,
}

/// One cache's hit ratio, last 5 minutes against the 30 before them.
///
/// ```
/// let snapshot = cache_runtime::performance_snapshot();
/// for c in &snapshot.trends.caches {
///     println!("{}: {:?} ({})", c.name, c.direction, c.why);
/// }
/// ```
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct CacheTrend {
    /// The cache's name.
    pub name: String,
    /// The classification.
    pub direction: Direction,
    /// Why, in words.
    pub why: String,
    /// Lookups in the recent window.
    pub recent_lookups: u64,
    /// Lookups in the baseline window.
    pub baseline_lookups: u64,
    /// Hit ratio of the recent window, when it had lookups.
    pub recent_hit_ratio: Option<f64>,
    /// Hit ratio of the baseline window, when it had lookups.
    pub baseline_hit_ratio: Option<f64>,
    /// `recent_hit_ratio - baseline_hit_ratio`, when both exist.
    pub hit_ratio_change: Option<f64>,
}

/// The trends of every timer and cache.
///
/// ```
/// let trends = cache_runtime::performance_snapshot().trends;
/// let regressed = trends.timers.iter().filter(|t| t.direction == cache_runtime::Direction::Regressed);
/// assert!(regressed.count() <= trends.timers.len());
/// ```
#[derive(Clone, Debug, Default, Serialize, Deserialize, PartialEq)]
pub struct Trends {
    /// One per timer, by name.
    pub timers: Vec<TimerTrend>,
    /// One per cache, by name.
    pub caches: Vec<CacheTrend>,
}

/// The start (seconds) of the recent and baseline windows of points whose last bucket
/// starts at `current`: `(baseline_from, recent_from)`.
fn windows(current: u64) -> (u64, u64) {
    let recent = current.saturating_sub((RECENT_MINUTES - 1) * 60);
    (recent.saturating_sub(BASELINE_MINUTES * 60), recent)
}

fn ratio(a: f64, b: f64) -> Option<f64> {
    (b > 0.0).then(|| a / b)
}

fn rate(errors: u64, calls: u64) -> f64 {
    if calls == 0 {
        0.0
    } else {
        errors as f64 / calls as f64
    }
}

/// The trend of timer `name` from its one-minute points, at `now` (seconds).
pub(crate) fn timer_trend(name: &str, points: &Points<TimerBucket>, now: u64) -> TimerTrend {
    let current = points.buckets.last().map_or(now / 60 * 60, |(at, _)| *at);
    let (baseline_from, recent_from) = windows(current);
    let recent = points.sum(recent_from, u64::MAX);
    let baseline = points.sum(baseline_from, recent_from);
    let seconds = now.saturating_sub(recent_from.max(points.since)).max(1);
    classify_timer(name, &recent, &baseline, seconds)
}

fn classify_timer(
    name: &str,
    recent: &TimerBucket,
    baseline: &TimerBucket,
    seconds: u64,
) -> TimerTrend {
    let (recent_p95_ms, baseline_p95_ms) = (recent.quantile_ms(0.95), baseline.quantile_ms(0.95));
    let recent_error_rate = rate(recent.errors, recent.calls);
    let baseline_error_rate = rate(baseline.errors, baseline.calls);
    let p95_ratio = ratio(recent_p95_ms, baseline_p95_ms);
    let error_rate_ratio = ratio(recent_error_rate, baseline_error_rate);

    let (direction, why) = if recent.calls < MIN_CALLS || baseline.calls < MIN_CALLS {
        (
            Direction::Steady,
            format!(
                "too few calls to tell ({} recent, {} baseline; {MIN_CALLS} needed in each)",
                recent.calls, baseline.calls
            ),
        )
    } else {
        let p95 = format!("p95 {baseline_p95_ms:.2} -> {recent_p95_ms:.2} ms");
        let errors = format!(
            "error rate {:.1}% -> {:.1}%",
            baseline_error_rate * 100.0,
            recent_error_rate * 100.0
        );
        let slower = recent_p95_ms >= baseline_p95_ms * P95_RATIO
            && recent_p95_ms - baseline_p95_ms >= MIN_P95_CHANGE_MS;
        let faster = baseline_p95_ms >= recent_p95_ms * P95_RATIO
            && baseline_p95_ms - recent_p95_ms >= MIN_P95_CHANGE_MS;
        let more_errors = recent.errors >= MIN_ERRORS
            && recent_error_rate >= baseline_error_rate * ERROR_RATIO
            && recent_error_rate - baseline_error_rate >= MIN_ERROR_RATE_CHANGE;
        let fewer_errors = baseline.errors >= MIN_ERRORS
            && baseline_error_rate >= recent_error_rate * ERROR_RATIO
            && baseline_error_rate - recent_error_rate >= MIN_ERROR_RATE_CHANGE;
        match (slower, more_errors, faster, fewer_errors) {
            (true, _, _, _) => (Direction::Regressed, p95),
            (_, true, _, _) => (Direction::Regressed, errors),
            (_, _, true, _) => (Direction::Improved, p95),
            (_, _, _, true) => (Direction::Improved, errors),
            _ => (Direction::Steady, format!("{p95}, {errors}")),
        }
    };
    TimerTrend {
        name: name.to_owned(),
        direction,
        why,
        recent_calls: recent.calls,
        baseline_calls: baseline.calls,
        calls_per_second: recent.calls as f64 / seconds as f64,
        recent_p95_ms,
        baseline_p95_ms,
        p95_ratio,
        recent_error_rate,
        baseline_error_rate,
        error_rate_ratio,
    }
}

/// The trend of cache `name` from its one-minute points.
pub(crate) fn cache_trend(name: &str, points: &Points<CacheBucket>, now: u64) -> CacheTrend {
    let current = points.buckets.last().map_or(now / 60 * 60, |(at, _)| *at);
    let (baseline_from, recent_from) = windows(current);
    let recent = points.sum(recent_from, u64::MAX);
    let baseline = points.sum(baseline_from, recent_from);
    let (recent_lookups, baseline_lookups) =
        (recent.hits + recent.misses, baseline.hits + baseline.misses);
    let (r, b) = (recent.hit_ratio(), baseline.hit_ratio());
    let change = r.zip(b).map(|(r, b)| r - b);
    let (direction, why) = match change {
        _ if recent_lookups < MIN_LOOKUPS || baseline_lookups < MIN_LOOKUPS => (
            Direction::Steady,
            format!(
                "too few lookups to tell ({recent_lookups} recent, {baseline_lookups} \
                 baseline; {MIN_LOOKUPS} needed in each)"
            ),
        ),
        Some(d) => {
            let why = format!(
                "hit ratio {:.1}% -> {:.1}%",
                b.unwrap_or(0.0) * 100.0,
                r.unwrap_or(0.0) * 100.0
            );
            if d <= -MIN_HIT_RATIO_CHANGE {
                (Direction::Regressed, why)
            } else if d >= MIN_HIT_RATIO_CHANGE {
                (Direction::Improved, why)
            } else {
                (Direction::Steady, why)
            }
        }
        None => (Direction::Steady, "no lookups".to_owned()),
    };
    CacheTrend {
        name: name.to_owned(),
        direction,
        why,
        recent_lookups,
        baseline_lookups,
        recent_hit_ratio: r,
        baseline_hit_ratio: b,
        hit_ratio_change: change,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::timer::state::Cumulative;
    use crate::timer::window::{Span, Windows};

    const T0: u64 = 1_800_000_000;

    /// Feeds a timer 35 minutes of calls, `per_minute(minute)` giving (calls, latency in
    /// microseconds for each call, errors), with a snapshot at the start of every minute;
    /// returns its trend halfway through the 36th minute.
    fn trend_of(per_minute: impl Fn(u64) -> Vec<(u64, u64, u64)>) -> TimerTrend {
        let mut w = Windows::new();
        let mut c = Cumulative::empty();
        for minute in 0..36 {
            w.tick(T0 + minute * 60, [("t", &c)], []);
            for (calls, micros, errors) in per_minute(minute) {
                c.hist.record_n(micros * 1_000, calls).expect("in range");
                c.count += calls;
                c.errors += errors;
                c.sum_nanos += micros * 1_000 * calls;
            }
        }
        let now = T0 + 35 * 60 + 30;
        let points = w.timer("t", Span::Hour, now, &c).expect("seen");
        timer_trend("t", &points, now)
    }

    /// Minutes 31..=35 are the recent window (35 in progress), 1..=30 the baseline.
    fn recent(minute: u64) -> bool {
        minute >= 31
    }

    #[test]
    fn a_doubled_p95_is_a_regression() {
        let t = trend_of(|m| vec![(100, if recent(m) { 4_000 } else { 2_000 }, 0)]);
        assert_eq!(t.direction, Direction::Regressed, "{}", t.why);
        assert_eq!((t.recent_calls, t.baseline_calls), (500, 3_000));
        let ratio = t.p95_ratio.expect("a baseline");
        assert!((ratio - 2.0).abs() < 0.05, "{ratio}");
        // 500 calls over the 4.5 minutes of the window so far.
        assert!((t.calls_per_second - 500.0 / 270.0).abs() < 0.01);
    }

    #[test]
    fn a_rising_error_rate_is_a_regression_even_at_the_same_speed() {
        let t = trend_of(|m| vec![(100, 1_000, if recent(m) { 10 } else { 0 })]);
        assert_eq!(t.direction, Direction::Regressed, "{}", t.why);
        assert!(t.why.contains("error rate 0.0% -> 10.0%"), "{}", t.why);
    }

    #[test]
    fn a_halved_p95_is_an_improvement() {
        let t = trend_of(|m| vec![(100, if recent(m) { 1_000 } else { 3_000 }, 0)]);
        assert_eq!(t.direction, Direction::Improved, "{}", t.why);
    }

    #[test]
    fn noise_around_the_same_latency_is_steady() {
        // Every minute a spread of 1.6..=2.4 ms in a different order; the tail stays put.
        let t = trend_of(|m| {
            (0..9)
                .map(|i| (10, 1_600 + ((i + m * 7) % 9) * 100, u64::from(i == m % 9)))
                .collect()
        });
        assert_eq!(t.direction, Direction::Steady, "{}", t.why);
        assert!(t.p95_ratio.is_some_and(|r| (0.8..1.25).contains(&r)));
    }

    #[test]
    fn a_tenfold_slowdown_of_a_few_calls_is_not_reported() {
        let t = trend_of(|m| {
            vec![(
                if recent(m) { 4 } else { 2 },
                if recent(m) { 20_000 } else { 2_000 },
                0,
            )]
        });
        assert_eq!(t.direction, Direction::Steady);
        assert!(t.why.starts_with("too few calls"), "{}", t.why);
    }

    #[test]
    fn a_microsecond_function_that_doubles_is_below_the_absolute_floor() {
        let t = trend_of(|m| vec![(100, if recent(m) { 20 } else { 10 }, 0)]);
        assert_eq!(t.direction, Direction::Steady, "{}", t.why);
    }

    fn cache_trend_of(hits: impl Fn(u64) -> (u64, u64)) -> CacheTrend {
        let mut w = Windows::new();
        let mut c = crate::timer::window::zero_cache("c");
        for minute in 0..36 {
            w.tick(T0 + minute * 60, [], [&c]);
            let (h, m) = hits(minute);
            c.hits += h;
            c.misses += m;
        }
        let now = T0 + 35 * 60 + 30;
        let points = w.cache(Span::Hour, now, &c).expect("seen");
        cache_trend("c", &points, now)
    }

    #[test]
    fn a_falling_hit_ratio_is_a_cache_regression_and_a_small_wobble_is_steady() {
        let fell = cache_trend_of(|m| if recent(m) { (70, 30) } else { (95, 5) });
        assert_eq!(fell.direction, Direction::Regressed, "{}", fell.why);
        let change = fell.hit_ratio_change.expect("both windows");
        assert!((change + 0.25).abs() < 1e-9, "{change}");

        let wobble = cache_trend_of(|m| if m % 2 == 0 { (93, 7) } else { (96, 4) });
        assert_eq!(wobble.direction, Direction::Steady, "{}", wobble.why);

        let rose = cache_trend_of(|m| if recent(m) { (99, 1) } else { (60, 40) });
        assert_eq!(rose.direction, Direction::Improved, "{}", rose.why);
    }
}
