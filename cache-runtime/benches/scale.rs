//! The in-process tier at scale: many keys read at random, as a service reads them, where
//! the hot-key bench (`l1`) hides what an entry costs in memory and in cache misses.
//!
//! `cargo bench -p cache-runtime --bench scale`
//!
//! For 10k, 100k and 1M entries (u64 key, 40-byte `String` value) it fills each store
//! through its usual front door (`#[cache_result]`, `cached`'s `#[cached]` with a TTL
//! (unbounded) and its bounded TTL store (`size` and `time`), raw quick_cache, moka), each in a fresh process of this binary, and reports per entry the
//! bytes held (resident set growth, and live heap bytes by a counting allocator), the fill
//! time, and the time of a hit on a key drawn at random (keys pre-generated with a fixed
//! seed; median of three rounds), with ratios against raw quick_cache and `cached` from
//! the same run. `SCALE_SIZES=10000,100000` picks the sizes.

use std::alloc::System;
use std::hint::black_box;
use std::process::Command;
use std::time::{Duration, Instant};

use stats_alloc::{INSTRUMENTED_SYSTEM, Region, StatsAlloc};

#[global_allocator]
static GLOBAL: &StatsAlloc<System> = &INSTRUMENTED_SYSTEM;

/// Random-key hits timed per round.
const HITS: usize = 1_000_000;
/// Rounds of hits; the median is reported.
const ROUNDS: usize = 3;

fn value(k: u64) -> String {
    format!("value-{k:034}")
}

#[cache_runtime::cache_result("scale_ours", ttl = 3600)]
fn ours(k: u64) -> String {
    value(k)
}

#[cached::proc_macro::cached(ttl_secs = 3600)]
fn theirs(k: u64) -> String {
    value(k)
}

/// A store under test: fill one key, read one key.
trait Store {
    fn fill(&self, k: u64);
    fn hit(&self, k: u64) -> usize;
    /// The bytes its budget charges for what it holds (0: it has no byte budget).
    fn charged(&self) -> u64 {
        0
    }
}

struct Ours;
impl Store for Ours {
    fn fill(&self, k: u64) {
        black_box(ours(k));
    }
    fn hit(&self, k: u64) -> usize {
        ours(k).len()
    }
    fn charged(&self) -> u64 {
        cache_runtime::global().stats().l1.bytes
    }
}

struct Theirs;
impl Store for Theirs {
    fn fill(&self, k: u64) {
        black_box(theirs(k));
    }
    fn hit(&self, k: u64) -> usize {
        theirs(k).len()
    }
}

/// `cached`'s bounded store with a TTL (`#[cached(size = .., ttl_secs = ..)]` expands to
/// this store behind a mutex): the `cached` a service with a memory bound would use.
struct TheirsSized(std::sync::Mutex<cached::LruTtlCache<u64, String>>);
impl Store for TheirsSized {
    fn fill(&self, k: u64) {
        use cached::Cached;
        self.0.lock().expect("not poisoned").cache_set(k, value(k));
    }
    fn hit(&self, k: u64) -> usize {
        use cached::Cached;
        let mut store = self.0.lock().expect("not poisoned");
        store.cache_get(&k).cloned().map_or(0, |v| v.len())
    }
}

struct Quick(quick_cache::sync::Cache<u64, String>);
impl Store for Quick {
    fn fill(&self, k: u64) {
        self.0.insert(k, value(k));
    }
    fn hit(&self, k: u64) -> usize {
        self.0.get(&k).map_or(0, |v| v.len())
    }
}

struct Moka(moka::sync::Cache<u64, String>);
impl Store for Moka {
    fn fill(&self, k: u64) {
        self.0.insert(k, value(k));
    }
    fn hit(&self, k: u64) -> usize {
        self.0.get(&k).map_or(0, |v| v.len())
    }
}

fn resident_bytes() -> u64 {
    let statm = std::fs::read_to_string("/proc/self/statm").unwrap_or_default();
    let pages: u64 = statm
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    pages * 4096
}

/// CPU time this thread has used, in ns (`/proc/thread-self/stat`: utime + stime, 10 ms
/// ticks): unlike the wall clock, not stretched by other processes on a loaded machine.
fn thread_cpu_ns() -> u64 {
    let stat = std::fs::read_to_string("/proc/thread-self/stat").unwrap_or_default();
    // After the command's closing parenthesis the fields start at the 3rd (state); utime
    // and stime are the 14th and 15th.
    let rest = stat.rsplit_once(')').map_or("", |r| r.1);
    let ticks: u64 = rest
        .split_whitespace()
        .skip(11)
        .take(2)
        .filter_map(|f| f.parse::<u64>().ok())
        .sum();
    ticks * 10_000_000
}

/// One store at one size, in this process: prints `rss_b heap_b fill_ns hit_ns charged_b
/// hit_cpu_ns`, per entry (hits: the median round).
fn child(store: &str, n: u64) {
    let keys: Vec<u64> = {
        let mut rng = fastrand::Rng::with_seed(0x5ca1e);
        (0..HITS).map(|_| rng.u64(0..n)).collect()
    };
    // Bounded stores get headroom: their capacity is approximate, and a read that misses
    // would not be a hit.
    let room = n + n / 8 + 16;
    let store: Box<dyn Store> = match store {
        "ours" => {
            cache_runtime::CacheRuntime::builder()
                .max_bytes(8 << 30)
                .ttl_jitter(0.0)
                .install()
                .expect("the first runtime of this process");
            Box::new(Ours)
        }
        "cached" => Box::new(Theirs),
        "cached_sized" => Box::new(TheirsSized(std::sync::Mutex::new(
            cached::LruTtlCache::new(room as usize, Duration::from_secs(3600)),
        ))),
        "quick_cache" => Box::new(Quick(quick_cache::sync::Cache::new(room as usize))),
        "moka" => Box::new(Moka(
            moka::sync::Cache::builder().max_capacity(room).build(),
        )),
        other => panic!("unknown store {other}"),
    };
    // The first call of each store sets up what every store keeps once (statics, shards).
    store.fill(n);
    let rss = resident_bytes();
    let region = Region::new(GLOBAL);
    let began = Instant::now();
    for k in 0..n {
        store.fill(k);
    }
    let fill_ns = began.elapsed().as_nanos() as f64 / n as f64;
    let heap = region.change();
    // The charge of all n + 1 entries (the first call's too), per entry.
    let charged_b = store.charged() as f64 / (n + 1) as f64;
    let heap_b = (heap.bytes_allocated as f64 - heap.bytes_deallocated as f64) / n as f64;
    let rss_b = resident_bytes().saturating_sub(rss) as f64 / n as f64;
    let mut rounds: Vec<(f64, f64)> = (0..ROUNDS)
        .map(|_| {
            let (began, cpu) = (Instant::now(), thread_cpu_ns());
            let mut sum = 0;
            for &k in &keys {
                sum += store.hit(black_box(k));
            }
            assert_eq!(sum, keys.len() * 40, "every read was a hit");
            let per = |ns: f64| ns / keys.len() as f64;
            let cpu = per(thread_cpu_ns().saturating_sub(cpu) as f64);
            (per(began.elapsed().as_nanos() as f64), cpu)
        })
        .collect();
    rounds.sort_by(|a, b| a.0.total_cmp(&b.0));
    let mut cpu: Vec<f64> = rounds.iter().map(|r| r.1).collect();
    cpu.sort_by(f64::total_cmp);
    println!(
        "{rss_b:.0} {heap_b:.0} {fill_ns:.0} {:.1} {charged_b:.0} {:.1}",
        rounds[ROUNDS / 2].0,
        cpu[ROUNDS / 2]
    );
}

fn main() {
    if let Ok(spec) = std::env::var("SCALE_CHILD") {
        let (store, n) = spec.split_once(':').expect("store:size");
        child(store, n.parse().expect("size"));
        return;
    }
    // `cargo bench` passes `--bench`; any other argument (a filter) is not used here.
    let sizes: Vec<u64> = std::env::var("SCALE_SIZES")
        .unwrap_or_else(|_| "10000,100000,1000000".into())
        .split(',')
        .map(|s| s.trim().parse().expect("a size"))
        .collect();
    let exe = std::env::current_exe().expect("this binary");
    let stores = ["ours", "cached", "cached_sized", "quick_cache", "moka"];
    println!(
        "| entries | store | resident B/entry | heap B/entry | charged B/entry | fill ns/entry | random hit ns | hit / quick_cache | hit / cached | hit CPU ns | CPU / quick_cache | CPU / cached |"
    );
    println!("|---|---|---|---|---|---|---|---|---|---|---|---|");
    for n in sizes {
        let rows: Vec<(&str, Vec<f64>)> = stores
            .iter()
            .map(|store| {
                let out = Command::new(&exe)
                    .env("SCALE_CHILD", format!("{store}:{n}"))
                    .output()
                    .expect("run a child");
                assert!(out.status.success(), "{store} at {n}: {out:?}");
                let line = String::from_utf8_lossy(&out.stdout);
                let fields = line
                    .split_whitespace()
                    .map(|f| f.parse().expect("a figure"))
                    .collect();
                (*store, fields)
            })
            .collect();
        let field =
            |name: &str, i: usize| rows.iter().find(|r| r.0 == name).map_or(1.0, |r| r.1[i]);
        let (quick, cached) = (field("quick_cache", 3), field("cached", 3));
        let (quick_cpu, cached_cpu) = (field("quick_cache", 5), field("cached", 5));
        for (store, f) in &rows {
            let charged = if f[4] > 0.0 {
                format!("{:.0}", f[4])
            } else {
                "-".into()
            };
            println!(
                "| {n} | {store} | {:.0} | {:.0} | {charged} | {:.0} | {:.1} | {:.2}x | {:.2}x | {:.1} | {:.2}x | {:.2}x |",
                f[0],
                f[1],
                f[2],
                f[3],
                f[3] / quick,
                f[3] / cached,
                f[5],
                f[5] / quick_cpu,
                f[5] / cached_cpu
            );
        }
    }
}
