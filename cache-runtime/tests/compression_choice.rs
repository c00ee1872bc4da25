//! zstd against lz4 on the example API's real payloads: the entries one example-api
//! process (default seed) wrote to Redis for each of its caches, kept in
//! `tests/data/payloads/` (envelopes, with the Redis key each was written under in
//! `keys.txt`). Asserts the byte figures the choice rests on; prints sizes and times
//! (meaningful with `--release`), which BENCHMARKS.md records:
//!
//! `nice -n 19 cargo test -p cache-runtime --release --features redis --test compression_choice -- --nocapture`

#![cfg(feature = "redis")]

use std::path::Path;
use std::time::Instant;

use cache_runtime::__private::{open_envelope, seal_envelope};

/// What the envelope before format 2 added to a value: 35 header bytes (no tags: the
/// example API's analytics caches are untagged, except `analytics_summary`'s one tag).
const OLD_HEADER: usize = 35;

/// `(cache name, Redis key, the value's MessagePack bytes)` of every captured entry.
fn payloads() -> Vec<(String, String, Vec<u8>)> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/payloads");
    let index = std::fs::read_to_string(dir.join("keys.txt")).expect("keys.txt");
    index
        .lines()
        .filter_map(|l| l.split_once(' '))
        .map(|(file, key)| {
            let bytes = std::fs::read(dir.join(file)).expect("payload file");
            let value = open_envelope(key, &bytes, &[]).expect("a captured envelope opens");
            let cache = key.split(':').nth(1).expect("cache name").to_owned();
            (cache, key.to_owned(), value)
        })
        .collect()
}

/// Microseconds of one run of `f`: the best of 15 batches of 40 runs, so a batch in which
/// the (shared) machine preempted the test does not count.
fn micros(mut f: impl FnMut()) -> f64 {
    (0..15)
        .map(|_| {
            let start = Instant::now();
            for _ in 0..40 {
                f();
            }
            start.elapsed().as_secs_f64() * 1e6 / 40.0
        })
        .fold(f64::INFINITY, f64::min)
}

#[test]
fn zstd_halves_what_the_analytics_caches_store() {
    let payloads = payloads();
    assert!(payloads.len() >= 10, "{} payloads", payloads.len());
    println!(
        "{:<22} {:>6} {:>7} {:>7} {:>7} {:>9} {:>9} {:>9} {:>9}",
        "cache", "raw", "zstd-1", "zstd-3", "lz4", "z1 c+d us", "z3 c+d us", "lz4 c+d us", "stored"
    );
    let (mut raw_total, mut z1_total, mut z3_total, mut lz4_total) = (0, 0, 0, 0);
    let (mut old_analytics, mut new_analytics) = (0, 0);
    for (cache, key, raw) in &payloads {
        let z1 = zstd::bulk::compress(raw, 1).expect("zstd");
        let z3 = zstd::bulk::compress(raw, 3).expect("zstd");
        let lz4 = lz4_flex::compress_prepend_size(raw);
        // Contexts reused, as the runtime reuses them (one per thread).
        let zstd_time = |level| {
            let mut c = zstd::bulk::Compressor::new(level).expect("context");
            let mut d = zstd::bulk::Decompressor::new().expect("context");
            micros(|| {
                let z = c.compress(raw).expect("zstd");
                std::hint::black_box(d.decompress(&z, raw.len()).expect("inflate"));
            })
        };
        let (t1, t3) = (zstd_time(1), zstd_time(3));
        let tl = micros(|| {
            let c = lz4_flex::compress_prepend_size(raw);
            std::hint::black_box(lz4_flex::decompress_size_prepended(&c).expect("inflate"));
        });
        // What this runtime stores now (signed, default threshold) against format 1.
        let stored = seal_envelope(key, raw, &[b"k"], 1024, false)
            .expect("sealed")
            .len();
        println!(
            "{cache:<22} {:>6} {:>7} {:>7} {:>7} {t1:>9.1} {t3:>9.1} {tl:>10.1} {stored:>9}",
            raw.len(),
            z1.len(),
            z3.len(),
            lz4.len()
        );
        raw_total += raw.len();
        z1_total += z1.len();
        z3_total += z3.len();
        lz4_total += lz4.len();
        if cache.starts_with("demo_") || cache.starts_with("analytics") {
            old_analytics += OLD_HEADER + raw.len();
            new_analytics += stored;
        }
    }
    println!(
        "total {raw_total} raw: zstd-1 {z1_total}, zstd-3 {z3_total}, lz4 {lz4_total}; analytics caches stored {old_analytics} -> {new_analytics} bytes"
    );
    // The choice: zstd-1 saves clearly more than lz4 on these payloads...
    assert!(
        z1_total * 10 < lz4_total * 8,
        "zstd-1 {z1_total} vs lz4 {lz4_total}"
    );
    // ...and level 3 adds little to it.
    assert!(
        z3_total * 100 > z1_total * 90,
        "zstd-3 {z3_total} vs zstd-1 {z1_total}"
    );
    // The target: the analytics caches store at most half of what format 1 stored.
    assert!(
        new_analytics * 2 <= old_analytics,
        "analytics caches: {old_analytics} -> {new_analytics} bytes"
    );
}
