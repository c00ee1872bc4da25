//! Where a timed function meets its figures: the static [`TimerSite`] that
//! `#[performance_timer]` emits, and the two wrappers generated code calls, [`time_sync`]
//! and [`time_async`] (which returns the [`Timed`] future).

use std::fmt;
use std::pin::Pin;
use std::sync::{Arc, OnceLock};
use std::task::{Context, Poll};

use crate::clock::{nanos_since, now_raw};
use crate::timer::nest;
use crate::timer::registry::timer_state;
use crate::timer::span::CallSpan;
use crate::timer::state::{NANOS_PER_MS, TimerState};

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
    pub(crate) fn state(&'static self) -> &'static TimerState {
        self.state.get_or_init(|| {
            // The trend windows are sampled from the first timed call on.
            crate::timer::report::start_sampler();
            let state = timer_state(self.name);
            if self.slow_nanos != 0 {
                state.set_slow_threshold(self.slow_nanos);
            }
            state
        })
    }

    #[inline]
    pub(crate) fn is_slow(&self, elapsed_nanos: u64) -> bool {
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
    time_sync_in(site, is_error, CallSpan::NONE, f)
}

/// [`time_sync`] inside `span`, the call's `tracing` span (see `span.rs`): entered while
/// `f` runs, given `error.type` when the result is an error.
#[inline]
pub fn time_sync_in<R, F: FnOnce() -> R>(
    site: &'static TimerSite,
    is_error: fn(&R) -> bool,
    span: CallSpan,
    f: F,
) -> R {
    let state = site.state();
    state.begin();
    let guard = CallGuard::start(site, state);
    let entered = span.enter();
    let out = f();
    let error = is_error(&out);
    if error {
        span.failed();
    }
    drop(entered);
    // The span closes before the figures are recorded, as a future's does when it drops.
    drop(span);
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
    time_async_in(site, is_error, CallSpan::NONE, fut)
}

/// [`time_async`] inside `span`, the call's `tracing` span (see `span.rs`): entered on
/// every poll, as `tracing::Instrument` does, and given `error.type` when the output is an
/// error. A span no subscriber wants costs the future one null pointer.
#[inline]
pub fn time_async_in<F: Future>(
    site: &'static TimerSite,
    is_error: fn(&F::Output) -> bool,
    span: CallSpan,
    fut: F,
) -> Timed<F> {
    Timed {
        fut,
        site,
        state: site.state(),
        is_error,
        span,
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
        // The call's span, when a subscriber wants it.
        span: CallSpan,
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
            parent: nest::enter(this.state),
            start,
            armed: true,
        };
        let entered = this.span.enter();
        let poll = this.fut.poll(cx);
        drop(entered);
        match poll {
            Poll::Ready(out) => {
                let error = (this.is_error)(&out);
                if error {
                    this.span.failed();
                }
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
/// or, if the timed code unwinds first, as an error when the guard is dropped. While it
/// lives its timer is the thread's current one (see `nest.rs`).
struct CallGuard {
    site: &'static TimerSite,
    state: &'static TimerState,
    /// The timer that was current when this one was entered, put back on drop.
    parent: Option<&'static TimerState>,
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
            parent: nest::enter(state),
            start: now_raw(),
            armed: true,
        }
    }

    #[inline]
    fn finish(mut self, error: bool) {
        self.armed = false;
        self.record(error);
    }

    #[inline]
    fn record(&self, error: bool) {
        let nanos = nanos_since(self.start);
        let slow = self.site.is_slow(nanos);
        self.state.complete(nanos, error, slow);
        if let Some(parent) = self.parent {
            parent.children.add(self.state.id(), nanos);
        }
        if slow {
            log_slow(self.site, nanos);
        }
    }

    #[inline]
    fn disarm(mut self) {
        self.armed = false;
    }
}

impl Drop for CallGuard {
    #[inline]
    fn drop(&mut self) {
        nest::leave(self.parent);
        if self.armed {
            // Only reached while unwinding out of the timed code.
            self.record(true);
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
