//! `local_ttl` against a real redis-server: the in-process copy lives at most `local_ttl`,
//! the Redis copy `ttl`; past `local_ttl` a call reads Redis (no computation while Redis
//! has a current entry) and fills the process copy again, never past the Redis entry's
//! own remaining TTL; past `ttl` the call recomputes.

#![cfg(feature = "redis")]

mod common;

use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering::SeqCst};
use std::time::Duration;

use cache_runtime::__private::{CacheSite, SiteSpec, Tier};
use cache_runtime::Scope;
use common::remote::*;
use common::{call_in, counted, spec};
use test_support::RedisServer;
use tokio::time::sleep;

#[tokio::test]
async fn past_local_ttl_a_call_reads_redis_and_past_ttl_it_recomputes() {
    static SITE: CacheSite = CacheSite::new(SiteSpec {
        local_ttl_ms: 1_000,
        ..spec("lt_tiers", 2_000)
    });
    let server = RedisServer::start();
    let rt = runtime(&server.url(), "lttl");
    connected(&rt).await;
    let runs = Arc::new(AtomicU32::new(0));
    let call = || call_in(&rt, &SITE, 1, || counted(&runs));

    assert_eq!(call().await, Ok("v1".into()));
    written(&server, &redis_key("lttl", "lt_tiers", 1)).await;
    let began = std::time::Instant::now();
    let (v, outcomes) = Scope::observe().run(call()).await;
    assert_eq!(v, Ok("v1".into()), "a hit in process");
    assert_eq!(stats_of(&rt, "lt_tiers").l2.hits, 0);
    // Measured against local_ttl: a new copy, not `ttl - local_ttl` old.
    assert!(outcomes.age() < Duration::from_millis(500), "{outcomes:?}");
    assert!(outcomes.fresh_for() <= Some(Duration::from_millis(1_000)));

    // Past local_ttl, inside ttl: read from Redis, not computed.
    sleep(Duration::from_millis(1_300).saturating_sub(began.elapsed())).await;
    let (v, outcomes) = Scope::observe().run(call()).await;
    assert_eq!(v, Ok("v1".into()));
    assert_eq!(outcomes.x_cache(), "HIT");
    assert_eq!(
        runs.load(SeqCst),
        1,
        "no computation while Redis has the entry"
    );
    let s = stats_of(&rt, "lt_tiers");
    assert_eq!((s.l2.hits, s.computes), (1, 1), "{s:?}");

    // The process copy is filled again: a hit in process, no second read.
    sleep(Duration::from_millis(100)).await;
    assert_eq!(call().await, Ok("v1".into()));
    assert_eq!(stats_of(&rt, "lt_tiers").l2.hits, 1);

    // Past ttl: the refilled copy did not outlive the Redis entry (a full local_ttl from
    // the read would have lasted until ~2.3 s), so the call recomputes.
    sleep(Duration::from_millis(2_150).saturating_sub(began.elapsed())).await;
    assert_eq!(call().await, Ok("v2".into()), "recomputed after ttl");
    assert_eq!(runs.load(SeqCst), 2);
}

#[tokio::test]
async fn a_local_tier_cache_keeps_its_copy_for_ttl() {
    // The builder's tier override makes the cache local: one copy, `ttl` applies.
    static SITE: CacheSite = CacheSite::new(SiteSpec {
        local_ttl_ms: 100,
        tier: Tier::Local,
        ..spec("lt_local", 60_000)
    });
    let server = RedisServer::start();
    let rt = runtime(&server.url(), "lttl_local");
    connected(&rt).await;
    let runs = Arc::new(AtomicU32::new(0));
    assert_eq!(
        call_in(&rt, &SITE, 1, || counted(&runs)).await,
        Ok("v1".into())
    );
    sleep(Duration::from_millis(250)).await;
    assert_eq!(
        call_in(&rt, &SITE, 1, || counted(&runs)).await,
        Ok("v1".into())
    );
    assert_eq!(runs.load(SeqCst), 1);
    let s = stats_of(&rt, "lt_local");
    assert_eq!((s.hits, s.l2.hits, s.l2.misses), (1, 0, 0), "{s:?}");
}
