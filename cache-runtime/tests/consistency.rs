//! Read your writes: once `invalidate`, `invalidate_all` or `invalidate_tag` has returned,
//! no call that begins afterwards receives a value computed before it, not even by joining
//! a computation that was already running. Callers that joined before the invalidation may
//! still get the older value. Also: a waiter of a panicking computation learns why.

mod common;

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering::SeqCst};
use std::time::Duration;

use cache_runtime::__private::{self as p, CacheSite, Lookup};
use cache_runtime::{CacheRuntime, Outcome, Scope};
use common::*;

/// How a test invalidates the entry of key 1 of cache `name` (tag `tag`).
#[derive(Clone, Copy, Debug)]
enum Kind {
    Key,
    All,
    Tag,
}

const KINDS: [Kind; 3] = [Kind::Key, Kind::All, Kind::Tag];

fn invalidate(rt: &CacheRuntime, kind: Kind, name: &str, k: u64) {
    match kind {
        Kind::Key => {
            rt.invalidate(name, &(k,));
        }
        Kind::All => rt.invalidate_all(name),
        Kind::Tag => rt.invalidate_tag(&format!("t:{name}")),
    }
}

/// A cached async call of key `k`, tagged `t:<cache name>`.
async fn call_async<F, Fut>(
    rt: &CacheRuntime,
    site: &'static CacheSite,
    name: &str,
    k: u64,
    f: F,
) -> Res
where
    F: FnOnce() -> Fut,
    Fut: std::future::Future<Output = Res>,
{
    match p::lookup_in(rt, site, p::key(&(k,), &[]), adapter()) {
        Lookup::Hit(v) | Lookup::Refresh(v, _) => v,
        Lookup::Miss(t) => t.with_tags(vec![format!("t:{name}")]).run_async(f).await,
    }
}

/// The same, synchronous.
fn call_blocking(
    rt: &CacheRuntime,
    site: &'static CacheSite,
    name: &str,
    k: u64,
    f: impl FnOnce() -> Res,
) -> Res {
    match p::lookup_in(rt, site, p::key(&(k,), &[]), adapter()) {
        Lookup::Hit(v) | Lookup::Refresh(v, _) => v,
        Lookup::Miss(t) => t.with_tags(vec![format!("t:{name}")]).run_sync(f),
    }
}

/// The scenario of the report: a 300 ms computation begins; at 100 ms the data changes and
/// the cache is invalidated; a call beginning at 150 ms must not get the older value. One
/// that joined at 50 ms, before the invalidation, may.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_call_after_an_invalidation_does_not_join_an_older_computation() {
    static SITES: [CacheSite; 3] = [
        CacheSite::new(spec("ryw_async_key", 60_000)),
        CacheSite::new(spec("ryw_async_all", 60_000)),
        CacheSite::new(spec("ryw_async_tag", 60_000)),
    ];
    for (site, kind) in SITES.iter().zip(KINDS) {
        let name = site.name();
        let rt = Arc::new(CacheRuntime::builder().build());
        let data = Arc::new(AtomicU64::new(1));
        let body = |data: &Arc<AtomicU64>, ms: u64| {
            let data = Arc::clone(data);
            move || async move {
                let v = data.load(SeqCst);
                tokio::time::sleep(Duration::from_millis(ms)).await;
                Ok(format!("{v}"))
            }
        };
        let first = {
            let (rt, f) = (Arc::clone(&rt), body(&data, 300));
            tokio::spawn(async move { call_async(&rt, site, name, 1, f).await })
        };
        tokio::time::sleep(Duration::from_millis(50)).await;
        let early = {
            let (rt, f) = (Arc::clone(&rt), body(&data, 300));
            tokio::spawn(async move {
                Scope::observe()
                    .run(call_async(&rt, site, name, 1, f))
                    .await
            })
        };
        tokio::time::sleep(Duration::from_millis(50)).await;
        data.store(2, SeqCst);
        invalidate(&rt, kind, name, 1);
        tokio::time::sleep(Duration::from_millis(50)).await;
        let (late, outcomes) = Scope::observe()
            .run(call_async(&rt, site, name, 1, body(&data, 50)))
            .await;
        assert_eq!(
            late,
            Ok("2".into()),
            "{kind:?}: a call after the invalidation got an older value"
        );
        assert_eq!(
            outcomes.iter().next().map(|c| c.outcome),
            Some(Outcome::Miss),
            "{kind:?}"
        );
        assert_eq!(first.await.expect("first"), Ok("1".into()));
        let (early, outcomes) = early.await.expect("early");
        assert_eq!(
            early,
            Ok("1".into()),
            "{kind:?}: a caller that joined before may get the old value"
        );
        assert_eq!(
            outcomes.iter().next().map(|c| c.outcome),
            Some(Outcome::Coalesced)
        );
        // The older computation stored nothing: the next call is served the new value.
        let again = call_async(&rt, site, name, 1, body(&data, 0)).await;
        assert_eq!(
            again,
            Ok("2".into()),
            "{kind:?}: the older computation stored its value"
        );
    }
}

#[test]
fn a_sync_call_after_an_invalidation_does_not_join_an_older_computation() {
    static SITES: [CacheSite; 3] = [
        CacheSite::new(spec("ryw_sync_key", 60_000)),
        CacheSite::new(spec("ryw_sync_all", 60_000)),
        CacheSite::new(spec("ryw_sync_tag", 60_000)),
    ];
    for (site, kind) in SITES.iter().zip(KINDS) {
        let name = site.name();
        let rt = Arc::new(CacheRuntime::builder().build());
        let data = Arc::new(AtomicU64::new(1));
        let body = |data: &Arc<AtomicU64>, ms: u64| {
            let data = Arc::clone(data);
            move || {
                let v = data.load(SeqCst);
                std::thread::sleep(Duration::from_millis(ms));
                Ok(format!("{v}"))
            }
        };
        let first = {
            let (rt, f) = (Arc::clone(&rt), body(&data, 300));
            std::thread::spawn(move || call_blocking(&rt, site, name, 1, f))
        };
        std::thread::sleep(Duration::from_millis(100));
        data.store(2, SeqCst);
        invalidate(&rt, kind, name, 1);
        std::thread::sleep(Duration::from_millis(50));
        let late = call_blocking(&rt, site, name, 1, body(&data, 20));
        assert_eq!(
            late,
            Ok("2".into()),
            "{kind:?}: a call after the invalidation got an older value"
        );
        assert_eq!(first.join().expect("first"), Ok("1".into()));
        let again = call_blocking(&rt, site, name, 1, body(&data, 0));
        assert_eq!(
            again,
            Ok("2".into()),
            "{kind:?}: the older computation stored its value"
        );
    }
}

/// Many rounds of readers and a writer on one key, the writer changing the data and
/// invalidating at random moments (by key, all or tag): every read that began after an
/// invalidation returned sees the data of that invalidation or newer.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn randomized_races_never_serve_a_value_older_than_the_last_invalidation() {
    static SITE: CacheSite = CacheSite::new(spec("ryw_race", 60_000));
    const NAME: &str = "ryw_race";
    let rt = Arc::new(CacheRuntime::builder().build());
    // `data` is what the body reads; `published` the newest value whose invalidation has
    // returned: a reader that sees `published == n` before it begins must get >= n.
    let data = Arc::new(AtomicU64::new(0));
    let published = Arc::new(AtomicU64::new(0));
    let reads = Arc::new(AtomicU64::new(0));
    let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let mut readers = Vec::new();
    for r in 0..6u64 {
        let (rt, data, published, reads, stop) = (
            Arc::clone(&rt),
            Arc::clone(&data),
            Arc::clone(&published),
            Arc::clone(&reads),
            Arc::clone(&stop),
        );
        readers.push(tokio::spawn(async move {
            let mut rng = fastrand::Rng::with_seed(r);
            while !stop.load(SeqCst) {
                let floor = published.load(SeqCst);
                let data = Arc::clone(&data);
                let delay = rng.u64(0..1500);
                let got = call_async(&rt, &SITE, NAME, 1, move || async move {
                    let v = data.load(SeqCst);
                    tokio::time::sleep(Duration::from_micros(delay)).await;
                    Ok(format!("{v}"))
                })
                .await
                .expect("the body never fails");
                let got: u64 = got.parse().expect("a number");
                assert!(
                    got >= floor,
                    "read {got} after the invalidation of {floor} had returned"
                );
                reads.fetch_add(1, SeqCst);
                if rng.bool() {
                    tokio::task::yield_now().await;
                }
            }
        }));
    }
    let mut rng = fastrand::Rng::with_seed(7);
    for round in 1..=300u64 {
        tokio::time::sleep(Duration::from_micros(rng.u64(0..2000))).await;
        data.store(round, SeqCst);
        invalidate(&rt, KINDS[rng.usize(..3)], NAME, 1);
        published.store(round, SeqCst);
    }
    stop.store(true, SeqCst);
    for r in readers {
        r.await.expect("a reader saw an older value");
    }
    assert!(reads.load(SeqCst) > 300, "the readers ran");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_waiter_of_a_panicking_computation_panics_with_its_message() {
    static SITE: CacheSite = CacheSite::new(spec("ryw_panic_message", 60_000));
    let leader = tokio::spawn(call(&SITE, 1, || async {
        tokio::time::sleep(Duration::from_millis(100)).await;
        panic!("the upstream answered 503");
    }));
    tokio::time::sleep(Duration::from_millis(20)).await;
    let waiter = tokio::spawn(call(&SITE, 1, || async { Ok("never".to_string()) }));
    assert!(leader.await.is_err());
    let payload = waiter
        .await
        .expect_err("the waiter panics too")
        .into_panic();
    let message = payload
        .downcast_ref::<String>()
        .cloned()
        .unwrap_or_default();
    assert!(message.contains("ryw_panic_message"), "{message}");
    assert!(message.contains("the upstream answered 503"), "{message}");
}

/// A thread that keeps hitting one key serves it from its own hot copy (`tier/local.rs`).
/// An invalidation made on another thread must reach that copy: the thread's next call
/// computes again, whatever the kind of invalidation.
#[test]
fn a_threads_hot_copy_does_not_outlive_an_invalidation_made_elsewhere() {
    static SITES: [CacheSite; 3] = [
        CacheSite::new(spec("hot_copy_key", 60_000)),
        CacheSite::new(spec("hot_copy_all", 60_000)),
        CacheSite::new(spec("hot_copy_tag", 60_000)),
    ];
    for (site, kind) in SITES.iter().zip(KINDS) {
        let name = site.name();
        let rt = Arc::new(CacheRuntime::builder().build());
        let data = Arc::new(AtomicU64::new(1));
        let runs = Arc::new(AtomicU64::new(0));
        let (to_reader, changed) = std::sync::mpsc::channel::<()>();
        let (to_main, seen) = std::sync::mpsc::channel::<Res>();
        let reader = {
            let (rt, data, runs) = (Arc::clone(&rt), Arc::clone(&data), Arc::clone(&runs));
            std::thread::spawn(move || {
                let call = || {
                    call_blocking(&rt, site, name, 1, || {
                        runs.fetch_add(1, SeqCst);
                        Ok(format!("{}", data.load(SeqCst)))
                    })
                };
                // A miss, hits through the map, then hits of the thread's copy.
                for _ in 0..40 {
                    assert_eq!(call(), Ok("1".into()));
                }
                to_main.send(call()).expect("main listens");
                changed.recv().expect("main changed the data");
                to_main.send(call()).expect("main listens");
                // And once more: the new value is what the thread keeps serving.
                to_main.send(call()).expect("main listens");
            })
        };
        assert_eq!(seen.recv().expect("reader"), Ok("1".into()), "{kind:?}");
        assert_eq!(
            runs.load(SeqCst),
            1,
            "{kind:?}: one computation for 41 calls"
        );
        data.store(2, SeqCst);
        invalidate(&rt, kind, name, 1);
        to_reader.send(()).expect("reader listens");
        assert_eq!(
            seen.recv().expect("reader"),
            Ok("2".into()),
            "{kind:?}: the thread's copy answered after the invalidation"
        );
        assert_eq!(seen.recv().expect("reader"), Ok("2".into()), "{kind:?}");
        assert_eq!(runs.load(SeqCst), 2, "{kind:?}");
        reader.join().expect("reader");
    }
}

/// Copies belong to one runtime: a thread that hits a key in one runtime, then calls the
/// same site and key in another (where both caches have the same id, so the same key
/// bytes), gets the other runtime's value.
#[test]
fn a_hot_copy_answers_only_for_its_own_runtime() {
    static SITE: CacheSite = CacheSite::new(spec("hot_copy_runtime", 60_000));
    let (a, b) = (
        CacheRuntime::builder().build(),
        CacheRuntime::builder().build(),
    );
    for _ in 0..40 {
        let v = call_blocking(&a, &SITE, "hot_copy_runtime", 1, || Ok("a".into()));
        assert_eq!(v, Ok("a".into()));
    }
    let v = call_blocking(&b, &SITE, "hot_copy_runtime", 1, || Ok("b".into()));
    assert_eq!(v, Ok("b".into()), "runtime b was served runtime a's copy");
    let v = call_blocking(&a, &SITE, "hot_copy_runtime", 1, || Ok("a2".into()));
    assert_eq!(v, Ok("a".into()), "runtime a keeps its own entry");
}
