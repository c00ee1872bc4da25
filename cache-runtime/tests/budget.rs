//! The in-process tier's byte budget against the memory it really takes: a fill of many
//! distinct small entries (the case where per-entry bookkeeping dominates) must keep the
//! process's resident memory within 10% of `max_bytes`, and use the budget, not a fraction
//! of it. One test in this binary, so nothing else moves the resident-set figure.

mod common;

use cache_runtime::__private::{self as p, CacheSite, Lookup};
use cache_runtime::CacheRuntime;
use common::*;

/// Resident memory of this process in bytes (`/proc/self/statm`, Linux).
fn resident_bytes() -> u64 {
    let statm = std::fs::read_to_string("/proc/self/statm").expect("/proc/self/statm");
    let pages: u64 = statm
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .expect("resident pages in statm");
    pages * 4096
}

/// A synchronous cached call of key `k` in `rt`, returning a 40-byte value.
fn fill(rt: &CacheRuntime, site: &'static CacheSite, k: u64) {
    let value = || Ok::<String, String>(format!("value-{k:034}"));
    match p::lookup_in(rt, site, p::key(&(k,), &[]), adapter()) {
        Lookup::Hit(_) | Lookup::Refresh(..) => {}
        Lookup::Miss(t) => {
            t.run_sync(value).ok();
        }
    }
}

#[test]
fn a_fill_of_many_distinct_keys_stays_within_ten_percent_of_max_bytes() {
    const BUDGET: u64 = 16 << 20;
    static SITE: CacheSite = CacheSite::new(spec("budget_fill", 600_000));
    let rt = CacheRuntime::builder().max_bytes(BUDGET).build();
    // Warm the allocator and the runtime's own structures before the baseline.
    for k in 0..1_000 {
        fill(&rt, &SITE, k);
    }
    let before = resident_bytes();
    // Several times what fits, so the tier fills and then evicts on every insert.
    for k in 1_000..400_000 {
        fill(&rt, &SITE, k);
    }
    let grown = resident_bytes().saturating_sub(before);
    let stats = rt.stats();
    let cache = stats.cache("budget_fill").expect("stats");
    eprintln!(
        "resident growth {grown} B = {:.2}x max_bytes, {} entries, {} weighted bytes",
        grown as f64 / BUDGET as f64,
        stats.l1.entries,
        stats.l1.bytes
    );
    assert!(
        cache.evictions > 10_000,
        "the fill must overflow: {cache:?}"
    );
    assert!(
        stats.l1.bytes <= BUDGET,
        "weighted bytes over the budget: {:?}",
        stats.l1
    );
    assert!(
        stats.l1.bytes >= BUDGET * 9 / 10,
        "the budget is not used: {:?}",
        stats.l1
    );
    assert!(
        grown <= BUDGET + BUDGET / 10,
        "resident memory grew by {grown} bytes ({:.2}x max_bytes = {BUDGET}) holding {} entries",
        grown as f64 / BUDGET as f64,
        stats.l1.entries
    );
}
