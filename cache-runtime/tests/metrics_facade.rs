//! Cache and timer figures through the `metrics` facade, into a real recorder
//! (metrics-util's `DebuggingRecorder`) installed globally *after* the first calls: it
//! receives every figure that changes after it is installed, and nothing from before.
#![cfg(feature = "metrics")]

use std::collections::HashMap;
use std::sync::Once;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use cache_runtime::{CacheRuntime, CacheStats, cache_result, global, performance_timer, timers};
use metrics_util::MetricKind;
use metrics_util::debugging::{DebugValue, DebuggingRecorder, Snapshotter};

static FAIL: AtomicBool = AtomicBool::new(false);

#[cache_result("facade_main", ttl = "80ms", stale_if_error = "1h")]
async fn main_cache(id: u64) -> Result<String, String> {
    if FAIL.load(Ordering::SeqCst) || id == 0 {
        return Err("failed".into());
    }
    tokio::time::sleep(Duration::from_millis(20)).await;
    Ok(format!("value {id} {}", "x".repeat(64)))
}

#[performance_timer("facade.timer")]
async fn timed(fail: bool, wait: Duration) -> Result<(), ()> {
    tokio::time::sleep(wait).await;
    if fail { Err(()) } else { Ok(()) }
}

/// What the recorder holds: (kind, name, labels) -> value.
type Figures = HashMap<(MetricKind, String, Vec<(String, String)>), DebugValue>;

fn figures(snapshotter: &Snapshotter) -> Figures {
    snapshotter
        .snapshot()
        .into_vec()
        .into_iter()
        .map(|(key, _, _, value)| {
            let (kind, key) = key.into_parts();
            let labels = key
                .labels()
                .map(|l| (l.key().to_owned(), l.value().to_owned()))
                .collect();
            ((kind, key.name().to_owned(), labels), value)
        })
        .collect()
}

fn cache_labels(cache: &str) -> Vec<(String, String)> {
    vec![
        ("namespace".to_owned(), "facade".to_owned()),
        ("cache".to_owned(), cache.to_owned()),
    ]
}

/// A counter's value; an absent counter never moved.
fn counter(figures: &Figures, name: &str, labels: &[(String, String)]) -> u64 {
    match figures.get(&(MetricKind::Counter, name.to_owned(), labels.to_vec())) {
        Some(DebugValue::Counter(n)) => *n,
        None => 0,
        other => panic!("{name} is not a counter: {other:?}"),
    }
}

fn gauge(figures: &Figures, name: &str, labels: &[(String, String)]) -> f64 {
    match figures.get(&(MetricKind::Gauge, name.to_owned(), labels.to_vec())) {
        Some(DebugValue::Gauge(v)) => v.into_inner(),
        other => panic!("{name} is not a gauge: {other:?}"),
    }
}

fn histogram(figures: &Figures, name: &str, labels: &[(String, String)]) -> Vec<f64> {
    match figures.get(&(MetricKind::Histogram, name.to_owned(), labels.to_vec())) {
        Some(DebugValue::Histogram(v)) => v.iter().map(|f| f.into_inner()).collect(),
        None => Vec::new(),
        other => panic!("{name} is not a histogram: {other:?}"),
    }
}

fn cache_stats(name: &str) -> CacheStats {
    global()
        .stats()
        .cache(name)
        .cloned()
        .expect("the cache was used")
}

fn timer_count(name: &str) -> (u64, u64, u64) {
    let t = timers()
        .into_iter()
        .find(|t| t.name == name)
        .expect("the timer was used");
    (t.count, t.errors, t.cancelled)
}

/// Every path a figure moves on, run once before the recorder exists and once after.
async fn exercise(round: u64) {
    let base = round * 1_000;
    // Miss then hit.
    assert!(main_cache(base + 1).await.is_ok());
    assert!(main_cache(base + 1).await.is_ok());
    assert!(main_cache(base + 1).await.is_ok());
    // Two concurrent misses of one key: one computes, one coalesces.
    let (a, b) = tokio::join!(main_cache(base + 2), main_cache(base + 2));
    assert_eq!(a, b);
    // An error is not cached.
    assert!(main_cache(0).await.is_err());
    // Past the TTL, a failing recomputation serves the stale value.
    tokio::time::sleep(Duration::from_millis(120)).await;
    FAIL.store(true, Ordering::SeqCst);
    assert!(main_cache(base + 1).await.is_ok(), "served stale");
    FAIL.store(false, Ordering::SeqCst);
    // Enough entries for the small byte budget to evict some.
    for id in 0..60 {
        assert!(main_cache(base + 100 + id).await.is_ok());
    }
    global().invalidate_all("facade_main");

    assert!(timed(false, Duration::from_millis(2)).await.is_ok());
    assert!(timed(true, Duration::ZERO).await.is_err());
    assert!(timed(false, Duration::ZERO).await.is_ok());
    // Dropped after its first poll: a cancellation.
    let cancelled = tokio::time::timeout(
        Duration::from_millis(5),
        timed(false, Duration::from_secs(60)),
    )
    .await;
    assert!(cancelled.is_err());
}

/// Installs this binary's global runtime (a small byte budget, so entries get evicted)
/// before any test's first call.
fn install_runtime() {
    static INSTALL: Once = Once::new();
    INSTALL.call_once(|| {
        CacheRuntime::builder()
            .namespace("facade")
            .max_bytes(8 * 1024)
            .install()
            .expect("the only install in this test binary");
    });
}

#[tokio::test]
async fn a_recorder_installed_after_the_first_calls_receives_everything_after_them() {
    install_runtime();

    // Before any recorder: the handles are first registered with the no-op recorder.
    exercise(1).await;
    let before = cache_stats("facade_main");
    let timer_before = timer_count("facade.timer");

    let recorder = DebuggingRecorder::new();
    let snapshotter = recorder.snapshotter();
    recorder
        .install()
        .expect("the only recorder of this test binary");

    exercise(2).await;
    let after = cache_stats("facade_main");
    let timer_after = timer_count("facade.timer");
    let figures = figures(&snapshotter);

    let labels = cache_labels("facade_main");
    let deltas = [
        ("cache_hits_total", before.hits, after.hits),
        ("cache_misses_total", before.misses, after.misses),
        ("cache_coalesced_total", before.coalesced, after.coalesced),
        (
            "cache_stale_served_total",
            before.stale_served,
            after.stale_served,
        ),
        (
            "cache_errors_not_cached_total",
            before.errors_not_cached,
            after.errors_not_cached,
        ),
        ("cache_evictions_total", before.evictions, after.evictions),
        (
            "cache_invalidations_total",
            before.invalidations,
            after.invalidations,
        ),
        ("cache_refreshes_total", before.refreshes, after.refreshes),
        ("cache_too_large_total", before.too_large, after.too_large),
        (
            "cache_encode_errors_total",
            before.encode_errors,
            after.encode_errors,
        ),
    ];
    for (name, before, after) in deltas {
        assert_eq!(
            counter(&figures, name, &labels),
            after - before,
            "{name}: the recorder has exactly what happened after it was installed"
        );
    }
    for name in [
        "cache_hits_total",
        "cache_misses_total",
        "cache_coalesced_total",
        "cache_stale_served_total",
        "cache_errors_not_cached_total",
        "cache_evictions_total",
        "cache_invalidations_total",
    ] {
        assert!(counter(&figures, name, &labels) > 0, "{name} was exercised");
    }
    // Gauges are levels: set to the figure on the first change the recorder sees, then
    // moved, so they match the runtime's own figures.
    assert_eq!(
        gauge(&figures, "cache_entries", &labels),
        after.entries as f64
    );
    assert_eq!(gauge(&figures, "cache_bytes", &labels), after.bytes as f64);
    let computes = histogram(&figures, "cache_compute_seconds", &labels);
    assert_eq!(computes.len() as u64, after.computes - before.computes);
    assert!(computes.iter().any(|&s| s >= 0.02), "{computes:?}");

    let function = vec![("function".to_owned(), "facade.timer".to_owned())];
    let (count, errors, cancelled) = (
        timer_after.0 - timer_before.0,
        timer_after.1 - timer_before.1,
        timer_after.2 - timer_before.2,
    );
    assert_eq!((count, errors, cancelled), (3, 1, 1));
    assert_eq!(counter(&figures, "function_calls_total", &function), count);
    assert_eq!(
        counter(&figures, "function_errors_total", &function),
        errors
    );
    assert_eq!(
        counter(&figures, "function_cancelled_total", &function),
        cancelled
    );
    let durations = histogram(&figures, "function_duration_seconds", &function);
    assert_eq!(durations.len() as u64, count);
    assert!(durations.iter().any(|&s| s >= 0.002), "{durations:?}");
}

#[cache_result("facade_local", ttl = 60)]
fn local_cache(id: u64) -> u64 {
    id * 2
}

#[performance_timer("facade.local.timer")]
fn local_timed() -> u64 {
    7
}

/// One thread switching between two local recorders: each gets exactly the calls made
/// while it was in effect, so handles follow the recorder, not the first registration.
#[test]
fn handles_follow_a_change_of_recorder() {
    install_runtime();
    let first = DebuggingRecorder::new();
    let second = DebuggingRecorder::new();
    let (first_snap, second_snap) = (first.snapshotter(), second.snapshotter());
    metrics::with_local_recorder(&first, || {
        assert_eq!(local_cache(1), 2);
        assert_eq!(local_cache(1), 2);
        assert_eq!(local_timed(), 7);
    });
    metrics::with_local_recorder(&second, || {
        for _ in 0..3 {
            assert_eq!(local_cache(1), 2);
        }
        assert_eq!(local_timed(), 7);
        assert_eq!(local_timed(), 7);
    });
    metrics::with_local_recorder(&first, || {
        assert_eq!(local_cache(1), 2);
    });
    let labels = cache_labels("facade_local");
    let function = vec![("function".to_owned(), "facade.local.timer".to_owned())];
    let (first, second) = (figures(&first_snap), figures(&second_snap));
    assert_eq!(counter(&first, "cache_hits_total", &labels), 2);
    assert_eq!(counter(&first, "cache_misses_total", &labels), 1);
    assert_eq!(counter(&first, "function_calls_total", &function), 1);
    assert_eq!(counter(&second, "cache_hits_total", &labels), 3);
    assert_eq!(counter(&second, "cache_misses_total", &labels), 0);
    assert_eq!(counter(&second, "function_calls_total", &function), 2);
    assert_eq!(gauge(&first, "cache_entries", &labels), 1.0);
}

#[cache_result("facade_many", ttl = 60)]
fn many_cache(id: u64) -> u64 {
    id + 1
}

/// More recorders than a figure keeps handles for: the ones past the kept few still get
/// every call made under them (registered for each use), and the first ones keep theirs.
#[test]
fn more_recorders_than_kept_handles_still_get_their_calls() {
    install_runtime();
    assert_eq!(many_cache(5), 6, "a miss, under the no-op recorder");
    let recorders: Vec<DebuggingRecorder> = (0..8).map(|_| DebuggingRecorder::new()).collect();
    let snapshotters: Vec<Snapshotter> = recorders.iter().map(|r| r.snapshotter()).collect();
    for round in 0..2 {
        for (i, recorder) in recorders.iter().enumerate() {
            metrics::with_local_recorder(recorder, || {
                for _ in 0..=i + round {
                    assert_eq!(many_cache(5), 6);
                }
            });
        }
    }
    let labels = cache_labels("facade_many");
    for (i, snapshotter) in snapshotters.iter().enumerate() {
        let hits = counter(&figures(snapshotter), "cache_hits_total", &labels);
        assert_eq!(hits, (2 * i + 3) as u64, "recorder {i}");
    }
}
