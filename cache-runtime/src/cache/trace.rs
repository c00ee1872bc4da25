//! Cached calls in `tracing` spans: each call of a `#[cache_result]` function runs in a
//! span of its own, `cache` (fields `cache.name`, `cache.outcome`, `cache.tier`), and a
//! computation (a miss) runs in a child span, `cache.compute`, so that the queries it
//! makes nest under it.
//!
//! Why a span of its own rather than the current one: `tracing` can only record fields a
//! span declared when it was opened, and the current span is usually the caller's (an
//! HTTP handler's, a `#[performance_timer]`'s) which knows nothing of caches; a call that
//! looks up two caches would also have only one `cache.outcome` to give. Its own span
//! says what each lookup did, and is where the computation's span hangs.
//!
//! The outcome is recorded where the scope records it (`scope.rs`), on the span current
//! there: the call's `cache` span, which generated code enters around the lookup and the
//! runtime around the computation (`Ticket::run_async_in`). Nothing is recorded when no
//! subscriber wants these spans: the check is `tracing::dispatcher::has_been_set()` (one
//! relaxed load, false until a subscriber was ever set), then the callsite's cached
//! interest.
//!
//! Both spans have this module as their target (`cache_runtime::cache::trace`), so a
//! filter such as `cache_runtime=info` turns them on.

use tracing::Span;
use tracing::field::Empty;

/// The span of one cached call of the cache `name`; `Span::none()` (not merely a
/// disabled span) when no subscriber wants it.
///
/// # Example
///
/// ```rust
/// let span = cache_runtime::__private::cache_span("users");
/// assert!(span.is_none(), "no subscriber here");
/// ```
#[inline]
#[must_use]
pub fn cache_span(name: &'static str) -> Span {
    // No subscriber was ever set (one relaxed load): none of `span!` runs. With `tracing`'s
    // `log` feature its disabled branch would still build the field set for `log`.
    if !tracing::dispatcher::has_been_set() {
        return Span::none();
    }
    let span = tracing::info_span!(
        "cache",
        cache.name = name,
        cache.outcome = Empty,
        cache.tier = Empty
    );
    // A disabled span still carries its metadata, and with `tracing`'s `log` feature each
    // enter, exit and drop of it asks `log` whether to write a line: `none()` does not.
    if span.is_disabled() {
        Span::none()
    } else {
        span
    }
}

/// The span a computation runs in, a child of the call's span (current when it opens).
#[inline]
pub(super) fn compute_span() -> Span {
    tracing::info_span!("cache.compute")
}

/// A call of the current cache span ended as `outcome` (`cache.outcome`: hit, miss,
/// coalesced, stale, refresh, bypass), answered from `tier` (`cache.tier`: local, disk,
/// remote). Takes the names, not `scope.rs`'s types, so that this module depends on
/// nothing of the cache's.
#[inline]
pub(super) fn outcome(outcome: &'static str, tier: Option<&'static str>) {
    if tracing::dispatcher::has_been_set() && tracing::span_enabled!(tracing::Level::INFO) {
        record(outcome, tier);
    }
}

#[cold]
fn record(outcome: &'static str, tier: Option<&'static str>) {
    let span = Span::current();
    span.record("cache.outcome", outcome);
    if let Some(tier) = tier {
        span.record("cache.tier", tier);
    }
}

/// `f`, whose future runs in a `cache.compute` span when `traced` (the call has a span).
pub(super) fn computing<F, Fut>(
    traced: bool,
    f: F,
) -> impl FnOnce() -> tracing::instrument::Instrumented<Fut>
where
    F: FnOnce() -> Fut,
    Fut: Future,
{
    move || {
        let span = if traced { compute_span() } else { Span::none() };
        tracing::Instrument::instrument(f(), span)
    }
}
