//! The fail-safe copy in Redis serves every instance, not only its writer; readiness (a
//! way to wait, with a deadline, until the remote tier is connected) and flushing (until
//! what a runtime began in Redis in the background has landed).

#![cfg(feature = "redis")]

mod common;

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering::SeqCst};
use std::time::{Duration, Instant};

use cache_runtime::__private::{CacheSite, SiteSpec};
use cache_runtime::{CacheRuntime, Readiness, Scope};
use common::remote::*;
use common::{call_in, spec};
use test_support::{RedisServer, free_port};

/// `ttl = "300ms", stale_if_error = "30s"`.
const fn fail_safe(name: &'static str) -> SiteSpec {
    SiteSpec {
        stale_if_error_ms: 30_000,
        ..spec(name, 300)
    }
}

static SHARED: CacheSite = CacheSite::new(fail_safe("fs_shared"));

/// The child side of [`another_instance_serves_the_fail_safe_copy_when_its_recomputation_fails`]:
/// an instance that never saw the value, whose recomputation fails.
async fn child(url: &str) {
    let rt = runtime(url, "fsproc");
    connected(&rt).await;
    let (v, outcomes) = Scope::observe()
        .run(call_in(&rt, &SHARED, 1, || async {
            Err("the database is down".to_string())
        }))
        .await;
    let outcome = outcomes.iter().next().map(|c| c.outcome);
    println!(
        "GOT {v:?} {outcome:?} stale_served={}",
        stats_of(&rt, "fs_shared").stale_served
    );
}

#[test]
fn another_instance_serves_the_fail_safe_copy_when_its_recomputation_fails() {
    let tokio = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("tokio");
    if let Some(url) = std::env::var_os("CACHE_FAILSAFE_CHILD_URL") {
        tokio.block_on(child(&url.to_string_lossy()));
        return;
    }
    let server = RedisServer::start();
    let a = runtime(&server.url(), "fsproc");
    tokio.block_on(async {
        connected(&a).await;
        call_in(&a, &SHARED, 1, || async { Ok("computed by A".to_string()) })
            .await
            .expect("computed");
        written(&server, &redis_key("fsproc", "fs_shared", 1)).await;
        // Past the TTL, well inside the stale window.
        tokio::time::sleep(Duration::from_millis(500)).await;
    });
    let exe = std::env::current_exe().expect("test binary");
    let mut child = Command::new(exe)
        .args([
            "--exact",
            "another_instance_serves_the_fail_safe_copy_when_its_recomputation_fails",
            "--nocapture",
        ])
        .env("CACHE_FAILSAFE_CHILD_URL", server.url())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("child runs");
    let stdout = child.stdout.take().expect("piped");
    let got = BufReader::new(stdout)
        .lines()
        .map_while(Result::ok)
        .find(|l| l.starts_with("GOT "))
        .expect("the child reported");
    let _ = child.wait();
    assert_eq!(
        got, "GOT Ok(\"computed by A\") Some(Stale) stale_served=1",
        "the other process served A's fail-safe copy from redis"
    );
}

#[tokio::test]
async fn a_fresh_instance_does_not_serve_an_expired_copy_when_recomputation_succeeds() {
    static SITE: CacheSite = CacheSite::new(fail_safe("fs_success"));
    let server = RedisServer::start();
    let (a, b) = connected_pair(&server, "fssucc").await;
    call_in(&a, &SITE, 1, || async { Ok("old".to_string()) })
        .await
        .expect("computed");
    written(&server, &redis_key("fssucc", "fs_success", 1)).await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    let v = call_in(&b, &SITE, 1, || async { Ok("new".to_string()) }).await;
    assert_eq!(v, Ok("new".into()));
    assert_eq!(stats_of(&b, "fs_success").stale_served, 0);
}

#[tokio::test]
async fn an_invalidated_fail_safe_copy_is_not_served() {
    static SITE: CacheSite = CacheSite::new(fail_safe("fs_invalidated"));
    let server = RedisServer::start();
    let (a, b) = connected_pair(&server, "fsinv").await;
    call_in(&a, &SITE, 1, || async { Ok("old".to_string()) })
        .await
        .expect("computed");
    written(&server, &redis_key("fsinv", "fs_invalidated", 1)).await;
    a.invalidate_all("fs_invalidated");
    tokio::time::sleep(Duration::from_millis(500)).await;
    let v = call_in(&b, &SITE, 1, || async { Err("down".to_string()) }).await;
    assert_eq!(v, Err("down".into()), "an invalidated copy is no fail-safe");
}

#[tokio::test]
async fn ready_waits_until_redis_answers_and_says_so() {
    let local = CacheRuntime::builder().build();
    assert_eq!(
        local.ready(Duration::from_millis(10)).await,
        Readiness::LocalOnly
    );

    let port = free_port();
    let rt = CacheRuntime::builder()
        .namespace("ready")
        .redis(format!("redis://127.0.0.1:{port}"))
        .build();
    let began = Instant::now();
    assert_eq!(
        rt.ready(Duration::from_millis(300)).await,
        Readiness::TimedOut
    );
    let waited = began.elapsed();
    assert!(
        waited >= Duration::from_millis(290),
        "gave up early: {waited:?}"
    );
    assert!(
        waited < Duration::from_secs(2),
        "overran the deadline: {waited:?}"
    );

    // Redis appears: a waiter in progress learns it as soon as the tier is connected.
    let waiting = {
        let rt = rt.clone();
        tokio::spawn(async move { rt.ready(Duration::from_secs(10)).await })
    };
    tokio::time::sleep(Duration::from_millis(100)).await;
    let _server = RedisServer::start_on(port).expect("the port is still free");
    assert_eq!(waiting.await.expect("waiter"), Readiness::Connected);
    assert!(rt.stats().l2.is_some_and(|l2| l2.connected));
    // Once connected, ready answers at once.
    let began = Instant::now();
    assert_eq!(rt.ready(Duration::from_secs(5)).await, Readiness::Connected);
    assert!(began.elapsed() < Duration::from_secs(1));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn flush_waits_until_writes_and_invalidations_have_landed_in_redis() {
    static SITE: CacheSite = CacheSite::new(spec("fs_flush", 60_000));
    let local = CacheRuntime::builder().build();
    assert!(
        local.flush(Duration::from_millis(10)).await.is_complete(),
        "nothing in flight"
    );

    let server = RedisServer::start();
    let (a, b) = connected_pair(&server, "fsflush").await;
    let key = redis_key("fsflush", "fs_flush", 1);
    let exists = || server.holds_value(&key);
    let value = |v: &'static str| move || async move { Ok(v.to_string()) };
    call_in(&a, &SITE, 1, value("v1")).await.expect("computed");
    assert!(a.flush(Duration::from_secs(5)).await.is_complete());
    assert!(exists(), "the write had landed when flush returned");
    call_in(&b, &SITE, 1, value("unused")).await.expect("read");
    assert_eq!(stats_of(&b, "fs_flush").l2.hits, 1);

    // Redis freezes: the invalidation cannot land, and flush says so at its deadline.
    server.pause();
    assert!(a.invalidate("fs_flush", &(1u64,)));
    let began = Instant::now();
    assert!(
        a.flush(Duration::from_millis(300)).await.pending > 0,
        "still in flight"
    );
    let waited = began.elapsed();
    server.resume();
    assert!(
        waited >= Duration::from_millis(290) && waited < Duration::from_secs(2),
        "flush kept its deadline: {waited:?}"
    );
    assert!(
        a.flush(Duration::from_secs(5)).await.is_complete(),
        "landed once Redis answered"
    );
    assert!(!exists(), "deleted when flush returned");
    assert!(
        eventually(Duration::from_secs(2), || !l1_has(&b, &SITE, 1)).await,
        "announced: the other instance dropped its copy"
    );

    // The fence is down: the next computation reads Redis and writes there again.
    call_in(&a, &SITE, 1, value("v2")).await.expect("computed");
    assert!(a.flush(Duration::from_secs(5)).await.is_complete());
    assert!(exists(), "the recomputed value reached redis");
    assert_eq!(
        call_in(&b, &SITE, 1, value("unused")).await,
        Ok("v2".into())
    );
}

#[tokio::test]
async fn two_fresh_instances_that_wait_for_readiness_compute_a_locked_key_once() {
    static SITE: CacheSite = CacheSite::new(SiteSpec {
        lock: true,
        ..spec("fs_ready_lock", 60_000)
    });
    let server = RedisServer::start();
    let runs = Arc::new(AtomicU32::new(0));
    let (a, b) = (
        runtime(&server.url(), "fsready"),
        runtime(&server.url(), "fsready"),
    );
    assert_eq!(a.ready(Duration::from_secs(5)).await, Readiness::Connected);
    assert_eq!(b.ready(Duration::from_secs(5)).await, Readiness::Connected);
    let body = |runs: &Arc<AtomicU32>| {
        let runs = Arc::clone(runs);
        move || async move {
            runs.fetch_add(1, SeqCst);
            tokio::time::sleep(Duration::from_millis(300)).await;
            Ok("once".to_string())
        }
    };
    let (va, vb) = tokio::join!(
        call_in(&a, &SITE, 1, body(&runs)),
        call_in(&b, &SITE, 1, body(&runs))
    );
    assert_eq!((va, vb), (Ok("once".into()), Ok("once".into())));
    assert_eq!(
        runs.load(SeqCst),
        1,
        "both instances computed the locked key"
    );
}
