//! Computation budgets (`with_budget`): a caller is charged only where a cached call is
//! about to compute. Hits, calls that join a computation already running and fail-safe
//! answers are free; a spent budget answers with the fail-safe copy when there is one,
//! else the function's own `From<Throttled>` error; a function that cannot say so computes.

use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering::SeqCst};
use std::time::Duration;

use cache_runtime::{Budget, Throttled, cache_result, global, with_budget, with_budget_sync};

#[derive(Debug, PartialEq)]
enum ApiError {
    TooMany(Duration),
    Failed,
}

impl From<Throttled> for ApiError {
    fn from(t: Throttled) -> Self {
        ApiError::TooMany(t.retry_after())
    }
}

fn stats(name: &str) -> cache_runtime::CacheStats {
    global().stats().cache(name).cloned().expect("used")
}

/// A budget of `n` computations, then a refusal saying "retry in 3 s"; counts what it gave.
struct Allowance {
    left: AtomicU32,
    spent: AtomicU32,
}

impl Allowance {
    fn new(n: u32) -> Arc<Self> {
        Arc::new(Self {
            left: AtomicU32::new(n),
            spent: AtomicU32::new(0),
        })
    }
}

impl Budget for Allowance {
    fn spend(&self) -> Result<(), Duration> {
        self.spent.fetch_add(1, SeqCst);
        self.left
            .fetch_update(SeqCst, SeqCst, |l| l.checked_sub(1))
            .map(drop)
            .map_err(|_| Duration::from_secs(3))
    }
}

static SQUARES: AtomicU32 = AtomicU32::new(0);

#[cache_result("cb_square", ttl = 60)]
async fn square(x: u64) -> Result<u64, ApiError> {
    SQUARES.fetch_add(1, SeqCst);
    Ok(x * x)
}

#[tokio::test]
async fn hits_are_free_and_misses_beyond_the_budget_get_the_functions_error() {
    let budget = Allowance::new(2);
    let b = || -> Arc<dyn Budget> { budget.clone() };
    assert_eq!(with_budget(b(), square(1)).await, Ok(1));
    assert_eq!(with_budget(b(), square(2)).await, Ok(4));
    // Spent: every hit is still answered, as often as asked.
    for _ in 0..100 {
        assert_eq!(with_budget(b(), square(1)).await, Ok(1));
        assert_eq!(with_budget(b(), square(2)).await, Ok(4));
    }
    // A new key would compute: refused, with the budget's own wait.
    assert_eq!(
        with_budget(b(), square(3)).await,
        Err(ApiError::TooMany(Duration::from_secs(3)))
    );
    assert_eq!(SQUARES.load(SeqCst), 2, "the refused call did not compute");
    assert_eq!(
        budget.spent.load(SeqCst),
        3,
        "only computations were charged"
    );
    assert_eq!(stats("cb_square").throttled, 1);
    // Nothing was stored for the refused key, and outside the budget it computes.
    assert_eq!(square(3).await, Ok(9));
    assert!(global().prometheus().contains("cache_throttled_total{"));
}

static SLOW_RUNS: AtomicU32 = AtomicU32::new(0);

#[cache_result("cb_slow", ttl = 60)]
async fn slow(x: u64) -> Result<u64, ApiError> {
    SLOW_RUNS.fetch_add(1, SeqCst);
    tokio::time::sleep(Duration::from_millis(300)).await;
    Ok(x + 1)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_call_that_joins_a_running_computation_costs_nothing() {
    let leader = tokio::spawn(slow(10));
    tokio::time::sleep(Duration::from_millis(50)).await;
    let spent = Allowance::new(0);
    let joiners: Vec<_> = (0..5)
        .map(|_| tokio::spawn(with_budget(spent.clone(), slow(10))))
        .collect();
    for j in joiners {
        assert_eq!(j.await.expect("task"), Ok(11));
    }
    assert_eq!(leader.await.expect("task"), Ok(11));
    assert_eq!(SLOW_RUNS.load(SeqCst), 1);
    assert_eq!(spent.spent.load(SeqCst), 0, "joining charged nothing");
}

static FLAKY_RUNS: AtomicU32 = AtomicU32::new(0);

#[cache_result("cb_failsafe", ttl = "150ms", stale_if_error = "1m")]
async fn flaky(x: u64) -> Result<String, ApiError> {
    let run = FLAKY_RUNS.fetch_add(1, SeqCst);
    if run > 0 && x == 0 {
        return Err(ApiError::Failed);
    }
    Ok(format!("{x} run {run}"))
}

#[tokio::test]
async fn a_spent_budget_serves_the_fail_safe_copy_when_there_is_one() {
    assert_eq!(flaky(1).await, Ok("1 run 0".into()));
    tokio::time::sleep(Duration::from_millis(250)).await; // past the TTL, inside the stale window
    let spent = Allowance::new(0);
    assert_eq!(
        with_budget(spent.clone(), flaky(1)).await,
        Ok("1 run 0".into()),
        "the expired copy, not a refusal"
    );
    assert_eq!(FLAKY_RUNS.load(SeqCst), 1, "no computation");
    let s = stats("cb_failsafe");
    assert_eq!((s.throttled, s.stale_served), (1, 1), "{s:?}");
    // With room in the budget, it recomputes.
    assert_eq!(
        with_budget(Allowance::new(1), flaky(1)).await,
        Ok("1 run 1".into())
    );
}

static PLAIN_RUNS: AtomicU32 = AtomicU32::new(0);

#[cache_result("cb_plain", ttl = 60)]
fn plain(x: u64) -> u64 {
    PLAIN_RUNS.fetch_add(1, SeqCst);
    x * 3
}

#[cache_result("cb_sync", ttl = 60)]
fn sync_square(x: u64) -> Result<u64, ApiError> {
    Ok(x * x)
}

#[test]
fn sync_calls_are_charged_too_and_a_function_that_cannot_refuse_computes() {
    let spent: Arc<dyn Budget> = Allowance::new(0);
    // No error to refuse with: it computes (and is cached) rather than give a wrong answer.
    assert_eq!(with_budget_sync(&spent, || plain(2)), 6);
    assert_eq!(PLAIN_RUNS.load(SeqCst), 1);
    assert_eq!(stats("cb_plain").throttled, 0);
    assert_eq!(
        with_budget_sync(&spent, || sync_square(5)),
        Err(ApiError::TooMany(Duration::from_secs(3)))
    );
    assert_eq!(sync_square(5), Ok(25));
    assert_eq!(with_budget_sync(&spent, || sync_square(5)), Ok(25), "a hit");
}

static SOFT_RUNS: AtomicU32 = AtomicU32::new(0);

#[cache_result("cb_soft", ttl = "150ms", stale_if_error = "1m", soft_timeout = "50ms")]
async fn soft(x: u64) -> Result<String, ApiError> {
    let run = SOFT_RUNS.fetch_add(1, SeqCst);
    Ok(format!("{x} run {run}"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_soft_timeout_computation_is_charged_to_the_caller_that_spawned_it() {
    assert_eq!(soft(1).await, Ok("1 run 0".into()));
    tokio::time::sleep(Duration::from_millis(250)).await; // expired, the copy at hand
    let spent = Allowance::new(0);
    assert_eq!(
        with_budget(spent.clone(), soft(1)).await,
        Ok("1 run 0".into()),
        "the copy"
    );
    // The computation runs as a task of its own; give it time to (not) run.
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert_eq!(
        SOFT_RUNS.load(SeqCst),
        1,
        "the task was charged and refused"
    );
    assert_eq!(spent.spent.load(SeqCst), 1);
    assert_eq!(stats("cb_soft").throttled, 1);
}
