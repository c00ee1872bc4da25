//! The bulkhead of one cache (`max_concurrent = N`): at most N computations of the cache
//! run at once, whatever their keys, so a flood of distinct keys (cache busting) cannot
//! take every database connection or core. Single-flight still applies per key before
//! it: N waiting callers of one key hold one permit between them.
//!
//! A computation beyond the limit waits for a permit. If the function's error type can
//! be built from [`Overloaded`] (`impl From<Overloaded> for MyError`) it waits at most the
//! runtime's `max_wait` and then returns that error; otherwise it waits as long as it
//! takes. Waits and rejections are counted (`queued`, `overloaded`).

use std::future::Future;
use std::marker::PhantomData;
use std::pin::Pin;
use std::sync::atomic::{AtomicU32, Ordering};
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use event_listener::{Event, EventListener, Listener};

/// The error a computation gets when its cache's bulkhead stayed full for longer than the
/// runtime's `max_wait`. A function whose error type implements `From<Overloaded>` receives
/// it converted; any other function waits for its turn instead.
///
/// ```
/// use cache_runtime::Overloaded;
///
/// #[derive(Debug)]
/// enum ApiError { Busy, Db(String) }
/// impl From<Overloaded> for ApiError {
///     fn from(_: Overloaded) -> Self { ApiError::Busy }
/// }
/// assert!(matches!(ApiError::from(Overloaded), ApiError::Busy));
/// assert_eq!(Overloaded.to_string(), "too many computations of this cache are running: try again later");
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Overloaded;

impl std::fmt::Display for Overloaded {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("too many computations of this cache are running: try again later")
    }
}

impl std::error::Error for Overloaded {}

/// Picks, by autoref specialization on the return type, what a computation returns when
/// its cache is overloaded: `Some` for `Result<T, E>` with `E: From<Overloaded>`, `None`
/// (wait instead) for anything else. Used by generated code.
pub struct OverloadKind<R>(PhantomData<fn() -> R>);

impl<R> Clone for OverloadKind<R> {
    fn clone(&self) -> Self {
        *self
    }
}

impl<R> Copy for OverloadKind<R> {}

impl<R> OverloadKind<R> {
    /// The selector for return type `R`.
    #[allow(clippy::new_without_default)]
    pub const fn new() -> Self {
        Self(PhantomData)
    }
}

/// The autoref-specialization traits for [`OverloadKind`].
// By-value `self` is what makes the autoref dispatch pick the most specific impl.
#[allow(clippy::wrong_self_convention)]
pub mod overload {
    use super::{OverloadKind, Overloaded};

    /// `Result<T, E>` whose `E` converts from [`Overloaded`]: fail with it.
    pub trait Converts<R>: Sized {
        /// The answer to an overload.
        fn on_overload(self) -> Option<fn() -> R>;
    }
    /// Anything else: wait for a permit as long as it takes.
    pub trait Waits<R>: Sized {
        /// The answer to an overload: none.
        fn on_overload(self) -> Option<fn() -> R> {
            None
        }
    }
    impl<T, E: From<Overloaded>> Converts<Result<T, E>> for &OverloadKind<Result<T, E>> {
        fn on_overload(self) -> Option<fn() -> Result<T, E>> {
            Some(|| Err(E::from(Overloaded)))
        }
    }
    impl<R> Waits<R> for OverloadKind<R> {}
}

/// The limit and the running count of one cache's computations.
pub(crate) struct Bulkhead {
    /// 0: no limit.
    limit: AtomicU32,
    running: AtomicU32,
    freed: Event,
}

/// The right to compute; dropping it lets the next waiter in.
pub(crate) struct Permit<'a>(Option<&'a Bulkhead>);

impl Drop for Permit<'_> {
    fn drop(&mut self) {
        if let Some(b) = self.0 {
            b.running.fetch_sub(1, Ordering::AcqRel);
            b.freed.notify(1);
        }
    }
}

/// How a wait for a permit ended.
pub(crate) enum Entered<'a> {
    /// At once.
    Free(Permit<'a>),
    /// After waiting for another computation to end.
    Queued(Permit<'a>),
    /// The patience ran out first.
    Overloaded,
}

impl Bulkhead {
    pub(crate) fn new() -> Self {
        Self {
            limit: AtomicU32::new(0),
            running: AtomicU32::new(0),
            freed: Event::new(),
        }
    }

    /// Sets the limit (0: none).
    pub(crate) fn set_limit(&self, limit: u32) {
        self.limit.store(limit, Ordering::Release);
        self.freed.notify(usize::MAX);
    }

    fn try_enter(&self) -> Option<Permit<'_>> {
        let limit = self.limit.load(Ordering::Acquire);
        if limit == 0 {
            return Some(Permit(None));
        }
        let mut running = self.running.load(Ordering::Acquire);
        loop {
            if running >= limit {
                return None;
            }
            match self.running.compare_exchange_weak(
                running,
                running + 1,
                Ordering::AcqRel,
                Ordering::Acquire,
            ) {
                Ok(_) => return Some(Permit(Some(self))),
                Err(now) => running = now,
            }
        }
    }

    /// Waits for a permit, for at most `patience` (none: as long as it takes).
    pub(crate) async fn enter(&self, patience: Option<Duration>) -> Entered<'_> {
        if let Some(p) = self.try_enter() {
            return Entered::Free(p);
        }
        let mut timer = patience.map(futures_timer::Delay::new);
        loop {
            let listener = self.freed.listen();
            if let Some(p) = self.try_enter() {
                return Entered::Queued(p);
            }
            match &mut timer {
                None => listener.await,
                Some(delay) => {
                    if (Race { listener, delay }).await {
                        if let Some(p) = self.try_enter() {
                            return Entered::Queued(p);
                        }
                        return Entered::Overloaded;
                    }
                }
            }
        }
    }

    /// [`enter`](Self::enter), blocking the thread.
    pub(crate) fn enter_blocking(&self, patience: Option<Duration>) -> Entered<'_> {
        if let Some(p) = self.try_enter() {
            return Entered::Free(p);
        }
        let deadline = patience.map(|p| Instant::now() + p);
        loop {
            let listener = self.freed.listen();
            if let Some(p) = self.try_enter() {
                return Entered::Queued(p);
            }
            match deadline {
                None => listener.wait(),
                Some(d) => {
                    if listener.wait_deadline(d).is_none() {
                        if let Some(p) = self.try_enter() {
                            return Entered::Queued(p);
                        }
                        return Entered::Overloaded;
                    }
                }
            }
        }
    }
}

pin_project_lite::pin_project! {
    /// A wake-up or the end of the patience, whichever comes first: `true` for the latter.
    struct Race<'a> {
        #[pin]
        listener: EventListener,
        delay: &'a mut futures_timer::Delay,
    }
}

impl Future for Race<'_> {
    type Output = bool;
    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<bool> {
        let this = self.project();
        if this.listener.poll(cx).is_ready() {
            return Poll::Ready(false);
        }
        match Pin::new(&mut **this.delay).poll(cx) {
            Poll::Ready(()) => Poll::Ready(true),
            Poll::Pending => Poll::Pending,
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;
    use std::time::{Duration, Instant};

    use super::{Bulkhead, Entered};

    #[test]
    fn no_more_than_the_limit_run_and_a_freed_permit_admits_the_next() {
        let b = Arc::new(Bulkhead::new());
        b.set_limit(2);
        let one = b.enter_blocking(None);
        let two = b.enter_blocking(None);
        assert!(matches!(one, Entered::Free(_)) && matches!(two, Entered::Free(_)));
        let began = Instant::now();
        assert!(matches!(
            b.enter_blocking(Some(Duration::from_millis(50))),
            Entered::Overloaded
        ));
        assert!(began.elapsed() >= Duration::from_millis(45));
        let waiter = {
            let b = Arc::clone(&b);
            std::thread::spawn(move || matches!(b.enter_blocking(None), Entered::Queued(_)))
        };
        std::thread::sleep(Duration::from_millis(30));
        drop(one);
        assert!(
            waiter.join().expect("waiter"),
            "a freed permit let the waiter in"
        );
        drop(two);
        b.set_limit(0);
        assert!(matches!(b.enter_blocking(None), Entered::Free(_)));
    }
}
