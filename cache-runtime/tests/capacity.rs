//! Per-cache capacity: a capped cache filled far past its budget stays within it (and one
//! entry) and evicts only its own entries; the builder's capacity beats the attribute's.

mod common;

use cache_runtime::__private::{self as p, CacheSite, Lookup, SiteSpec};
use cache_runtime::{CacheRuntime, EvictionCause};
use common::*;
use std::sync::{Arc, Mutex};

fn get(rt: &CacheRuntime, site: &'static CacheSite, k: u64) {
    match p::lookup_in(rt, site, p::key(&(k,), &[]), adapter()) {
        Lookup::Hit(_) | Lookup::Refresh(..) => {}
        Lookup::Miss(t) => {
            t.run_sync(|| Ok::<String, String>(format!("value-{k:034}")))
                .expect("computed");
        }
    }
}

const CAPACITY: u64 = 256 << 10;

#[test]
fn a_hot_capped_cache_stays_within_its_capacity_and_evicts_only_its_own() {
    static HOT: CacheSite = CacheSite::new(SiteSpec {
        capacity_bytes: CAPACITY,
        ..spec("cap_hot", 600_000)
    });
    static COLD: CacheSite = CacheSite::new(spec("cap_cold", 600_000));
    let seen = Arc::new(Mutex::new(Vec::new()));
    let sink = Arc::clone(&seen);
    let rt = CacheRuntime::builder()
        .max_bytes(16 << 20)
        .on_evict(move |e| sink.lock().expect("events").push(e.clone()))
        .build();
    for k in 0..1_000 {
        get(&rt, &COLD, k);
    }
    let cold_before = rt.stats().cache("cap_cold").expect("stats").clone();
    // Far past its capacity: about 40x.
    let mut most = 0;
    let mut entry = 0;
    for k in 0..50_000 {
        get(&rt, &HOT, k);
        if k % 64 != 0 {
            continue;
        }
        let hot = rt.stats();
        let hot = hot.cache("cap_hot").expect("stats");
        most = most.max(hot.bytes);
        if entry == 0 && hot.entries > 0 {
            entry = hot.bytes / hot.entries;
        }
    }
    let stats = rt.stats();
    let hot = stats.cache("cap_hot").expect("stats");
    let cold = stats.cache("cap_cold").expect("stats");
    eprintln!("hot: {hot:?}\nmost {most} B, one entry {entry} B");
    assert_eq!(hot.capacity_bytes, CAPACITY);
    assert!(hot.evictions > 40_000, "{hot:?}");
    assert!(most <= CAPACITY + entry, "{most} > {CAPACITY} + {entry}");
    assert!(hot.bytes > CAPACITY / 2, "the budget is used: {hot:?}");
    assert_eq!(cold.evictions, 0);
    assert_eq!(cold.entries, cold_before.entries);
    assert_eq!(cold.capacity_bytes, 0);
    // Every event is the hot cache's, for capacity.
    let events = std::mem::take(&mut *seen.lock().expect("events"));
    assert_eq!(events.len() as u64, hot.evictions);
    assert!(
        events
            .iter()
            .all(|e| &*e.cache == "cap_hot" && e.cause == EvictionCause::Capacity)
    );
    // Its entries are still served, and invalidated.
    for k in 0..1_000 {
        get(&rt, &COLD, k);
    }
    assert_eq!(
        rt.stats().cache("cap_cold").expect("stats").misses,
        cold_before.misses
    );
    rt.invalidate_all("cap_hot");
    assert_eq!(rt.stats().cache("cap_hot").expect("stats").entries, 0);
    assert!(rt.prometheus().contains(&format!(
        "cache_capacity_bytes{{namespace=\"app\",cache=\"cap_hot\"}} {CAPACITY}"
    )));
}

#[test]
fn the_builders_capacity_beats_the_attributes() {
    static SITE: CacheSite = CacheSite::new(SiteSpec {
        capacity_bytes: CAPACITY,
        ..spec("cap_builder", 600_000)
    });
    let rt = CacheRuntime::builder()
        .cache_capacity("cap_builder", 2 * CAPACITY)
        .build();
    get(&rt, &SITE, 1);
    let stats = rt.stats();
    assert_eq!(
        stats.cache("cap_builder").expect("stats").capacity_bytes,
        2 * CAPACITY
    );
    // A capped cache's entries are not in the shared map's figures.
    assert_eq!(stats.l1.entries, 0);
}
