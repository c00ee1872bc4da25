//! The bulkhead (`max_concurrent = N`): at most N computations of one cache run at once,
//! single-flight still applies per key, and a computation beyond the limit waits, or
//! returns the fail-safe copy when one is at hand (`stale_if_error`), else the function's
//! own error when that converts from `Overloaded`.

mod common;

use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering::SeqCst};
use std::time::Duration;

use cache_runtime::__private::CacheSite;
use cache_runtime::{CacheRuntime, Overloaded, cache_result, global};
use common::{call_in, spec};

/// Counts computations running now and the most seen at once.
struct Gauge {
    now: AtomicU32,
    most: AtomicU32,
    runs: AtomicU32,
}

impl Gauge {
    const fn new() -> Self {
        Self {
            now: AtomicU32::new(0),
            most: AtomicU32::new(0),
            runs: AtomicU32::new(0),
        }
    }
    fn enter(&self) {
        self.runs.fetch_add(1, SeqCst);
        let now = self.now.fetch_add(1, SeqCst) + 1;
        self.most.fetch_max(now, SeqCst);
    }
    fn leave(&self) {
        self.now.fetch_sub(1, SeqCst);
    }
}

fn stats(name: &str) -> cache_runtime::CacheStats {
    global().stats().cache(name).cloned().expect("used")
}

static WAITING: Gauge = Gauge::new();

#[cache_result("bh_waits", ttl = 60, max_concurrent = 2)]
async fn report(day: u32) -> Result<String, String> {
    WAITING.enter();
    tokio::time::sleep(Duration::from_millis(80)).await;
    WAITING.leave();
    Ok(format!("report {day}"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn no_more_than_max_concurrent_computations_run_and_the_others_wait() {
    let calls: Vec<_> = (0..10).map(|d| tokio::spawn(report(d))).collect();
    for (d, c) in calls.into_iter().enumerate() {
        assert_eq!(c.await.expect("task"), Ok(format!("report {d}")));
    }
    assert_eq!(WAITING.most.load(SeqCst), 2, "computations ran at once");
    assert_eq!(WAITING.runs.load(SeqCst), 10);
    let s = stats("bh_waits");
    assert!(s.queued >= 8, "the others waited: {s:?}");
    assert_eq!(
        s.overloaded, 0,
        "an error type without From<Overloaded> waits"
    );
}

static ONE_KEY: Gauge = Gauge::new();

#[cache_result("bh_one_key", ttl = 60, max_concurrent = 1)]
async fn popular(id: u32) -> u32 {
    ONE_KEY.enter();
    tokio::time::sleep(Duration::from_millis(50)).await;
    ONE_KEY.leave();
    id * 2
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn single_flight_applies_first_so_one_key_takes_one_permit() {
    let calls: Vec<_> = (0..20).map(|_| tokio::spawn(popular(7))).collect();
    for c in calls {
        assert_eq!(c.await.expect("task"), 14);
    }
    assert_eq!(ONE_KEY.runs.load(SeqCst), 1);
    assert_eq!(stats("bh_one_key").queued, 0);
}

#[derive(Debug, PartialEq)]
enum ApiError {
    Busy,
}

impl From<Overloaded> for ApiError {
    fn from(_: Overloaded) -> Self {
        ApiError::Busy
    }
}

#[cache_result("bh_rejects", ttl = 60, max_concurrent = 1)]
async fn expensive(id: u32) -> Result<u32, ApiError> {
    // Longer than the runtime's `max_wait` (1 s by default).
    tokio::time::sleep(Duration::from_millis(1500)).await;
    Ok(id)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_computation_that_waits_past_max_wait_returns_the_functions_own_error() {
    let first = tokio::spawn(expensive(1));
    tokio::time::sleep(Duration::from_millis(50)).await;
    let second = tokio::spawn(expensive(2));
    assert_eq!(second.await.expect("task"), Err(ApiError::Busy));
    assert_eq!(first.await.expect("task"), Ok(1));
    let s = stats("bh_rejects");
    assert_eq!(s.overloaded, 1, "{s:?}");
    // The rejected key was not cached as anything: it computes when there is room.
    assert_eq!(expensive(2).await, Ok(2));
    assert!(global().prometheus().contains("cache_overloaded_total{"));
}

static SYNC: Gauge = Gauge::new();

#[cache_result("bh_sync", ttl = 60, max_concurrent = 1)]
fn render(page: u32) -> String {
    SYNC.enter();
    std::thread::sleep(Duration::from_millis(30));
    SYNC.leave();
    format!("page {page}")
}

#[test]
fn a_sync_function_is_bounded_too() {
    let threads: Vec<_> = (0..4)
        .map(|p| std::thread::spawn(move || render(p)))
        .collect();
    for (p, t) in threads.into_iter().enumerate() {
        assert_eq!(t.join().expect("thread"), format!("page {p}"));
    }
    assert_eq!(SYNC.most.load(SeqCst), 1);
    assert_eq!(stats("bh_sync").queued, 3);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_runtime_sets_the_bound_by_cache_name() {
    static SITE: CacheSite = CacheSite::new(spec("bh_override", 60_000));
    static GAUGE: Gauge = Gauge::new();
    let rt = Arc::new(
        CacheRuntime::builder()
            .cache_max_concurrent("bh_override", 1)
            .build(),
    );
    let calls: Vec<_> = (0..4u64)
        .map(|k| {
            let rt = Arc::clone(&rt);
            tokio::spawn(async move {
                call_in(&rt, &SITE, k, || async {
                    GAUGE.enter();
                    tokio::time::sleep(Duration::from_millis(30)).await;
                    GAUGE.leave();
                    Ok("done".to_string())
                })
                .await
            })
        })
        .collect();
    for c in calls {
        assert_eq!(c.await.expect("task"), Ok("done".into()));
    }
    assert_eq!(GAUGE.most.load(SeqCst), 1);
}

static QUOTES: AtomicU32 = AtomicU32::new(0);

#[cache_result("bh_stale", ttl = "200ms", stale_if_error = "1m", max_concurrent = 1)]
async fn quote(id: u32) -> Result<String, ApiError> {
    let run = QUOTES.fetch_add(1, SeqCst);
    if id == 0 {
        // Holds the cache's one permit past the runtime's `max_wait` (1 s).
        tokio::time::sleep(Duration::from_millis(1500)).await;
    }
    Ok(format!("quote {id} run {run}"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn an_overloaded_computation_serves_the_fail_safe_copy_when_there_is_one() {
    assert_eq!(quote(1).await, Ok("quote 1 run 0".into()));
    // Past the TTL, inside the stale window: the next call recomputes.
    tokio::time::sleep(Duration::from_millis(300)).await;
    let blocker = tokio::spawn(quote(0));
    tokio::time::sleep(Duration::from_millis(50)).await;
    // No permit within `max_wait`: the last good value, not `Busy`.
    assert_eq!(quote(1).await, Ok("quote 1 run 0".into()));
    let s = stats("bh_stale");
    assert_eq!((s.overloaded, s.stale_served), (1, 1), "{s:?}");
    assert_eq!(blocker.await.expect("task"), Ok("quote 0 run 1".into()));
    // With room again, it recomputes.
    assert_eq!(quote(1).await, Ok("quote 1 run 2".into()));
}
