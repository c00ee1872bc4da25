//! The remote tier on a Redis Cluster of three masters (`redis+cluster://` URLs): hits
//! across instances, invalidation by cache and by tag, `lock = true`, and a master that
//! dies while calls run.

#![cfg(feature = "redis")]

mod common;

use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering::SeqCst};
use std::time::{Duration, Instant};

use cache_runtime::__private::{CacheSite, SiteSpec};
use cache_runtime::{CacheKey, CacheRuntime};
use common::remote::*;
use common::{call_in, counted, spec};
use test_support::RedisCluster;

/// The Redis key of `(k,)` in a cluster: the cache's keys share the hash tag `{ns:name}`.
fn cluster_key(ns: &str, name: &str, k: u64) -> String {
    let key = CacheKey::new::<String, _>(ns, name, 0, &(k,))
        .expect("key")
        .to_string();
    let rest = key
        .strip_prefix(&format!("{ns}:{name}"))
        .expect("namespaced key");
    format!("{{{ns}:{name}}}{rest}")
}

async fn written(cluster: &RedisCluster, key: &str) {
    let ok = eventually(Duration::from_secs(3), || cluster.exists(key)).await;
    assert!(ok, "{key} was not written to the cluster");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_value_computed_by_one_runtime_is_a_hit_in_another() {
    static SITE: CacheSite = CacheSite::new(spec("cl_share", 60_000));
    let cluster = RedisCluster::start();
    let (a, b) = (
        runtime(&cluster.url(), "clshare"),
        runtime(&cluster.url(), "clshare"),
    );
    connected(&a).await;
    connected(&b).await;
    let runs = Arc::new(AtomicU32::new(0));
    for k in 0..20 {
        call_in(&a, &SITE, k, || counted(&runs))
            .await
            .expect("computed");
    }
    for k in 0..20 {
        written(&cluster, &cluster_key("clshare", "cl_share", k)).await;
    }
    for k in 0..20 {
        let v = call_in(&b, &SITE, k, || counted(&runs)).await;
        assert_eq!(v, Ok(format!("v{}", k + 1)));
    }
    assert_eq!(runs.load(SeqCst), 20, "b computed nothing");
    assert_eq!(stats_of(&b, "cl_share").l2.hits, 20);
    // One cache, one slot: the entries and the generation share the hash tag.
    let owner = cluster.owner(&cluster_key("clshare", "cl_share", 0));
    for k in 1..20 {
        assert_eq!(cluster.owner(&cluster_key("clshare", "cl_share", k)), owner);
    }
    assert_eq!(cluster.owner("{clshare:cl_share}:__gen"), owner);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn invalidate_all_and_invalidate_tag_reach_the_cluster_and_other_instances() {
    static SITE: CacheSite = CacheSite::new(spec("cl_inv", 60_000));
    let cluster = RedisCluster::start();
    let (a, b) = (
        runtime(&cluster.url(), "clinv"),
        runtime(&cluster.url(), "clinv"),
    );
    connected(&a).await;
    connected(&b).await;
    let runs = Arc::new(AtomicU32::new(0));
    // Tags whose generations live in other slots than the cache's.
    let tags = ["user:1", "user:2", "team:7"];
    for (k, tag) in tags.iter().enumerate() {
        let k = k as u64;
        call_tagged_in(&a, &SITE, k, &[tag], || counted(&runs))
            .await
            .expect("computed");
        written(&cluster, &cluster_key("clinv", "cl_inv", k)).await;
        // Let a's write announcement land first: it drops b's copy of that key, and in a
        // cluster it is published after the value is set, as a command of its own.
        let heard = eventually(Duration::from_secs(2), || {
            b.stats().l2.is_some_and(|l2| l2.backplane_received > k)
        })
        .await;
        assert!(heard, "b heard a's write");
        call_tagged_in(&b, &SITE, k, &[tag], || counted(&runs))
            .await
            .expect("read");
    }
    assert_eq!(stats_of(&b, "cl_inv").l2.hits, 3);

    // By tag: b drops its copy (the backplane works on a cluster), and a new instance
    // does not get the entry from Redis, whichever slot the tag's generation is in.
    a.invalidate_tag("user:2");
    let gone = eventually(Duration::from_millis(500), || !l1_has(&b, &SITE, 1)).await;
    assert!(gone, "b dropped the tagged entry");
    assert!(l1_has(&b, &SITE, 0) && l1_has(&b, &SITE, 2));
    tokio::time::sleep(Duration::from_millis(100)).await;
    let c = runtime(&cluster.url(), "clinv");
    connected(&c).await;
    let before = runs.load(SeqCst);
    for (k, tag) in tags.iter().enumerate() {
        call_tagged_in(&c, &SITE, k as u64, &[tag], || counted(&runs))
            .await
            .expect("value");
    }
    assert_eq!(
        runs.load(SeqCst),
        before + 1,
        "only the user:2 entry recomputed"
    );
    let s = stats_of(&c, "cl_inv");
    assert_eq!((s.l2.hits, s.l2.misses), (2, 1));

    // The whole cache: every instance drops it, nothing is served from Redis.
    c.invalidate_all("cl_inv");
    let gone = eventually(Duration::from_millis(500), || {
        (0..3).all(|k| !l1_has(&a, &SITE, k) && !l1_has(&b, &SITE, k))
    })
    .await;
    assert!(gone, "a and b dropped the cache");
    tokio::time::sleep(Duration::from_millis(100)).await;
    let d = runtime(&cluster.url(), "clinv");
    connected(&d).await;
    let before = runs.load(SeqCst);
    for k in 0..3 {
        call_in(&d, &SITE, k, || counted(&runs))
            .await
            .expect("value");
    }
    assert_eq!(runs.load(SeqCst), before + 3, "all recomputed");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_locked_key_is_computed_once_across_instances() {
    static SITE: CacheSite = CacheSite::new(SiteSpec {
        lock: true,
        ..spec("cl_lock", 60_000)
    });
    let cluster = RedisCluster::start();
    let (a, b) = (
        runtime(&cluster.url(), "cllock"),
        runtime(&cluster.url(), "cllock"),
    );
    connected(&a).await;
    connected(&b).await;
    let runs = Arc::new(AtomicU32::new(0));
    let slow = |rt: CacheRuntime, runs: Arc<AtomicU32>| {
        tokio::spawn(async move {
            call_in(&rt, &SITE, 1, || async move {
                runs.fetch_add(1, SeqCst);
                tokio::time::sleep(Duration::from_millis(300)).await;
                Ok("once".to_string())
            })
            .await
        })
    };
    let (ta, tb) = (
        slow(a.clone(), Arc::clone(&runs)),
        slow(b.clone(), Arc::clone(&runs)),
    );
    assert_eq!(ta.await.expect("a"), Ok("once".into()));
    assert_eq!(tb.await.expect("b"), Ok("once".into()));
    assert_eq!(runs.load(SeqCst), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn calls_still_answer_when_a_master_dies() {
    static SITE: CacheSite = CacheSite::new(spec("cl_kill", 60_000));
    let mut cluster = RedisCluster::start();
    let a = runtime(&cluster.url(), "clkill");
    connected(&a).await;
    let runs = Arc::new(AtomicU32::new(0));
    call_in(&a, &SITE, 1, || counted(&runs))
        .await
        .expect("computed");
    written(&cluster, &cluster_key("clkill", "cl_kill", 1)).await;
    // Kill the master that holds this cache's slot, then call through it.
    let owner = cluster.owner(&cluster_key("clkill", "cl_kill", 1));
    let node = cluster
        .nodes
        .iter_mut()
        .find(|n| n.port() == owner)
        .expect("the owner is one of ours");
    node.kill();
    let b = runtime(&cluster.url(), "clkill");
    let began = Instant::now();
    for k in 0..20 {
        let call = Instant::now();
        let v = call_in(&b, &SITE, k, || async move { Ok(format!("fresh{k}")) }).await;
        assert_eq!(v, Ok(format!("fresh{k}")));
        assert!(
            call.elapsed() < Duration::from_secs(1),
            "{:?}",
            call.elapsed()
        );
    }
    for k in 0..20 {
        // Served in process (or computed again); never an error, never stuck.
        assert!(call_in(&a, &SITE, k, || counted(&runs)).await.is_ok());
    }
    println!("40 calls with a dead master: {:?}", began.elapsed());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_invalidation_reaches_other_instances_while_its_slot_has_no_master() {
    // Candidate caches: the test uses the first whose slot is not on the first node, where
    // both runtimes' backplanes subscribe (a resubscription would clear their in-process
    // tiers and hide what this test is about).
    const NAMES: [&str; 4] = ["cl_ahead_a", "cl_ahead_b", "cl_ahead_c", "cl_ahead_d"];
    static SITES: [CacheSite; 4] = [
        CacheSite::new(spec(NAMES[0], 60_000)),
        CacheSite::new(spec(NAMES[1], 60_000)),
        CacheSite::new(spec(NAMES[2], 60_000)),
        CacheSite::new(spec(NAMES[3], 60_000)),
    ];
    let mut cluster = RedisCluster::start();
    let first = cluster.nodes[0].port();
    let (site, name, owner) = SITES
        .iter()
        .zip(NAMES)
        .map(|(s, name)| (s, name, cluster.owner(&cluster_key("clahead", name, 1))))
        .find(|(_, _, owner)| *owner != first)
        .expect("one of four caches hashes off the first node");
    let (a, b) = (
        runtime(&cluster.url(), "clahead"),
        runtime(&cluster.url(), "clahead"),
    );
    connected(&a).await;
    connected(&b).await;
    call_in(&a, site, 1, || async { Ok("old".to_owned()) })
        .await
        .expect("computed");
    written(&cluster, &cluster_key("clahead", name, 1)).await;
    let heard = eventually(Duration::from_secs(2), || {
        b.stats().l2.is_some_and(|l2| l2.backplane_received > 0)
    })
    .await;
    assert!(heard, "b heard a's write");
    let v = call_in(&b, site, 1, || async { Ok("recomputed".to_owned()) }).await;
    assert_eq!(v, Ok("old".to_owned()), "b read a's value from Redis");
    assert!(l1_has(&b, site, 1));
    let resubscribed = b.stats().l2.expect("l2").backplane_resubscribed;
    let sent = a.stats().l2.expect("l2").backplane_sent;

    // The cache's slot loses its master (no replica: it stays down), then a invalidates.
    cluster
        .nodes
        .iter_mut()
        .find(|n| n.port() == owner)
        .expect("the owner is one of ours")
        .kill();
    a.invalidate_all(name);
    // The generation's INCR cannot land, yet b hears of the invalidation through another
    // node and drops its copy; before, it kept serving "old" for as long as the slot was
    // down (the announcement waited for the INCR).
    let dropped = eventually(Duration::from_secs(2), || !l1_has(&b, site, 1)).await;
    assert!(dropped, "b still serves the invalidated value");
    assert_eq!(
        b.stats().l2.expect("l2").backplane_resubscribed,
        resubscribed,
        "dropped by the announcement, not by a resubscription"
    );
    assert_eq!(
        a.stats().l2.expect("l2").backplane_sent,
        sent + 1,
        "a counts the announcement it sent ahead"
    );
    // Its next call cannot read the dead slot: it computes, and never serves "old".
    let v = call_in(&b, site, 1, || async { Ok("new".to_owned()) }).await;
    assert_eq!(v, Ok("new".to_owned()));
}
