//! Options of `#[cache_result]` with real time, through the macros in the global runtime
//! (no Redis): `fail_throttle` (a failing body is not called again within the throttle),
//! `cache_none = "30s"` (a `None` lives its own TTL), `cache_err` with `err_ttl` (chosen
//! errors live their own TTL, others are never cached) and `local_ttl` without a remote
//! tier (ignored: `ttl` applies). Each test uses caches of its own.

use std::sync::atomic::{AtomicBool, AtomicU32, Ordering::SeqCst};
use std::time::Duration;

use cache_runtime::{Scope, cache_result, global};
use serde::{Deserialize, Serialize};
use tokio::time::sleep;

fn stats(name: &str) -> cache_runtime::CacheStats {
    global().stats().cache(name).cloned().expect("cache seen")
}

// ---------- fail_throttle ----------

static FLAKY_RUNS: AtomicU32 = AtomicU32::new(0);
static FLAKY_DOWN: AtomicBool = AtomicBool::new(false);

/// `ttl = 200ms`; after a failure the copy answers for 700 ms without calling the body
/// (room for a loaded machine: the calls within it take about 150 ms).
#[cache_result(
    "fso_throttle",
    ttl = "200ms",
    stale_if_error = "1m",
    fail_throttle = "700ms"
)]
async fn flaky(id: u64) -> Result<String, String> {
    let run = FLAKY_RUNS.fetch_add(1, SeqCst) + 1;
    tokio::time::sleep(Duration::from_millis(20)).await;
    if FLAKY_DOWN.load(SeqCst) {
        return Err(format!("down (run {run})"));
    }
    Ok(format!("item {id} v{run}"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_failed_recomputation_is_not_tried_again_within_the_throttle() {
    assert_eq!(flaky(1).await.as_deref(), Ok("item 1 v1"));
    sleep(Duration::from_millis(250)).await; // expired, inside the stale window
    FLAKY_DOWN.store(true, SeqCst);

    // The first call after expiry computes, fails and gets the fail-safe copy.
    let (first, outcomes) = Scope::observe().run(flaky(1)).await;
    assert_eq!(first.as_deref(), Ok("item 1 v1"));
    assert_eq!(outcomes.x_cache(), "STALE");
    assert_eq!(FLAKY_RUNS.load(SeqCst), 2, "one failed run");

    // Within the throttle: concurrent and sequential calls get the copy, the body is not
    // called.
    let concurrent: Vec<_> = (0..8).map(|_| tokio::spawn(flaky(1))).collect();
    for call in concurrent {
        let answer = call.await.expect("no panic");
        assert_eq!(answer.as_deref(), Ok("item 1 v1"));
    }
    for _ in 0..5 {
        let (answer, outcomes) = Scope::observe().run(flaky(1)).await;
        assert_eq!(answer.as_deref(), Ok("item 1 v1"));
        assert_eq!(outcomes.x_cache(), "STALE", "the throttled copy is stale");
        sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(FLAKY_RUNS.load(SeqCst), 2, "no run within the throttle");
    let s = stats("fso_throttle");
    assert_eq!(s.fail_throttled, 13, "{s:?}");
    assert_eq!(
        s.stale_served, 14,
        "the failed call and the 13 throttled ones"
    );
    assert_eq!(s.hits, 0, "throttled answers are not hits: {s:?}");
    assert!(
        global()
            .prometheus()
            .contains("cache_fail_throttled_total{")
    );

    // After the throttle one call tries again (and fails: the copy again, a new window).
    sleep(Duration::from_millis(700)).await;
    let concurrent: Vec<_> = (0..4).map(|_| tokio::spawn(flaky(1))).collect();
    for call in concurrent {
        assert_eq!(call.await.expect("no panic").as_deref(), Ok("item 1 v1"));
    }
    assert_eq!(FLAKY_RUNS.load(SeqCst), 3, "one run after the throttle");
    assert_eq!(flaky(1).await.as_deref(), Ok("item 1 v1"));
    assert_eq!(FLAKY_RUNS.load(SeqCst), 3, "throttled again");

    // After the next throttle a succeeding retry replaces the copy.
    FLAKY_DOWN.store(false, SeqCst);
    sleep(Duration::from_millis(720)).await;
    let (fresh, outcomes) = Scope::observe().run(flaky(1)).await;
    assert_eq!(fresh.as_deref(), Ok("item 1 v4"));
    assert_eq!(outcomes.x_cache(), "MISS");
    let (hit, outcomes) = Scope::observe().run(flaky(1)).await;
    assert_eq!(hit.as_deref(), Ok("item 1 v4"));
    assert_eq!(outcomes.x_cache(), "HIT");
    assert_eq!(FLAKY_RUNS.load(SeqCst), 4);

    // The throttle is per key: another key computes.
    assert_eq!(flaky(2).await.as_deref(), Ok("item 2 v5"));
}

static PLAIN_RUNS: AtomicU32 = AtomicU32::new(0);
static PLAIN_DOWN: AtomicBool = AtomicBool::new(false);

/// The same without `fail_throttle`: every call after a failure tries the body again.
#[cache_result("fso_no_throttle", ttl = "200ms", stale_if_error = "1m")]
async fn unthrottled(id: u64) -> Result<String, String> {
    let run = PLAIN_RUNS.fetch_add(1, SeqCst) + 1;
    if PLAIN_DOWN.load(SeqCst) {
        return Err("down".into());
    }
    Ok(format!("item {id} v{run}"))
}

#[tokio::test]
async fn without_a_throttle_every_call_after_a_failure_calls_the_body() {
    assert_eq!(unthrottled(1).await.as_deref(), Ok("item 1 v1"));
    sleep(Duration::from_millis(250)).await;
    PLAIN_DOWN.store(true, SeqCst);
    for _ in 0..3 {
        assert_eq!(unthrottled(1).await.as_deref(), Ok("item 1 v1"));
    }
    assert_eq!(PLAIN_RUNS.load(SeqCst), 4);
    assert_eq!(stats("fso_no_throttle").fail_throttled, 0);
}

static SYNC_RUNS: AtomicU32 = AtomicU32::new(0);
static SYNC_DOWN: AtomicBool = AtomicBool::new(false);

#[cache_result(
    "fso_throttle_sync",
    ttl = "100ms",
    stale_if_error = "1m",
    fail_throttle = "300ms"
)]
fn flaky_sync(id: u64) -> Result<String, String> {
    let run = SYNC_RUNS.fetch_add(1, SeqCst) + 1;
    if SYNC_DOWN.load(SeqCst) {
        return Err("down".into());
    }
    Ok(format!("item {id} v{run}"))
}

#[test]
fn a_synchronous_function_is_throttled_too_and_an_invalidation_ends_the_throttle() {
    assert_eq!(flaky_sync(1).as_deref(), Ok("item 1 v1"));
    std::thread::sleep(Duration::from_millis(150));
    SYNC_DOWN.store(true, SeqCst);
    for _ in 0..4 {
        assert_eq!(flaky_sync(1).as_deref(), Ok("item 1 v1"));
    }
    assert_eq!(SYNC_RUNS.load(SeqCst), 2, "one failed run, then the copy");
    assert_eq!(
        flaky_sync_entry(&1).peek(),
        None,
        "a throttled copy is not fresh"
    );
    // An invalidation removes the copy: the error reaches the caller.
    assert!(flaky_sync_entry(&1).invalidate());
    assert_eq!(flaky_sync(1), Err("down".to_string()));
    assert_eq!(SYNC_RUNS.load(SeqCst), 3);
}

static EXPIRED_RUNS: AtomicU32 = AtomicU32::new(0);
static EXPIRED_DOWN: AtomicBool = AtomicBool::new(false);

#[cache_result(
    "fso_throttle_expire",
    ttl = "5m",
    stale_if_error = "1m",
    fail_throttle = "5s"
)]
async fn expirable(id: u64) -> Result<String, String> {
    let run = EXPIRED_RUNS.fetch_add(1, SeqCst) + 1;
    if EXPIRED_DOWN.load(SeqCst) {
        return Err("down".into());
    }
    Ok(format!("item {id} v{run}"))
}

#[tokio::test]
async fn after_expire_all_a_failure_is_throttled_too() {
    assert_eq!(expirable(1).await.as_deref(), Ok("item 1 v1"));
    global().expire_all("fso_throttle_expire");
    EXPIRED_DOWN.store(true, SeqCst);
    // The expired value is the fail-safe copy; after the failure it answers, throttled.
    for _ in 0..3 {
        assert_eq!(expirable(1).await.as_deref(), Ok("item 1 v1"));
    }
    assert_eq!(
        EXPIRED_RUNS.load(SeqCst),
        2,
        "one failed run after the expiry"
    );
    assert_eq!(stats("fso_throttle_expire").fail_throttled, 2);
    // An expiry after the failure ends the throttle: the next call tries again.
    global().expire_all("fso_throttle_expire");
    assert_eq!(expirable(1).await.as_deref(), Ok("item 1 v1"));
    assert_eq!(EXPIRED_RUNS.load(SeqCst), 3);
}

// ---------- cache_none = "30s" ----------

static FIND_RUNS: AtomicU32 = AtomicU32::new(0);

/// `Some` lives 5 minutes, `None` 250 ms.
#[cache_result("fso_none", ttl = "5m", cache_none = "250ms")]
async fn find(id: u64) -> Option<String> {
    FIND_RUNS.fetch_add(1, SeqCst);
    id.is_multiple_of(2).then(|| format!("even {id}"))
}

#[tokio::test]
async fn a_none_lives_its_own_ttl_and_a_some_the_cache_ttl() {
    assert_eq!(find(1).await, None);
    assert_eq!(find(2).await.as_deref(), Some("even 2"));
    assert_eq!(find(1).await, None, "None is cached");
    assert_eq!(FIND_RUNS.load(SeqCst), 2);
    sleep(Duration::from_millis(350)).await;
    assert_eq!(find(1).await, None);
    assert_eq!(
        FIND_RUNS.load(SeqCst),
        3,
        "the None expired and was recomputed"
    );
    assert_eq!(find(2).await.as_deref(), Some("even 2"));
    assert_eq!(FIND_RUNS.load(SeqCst), 3, "the Some is still cached");
    assert_eq!(find(1).await, None);
    assert_eq!(FIND_RUNS.load(SeqCst), 3, "the new None is cached again");
}

static LONG_NONE_RUNS: AtomicU32 = AtomicU32::new(0);

/// `cache_none = true` keeps a `None` for the cache's TTL, as before.
#[cache_result("fso_none_true", ttl = "5m", cache_none = true)]
async fn find_long(id: u64) -> Option<String> {
    LONG_NONE_RUNS.fetch_add(1, SeqCst);
    id.is_multiple_of(2).then(|| format!("even {id}"))
}

#[tokio::test]
async fn cache_none_true_keeps_a_none_for_the_ttl() {
    assert_eq!(find_long(1).await, None);
    sleep(Duration::from_millis(350)).await;
    assert_eq!(find_long(1).await, None);
    assert_eq!(LONG_NONE_RUNS.load(SeqCst), 1);
}

// ---------- cache_err with err_ttl ----------

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
enum LookupError {
    NotFound,
    Unavailable,
}

fn not_found(e: &LookupError) -> bool {
    matches!(e, LookupError::NotFound)
}

static ACCOUNT_RUNS: AtomicU32 = AtomicU32::new(0);

/// `Ok` lives 5 minutes, `NotFound` 250 ms, `Unavailable` is never cached.
#[cache_result("fso_err", ttl = "5m", cache_err = not_found, err_ttl = "250ms")]
async fn account(id: u64) -> Result<String, LookupError> {
    ACCOUNT_RUNS.fetch_add(1, SeqCst);
    match id {
        1 => Ok("ann".into()),
        2 => Err(LookupError::NotFound),
        _ => Err(LookupError::Unavailable),
    }
}

#[tokio::test]
async fn chosen_errors_live_err_ttl_and_other_errors_are_never_cached() {
    let runs = || ACCOUNT_RUNS.load(SeqCst);
    for _ in 0..2 {
        assert_eq!(account(1).await, Ok("ann".into()));
        assert_eq!(account(2).await, Err(LookupError::NotFound));
        assert_eq!(account(3).await, Err(LookupError::Unavailable));
    }
    assert_eq!(
        runs(),
        4,
        "Ok and NotFound once each, Unavailable every time"
    );
    let (cached, outcomes) = Scope::observe().run(account(2)).await;
    assert_eq!(cached, Err(LookupError::NotFound));
    assert_eq!(outcomes.x_cache(), "HIT");
    assert_eq!(stats("fso_err").errors_not_cached, 2);
    sleep(Duration::from_millis(350)).await;
    assert_eq!(account(2).await, Err(LookupError::NotFound));
    assert_eq!(runs(), 5, "the cached error expired after err_ttl");
    assert_eq!(account(1).await, Ok("ann".into()));
    assert_eq!(runs(), 5, "the Ok is still cached");
}

// ---------- local_ttl without a remote tier ----------

static LOCAL_RUNS: AtomicU32 = AtomicU32::new(0);

/// Without Redis there is one copy, the in-process one: `local_ttl` does not apply and
/// the entry lives `ttl`.
#[cache_result("fso_local_ttl", ttl = "2s", local_ttl = "100ms")]
async fn local_only(id: u64) -> u64 {
    LOCAL_RUNS.fetch_add(1, SeqCst);
    id * 10
}

#[tokio::test]
async fn without_a_remote_tier_local_ttl_is_ignored_and_ttl_applies() {
    assert_eq!(local_only(4).await, 40);
    sleep(Duration::from_millis(300)).await; // past local_ttl, inside ttl
    let (v, outcomes) = Scope::observe().run(local_only(4)).await;
    assert_eq!(v, 40);
    assert_eq!(outcomes.x_cache(), "HIT");
    assert_eq!(LOCAL_RUNS.load(SeqCst), 1, "served for ttl, not local_ttl");
    let s = stats("fso_local_ttl");
    assert_eq!((s.hits, s.misses), (1, 1), "{s:?}");
}
