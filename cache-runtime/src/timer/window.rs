//! Figures over time, built from periodic snapshots of the cumulative ones, so the call path
//! pays nothing for them.
//!
//! Once a minute (the sampler in `trends.rs`, and every read) [`Windows::tick`] takes each
//! timer's cumulative histogram and counts and each cache's counters. The difference between
//! two consecutive snapshots is the bucket of the minute the earlier one was taken in; it is
//! added to a ring of 60 one-minute buckets and to a ring of 288 five-minute buckets (24
//! hours). The minute in progress is "now minus the last snapshot", computed when read.
//! Each name has its two rings and nothing else: memory does not grow with traffic (a
//! bucket keeps only the non-empty counts of its latency histogram, at most the
//! histogram's few thousand buckets, typically a few dozen).
//!
//! A cumulative figure that went down (`reset_timers`) starts a new baseline: the bucket
//! gets the figures since the reset.

use std::collections::BTreeMap;

use hdrhistogram::Histogram;

use crate::stats::CacheStats;
use crate::timer::state::{Cumulative, new_histogram};

/// One-minute buckets kept: an hour.
pub(crate) const MINUTES: usize = 60;
/// Five-minute buckets kept: a day.
pub(crate) const FIVES: usize = 288;

/// What happened to one timer in one bucket of time.
#[derive(Clone, Debug, Default, PartialEq)]
pub(crate) struct TimerBucket {
    pub(crate) calls: u64,
    pub(crate) errors: u64,
    pub(crate) cancelled: u64,
    pub(crate) slow_calls: u64,
    pub(crate) sum_nanos: u64,
    /// The non-empty buckets of the latency histogram: (highest equivalent value, count).
    latencies: Vec<(u64, u64)>,
}

/// What happened to one cache in one bucket of time (`bytes`: held at its end).
#[derive(Clone, Debug, Default, PartialEq)]
pub(crate) struct CacheBucket {
    pub(crate) hits: u64,
    pub(crate) misses: u64,
    pub(crate) stale_served: u64,
    pub(crate) coalesced: u64,
    pub(crate) computes: u64,
    pub(crate) bytes: u64,
}

/// A bucket of figures: the difference of two snapshots, and the sum of two buckets.
pub(crate) trait Bucket: Clone + Default {
    /// The cumulative figures it is taken from.
    type Snapshot;
    /// What happened between `before` and `now`.
    fn between(now: &Self::Snapshot, before: &Self::Snapshot) -> Self;
    /// Adds `later`, a bucket of a later or the same time.
    fn merge(&mut self, later: &Self);
}

/// Records `count` values of `value` into an auto-resizing histogram (saturating only if
/// growing fails).
fn record_n(hist: &mut Histogram<u64>, value: u64, count: u64) {
    if hist.record_n(value, count).is_err() {
        hist.saturating_record_n(value, count);
    }
}

fn sparse(hist: &Histogram<u64>) -> Vec<(u64, u64)> {
    hist.iter_recorded()
        .map(|v| (v.value_iterated_to(), v.count_at_value()))
        .collect()
}

impl TimerBucket {
    /// The bucket's latency histogram (nanoseconds).
    pub(crate) fn histogram(&self) -> Histogram<u64> {
        let mut hist = new_histogram();
        for &(value, count) in &self.latencies {
            record_n(&mut hist, value, count);
        }
        hist
    }

    /// The latency at quantile `q` in milliseconds (0 without calls).
    pub(crate) fn quantile_ms(&self, q: f64) -> f64 {
        if self.calls == 0 {
            return 0.0;
        }
        self.histogram().value_at_quantile(q) as f64 / 1e6
    }

    /// Mean latency in milliseconds (0 without calls).
    pub(crate) fn mean_ms(&self) -> f64 {
        if self.calls == 0 {
            0.0
        } else {
            self.sum_nanos as f64 / self.calls as f64 / 1e6
        }
    }
}

impl Bucket for TimerBucket {
    type Snapshot = Cumulative;

    fn between(now: &Cumulative, before: &Cumulative) -> Self {
        let reset = now.count < before.count || now.cancelled < before.cancelled;
        let mut hist = now.hist.clone();
        if reset || hist.subtract(&before.hist).is_err() {
            return Self::between(now, &Cumulative::empty());
        }
        Self {
            calls: now.count - before.count,
            errors: now.errors.saturating_sub(before.errors),
            cancelled: now.cancelled - before.cancelled,
            slow_calls: now.slow_calls.saturating_sub(before.slow_calls),
            sum_nanos: now.sum_nanos.saturating_sub(before.sum_nanos),
            latencies: sparse(&hist),
        }
    }

    fn merge(&mut self, later: &Self) {
        self.calls += later.calls;
        self.errors += later.errors;
        self.cancelled += later.cancelled;
        self.slow_calls += later.slow_calls;
        self.sum_nanos = self.sum_nanos.saturating_add(later.sum_nanos);
        if self.latencies.is_empty() {
            self.latencies.clone_from(&later.latencies);
        } else if !later.latencies.is_empty() {
            let mut hist = self.histogram();
            for &(value, count) in &later.latencies {
                record_n(&mut hist, value, count);
            }
            self.latencies = sparse(&hist);
        }
    }
}

impl CacheBucket {
    /// `hits / (hits + misses)`, `None` without lookups.
    pub(crate) fn hit_ratio(&self) -> Option<f64> {
        let lookups = self.hits + self.misses;
        (lookups > 0).then(|| self.hits as f64 / lookups as f64)
    }
}

impl Bucket for CacheBucket {
    type Snapshot = CacheStats;

    fn between(now: &CacheStats, before: &CacheStats) -> Self {
        let d = |a: u64, b: u64| a.saturating_sub(b);
        Self {
            hits: d(now.hits, before.hits),
            misses: d(now.misses, before.misses),
            stale_served: d(now.stale_served, before.stale_served),
            coalesced: d(now.coalesced, before.coalesced),
            computes: d(now.computes, before.computes),
            bytes: now.bytes,
        }
    }

    fn merge(&mut self, later: &Self) {
        self.hits += later.hits;
        self.misses += later.misses;
        self.stale_served += later.stale_served;
        self.coalesced += later.coalesced;
        self.computes += later.computes;
        self.bytes = later.bytes;
    }
}

/// A fixed ring of buckets, each `width` minutes wide, stamped with the period it holds.
#[derive(Clone, Debug)]
struct Ring<B> {
    width: u64,
    slots: Vec<Option<(u64, B)>>,
}

impl<B: Bucket> Ring<B> {
    fn new(len: usize, width: u64) -> Self {
        Self {
            width,
            slots: vec![None; len],
        }
    }

    /// Adds the bucket of `minute` to the period holding it, overwriting a stale period.
    fn add(&mut self, minute: u64, bucket: &B) {
        let period = minute / self.width;
        let len = self.slots.len() as u64;
        let slot = &mut self.slots[(period % len) as usize];
        match slot {
            Some((held, sum)) if *held == period => sum.merge(bucket),
            _ => *slot = Some((period, bucket.clone())),
        }
    }

    /// The bucket of the period starting at `minute` (a multiple of the width), if held.
    fn get(&self, minute: u64) -> Option<&B> {
        let period = minute / self.width;
        let len = self.slots.len() as u64;
        match &self.slots[(period % len) as usize] {
            Some((held, bucket)) if *held == period => Some(bucket),
            _ => None,
        }
    }
}

/// The rings of one name, and the snapshot the minute in progress is counted from.
#[derive(Clone)]
struct Series<B: Bucket> {
    last: B::Snapshot,
    /// The minute `last` was taken in.
    minute: u64,
    /// When the name was first seen, in seconds.
    since: u64,
    minutes: Ring<B>,
    fives: Ring<B>,
}

impl<B: Bucket> Series<B>
where
    B::Snapshot: Clone,
{
    fn new(zero: B::Snapshot, now: u64) -> Self {
        Self {
            last: zero,
            minute: now / 60,
            since: now,
            minutes: Ring::new(MINUTES, 1),
            fives: Ring::new(FIVES, 5),
        }
    }

    fn tick(&mut self, now: u64, current: &B::Snapshot) {
        let minute = now / 60;
        if minute <= self.minute {
            return;
        }
        let bucket = B::between(current, &self.last);
        self.minutes.add(self.minute, &bucket);
        self.fives.add(self.minute, &bucket);
        self.last = current.clone();
        self.minute = minute;
    }
}

/// The buckets of one name over a span, oldest first, and when it was first seen.
#[derive(Clone, Debug)]
pub(crate) struct Points<B> {
    /// (start of the bucket in seconds since the epoch, bucket); the last is in progress.
    pub(crate) buckets: Vec<(u64, B)>,
    pub(crate) since: u64,
}

impl<B: Bucket> Points<B> {
    /// The sum of the buckets that start in `[from, to)` (seconds).
    pub(crate) fn sum(&self, from: u64, to: u64) -> B {
        let mut sum = B::default();
        for (_, b) in self
            .buckets
            .iter()
            .filter(|(at, _)| (from..to).contains(at))
        {
            sum.merge(b);
        }
        sum
    }
}

/// Which ring a read uses.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Span {
    /// 60 one-minute buckets.
    Hour,
    /// 288 five-minute buckets.
    Day,
}

/// The buckets of `series` over `span`, the one in progress counted up to `current`.
fn points<B: Bucket>(series: &Series<B>, span: Span, now: u64, current: &B::Snapshot) -> Points<B>
where
    B::Snapshot: Clone,
{
    let mut series = series.clone();
    series.tick(now, current);
    let partial = B::between(current, &series.last);
    let ring = match span {
        Span::Hour => &series.minutes,
        Span::Day => &series.fives,
    };
    let width = ring.width;
    let len = ring.slots.len();
    let period = series.minute / width;
    let first = (period + 1).saturating_sub(len as u64);
    let mut buckets = Vec::with_capacity(len);
    for p in first..period {
        if let Some(b) = ring.get(p * width) {
            buckets.push((p * width * 60, b.clone()));
        }
    }
    // The period in progress: what the ring holds of it (a five-minute period whose
    // earlier minutes have passed; never a minute, which the ring gets once it is over),
    // plus the minute in progress.
    let last = match ring.get(period * width) {
        Some(held) => {
            let mut b = held.clone();
            b.merge(&partial);
            b
        }
        None => partial,
    };
    buckets.push((period * width * 60, last));
    Points {
        buckets,
        since: series.since,
    }
}

/// The rings of every timer and cache seen.
#[derive(Default)]
pub(crate) struct Windows {
    timers: BTreeMap<String, Series<TimerBucket>>,
    caches: BTreeMap<String, Series<CacheBucket>>,
}

/// A cache's counters before its first lookup.
pub(crate) fn zero_cache(name: &str) -> CacheStats {
    CacheStats {
        name: name.to_owned(),
        hits: 0,
        misses: 0,
        coalesced: 0,
        stale_served: 0,
        refreshes: 0,
        errors_not_cached: 0,
        too_large: 0,
        encode_errors: 0,
        evictions: 0,
        invalidations: 0,
        expirations: 0,
        entries: 0,
        bytes: 0,
        computes: 0,
        queued: 0,
        overloaded: 0,
        throttled: 0,
        not_stored: 0,
        hard_timeouts: 0,
        soft_timeouts: 0,
        fail_throttled: 0,
        eviction_events_dropped: 0,
        capacity_bytes: 0,
        mean_compute_ms: 0.0,
        hit_ratio: 0.0,
        l2: Default::default(),
    }
}

impl Windows {
    /// No name seen yet.
    pub(crate) const fn new() -> Self {
        Self {
            timers: BTreeMap::new(),
            caches: BTreeMap::new(),
        }
    }

    /// Takes the snapshot of `now` (seconds since the epoch): closes the minute of the last
    /// one when `now` is in a later minute, and starts the series of names not seen before.
    pub(crate) fn tick<'a>(
        &mut self,
        now: u64,
        timers: impl IntoIterator<Item = (&'a str, &'a Cumulative)>,
        caches: impl IntoIterator<Item = &'a CacheStats>,
    ) {
        for (name, current) in timers {
            self.timers
                .entry(name.to_owned())
                .or_insert_with(|| Series::new(Cumulative::empty(), now))
                .tick(now, current);
        }
        for current in caches {
            self.caches
                .entry(current.name.clone())
                .or_insert_with(|| Series::new(zero_cache(&current.name), now))
                .tick(now, current);
        }
    }

    /// The buckets of timer `name` over `span`, its current figures being `current`.
    pub(crate) fn timer(
        &self,
        name: &str,
        span: Span,
        now: u64,
        current: &Cumulative,
    ) -> Option<Points<TimerBucket>> {
        let series = self.timers.get(name)?;
        Some(points(series, span, now, current))
    }

    /// The buckets of cache `current.name` over `span`.
    pub(crate) fn cache(
        &self,
        span: Span,
        now: u64,
        current: &CacheStats,
    ) -> Option<Points<CacheBucket>> {
        let series = self.caches.get(&current.name)?;
        Some(points(series, span, now, current))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Cumulative figures after `calls` calls of `ms` milliseconds each, on top of `base`.
    fn after(base: &Cumulative, calls: u64, ms: u64, errors: u64) -> Cumulative {
        let mut c = base.clone();
        let nanos = ms * 1_000_000;
        c.hist.record_n(nanos, calls).expect("in range");
        c.count += calls;
        c.errors += errors;
        c.sum_nanos += nanos * calls;
        c
    }

    const T0: u64 = 1_800_000_000 / 60 * 60;

    #[test]
    fn each_minute_gets_the_difference_of_two_snapshots_and_the_current_one_is_partial() {
        let mut w = Windows::default();
        let mut now = Cumulative::empty();
        w.tick(T0, [("t", &now)], []);
        // Minute 0: 10 calls of 2 ms; minute 1: 5 calls of 40 ms; minute 2 (partial): 3 of 7.
        now = after(&now, 10, 2, 1);
        w.tick(T0 + 30, [("t", &now)], []);
        w.tick(T0 + 61, [("t", &now)], []);
        now = after(&now, 5, 40, 0);
        w.tick(T0 + 125, [("t", &now)], []);
        now = after(&now, 3, 7, 0);

        let p = w.timer("t", Span::Hour, T0 + 130, &now).expect("seen");
        let calls: Vec<(u64, u64)> = p.buckets.iter().map(|(at, b)| (*at, b.calls)).collect();
        assert_eq!(calls, vec![(T0, 10), (T0 + 60, 5), (T0 + 120, 3)]);
        let (_, first) = &p.buckets[0];
        assert_eq!(first.errors, 1);
        assert!((first.quantile_ms(0.95) - 2.0).abs() < 0.03);
        assert!((p.buckets[1].1.quantile_ms(0.5) - 40.0).abs() < 0.4);
        // Windows merge histograms: 15 calls, the top third at 40 ms.
        let both = p.sum(T0, T0 + 120);
        assert_eq!(both.calls, 15);
        assert!((both.quantile_ms(0.95) - 40.0).abs() < 0.4);
        assert!((both.quantile_ms(0.5) - 2.0).abs() < 0.03);
    }

    #[test]
    fn an_hour_later_the_oldest_minutes_are_gone_and_the_day_ring_keeps_them() {
        let mut w = Windows::default();
        let mut now = Cumulative::empty();
        for minute in 0..90 {
            // A snapshot at the start of each minute, then that minute's calls.
            w.tick(T0 + minute * 60 + 1, [("t", &now)], []);
            now = after(&now, minute + 1, 1, 0);
        }
        // At T0 + 90 min the minute 89's calls are closed and nothing is in progress.
        let at = T0 + 90 * 60;
        let hour = w.timer("t", Span::Hour, at, &now).expect("seen");
        assert_eq!(hour.buckets.len(), MINUTES);
        assert_eq!(hour.buckets[0].0, T0 + 31 * 60);
        assert_eq!(hour.buckets[0].1.calls, 32);
        assert_eq!(hour.buckets.last().map(|(_, b)| b.calls), Some(0));
        let day = w.timer("t", Span::Day, at, &now).expect("seen");
        let total: u64 = day.buckets.iter().map(|(_, b)| b.calls).sum();
        assert_eq!(total, (1..=90).sum::<u64>());
        assert_eq!(day.buckets[0], (T0, day.buckets[0].1.clone()));
        assert_eq!(day.buckets[0].1.calls, 1 + 2 + 3 + 4 + 5);
    }

    #[test]
    fn a_reset_starts_a_new_baseline_instead_of_a_negative_bucket() {
        let mut w = Windows::default();
        let busy = after(&Cumulative::empty(), 100, 1, 0);
        w.tick(T0, [("t", &busy)], []);
        w.tick(T0 + 60, [("t", &busy)], []);
        let fresh = after(&Cumulative::empty(), 4, 3, 0);
        let p = w.timer("t", Span::Hour, T0 + 70, &fresh).expect("seen");
        assert_eq!(p.buckets.last().map(|(_, b)| b.calls), Some(4));
    }

    #[test]
    fn cache_buckets_count_lookups_per_minute() {
        let mut w = Windows::default();
        let mut c = zero_cache("c");
        w.tick(T0, [], [&c]);
        c.hits = 90;
        c.misses = 10;
        c.bytes = 500;
        w.tick(T0 + 60, [], [&c]);
        c.hits = 100;
        c.misses = 30;
        let p = w.cache(Span::Hour, T0 + 90, &c).expect("seen");
        assert_eq!(p.buckets[0].1.hit_ratio(), Some(0.9));
        assert_eq!(p.buckets[1].1.hit_ratio(), Some(10.0 / 30.0));
        assert_eq!(p.buckets[1].1.bytes, 500);
    }
}
