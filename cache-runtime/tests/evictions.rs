//! Eviction events: every cause with real (short) TTLs, the key's readable form, and the
//! bounded queue that drops and counts what a slow reader has no room for.

mod common;

use std::sync::{Arc, Mutex};
use std::time::Duration;

use cache_runtime::__private::{self as p, CacheSite, Lookup, SiteSpec};
use cache_runtime::{CacheRuntime, Eviction, EvictionCause, Scope};
use common::*;

/// A synchronous cached call of key `k` in `rt`.
fn get(rt: &CacheRuntime, site: &'static CacheSite, k: u64) -> Res {
    match p::lookup_in(rt, site, p::key(&(k,), &[]), adapter()) {
        Lookup::Hit(v) | Lookup::Refresh(v, _) => v,
        Lookup::Miss(t) => t.run_sync(|| Ok::<String, String>(format!("value-{k:034}"))),
    }
}

/// A runtime whose listener records every event.
fn recording(max_bytes: u64) -> (CacheRuntime, Arc<Mutex<Vec<Eviction>>>) {
    let seen = Arc::new(Mutex::new(Vec::new()));
    let sink = Arc::clone(&seen);
    let rt = CacheRuntime::builder()
        .max_bytes(max_bytes)
        .on_evict(move |e| sink.lock().expect("events").push(e.clone()))
        .build();
    (rt, seen)
}

fn causes(seen: &Mutex<Vec<Eviction>>) -> Vec<(String, EvictionCause)> {
    seen.lock()
        .expect("computed")
        .iter()
        .map(|e| (e.key.clone(), e.cause))
        .collect()
}

#[test]
fn a_value_stored_over_a_live_one_is_replaced() {
    static SITE: CacheSite = CacheSite::new(spec("ev_replaced", 60_000));
    let (rt, seen) = recording(16 << 20);
    get(&rt, &SITE, 1).expect("computed");
    assert!(causes(&seen).is_empty());
    let _ = Scope::refresh().run_sync(|| get(&rt, &SITE, 1));
    assert_eq!(causes(&seen), [("(1)".to_owned(), EvictionCause::Replaced)]);
    assert_eq!(&*seen.lock().expect("events")[0].cache, "ev_replaced");
}

#[test]
fn an_entry_recomputed_past_its_ttl_is_expired() {
    static SITE: CacheSite = CacheSite::new(spec("ev_expired", 100));
    let (rt, seen) = recording(16 << 20);
    get(&rt, &SITE, 2).expect("computed");
    std::thread::sleep(Duration::from_millis(250));
    get(&rt, &SITE, 2).expect("computed");
    assert_eq!(causes(&seen), [("(2)".to_owned(), EvictionCause::Expired)]);
}

#[test]
fn key_cache_and_tag_invalidations_are_invalidated() {
    static SITE: CacheSite = CacheSite::new(spec("ev_invalidated", 60_000));
    let (rt, seen) = recording(16 << 20);
    get(&rt, &SITE, 3).expect("computed");
    assert!(rt.invalidate("ev_invalidated", &(3u64,)));
    get(&rt, &SITE, 4).expect("computed");
    rt.invalidate_all("ev_invalidated");
    assert_eq!(
        causes(&seen),
        [
            ("(3)".to_owned(), EvictionCause::Invalidated),
            ("(4)".to_owned(), EvictionCause::Invalidated)
        ]
    );
    // A tag's invalidation leaves the entry dead in the map: reported when it is replaced.
    match p::lookup_in(&rt, &SITE, p::key(&(5u64,), &[]), adapter()) {
        Lookup::Miss(t) => {
            t.with_tags(vec![p::tag("t5")])
                .run_sync(|| Ok::<String, String>("five".into()))
                .expect("computed");
        }
        _ => panic!("a first call misses"),
    }
    rt.invalidate_tag("t5");
    get(&rt, &SITE, 5).expect("computed");
    assert_eq!(
        causes(&seen).last(),
        Some(&("(5)".to_owned(), EvictionCause::Invalidated))
    );
}

#[test]
fn a_full_tier_evicts_for_capacity() {
    static SITE: CacheSite = CacheSite::new(spec("ev_capacity", 60_000));
    let (rt, seen) = recording(256 << 10);
    for k in 0..20_000 {
        get(&rt, &SITE, k).expect("computed");
    }
    let evictions = rt.stats().cache("ev_capacity").expect("stats").evictions;
    let seen = causes(&seen);
    assert!(evictions > 1000, "{evictions}");
    assert_eq!(seen.len() as u64, evictions);
    assert!(seen.iter().all(|(_, c)| *c == EvictionCause::Capacity));
}

#[test]
fn a_full_queue_drops_and_counts_events_without_blocking() {
    static SITE: CacheSite = CacheSite::new(spec("ev_queue", 60_000));
    let (builder, mut events) = CacheRuntime::builder().evictions(8);
    let rt = builder.build();
    for k in 0..100 {
        get(&rt, &SITE, k).expect("computed");
    }
    rt.invalidate_all("ev_queue");
    let mut got = Vec::new();
    while let Some(e) = events.try_recv() {
        got.push(e);
    }
    assert_eq!(got.len(), 8);
    assert!(got.iter().all(|e| e.cause == EvictionCause::Invalidated));
    let dropped = rt
        .stats()
        .cache("ev_queue")
        .expect("computed")
        .eviction_events_dropped;
    assert_eq!(dropped, 92);
    assert!(
        rt.prometheus().contains(
            "cache_eviction_events_dropped_total{namespace=\"app\",cache=\"ev_queue\"} 92"
        )
    );
}

/// A call of `k` that says whether it computed.
fn computed(rt: &CacheRuntime, site: &'static CacheSite, k: u64) -> bool {
    match p::lookup_in(rt, site, p::key(&(k,), &[]), adapter()) {
        Lookup::Hit(_) | Lookup::Refresh(..) => false,
        Lookup::Miss(t) => {
            t.run_sync(|| Ok::<String, String>(format!("v{k}")))
                .expect("computed");
            true
        }
    }
}

#[test]
fn tti_keeps_an_entry_read_often_and_expires_an_idle_one() {
    static SITE: CacheSite = CacheSite::new(SiteSpec {
        tti_ms: 200,
        ..spec("ev_idle", 60_000)
    });
    let (rt, seen) = recording(16 << 20);
    assert!(computed(&rt, &SITE, 6));
    // Read every 50 ms for 600 ms: three times the tti, never idle.
    for _ in 0..12 {
        std::thread::sleep(Duration::from_millis(50));
        assert!(!computed(&rt, &SITE, 6), "an entry read every 50 ms stays");
    }
    std::thread::sleep(Duration::from_millis(300));
    assert!(
        computed(&rt, &SITE, 6),
        "idle 300 ms past a 200 ms tti: recomputed"
    );
    assert_eq!(causes(&seen), [("(6)".to_owned(), EvictionCause::Idle)]);
    assert!(
        !computed(&rt, &SITE, 6),
        "the recomputed entry is fresh again"
    );
}
