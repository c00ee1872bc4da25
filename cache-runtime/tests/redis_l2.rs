//! The remote tier against a real redis-server: reads, writes, TTLs, foreign bytes,
//! tiers, start-up without Redis, statistics.

#![cfg(feature = "redis")]

mod common;

use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering::SeqCst};
use std::time::Duration;

use cache_runtime::__private::{CacheSite, SiteSpec};
use cache_runtime::{CacheRuntime, CircuitState, Scope, Tier};
use common::remote::*;
use common::{call_in, counted, spec};
use test_support::{RedisServer, free_port};

#[tokio::test]
async fn a_value_computed_by_one_runtime_is_a_hit_in_another() {
    static SITE: CacheSite = CacheSite::new(spec("l2_share", 60_000));
    let server = RedisServer::start();
    let (a, b) = connected_pair(&server, "share").await;
    let runs = Arc::new(AtomicU32::new(0));

    assert_eq!(
        call_in(&a, &SITE, 1, || counted(&runs)).await,
        Ok("v1".into())
    );
    // The Redis key is the CacheKey's display form.
    written(&server, &redis_key("share", "l2_share", 1)).await;

    let (value, outcomes) = Scope::observe()
        .run(call_in(&b, &SITE, 1, || counted(&runs)))
        .await;
    assert_eq!(value, Ok("v1".into()));
    assert_eq!(outcomes.x_cache(), "HIT");
    assert_eq!(runs.load(SeqCst), 1, "b did not compute");
    let s = stats_of(&b, "l2_share");
    assert_eq!((s.misses, s.l2.hits, s.l2.misses, s.computes), (1, 1, 0, 0));
    assert!(s.l2.mean_read_ms > 0.0);
    println!("L2 hit, as the caller saw it: {:.3} ms", s.l2.mean_read_ms);

    // Filled in process: the next call is an L1 hit, with no Redis read.
    assert!(l1_has(&b, &SITE, 1));
    assert_eq!(
        call_in(&b, &SITE, 1, || counted(&runs)).await,
        Ok("v1".into())
    );
    assert_eq!(stats_of(&b, "l2_share").l2.hits, 1);
    let sa = stats_of(&a, "l2_share");
    assert_eq!((sa.l2.misses, sa.l2.writes), (1, 1));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_misses_read_redis_once() {
    static SITE: CacheSite = CacheSite::new(spec("l2_flight", 60_000));
    let server = RedisServer::start();
    let (a, b) = connected_pair(&server, "flight").await;
    let runs = Arc::new(AtomicU32::new(0));
    call_in(&a, &SITE, 7, || counted(&runs))
        .await
        .expect("computed");
    written(&server, &redis_key("flight", "l2_flight", 7)).await;
    let tasks: Vec<_> = (0..16)
        .map(|_| {
            let (b, runs) = (b.clone(), Arc::clone(&runs));
            tokio::spawn(async move { call_in(&b, &SITE, 7, || counted(&runs)).await })
        })
        .collect();
    for t in tasks {
        assert_eq!(t.await.expect("task"), Ok("v1".into()));
    }
    assert_eq!(runs.load(SeqCst), 1);
    let s = stats_of(&b, "l2_flight");
    assert_eq!(s.computes, 0);
    assert!(s.l2.hits <= s.misses && s.l2.hits >= 1);
    assert_eq!(s.l2.hits + s.coalesced + s.hits, 16);
}

#[tokio::test]
async fn an_l2_hit_keeps_only_the_remaining_ttl() {
    static SITE: CacheSite = CacheSite::new(spec("l2_ttl", 1_500));
    let server = RedisServer::start();
    let (a, b) = connected_pair(&server, "ttl").await;
    let runs = Arc::new(AtomicU32::new(0));
    call_in(&a, &SITE, 1, || counted(&runs))
        .await
        .expect("computed");
    let key = redis_key("ttl", "l2_ttl", 1);
    written(&server, &key).await;
    let pttl: i64 = server.cmd(&[b"PTTL", key.as_bytes()]);
    assert!(
        (1_000..=1_500).contains(&pttl),
        "expiry is the TTL (no stale window): {pttl}"
    );

    tokio::time::sleep(Duration::from_millis(900)).await;
    assert_eq!(
        call_in(&b, &SITE, 1, || counted(&runs)).await,
        Ok("v1".into())
    );
    assert_eq!(stats_of(&b, "l2_ttl").l2.hits, 1);
    // 1.7 s after the computation: past the TTL in b too, although b filled it at 0.9 s.
    tokio::time::sleep(Duration::from_millis(800)).await;
    assert!(
        !l1_has(&b, &SITE, 1),
        "b kept the value past its original TTL"
    );
    assert_eq!(
        call_in(&b, &SITE, 1, || counted(&runs)).await,
        Ok("v2".into())
    );
}

#[tokio::test]
async fn redis_expiry_covers_the_stale_window() {
    static SITE: CacheSite = CacheSite::new(SiteSpec {
        stale_if_error_ms: 5_000,
        ..spec("l2_stale", 1_000)
    });
    let server = RedisServer::start();
    let a = runtime(&server.url(), "stale");
    connected(&a).await;
    let runs = Arc::new(AtomicU32::new(0));
    call_in(&a, &SITE, 1, || counted(&runs))
        .await
        .expect("computed");
    let key = redis_key("stale", "l2_stale", 1);
    written(&server, &key).await;
    let pttl: i64 = server.cmd(&[b"PTTL", key.as_bytes()]);
    assert!(
        (5_500..=6_000).contains(&pttl),
        "TTL + stale window: {pttl}"
    );
}

/// An envelope in the documented format around `body`.
fn envelope(format: u8, body: &[u8]) -> Vec<u8> {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("clock")
        .as_millis() as u64;
    let mut out = vec![format];
    for v in [now, 60_000, now + 60_000, 0] {
        out.extend_from_slice(&v.to_le_bytes());
    }
    out.extend_from_slice(&0u16.to_le_bytes());
    out.extend_from_slice(body);
    out
}

#[tokio::test]
async fn foreign_bytes_are_a_counted_miss_and_are_overwritten() {
    static SITE: CacheSite = CacheSite::new(spec("l2_foreign", 60_000));
    let server = RedisServer::start();
    let a = runtime(&server.url(), "foreign");
    connected(&a).await;
    let cases: [(&str, Vec<u8>); 5] = [
        ("garbage", b"\xc1 definitely not an envelope".to_vec()),
        ("empty", Vec::new()),
        ("another format version", envelope(3, b"\xa2v1")),
        (
            "another value type (u64)",
            cache_runtime::__private::seal_envelope(
                &redis_key("foreign", "l2_foreign", 3),
                &[0x2a],
                &[],
                1024,
                false,
            )
            .expect("sealed"),
        ),
        ("truncated header", envelope(2, b"")[..20].to_vec()),
    ];
    for (i, (what, bytes)) in cases.into_iter().enumerate() {
        let k = i as u64;
        let key = redis_key("foreign", "l2_foreign", k);
        server.cmd::<()>(&[b"SET", key.as_bytes(), &bytes, b"PX", b"60000"]);
        // A fresh runtime each time: nothing in process.
        let b = runtime(&server.url(), "foreign");
        connected(&b).await;
        let value = call_in(&b, &SITE, k, || async move { Ok(format!("fresh{k}")) }).await;
        assert_eq!(value, Ok(format!("fresh{k}")), "{what}");
        let s = stats_of(&b, "l2_foreign");
        assert_eq!(
            (s.l2.decode_failures, s.l2.hits, s.computes),
            (1, 0, 1),
            "{what}"
        );
        // Overwritten: a third runtime reads the fresh value from Redis.
        let ok = eventually(Duration::from_secs(2), || {
            server.cmd::<Vec<u8>>(&[b"GET", key.as_bytes()]) != bytes
        })
        .await;
        assert!(ok, "{what}: not overwritten");
        let c = runtime(&server.url(), "foreign");
        connected(&c).await;
        let value = call_in(&c, &SITE, k, || async { Ok("recomputed".to_string()) }).await;
        assert_eq!(value, Ok(format!("fresh{k}")), "{what}");
        assert_eq!(stats_of(&c, "l2_foreign").l2.hits, 1, "{what}");
    }
    let _ = a;
}

#[tokio::test]
async fn sync_calls_stay_in_process() {
    static SITE: CacheSite = CacheSite::new(spec("l2_sync", 60_000));
    let server = RedisServer::start();
    let a = runtime(&server.url(), "sync");
    connected(&a).await;
    let runs = AtomicU32::new(0);
    let body = || Ok(format!("s{}", runs.fetch_add(1, SeqCst) + 1));
    assert_eq!(call_sync_in(&a, &SITE, 1, body), Ok("s1".into()));
    assert_eq!(call_sync_in(&a, &SITE, 1, body), Ok("s1".into()));
    tokio::time::sleep(Duration::from_millis(100)).await;
    assert!(server.keys("sync:*").is_empty());
    let s = stats_of(&a, "l2_sync");
    assert_eq!(
        (s.l2.hits, s.l2.misses, s.l2.writes, s.l2.skipped),
        (0, 0, 0, 0)
    );
}

#[tokio::test]
async fn tiers_choose_where_values_live() {
    static LOCAL: CacheSite = CacheSite::new(spec("l2_tier_local", 60_000));
    static REMOTE: CacheSite = CacheSite::new(spec("l2_tier_remote", 60_000));
    let server = RedisServer::start();
    let a = CacheRuntime::builder()
        .namespace("tier")
        .redis(server.url())
        .cache_tier("l2_tier_local", Tier::Local)
        .cache_tier("l2_tier_remote", Tier::Remote)
        .build();
    connected(&a).await;
    let runs = Arc::new(AtomicU32::new(0));

    call_in(&a, &LOCAL, 1, || counted(&runs))
        .await
        .expect("computed");
    assert!(l1_has(&a, &LOCAL, 1));

    assert_eq!(
        call_in(&a, &REMOTE, 1, || counted(&runs)).await,
        Ok("v2".into())
    );
    written(&server, &redis_key("tier", "l2_tier_remote", 1)).await;
    assert!(
        !l1_has(&a, &REMOTE, 1),
        "a remote-only cache keeps nothing in process"
    );
    assert_eq!(
        call_in(&a, &REMOTE, 1, || counted(&runs)).await,
        Ok("v2".into())
    );
    assert_eq!(runs.load(SeqCst), 2);
    assert_eq!(stats_of(&a, "l2_tier_remote").l2.hits, 1);

    assert_eq!(
        server.keys("tier:*"),
        vec![redis_key("tier", "l2_tier_remote", 1)]
    );
    let s = stats_of(&a, "l2_tier_local");
    assert_eq!((s.l2.misses, s.l2.writes), (0, 0));
}

#[tokio::test]
async fn the_attribute_chooses_the_tier_and_the_builder_overrides_it() {
    // `#[cache_result(tier = "remote")]` and `tier = "local"`.
    static REMOTE: CacheSite = CacheSite::new(SiteSpec {
        tier: Tier::Remote,
        ..spec("l2_attr_remote", 60_000)
    });
    static LOCAL: CacheSite = CacheSite::new(SiteSpec {
        tier: Tier::Local,
        ..spec("l2_attr_local", 60_000)
    });
    let server = RedisServer::start();
    let a = CacheRuntime::builder()
        .namespace("attrtier")
        .redis(server.url())
        .cache_tier("l2_attr_local", Tier::Both)
        .build();
    connected(&a).await;
    let runs = Arc::new(AtomicU32::new(0));
    call_in(&a, &REMOTE, 1, || counted(&runs))
        .await
        .expect("computed");
    written(&server, &redis_key("attrtier", "l2_attr_remote", 1)).await;
    assert!(!l1_has(&a, &REMOTE, 1), "remote only: nothing in process");
    // The builder said `Both` for the cache whose attribute said `local`.
    call_in(&a, &LOCAL, 1, || counted(&runs))
        .await
        .expect("computed");
    assert!(l1_has(&a, &LOCAL, 1));
    written(&server, &redis_key("attrtier", "l2_attr_local", 1)).await;

    // Without a remote tier a remote-only cache is an in-process cache.
    let local = CacheRuntime::builder().namespace("attrtier").build();
    call_in(&local, &REMOTE, 2, || counted(&runs))
        .await
        .expect("computed");
    assert!(l1_has(&local, &REMOTE, 2));
}

#[tokio::test]
async fn a_runtime_serves_while_redis_is_down_and_uses_it_once_it_appears() {
    static SITE: CacheSite = CacheSite::new(spec("l2_late", 60_000));
    let port = free_port();
    let url = format!("redis://127.0.0.1:{port}");
    let a = runtime(&url, "late");
    let runs = Arc::new(AtomicU32::new(0));
    let started = std::time::Instant::now();
    assert_eq!(
        call_in(&a, &SITE, 1, || counted(&runs)).await,
        Ok("v1".into())
    );
    assert_eq!(
        call_in(&a, &SITE, 1, || counted(&runs)).await,
        Ok("v1".into())
    );
    assert!(started.elapsed() < Duration::from_millis(500));
    let l2 = a.stats().l2.expect("configured");
    assert!(!l2.connected);
    assert_eq!(stats_of(&a, "l2_late").l2.skipped, 1);

    let server = RedisServer::start_on(port).expect("redis starts on the chosen port");
    connected(&a).await;
    let mut k = 2;
    let ok = loop {
        call_in(&a, &SITE, k, || counted(&runs))
            .await
            .expect("computed");
        if stats_of(&a, "l2_late").l2.writes > 0 {
            break true;
        }
        if k > 200 {
            break false;
        }
        k += 1;
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    assert!(ok, "no write reached redis after it appeared");
    assert!(!server.keys("late:l2_late:*").is_empty());
}

#[tokio::test]
async fn an_invalid_url_leaves_a_local_runtime() {
    static SITE: CacheSite = CacheSite::new(spec("l2_bad_url", 60_000));
    let a = runtime("not a url", "bad");
    assert!(a.stats().l2.is_none());
    let runs = Arc::new(AtomicU32::new(0));
    assert_eq!(
        call_in(&a, &SITE, 1, || counted(&runs)).await,
        Ok("v1".into())
    );
    assert_eq!(
        call_in(&a, &SITE, 1, || counted(&runs)).await,
        Ok("v1".into())
    );
}

#[tokio::test]
async fn stats_and_prometheus_show_the_remote_tier() {
    static SITE: CacheSite = CacheSite::new(spec("l2_prom", 60_000));
    let server = RedisServer::start();
    let (a, b) = connected_pair(&server, "prom").await;
    let runs = Arc::new(AtomicU32::new(0));
    call_in(&a, &SITE, 1, || counted(&runs))
        .await
        .expect("computed");
    written(&server, &redis_key("prom", "l2_prom", 1)).await;
    call_in(&b, &SITE, 1, || counted(&runs)).await.expect("hit");
    let l2 = b.stats().l2.expect("configured");
    assert!(l2.connected);
    assert_eq!(l2.circuit, CircuitState::Closed);
    assert!(l2.mean_latency_ms > 0.0);
    let ok = eventually(Duration::from_secs(1), || {
        b.stats().l2.is_some_and(|l| l.backplane_received >= 1)
    })
    .await;
    assert!(ok, "b heard a's write announcement");
    assert!(a.stats().l2.expect("configured").backplane_sent >= 1);
    let json = serde_json::to_value(b.stats()).expect("serializes");
    assert_eq!(json["l2"]["circuit"], "closed");
    assert_eq!(json["caches"][0]["l2"]["hits"], 1);
    let text = b.prometheus();
    for line in [
        "cache_l2_hits_total{namespace=\"prom\",cache=\"l2_prom\"} 1",
        "cache_l2_decode_failures_total{namespace=\"prom\",cache=\"l2_prom\"} 0",
        "cache_l2_circuit_state{namespace=\"prom\"} 0",
        "cache_l2_connected{namespace=\"prom\"} 1",
        "# TYPE cache_backplane_received_total counter",
        "# TYPE cache_l2_read_seconds_mean gauge",
    ] {
        assert!(text.contains(line), "missing {line} in\n{text}");
    }
}
