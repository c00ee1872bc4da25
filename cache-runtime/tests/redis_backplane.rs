//! Invalidation across instances: the backplane drops other instances' in-process copies,
//! and `invalidate`, `invalidate_all` and `invalidate_tag` reach Redis.

#![cfg(feature = "redis")]

mod common;

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering::SeqCst};
use std::time::{Duration, Instant};

use cache_runtime::__private::CacheSite;
use cache_runtime::Scope;
use common::remote::*;
use common::{call_in, counted, spec};
use test_support::RedisServer;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn another_instance_stops_serving_an_invalidated_value_within_100ms() {
    static SITE: CacheSite = CacheSite::new(spec("bp_key", 60_000));
    let server = RedisServer::start();
    let runs = Arc::new(AtomicU32::new(0));
    let (a, b) = two_holding(&server, "bpkey", &SITE, "bp_key", 1, &runs).await;

    assert!(a.invalidate("bp_key", &(1u64,)));
    let began = Instant::now();
    let gone = eventually(Duration::from_millis(100), || !l1_has(&b, &SITE, 1)).await;
    let took = began.elapsed();
    println!("b dropped its copy {took:?} after invalidate returned on a");
    assert!(gone, "b still served the old value after {took:?}");
    // Deleted in Redis too: b recomputes.
    assert_eq!(
        call_in(&b, &SITE, 1, || counted(&runs)).await,
        Ok("v2".into())
    );
    assert_eq!(stats_of(&b, "bp_key").l2.misses, 1);
}

#[tokio::test]
async fn an_idle_subscription_stays_up() {
    // The keep-alive ping must accept a subscribed connection's answer (`["pong", ""]`):
    // a resubscription clears the whole in-process tier.
    static SITE: CacheSite = CacheSite::new(spec("bp_idle", 60_000));
    let server = RedisServer::start();
    let a = runtime(&server.url(), "bpidle");
    connected(&a).await;
    let runs = Arc::new(AtomicU32::new(0));
    call_in(&a, &SITE, 1, || counted(&runs))
        .await
        .expect("computed");
    tokio::time::sleep(Duration::from_millis(2_500)).await;
    let l2 = a.stats().l2.expect("configured");
    assert_eq!(l2.backplane_resubscribed, 0);
    assert!(l1_has(&a, &SITE, 1), "the in-process tier was not cleared");
}

#[tokio::test]
async fn an_instance_does_not_read_back_what_it_just_invalidated() {
    static SITE: CacheSite = CacheSite::new(spec("bp_own", 60_000));
    let server = RedisServer::start();
    let runs = Arc::new(AtomicU32::new(0));
    let (a, _b) = two_holding(&server, "bpown", &SITE, "bp_own", 1, &runs).await;
    for round in 0..20u32 {
        a.invalidate("bp_own", &(1u64,));
        let v = call_in(&a, &SITE, 1, || counted(&runs))
            .await
            .expect("value");
        assert_eq!(
            v,
            format!("v{}", round + 2),
            "round {round}: an invalidated value came back"
        );
    }
}

#[tokio::test]
async fn a_write_on_one_instance_replaces_the_other_instances_copy() {
    static SITE: CacheSite = CacheSite::new(spec("bp_write", 60_000));
    let server = RedisServer::start();
    let runs = Arc::new(AtomicU32::new(0));
    let (a, b) = two_holding(&server, "bpwrite", &SITE, "bp_write", 1, &runs).await;
    // a recomputes in a refresh scope: the new value is written and announced.
    let (v, _) = Scope::refresh()
        .run(call_in(&a, &SITE, 1, || counted(&runs)))
        .await;
    assert_eq!(v, Ok("v2".into()));
    let gone = eventually(Duration::from_millis(500), || !l1_has(&b, &SITE, 1)).await;
    assert!(gone, "b dropped its older copy");
    assert_eq!(
        call_in(&b, &SITE, 1, || counted(&runs)).await,
        Ok("v2".into())
    );
    assert_eq!(runs.load(SeqCst), 2);
}

#[tokio::test]
async fn invalidate_all_reaches_redis_and_other_instances() {
    static SITE: CacheSite = CacheSite::new(spec("bp_all", 60_000));
    let server = RedisServer::start();
    let runs = Arc::new(AtomicU32::new(0));
    let (a, b) = two_holding(&server, "bpall", &SITE, "bp_all", 1, &runs).await;
    call_in(&a, &SITE, 2, || counted(&runs))
        .await
        .expect("computed");
    written(&server, &redis_key("bpall", "bp_all", 2)).await;

    a.invalidate_all("bp_all");
    assert!(!l1_has(&a, &SITE, 1) && !l1_has(&a, &SITE, 2));
    let gone = eventually(Duration::from_millis(100), || !l1_has(&b, &SITE, 1)).await;
    assert!(gone, "b dropped the cache");
    let ok = eventually(Duration::from_secs(1), || {
        server.cmd::<Option<u64>>(&[b"GET", b"bpall:__gen:bp_all"]) == Some(1)
    })
    .await;
    assert!(ok, "the generation was bumped in redis, no keys scanned");
    assert_eq!(
        server.keys("bpall:bp_all:*").len(),
        2,
        "entries stay until overwritten or expired"
    );

    // A new instance does not get the old entries from Redis.
    let c = runtime(&server.url(), "bpall");
    connected(&c).await;
    let before = runs.load(SeqCst);
    call_in(&c, &SITE, 1, || counted(&runs))
        .await
        .expect("value");
    call_in(&c, &SITE, 2, || counted(&runs))
        .await
        .expect("value");
    assert_eq!(runs.load(SeqCst), before + 2, "both recomputed");
    let s = stats_of(&c, "bp_all");
    assert_eq!((s.l2.hits, s.l2.misses), (0, 2));
    // The recomputed values are current again for everyone.
    let ok = eventually(Duration::from_secs(2), || {
        stats_of(&c, "bp_all").l2.writes == 2
    })
    .await;
    assert!(ok, "c overwrote the outdated entries");
    let d = runtime(&server.url(), "bpall");
    connected(&d).await;
    let v = call_in(&d, &SITE, 1, || counted(&runs)).await;
    assert_eq!(v, Ok(format!("v{}", before + 1)));
    assert_eq!(stats_of(&d, "bp_all").l2.hits, 1);
}

#[tokio::test]
async fn invalidate_tag_reaches_redis_and_other_instances() {
    static SITE: CacheSite = CacheSite::new(spec("bp_tag", 60_000));
    let server = RedisServer::start();
    let runs = Arc::new(AtomicU32::new(0));
    let (a, b) = connected_pair(&server, "bptag").await;
    for (k, tag) in [(1, "user:1"), (2, "user:2")] {
        call_tagged_in(&a, &SITE, k, &[tag], || counted(&runs))
            .await
            .expect("computed");
        written(&server, &redis_key("bptag", "bp_tag", k)).await;
        call_tagged_in(&b, &SITE, k, &[tag], || counted(&runs))
            .await
            .expect("read");
    }
    assert_eq!(stats_of(&b, "bp_tag").l2.hits, 2);

    a.invalidate_tag("user:1");
    let gone = eventually(Duration::from_millis(100), || !l1_has(&b, &SITE, 1)).await;
    assert!(gone, "b dropped the tagged entry");
    assert!(l1_has(&b, &SITE, 2), "other tags untouched");
    let ok = eventually(Duration::from_secs(1), || {
        server.cmd::<Option<u64>>(&[b"GET", b"bptag:__tag:user:1"]) == Some(1)
    })
    .await;
    assert!(ok, "the tag generation was bumped in redis");

    // A new instance: the user:1 entry is outdated in Redis, the user:2 one is not, even
    // when the caller does not name the entry's tags.
    let c = runtime(&server.url(), "bptag");
    connected(&c).await;
    let before = runs.load(SeqCst);
    assert_eq!(
        call_tagged_in(&c, &SITE, 1, &["user:1"], || counted(&runs)).await,
        Ok(format!("v{}", before + 1))
    );
    assert_eq!(
        call_in(&c, &SITE, 2, || counted(&runs)).await,
        Ok("v2".into())
    );
    let s = stats_of(&c, "bp_tag");
    assert_eq!((s.l2.hits, s.l2.misses), (1, 1));
    // An untagged read of an entry stored with a tag still checks that tag.
    a.invalidate_tag("user:2");
    let ok = eventually(Duration::from_secs(1), || {
        server.cmd::<Option<u64>>(&[b"GET", b"bptag:__tag:user:2"]) == Some(1)
    })
    .await;
    assert!(ok);
    let d = runtime(&server.url(), "bptag");
    connected(&d).await;
    let before = runs.load(SeqCst);
    call_in(&d, &SITE, 2, || counted(&runs))
        .await
        .expect("value");
    assert_eq!(
        runs.load(SeqCst),
        before + 1,
        "the user:2 entry was not served"
    );
}

#[tokio::test]
async fn an_instance_that_never_used_the_cache_can_invalidate_a_key() {
    static SITE: CacheSite = CacheSite::new(spec("bp_admin", 60_000));
    let server = RedisServer::start();
    let runs = Arc::new(AtomicU32::new(0));
    let (_a, b) = two_holding(&server, "bpadmin", &SITE, "bp_admin", 1, &runs).await;
    let admin = runtime(&server.url(), "bpadmin");
    connected(&admin).await;
    // It cannot name the Redis key (it never saw the value type); the others delete it.
    assert!(!admin.invalidate("bp_admin", &(1u64,)));
    let gone = eventually(Duration::from_millis(100), || !l1_has(&b, &SITE, 1)).await;
    assert!(gone, "b dropped its copy");
    let key = redis_key("bpadmin", "bp_admin", 1);
    let ok = eventually(Duration::from_secs(1), || !server.holds_value(&key)).await;
    assert!(ok, "an instance that knew the key deleted it in redis");
}

#[tokio::test]
async fn a_computation_racing_invalidate_all_is_not_served_from_redis() {
    static SITE: CacheSite = CacheSite::new(spec("bp_race", 60_000));
    let server = RedisServer::start();
    let (a, b) = connected_pair(&server, "bprace").await;
    // a starts computing; b invalidates the cache meanwhile; a's result is returned to its
    // caller but must not be served to anyone afterwards.
    let slow = {
        let a = a.clone();
        tokio::spawn(async move {
            call_in(&a, &SITE, 1, || async {
                tokio::time::sleep(Duration::from_millis(200)).await;
                Ok("old".to_string())
            })
            .await
        })
    };
    tokio::time::sleep(Duration::from_millis(50)).await;
    b.invalidate_all("bp_race");
    assert_eq!(slow.await.expect("task"), Ok("old".into()));
    tokio::time::sleep(Duration::from_millis(100)).await;
    let c = runtime(&server.url(), "bprace");
    connected(&c).await;
    let v = call_in(&c, &SITE, 1, || async { Ok("new".to_string()) }).await;
    assert_eq!(v, Ok("new".into()));
    assert!(!l1_has(&a, &SITE, 1));
}

static PROC: CacheSite = CacheSite::new(spec("bp_proc", 60_000));

/// The child side of [`another_process_sees_an_invalidation`].
async fn child(url: &str) {
    let rt = runtime(url, "bpproc");
    connected(&rt).await;
    let v = call_in(&rt, &PROC, 1, || async { Ok("child".to_string()) }).await;
    println!("HAVE {}", v.unwrap_or_else(|e| e));
    let until = Instant::now() + Duration::from_secs(5);
    while Instant::now() < until {
        if !l1_has(&rt, &PROC, 1) {
            println!("GONE");
            return;
        }
        tokio::time::sleep(Duration::from_millis(1)).await;
    }
    println!("STILL");
}

#[test]
fn another_process_sees_an_invalidation() {
    let tokio = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("tokio");
    if let Some(url) = std::env::var_os("CACHE_REDIS_CHILD_URL") {
        tokio.block_on(child(&url.to_string_lossy()));
        return;
    }
    let server = RedisServer::start();
    let a = runtime(&server.url(), "bpproc");
    tokio.block_on(async {
        connected(&a).await;
        call_in(&a, &PROC, 1, || async { Ok("parent".to_string()) })
            .await
            .expect("computed");
        written(&server, &redis_key("bpproc", "bp_proc", 1)).await;
    });
    let exe = std::env::current_exe().expect("test binary");
    let mut child = Command::new(exe)
        .args([
            "--exact",
            "another_process_sees_an_invalidation",
            "--nocapture",
        ])
        .env("CACHE_REDIS_CHILD_URL", server.url())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("child runs");
    let stdout = child.stdout.take().expect("piped");
    let mut lines = BufReader::new(stdout).lines().map_while(Result::ok);
    let have = lines
        .by_ref()
        .find(|l| l.starts_with("HAVE "))
        .expect("the child reported its value");
    assert_eq!(
        have, "HAVE parent",
        "the child read the parent's value from redis"
    );
    a.invalidate("bp_proc", &(1u64,));
    let began = Instant::now();
    let seen = lines.find(|l| l == "GONE" || l == "STILL");
    let took = began.elapsed();
    let _ = child.wait();
    println!("the other process dropped its copy {took:?} after invalidate returned");
    assert_eq!(seen.as_deref(), Some("GONE"));
    assert!(took < Duration::from_millis(500), "{took:?}");
}
