//! The figures of one timer name, striped per thread: a latency histogram and counts per
//! stripe, merged into a [`TimerStats`] when read.

use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};

use hdrhistogram::Histogram;
use parking_lot::Mutex;

use crate::stripe::Striped;
use crate::timer::children::Children;
use crate::timer::snapshot::{TIMER_BUCKETS_SECONDS, TimerExport, TimerStats};

/// Significant figures kept by the latency histograms (hdrhistogram accepts 0..=5).
const SIGFIG: u8 = 2;
const _: () = assert!(SIGFIG <= 5);

/// Longest latency the histograms track; longer calls are clamped to it there.
const MAX_TRACKED_NANOS: u64 = 3_600 * 1_000_000_000;

pub(crate) const NANOS_PER_MS: f64 = 1e6;

/// All figures of one timer name, one [`Shard`] per stripe.
pub(crate) struct TimerState {
    name: Box<str>,
    /// A number no other timer of the process has, for the tables of timed children.
    id: u32,
    /// The timed calls made inside this timer's calls (see `nest.rs`).
    pub(crate) children: Children,
    /// Smallest slow threshold of the sites using this name, in nanoseconds; `u64::MAX`: none.
    slow_nanos: AtomicU64,
    shards: Striped<Shard>,
    #[cfg(feature = "metrics")]
    facade: crate::timer::metrics::TimerFacade,
}

/// The figures one stripe's threads record.
struct Shard {
    /// Calls started on this stripe; never reset. Beside the lock that the call's end
    /// takes, on the same cache line: an uncontended add to a line the thread holds costs
    /// less here than the per-thread cell (`per_thread::Counter`) it replaced, whose
    /// lookup is four dependent loads (see benches/NOTES.md, "The timer").
    started: AtomicU64,
    data: Mutex<Recorded>,
}

/// A shard's figures, the latencies counted by bucket and not yet moved into its histogram,
/// and the one completed call not yet added to either.
///
/// A call's latency comes from the clock read just before its record, and that read
/// finishes late (`rdtsc` under this VM's hypervisor). Adding the latency to the
/// histogram at once (the bucket's index, its load and store) makes a chain of work
/// after the read that the call cannot retire until the read is done; parked here, the
/// call stores one value, and the next call on the stripe adds it, long after its clock
/// read finished (see benches/NOTES.md, "The timer"). Readers take the same lock and
/// count the parked call, so every figure is as exact as if it had been added at once.
struct Recorded {
    figures: Cumulative,
    /// Latencies not yet in `figures.hist`, counted by the histogram's own bucket index
    /// ([`bucket`]): an inline shift and add, where `Histogram::record` is an out-of-line
    /// call that also keeps its own count, minimum and maximum. Moved into the histogram
    /// when read.
    counts: Vec<u64>,
    parked: Option<Parked>,
}

/// A completed call's record, parked (see [`Recorded`]).
#[derive(Clone, Copy)]
struct Parked {
    nanos: u64,
    error: bool,
    slow: bool,
}

/// `Histogram::new(SIGFIG)`'s counts index of `nanos` (at most one hour): 256
/// sub-buckets, unit 1 ns, so 128 indexes per power of two above 256
/// (`bucket(value_of(i)) == i`, tested).
#[inline]
fn bucket(nanos: u64) -> usize {
    let nanos = nanos.min(MAX_TRACKED_NANOS);
    // 0 below 256, then one more per power of two.
    let b = 56 - (nanos | 255).leading_zeros();
    (((b as usize + 1) << 7) + (nanos >> b) as usize) - 128
}

/// The smallest latency counted at index `i` (see [`bucket`]).
fn value_of(i: usize) -> u64 {
    let (b, sub) = match (i >> 7).checked_sub(1) {
        Some(b) => (b, (i & 127) + 128),
        None => (0, i & 127),
    };
    (sub as u64) << b
}

const _: () = assert!(
    SIGFIG == 2,
    "bucket() is hdrhistogram's index at 2 significant figures"
);

impl Recorded {
    fn new() -> Self {
        Self {
            figures: Cumulative::empty(),
            counts: Vec::new(),
            parked: None,
        }
    }

    /// Adds a completed call to the figures (all but the histogram, see `counts`).
    #[inline]
    fn add(&mut self, p: Parked) {
        self.figures.count_call(p.nanos, p.error, p.slow);
        let i = bucket(p.nanos);
        match self.counts.get_mut(i) {
            Some(n) => *n += 1,
            None => self.grow(i),
        }
    }

    #[cold]
    #[inline(never)]
    fn grow(&mut self, i: usize) {
        self.counts.resize(i + 1, 0);
        self.counts[i] = 1;
    }

    /// The figures with the parked call and the counts added.
    fn settled(&mut self) -> &Cumulative {
        if let Some(p) = self.parked.take() {
            self.add(p);
        }
        for (i, n) in self.counts.iter_mut().enumerate() {
            if *n != 0 {
                let hist = &mut self.figures.hist;
                if hist.record_n(value_of(i), *n).is_err() {
                    // Cannot happen (the histogram grows, and every index is at most one hour);
                    // if growing failed, count at the current top instead of losing the calls.
                    hist.saturating_record_n(value_of(i), *n);
                }
                *n = 0;
            }
        }
        &self.figures
    }
}

impl Cumulative {
    /// Counts one completed call in every figure but the histogram.
    #[inline]
    fn count_call(&mut self, nanos: u64, error: bool, slow: bool) {
        self.count += 1;
        self.finished += 1;
        self.errors += u64::from(error);
        self.slow_calls += u64::from(slow);
        self.sum_nanos = self.sum_nanos.saturating_add(nanos);
        self.min_nanos = self.min_nanos.min(nanos);
        self.max_nanos = self.max_nanos.max(nanos);
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

pub(crate) fn new_histogram() -> Histogram<u64> {
    // Cannot fail: `SIGFIG <= 5` is asserted at compile time, and that is the only error
    // `Histogram::new` reports.
    Histogram::new(SIGFIG).expect("SIGFIG is within 0..=5")
}

/// The next timer id.
static NEXT_ID: AtomicU32 = AtomicU32::new(0);

/// The cumulative figures of one timer, merged over its shards: what the trend windows
/// take differences of.
#[derive(Clone)]
pub(crate) struct Cumulative {
    pub(crate) hist: Histogram<u64>,
    pub(crate) count: u64,
    pub(crate) errors: u64,
    pub(crate) cancelled: u64,
    pub(crate) slow_calls: u64,
    pub(crate) sum_nanos: u64,
    pub(crate) min_nanos: u64,
    pub(crate) max_nanos: u64,
    /// Calls completed or cancelled; in a shard never reset, so that in-flight = started -
    /// finished (summed over shards) survives a reset.
    pub(crate) finished: u64,
}

impl Cumulative {
    /// Adds another shard's figures to these.
    fn merge(&mut self, other: &Cumulative, timer: &str) {
        self.count += other.count;
        self.errors += other.errors;
        self.cancelled += other.cancelled;
        self.slow_calls += other.slow_calls;
        self.finished += other.finished;
        self.sum_nanos = self.sum_nanos.saturating_add(other.sum_nanos);
        self.min_nanos = self.min_nanos.min(other.min_nanos);
        self.max_nanos = self.max_nanos.max(other.max_nanos);
        if self.hist.add(&other.hist).is_err() {
            // Cannot happen: `hist` auto-resizes and every shard tracks at most one hour.
            tracing::debug!(timer, "could not merge a latency histogram");
        }
    }

    /// No call yet.
    pub(crate) fn empty() -> Self {
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
}

impl TimerState {
    pub(crate) fn new(name: &str) -> Self {
        Self {
            name: name.into(),
            id: NEXT_ID.fetch_add(1, Ordering::Relaxed),
            children: Children::default(),
            slow_nanos: AtomicU64::new(u64::MAX),
            shards: Striped::new(|| Shard {
                started: AtomicU64::new(0),
                data: Mutex::new(Recorded::new()),
            }),
            #[cfg(feature = "metrics")]
            facade: crate::timer::metrics::TimerFacade::new(name),
        }
    }

    /// Keeps the smallest threshold of all sites that share this name.
    pub(crate) fn set_slow_threshold(&self, nanos: u64) {
        self.slow_nanos.fetch_min(nanos, Ordering::Relaxed);
    }

    /// A call starts: it is in flight until [`complete`](Self::complete) or
    /// [`cancel`](Self::cancel).
    #[inline]
    pub(crate) fn begin(&self) {
        self.shards.mine().started.fetch_add(1, Ordering::Relaxed);
    }

    /// A started call completed after `nanos` nanoseconds (with `error`, or by panicking;
    /// `slow`: above its site's threshold).
    #[inline]
    pub(crate) fn complete(&self, nanos: u64, error: bool, slow: bool) {
        self.record(nanos, error, slow);
        #[cfg(feature = "metrics")]
        self.facade.completed(nanos, error);
    }

    /// Records one completed call of `nanos` nanoseconds (without the facade).
    #[inline]
    pub(crate) fn record(&self, nanos: u64, error: bool, slow: bool) {
        let mut data = self.shards.mine().data.lock();
        let parked = data.parked.replace(Parked { nanos, error, slow });
        if let Some(p) = parked {
            data.add(p);
        }
    }

    /// A started call was dropped before completing.
    pub(crate) fn cancel(&self) {
        {
            let data = &mut self.shards.mine().data.lock().figures;
            data.cancelled += 1;
            data.finished += 1;
        }
        #[cfg(feature = "metrics")]
        self.facade.cancelled();
    }

    /// Clears the figures (see `reset_timers`).
    pub(crate) fn reset(&self) {
        for shard in self.shards.iter() {
            // Settled first: the parked call's `finished` must stay counted.
            let mut data = shard.data.lock();
            data.settled();
            data.figures.reset();
        }
    }

    /// The timer's name.
    pub(crate) fn name(&self) -> &str {
        &self.name
    }

    /// The timer's id (see [`Children`]).
    #[inline]
    pub(crate) fn id(&self) -> u32 {
        self.id
    }

    /// The smallest slow threshold of its sites in nanoseconds, if any.
    pub(crate) fn slow_nanos(&self) -> Option<u64> {
        let nanos = self.slow_nanos.load(Ordering::Relaxed);
        (nanos != u64::MAX).then_some(nanos)
    }

    /// The figures since registration (or the last reset), merged over the shards.
    pub(crate) fn cumulative(&self) -> Cumulative {
        let mut total = Cumulative::empty();
        for shard in self.shards.iter() {
            total.merge(shard.data.lock().settled(), &self.name);
        }
        total
    }

    /// A snapshot of this timer's figures, merged over its shards.
    pub(crate) fn stats(&self) -> TimerStats {
        self.export().stats
    }

    /// The snapshot and the histogram buckets of the Prometheus text, from one merge of the
    /// shards. Both count from registration or the last reset, as `count` does, so they
    /// never go down between scrapes (a reset is a counter reset to Prometheus).
    pub(crate) fn export(&self) -> TimerExport {
        let Cumulative {
            hist,
            count,
            errors,
            cancelled,
            slow_calls,
            sum_nanos: sum,
            min_nanos: min,
            max_nanos: max,
            finished,
        } = self.cumulative();
        // Read after the shard locks: every call counted in `finished` above has its start
        // counted here, so the difference never undercounts.
        let started: u64 = self
            .shards
            .iter()
            .map(|s| s.started.load(Ordering::Relaxed))
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
        let buckets = buckets(&hist, max);
        let stats = TimerStats {
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
        };
        TimerExport { stats, buckets }
    }
}

/// The calls of `hist` at most as long as each bound of [`TIMER_BUCKETS_SECONDS`]
/// (cumulative). A recorded value stands for its histogram bucket, whose top (capped at the
/// exact `max`, as the quantiles are) is compared with the bound: a call within 1% of a
/// bound (the histogram's precision) may count on either side of it.
fn buckets(hist: &Histogram<u64>, max: u64) -> [u64; TIMER_BUCKETS_SECONDS.len()] {
    let mut counts = [0u64; TIMER_BUCKETS_SECONDS.len()];
    for v in hist.iter_recorded() {
        let nanos = v.value_iterated_to().min(max);
        // The first bound the value fits under; past the last one, only `+Inf` counts it.
        if let Some(first) = BUCKET_NANOS.iter().position(|&bound| nanos <= bound) {
            counts[first] += v.count_at_value();
        }
    }
    // Cumulative, as `le` buckets are.
    for i in 1..counts.len() {
        counts[i] += counts[i - 1];
    }
    counts
}

/// [`TIMER_BUCKETS_SECONDS`] in nanoseconds.
const BUCKET_NANOS: [u64; TIMER_BUCKETS_SECONDS.len()] = {
    let mut nanos = [0u64; TIMER_BUCKETS_SECONDS.len()];
    let mut i = 0;
    while i < nanos.len() {
        // Exact: every bound is a whole number of microseconds.
        nanos[i] = (TIMER_BUCKETS_SECONDS[i] * 1e9) as u64;
        i += 1;
    }
    nanos
};

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bucket_is_the_histograms_own_index() {
        let hist = new_histogram();
        let mut values: Vec<u64> = (0..5_000).collect();
        let mut v = 5_000u64;
        while v < MAX_TRACKED_NANOS {
            values.extend([v - 1, v, v + 1, v * 3 / 2]);
            v = v * 2 + 17;
        }
        values.push(MAX_TRACKED_NANOS);
        for v in values.into_iter().filter(|&v| v <= MAX_TRACKED_NANOS) {
            let i = bucket(v);
            assert_eq!(value_of(i), hist.lowest_equivalent(v), "{v}");
            assert_eq!(bucket(value_of(i)), i, "{v}");
        }
        assert!(bucket(u64::MAX) == bucket(MAX_TRACKED_NANOS));
    }

    #[test]
    fn a_parked_call_counts_in_every_figure_and_survives_a_reset_as_finished() {
        let state = TimerState::new("test.state.parked");
        state.begin();
        state.record(5_000, false, false);
        // The one call is still parked: readers settle it.
        let s = state.stats();
        assert_eq!((s.count, s.errors, s.in_flight), (1, 0, 0));
        assert_eq!((s.min_ms, s.max_ms), (0.005, 0.005));

        state.begin();
        state.begin();
        state.record(7_000, true, true);
        // Parked again, then reset: the call is gone from the figures, but not from the
        // in-flight bookkeeping (one call is still running).
        state.reset();
        let s = state.stats();
        assert_eq!((s.count, s.errors, s.slow_calls, s.in_flight), (0, 0, 0, 1));
        state.record(9_000, false, false);
        state.begin();
        state.record(1_000, false, false);
        let s = state.stats();
        assert_eq!((s.count, s.in_flight), (2, 0));
        assert_eq!((s.min_ms, s.max_ms, s.mean_ms), (0.001, 0.009, 0.005));
    }
}
