//! The remote tier when Redis dies, freezes or comes back: no call fails, hangs, panics or
//! returns a wrong value, and the tier recovers by itself.

#![cfg(feature = "redis")]

mod common;

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU32, Ordering::SeqCst};
use std::time::{Duration, Instant};

use cache_runtime::__private::CacheSite;
use cache_runtime::{CacheKey, CircuitState};
use common::remote::*;
use common::{call_in, spec};
use test_support::RedisServer;

/// Each key has one right value, so a mixed-up answer shows.
fn right(k: u64) -> Res {
    Ok(format!("value-{k}"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn killing_redis_while_calls_run_fails_no_call() {
    static SITE: CacheSite = CacheSite::new(spec("fail_kill", 60_000));
    let mut server = RedisServer::start();
    let rt = runtime(&server.url(), "kill");
    connected(&rt).await;
    let stop = Arc::new(AtomicBool::new(false));
    let tasks: Vec<_> = (0..8u64)
        .map(|t| {
            let (rt, stop) = (rt.clone(), Arc::clone(&stop));
            tokio::spawn(async move {
                let mut rng = fastrand::Rng::with_seed(t);
                let (mut calls, mut slowest) = (0u32, Duration::ZERO);
                while !stop.load(SeqCst) {
                    // Mostly misses, so Redis is read and written all along; a hit does
                    // not yield, so yield to keep the test's own timers running.
                    tokio::task::yield_now().await;
                    let k = rng.u64(0..100_000);
                    let began = Instant::now();
                    let v = call_in(&rt, &SITE, k, || async move {
                        tokio::time::sleep(Duration::from_millis(1)).await;
                        right(k)
                    })
                    .await;
                    assert_eq!(v, right(k));
                    slowest = slowest.max(began.elapsed());
                    calls += 1;
                }
                (calls, slowest)
            })
        })
        .collect();
    tokio::time::sleep(Duration::from_millis(300)).await;
    server.kill();
    tokio::time::sleep(Duration::from_millis(700)).await;
    stop.store(true, SeqCst);
    let mut total = 0;
    for t in tasks {
        let (calls, slowest) = t.await.expect("no call panicked");
        assert!(
            slowest < Duration::from_millis(500),
            "a call took {slowest:?}"
        );
        total += calls;
    }
    let s = stats_of(&rt, "fail_kill");
    println!("{total} calls; l2 {:?}", s.l2);
    assert!(
        s.l2.errors + s.l2.timeouts + s.l2.skipped > 0,
        "redis failures were counted"
    );
    assert!(
        s.l2.writes > 0 && s.l2.misses > 0,
        "redis was used before the kill"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_frozen_redis_costs_at_most_the_deadline_then_the_circuit_opens() {
    static SITE: CacheSite = CacheSite::new(spec("fail_pause", 60_000));
    let server = RedisServer::start();
    let (a, b) = connected_pair(&server, "pause").await;
    server.pause();
    let began = Instant::now();
    for k in 0..20u64 {
        let t = Instant::now();
        assert_eq!(
            call_in(&a, &SITE, k, || async move { right(k) }).await,
            right(k)
        );
        // 50 ms deadline plus a compute of nothing, checked loosely.
        assert!(
            t.elapsed() < Duration::from_secs(1),
            "call {k} took {:?}",
            t.elapsed()
        );
    }
    let frozen = began.elapsed();
    let s = stats_of(&a, "fail_pause");
    let l2 = a.stats().l2.expect("configured");
    println!(
        "20 calls against a frozen redis: {frozen:?}; {:?}; circuit {:?}",
        s.l2, l2.circuit
    );
    assert!(s.l2.timeouts >= 5, "reads timed out: {:?}", s.l2);
    assert!(
        s.l2.skipped >= 10,
        "then the circuit skipped redis: {:?}",
        s.l2
    );
    assert_eq!(l2.circuit, CircuitState::Open);
    assert!(frozen < Duration::from_secs(2), "{frozen:?}");

    server.resume();
    // After the cool-down a probe goes through and closes the circuit.
    let mut k = 100;
    let closed = loop {
        call_in(&a, &SITE, k, || async move { right(k) })
            .await
            .expect("value");
        if a.stats()
            .l2
            .is_some_and(|l| l.circuit == CircuitState::Closed)
        {
            break true;
        }
        if k > 1_000 {
            break false;
        }
        k += 1;
        tokio::time::sleep(Duration::from_millis(10)).await;
    };
    assert!(closed, "the circuit closed again");
    // And values flow through Redis again: b (idle while Redis was frozen) reads what a
    // writes now.
    let k = 5_000;
    call_in(&a, &SITE, k, || async move { right(k) })
        .await
        .expect("value");
    let key = CacheKey::new::<String, _>("pause", "fail_pause", 0, &(k,))
        .expect("key")
        .to_string();
    let ok = eventually(Duration::from_secs(2), || server.holds_value(&key)).await;
    assert!(ok, "a wrote to redis again");
    let runs = AtomicU32::new(0);
    let v = call_in(&b, &SITE, k, || {
        runs.fetch_add(1, SeqCst);
        async move { right(k) }
    })
    .await;
    assert_eq!((v, runs.load(SeqCst)), (right(k), 0));
    assert_eq!(stats_of(&b, "fail_pause").l2.hits, 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn after_a_restart_hits_resume_and_in_process_entries_are_cleared() {
    static SITE: CacheSite = CacheSite::new(spec("fail_restart", 60_000));
    let mut server = RedisServer::start();
    let (a, b) = connected_pair(&server, "restart").await;
    call_in(&a, &SITE, 1, || async { right(1) })
        .await
        .expect("value");
    assert!(l1_has(&a, &SITE, 1));

    server.restart();
    // Both instances resubscribe and clear what they held: invalidations sent while they
    // were cut off would otherwise be lost on them.
    let ok = eventually(Duration::from_secs(5), || {
        a.stats().l2.is_some_and(|l| l.backplane_resubscribed >= 1)
    })
    .await;
    assert!(ok, "a resubscribed");
    assert!(!l1_has(&a, &SITE, 1), "a cleared its in-process tier");

    // L2 hits resume: a computes a new key, b reads it from Redis.
    let began = Instant::now();
    let runs = AtomicU32::new(0);
    let mut k = 10;
    let resumed = loop {
        call_in(&a, &SITE, k, || async move { right(k) })
            .await
            .expect("value");
        tokio::time::sleep(Duration::from_millis(20)).await;
        let v = call_in(&b, &SITE, k, || {
            runs.fetch_add(1, SeqCst);
            async move { right(k) }
        })
        .await;
        assert_eq!(v, right(k));
        if stats_of(&b, "fail_restart").l2.hits > 0 {
            break true;
        }
        if began.elapsed() > Duration::from_secs(10) {
            break false;
        }
        k += 1;
    };
    println!("L2 hits resumed {:?} after the restart", began.elapsed());
    assert!(resumed, "L2 hits resumed after the restart");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_idle_instance_sees_redis_go_and_come_back() {
    let mut server = RedisServer::start();
    let rt = runtime(&server.url(), "failures_idle");
    let connected = || rt.stats().l2.is_some_and(|l2| l2.connected);
    assert!(
        eventually(Duration::from_secs(3), connected).await,
        "connects at start-up"
    );
    // No calls at all: the instance learns from the backplane's keep-alive alone.
    server.kill();
    assert!(
        eventually(Duration::from_secs(4), || !connected()).await,
        "reports Redis gone without any traffic"
    );
    server.restart();
    assert!(
        eventually(Duration::from_secs(5), connected).await,
        "reports Redis back"
    );
}

/// A client starved of CPU (spinning threads, several per core) against a healthy Redis:
/// some answers come late, most do not, and the circuit must stay closed: the late answers
/// are this process's fault, and switching Redis off would only add load.
#[test]
fn a_starved_client_does_not_open_the_circuit_against_a_healthy_redis() {
    static SITE: CacheSite = CacheSite::new(cache_runtime::__private::SiteSpec {
        tier: cache_runtime::Tier::Remote, // remote only: every call reads Redis
        ..spec("fail_starved", 60_000)
    });
    let server = RedisServer::start();
    let rt = cache_runtime::CacheRuntime::builder()
        .namespace("starved")
        .redis(server.url())
        .redis_timeout(Duration::from_millis(2))
        .build();
    let tokio = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("tokio");
    tokio.block_on(async {
        connected(&rt).await;
        for k in 0..8 {
            call_in(&rt, &SITE, k, || async move { right(k) })
                .await
                .expect("computed");
            written(&server, &redis_key("starved", "fail_starved", k)).await;
        }
        // A service that has been running: its recent operations succeeded.
        for i in 0..400u64 {
            let k = i % 8;
            assert_eq!(
                call_in(&rt, &SITE, k, || async move { right(k) }).await,
                right(k)
            );
        }
    });
    let stop = Arc::new(AtomicBool::new(false));
    let hogs: Vec<_> = (0..8)
        .map(|_| {
            let stop = Arc::clone(&stop);
            std::thread::spawn(move || {
                let mut x = 0u64;
                while !stop.load(SeqCst) {
                    x = std::hint::black_box(x.wrapping_mul(31).wrapping_add(7));
                }
            })
        })
        .collect();
    let mut opened = false;
    let began = Instant::now();
    tokio.block_on(async {
        let mut calls = 0;
        while began.elapsed() < Duration::from_millis(1500) && calls < 3000 {
            let tasks: Vec<_> = (0..8u64)
                .map(|k| {
                    let rt = rt.clone();
                    let call =
                        async move { call_in(&rt, &SITE, k, || async move { right(k) }).await };
                    (k, tokio::spawn(call))
                })
                .collect();
            for (k, t) in tasks {
                assert_eq!(t.await.expect("task"), right(k));
            }
            calls += 8;
            opened |= rt
                .stats()
                .l2
                .is_some_and(|l| l.circuit != CircuitState::Closed);
        }
    });
    stop.store(true, SeqCst);
    for h in hogs {
        let _ = h.join();
    }
    let s = stats_of(&rt, "fail_starved").l2;
    let l2 = rt.stats().l2.expect("configured");
    println!("starved client: {s:?}; runtime {l2:?}");
    assert!(s.hits > 500, "the reads mostly succeeded: {s:?}");
    assert!(!opened, "the circuit opened against a healthy redis: {s:?}");
}

/// Waits (without a tokio timer) until `cond` holds, for at most `limit`.
fn poll_blocking(limit: Duration, mut cond: impl FnMut() -> bool) -> bool {
    let until = Instant::now() + limit;
    while !cond() {
        if Instant::now() > until {
            return false;
        }
        std::thread::sleep(Duration::from_millis(5));
    }
    true
}

/// A caller on its own current-thread runtime, built without timers, runs its Redis reads
/// itself: it reads another instance's entry, and against a frozen Redis it still gets its
/// answer after about the deadline (timed on the Redis thread), without a panic.
#[test]
fn a_caller_on_a_current_thread_runtime_without_timers_reads_redis_within_the_deadline() {
    static SITE: CacheSite = CacheSite::new(cache_runtime::__private::SiteSpec {
        tier: cache_runtime::Tier::Remote, // remote only: every call reads Redis
        ..spec("fail_bare_rt", 60_000)
    });
    let server = RedisServer::start();
    let (a, b) = (
        runtime(&server.url(), "bare"),
        runtime(&server.url(), "bare"),
    );
    let up = |rt: &cache_runtime::CacheRuntime| {
        poll_blocking(Duration::from_secs(5), || {
            rt.stats().l2.is_some_and(|l2| l2.connected)
        })
    };
    assert!(up(&a) && up(&b), "both runtimes connected");
    let bare = tokio::runtime::Builder::new_current_thread()
        .build()
        .expect("a runtime without timers");
    let key = redis_key("bare", "fail_bare_rt", 7);
    bare.block_on(call_in(&a, &SITE, 7, || async { right(7) }))
        .expect("computed");
    assert!(
        poll_blocking(Duration::from_secs(2), || { server.holds_value(&key) }),
        "a wrote its entry to redis"
    );
    let runs = AtomicU32::new(0);
    let v = bare.block_on(call_in(&b, &SITE, 7, || {
        runs.fetch_add(1, SeqCst);
        async { right(7) }
    }));
    assert_eq!((v, runs.load(SeqCst)), (right(7), 0), "b read a's entry");
    assert_eq!(stats_of(&b, "fail_bare_rt").l2.hits, 1);

    server.pause();
    let began = Instant::now();
    let v = bare.block_on(call_in(&b, &SITE, 8, || async { right(8) }));
    let took = began.elapsed();
    server.resume();
    assert_eq!(v, right(8));
    assert!(
        took < Duration::from_secs(1),
        "the frozen read took {took:?}"
    );
    let s = stats_of(&b, "fail_bare_rt");
    assert!(s.l2.timeouts >= 1, "the read timed out: {:?}", s.l2);
}
