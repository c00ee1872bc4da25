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
//!   `slow_calls`.
//!
//! [`timers`] returns a snapshot of every registered timer, [`render_timers_prometheus`]
//! renders the same figures in the Prometheus text format, and [`reset_timers`] clears them.
//!
//! # Cost and concurrency
//!
//! The clock is `quanta`, read raw (the TSC where it is invariant) and scaled once per call.
//! Each state is striped into eight cache-line-aligned shards, each a `parking_lot::Mutex`
//! around a histogram and its counters. Threads are dealt shards round-robin on their first
//! timed call and keep theirs, so up to eight threads timing the same name share no lock and
//! no cache line. A completed call costs two clock reads, one atomic increment (the start)
//! and one lock of the thread's own shard (the record): about 45 ns on a 2-core Xeon VM.
//! Tracing happens only for slow calls, and nothing allocates on the fast path except the
//! rare growth of a histogram to a new maximum. Snapshots lock each shard in turn and merge.
//!
//! Latencies are kept in nanoseconds, in histograms with 2 significant figures (quantiles
//! within 1% relative error) that grow as needed up to one hour; longer calls are recorded
//! as one hour in the quantiles (min, max and mean stay exact).

use std::cell::Cell;
use std::collections::BTreeMap;
use std::fmt::{self, Write as _};
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, OnceLock};
use std::task::{Context, Poll};

use hdrhistogram::Histogram;
use parking_lot::{Mutex, RwLock};

/// Number of shards per timer; a power of two.
const SHARDS: usize = 8;
const _: () = assert!(SHARDS.is_power_of_two());

/// Significant figures kept by the latency histograms (hdrhistogram accepts 0..=5).
const SIGFIG: u8 = 2;
const _: () = assert!(SIGFIG <= 5);

/// Longest latency the histograms track; longer calls are clamped to it there.
const MAX_TRACKED_NANOS: u64 = 3_600 * 1_000_000_000;

const NANOS_PER_MS: f64 = 1e6;
const MS_PER_SEC: f64 = 1e3;
#[cfg(feature = "metrics")]
const NANOS_PER_SEC: f64 = 1e9;

// ---------------------------------------------------------------------------------------------
// Sites
// ---------------------------------------------------------------------------------------------

/// The static description of one timed function: its timer name and slow-call threshold.
///
/// `#[performance_timer]` emits one `static` site per annotated function. The site finds its
/// figures in the global registry on its first call and keeps them, so later calls cost no
/// lookup. Sites with the same name share their figures.
///
/// # Example
///
/// ```rust
/// use cache_runtime::__private::{TimerSite, time_sync};
/// use cache_runtime::timers;
///
/// static SITE: TimerSite = TimerSite::new("doc.site.parse", 250);
///
/// let n = time_sync(&SITE, |r: &Result<u32, std::num::ParseIntError>| r.is_err(), || {
///     "42".parse::<u32>()
/// });
/// assert_eq!(n, Ok(42));
///
/// let stats = timers().into_iter().find(|t| t.name == "doc.site.parse").unwrap();
/// assert_eq!((stats.count, stats.errors), (1, 0));
/// assert_eq!(stats.slow_ms, Some(250.0));
/// ```
pub struct TimerSite {
    name: &'static str,
    slow_ms: u64,
    /// `slow_ms` in nanoseconds (saturated); 0 when slow calls are not logged.
    slow_nanos: u64,
    state: OnceLock<Arc<TimerState>>,
}

impl TimerSite {
    /// A site for the timer `name`; calls slower than `slow_ms` milliseconds are logged and
    /// counted as slow (`0` turns slow-call logging off).
    ///
    /// # Example
    ///
    /// ```rust
    /// use cache_runtime::__private::TimerSite;
    ///
    /// static FETCH_USER: TimerSite = TimerSite::new("users.fetch", 100);
    /// static NO_SLOW_LOG: TimerSite = TimerSite::new("users.list", 0);
    /// ```
    #[must_use]
    pub const fn new(name: &'static str, slow_ms: u64) -> Self {
        Self {
            name,
            slow_ms,
            slow_nanos: slow_ms.saturating_mul(1_000_000),
            state: OnceLock::new(),
        }
    }

    /// The site's state, resolved from the registry on first use.
    #[inline]
    fn state(&'static self) -> &'static TimerState {
        self.state.get_or_init(|| {
            let state = timer_state(self.name);
            if self.slow_nanos != 0 {
                state.set_slow_threshold(self.slow_nanos);
            }
            state
        })
    }

    #[inline]
    fn is_slow(&self, elapsed_nanos: u64) -> bool {
        self.slow_nanos != 0 && elapsed_nanos > self.slow_nanos
    }
}

impl fmt::Debug for TimerSite {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TimerSite")
            .field("name", &self.name)
            .field("slow_ms", &self.slow_ms)
            .field("registered", &self.state.get().is_some())
            .finish()
    }
}

// ---------------------------------------------------------------------------------------------
// Entry points
// ---------------------------------------------------------------------------------------------

/// Runs `f`, timing it under `site`; `is_error` decides whether its result counts as an error.
///
/// If `f` (or `is_error`) panics, the call is recorded as an error with its latency and the
/// panic continues.
///
/// # Example
///
/// ```rust
/// use cache_runtime::__private::{TimerSite, time_sync};
/// use cache_runtime::timers;
///
/// static SITE: TimerSite = TimerSite::new("doc.time_sync", 0);
///
/// let sum = time_sync(&SITE, |_: &u64| false, || (1..=10u64).sum::<u64>());
/// assert_eq!(sum, 55);
///
/// let stats = timers().into_iter().find(|t| t.name == "doc.time_sync").unwrap();
/// assert_eq!(stats.count, 1);
/// assert_eq!(stats.in_flight, 0);
/// ```
#[inline]
pub fn time_sync<R, F: FnOnce() -> R>(
    site: &'static TimerSite,
    is_error: fn(&R) -> bool,
    f: F,
) -> R {
    let state = site.state();
    state.begin();
    let guard = CallGuard::start(site, state);
    let out = f();
    let error = is_error(&out);
    guard.finish(error);
    out
}

/// Wraps `fut` so that it is timed under `site`; `is_error` decides whether its output counts
/// as an error. See [`Timed`] for what is counted when.
///
/// # Example
///
/// ```rust
/// use cache_runtime::__private::{TimerSite, time_async};
/// use cache_runtime::timers;
///
/// static SITE: TimerSite = TimerSite::new("doc.time_async", 0);
///
/// # tokio::runtime::Builder::new_current_thread().enable_time().build().unwrap().block_on(async {
/// let out = time_async(&SITE, |r: &Result<u8, ()>| r.is_err(), async { Err::<u8, ()>(()) }).await;
/// assert_eq!(out, Err(()));
///
/// let stats = timers().into_iter().find(|t| t.name == "doc.time_async").unwrap();
/// assert_eq!((stats.count, stats.errors), (1, 1));
/// # });
/// ```
#[inline]
pub fn time_async<F: Future>(
    site: &'static TimerSite,
    is_error: fn(&F::Output) -> bool,
    fut: F,
) -> Timed<F> {
    Timed {
        fut,
        site,
        state: site.state(),
        is_error,
        phase: Phase::Idle,
    }
}

/// Where a [`Timed`] future is in its life.
#[derive(Clone, Copy, Debug)]
enum Phase {
    /// Not polled yet: nothing counted.
    Idle,
    /// Polled at least once, not complete: in flight since the raw clock reading held.
    Running(u64),
    /// Completed (or panicked, which counts as completed with an error).
    Done,
}

pin_project_lite::pin_project! {
    /// A future timed under a [`TimerSite`], returned by [`time_async`].
    ///
    /// - The clock starts, and the call becomes in flight, on the **first poll**.
    /// - On completion the latency, the call and (per `is_error`) the error are recorded and
    ///   the call leaves the in-flight gauge.
    /// - Dropped after its first poll and before completion, the call counts as `cancelled`
    ///   and leaves the in-flight gauge; no latency is recorded for it.
    /// - Dropped without ever being polled, it counts nothing.
    /// - If the inner future panics while polled, the call is recorded as a completed error
    ///   with its latency so far, and the panic continues.
    ///
    /// # Example
    ///
    /// ```rust
    /// use cache_runtime::__private::{TimerSite, time_async};
    /// use cache_runtime::timers;
    /// use std::time::Duration;
    ///
    /// static SITE: TimerSite = TimerSite::new("doc.timed.cancel", 0);
    ///
    /// # tokio::runtime::Builder::new_current_thread().enable_time().build().unwrap().block_on(async {
    /// // The timeout drops the timed future after it has been polled: one cancellation.
    /// let slow = time_async(&SITE, |_: &()| false, tokio::time::sleep(Duration::from_secs(60)));
    /// assert!(tokio::time::timeout(Duration::from_millis(5), slow).await.is_err());
    ///
    /// let stats = timers().into_iter().find(|t| t.name == "doc.timed.cancel").unwrap();
    /// assert_eq!((stats.count, stats.cancelled, stats.in_flight), (0, 1, 0));
    /// # });
    /// ```
    #[must_use = "futures do nothing unless you `.await` or poll them"]
    pub struct Timed<F: Future> {
        #[pin]
        fut: F,
        site: &'static TimerSite,
        state: &'static TimerState,
        is_error: fn(&F::Output) -> bool,
        phase: Phase,
    }

    impl<F: Future> PinnedDrop for Timed<F> {
        fn drop(this: Pin<&mut Self>) {
            let this = this.project();
            if let Phase::Running(_) = *this.phase {
                *this.phase = Phase::Done;
                this.state.cancel();
            }
        }
    }
}

impl<F: Future> Future for Timed<F> {
    type Output = F::Output;

    #[inline]
    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<F::Output> {
        let this = self.project();
        let start = match *this.phase {
            Phase::Running(start) => start,
            Phase::Idle => {
                this.state.begin();
                now_raw()
            }
            // Polled after completion: not a call of its own, so the inner future decides.
            Phase::Done => return this.fut.poll(cx),
        };
        // While the inner future is polled the phase says `Done`: if the poll panics, the
        // guard records the call as an error and the drop that follows is not a cancellation.
        *this.phase = Phase::Done;
        let guard = CallGuard {
            site: this.site,
            state: this.state,
            start,
            armed: true,
        };
        match this.fut.poll(cx) {
            Poll::Ready(out) => {
                let error = (this.is_error)(&out);
                guard.finish(error);
                Poll::Ready(out)
            }
            Poll::Pending => {
                guard.disarm();
                *this.phase = Phase::Running(start);
                Poll::Pending
            }
        }
    }
}

impl<F: Future + fmt::Debug> fmt::Debug for Timed<F> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Timed")
            .field("site", self.site)
            .field("phase", &self.phase)
            .field("fut", &self.fut)
            .finish()
    }
}

/// Records the end of a started call exactly once: normally through [`CallGuard::finish`],
/// or, if the timed code unwinds first, as an error when the guard is dropped.
struct CallGuard {
    site: &'static TimerSite,
    state: &'static TimerState,
    /// Raw clock reading at the start (see [`now_raw`]).
    start: u64,
    armed: bool,
}

impl CallGuard {
    #[inline]
    fn start(site: &'static TimerSite, state: &'static TimerState) -> Self {
        Self {
            site,
            state,
            start: now_raw(),
            armed: true,
        }
    }

    #[inline]
    fn finish(mut self, error: bool) {
        self.armed = false;
        self.state.complete(self.site, self.start, error);
    }

    #[inline]
    fn disarm(mut self) {
        self.armed = false;
    }
}

impl Drop for CallGuard {
    #[inline]
    fn drop(&mut self) {
        if self.armed {
            // Only reached while unwinding out of the timed code.
            self.state.complete(self.site, self.start, true);
        }
    }
}

// ---------------------------------------------------------------------------------------------
// State
// ---------------------------------------------------------------------------------------------

/// All figures of one timer name, striped into [`SHARDS`] shards.
pub(crate) struct TimerState {
    name: Box<str>,
    /// Smallest slow threshold of the sites using this name, in nanoseconds; `u64::MAX`: none.
    slow_nanos: AtomicU64,
    shards: [Shard; SHARDS],
    #[cfg(feature = "metrics")]
    metrics: MetricsHandles,
}

/// One stripe of a timer, alone on its cache lines (128 bytes covers adjacent-line
/// prefetching on x86 and the 128-byte lines of Apple silicon).
#[repr(align(128))]
struct Shard {
    /// Calls started on this shard's threads; never reset.
    started: AtomicU64,
    data: Mutex<ShardData>,
}

struct ShardData {
    hist: Histogram<u64>,
    count: u64,
    errors: u64,
    cancelled: u64,
    slow_calls: u64,
    sum_nanos: u64,
    min_nanos: u64,
    max_nanos: u64,
    /// Calls completed or cancelled on this shard's threads; never reset, so that
    /// in-flight = started - finished (summed over shards) survives a reset.
    finished: u64,
}

impl ShardData {
    fn new() -> Self {
        Self {
            hist: new_histogram(),
            count: 0,
            errors: 0,
            cancelled: 0,
            slow_calls: 0,
            sum_nanos: 0,
            min_nanos: u64::MAX,
            max_nanos: 0,
            finished: 0,
        }
    }

    #[inline]
    fn record(&mut self, nanos: u64, error: bool, slow: bool) {
        self.count += 1;
        self.finished += 1;
        self.errors += u64::from(error);
        self.slow_calls += u64::from(slow);
        self.sum_nanos = self.sum_nanos.saturating_add(nanos);
        self.min_nanos = self.min_nanos.min(nanos);
        self.max_nanos = self.max_nanos.max(nanos);
        let clamped = nanos.min(MAX_TRACKED_NANOS);
        if self.hist.record(clamped).is_err() {
            // Unreachable in practice (the histogram auto-resizes and the value is clamped to
            // one hour); if growing failed, record at the current top instead of losing it.
            self.hist.saturating_record(clamped);
        }
    }

    /// Clears the figures, keeping `finished` (the in-flight bookkeeping) and the
    /// histogram's allocation.
    fn reset(&mut self) {
        self.hist.reset();
        self.count = 0;
        self.errors = 0;
        self.cancelled = 0;
        self.slow_calls = 0;
        self.sum_nanos = 0;
        self.min_nanos = u64::MAX;
        self.max_nanos = 0;
    }
}

fn new_histogram() -> Histogram<u64> {
    // Cannot fail: `SIGFIG <= 5` is asserted at compile time, and that is the only error
    // `Histogram::new` reports.
    Histogram::new(SIGFIG).expect("SIGFIG is within 0..=5")
}

/// The process-wide clock: the TSC where it is invariant, else the OS monotonic clock.
static CLOCK: OnceLock<quanta::Clock> = OnceLock::new();

#[inline]
fn clock() -> &'static quanta::Clock {
    CLOCK.get_or_init(quanta::Clock::new)
}

/// A raw clock reading (TSC ticks or nanoseconds): cheaper than `quanta::Instant::now()`,
/// which also scales and checks for a per-thread mock clock on every call.
#[inline]
fn now_raw() -> u64 {
    clock().raw()
}

/// Nanoseconds elapsed since the raw reading `start` (0 if the clock appears to go back).
#[inline]
fn nanos_since(start: u64) -> u64 {
    let clock = clock();
    clock.delta_as_nanos(start, clock.raw())
}

thread_local! {
    /// This thread's shard index; `usize::MAX` until first use.
    static SHARD_INDEX: Cell<usize> = const { Cell::new(usize::MAX) };
}

static NEXT_SHARD: AtomicUsize = AtomicUsize::new(0);

/// The shard this thread uses: threads are dealt shards round-robin on their first call.
#[inline]
fn shard_index() -> usize {
    SHARD_INDEX
        .try_with(|cell| {
            let index = cell.get();
            if index < SHARDS {
                index
            } else {
                let index = NEXT_SHARD.fetch_add(1, Ordering::Relaxed) % SHARDS;
                cell.set(index);
                index
            }
        })
        // During thread-local teardown any shard is as good as another.
        .unwrap_or(0)
}

impl TimerState {
    fn new(name: &str) -> Self {
        Self {
            name: name.into(),
            slow_nanos: AtomicU64::new(u64::MAX),
            shards: std::array::from_fn(|_| Shard {
                started: AtomicU64::new(0),
                data: Mutex::new(ShardData::new()),
            }),
            #[cfg(feature = "metrics")]
            metrics: MetricsHandles::new(name),
        }
    }

    #[inline]
    fn shard(&self) -> &Shard {
        &self.shards[shard_index() & (SHARDS - 1)]
    }

    /// Keeps the smallest threshold of all sites that share this name.
    fn set_slow_threshold(&self, nanos: u64) {
        self.slow_nanos.fetch_min(nanos, Ordering::Relaxed);
    }

    /// A call starts: it is in flight until [`complete`](Self::complete) or
    /// [`cancel`](Self::cancel).
    #[inline]
    fn begin(&self) {
        self.shard().started.fetch_add(1, Ordering::Relaxed);
    }

    /// A started call completed (with `error`, or by panicking).
    #[inline]
    fn complete(&self, site: &TimerSite, start: u64, error: bool) {
        let nanos = nanos_since(start);
        let slow = site.is_slow(nanos);
        self.record(nanos, error, slow);
        if slow {
            log_slow(site, nanos);
        }
        #[cfg(feature = "metrics")]
        self.metrics.completed(nanos, error);
    }

    /// Records one completed call of `nanos` nanoseconds.
    #[inline]
    pub(crate) fn record(&self, nanos: u64, error: bool, slow: bool) {
        self.shard().data.lock().record(nanos, error, slow);
    }

    /// A started call was dropped before completing.
    fn cancel(&self) {
        {
            let mut data = self.shard().data.lock();
            data.cancelled += 1;
            data.finished += 1;
        }
        #[cfg(feature = "metrics")]
        self.metrics.cancelled.increment(1);
    }

    fn reset(&self) {
        for shard in &self.shards {
            shard.data.lock().reset();
        }
    }

    /// A snapshot of this timer's figures, merged over its shards.
    pub(crate) fn stats(&self) -> TimerStats {
        let mut hist = new_histogram();
        let (mut count, mut errors, mut cancelled, mut slow_calls) = (0u64, 0u64, 0u64, 0u64);
        let (mut sum, mut min, mut max, mut finished) = (0u64, u64::MAX, 0u64, 0u64);
        for shard in &self.shards {
            let data = shard.data.lock();
            count += data.count;
            errors += data.errors;
            cancelled += data.cancelled;
            slow_calls += data.slow_calls;
            finished += data.finished;
            sum = sum.saturating_add(data.sum_nanos);
            min = min.min(data.min_nanos);
            max = max.max(data.max_nanos);
            if hist.add(&data.hist).is_err() {
                // Cannot happen: `hist` auto-resizes and every shard tracks at most one hour.
                tracing::debug!(timer = &*self.name, "could not merge a latency histogram");
            }
        }
        // Read after the shard locks: every call counted in `finished` above has its start
        // counted here, so the difference never undercounts.
        let started: u64 = self
            .shards
            .iter()
            .map(|shard| shard.started.load(Ordering::Relaxed))
            .sum();

        let slow_nanos = self.slow_nanos.load(Ordering::Relaxed);
        let ms = |nanos: u64| nanos as f64 / NANOS_PER_MS;
        let (min_ms, mean_ms, max_ms) = if count == 0 {
            (0.0, 0.0, 0.0)
        } else {
            (ms(min), sum as f64 / count as f64 / NANOS_PER_MS, ms(max))
        };
        // The histogram reports the top of a value's bucket; keep quantiles within the exact
        // min and max.
        let quantile = |q: f64| {
            if count == 0 {
                0.0
            } else {
                ms(hist.value_at_quantile(q).clamp(min, max))
            }
        };
        TimerStats {
            name: self.name.to_string(),
            count,
            errors,
            cancelled,
            in_flight: started.saturating_sub(finished),
            slow_ms: (slow_nanos != u64::MAX).then(|| ms(slow_nanos)),
            slow_calls,
            min_ms,
            mean_ms,
            p50_ms: quantile(0.5),
            p90_ms: quantile(0.9),
            p95_ms: quantile(0.95),
            p99_ms: quantile(0.99),
            max_ms,
        }
    }
}

#[cold]
#[inline(never)]
fn log_slow(site: &TimerSite, nanos: u64) {
    tracing::warn!(
        timer = site.name,
        elapsed_ms = nanos as f64 / NANOS_PER_MS,
        threshold_ms = site.slow_ms,
        "slow call"
    );
}

/// `metrics` handles of one timer, registered once so the hot path only records.
#[cfg(feature = "metrics")]
struct MetricsHandles {
    duration: metrics::Histogram,
    calls: metrics::Counter,
    errors: metrics::Counter,
    cancelled: metrics::Counter,
}

#[cfg(feature = "metrics")]
impl MetricsHandles {
    fn new(name: &str) -> Self {
        Self {
            duration: metrics::histogram!("function_duration_seconds", "function" => name.to_owned()),
            calls: metrics::counter!("function_calls_total", "function" => name.to_owned()),
            errors: metrics::counter!("function_errors_total", "function" => name.to_owned()),
            cancelled: metrics::counter!("function_cancelled_total", "function" => name.to_owned()),
        }
    }

    #[inline]
    fn completed(&self, nanos: u64, error: bool) {
        self.duration.record(nanos as f64 / NANOS_PER_SEC);
        self.calls.increment(1);
        if error {
            self.errors.increment(1);
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Registry
// ---------------------------------------------------------------------------------------------

/// Every timer ever used, by name (ordered, so snapshots come out sorted).
static REGISTRY: RwLock<BTreeMap<Box<str>, Arc<TimerState>>> = RwLock::new(BTreeMap::new());

/// The state of timer `name`, registered on first request; the same name always gives the
/// same state.
///
/// With the `metrics` feature, the timer's `metrics` handles are registered here with the
/// recorder installed at that moment: install the recorder before the first timed call.
pub(crate) fn timer_state(name: &str) -> Arc<TimerState> {
    if let Some(state) = REGISTRY.read().get(name) {
        return Arc::clone(state);
    }
    Arc::clone(
        REGISTRY
            .write()
            .entry(name.into())
            .or_insert_with(|| Arc::new(TimerState::new(name))),
    )
}

fn registered() -> Vec<Arc<TimerState>> {
    REGISTRY.read().values().cloned().collect()
}

// ---------------------------------------------------------------------------------------------
// Reading
// ---------------------------------------------------------------------------------------------

/// A snapshot of one timer's figures. Durations are in milliseconds; all figures except
/// `in_flight` and `slow_ms` count from registration or the last [`reset_timers`].
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

/// A snapshot of every registered timer, sorted by name.
///
/// # Example
///
/// ```rust
/// use cache_runtime::__private::{TimerSite, time_sync};
/// use cache_runtime::timers;
///
/// static A: TimerSite = TimerSite::new("doc.timers.a", 0);
/// static B: TimerSite = TimerSite::new("doc.timers.b", 0);
/// time_sync(&B, |_: &()| false, || ());
/// time_sync(&A, |_: &()| false, || ());
///
/// let names: Vec<String> = timers().into_iter().map(|t| t.name).collect();
/// let a = names.iter().position(|n| n == "doc.timers.a").unwrap();
/// let b = names.iter().position(|n| n == "doc.timers.b").unwrap();
/// assert!(a < b);
/// ```
#[must_use]
pub fn timers() -> Vec<TimerStats> {
    registered().iter().map(|state| state.stats()).collect()
}

/// Clears the figures of every timer (counts, errors, cancellations, slow calls, latencies),
/// keeping the registrations, the slow thresholds and the in-flight gauges.
///
/// # Example
///
/// ```rust
/// use cache_runtime::__private::{TimerSite, time_sync};
/// use cache_runtime::{reset_timers, timers};
///
/// static SITE: TimerSite = TimerSite::new("doc.reset", 0);
/// time_sync(&SITE, |_: &()| false, || ());
/// reset_timers();
///
/// let stats = timers().into_iter().find(|t| t.name == "doc.reset").unwrap();
/// assert_eq!(stats.count, 0);
/// ```
pub fn reset_timers() {
    for state in registered() {
        state.reset();
    }
}

/// Appends every registered timer to `out` in the Prometheus text exposition format:
///
/// - `function_duration_seconds` (summary): quantiles 0.5, 0.9, 0.95 and 0.99, `_sum` and
///   `_count` (`NaN` quantiles before the first completed call);
/// - `function_errors_total` and `function_cancelled_total` (counters);
/// - `function_in_flight` (gauge);
///
/// each labelled `function="<name>"` (the name escaped as a label value), with `HELP` and
/// `TYPE` once per family. Appends nothing when no timer is registered. Users reach it
/// through `CacheRuntime::prometheus`; one timer renders as:
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
pub(crate) fn render_timers_prometheus(out: &mut String) {
    render_prometheus(out, &timers());
}

fn render_prometheus(out: &mut String, timers: &[TimerStats]) {
    if timers.is_empty() {
        return;
    }
    let labels: Vec<String> = timers.iter().map(|t| escape_label_value(&t.name)).collect();
    // Writing into a `String` cannot fail: the `fmt::Result`s below are always `Ok`.
    family_header(
        out,
        "function_duration_seconds",
        "Latency of timed functions.",
        "summary",
    );
    for (t, label) in timers.iter().zip(&labels) {
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
            let _ = writeln!(
                out,
                "function_duration_seconds{{function=\"{label}\",quantile=\"{quantile}\"}} {}",
                PromFloat(seconds)
            );
        }
        let sum_seconds = t.mean_ms * t.count as f64 / MS_PER_SEC;
        let _ = writeln!(
            out,
            "function_duration_seconds_sum{{function=\"{label}\"}} {}",
            PromFloat(sum_seconds)
        );
        let _ = writeln!(
            out,
            "function_duration_seconds_count{{function=\"{label}\"}} {}",
            t.count
        );
    }
    let families = [
        Family {
            name: "function_errors_total",
            help: "Completed calls of timed functions that returned an error or panicked.",
            kind: "counter",
            value: |t| t.errors,
        },
        Family {
            name: "function_cancelled_total",
            help: "Timed futures dropped before completing.",
            kind: "counter",
            value: |t| t.cancelled,
        },
        Family {
            name: "function_in_flight",
            help: "Calls of timed functions in progress.",
            kind: "gauge",
            value: |t| t.in_flight,
        },
    ];
    for family in families {
        let Family {
            name,
            help,
            kind,
            value,
        } = family;
        family_header(out, name, help, kind);
        for (t, label) in timers.iter().zip(&labels) {
            let _ = writeln!(out, "{name}{{function=\"{label}\"}} {}", value(t));
        }
    }
}

/// A Prometheus metric family with one integer sample per timer.
struct Family {
    name: &'static str,
    help: &'static str,
    kind: &'static str,
    value: fn(&TimerStats) -> u64,
}

fn family_header(out: &mut String, family: &str, help: &str, kind: &str) {
    let _ = writeln!(out, "# HELP {family} {help}");
    let _ = writeln!(out, "# TYPE {family} {kind}");
}

/// Escapes a Prometheus label value: `\` as `\\`, `"` as `\"`, line feed as `\n`.
fn escape_label_value(value: &str) -> String {
    let mut escaped = String::with_capacity(value.len());
    for c in value.chars() {
        match c {
            '\\' => escaped.push_str("\\\\"),
            '"' => escaped.push_str("\\\""),
            '\n' => escaped.push_str("\\n"),
            c => escaped.push(c),
        }
    }
    escaped
}

/// A float as Prometheus writes it (`NaN`, `+Inf`, `-Inf`, or a plain decimal).
struct PromFloat(f64);

impl fmt::Display for PromFloat {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let v = self.0;
        if v.is_nan() {
            f.write_str("NaN")
        } else if v == f64::INFINITY {
            f.write_str("+Inf")
        } else if v == f64::NEG_INFINITY {
            f.write_str("-Inf")
        } else {
            write!(f, "{v}")
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::panic::{AssertUnwindSafe, catch_unwind};
    use std::task::Waker;
    use std::time::Duration;

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

    #[test]
    fn slow_is_strictly_above_the_threshold() {
        let site = TimerSite::new("test.slow.boundary", 5);
        assert!(!site.is_slow(5_000_000));
        assert!(site.is_slow(5_000_001));
        assert!(!TimerSite::new("test.slow.off", 0).is_slow(u64::MAX));
        assert!(!TimerSite::new("test.slow.huge", u64::MAX).is_slow(u64::MAX));
    }

    /// An event's fields, as (name, value) text.
    type Fields = Vec<(String, String)>;

    /// A subscriber that keeps the fields of WARN events.
    #[derive(Clone, Default)]
    struct WarnCapture {
        events: Arc<Mutex<Vec<Fields>>>,
    }

    struct FieldVisitor<'a>(&'a mut Fields);

    impl tracing::field::Visit for FieldVisitor<'_> {
        fn record_debug(&mut self, field: &tracing::field::Field, value: &dyn fmt::Debug) {
            self.0.push((field.name().to_owned(), format!("{value:?}")));
        }
        fn record_str(&mut self, field: &tracing::field::Field, value: &str) {
            self.0.push((field.name().to_owned(), value.to_owned()));
        }
    }

    impl tracing::Subscriber for WarnCapture {
        fn enabled(&self, _: &tracing::Metadata<'_>) -> bool {
            true
        }
        fn new_span(&self, _: &tracing::span::Attributes<'_>) -> tracing::span::Id {
            tracing::span::Id::from_u64(1)
        }
        fn record(&self, _: &tracing::span::Id, _: &tracing::span::Record<'_>) {}
        fn record_follows_from(&self, _: &tracing::span::Id, _: &tracing::span::Id) {}
        fn event(&self, event: &tracing::Event<'_>) {
            if *event.metadata().level() == tracing::Level::WARN {
                let mut fields = Vec::new();
                event.record(&mut FieldVisitor(&mut fields));
                self.events.lock().push(fields);
            }
        }
        fn enter(&self, _: &tracing::span::Id) {}
        fn exit(&self, _: &tracing::span::Id) {}
    }

    #[test]
    fn slow_calls_are_counted_and_logged_only_above_the_threshold() {
        let _figures = FIGURES.read();
        static SITE: TimerSite = TimerSite::new("test.slow", 50);
        let capture = WarnCapture::default();
        tracing::subscriber::with_default(capture.clone(), || {
            time_sync(&SITE, never_error, || ());
            let s = stats("test.slow");
            assert_eq!((s.count, s.slow_calls, s.slow_ms), (1, 0, Some(50.0)));
            assert!(
                capture.events.lock().is_empty(),
                "a fast call is not logged"
            );

            time_sync(&SITE, never_error, || {
                std::thread::sleep(Duration::from_millis(60));
            });
            let s = stats("test.slow");
            assert_eq!((s.count, s.slow_calls), (2, 1));
        });
        let events = capture.events.lock();
        assert_eq!(events.len(), 1, "{events:?}");
        let field = |name: &str| {
            events[0]
                .iter()
                .find(|(n, _)| n == name)
                .map(|(_, v)| v.clone())
                .unwrap_or_else(|| panic!("no field {name} in {:?}", events[0]))
        };
        assert_eq!(field("message"), "slow call");
        assert_eq!(field("timer"), "test.slow");
        assert_eq!(field("threshold_ms"), "50");
        let elapsed: f64 = field("elapsed_ms").parse().expect("elapsed_ms is a number");
        assert!(elapsed >= 60.0, "{elapsed}");
    }

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

        let mut out = String::from("# earlier content\n");
        render_timers_prometheus(&mut out);
        assert!(out.starts_with("# earlier content\n"), "appends");

        for (family, kind) in [
            ("function_duration_seconds", "summary"),
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
        for q in ["0.5", "0.9", "0.95", "0.99"] {
            assert!(out.contains(&format!(
                "function_duration_seconds{{{plain},quantile=\"{q}\"}} "
            )));
        }
        for line in [
            format!("function_duration_seconds_count{{{plain}}} 3\n"),
            format!("function_errors_total{{{plain}}} 1\n"),
            format!("function_cancelled_total{{{plain}}} 0\n"),
            format!("function_in_flight{{{plain}}} 0\n"),
            r#"function_duration_seconds_count{function="test.prom.\"quoted\"\\back\nline"} 1"#
                .to_owned()
                + "\n",
            r#"function_duration_seconds{function="test.prom.idle",quantile="0.99"} NaN"#
                .to_owned()
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
        let mut out = String::new();
        render_prometheus(&mut out, &[t]);
        let expected = "\
# HELP function_duration_seconds Latency of timed functions.
# TYPE function_duration_seconds summary
function_duration_seconds{function=\"f\",quantile=\"0.5\"} 0.002
function_duration_seconds{function=\"f\",quantile=\"0.9\"} 0.004
function_duration_seconds{function=\"f\",quantile=\"0.95\"} 0.004
function_duration_seconds{function=\"f\",quantile=\"0.99\"} 0.004
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
        let mut empty = String::new();
        render_prometheus(&mut empty, &[]);
        assert_eq!(empty, "");
    }

    #[test]
    fn label_values_are_escaped() {
        assert_eq!(escape_label_value(r#"a\b"c"#), r#"a\\b\"c"#);
        assert_eq!(escape_label_value("a\nb"), r"a\nb");
        assert_eq!(escape_label_value("plain.name"), "plain.name");
    }

    #[cfg(feature = "metrics")]
    mod metrics_facade {
        use super::*;
        use metrics::{Key, KeyName, Metadata, SharedString, Unit};

        struct Count(AtomicU64);
        impl metrics::CounterFn for Count {
            fn increment(&self, value: u64) {
                self.0.fetch_add(value, Ordering::Relaxed);
            }
            fn absolute(&self, value: u64) {
                self.0.store(value, Ordering::Relaxed);
            }
        }

        struct Samples(Mutex<Vec<f64>>);
        impl metrics::HistogramFn for Samples {
            fn record(&self, value: f64) {
                self.0.lock().push(value);
            }
        }

        #[derive(Default)]
        struct Recorder {
            counters: Mutex<Vec<(String, Arc<Count>)>>,
            histograms: Mutex<Vec<(String, Arc<Samples>)>>,
        }

        fn key_text(key: &Key) -> String {
            let labels: Vec<String> = key
                .labels()
                .map(|l| format!("{}={}", l.key(), l.value()))
                .collect();
            format!("{}{{{}}}", key.name(), labels.join(","))
        }

        impl Recorder {
            fn counter(&self, key: &str) -> u64 {
                let counters = self.counters.lock();
                let found = counters.iter().find(|(k, _)| k == key);
                found.map_or(u64::MAX, |(_, c)| c.0.load(Ordering::Relaxed))
            }
        }

        impl metrics::Recorder for Recorder {
            fn describe_counter(&self, _: KeyName, _: Option<Unit>, _: SharedString) {}
            fn describe_gauge(&self, _: KeyName, _: Option<Unit>, _: SharedString) {}
            fn describe_histogram(&self, _: KeyName, _: Option<Unit>, _: SharedString) {}
            fn register_counter(&self, key: &Key, _: &Metadata<'_>) -> metrics::Counter {
                let count = Arc::new(Count(AtomicU64::new(0)));
                self.counters
                    .lock()
                    .push((key_text(key), Arc::clone(&count)));
                metrics::Counter::from_arc(count)
            }
            fn register_gauge(&self, _: &Key, _: &Metadata<'_>) -> metrics::Gauge {
                metrics::Gauge::noop()
            }
            fn register_histogram(&self, key: &Key, _: &Metadata<'_>) -> metrics::Histogram {
                let samples = Arc::new(Samples(Mutex::new(Vec::new())));
                self.histograms
                    .lock()
                    .push((key_text(key), Arc::clone(&samples)));
                metrics::Histogram::from_arc(samples)
            }
        }

        #[test]
        fn completions_and_cancellations_reach_the_facade() {
            static SITE: TimerSite = TimerSite::new("test.metrics", 0);
            let recorder = Recorder::default();
            metrics::with_local_recorder(&recorder, || {
                time_sync(
                    &SITE,
                    |_: &()| false,
                    || std::thread::sleep(Duration::from_millis(3)),
                );
                time_sync(&SITE, |_: &()| true, || ());
            });
            // The handles were registered with the recorder on the first call and stay bound.
            let mut pending =
                Box::pin(time_async(&SITE, never_error, std::future::pending::<()>()));
            assert!(poll_once(pending.as_mut()).is_pending());
            drop(pending);

            assert_eq!(
                recorder.counter("function_calls_total{function=test.metrics}"),
                2
            );
            assert_eq!(
                recorder.counter("function_errors_total{function=test.metrics}"),
                1
            );
            assert_eq!(
                recorder.counter("function_cancelled_total{function=test.metrics}"),
                1
            );
            let histograms = recorder.histograms.lock();
            let (key, samples) = &histograms[0];
            assert_eq!(key, "function_duration_seconds{function=test.metrics}");
            let samples = samples.0.lock();
            assert_eq!(samples.len(), 2);
            assert!(samples[0] >= 0.003, "seconds: {samples:?}");
        }
    }
}
