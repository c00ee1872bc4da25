//! The `tracing` span of a timed call. `#[performance_timer]` opens it at the call site
//! (a static callsite per function, so a subscriber's interest is cached there and a
//! call whose span nobody wants has none: a null [`CallSpan`]) and hands it to
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
pub struct CallSpan(
    /// `None` when no subscriber wants the span: one null pointer, so that a call without
    /// a span neither builds nor tests a `Span` (a constant of several words that the
    /// caller stores and the callee reads back at other widths, which stalled the store
    /// forwarding of every call; see benches/NOTES.md, "The timer").
    Option<Box<Wanted>>,
);

/// A span some subscriber wants, and how to name the call's error.
#[derive(Debug)]
struct Wanted {
    span: Span,
    /// The name recorded as `error.type` when the call fails.
    error_type: fn() -> &'static str,
}

impl CallSpan {
    /// No span: what `span = false` and the plain wrappers use.
    pub const NONE: Self = Self(None);

    /// The call's span; `error_type` names its error (see `__private::err_kind`).
    ///
    /// A span no subscriber wants is dropped here and the call has none: `span!` gives a
    /// disabled span that still carries its metadata, and with `tracing`'s `log` feature
    /// every enter, exit and drop of such a span asks the `log` crate whether to write a
    /// line.
    #[inline]
    #[must_use]
    pub fn new(span: Span, error_type: fn() -> &'static str) -> Self {
        if span.is_disabled() {
            Self::NONE
        } else {
            Self(Some(Box::new(Wanted { span, error_type })))
        }
    }

    /// Enters the span (nothing when no subscriber wants it).
    #[inline]
    pub(crate) fn enter(&self) -> Option<Entered<'_>> {
        self.0.as_ref().map(|w| w.span.enter())
    }

    /// The call failed: records `error.type`.
    #[inline]
    pub(crate) fn failed(&self) {
        if let Some(w) = &self.0 {
            w.span.record("error.type", (w.error_type)());
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;
    use std::task::{Context, Poll, Waker};

    use parking_lot::Mutex;
    use tracing::span::{Attributes, Id, Record};
    use tracing::{Metadata, Subscriber};

    use super::*;
    use crate::timer::{TimerSite, time_async_in, time_sync_in};

    /// What a subscriber saw of spans: their names, enters, exits and recorded fields.
    #[derive(Clone, Default)]
    struct Seen {
        log: Arc<Mutex<Vec<String>>>,
        wanted: bool,
    }

    struct Fields<'a>(&'a mut Vec<String>);

    impl tracing::field::Visit for Fields<'_> {
        fn record_debug(&mut self, field: &tracing::field::Field, value: &dyn std::fmt::Debug) {
            self.0.push(format!("{}={value:?}", field.name()));
        }
    }

    impl Subscriber for Seen {
        fn enabled(&self, _: &Metadata<'_>) -> bool {
            self.wanted
        }
        fn new_span(&self, span: &Attributes<'_>) -> Id {
            self.log
                .lock()
                .push(format!("new {}", span.metadata().name()));
            Id::from_u64(1)
        }
        fn record(&self, _: &Id, values: &Record<'_>) {
            values.record(&mut Fields(&mut self.log.lock()));
        }
        fn record_follows_from(&self, _: &Id, _: &Id) {}
        fn event(&self, _: &tracing::Event<'_>) {}
        fn enter(&self, _: &Id) {
            self.log.lock().push("enter".into());
        }
        fn exit(&self, _: &Id) {
            self.log.lock().push("exit".into());
        }
    }

    /// The span `#[performance_timer("test.span")]` opens.
    fn call_span() -> CallSpan {
        CallSpan::new(
            tracing::info_span!("test.span", error.type = tracing::field::Empty),
            || "Boom",
        )
    }

    #[test]
    fn a_wanted_span_is_entered_around_the_body_and_names_the_error() {
        static SITE: TimerSite = TimerSite::new("test.span", 0);
        let seen = Seen {
            wanted: true,
            ..Seen::default()
        };
        tracing::subscriber::with_default(seen.clone(), || {
            let out = time_sync_in(&SITE, Result::is_err, call_span(), || Err::<(), ()>(()));
            assert_eq!(out, Err(()));
        });
        assert_eq!(
            *seen.log.lock(),
            ["new test.span", "enter", "error.type=\"Boom\"", "exit"]
        );

        // A future is in its span on every poll, as `Instrument` does.
        let seen = Seen {
            wanted: true,
            ..Seen::default()
        };
        tracing::subscriber::with_default(seen.clone(), || {
            let mut yielded = false;
            let body = std::future::poll_fn(|cx| {
                if yielded {
                    Poll::Ready(Ok::<u8, ()>(1))
                } else {
                    yielded = true;
                    cx.waker().wake_by_ref();
                    Poll::Pending
                }
            });
            let mut fut = std::pin::pin!(time_async_in(&SITE, Result::is_err, call_span(), body));
            let mut cx = Context::from_waker(Waker::noop());
            assert!(fut.as_mut().poll(&mut cx).is_pending());
            assert_eq!(fut.as_mut().poll(&mut cx), Poll::Ready(Ok(1)));
        });
        assert_eq!(
            *seen.log.lock(),
            ["new test.span", "enter", "exit", "enter", "exit"]
        );
    }

    #[test]
    fn a_span_nobody_wants_is_no_span() {
        let seen = Seen::default();
        tracing::subscriber::with_default(seen.clone(), || {
            assert!(call_span().0.is_none());
        });
        assert!(seen.log.lock().is_empty());
        assert!(CallSpan::NONE.0.is_none());
    }
}
