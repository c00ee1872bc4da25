//! Malformed remote state against a real redis-server: anything under our keys that the
//! runtime never writes (a generation or tag generation that is not an integer, a lock key
//! that holds no lock, an entry key of another type) costs at most the call that finds it,
//! is counted, is repaired so the next call is served normally, and does not open the
//! circuit breaker for the other caches.

#![cfg(feature = "redis")]

mod common;

use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering::SeqCst};
use std::time::{Duration, Instant};

use cache_runtime::__private::{CacheSite, SiteSpec};
use cache_runtime::{CacheRuntime, CircuitState};
use common::remote::*;
use common::{call_in, counted, spec};
use test_support::RedisServer;

fn l2(rt: &CacheRuntime) -> cache_runtime::L2Stats {
    rt.stats().l2.expect("a remote tier")
}

/// A fresh instance (empty in-process tier) of namespace `ns`, connected.
async fn instance(server: &RedisServer, ns: &str) -> CacheRuntime {
    let rt = runtime(&server.url(), ns);
    connected(&rt).await;
    rt
}

#[tokio::test]
async fn a_generation_that_is_not_an_integer_is_reset_and_costs_one_call() {
    static SITE: CacheSite = CacheSite::new(spec("rep_gen", 60_000));
    let server = RedisServer::start();
    let runs = Arc::new(AtomicU32::new(0));
    let a = instance(&server, "repgen").await;
    call_in(&a, &SITE, 1, || counted(&runs))
        .await
        .expect("computed");
    written(&server, &redis_key("repgen", "rep_gen", 1)).await;
    let gen_key = "repgen:__gen:rep_gen";
    let _: () = server.cmd(&[b"SET", gen_key.as_bytes(), b"xyz"]);

    // An instance that finds it: a miss (the old entry is of an unknown generation now),
    // counted, no breaker failure, and the generation is an integer again.
    let b = instance(&server, "repgen").await;
    let v = call_in(&b, &SITE, 1, || counted(&runs)).await;
    assert_eq!(
        v,
        Ok("v2".into()),
        "an entry guarded by a malformed generation was served"
    );
    assert_eq!(stats_of(&b, "rep_gen").l2.decode_failures, 1);
    let lb = l2(&b);
    assert_eq!((lb.errors, lb.circuit), (0, CircuitState::Closed));
    assert_eq!(lb.repaired, 1);
    let reset: Option<String> = server.cmd(&[b"GET", gen_key.as_bytes()]);
    assert!(
        reset.as_deref().is_some_and(|g| g.parse::<u64>().is_ok()),
        "generation left as {reset:?}"
    );

    // The next calls are served normally: one more instance computes and writes, and
    // a fourth reads that from Redis.
    let c = instance(&server, "repgen").await;
    assert_eq!(
        call_in(&c, &SITE, 1, || counted(&runs)).await,
        Ok("v3".into())
    );
    written(&server, &redis_key("repgen", "rep_gen", 1)).await;
    assert!(
        eventually(Duration::from_secs(2), || stats_of(&c, "rep_gen").l2.writes
            == 1)
        .await,
        "the entry was written again"
    );
    let d = instance(&server, "repgen").await;
    assert_eq!(
        call_in(&d, &SITE, 1, || counted(&runs)).await,
        Ok("v3".into())
    );
    assert_eq!(stats_of(&d, "rep_gen").l2.hits, 1);
    assert_eq!(runs.load(SeqCst), 3);
}

#[tokio::test]
async fn a_tag_generation_that_is_not_an_integer_is_reset() {
    static SITE: CacheSite = CacheSite::new(spec("rep_tag", 60_000));
    let server = RedisServer::start();
    let runs = Arc::new(AtomicU32::new(0));
    let a = instance(&server, "reptag").await;
    call_tagged_in(&a, &SITE, 1, &["team:1"], || counted(&runs))
        .await
        .expect("computed");
    written(&server, &redis_key("reptag", "rep_tag", 1)).await;
    let tag_key = "reptag:__tag:team:1";
    // Another type altogether: MGET answers nil for it, which reads as generation 0
    // (what the entry carries); so also try a string that is not a number.
    let _: () = server.cmd(&[b"SET", tag_key.as_bytes(), b"not-a-number"]);
    let b = instance(&server, "reptag").await;
    let v = call_tagged_in(&b, &SITE, 1, &["team:1"], || counted(&runs)).await;
    assert_eq!(v, Ok("v2".into()));
    assert_eq!(l2(&b).repaired, 1);
    assert_eq!(l2(&b).circuit, CircuitState::Closed);
    let reset: Option<String> = server.cmd(&[b"GET", tag_key.as_bytes()]);
    assert!(
        reset.as_deref().is_some_and(|g| g.parse::<u64>().is_ok()),
        "{reset:?}"
    );
    // Served normally afterwards: a write, then a hit in another instance.
    let c = instance(&server, "reptag").await;
    assert_eq!(
        call_tagged_in(&c, &SITE, 1, &["team:1"], || counted(&runs)).await,
        Ok("v3".into())
    );
    assert!(
        eventually(Duration::from_secs(2), || stats_of(&c, "rep_tag").l2.writes
            == 1)
        .await
    );
    let d = instance(&server, "reptag").await;
    assert_eq!(
        call_tagged_in(&d, &SITE, 1, &["team:1"], || counted(&runs)).await,
        Ok("v3".into())
    );
}

#[tokio::test]
async fn an_entry_key_of_another_type_is_a_counted_miss_and_overwritten() {
    static SITE: CacheSite = CacheSite::new(spec("rep_type", 60_000));
    let server = RedisServer::start();
    let runs = Arc::new(AtomicU32::new(0));
    let key = redis_key("reptype", "rep_type", 1);
    let _: () = server.cmd(&[b"RPUSH", key.as_bytes(), b"x"]);
    let a = instance(&server, "reptype").await;
    assert_eq!(
        call_in(&a, &SITE, 1, || counted(&runs)).await,
        Ok("v1".into())
    );
    assert_eq!(stats_of(&a, "rep_type").l2.decode_failures, 1);
    assert_eq!((l2(&a).errors, l2(&a).circuit), (0, CircuitState::Closed));
    assert!(
        eventually(Duration::from_secs(2), || stats_of(&a, "rep_type")
            .l2
            .writes
            == 1)
        .await
    );
    let kind: String = server.cmd(&[b"TYPE", key.as_bytes()]);
    assert_eq!(kind, "string", "the foreign key was overwritten");
    let b = instance(&server, "reptype").await;
    assert_eq!(
        call_in(&b, &SITE, 1, || counted(&runs)).await,
        Ok("v1".into())
    );
    assert_eq!(stats_of(&b, "rep_type").l2.hits, 1);
}

#[tokio::test]
async fn a_lock_key_that_holds_no_lock_is_deleted_instead_of_waited_for() {
    static SITE: CacheSite = CacheSite::new(SiteSpec {
        lock: true,
        ..spec("rep_lock", 60_000)
    });
    let server = RedisServer::start();
    let runs = Arc::new(AtomicU32::new(0));
    let entry = redis_key("replock", "rep_lock", 1);
    let lock = format!(
        "replock:__lock:{}",
        entry.strip_prefix("replock:").expect("ns")
    );
    // No expiry and not a token: without repair every instance would wait the whole
    // lock wait (5 s) for a holder that does not exist, on every miss.
    let _: () = server.cmd(&[b"SET", lock.as_bytes(), b"garbage"]);
    let a = CacheRuntime::builder()
        .namespace("replock")
        .redis(server.url())
        .redis_timeout(Duration::from_millis(200))
        .build();
    connected(&a).await;
    let began = Instant::now();
    assert_eq!(
        call_in(&a, &SITE, 1, || counted(&runs)).await,
        Ok("v1".into())
    );
    let took = began.elapsed();
    assert!(
        took < Duration::from_secs(2),
        "waited {took:?} for a lock nobody holds"
    );
    assert_eq!(l2(&a).repaired, 1);
    assert!(
        eventually(Duration::from_secs(2), || !server
            .cmd::<bool>(&[b"EXISTS", lock.as_bytes()]))
        .await,
        "the computation's own lock was released after its write"
    );
}

#[tokio::test]
async fn one_caches_malformed_state_does_not_switch_redis_off_for_the_others() {
    static BAD: CacheSite = CacheSite::new(spec("rep_bad", 60_000));
    static GOOD: CacheSite = CacheSite::new(spec("rep_good", 60_000));
    let server = RedisServer::start();
    let runs = Arc::new(AtomicU32::new(0));
    let a = instance(&server, "repiso").await;
    call_in(&a, &GOOD, 1, || counted(&runs))
        .await
        .expect("computed");
    written(&server, &redis_key("repiso", "rep_good", 1)).await;
    let b = instance(&server, "repiso").await;
    // Corrupt the bad cache's generation again before each of many calls.
    for k in 0..20 {
        let _: () = server.cmd(&[b"SET", b"repiso:__gen:rep_bad", b"garbage"]);
        call_in(&b, &BAD, k, || counted(&runs))
            .await
            .expect("computed");
    }
    let lb = l2(&b);
    assert_eq!((lb.errors, lb.circuit), (0, CircuitState::Closed), "{lb:?}");
    assert_eq!(lb.repaired, 20);
    assert_eq!(
        call_in(&b, &GOOD, 1, || counted(&runs)).await,
        Ok("v1".into())
    );
    assert_eq!(
        stats_of(&b, "rep_good").l2.hits,
        1,
        "the good cache still reads redis"
    );
}
