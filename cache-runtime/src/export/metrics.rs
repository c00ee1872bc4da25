//! The [`metrics`](https://docs.rs/metrics) facade (feature `metrics`): handles that follow
//! the recorder in effect, so a recorder installed after the first call still receives
//! everything after it, and [`Series`], one figure pushed to the facade as it changes.
//!
//! The facade hands out handles bound to the recorder that registered them. Registering on
//! every update would cost a registry lookup in the recorder each time, so handles are
//! kept with the identity (the address) of their recorder, in a few write-once slots, and
//! registered again when the recorder in effect (a thread's local recorder, else the
//! global one, else the no-op) is one they were not registered with. A process sees few
//! recorders: the no-op until one is installed, then the global one, which is set once;
//! so checking costs a thread-local read, two or three plain loads and comparisons, and no
//! atomic write.

use std::sync::OnceLock;

use crate::export::prometheus::Family;
use metrics::{Key, KeyName, Label, Level, Metadata, Recorder, SharedString, Unit};

/// What registrations say about where they come from.
static METADATA: Metadata<'static> =
    Metadata::new(module_path!(), Level::INFO, Some(module_path!()));

/// Recorders a figure keeps handles for; beyond them (many short-lived local recorders,
/// as tests make), handles are registered for each use, which is slower but still right.
const SLOTS: usize = 4;

/// Handles `H`, registered with each recorder in effect when they were needed.
pub(crate) struct Bound<H> {
    slots: [OnceLock<Binding<H>>; SLOTS],
}

struct Binding<H> {
    /// The address of the recorder the handles were registered with.
    recorder: usize,
    handles: H,
}

impl<H> Bound<H> {
    /// No handles yet: the first use registers them.
    pub(crate) const fn new() -> Self {
        Self {
            slots: [const { OnceLock::new() }; SLOTS],
        }
    }

    /// Calls `f` with handles registered with the recorder in effect, registering them by
    /// `register` first if the recorder is not one they were registered with; `f`'s second
    /// argument says whether they were just registered.
    ///
    /// A local recorder dropped and another made at the same address would be taken for
    /// the same; the global recorder, the one that matters, is set once and never dropped.
    #[inline]
    pub(crate) fn with(&self, register: impl FnOnce(&dyn Recorder) -> H, f: impl FnOnce(&H, bool)) {
        metrics::with_recorder(|recorder| {
            let id = identity(recorder);
            for slot in &self.slots {
                match slot.get() {
                    Some(binding) if binding.recorder == id => return f(&binding.handles, false),
                    Some(_) => {}
                    None => break,
                }
            }
            self.bind(recorder, id, register, f);
        });
    }

    /// Registers handles with `recorder` and keeps them in the first free slot.
    #[cold]
    #[inline(never)]
    fn bind(
        &self,
        recorder: &dyn Recorder,
        id: usize,
        register: impl FnOnce(&dyn Recorder) -> H,
        f: impl FnOnce(&H, bool),
    ) {
        let mut handles = register(recorder);
        for slot in &self.slots {
            if slot.get().is_some() {
                continue;
            }
            match slot.set(Binding {
                recorder: id,
                handles,
            }) {
                Ok(()) => {
                    if let Some(binding) = slot.get() {
                        f(&binding.handles, true);
                    }
                    return;
                }
                // Another thread took this slot meanwhile: try the next one.
                Err(back) => handles = back.handles,
            }
        }
        // Every slot holds another recorder's handles: these serve this use only.
        f(&handles, true);
    }
}

fn identity(recorder: &dyn Recorder) -> usize {
    std::ptr::from_ref(recorder).cast::<()>() as usize
}

/// A facade metric's name and description.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Described {
    pub(crate) name: &'static str,
    pub(crate) help: &'static str,
}

impl Described {
    /// The facade metric of the same name and help as a Prometheus text family.
    pub(crate) const fn of(family: Family) -> Self {
        Self {
            name: family.name,
            help: family.help,
        }
    }
}

/// Registers the counter `key` (named `metric.name`) with `recorder`, describing it first.
pub(crate) fn counter(recorder: &dyn Recorder, metric: Described, key: &Key) -> metrics::Counter {
    recorder.describe_counter(name_of(metric), None, help_of(metric));
    recorder.register_counter(key, &METADATA)
}

/// Registers the gauge `key` (named `metric.name`) with `recorder`, describing it first.
pub(crate) fn gauge(recorder: &dyn Recorder, metric: Described, key: &Key) -> metrics::Gauge {
    recorder.describe_gauge(name_of(metric), None, help_of(metric));
    recorder.register_gauge(key, &METADATA)
}

/// Registers the histogram `key` (named `metric.name`, of seconds) with `recorder`,
/// describing it first.
pub(crate) fn seconds(recorder: &dyn Recorder, metric: Described, key: &Key) -> metrics::Histogram {
    recorder.describe_histogram(name_of(metric), Some(Unit::Seconds), help_of(metric));
    recorder.register_histogram(key, &METADATA)
}

fn name_of(metric: Described) -> KeyName {
    KeyName::from_const_str(metric.name)
}

fn help_of(metric: Described) -> SharedString {
    SharedString::const_str(metric.help)
}

/// The key `name{label="value",...}`.
pub(crate) fn key(name: &'static str, labels: &[(&'static str, &str)]) -> Key {
    let labels: Vec<Label> = labels
        .iter()
        .map(|&(k, v)| Label::new(k, v.to_owned()))
        .collect();
    Key::from_parts(name, labels)
}

/// How a [`Series`] reaches the facade.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Shape {
    /// A counter: each addition is an increment.
    Counter,
    /// A gauge: additions and subtractions move it; a newly bound recorder is first set to
    /// the figure's current value.
    Gauge,
    /// A histogram of seconds: each addition is one observation, given in nanoseconds.
    Seconds,
}

enum Handle {
    Counter(metrics::Counter),
    Gauge(metrics::Gauge),
    Histogram(metrics::Histogram),
}

/// One figure of one labelled owner (a cache), pushed to the facade as it changes.
pub(crate) struct Series {
    metric: Described,
    key: Key,
    shape: Shape,
    bound: Bound<Handle>,
}

impl Series {
    /// The series `metric` with `labels`.
    pub(crate) fn new(metric: Described, shape: Shape, labels: &[(&'static str, &str)]) -> Self {
        Self {
            metric,
            key: key(metric.name, labels),
            shape,
            bound: Bound::new(),
        }
    }

    /// The figure grew by `n`; `now` reads its value after the change.
    #[inline]
    pub(crate) fn add(&self, n: u64, now: impl FnOnce() -> u64) {
        self.bound.with(
            |r| self.register(r),
            |handle, fresh| match handle {
                Handle::Counter(c) => c.increment(n),
                Handle::Gauge(g) if fresh => g.set(now() as f64),
                Handle::Gauge(g) => g.increment(n as f64),
                Handle::Histogram(h) => h.record(n as f64 / 1e9),
            },
        );
    }

    /// The figure (a gauge) shrank by `n`; `now` reads its value after the change.
    #[inline]
    pub(crate) fn sub(&self, n: u64, now: impl FnOnce() -> u64) {
        self.bound.with(
            |r| self.register(r),
            |handle, fresh| match handle {
                Handle::Gauge(g) if fresh => g.set(now() as f64),
                Handle::Gauge(g) => g.decrement(n as f64),
                // Counters and histograms only grow.
                Handle::Counter(_) | Handle::Histogram(_) => {}
            },
        );
    }

    fn register(&self, recorder: &dyn Recorder) -> Handle {
        match self.shape {
            Shape::Counter => Handle::Counter(counter(recorder, self.metric, &self.key)),
            Shape::Gauge => Handle::Gauge(gauge(recorder, self.metric, &self.key)),
            Shape::Seconds => Handle::Histogram(seconds(recorder, self.metric, &self.key)),
        }
    }
}
