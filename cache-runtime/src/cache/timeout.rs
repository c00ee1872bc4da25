//! `hard_timeout = "2s"`: how long a call waits for the body of an async cached function.
//!
//! When the body has not finished by then, the call stops waiting (the body's future is
//! dropped) and answers with the fail-safe copy when `stale_if_error` keeps one, or else
//! with the function's own error built from [`Timeout`]: the option is accepted only on a
//! function returning `Result<T, E>` with `E: From<Timeout>`, a compile error otherwise.
//! Timeouts are counted (`hard_timeouts`).

use std::future::Future;
use std::pin::pin;
use std::task::Poll;
use std::time::Duration;

/// The error a call of an async cached function gets when its body ran past
/// `hard_timeout` and no fail-safe copy was at hand: the function's error type implements
/// `From<Timeout>`.
///
/// ```
/// use cache_runtime::Timeout;
///
/// #[derive(Debug)]
/// enum ApiError { Slow, Db(String) }
/// impl From<Timeout> for ApiError {
///     fn from(_: Timeout) -> Self { ApiError::Slow }
/// }
/// assert!(matches!(ApiError::from(Timeout), ApiError::Slow));
/// assert_eq!(Timeout.to_string(), "the computation took longer than its hard_timeout");
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Timeout;

impl std::fmt::Display for Timeout {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("the computation took longer than its hard_timeout")
    }
}

impl std::error::Error for Timeout {}

/// Return types that can answer a hard timeout: `Result<T, E>` with `E: From<Timeout>`.
#[diagnostic::on_unimplemented(
    message = "`hard_timeout` needs a function returning `Result<T, E>` with `E: From<cache_runtime::Timeout>`; `{Self}` is not one",
    label = "this option needs an error to answer a timeout with",
    note = "implement `From<cache_runtime::Timeout>` for the error type, or remove `hard_timeout`"
)]
pub trait TimedOut {
    /// The answer to a timeout.
    fn timed_out() -> Self;
}

#[diagnostic::do_not_recommend]
impl<T, E: From<Timeout>> TimedOut for Result<T, E> {
    fn timed_out() -> Self {
        Err(E::from(Timeout))
    }
}

/// The answer of return type `R` to a hard timeout (what generated code passes).
#[inline]
pub fn timed_out<R: TimedOut>() -> R {
    R::timed_out()
}

/// Runs `fut` for at most `limit`; `None` when the limit came first (`fut` is dropped).
/// The timer is runtime-agnostic (`futures-timer`), so any executor works.
pub(super) async fn within<F: Future>(limit: Duration, fut: F) -> Option<F::Output> {
    let mut fut = pin!(fut);
    let mut delay = futures_timer::Delay::new(limit);
    std::future::poll_fn(|cx| {
        if let Poll::Ready(v) = fut.as_mut().poll(cx) {
            return Poll::Ready(Some(v));
        }
        if std::pin::Pin::new(&mut delay).poll(cx).is_ready() {
            return Poll::Ready(None);
        }
        Poll::Pending
    })
    .await
}
