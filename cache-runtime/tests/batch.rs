//! `#[cache_batch]`: one call for many ids, one entry per record. What a user notices:
//! the body is asked for exactly the ids no record holds, each id once across concurrent
//! overlapping batches, records expire and invalidate one by one, an `Err` stores
//! nothing, ids not returned are remembered only with `missing_ttl`, and a panicking body
//! does not leave the batches waiting for it hanging. Real time, real tokio tasks, the
//! global runtime (each test its own cache name).

use std::collections::{BTreeSet, HashMap, HashSet};
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, Ordering::SeqCst};
use std::time::Duration;

use cache_runtime::{Scope, cache_batch, global};

/// The ids each body call was asked for, sorted, per test.
struct Calls(Mutex<Vec<Vec<u64>>>);

impl Calls {
    const fn new() -> Self {
        Self(Mutex::new(Vec::new()))
    }
    fn record(&self, ids: impl IntoIterator<Item = u64>) {
        let mut ids: Vec<u64> = ids.into_iter().collect();
        ids.sort_unstable();
        self.0.lock().expect("calls").push(ids);
    }
    fn take(&self) -> Vec<Vec<u64>> {
        std::mem::take(&mut *self.0.lock().expect("calls"))
    }
}

fn sorted<V>(map: &HashMap<u64, V>) -> Vec<u64> {
    let mut ids: Vec<u64> = map.keys().copied().collect();
    ids.sort_unstable();
    ids
}

static PLAIN: Calls = Calls::new();

#[cache_batch("batch_plain", ttl = "5m")]
fn squares(ids: Vec<u64>) -> HashMap<u64, u64> {
    PLAIN.record(ids.iter().copied());
    ids.into_iter().map(|id| (id, id * id)).collect()
}

#[test]
fn the_body_gets_exactly_the_missing_ids_once_each() {
    let first = squares(vec![1, 2, 3]);
    assert_eq!(first, HashMap::from([(1, 1), (2, 4), (3, 9)]));
    assert_eq!(PLAIN.take(), vec![vec![1, 2, 3]]);
    // 2 and 3 are held; 4 is asked for once although requested twice.
    let second = squares(vec![2, 3, 4, 4]);
    assert_eq!(second, HashMap::from([(2, 4), (3, 9), (4, 16)]));
    assert_eq!(PLAIN.take(), vec![vec![4]]);
    let misses = global().stats().cache("batch_plain").map(|c| c.misses);
    assert_eq!(
        misses,
        Some(4),
        "a repeated id is one record, looked up once"
    );
    // All held: no body call.
    assert_eq!(sorted(&squares(vec![4, 1])), vec![1, 4]);
    assert!(PLAIN.take().is_empty());
}

static STATS: Calls = Calls::new();

#[cache_batch("batch_stats", ttl = "5m")]
fn doubled(ids: &[u64]) -> HashMap<u64, u64> {
    STATS.record(ids.iter().copied());
    ids.iter().map(|id| (*id, id * 2)).collect()
}

#[test]
fn statistics_count_records_and_hit_means_every_record() {
    let stats = || {
        global()
            .stats()
            .cache("batch_stats")
            .cloned()
            .expect("stats")
    };
    let (_, outcomes) = Scope::observe().run_sync(|| doubled(&[1, 2, 3]));
    assert_eq!(outcomes.x_cache(), "MISS");
    assert_eq!((stats().hits, stats().misses), (0, 3));
    let (_, outcomes) = Scope::observe().run_sync(|| doubled(&[1, 2, 4]));
    assert_eq!(
        outcomes.x_cache(),
        "MISS",
        "one record of three was computed"
    );
    assert_eq!((stats().hits, stats().misses), (2, 4));
    let (_, outcomes) = Scope::observe().run_sync(|| doubled(&[1, 2, 4]));
    assert_eq!(outcomes.x_cache(), "HIT");
    assert_eq!((stats().hits, stats().misses), (5, 4));
    assert_eq!(STATS.take(), vec![vec![1, 2, 3], vec![4]]);
}

static SOME: Calls = Calls::new();

/// Returns the even ids only: the odd ones do not exist.
#[cache_batch("batch_not_remembered", ttl = "5m")]
fn evens(ids: BTreeSet<u64>) -> HashMap<u64, String> {
    SOME.record(ids.iter().copied());
    ids.into_iter()
        .filter(|id| id % 2 == 0)
        .map(|id| (id, format!("#{id}")))
        .collect()
}

static REMEMBERED: Calls = Calls::new();

#[cache_batch("batch_remembered", ttl = "5m", missing_ttl = "300ms")]
fn evens_remembered(ids: HashSet<u64>) -> HashMap<u64, String> {
    REMEMBERED.record(ids.iter().copied());
    ids.into_iter()
        .filter(|id| id % 2 == 0)
        .map(|id| (id, format!("#{id}")))
        .collect()
}

#[test]
fn ids_not_returned_are_cached_only_with_missing_ttl() {
    let ids = || BTreeSet::from([1, 2]);
    assert_eq!(sorted(&evens(ids())), vec![2]);
    assert_eq!(sorted(&evens(ids())), vec![2]);
    assert_eq!(
        SOME.take(),
        vec![vec![1, 2], vec![1]],
        "1 is asked for again"
    );

    let ids = || HashSet::from([1, 2]);
    assert_eq!(sorted(&evens_remembered(ids())), vec![2]);
    assert_eq!(sorted(&evens_remembered(ids())), vec![2]);
    assert_eq!(
        REMEMBERED.take(),
        vec![vec![1, 2]],
        "1 is remembered as missing"
    );
    std::thread::sleep(Duration::from_millis(450));
    assert_eq!(sorted(&evens_remembered(ids())), vec![2]);
    assert_eq!(
        REMEMBERED.take(),
        vec![vec![1]],
        "after missing_ttl, 1 is asked for again; 2 lives for ttl"
    );
}

static FAILING: AtomicBool = AtomicBool::new(true);
static ERR: Calls = Calls::new();

#[cache_batch("batch_err", ttl = "5m")]
fn fallible(ids: Vec<u64>) -> Result<HashMap<u64, u64>, String> {
    ERR.record(ids.iter().copied());
    if FAILING.load(SeqCst) {
        return Err("database down".into());
    }
    Ok(ids.into_iter().map(|id| (id, id + 100)).collect())
}

#[test]
fn an_err_stores_nothing_and_is_returned() {
    assert_eq!(fallible(vec![1, 2]), Err("database down".to_owned()));
    FAILING.store(false, SeqCst);
    assert_eq!(
        fallible(vec![1, 2]),
        Ok(HashMap::from([(1, 101), (2, 102)]))
    );
    assert_eq!(
        fallible(vec![1, 2]),
        Ok(HashMap::from([(1, 101), (2, 102)]))
    );
    assert_eq!(ERR.take(), vec![vec![1, 2], vec![1, 2]]);
}

static TTL: Calls = Calls::new();

#[cache_batch("batch_ttl", ttl = "1s")]
async fn stamped(ids: Vec<u64>) -> HashMap<u64, u64> {
    TTL.record(ids.iter().copied());
    ids.into_iter().map(|id| (id, id)).collect()
}

#[tokio::test]
async fn each_record_expires_on_its_own() {
    stamped(vec![1]).await; // 1 stored at t = 0
    tokio::time::sleep(Duration::from_millis(600)).await;
    stamped(vec![1, 2]).await; // 2 stored at t = 0.6 s
    tokio::time::sleep(Duration::from_millis(600)).await;
    stamped(vec![1, 2]).await; // t = 1.2 s: 1 expired, 2 fresh
    assert_eq!(TTL.take(), vec![vec![1], vec![2], vec![1]]);
}

static INVALIDATED: Calls = Calls::new();

#[cache_batch("batch_invalidate", ttl = "5m", tags = |id, _value| [format!("rec:{id}")])]
fn names(prefix: &str, ids: Vec<u64>) -> HashMap<u64, String> {
    INVALIDATED.record(ids.iter().copied());
    ids.into_iter()
        .map(|id| (id, format!("{prefix}{id}")))
        .collect()
}

#[test]
fn invalidating_one_record_recomputes_only_it() {
    let all = || names("n", vec![1, 2, 3, 4]);
    assert_eq!(all().len(), 4);
    // By key value, as for a single-id function of (prefix, id).
    assert!(global().invalidate("batch_invalidate", &("n", 2u64)));
    assert_eq!(all().len(), 4);
    // Through the typed handle of one record.
    assert_eq!(names_entry("n", &3).peek(), Some("n3".to_owned()));
    assert!(names_entry("n", &3).invalidate());
    assert_eq!(names_entry("n", &3).peek(), None);
    assert_eq!(all().len(), 4);
    // By tag (the closure over id and value).
    global().invalidate_tag("rec:4");
    assert_eq!(all().len(), 4);
    // A put is served without the body.
    names_entry("n", &1).put("one".to_owned());
    assert_eq!(all()[&1], "one");
    assert_eq!(
        INVALIDATED.take(),
        vec![vec![1, 2, 3, 4], vec![2], vec![3], vec![4]]
    );
}

static CONCURRENT: Calls = Calls::new();

#[cache_batch("batch_concurrent", ttl = "5m")]
async fn slow(ids: Vec<u64>) -> HashMap<u64, u64> {
    CONCURRENT.record(ids.iter().copied());
    tokio::time::sleep(Duration::from_millis(150)).await;
    ids.into_iter().map(|id| (id, id * 10)).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn overlapping_concurrent_batches_compute_each_id_once() {
    // Eight batches over 0..20, each overlapping its neighbours, started together.
    let tasks: Vec<_> = (0..8u64)
        .map(|i| {
            tokio::spawn(async move {
                let ids: Vec<u64> = (i * 2..i * 2 + 6).collect();
                let got = slow(ids.clone()).await;
                assert_eq!(sorted(&got), ids, "every requested id is returned");
                assert!(got.iter().all(|(id, v)| *v == id * 10));
            })
        })
        .collect();
    for t in tasks {
        t.await.expect("a batch task");
    }
    let calls = CONCURRENT.take();
    let mut asked: Vec<u64> = calls.iter().flatten().copied().collect();
    asked.sort_unstable();
    assert_eq!(
        asked,
        (0..20).collect::<Vec<_>>(),
        "each id computed once: {calls:?}"
    );
    let coalesced = global()
        .stats()
        .cache("batch_concurrent")
        .map(|c| c.coalesced);
    assert_eq!(
        coalesced,
        Some(48 - 20),
        "every other record was waited for"
    );
}

static PANICS: AtomicBool = AtomicBool::new(true);
static PANICKED: Calls = Calls::new();

#[cache_batch("batch_panic", ttl = "5m")]
async fn fragile(ids: Vec<u64>) -> HashMap<u64, u64> {
    PANICKED.record(ids.iter().copied());
    tokio::time::sleep(Duration::from_millis(150)).await;
    if ids.contains(&1) && PANICS.load(SeqCst) {
        panic!("id 1 is poison");
    }
    ids.into_iter().map(|id| (id, id)).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_panicking_body_does_not_hang_the_batches_waiting_for_it() {
    let leader = tokio::spawn(fragile(vec![1, 2]));
    tokio::time::sleep(Duration::from_millis(40)).await;
    // Waits for 2 (the leader computes it), computes 3.
    let waiter = tokio::spawn(fragile(vec![2, 3]));
    let got = tokio::time::timeout(Duration::from_secs(5), waiter)
        .await
        .expect("the waiter does not hang")
        .expect("the waiter does not panic");
    assert_eq!(sorted(&got), vec![2, 3]);
    assert!(leader.await.expect_err("the leader panics").is_panic());
    assert_eq!(PANICKED.take(), vec![vec![1, 2], vec![3], vec![2]]);
    PANICS.store(false, SeqCst);
    assert_eq!(sorted(&fragile(vec![1, 2, 3]).await), vec![1, 2, 3]);
    assert_eq!(PANICKED.take(), vec![vec![1]], "2 and 3 were stored");
}

static DOWN: AtomicBool = AtomicBool::new(false);

#[cache_batch("batch_stale", ttl = "300ms", stale_if_error = "1m")]
fn guarded(ids: Vec<u64>) -> Result<HashMap<u64, u64>, String> {
    if DOWN.load(SeqCst) {
        return Err("down".into());
    }
    Ok(ids.into_iter().map(|id| (id, id)).collect())
}

#[test]
fn stale_if_error_answers_with_the_copies_when_every_record_has_one() {
    assert_eq!(guarded(vec![1, 2]).map(|m| sorted(&m)), Ok(vec![1, 2]));
    std::thread::sleep(Duration::from_millis(450));
    DOWN.store(true, SeqCst);
    assert_eq!(guarded(vec![1, 2]).map(|m| sorted(&m)), Ok(vec![1, 2]));
    assert_eq!(guarded(vec![1, 3]), Err("down".to_owned()), "3 has no copy");
}

static REFRESHED: Calls = Calls::new();
static ROUND: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);

/// Each record is `id * 100 + round`: a refreshed record shows the round it was computed
/// in. The body takes 100 ms.
#[cache_batch("batch_refresh", ttl = "600ms", refresh_ahead = 0.5)]
async fn rounds(region: String, ids: Vec<u64>) -> HashMap<u64, u64> {
    REFRESHED.record(ids.iter().copied());
    let round = ROUND.load(SeqCst);
    tokio::time::sleep(Duration::from_millis(100)).await;
    let _ = &region;
    ids.into_iter().map(|id| (id, id * 100 + round)).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn records_past_their_refresh_point_answer_at_once_and_refresh_in_one_background_call() {
    let eu = || "eu".to_owned();
    assert_eq!(
        rounds(eu(), vec![1, 2, 3]).await,
        HashMap::from([(1, 100), (2, 200), (3, 300)])
    );
    assert_eq!(REFRESHED.take(), vec![vec![1, 2, 3]]);
    ROUND.store(1, SeqCst);
    // Past their refresh point (300 ms of 600) at the next call.
    tokio::time::sleep(Duration::from_millis(350)).await;
    let began = std::time::Instant::now();
    let got = rounds(eu(), vec![1, 2, 3]).await;
    // Answered from the cache, not waited for (the refresh takes 100 ms).
    assert!(
        began.elapsed() < Duration::from_millis(90),
        "took {:?}",
        began.elapsed()
    );
    assert_eq!(got, HashMap::from([(1, 100), (2, 200), (3, 300)]));
    // While that refresh runs, another batch past the refresh point answers at once and
    // refreshes nothing again.
    let began = std::time::Instant::now();
    let again = rounds(eu(), vec![1, 2]).await;
    assert!(began.elapsed() < Duration::from_millis(90));
    assert_eq!(again, HashMap::from([(1, 100), (2, 200)]));
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert_eq!(
        REFRESHED.take(),
        vec![vec![1, 2, 3]],
        "one background body call for the three refreshes"
    );
    // The refreshed records answer without a body call.
    let after = rounds(eu(), vec![1, 2, 3]).await;
    assert_eq!(after, HashMap::from([(1, 101), (2, 201), (3, 301)]));
    assert!(REFRESHED.take().is_empty());
    let refreshes = global().stats().cache("batch_refresh").map(|c| c.refreshes);
    assert_eq!(refreshes, Some(3), "a refresh per record");
}

static REPEATED: Calls = Calls::new();

#[cache_batch("batch_repeated", ttl = "5m", missing_ttl = "5m")]
fn repeated(ids: &[u64]) -> HashMap<u64, u64> {
    REPEATED.record(ids.iter().copied());
    ids.iter()
        .filter(|id| **id != 7)
        .map(|id| (*id, id + 1))
        .collect()
}

#[test]
fn a_repeated_id_is_one_record_whether_it_hits_misses_or_is_remembered_missing() {
    let hits = || {
        global()
            .stats()
            .cache("batch_repeated")
            .map(|c| (c.hits, c.misses))
    };
    // 7 does not exist (remembered), 1 and 2 do.
    assert_eq!(repeated(&[1, 7, 1, 2, 7, 2]).len(), 2);
    assert_eq!(REPEATED.take(), vec![vec![1, 2, 7]]);
    assert_eq!(hits(), Some((0, 3)));
    // Each repeated hit, and the repeated remembered miss, is looked up once.
    let got = repeated(&[2, 2, 7, 1, 7, 1, 2]);
    assert_eq!(got, HashMap::from([(1, 2), (2, 3)]));
    assert_eq!(hits(), Some((3, 3)));
    // A repeated new id is computed once, beside repeated hits.
    assert_eq!(repeated(&[3, 1, 3, 1]).len(), 2);
    assert_eq!(REPEATED.take(), vec![vec![3]]);
    assert_eq!(hits(), Some((4, 4)));
}
