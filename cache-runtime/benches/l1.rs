//! The in-process hit path, the miss path and the timer, each against a reference measured
//! in the same run (the `cached` crate, raw quick_cache and moka, no cache at all).
//!
//! `cargo bench -p cache-runtime --bench l1`
//!
//! With `L1_COUNT=<variant>:<calls>` in the environment the binary makes that many calls
//! of one variant and exits, without criterion: run it under
//! `valgrind --tool=callgrind` at two call counts and the difference is the instructions
//! per call, repeatable on a loaded machine (`benches/callgrind.sh` does that for every
//! variant; see `benches/NOTES.md`).
//!
//! With `L1_MIN=timer` it runs the timer group's variants in turn, many short rounds each,
//! and prints each one's best round in ns per call: the least disturbed figure on a
//! machine other builds share (an additive disturbance only ever raises a round).

use std::hint::black_box;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use cache_runtime::{cache_result, performance_timer};
use criterion::{BenchmarkId, Criterion, Throughput, criterion_group};

/// The function every variant caches: a key of a number and a short string, a short
/// String value (the shape of the design notes' measurements).
fn body(id: u64, q: &str) -> String {
    format!("{q}-{id}-value-of-forty-bytes-or-so-xxxxxxxx")
}

async fn uncached(id: u64, q: String) -> String {
    body(id, &q)
}

#[cache_result("bench_hit", ttl = 600)]
async fn ours(id: u64, q: String) -> String {
    body(id, &q)
}

#[cached::proc_macro::cached(ttl_secs = 600)]
async fn theirs(id: u64, q: String) -> String {
    body(id, &q)
}

#[cache_result("bench_miss", ttl = 600)]
async fn ours_miss(id: u64, q: String) -> String {
    body(id, &q)
}

#[cached::proc_macro::cached(ttl_secs = 600)]
async fn theirs_miss(id: u64, q: String) -> String {
    body(id, &q)
}

#[performance_timer("bench_timer")]
async fn timed(id: u64, q: String) -> String {
    body(id, &q)
}

/// The same timer without its `tracing` span: what spans cost with no subscriber.
#[performance_timer("bench_timer_nospan", span = false)]
async fn timed_nospan(id: u64, q: String) -> String {
    body(id, &q)
}

#[performance_timer("bench_timed_hit")]
#[cache_result("bench_timed_hit", ttl = 600)]
async fn timed_ours(id: u64, q: String) -> String {
    body(id, &q)
}

/// The plain hit without its `tracing` span: what the span costs with no subscriber.
#[cache_result("bench_hit_nospan", ttl = 600, span = false)]
async fn ours_nospan(id: u64, q: String) -> String {
    body(id, &q)
}

#[cache_result("bench_tags_hit", ttl = 600, tags = ["posts", format!("post:{id}")])]
async fn tagged_ours(id: u64, q: String) -> String {
    body(id, &q)
}

// One function per option that a hit passes through (issue 13: each within 5 ns of the
// plain hit).
#[cache_result("bench_unless_hit", ttl = 600, unless = |v| v.is_empty())]
async fn unless_ours(id: u64, q: String) -> String {
    body(id, &q)
}

/// `only_if_slower = "1ms"` stores only a slow computation: the first (the warming call)
/// sleeps past it, so the calls measured are hits.
#[cache_result("bench_only_if_slower_hit", ttl = 600, only_if_slower = "1ms")]
async fn only_if_slower_ours(id: u64, q: String) -> String {
    static FIRST: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(true);
    if FIRST.swap(false, Ordering::Relaxed) {
        std::thread::sleep(Duration::from_millis(5));
    }
    body(id, &q)
}

#[cache_result("bench_ttl_from_hit", ttl = 600, ttl_from = |v| Duration::from_secs(60 + v.len() as u64))]
async fn ttl_from_ours(id: u64, q: String) -> String {
    body(id, &q)
}

#[cache_result("bench_hard_timeout_hit", ttl = 600, hard_timeout = "2s")]
async fn hard_timeout_ours(id: u64, q: String) -> Result<String, cache_runtime::Timeout> {
    Ok(body(id, &q))
}

#[cache_result(
    "bench_soft_timeout_hit",
    ttl = 600,
    stale_if_error = "1h",
    soft_timeout = "50ms"
)]
async fn soft_timeout_ours(id: u64, q: String) -> Result<String, cache_runtime::Timeout> {
    Ok(body(id, &q))
}

#[cache_result("bench_tti_hit", ttl = 600, tti = "5m")]
async fn tti_ours(id: u64, q: String) -> String {
    body(id, &q)
}

#[cache_result("bench_capacity_hit", ttl = 600, capacity = "16MiB")]
async fn capacity_ours(id: u64, q: String) -> String {
    body(id, &q)
}

// The sync variants take the argument by value, as the async ones must: every call
// compared pays the same clone.
#[allow(clippy::needless_pass_by_value)]
fn uncached_sync(id: u64, q: String) -> String {
    body(id, &q)
}

#[cache_result("bench_hit_sync", ttl = 600)]
fn ours_sync(id: u64, q: String) -> String {
    body(id, &q)
}

#[allow(clippy::needless_pass_by_value)]
#[cached::proc_macro::cached(ttl_secs = 600)]
fn theirs_sync(id: u64, q: String) -> String {
    body(id, &q)
}

#[performance_timer("bench_timer_sync")]
fn timed_sync(id: u64, q: String) -> String {
    body(id, &q)
}

#[performance_timer("bench_timer_sync_nospan", span = false)]
fn timed_sync_nospan(id: u64, q: String) -> String {
    body(id, &q)
}

/// One benchmark per `id => call` in group `g`, each timing `call`.
macro_rules! bench_calls {
    ($g:ident, $($id:literal => $call:expr,)*) => {
        $($g.bench_function($id, |b| b.iter(|| $call));)*
    };
}

/// Drives `fut` to completion where it was built, as a parent polls an `.await`ed future
/// inside its own state, with a no-op waker: the futures measured here never wait on I/O,
/// so this measures them and not an executor.
macro_rules! in_place {
    ($fut:expr) => {{
        let mut fut = std::pin::pin!($fut);
        let mut cx = std::task::Context::from_waker(std::task::Waker::noop());
        loop {
            if let std::task::Poll::Ready(v) = fut.as_mut().poll(&mut cx) {
                break v;
            }
            std::hint::spin_loop();
        }
    }};
}

/// [`in_place`] after moving the future into this frame, as a spawn moves it into its
/// task (the `awaited/` variants do without the move).
fn run<F: std::future::Future>(fut: F) -> F::Output {
    in_place!(fut)
}

/// What every cache in these groups pays on a hit besides its lookup: the caller's clone of
/// `q` for the call (dropped after it) and the clone of the stored value it returns. No
/// cache's hit can cost less.
#[inline(never)]
fn clones_alone(q: &str, stored: &str) -> String {
    let argument = (black_box(7u64), q.to_owned());
    let out = stored.to_owned();
    drop(black_box(argument));
    out
}

/// A raw quick_cache holding the value of key `(7, q)`: the floor of an in-process hit.
fn raw_quick(q: &str) -> quick_cache::sync::Cache<(u64, String), String> {
    let quick = quick_cache::sync::Cache::new(1000);
    quick.insert((7, q.to_owned()), body(7, q));
    quick
}

/// Charges every entry of [`raw_quick_budget`] what our tier charges a small entry
/// (`benches/NOTES.md`, "The byte budget": about 290 bytes), so that a fill of fresh keys
/// holds as many entries as ours and evicts as often.
#[derive(Clone)]
struct SmallEntryWeight;

impl quick_cache::Weighter<(u64, String), String> for SmallEntryWeight {
    fn weight(&self, _key: &(u64, String), _val: &String) -> u64 {
        290
    }
}

/// A raw quick_cache with our default byte budget, for the miss's floor: storing a fresh
/// key in a full cache (its eviction included) without a lookup, a flight or a weigh.
fn raw_quick_budget() -> quick_cache::sync::Cache<(u64, String), String, SmallEntryWeight> {
    let budget = cache_runtime::DEFAULT_MAX_BYTES;
    quick_cache::sync::Cache::with_weighter((budget / 290) as usize, budget, SmallEntryWeight)
}

/// A raw moka sync cache holding the value of key `(7, q)`, with a TTL as ours has.
fn raw_moka_sync(q: &str) -> moka::sync::Cache<(u64, String), String> {
    let moka = moka::sync::Cache::builder()
        .max_capacity(1000)
        .time_to_live(Duration::from_secs(600))
        .build();
    moka.insert((7, q.to_owned()), body(7, q));
    moka
}

fn async_hit(c: &mut Criterion) {
    let q = "analytics".to_string();
    // Warm every cache.
    run(async {
        ours(7, q.clone()).await;
        theirs(7, q.clone()).await;
    });
    let quick = raw_quick(&q);
    let moka_sync = raw_moka_sync(&q);
    let moka_future: moka::future::Cache<(u64, String), String> = moka::future::Cache::builder()
        .max_capacity(1000)
        .time_to_live(Duration::from_secs(600))
        .build();
    run(moka_future.insert((7, q.clone()), body(7, &q)));

    let stored = body(7, &q);
    let mut g = c.benchmark_group("async_hit");
    bench_calls! { g,
        "no_cache_floor" => run(uncached(black_box(7), q.clone())),
        "clones_alone" => run(async { clones_alone(&q, &stored) }),
        "cache_result" => run(ours(black_box(7), q.clone())),
        "cached_crate" => run(theirs(black_box(7), q.clone())),
        "raw_quick_cache_get" => run(async { quick.get(&(black_box(7), q.clone())) }),
        "raw_moka_sync_get" => run(async { moka_sync.get(&(black_box(7), q.clone())) }),
        "raw_moka_future_get" => run(moka_future.get(&(black_box(7), q.clone()))),
        "awaited/no_cache_floor" => in_place!(uncached(black_box(7), q.clone())),
        "awaited/cache_result" => in_place!(ours(black_box(7), q.clone())),
        "awaited/cached_crate" => in_place!(theirs(black_box(7), q.clone())),
    }
    g.finish();
}

fn sync_hit(c: &mut Criterion) {
    let q = "analytics".to_string();
    ours_sync(7, q.clone());
    theirs_sync(7, q.clone());
    let quick = raw_quick(&q);
    let stored = body(7, &q);
    let mut g = c.benchmark_group("sync_hit");
    bench_calls! { g,
        "no_cache_floor" => uncached_sync(black_box(7), q.clone()),
        "clones_alone" => clones_alone(&q, &stored),
        "cache_result" => ours_sync(black_box(7), q.clone()),
        "cached_crate" => theirs_sync(black_box(7), q.clone()),
        "raw_quick_cache_get" => quick.get(&(black_box(7), q.clone())),
    }
    g.finish();
}

/// Options that change the hit path, each against the plain hit in the same run.
fn hit_options(c: &mut Criterion) {
    let q = "analytics".to_string();
    run(async {
        ours(7, q.clone()).await;
        ours_nospan(7, q.clone()).await;
        tagged_ours(7, q.clone()).await;
        timed_ours(7, q.clone()).await;
        unless_ours(7, q.clone()).await;
        only_if_slower_ours(7, q.clone()).await;
        ttl_from_ours(7, q.clone()).await;
        let _ = hard_timeout_ours(7, q.clone()).await;
        let _ = soft_timeout_ours(7, q.clone()).await;
        tti_ours(7, q.clone()).await;
        capacity_ours(7, q.clone()).await;
    });
    let mut g = c.benchmark_group("hit_options");
    bench_calls! { g,
        "plain" => run(ours(black_box(7), q.clone())),
        "tags" => run(tagged_ours(black_box(7), q.clone())),
        "unless" => run(unless_ours(black_box(7), q.clone())),
        "only_if_slower" => run(only_if_slower_ours(black_box(7), q.clone())),
        "ttl_from" => run(ttl_from_ours(black_box(7), q.clone())),
        "hard_timeout" => run(hard_timeout_ours(black_box(7), q.clone())),
        "soft_timeout" => run(soft_timeout_ours(black_box(7), q.clone())),
        "tti" => run(tti_ours(black_box(7), q.clone())),
        "capacity" => run(capacity_ours(black_box(7), q.clone())),
        "performance_timer" => run(timed_ours(black_box(7), q.clone())),
        "awaited/plain" => in_place!(ours(black_box(7), q.clone())),
        "awaited/plain_nospan" => in_place!(ours_nospan(black_box(7), q.clone())),
        "awaited/performance_timer" => in_place!(timed_ours(black_box(7), q.clone())),
    }
    g.finish();
}

/// Two threads calling one hot key; throughput in calls per second.
fn hot_key_two_threads(c: &mut Criterion) {
    let mut g = c.benchmark_group("hot_key_2_threads");
    g.throughput(Throughput::Elements(1));
    let q = "analytics".to_string();
    run(async {
        ours(8, q.clone()).await;
        theirs(8, q.clone()).await;
    });
    for name in ["cache_result", "cached_crate"] {
        g.bench_function(BenchmarkId::from_parameter(name), |b| {
            b.iter_custom(|iters| {
                let per_thread = iters.div_ceil(2);
                let start = Arc::new(std::sync::Barrier::new(2));
                let handles: Vec<_> = (0..2)
                    .map(|_| {
                        let start = Arc::clone(&start);
                        let q = q.clone();
                        std::thread::spawn(move || {
                            // A real executor per thread: a contended lock must park and
                            // be woken, as it would in a service.
                            let rt = tokio::runtime::Builder::new_current_thread()
                                .build()
                                .expect("tokio runtime");
                            start.wait();
                            let t = Instant::now();
                            rt.block_on(async {
                                for _ in 0..per_thread {
                                    if name == "cache_result" {
                                        black_box(ours(8, q.clone()).await);
                                    } else {
                                        black_box(theirs(8, q.clone()).await);
                                    }
                                }
                            });
                            t.elapsed()
                        })
                    })
                    .collect();
                handles
                    .into_iter()
                    .map(|h| h.join().expect("bench thread"))
                    .max()
                    .unwrap_or_default()
            });
        });
    }
    g.finish();
}

/// A miss (compute, encode for the weight, store, single-flight bookkeeping) against
/// running the body directly.
fn miss(c: &mut Criterion) {
    let q = "analytics".to_string();
    let next = AtomicU64::new(1_000_000);
    let quick = raw_quick_budget();
    let mut g = c.benchmark_group("miss");
    bench_calls! { g,
        "body_directly" => run(uncached(next.fetch_add(1, Ordering::Relaxed), q.clone())),
        "cache_result_miss" => run(ours_miss(next.fetch_add(1, Ordering::Relaxed), q.clone())),
        "cached_crate_miss" => run(theirs_miss(next.fetch_add(1, Ordering::Relaxed), q.clone())),
        "raw_quick_cache_fill" => {
            let id = next.fetch_add(1, Ordering::Relaxed);
            let v = body(id, &q);
            quick.insert((id, q.clone()), v.clone());
            v
        },
    }
    g.finish();
}

fn timer(c: &mut Criterion) {
    let q = "analytics".to_string();
    let mut g = c.benchmark_group("timer");
    bench_calls! { g,
        "untimed" => run(uncached(black_box(7), q.clone())),
        "performance_timer" => run(timed(black_box(7), q.clone())),
        "awaited/untimed" => in_place!(uncached(black_box(7), q.clone())),
        "awaited/performance_timer" => in_place!(timed(black_box(7), q.clone())),
        "awaited/performance_timer_nospan" => in_place!(timed_nospan(black_box(7), q.clone())),
        "untimed_sync" => uncached_sync(black_box(7), q.clone()),
        "performance_timer_sync" => timed_sync(black_box(7), q.clone()),
        "performance_timer_sync_nospan" => timed_sync_nospan(black_box(7), q.clone()),
        "awaited/nested_pair_nospan" => in_place!(timed_parent(black_box(7), q.clone())),
        "nested_pair_sync_nospan" => timed_sync_parent(black_box(7), q.clone()),
    }
    g.finish();
}

/// A timed call's parent: one more timed call inside it, so the child's end adds to this
/// timer's table of children (`timer/children.rs`).
#[performance_timer("bench_timer_parent", span = false)]
async fn timed_parent(id: u64, q: String) -> String {
    timed_nospan(id, q).await
}

#[performance_timer("bench_timer_sync_parent", span = false)]
fn timed_sync_parent(id: u64, q: String) -> String {
    timed_sync_nospan(id, q)
}

/// `L1_MIN=timer`: the timer group's variants in turn, `ROUNDS` rounds of `CALLS` calls
/// each, and each variant's best round; true when it ran.
fn min_mode() -> bool {
    const ROUNDS: usize = 60;
    const CALLS: u32 = 100_000;
    if std::env::var("L1_MIN").as_deref() != Ok("timer") {
        return false;
    }
    let q = "analytics".to_string();
    // Boxed, so that every variant pays the same indirect call.
    type Variant<'a> = (&'static str, Box<dyn Fn() -> String + 'a>);
    let variants: Vec<Variant<'_>> = vec![
        (
            "untimed",
            Box::new(|| run(uncached(black_box(7), q.clone()))),
        ),
        (
            "performance_timer",
            Box::new(|| run(timed(black_box(7), q.clone()))),
        ),
        (
            "awaited/untimed",
            Box::new(|| in_place!(uncached(black_box(7), q.clone()))),
        ),
        (
            "awaited/performance_timer",
            Box::new(|| in_place!(timed(black_box(7), q.clone()))),
        ),
        (
            "awaited/performance_timer_nospan",
            Box::new(|| in_place!(timed_nospan(black_box(7), q.clone()))),
        ),
        (
            "awaited/nested_pair_nospan",
            Box::new(|| in_place!(timed_parent(black_box(7), q.clone()))),
        ),
        (
            "untimed_sync",
            Box::new(|| uncached_sync(black_box(7), q.clone())),
        ),
        (
            "performance_timer_sync",
            Box::new(|| timed_sync(black_box(7), q.clone())),
        ),
        (
            "performance_timer_sync_nospan",
            Box::new(|| timed_sync_nospan(black_box(7), q.clone())),
        ),
        (
            "nested_pair_sync_nospan",
            Box::new(|| timed_sync_parent(black_box(7), q.clone())),
        ),
    ];
    let mut best = vec![f64::INFINITY; variants.len()];
    for _ in 0..ROUNDS {
        for (i, (_, call)) in variants.iter().enumerate() {
            let start = Instant::now();
            for _ in 0..CALLS {
                black_box(call());
            }
            best[i] = best[i].min(start.elapsed().as_secs_f64() * 1e9 / f64::from(CALLS));
        }
    }
    for ((name, _), ns) in variants.iter().zip(&best) {
        println!("timer/{name:<36} {ns:8.2} ns");
    }
    true
}

/// `L1_COUNT=<variant>:<calls>`: makes `calls` calls of one variant (after one warming
/// call) and returns true; false without the variable.
fn count_mode() -> bool {
    let Ok(spec) = std::env::var("L1_COUNT") else {
        return false;
    };
    let (variant, calls) = spec.split_once(':').unwrap_or((&spec, "100000"));
    let calls: u64 = calls.parse().expect("L1_COUNT=<variant>:<calls>");
    let q = "analytics".to_string();
    let quick = raw_quick(&q);
    let moka_sync = raw_moka_sync(&q);
    let next = AtomicU64::new(1_000_000);
    let miss_id = || next.fetch_add(1, Ordering::Relaxed);
    let stored = body(7, &q);
    macro_rules! variants {
        ($($name:literal => $call:expr,)*) => {
            match variant {
                $($name => for _ in 0..=calls {
                    let _ = black_box($call);
                },)*
                other => panic!("unknown variant {other}"),
            }
        };
    }
    variants! {
        "floor" => run(uncached(black_box(7), q.clone())),
        "hit" => run(ours(black_box(7), q.clone())),
        "hit_nospan" => run(ours_nospan(black_box(7), q.clone())),
        "cached" => run(theirs(black_box(7), q.clone())),
        "quick" => run(async { quick.get(&(black_box(7), q.clone())) }),
        "moka" => run(async { moka_sync.get(&(black_box(7), q.clone())) }),
        "sync_floor" => uncached_sync(black_box(7), q.clone()),
        "clones" => clones_alone(&q, &stored),
        "sync_hit" => ours_sync(black_box(7), q.clone()),
        "sync_cached" => theirs_sync(black_box(7), q.clone()),
        "sync_quick" => quick.get(&(black_box(7), q.clone())),
        "tags_hit" => run(tagged_ours(black_box(7), q.clone())),
        "unless_hit" => run(unless_ours(black_box(7), q.clone())),
        "only_if_slower_hit" => run(only_if_slower_ours(black_box(7), q.clone())),
        "ttl_from_hit" => run(ttl_from_ours(black_box(7), q.clone())),
        "hard_timeout_hit" => run(hard_timeout_ours(black_box(7), q.clone())),
        "soft_timeout_hit" => run(soft_timeout_ours(black_box(7), q.clone())),
        "timed_hit" => run(timed_ours(black_box(7), q.clone())),
        "tti_hit" => run(tti_ours(black_box(7), q.clone())),
        "capacity_hit" => run(capacity_ours(black_box(7), q.clone())),
        "body" => run(uncached(miss_id(), q.clone())),
        "miss" => run(ours_miss(miss_id(), q.clone())),
        "timer" => run(timed(black_box(7), q.clone())),
        "timer_sync" => timed_sync(black_box(7), q.clone()),
        "timer_nospan" => run(timed_nospan(black_box(7), q.clone())),
        "timer_sync_nospan" => timed_sync_nospan(black_box(7), q.clone()),
        // Polled where they are built, as an awaited call is: without `run`'s move, whose
        // inlining differs between two futures and moves their counts by ±50.
        "hit_awaited" => in_place!(ours(black_box(7), q.clone())),
        "hit_awaited_nospan" => in_place!(ours_nospan(black_box(7), q.clone())),
        "timer_awaited" => in_place!(timed(black_box(7), q.clone())),
        "timer_awaited_nospan" => in_place!(timed_nospan(black_box(7), q.clone())),
        "nested_awaited_nospan" => in_place!(timed_parent(black_box(7), q.clone())),
        "nested_sync_nospan" => timed_sync_parent(black_box(7), q.clone()),
        "floor_awaited" => in_place!(uncached(black_box(7), q.clone())),
    }
    true
}

criterion_group! {
    name = benches;
    config = Criterion::default()
        .warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_secs(2))
        .sample_size(50);
    targets = async_hit, sync_hit, hit_options, hot_key_two_threads, miss, timer
}

fn main() {
    if count_mode() || min_mode() {
        return;
    }
    benches();
    Criterion::default().configure_from_args().final_summary();
}
