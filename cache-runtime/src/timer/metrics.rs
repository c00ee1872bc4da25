//! A timer's figures through the `metrics` facade (feature `metrics`): per completed call
//! `function_duration_seconds` (histogram) and `function_calls_total`, plus
//! `function_errors_total` and `function_cancelled_total`, each labelled
//! `function="<name>"`. The handles follow the recorder in effect (see
//! [`Bound`](crate::export::metrics::Bound)). The facade leaves buckets to the exporter:
//! [`TIMER_BUCKETS_SECONDS`](crate::TIMER_BUCKETS_SECONDS) gives it the bounds the
//! Prometheus text uses, so both paths aggregate alike.

use metrics::Key;

use crate::export::metrics::{Bound, Described, counter, key, seconds};
use crate::timer::snapshot;

const DURATION: Described = Described::of(snapshot::DURATION);
const CALLS: Described = Described {
    name: "function_calls_total",
    help: "Completed calls of timed functions.",
};
const ERRORS: Described = Described::of(snapshot::ERRORS);
const CANCELLED: Described = Described::of(snapshot::CANCELLED);

/// The facade side of one timer.
pub(crate) struct TimerFacade {
    /// The keys, built once: `[duration, calls, errors, cancelled]`.
    keys: [Key; 4],
    bound: Bound<Handles>,
}

struct Handles {
    duration: metrics::Histogram,
    calls: metrics::Counter,
    errors: metrics::Counter,
    cancelled: metrics::Counter,
}

impl TimerFacade {
    pub(crate) fn new(name: &str) -> Self {
        let labels = [("function", name)];
        Self {
            keys: [DURATION, CALLS, ERRORS, CANCELLED].map(|m| key(m.name, &labels)),
            bound: Bound::new(),
        }
    }

    fn register(&self, recorder: &dyn metrics::Recorder) -> Handles {
        let [duration, calls, errors, cancelled] = &self.keys;
        Handles {
            duration: seconds(recorder, DURATION, duration),
            calls: counter(recorder, CALLS, calls),
            errors: counter(recorder, ERRORS, errors),
            cancelled: counter(recorder, CANCELLED, cancelled),
        }
    }

    /// A call completed after `nanos` nanoseconds.
    #[inline]
    pub(crate) fn completed(&self, nanos: u64, error: bool) {
        self.bound.with(
            |r| self.register(r),
            |h, _| {
                h.duration.record(nanos as f64 / 1e9);
                h.calls.increment(1);
                if error {
                    h.errors.increment(1);
                }
            },
        );
    }

    /// A started call was dropped before completing.
    pub(crate) fn cancelled(&self) {
        self.bound
            .with(|r| self.register(r), |h, _| h.cancelled.increment(1));
    }
}
