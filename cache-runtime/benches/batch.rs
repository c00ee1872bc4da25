//! `#[cache_batch]` against its alternatives, in the same run: 100 ids of which 90 are
//! cached (10 records dropped before each call, outside the timing), through
//!
//! - `batch`: one `#[cache_batch]` call (90 lookups, one body call with the 10 missing);
//! - `single`: 100 calls of a single-id `#[cache_result]` function (90 hits, 10 body
//!   calls);
//! - `body`: the body alone for the 100 ids, no cache.
//!
//! The body stands for a database query: a round trip (`RTT`, spun, not slept, so the
//! figure is the CPU's) plus a cost per row.
//!
//! `cargo bench -p cache-runtime --bench batch -- --warm-up-time 1 --measurement-time 2`

use std::collections::HashMap;
use std::hint::black_box;
use std::time::{Duration, Instant};

use cache_runtime::{cache_batch, cache_result, global};
use criterion::{BatchSize, Criterion, criterion_group, criterion_main};

const RTT: Duration = Duration::from_micros(50);
const PER_ROW: Duration = Duration::from_micros(1);
const IDS: u64 = 100;
const MISSING: u64 = 10;

fn spin(d: Duration) {
    let until = Instant::now() + d;
    while Instant::now() < until {
        std::hint::spin_loop();
    }
}

fn value(id: u64) -> String {
    format!("row-{id}-value-of-forty-bytes-or-so-xxxxxxxx")
}

/// One query for many rows.
fn query(ids: &[u64]) -> HashMap<u64, String> {
    spin(RTT + PER_ROW * ids.len() as u32);
    ids.iter().map(|id| (*id, value(*id))).collect()
}

#[cache_batch("bench_batch", ttl = 600)]
fn rows(ids: &[u64]) -> HashMap<u64, String> {
    query(ids)
}

#[cache_result("bench_single_row", ttl = 600)]
fn row(id: u64) -> String {
    spin(RTT + PER_ROW);
    value(id)
}

/// Drops the last `MISSING` records of cache `name` (outside the timing).
fn drop_some(name: &str) {
    for id in IDS - MISSING..IDS {
        global().invalidate(name, &(id,));
    }
}

fn bench(c: &mut Criterion) {
    let ids: Vec<u64> = (0..IDS).collect();
    rows(&ids);
    for id in &ids {
        row(*id);
    }
    let mut g = c.benchmark_group("batch_100_ids_90_cached");
    g.bench_function("batch", |b| {
        b.iter_batched(
            || drop_some("bench_batch"),
            |()| black_box(rows(black_box(&ids))),
            BatchSize::PerIteration,
        );
    });
    g.bench_function("single", |b| {
        b.iter_batched(
            || drop_some("bench_single_row"),
            |()| {
                let all: Vec<String> = ids.iter().map(|id| row(black_box(*id))).collect();
                black_box(all)
            },
            BatchSize::PerIteration,
        );
    });
    g.bench_function("body", |b| b.iter(|| black_box(query(black_box(&ids)))));
    g.finish();
    let mut g = c.benchmark_group("batch_100_ids_all_cached");
    g.bench_function("batch", |b| b.iter(|| black_box(rows(black_box(&ids)))));
    g.bench_function("single", |b| {
        b.iter(|| {
            let all: Vec<String> = ids.iter().map(|id| row(black_box(*id))).collect();
            black_box(all)
        });
    });
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
