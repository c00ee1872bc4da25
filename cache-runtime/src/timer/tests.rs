//! Unit tests of the timers: what a call counts and when, quantile accuracy, sharing by
//! name, slow calls, resets and the Prometheus families.

use std::fmt;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll, Waker};
use std::time::Duration;

use parking_lot::{Mutex, RwLock};

use crate::export::prometheus::Exposition;
use crate::export::timers::{render, render_timers};
use crate::timer::registry::{reset_timers, timer_state, timers};
use crate::timer::site::{TimerSite, time_async, time_sync};
use crate::timer::snapshot::{BUCKET_LABELS, TIMER_BUCKETS_SECONDS, TimerExport, TimerStats};

/// Tests that read figures hold this for reading; the one that calls [`reset_timers`]
/// (which clears every timer) holds it for writing, so it never runs beside them.
static FIGURES: RwLock<()> = RwLock::new(());

fn stats(name: &str) -> TimerStats {
    timer_state(name).stats()
}

fn never_error<T>(_: &T) -> bool {
    false
}

/// Runs `fut` on a current-thread tokio runtime (so test guards stay outside the future).
fn block_on<F: Future>(fut: F) -> F::Output {
    tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .build()
        .expect("a current-thread runtime builds")
        .block_on(fut)
}

fn poll_once<F: Future>(fut: Pin<&mut F>) -> Poll<F::Output> {
    fut.poll(&mut Context::from_waker(Waker::noop()))
}

#[test]
fn counts_calls_and_errors_by_is_error() {
    let _figures = FIGURES.read();
    static SITE: TimerSite = TimerSite::new("test.counts", 0);
    for i in 0..5u32 {
        let out = time_sync(
            &SITE,
            |r: &Result<u32, u32>| r.is_err(),
            || {
                if i % 2 == 0 { Ok(i) } else { Err(i) }
            },
        );
        assert_eq!(out.is_ok(), i % 2 == 0, "the result is passed through");
    }
    let s = stats("test.counts");
    assert_eq!((s.count, s.errors, s.cancelled, s.in_flight), (5, 2, 0, 0));
    assert_eq!((s.slow_ms, s.slow_calls), (None, 0));
    assert!(s.min_ms <= s.mean_ms && s.mean_ms <= s.max_ms, "{s:?}");
}

/// Exact nearest-rank quantile of sorted values.
fn exact_quantile(sorted: &[u64], q: f64) -> u64 {
    let rank = ((q * sorted.len() as f64).ceil() as usize).max(1);
    sorted[rank - 1]
}

#[test]
fn quantiles_are_within_one_percent_of_exact() {
    let _figures = FIGURES.read();
    // Log-uniform spread from 1 µs to 2 s, deterministic (xorshift), plus edge values.
    let mut x: u64 = 0x9E37_79B9_7F4A_7C15;
    let mut values: Vec<u64> = (0..40_000)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            let unit = (x >> 11) as f64 / (1u64 << 53) as f64;
            (1e3 * (2e9f64 / 1e3).powf(unit)) as u64
        })
        .collect();
    values.extend([1_000, 1_001, 2_000_000_000, 1_999_999_999, 123_456_789]);

    // Record from four threads so that several shards are merged.
    let state = timer_state("test.quantiles");
    std::thread::scope(|scope| {
        for chunk in values.chunks(values.len() / 4 + 1) {
            let state = &state;
            scope.spawn(move || {
                for &v in chunk {
                    state.record(v, false, false);
                }
            });
        }
    });

    values.sort_unstable();
    let s = state.stats();
    let ms = |nanos: u64| nanos as f64 / 1e6;
    let within = |got: f64, exact: f64, what: &str| {
        let rel = (got - exact).abs() / exact;
        assert!(
            rel <= 0.01,
            "{what}: got {got} ms, exact {exact} ms ({rel:.4} relative)"
        );
    };
    assert_eq!(s.count, values.len() as u64);
    assert_eq!(s.min_ms, ms(values[0]));
    assert_eq!(s.max_ms, ms(values[values.len() - 1]));
    let exact_mean = values.iter().map(|&v| v as f64).sum::<f64>() / values.len() as f64;
    within(s.mean_ms, exact_mean / 1e6, "mean");
    for (q, got) in [
        (0.5, s.p50_ms),
        (0.9, s.p90_ms),
        (0.95, s.p95_ms),
        (0.99, s.p99_ms),
    ] {
        within(
            got,
            ms(exact_quantile(&values, q)),
            &format!("p{}", q * 100.0),
        );
    }
}

#[test]
fn quantiles_stay_within_the_exact_min_and_max() {
    let _figures = FIGURES.read();
    let state = timer_state("test.quantiles.single");
    // 1_234_567 ns falls inside a histogram bucket whose top is above the value.
    state.record(1_234_567, false, false);
    let s = state.stats();
    assert_eq!(s.min_ms, 1.234567);
    for q in [s.mean_ms, s.p50_ms, s.p90_ms, s.p95_ms, s.p99_ms, s.max_ms] {
        assert_eq!(q, 1.234567, "{s:?}");
    }
}

#[test]
fn a_real_call_records_at_least_its_sleep() {
    let _figures = FIGURES.read();
    static SITE: TimerSite = TimerSite::new("test.sleep", 0);
    time_sync(&SITE, never_error, || {
        std::thread::sleep(Duration::from_millis(20));
    });
    let s = stats("test.sleep");
    assert_eq!(s.count, 1);
    assert!(s.min_ms >= 20.0, "{s:?}");
    assert!(
        s.p50_ms >= 20.0 && s.p99_ms >= 20.0 && s.max_ms >= 20.0,
        "{s:?}"
    );
}

#[test]
fn async_latency_spans_awaits() {
    let _figures = FIGURES.read();
    static SITE: TimerSite = TimerSite::new("test.async.sleep", 0);
    block_on(async {
        let out = time_async(&SITE, never_error, async {
            tokio::time::sleep(Duration::from_millis(10)).await;
            tokio::time::sleep(Duration::from_millis(10)).await;
            7
        })
        .await;
        assert_eq!(out, 7);
        let s = stats("test.async.sleep");
        assert_eq!((s.count, s.errors, s.cancelled, s.in_flight), (1, 0, 0, 0));
        assert!(s.min_ms >= 20.0, "{s:?}");
    });
}

#[test]
fn dropping_a_started_future_counts_a_cancellation() {
    let _figures = FIGURES.read();
    static SITE: TimerSite = TimerSite::new("test.cancel", 0);
    block_on(async {
        let slow = time_async(
            &SITE,
            never_error,
            tokio::time::sleep(Duration::from_secs(60)),
        );
        let timed_out = tokio::time::timeout(Duration::from_millis(5), slow).await;
        assert!(timed_out.is_err());
        let s = stats("test.cancel");
        assert_eq!((s.count, s.errors, s.cancelled, s.in_flight), (0, 0, 1, 0));
        assert_eq!(s.max_ms, 0.0, "no latency is recorded for a cancelled call");
    });
}

#[test]
fn timed_futures_are_send_when_the_inner_future_is() {
    fn assert_send<T: Send>(_: &T) {}
    static SITE: TimerSite = TimerSite::new("test.send", 0);
    let fut = time_async(&SITE, never_error, async {
        tokio::time::sleep(Duration::from_millis(1)).await;
    });
    assert_send(&fut);
    // And it runs on a multi-thread runtime, possibly moving between workers.
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_time()
        .build()
        .expect("a multi-thread runtime builds");
    let _figures = FIGURES.read();
    rt.block_on(async { tokio::spawn(fut).await.expect("the task completes") });
    let s = stats("test.send");
    assert_eq!((s.count, s.in_flight), (1, 0));
}

#[test]
fn a_never_polled_future_counts_nothing() {
    let _figures = FIGURES.read();
    static SITE: TimerSite = TimerSite::new("test.never.polled", 0);
    drop(time_async(&SITE, never_error, std::future::pending::<()>()));
    let s = stats("test.never.polled");
    assert_eq!((s.count, s.errors, s.cancelled, s.in_flight), (0, 0, 0, 0));
}

#[test]
fn in_flight_is_visible_while_pending() {
    let _figures = FIGURES.read();
    static SITE: TimerSite = TimerSite::new("test.in.flight", 0);
    let mut polls = 0;
    let mut fut = Box::pin(time_async(
        &SITE,
        never_error,
        std::future::poll_fn(move |_| {
            polls += 1;
            if polls < 3 {
                Poll::Pending
            } else {
                Poll::Ready(())
            }
        }),
    ));
    assert_eq!(
        stats("test.in.flight").in_flight,
        0,
        "not in flight before the first poll"
    );
    assert!(poll_once(fut.as_mut()).is_pending());
    assert_eq!(stats("test.in.flight").in_flight, 1);
    assert!(poll_once(fut.as_mut()).is_pending());
    assert_eq!(
        stats("test.in.flight").in_flight,
        1,
        "a second poll is the same call"
    );
    assert!(poll_once(fut.as_mut()).is_ready());
    let s = stats("test.in.flight");
    assert_eq!((s.count, s.cancelled, s.in_flight), (1, 0, 0));
    drop(fut);
    let s = stats("test.in.flight");
    assert_eq!(
        (s.count, s.cancelled, s.in_flight),
        (1, 0, 0),
        "completed, then dropped"
    );
}

#[test]
fn a_sync_panic_is_an_error_and_propagates() {
    let _figures = FIGURES.read();
    static SITE: TimerSite = TimerSite::new("test.panic.sync", 0);
    let caught = catch_unwind(|| {
        time_sync(&SITE, never_error, || -> u8 {
            std::thread::sleep(Duration::from_millis(2));
            panic!("boom")
        })
    });
    let payload = caught.expect_err("the panic propagates");
    assert_eq!(payload.downcast_ref::<&str>(), Some(&"boom"));
    let s = stats("test.panic.sync");
    assert_eq!((s.count, s.errors, s.in_flight), (1, 1, 0));
    assert!(
        s.min_ms >= 2.0,
        "the panicking call's latency is recorded: {s:?}"
    );
}

#[test]
fn an_async_panic_is_an_error_not_a_cancellation() {
    let _figures = FIGURES.read();
    static SITE: TimerSite = TimerSite::new("test.panic.async", 0);
    let mut polls = 0;
    let mut fut = Box::pin(time_async(
        &SITE,
        never_error,
        std::future::poll_fn(move |_| -> Poll<()> {
            polls += 1;
            if polls < 2 {
                Poll::Pending
            } else {
                panic!("async boom")
            }
        }),
    ));
    assert!(poll_once(fut.as_mut()).is_pending());
    let caught = catch_unwind(AssertUnwindSafe(|| poll_once(fut.as_mut())));
    let payload = caught.expect_err("the panic propagates");
    assert_eq!(payload.downcast_ref::<&str>(), Some(&"async boom"));
    drop(fut);
    let s = stats("test.panic.async");
    assert_eq!((s.count, s.errors, s.cancelled, s.in_flight), (1, 1, 0, 0));
}

#[test]
fn two_threads_on_one_name_give_exact_totals() {
    let _figures = FIGURES.read();
    static SITE_A: TimerSite = TimerSite::new("test.threads", 0);
    static SITE_B: TimerSite = TimerSite::new("test.threads", 0);
    const CALLS: u64 = 50_000;
    std::thread::scope(|scope| {
        for site in [&SITE_A, &SITE_B] {
            scope.spawn(move || {
                for i in 0..CALLS {
                    time_sync(
                        site,
                        |v: &u64| v.is_multiple_of(10),
                        || std::hint::black_box(i),
                    );
                }
            });
        }
    });
    let s = stats("test.threads");
    assert_eq!(
        (s.count, s.errors, s.in_flight),
        (2 * CALLS, 2 * CALLS / 10, 0)
    );
}

#[test]
fn sites_with_one_name_share_a_state_and_the_smallest_threshold() {
    let _figures = FIGURES.read();
    static PLAIN: TimerSite = TimerSite::new("test.shared", 0);
    static SLOW_30: TimerSite = TimerSite::new("test.shared", 30);
    static SLOW_20: TimerSite = TimerSite::new("test.shared", 20);
    assert!(Arc::ptr_eq(
        &timer_state("test.shared"),
        &timer_state("test.shared")
    ));
    time_sync(&PLAIN, never_error, || ());
    assert_eq!(stats("test.shared").slow_ms, None);
    time_sync(&SLOW_30, never_error, || ());
    assert_eq!(stats("test.shared").slow_ms, Some(30.0));
    time_sync(&SLOW_20, never_error, || ());
    time_sync(&SLOW_30, never_error, || ());
    let s = stats("test.shared");
    assert_eq!((s.count, s.slow_ms), (4, Some(20.0)));
    assert!(std::ptr::eq(PLAIN.state(), SLOW_20.state()));
}

#[path = "slow_tests.rs"]
mod slow;

#[test]
fn reset_clears_figures_but_keeps_registrations_and_in_flight() {
    let _figures = FIGURES.write();
    static SITE: TimerSite = TimerSite::new("test.reset", 10);
    for _ in 0..3 {
        time_sync(&SITE, |_: &()| true, || ());
    }
    let mut pending = Box::pin(time_async(&SITE, never_error, std::future::pending::<()>()));
    assert!(poll_once(pending.as_mut()).is_pending());
    assert_eq!(stats("test.reset").count, 3);

    reset_timers();
    let s = timers()
        .into_iter()
        .find(|t| t.name == "test.reset")
        .expect("still registered after a reset");
    assert_eq!((s.count, s.errors, s.cancelled, s.slow_calls), (0, 0, 0, 0));
    assert_eq!(
        (s.min_ms, s.mean_ms, s.p99_ms, s.max_ms),
        (0.0, 0.0, 0.0, 0.0)
    );
    assert_eq!((s.in_flight, s.slow_ms), (1, Some(10.0)));

    drop(pending);
    time_sync(&SITE, never_error, || ());
    let s = stats("test.reset");
    assert_eq!((s.count, s.errors, s.cancelled, s.in_flight), (1, 0, 1, 0));
}

#[test]
fn timers_are_sorted_by_name_and_serialize() {
    let _figures = FIGURES.read();
    static B: TimerSite = TimerSite::new("test.sorted.b", 0);
    static A: TimerSite = TimerSite::new("test.sorted.a", 5);
    time_sync(&B, never_error, || ());
    time_sync(&A, never_error, || ());
    let all = timers();
    assert!(all.windows(2).all(|w| w[0].name < w[1].name));
    let a = all
        .iter()
        .find(|t| t.name == "test.sorted.a")
        .expect("registered");
    let json = serde_json::to_string(a).expect("serializes");
    let back: TimerStats = serde_json::from_str(&json).expect("deserializes");
    assert_eq!(&back, a);
}

#[test]
fn prometheus_text_has_the_families_and_escapes_names() {
    let _figures = FIGURES.read();
    static PLAIN: TimerSite = TimerSite::new("test.prom.plain", 0);
    static QUOTED: TimerSite = TimerSite::new("test.prom.\"quoted\"\\back\nline", 0);
    static IDLE: TimerSite = TimerSite::new("test.prom.idle", 0);
    for i in 0..3 {
        let out = time_sync(
            &PLAIN,
            |r: &Result<(), ()>| r.is_err(),
            || if i == 1 { Err(()) } else { Ok(()) },
        );
        assert_eq!(out.is_err(), i == 1);
    }
    time_sync(&QUOTED, never_error, || ());
    drop(time_async(&IDLE, never_error, async {}));

    let mut exposition = Exposition::default();
    render(&mut exposition);
    let out = exposition.finish();

    for (family, kind) in [
        ("function_duration_seconds", "histogram"),
        ("function_errors_total", "counter"),
        ("function_cancelled_total", "counter"),
        ("function_in_flight", "gauge"),
    ] {
        assert_eq!(
            out.matches(&format!("# HELP {family} ")).count(),
            1,
            "{family}"
        );
        assert_eq!(
            out.matches(&format!("# TYPE {family} {kind}\n")).count(),
            1,
            "{family}"
        );
    }
    let plain = r#"function="test.prom.plain""#;
    assert!(!out.contains("quantile="), "{out}");
    for line in [
        format!("function_duration_seconds_bucket{{{plain},le=\"10\"}} 3\n"),
        format!("function_duration_seconds_bucket{{{plain},le=\"+Inf\"}} 3\n"),
        format!("function_duration_seconds_count{{{plain}}} 3\n"),
        format!("function_errors_total{{{plain}}} 1\n"),
        format!("function_cancelled_total{{{plain}}} 0\n"),
        format!("function_in_flight{{{plain}}} 0\n"),
        r#"function_duration_seconds_count{function="test.prom.\"quoted\"\\back\nline"} 1"#
            .to_owned()
            + "\n",
        r#"function_duration_seconds_bucket{function="test.prom.idle",le="0.0005"} 0"#.to_owned()
            + "\n",
        r#"function_duration_seconds_count{function="test.prom.idle"} 0"#.to_owned() + "\n",
    ] {
        assert!(out.contains(&line), "missing {line:?} in\n{out}");
    }
    // Every sample line is `name{labels} value` on one line: the name's newline is escaped.
    for line in out.lines().filter(|l| !l.starts_with('#')) {
        let (series, value) = line.rsplit_once(' ').expect("a value");
        assert!(
            series.starts_with("function_") && series.ends_with('}'),
            "{line:?}"
        );
        assert!(value == "NaN" || value.parse::<f64>().is_ok(), "{line:?}");
    }
}

#[test]
fn prometheus_values_are_in_seconds() {
    let t = TimerStats {
        name: "f".to_owned(),
        count: 4,
        errors: 1,
        cancelled: 2,
        in_flight: 3,
        slow_ms: None,
        slow_calls: 0,
        min_ms: 1.0,
        mean_ms: 2.5,
        p50_ms: 2.0,
        p90_ms: 4.0,
        p95_ms: 4.0,
        p99_ms: 4.0,
        max_ms: 4.0,
    };
    let buckets = [0, 0, 2, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4, 4];
    let mut exposition = Exposition::default();
    render_timers(&mut exposition, &[TimerExport { stats: t, buckets }]);
    let out = exposition.finish();
    let expected = "\
# HELP function_duration_seconds Latency of timed functions.
# TYPE function_duration_seconds histogram
function_duration_seconds_bucket{function=\"f\",le=\"0.0005\"} 0
function_duration_seconds_bucket{function=\"f\",le=\"0.001\"} 0
function_duration_seconds_bucket{function=\"f\",le=\"0.0025\"} 2
function_duration_seconds_bucket{function=\"f\",le=\"0.005\"} 4
function_duration_seconds_bucket{function=\"f\",le=\"0.01\"} 4
function_duration_seconds_bucket{function=\"f\",le=\"0.025\"} 4
function_duration_seconds_bucket{function=\"f\",le=\"0.05\"} 4
function_duration_seconds_bucket{function=\"f\",le=\"0.1\"} 4
function_duration_seconds_bucket{function=\"f\",le=\"0.25\"} 4
function_duration_seconds_bucket{function=\"f\",le=\"0.5\"} 4
function_duration_seconds_bucket{function=\"f\",le=\"1\"} 4
function_duration_seconds_bucket{function=\"f\",le=\"2.5\"} 4
function_duration_seconds_bucket{function=\"f\",le=\"5\"} 4
function_duration_seconds_bucket{function=\"f\",le=\"10\"} 4
function_duration_seconds_bucket{function=\"f\",le=\"+Inf\"} 4
function_duration_seconds_sum{function=\"f\"} 0.01
function_duration_seconds_count{function=\"f\"} 4
# HELP function_errors_total Completed calls of timed functions that returned an error or panicked.
# TYPE function_errors_total counter
function_errors_total{function=\"f\"} 1
# HELP function_cancelled_total Timed futures dropped before completing.
# TYPE function_cancelled_total counter
function_cancelled_total{function=\"f\"} 2
# HELP function_in_flight Calls of timed functions in progress.
# TYPE function_in_flight gauge
function_in_flight{function=\"f\"} 3
";
    assert_eq!(out, expected);
    let mut empty = Exposition::default();
    render_timers(&mut empty, &[]);
    assert_eq!(empty.finish(), "");
}

#[test]
fn buckets_count_calls_at_most_each_bound_and_never_go_down() {
    let _figures = FIGURES.read();
    let state = timer_state("test.buckets");
    let ms = 1_000_000;
    // 0.1 ms, 0.7 ms, 3 ms and 20 s (past the last bound: only `+Inf` counts it).
    for nanos in [ms / 10, 7 * ms / 10, 3 * ms, 20_000 * ms] {
        state.record(nanos, false, false);
    }
    let first = state.export();
    assert_eq!(first.buckets[..4], [1, 2, 2, 3], "{first:?}");
    assert_eq!(first.buckets[13], 3, "{first:?}");
    assert_eq!(first.stats.count, 4);
    // The largest call is compared exactly: 1 ms is at most the 1 ms bound.
    let exact = timer_state("test.buckets.exact");
    exact.record(ms, false, false);
    assert_eq!(exact.export().buckets[..2], [0, 1]);

    // More calls only add: every bucket and the count are at least what they were.
    for nanos in [ms / 10, 40 * ms, 2_000 * ms] {
        state.record(nanos, false, false);
    }
    let later = state.export();
    for (before, after) in first.buckets.iter().zip(later.buckets) {
        assert!(after >= *before, "{first:?} then {later:?}");
    }
    assert_eq!(later.buckets[..4], [2, 3, 3, 4], "{later:?}");
    assert_eq!(later.buckets[13], 6, "{later:?}");
    assert_eq!(later.stats.count, 7);
}

#[test]
fn bucket_labels_spell_the_bounds() {
    for (label, bound) in BUCKET_LABELS.iter().zip(TIMER_BUCKETS_SECONDS) {
        assert_eq!(label.parse::<f64>(), Ok(bound));
    }
    assert!(TIMER_BUCKETS_SECONDS.windows(2).all(|w| w[1] / w[0] <= 2.5));
}
