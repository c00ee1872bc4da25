//! The `tracing` span of a timed call. `#[performance_timer]` opens it at the call site
//! (a static callsite per function, so a subscriber's interest is cached there and a
//! span nobody wants is `Span::none()` after one relaxed load) and hands it to
//! [`time_sync_in`](super::time_sync_in) or [`time_async_in`](super::time_async_in), which
//! enter it while the body runs (on every poll of a future, as `tracing::Instrument`
//! does) and record `error.type` when the result is an error.
//!
//! Its name is the timer's name; its fields follow OpenTelemetry's conventions:
//! `code.function` (the function), `code.namespace` (its module) and `error.type` (on an
//! `Err`: the error's type name).

use tracing::Span;
use tracing::span::Entered;

/// The span of one timed call and how to name its error, built by generated code.
///
/// # Example
///
/// ```rust
/// use cache_runtime::__private::{CallSpan, TimerSite, time_sync_in};
///
/// static SITE: TimerSite = TimerSite::new("doc.span", 0);
///
/// let span = tracing::info_span!("doc.span", error.type = tracing::field::Empty);
/// let out = time_sync_in(&SITE, |r: &Result<u8, ()>| r.is_err(), CallSpan::new(span, || "()"), || Err(()));
/// assert_eq!(out, Err(()));
/// ```
#[derive(Debug)]
pub struct CallSpan {
    span: Span,
    /// The name recorded as `error.type` when the call fails.
    error_type: fn() -> &'static str,
}

impl CallSpan {
    /// No span: what `span = false` and the plain wrappers use.
    pub const NONE: Self = Self {
        span: Span::none(),
        error_type: other,
    };

    /// The call's span; `error_type` names its error (see `__private::err_kind`).
    ///
    /// A span no subscriber wants is replaced by `Span::none()`: `span!` gives a disabled
    /// span that still carries its metadata, and with `tracing`'s `log` feature every
    /// enter, exit and drop of such a span asks the `log` crate whether to write a line.
    #[inline]
    #[must_use]
    pub fn new(span: Span, error_type: fn() -> &'static str) -> Self {
        let span = if span.is_disabled() {
            Span::none()
        } else {
            span
        };
        Self { span, error_type }
    }

    /// Enters the span (nothing when no subscriber wants it).
    #[inline]
    pub(crate) fn enter(&self) -> Option<Entered<'_>> {
        (!self.span.is_none()).then(|| self.span.enter())
    }

    /// The call failed: records `error.type`.
    #[inline]
    pub(crate) fn failed(&self) {
        if !self.span.is_none() {
            self.span.record("error.type", (self.error_type)());
        }
    }

    /// What a timed future keeps: nothing but a null pointer when no subscriber wants the
    /// span, so that the future stays as small as without spans.
    #[inline]
    pub(crate) fn into_trace(self) -> Trace {
        Trace((!self.span.is_none()).then(|| Box::new(self)))
    }
}

/// OpenTelemetry's fallback for an error without a better name.
fn other() -> &'static str {
    "_OTHER"
}

/// The span a [`Timed`](super::Timed) future keeps, boxed when there is one.
#[derive(Debug)]
pub(crate) struct Trace(Option<Box<CallSpan>>);

impl Trace {
    #[inline]
    pub(crate) fn enter(&self) -> Option<Entered<'_>> {
        self.0.as_ref().and_then(|s| s.enter())
    }

    #[inline]
    pub(crate) fn failed(&self) {
        if let Some(s) = &self.0 {
            s.failed();
        }
    }
}
