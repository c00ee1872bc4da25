//! Batches with the remote tier, against a real `redis-server`: the records a batch misses
//! in process are read in ONE round trip (counted by Redis itself, `INFO commandstats`),
//! the body gets only what neither tier holds, and invalidating one record on one
//! instance is seen by another.

#![cfg(feature = "redis")]

mod common;

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Duration;

use cache_runtime::__private::{self as p, CacheSite, PlainAdapter, Present};
use cache_runtime::CacheRuntime;
use common::remote::*;
use common::spec;
use test_support::RedisServer;

/// A batch of `ids` of `site` in `rt`; the body answers `v{id}` and records what it was
/// asked for.
async fn fetch(
    rt: &CacheRuntime,
    site: &'static CacheSite,
    ids: &[u64],
    asked: &Mutex<Vec<Vec<u64>>>,
) -> HashMap<u64, String> {
    let look = |k| p::lookup_in::<String, _>(rt, site, k, PlainAdapter);
    let batch = p::batch_with::<HashMap<u64, String>, _>(
        site.name(),
        Present,
        ids,
        |id| p::key(&(*id,), &[]),
        None,
        look,
    );
    batch
        .run_async(|ids| async move {
            let mut sorted = ids.clone();
            sorted.sort_unstable();
            asked.lock().expect("asked").push(sorted);
            ids.into_iter().map(|id| (id, format!("v{id}"))).collect()
        })
        .await
}

/// How many times Redis ran `command` since the last `CONFIG RESETSTAT`.
fn calls(server: &RedisServer, command: &str) -> u64 {
    let info: String = server.cmd(&[b"INFO", b"commandstats"]);
    let prefix = format!("cmdstat_{command}:calls=");
    info.lines()
        .find_map(|line| line.strip_prefix(&prefix))
        .and_then(|rest| rest.split(',').next())
        .and_then(|n| n.parse().ok())
        .unwrap_or(0)
}

fn take(asked: &Mutex<Vec<Vec<u64>>>) -> Vec<Vec<u64>> {
    std::mem::take(&mut *asked.lock().expect("asked"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_batch_missing_in_process_reads_redis_with_one_mget() {
    static SITE: CacheSite = CacheSite::new(spec("rb_mget", 60_000));
    let server = RedisServer::start();
    let (a, b) = connected_pair(&server, "rbmget").await;
    let asked = Mutex::new(Vec::new());
    assert_eq!(fetch(&a, &SITE, &[1, 2, 3, 4, 5], &asked).await.len(), 5);
    for id in 1..=5 {
        written(&server, &redis_key("rbmget", "rb_mget", id)).await;
    }
    let _: () = server.cmd(&[b"CONFIG", b"RESETSTAT"]);
    // b holds nothing in process: 1..=5 come from Redis, 6 from the body.
    let got = fetch(&b, &SITE, &[1, 2, 3, 4, 5, 6], &asked).await;
    let mgets = calls(&server, "mget");
    let gets = calls(&server, "get");
    assert_eq!(got.len(), 6);
    assert_eq!(got[&3], "v3");
    assert_eq!(take(&asked), vec![vec![1, 2, 3, 4, 5], vec![6]]);
    assert_eq!(mgets, 1, "one MGET for six records");
    assert_eq!(gets, 1, "and one GET, of the cache's generation");
    assert_eq!(stats_of(&b, "rb_mget").l2.hits, 5);
    // Filled the process: the next batch reads nothing.
    let _: () = server.cmd(&[b"CONFIG", b"RESETSTAT"]);
    assert_eq!(fetch(&b, &SITE, &[1, 2, 3, 4, 5, 6], &asked).await.len(), 6);
    assert_eq!(calls(&server, "mget"), 0);
    assert!(take(&asked).is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn invalidating_one_record_on_one_instance_is_seen_by_another() {
    static SITE: CacheSite = CacheSite::new(spec("rb_inval", 60_000));
    let server = RedisServer::start();
    let (a, b) = connected_pair(&server, "rbinval").await;
    let asked = Mutex::new(Vec::new());
    fetch(&a, &SITE, &[1, 2, 3], &asked).await;
    for id in 1..=3 {
        written(&server, &redis_key("rbinval", "rb_inval", id)).await;
    }
    fetch(&b, &SITE, &[1, 2, 3], &asked).await;
    assert_eq!(
        take(&asked),
        vec![vec![1, 2, 3]],
        "b read all three from redis"
    );
    assert!(l1_has(&b, &SITE, 2));

    assert!(a.invalidate("rb_inval", &(2u64,)));
    let gone = eventually(Duration::from_secs(1), || !l1_has(&b, &SITE, 2)).await;
    assert!(gone, "b still holds record 2");
    assert!(
        l1_has(&b, &SITE, 1) && l1_has(&b, &SITE, 3),
        "only 2 was dropped"
    );
    let got = fetch(&b, &SITE, &[1, 2, 3], &asked).await;
    assert_eq!(got.len(), 3);
    assert_eq!(take(&asked), vec![vec![2]], "only record 2 is recomputed");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_batch_writes_its_new_records_in_one_pipeline() {
    static SITE: CacheSite = CacheSite::new(spec("rb_pipe", 60_000));
    let server = RedisServer::start();
    let (a, _b) = connected_pair(&server, "rbpipe").await;
    let asked = Mutex::new(Vec::new());
    assert_eq!(a.flush(Duration::from_secs(5)).await.pending, 0);
    let _: () = server.cmd(&[b"CONFIG", b"RESETSTAT"]);
    let before = p::remote_round_trips(&a);
    assert_eq!(fetch(&a, &SITE, &[1, 2, 3, 4, 5, 6], &asked).await.len(), 6);
    assert_eq!(a.flush(Duration::from_secs(5)).await.pending, 0);
    let trips = p::remote_round_trips(&a) - before;
    assert_eq!(take(&asked), vec![vec![1, 2, 3, 4, 5, 6]]);
    assert_eq!(calls(&server, "set"), 6, "six records written");
    assert_eq!(calls(&server, "publish"), 6, "and announced");
    assert_eq!(calls(&server, "mget"), 1);
    assert_eq!(trips, 2, "one read of the six, one pipeline writing them");
    assert_eq!(stats_of(&a, "rb_pipe").l2.writes, 6);
    for id in 1..=6 {
        assert!(server.holds_value(&redis_key("rbpipe", "rb_pipe", id)));
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_batch_written_while_redis_is_frozen_lands_when_it_answers() {
    static SITE: CacheSite = CacheSite::new(spec("rb_frozen", 60_000));
    let server = RedisServer::start();
    let (a, _b) = connected_pair(&server, "rbfrozen").await;
    let look = |k| p::lookup_in::<String, _>(&a, &SITE, k, PlainAdapter);
    let batch = p::batch_with::<HashMap<u64, String>, _>(
        SITE.name(),
        Present,
        &[1, 2, 3, 4, 5, 6],
        |id| p::key(&(*id,), &[]),
        None,
        look,
    );
    // Redis answered the batch's read (the right to write); it freezes while the body
    // runs, so the pipeline of writes does not land.
    let got = batch
        .run_async(|ids| async {
            server.pause();
            ids.into_iter().map(|id| (id, format!("v{id}"))).collect()
        })
        .await;
    assert_eq!(got.len(), 6);
    let queued = eventually(Duration::from_secs(3), || {
        a.stats().l2.is_some_and(|l2| l2.recovery_pending == 6)
    })
    .await;
    server.resume();
    assert!(queued, "the six records wait in the recovery queue");
    assert_eq!(a.flush(Duration::from_secs(10)).await.pending, 0);
    for id in 1..=6 {
        let key = redis_key("rbfrozen", "rb_frozen", id);
        written(&server, &key).await;
    }
    let l2 = a.stats().l2.expect("l2");
    assert!(
        l2.recovery_replayed >= 6,
        "replayed: {}",
        l2.recovery_replayed
    );
}
