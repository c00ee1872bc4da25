//! Computation budgets: limit the work a caller causes, not the answers it gets.
//!
//! A service that rate-limits requests refuses cache hits and `304`s along with the
//! requests that really cost something. A budget is charged only where a cached call is
//! about to compute: after the local and remote tiers missed and after single-flight, so
//! a hit, a call that joins a computation already running, a fail-safe answer or a
//! background refresh costs nothing. [`with_budget`] sets the budget for every cached call
//! inside a future (carried like a tracing span: set around each poll, not inherited by
//! spawned tasks).
//!
//! When the budget is spent the call answers with the fail-safe copy when one is at hand
//! (`stale_if_error`), else with the function's own error built from [`Throttled`] (a
//! function returning `Result<T, E>` with `E: From<Throttled>`). A function whose return
//! type cannot say so computes anyway: a budget never turns into a wrong value or a panic.
//! Refusals are counted per cache (`throttled`).

use std::cell::{Cell, RefCell};
use std::future::Future;
use std::marker::PhantomData;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

/// An allowance of computations, typically one per client (a token bucket).
///
/// Implemented for closures `Fn() -> Result<(), Duration>`.
///
/// ```
/// use std::sync::atomic::{AtomicU32, Ordering};
/// use std::time::Duration;
/// use cache_runtime::Budget;
///
/// /// Three computations, then none for a minute.
/// struct Three(AtomicU32);
/// impl Budget for Three {
///     fn spend(&self) -> Result<(), Duration> {
///         match self.0.fetch_add(1, Ordering::Relaxed) {
///             0..3 => Ok(()),
///             _ => Err(Duration::from_secs(60)),
///         }
///     }
/// }
/// let b = Three(AtomicU32::new(0));
/// assert!(b.spend().is_ok() && b.spend().is_ok() && b.spend().is_ok());
/// assert_eq!(b.spend(), Err(Duration::from_secs(60)));
/// ```
pub trait Budget: Send + Sync {
    /// Spends one computation of this allowance, or says how long until one is available.
    fn spend(&self) -> Result<(), Duration>;
}

impl<F: Fn() -> Result<(), Duration> + Send + Sync> Budget for F {
    fn spend(&self) -> Result<(), Duration> {
        self()
    }
}

/// The error a cached computation gets when its caller's [`Budget`] is spent and no
/// fail-safe copy is at hand. A function whose error type implements `From<Throttled>`
/// receives it converted; any other function computes anyway.
///
/// ```
/// use std::time::Duration;
/// use cache_runtime::Throttled;
///
/// #[derive(Debug)]
/// enum ApiError { TooManyRequests { retry_after: Duration } }
/// impl From<Throttled> for ApiError {
///     fn from(t: Throttled) -> Self { ApiError::TooManyRequests { retry_after: t.retry_after() } }
/// }
/// let t = Throttled::new(Duration::from_secs(2));
/// assert!(matches!(ApiError::from(t), ApiError::TooManyRequests { retry_after } if retry_after.as_secs() == 2));
/// assert_eq!(t.to_string(), "this caller's computation budget is spent: retry in 2.000s");
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Throttled {
    retry_after: Duration,
}

impl Throttled {
    /// A refusal that says when the budget has room again.
    ///
    /// ```
    /// let t = cache_runtime::Throttled::new(std::time::Duration::from_millis(500));
    /// assert_eq!(t.retry_after().as_millis(), 500);
    /// ```
    pub const fn new(retry_after: Duration) -> Self {
        Self { retry_after }
    }

    /// How long until the budget has room for another computation.
    ///
    /// ```
    /// let t = cache_runtime::Throttled::new(std::time::Duration::ZERO);
    /// assert_eq!(t.retry_after(), std::time::Duration::ZERO);
    /// ```
    pub const fn retry_after(&self) -> Duration {
        self.retry_after
    }
}

impl std::fmt::Display for Throttled {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "this caller's computation budget is spent: retry in {:.3}s",
            self.retry_after.as_secs_f64()
        )
    }
}

impl std::error::Error for Throttled {}

thread_local! {
    /// Fast flag read on every computation: is a budget set on this thread?
    static SET: Cell<bool> = const { Cell::new(false) };
    static CURRENT: RefCell<Option<Arc<dyn Budget>>> = const { RefCell::new(None) };
}

/// Charges the budget set around the current call, if any; `Err` when it is spent.
#[inline]
pub(crate) fn spend() -> Result<(), Throttled> {
    if !SET.with(Cell::get) {
        return Ok(());
    }
    CURRENT.with(|c| match c.borrow().as_ref() {
        Some(b) => b.spend().map_err(Throttled::new),
        None => Ok(()),
    })
}

/// The budget set around the current call, if any (for work handed to another task).
pub(crate) fn current() -> Option<Arc<dyn Budget>> {
    if !SET.with(Cell::get) {
        return None;
    }
    CURRENT.with(|c| c.borrow().clone())
}

/// Makes `budget` current for the duration of `f`, restoring the outer one after.
fn enter<R>(budget: &Arc<dyn Budget>, f: impl FnOnce() -> R) -> R {
    struct Restore(Option<Arc<dyn Budget>>, bool);
    impl Drop for Restore {
        fn drop(&mut self) {
            let prev = self.0.take();
            CURRENT.with(|c| *c.borrow_mut() = prev);
            SET.with(|s| s.set(self.1));
        }
    }
    let prev = CURRENT.with(|c| c.borrow_mut().replace(Arc::clone(budget)));
    let _restore = Restore(prev, SET.with(|s| s.replace(true)));
    f()
}

/// Runs `fut` with `budget` charged for every cached computation inside it: hits, calls
/// that join a running computation and fail-safe answers are free. A spent budget answers
/// with the fail-safe copy when one is at hand, else with the function's
/// [`From<Throttled>`](Throttled) error; a function that cannot say so computes.
///
/// ```
/// # #[tokio::main(flavor = "current_thread")] async fn main() {
/// use std::sync::Arc;
/// use std::time::Duration;
/// use cache_runtime::{Budget, Throttled, cache_result, with_budget};
///
/// #[derive(Debug, PartialEq)]
/// enum Error { Busy(Duration) }
/// impl From<Throttled> for Error {
///     fn from(t: Throttled) -> Self { Error::Busy(t.retry_after()) }
/// }
///
/// #[cache_result("doc_budget_square", ttl = 60)]
/// async fn square(x: u64) -> Result<u64, Error> { Ok(x * x) }
///
/// square(3).await.unwrap(); // cached outside any budget
/// let spent: Arc<dyn Budget> = Arc::new(|| Err(Duration::from_secs(1)));
/// assert_eq!(with_budget(Arc::clone(&spent), square(3)).await, Ok(9)); // a hit: free
/// assert_eq!(with_budget(spent, square(4)).await, Err(Error::Busy(Duration::from_secs(1))));
/// # }
/// ```
pub fn with_budget<F: Future>(budget: Arc<dyn Budget>, fut: F) -> Budgeted<F> {
    Budgeted { fut, budget }
}

/// [`with_budget`] for synchronous code: runs `f` with `budget` charged for every cached
/// computation inside it.
///
/// ```
/// use std::sync::Arc;
/// use std::time::Duration;
/// use cache_runtime::{Budget, with_budget_sync};
/// let none: Arc<dyn Budget> = Arc::new(|| Err(Duration::from_secs(1)));
/// assert_eq!(with_budget_sync(&none, || 2 + 2), 4); // no cached call: nothing to charge
/// ```
pub fn with_budget_sync<R>(budget: &Arc<dyn Budget>, f: impl FnOnce() -> R) -> R {
    enter(budget, f)
}

pin_project_lite::pin_project! {
    /// The future returned by [`with_budget`]: resolves to the inner future's output.
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")] async fn main() {
    /// use std::sync::Arc;
    /// let free: Arc<dyn cache_runtime::Budget> = Arc::new(|| Ok(()));
    /// let b: cache_runtime::Budgeted<_> = cache_runtime::with_budget(free, async { 3 });
    /// assert_eq!(b.await, 3);
    /// # }
    /// ```
    pub struct Budgeted<F> {
        #[pin]
        fut: F,
        budget: Arc<dyn Budget>,
    }
}

impl<F: Future> Future for Budgeted<F> {
    type Output = F::Output;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.project();
        let fut = this.fut;
        enter(this.budget, || fut.poll(cx))
    }
}

/// Picks, by autoref specialization on the return type, what a computation returns when
/// its caller's budget is spent: `Some` for `Result<T, E>` with `E: From<Throttled>`,
/// `None` (compute anyway) for anything else. Used by generated code.
pub struct ThrottleKind<R>(PhantomData<fn() -> R>);

impl<R> Clone for ThrottleKind<R> {
    fn clone(&self) -> Self {
        *self
    }
}

impl<R> Copy for ThrottleKind<R> {}

impl<R> ThrottleKind<R> {
    /// The selector for return type `R`.
    #[allow(clippy::new_without_default)]
    pub const fn new() -> Self {
        Self(PhantomData)
    }
}

/// The autoref-specialization traits for [`ThrottleKind`].
// By-value `self` is what makes the autoref dispatch pick the most specific impl.
#[allow(clippy::wrong_self_convention)]
pub mod throttle {
    use super::{ThrottleKind, Throttled};

    /// `Result<T, E>` whose `E` converts from [`Throttled`]: fail with it.
    pub trait Refuses<R>: Sized {
        /// The answer to a spent budget.
        fn on_throttle(self) -> Option<fn(Throttled) -> R>;
    }
    /// Anything else: compute anyway.
    pub trait Computes<R>: Sized {
        /// The answer to a spent budget: none.
        fn on_throttle(self) -> Option<fn(Throttled) -> R> {
            None
        }
    }
    impl<T, E: From<Throttled>> Refuses<Result<T, E>> for &ThrottleKind<Result<T, E>> {
        fn on_throttle(self) -> Option<fn(Throttled) -> Result<T, E>> {
            Some(|t| Err(E::from(t)))
        }
    }
    impl<R> Computes<R> for ThrottleKind<R> {}
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn no_budget_spends_nothing_and_a_budget_is_restored_after_its_scope() {
        assert_eq!(spend(), Ok(()));
        let spent: Arc<dyn Budget> = Arc::new(|| Err(Duration::from_millis(5)));
        let free: Arc<dyn Budget> = Arc::new(|| Ok(()));
        with_budget_sync(&spent, || {
            assert_eq!(spend(), Err(Throttled::new(Duration::from_millis(5))));
            with_budget_sync(&free, || assert_eq!(spend(), Ok(())));
            assert!(spend().is_err(), "the outer budget is back");
        });
        assert_eq!(spend(), Ok(()));
    }

    #[test]
    // The borrow is the autoref dispatch under test.
    #[allow(clippy::needless_borrow)]
    fn the_selector_refuses_only_results_whose_error_converts() {
        #[derive(Debug)]
        struct E;
        impl From<Throttled> for E {
            fn from(_: Throttled) -> Self {
                E
            }
        }
        use throttle::*;
        assert!(
            (&ThrottleKind::<Result<u8, E>>::new())
                .on_throttle()
                .is_some()
        );
        assert!(
            (&ThrottleKind::<Result<u8, String>>::new())
                .on_throttle()
                .is_none()
        );
        assert!((&ThrottleKind::<u8>::new()).on_throttle().is_none());
    }
}
