//! The sampler that feeds the trend windows, and [`performance_snapshot`]: per-minute series,
//! trends and bottlenecks of every timer and cache, as one serde value.
//!
//! The sampler is a small thread (`cache-runtime-trends`) started with the first timer or
//! the first snapshot; it wakes at each minute boundary and takes one snapshot of every
//! timer's cumulative figures and every cache's counters (see `window.rs`). Reads also take
//! one, so a late wake-up never loses a minute's figures, it only merges them into the next.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::{Arc, Once};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use parking_lot::Mutex;
use serde::{Deserialize, Serialize};

use crate::stats::CacheStats;
use crate::timer::registry::registered;
use crate::timer::state::{Cumulative, NANOS_PER_MS, TimerState};
use crate::timer::trend::{Trends, cache_trend, timer_trend};
use crate::timer::window::{CacheBucket, Points, Span, TimerBucket, Windows};

/// The windows of the process.
static WINDOWS: Mutex<Windows> = Mutex::new(Windows::new());

/// Seconds since the Unix epoch.
fn unix_now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

/// Starts the sampler thread, once.
pub(crate) fn start_sampler() {
    static STARTED: Once = Once::new();
    STARTED.call_once(|| {
        let spawned = std::thread::Builder::new()
            .name("cache-runtime-trends".into())
            .spawn(|| {
                loop {
                    let now = SystemTime::now()
                        .duration_since(UNIX_EPOCH)
                        .unwrap_or_default();
                    let into_minute = now.as_millis() % 60_000;
                    // Just past the next boundary, so the snapshot lands in the new minute.
                    let wait = 60_000 - into_minute as u64 + 20;
                    std::thread::sleep(Duration::from_millis(wait));
                    let _ = sample(unix_now());
                }
            });
        if let Err(e) = spawned {
            // Reads still take snapshots; minutes without a read are merged into the next.
            tracing::warn!(error = %e, "could not start the trend sampler thread");
        }
    });
}

/// What one snapshot read: every timer's state and cumulative figures, every cache's
/// counters.
struct Sample {
    timers: Vec<(Arc<TimerState>, Cumulative)>,
    caches: Vec<CacheStats>,
}

/// Takes the snapshot of `now` into the windows and returns what it read.
fn sample(now: u64) -> Sample {
    let timers: Vec<(Arc<TimerState>, Cumulative)> = registered()
        .into_iter()
        .map(|s| {
            let c = s.cumulative();
            (s, c)
        })
        .collect();
    // Never starts the global runtime: an application installs its own first.
    let caches = crate::cache::started()
        .map(|engine| engine.stats().caches)
        .unwrap_or_default();
    WINDOWS.lock().tick(
        now,
        timers.iter().map(|(s, c)| (s.name(), c)),
        caches.iter(),
    );
    Sample { timers, caches }
}

/// Figures of one bucket of a timer's history.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct TimerPoint {
    /// Start of the bucket, seconds since the Unix epoch.
    pub at: u64,
    /// Calls completed in it.
    pub calls: u64,
    /// Of which errors.
    pub errors: u64,
    /// Mean latency, milliseconds (0 without calls).
    pub mean_ms: f64,
    /// Median latency, milliseconds.
    pub p50_ms: f64,
    /// 95th percentile, milliseconds.
    pub p95_ms: f64,
    /// 99th percentile, milliseconds.
    pub p99_ms: f64,
}

/// Figures of one bucket of a cache's history.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct CachePoint {
    /// Start of the bucket, seconds since the Unix epoch.
    pub at: u64,
    /// Lookups answered from the cache.
    pub hits: u64,
    /// Lookups that found no fresh entry.
    pub misses: u64,
    /// Expired values served because the recomputation failed.
    pub stale_served: u64,
    /// Misses that waited for a concurrent computation.
    pub coalesced: u64,
    /// `hits / (hits + misses)`, `None` without lookups.
    pub hit_ratio: Option<f64>,
    /// Bytes held at the end of the bucket.
    pub bytes: u64,
}

/// One timer over time: oldest bucket first, the last one in progress.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct TimerHistory {
    /// The timer's name.
    pub name: String,
    /// Its buckets.
    pub points: Vec<TimerPoint>,
}

/// One cache over time: oldest bucket first, the last one in progress.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct CacheHistory {
    /// The cache's name.
    pub name: String,
    /// Its buckets.
    pub points: Vec<CachePoint>,
}

/// A timed call made inside a bottleneck's calls (same task), since start.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct TimedChild {
    /// The child timer's name (`"(other timers)"` past the eight kept per timer).
    pub name: String,
    /// Its calls made inside the parent's calls.
    pub calls: u64,
    /// Their total time, milliseconds.
    pub total_ms: f64,
}

/// The cache that answers a bottleneck's calls, or its callers'.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct CacheInFront {
    /// The cache's name.
    pub name: String,
    /// `true`: the cache answers this timer's own calls (the timer measures hits too);
    /// `false`: it answers a timed caller's calls, so this timer runs on its misses.
    pub answers_this_timer: bool,
    /// Its hit ratio over the last hour, `None` without lookups.
    pub hit_ratio: Option<f64>,
    /// Its lookups over the last hour.
    pub lookups: u64,
}

/// A timer ranked by its share of time and its slow calls, with what it calls, the cache
/// in front of it and one sentence to act on.
///
/// ```
/// for b in cache_runtime::performance_snapshot().bottlenecks {
///     println!("{}", b.advice);
/// }
/// ```
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct Bottleneck {
    /// The timer's name.
    pub name: String,
    /// The group it is ranked in: the name up to its first `.` (`db` for `db.users`),
    /// empty for names without one.
    pub group: String,
    /// Its share of its group's time (calls x mean) over the last hour, 0..=1.
    pub share: f64,
    /// Calls over the last hour.
    pub calls: u64,
    /// Their total time, milliseconds.
    pub total_ms: f64,
    /// Mean latency over the last hour, milliseconds.
    pub mean_ms: f64,
    /// p95 over the last hour, milliseconds.
    pub p95_ms: f64,
    /// Its slow threshold, milliseconds, if it has one.
    pub slow_ms: Option<f64>,
    /// Calls over the threshold in the last hour.
    pub slow_calls: u64,
    /// The timed calls made inside its calls, most time first.
    pub children: Vec<TimedChild>,
    /// The cache in front of it, if one was found: the cache answering this timer's own
    /// calls, or else the one answering the timed caller that spends the most time in it.
    pub cache: Option<CacheInFront>,
    /// One sentence a developer can act on.
    pub advice: String,
}

/// Per-minute history of every timer and cache over the last hour, their trends and the
/// bottlenecks; see [`performance_snapshot`].
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct PerformanceSnapshot {
    /// When it was taken, seconds since the Unix epoch.
    pub at: u64,
    /// Width of a history bucket in seconds: 60 (last hour) or 300 (last day).
    pub bucket_seconds: u64,
    /// Completed calls per second of the timers no other timer calls (the entry points,
    /// such as the functions behind a service's endpoints), over the last 5 minutes.
    pub calls_per_second: f64,
    /// One per timer, by name.
    pub timers: Vec<TimerHistory>,
    /// One per cache, by name.
    pub caches: Vec<CacheHistory>,
    /// The last 5 minutes against the 30 before them.
    pub trends: Trends,
    /// Timers ranked by slow calls, then by share of their group's time; at most 10.
    pub bottlenecks: Vec<Bottleneck>,
}

/// The per-minute history of every timer and cache over the last hour (the minute in
/// progress last), their [`Trends`] and the [`Bottleneck`]s.
///
/// ```
/// use cache_runtime::__private::{TimerSite, time_sync};
///
/// static SITE: TimerSite = TimerSite::new("doc.snapshot", 0);
/// time_sync(&SITE, |_: &()| false, || ());
///
/// let snapshot = cache_runtime::performance_snapshot();
/// let timer = snapshot.timers.iter().find(|t| t.name == "doc.snapshot").unwrap();
/// assert_eq!(timer.points.last().unwrap().calls, 1);
/// assert!(serde_json::to_string(&snapshot).unwrap().contains("\"trends\""));
/// ```
#[must_use]
pub fn performance_snapshot() -> PerformanceSnapshot {
    snapshot(Span::Hour)
}

/// As [`performance_snapshot`], with the history in five-minute buckets over the last 24
/// hours (trends and bottlenecks are the same).
///
/// ```
/// let day = cache_runtime::performance_snapshot_day();
/// assert_eq!(day.bucket_seconds, 300);
/// ```
#[must_use]
pub fn performance_snapshot_day() -> PerformanceSnapshot {
    snapshot(Span::Day)
}

fn snapshot(span: Span) -> PerformanceSnapshot {
    start_sampler();
    let now = unix_now();
    let sample = sample(now);
    let windows = WINDOWS.lock();
    let hour_of = |s: &TimerState, c: &Cumulative| windows.timer(s.name(), Span::Hour, now, c);
    let timer_hours: Vec<(&Arc<TimerState>, Points<TimerBucket>)> = sample
        .timers
        .iter()
        .filter_map(|(s, c)| Some((s, hour_of(s, c)?)))
        .collect();
    let cache_hours: Vec<(&CacheStats, Points<CacheBucket>)> = sample
        .caches
        .iter()
        .filter_map(|c| Some((c, windows.cache(Span::Hour, now, c)?)))
        .collect();

    let trends = Trends {
        timers: timer_hours
            .iter()
            .map(|(s, p)| timer_trend(s.name(), p, now))
            .collect(),
        caches: cache_hours
            .iter()
            .map(|(c, p)| cache_trend(&c.name, p, now))
            .collect(),
    };
    let children: BTreeSet<u32> = sample
        .timers
        .iter()
        .flat_map(|(s, _)| s.children.totals())
        .filter_map(|c| c.id)
        .collect();
    let calls_per_second = trends
        .timers
        .iter()
        .zip(&timer_hours)
        .filter(|(_, (s, _))| !children.contains(&s.id()))
        .map(|(t, _)| t.calls_per_second)
        .sum();
    let bottlenecks = bottlenecks(&timer_hours, &cache_hours, &sample.timers);

    let (timers, caches) = match span {
        Span::Hour => (
            timer_hours
                .iter()
                .map(|(s, p)| timer_history(s, p))
                .collect(),
            cache_hours
                .iter()
                .map(|(c, p)| cache_history(&c.name, p))
                .collect(),
        ),
        Span::Day => (
            sample
                .timers
                .iter()
                .filter_map(|(s, c)| {
                    Some(timer_history(s, &windows.timer(s.name(), span, now, c)?))
                })
                .collect(),
            sample
                .caches
                .iter()
                .filter_map(|c| Some(cache_history(&c.name, &windows.cache(span, now, c)?)))
                .collect(),
        ),
    };
    PerformanceSnapshot {
        at: now,
        bucket_seconds: if span == Span::Hour { 60 } else { 300 },
        calls_per_second,
        timers,
        caches,
        trends,
        bottlenecks,
    }
}

fn timer_history(state: &TimerState, points: &Points<TimerBucket>) -> TimerHistory {
    TimerHistory {
        name: state.name().to_owned(),
        points: points
            .buckets
            .iter()
            .map(|(at, b)| TimerPoint {
                at: *at,
                calls: b.calls,
                errors: b.errors,
                mean_ms: b.mean_ms(),
                p50_ms: b.quantile_ms(0.5),
                p95_ms: b.quantile_ms(0.95),
                p99_ms: b.quantile_ms(0.99),
            })
            .collect(),
    }
}

fn cache_history(name: &str, points: &Points<CacheBucket>) -> CacheHistory {
    CacheHistory {
        name: name.to_owned(),
        points: points
            .buckets
            .iter()
            .map(|(at, b)| CachePoint {
                at: *at,
                hits: b.hits,
                misses: b.misses,
                stale_served: b.stale_served,
                coalesced: b.coalesced,
                hit_ratio: b.hit_ratio(),
                bytes: b.bytes,
            })
            .collect(),
    }
}

/// The group a timer is ranked in: its name up to the first `.`.
fn group_of(name: &str) -> &str {
    name.split_once('.').map_or("", |(g, _)| g)
}

fn percent(ratio: f64) -> String {
    let p = ratio * 100.0;
    if !(10.0..99.95).contains(&p) {
        format!("{p:.1}%")
    } else {
        format!("{p:.0}%")
    }
}

fn bottlenecks(
    timers: &[(&Arc<TimerState>, Points<TimerBucket>)],
    caches: &[(&CacheStats, Points<CacheBucket>)],
    all: &[(Arc<TimerState>, Cumulative)],
) -> Vec<Bottleneck> {
    let names: BTreeMap<u32, &str> = all.iter().map(|(s, _)| (s.id(), s.name())).collect();
    let hour: Vec<(&Arc<TimerState>, TimerBucket)> = timers
        .iter()
        .map(|(s, p)| (*s, p.sum(0, u64::MAX)))
        .collect();
    let mut group_nanos: BTreeMap<&str, u64> = BTreeMap::new();
    for (s, b) in &hour {
        *group_nanos.entry(group_of(s.name())).or_default() += b.sum_nanos;
    }
    let cache_hour: BTreeMap<&str, CacheBucket> = caches
        .iter()
        .map(|(c, p)| (c.name.as_str(), p.sum(0, u64::MAX)))
        .collect();
    // Which cache answers which timer's calls, and which timers call which.
    let cached: BTreeMap<String, String> = crate::timer::nest::cached_under()
        .into_iter()
        .map(|(cache, timer)| (timer, cache))
        .collect();
    // Callers of each timer, the one that spends the most time in it first.
    let mut parents: BTreeMap<u32, Vec<(u64, &str)>> = BTreeMap::new();
    for (s, _) in all {
        for child in s.children.totals() {
            if let Some(id) = child.id {
                parents.entry(id).or_default().push((child.nanos, s.name()));
            }
        }
    }
    for callers in parents.values_mut() {
        callers.sort_by_key(|c| std::cmp::Reverse(c.0));
    }

    let mut out: Vec<Bottleneck> = hour
        .iter()
        .filter(|(_, b)| b.calls > 0)
        .map(|(s, b)| {
            let group = group_of(s.name());
            let group_total = group_nanos.get(group).copied().unwrap_or(0).max(1);
            let share = b.sum_nanos as f64 / group_total as f64;
            let mut children: Vec<TimedChild> = s
                .children
                .totals()
                .into_iter()
                .map(|c| TimedChild {
                    name: c
                        .id
                        .and_then(|id| names.get(&id))
                        .map_or_else(|| "(other timers)".to_owned(), |n| (*n).to_owned()),
                    calls: c.calls,
                    total_ms: c.nanos as f64 / NANOS_PER_MS,
                })
                .collect();
            children.sort_by(|a, b| b.total_ms.total_cmp(&a.total_ms));
            let in_front = |timer: &str, own: bool| {
                let name = cached.get(timer)?;
                let figures = cache_hour.get(name.as_str()).cloned().unwrap_or_default();
                Some(CacheInFront {
                    name: name.clone(),
                    answers_this_timer: own,
                    hit_ratio: figures.hit_ratio(),
                    lookups: figures.hits + figures.misses,
                })
            };
            let cache = in_front(s.name(), true).or_else(|| {
                parents
                    .get(&s.id())
                    .into_iter()
                    .flatten()
                    .find_map(|(_, p)| in_front(p, false))
            });
            let total_ms = b.sum_nanos as f64 / NANOS_PER_MS;
            let mut bottleneck = Bottleneck {
                name: s.name().to_owned(),
                group: group.to_owned(),
                share,
                calls: b.calls,
                total_ms,
                mean_ms: b.mean_ms(),
                p95_ms: b.quantile_ms(0.95),
                slow_ms: s.slow_nanos().map(|n| n as f64 / NANOS_PER_MS),
                slow_calls: b.slow_calls,
                children,
                cache,
                advice: String::new(),
            };
            bottleneck.advice = advice(&bottleneck);
            bottleneck
        })
        .collect();
    out.sort_by(|a, b| {
        b.slow_calls
            .min(1)
            .cmp(&a.slow_calls.min(1))
            .then(b.share.total_cmp(&a.share))
            .then(b.total_ms.total_cmp(&a.total_ms))
    });
    out.truncate(10);
    out
}

/// The sentence of a bottleneck: where its time goes and what to try first.
fn advice(b: &Bottleneck) -> String {
    let group = if b.group.is_empty() {
        "the time of timers without a group prefix".to_owned()
    } else {
        format!("`{}.*` time", b.group)
    };
    let mut s = format!(
        "`{}` is {} of {group} ({} calls, p95 {:.2} ms)",
        b.name,
        percent(b.share),
        b.calls,
        b.p95_ms
    );
    if let (Some(slow), true) = (b.slow_ms, b.slow_calls > 0) {
        s.push_str(&format!(", {} over its {slow} ms threshold", b.slow_calls));
    }
    let top_child = b
        .children
        .first()
        .filter(|c| b.total_ms > 0.0 && c.total_ms / b.total_ms >= 0.5);
    match (&b.cache, top_child) {
        (Some(c), _) if c.hit_ratio.is_none() => s.push_str(&format!(
            "; `{}` in front of it has had no lookups yet: nothing to judge yet",
            c.name
        )),
        (Some(c), _) => {
            let hit = c.hit_ratio.map_or_else(|| "no lookups".to_owned(), percent);
            let good = c.hit_ratio.is_some_and(|h| h >= 0.9);
            match (c.answers_this_timer, good) {
                (true, true) => s.push_str(&format!(
                    "; `{}` answers it at a {hit} hit ratio, so the time is in its misses: \
                     speed up what runs on a miss",
                    c.name
                )),
                (true, false) => s.push_str(&format!(
                    "; `{}` answers it at only a {hit} hit ratio: check that cache's key and TTL \
                     first",
                    c.name
                )),
                (false, true) => s.push_str(&format!(
                    "; `{}` in front of it hits {hit}, so what is left are misses: make the \
                     query itself faster (an index) or lengthen that cache's TTL",
                    c.name
                )),
                (false, false) => s.push_str(&format!(
                    "; `{}` in front of it hits only {hit}: raise its TTL or widen its key \
                     before tuning the query",
                    c.name
                )),
            }
        }
        (None, Some(child)) => s.push_str(&format!(
            "; {} of it is spent in `{}`: look there first",
            percent(child.total_ms / b.total_ms),
            child.name
        )),
        (None, None) => {
            s.push_str(
                "; no cache in front of it: consider #[cache_result] on it or on its caller",
            );
        }
    }
    s.push('.');
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_cache_without_lookups_has_nothing_to_judge_yet() {
        let mut b = Bottleneck {
            name: "db.query".into(),
            group: "db".into(),
            share: 0.8,
            calls: 12,
            total_ms: 120.0,
            mean_ms: 10.0,
            p95_ms: 20.0,
            slow_ms: None,
            slow_calls: 0,
            children: Vec::new(),
            cache: Some(CacheInFront {
                name: "reports".into(),
                answers_this_timer: false,
                hit_ratio: None,
                lookups: 0,
            }),
            advice: String::new(),
        };
        let text = advice(&b);
        assert!(
            text.contains("`reports` in front of it has had no lookups yet: nothing to judge yet"),
            "{text}"
        );
        assert!(!text.contains("hits only"), "{text}");
        if let Some(c) = &mut b.cache {
            c.hit_ratio = Some(0.5);
            c.lookups = 10;
        }
        assert!(advice(&b).contains("hits only 50"), "{}", advice(&b));
    }
}
