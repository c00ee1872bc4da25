//! The remote tier's per-cache figures through the `metrics` facade, against a real
//! redis-server, into a `DebuggingRecorder` installed after the first calls.

#![cfg(all(feature = "redis", feature = "metrics"))]

mod common;

use std::sync::Arc;
use std::sync::atomic::AtomicU32;
use std::time::Duration;

use cache_runtime::__private::CacheSite;
use cache_runtime::CacheStats;
use common::remote::*;
use common::{call_in, counted, spec};
use metrics_util::MetricKind;
use metrics_util::debugging::{DebugValue, DebuggingRecorder};
use test_support::RedisServer;

/// Reads one figure of a cache's snapshot.
type Figure = fn(&CacheStats) -> u64;

#[tokio::test]
async fn remote_tier_figures_reach_a_recorder_installed_late() {
    static SITE: CacheSite = CacheSite::new(spec("l2_facade", 60_000));
    let server = RedisServer::start();
    let (a, b) = connected_pair(&server, "l2facade").await;
    let runs = Arc::new(AtomicU32::new(0));

    // Before the recorder: a misses Redis and writes key 1.
    call_in(&a, &SITE, 1, || counted(&runs))
        .await
        .expect("computed");
    written(&server, &redis_key("l2facade", "l2_facade", 1)).await;
    let writes_done = eventually(Duration::from_secs(2), || {
        stats_of(&a, "l2_facade").l2.writes == 1
    })
    .await;
    assert!(writes_done, "a's write was counted");
    // b has not used the cache yet: it has no figures of it.
    assert!(b.stats().cache("l2_facade").is_none());
    let before = stats_of(&a, "l2_facade");

    let recorder = DebuggingRecorder::new();
    let snapshotter = recorder.snapshotter();
    recorder
        .install()
        .expect("the only recorder of this test binary");

    // After: b hits Redis for key 1; a misses and writes key 2; foreign bytes under key 3
    // are a decode failure for b, which then writes its own value.
    call_in(&b, &SITE, 1, || counted(&runs))
        .await
        .expect("a hit in redis");
    call_in(&a, &SITE, 2, || counted(&runs))
        .await
        .expect("computed");
    let key3 = redis_key("l2facade", "l2_facade", 3);
    server.cmd::<()>(&[b"SET", key3.as_bytes(), b"not an entry"]);
    call_in(&b, &SITE, 3, || counted(&runs))
        .await
        .expect("computed over foreign bytes");
    let settled = eventually(Duration::from_secs(2), || {
        stats_of(&a, "l2_facade").l2.writes == 2 && stats_of(&b, "l2_facade").l2.writes == 1
    })
    .await;
    assert!(settled, "the background writes were counted");
    let after = [stats_of(&a, "l2_facade"), stats_of(&b, "l2_facade")];

    // Both instances share the namespace, so their figures share one series.
    let delta =
        |f: fn(&CacheStats) -> u64| -> u64 { after.iter().map(f).sum::<u64>() - f(&before) };
    let labels = [("namespace", "l2facade"), ("cache", "l2_facade")];
    let snapshot = snapshotter.snapshot().into_vec();
    let find = |kind: MetricKind, name: &str| {
        snapshot.iter().find_map(|(key, _, _, value)| {
            let (k, key) = key.clone().into_parts();
            let same_labels = key
                .labels()
                .map(|l| (l.key(), l.value()))
                .eq(labels.iter().copied());
            (k == kind && key.name() == name && same_labels).then_some(value)
        })
    };
    let counter = |name: &str| match find(MetricKind::Counter, name) {
        Some(DebugValue::Counter(n)) => *n,
        None => 0,
        other => panic!("{name}: {other:?}"),
    };
    let expected: [(&str, Figure); 8] = [
        ("cache_l2_hits_total", |c| c.l2.hits),
        ("cache_l2_misses_total", |c| c.l2.misses),
        ("cache_l2_decode_failures_total", |c| c.l2.decode_failures),
        ("cache_l2_writes_total", |c| c.l2.writes),
        ("cache_l2_errors_total", |c| c.l2.errors),
        ("cache_l2_timeouts_total", |c| c.l2.timeouts),
        ("cache_l2_skipped_total", |c| c.l2.skipped),
        ("cache_l2_lock_waits_total", |c| c.l2.lock_waits),
    ];
    for (name, figure) in expected {
        assert_eq!(counter(name), delta(figure), "{name}");
    }
    assert_eq!(
        (
            counter("cache_l2_hits_total"),
            counter("cache_l2_misses_total"),
            counter("cache_l2_decode_failures_total"),
            counter("cache_l2_writes_total"),
        ),
        (1, 1, 1, 2)
    );
    match find(MetricKind::Histogram, "cache_l2_read_seconds") {
        Some(DebugValue::Histogram(reads)) => {
            assert_eq!(reads.len(), 3, "one observation per completed read");
            assert!(reads.iter().all(|s| s.into_inner() > 0.0), "{reads:?}");
        }
        other => panic!("cache_l2_read_seconds: {other:?}"),
    }
    // The in-process figures of the same calls arrive too.
    assert_eq!(counter("cache_misses_total"), delta(|c| c.misses));
}
