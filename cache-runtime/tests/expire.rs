//! Soft invalidation: `expire`, `expire_all`, `expire_tag` and the typed handle's
//! `expire()`. The entry stops being fresh (the next call recomputes) but stays as the
//! fail-safe copy: a recomputation that fails serves it, where after `invalidate` the
//! error comes through. Real time, the global runtime; the cross-instance part (two
//! runtimes on one real `redis-server`) is in `redis` below.

mod common;

use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering::SeqCst};
use std::time::Duration;

use cache_runtime::__private::{CacheSite, SiteSpec};
use cache_runtime::global;
use common::{Res, call, call_tagged, counted, spec};

/// `ttl` of a minute, fail-safe copies kept for a minute more.
const fn kept(name: &'static str) -> SiteSpec {
    SiteSpec {
        stale_if_error_ms: 60_000,
        ..spec(name, 60_000)
    }
}

async fn down() -> Res {
    Err("source down".into())
}

fn stats(name: &str) -> cache_runtime::CacheStats {
    global().stats().cache(name).cloned().expect("stats")
}

#[tokio::test]
async fn after_expire_the_body_runs_again() {
    static SITE: CacheSite = CacheSite::new(kept("exp_runs_again"));
    let runs = Arc::new(AtomicU32::new(0));
    assert_eq!(call(&SITE, 1, || counted(&runs)).await, Ok("v1".into()));
    assert_eq!(call(&SITE, 1, || counted(&runs)).await, Ok("v1".into()));
    assert!(global().expire("exp_runs_again", &(1u64,)));
    assert_eq!(call(&SITE, 1, || counted(&runs)).await, Ok("v2".into()));
    // The new value is fresh again.
    assert_eq!(call(&SITE, 1, || counted(&runs)).await, Ok("v2".into()));
    assert_eq!(runs.load(SeqCst), 2);
    let s = stats("exp_runs_again");
    assert_eq!(s.expirations, 1);
    assert_eq!(s.invalidations, 0);
}

#[tokio::test]
async fn a_failing_body_after_expire_gets_the_expired_value() {
    static SITE: CacheSite = CacheSite::new(kept("exp_fail_safe"));
    let runs = Arc::new(AtomicU32::new(0));
    assert_eq!(call(&SITE, 1, || counted(&runs)).await, Ok("v1".into()));
    assert!(global().expire("exp_fail_safe", &(1u64,)));
    assert_eq!(call(&SITE, 1, down).await, Ok("v1".into()));
    assert_eq!(stats("exp_fail_safe").stale_served, 1);
    // Still not fresh: the next call tries again, and stores what it gets.
    assert_eq!(call(&SITE, 1, || counted(&runs)).await, Ok("v2".into()));
    assert_eq!(call(&SITE, 1, down).await, Ok("v2".into()));
    assert_eq!(stats("exp_fail_safe").stale_served, 1);
}

#[tokio::test]
async fn after_invalidate_a_failing_body_gets_its_error() {
    static SITE: CacheSite = CacheSite::new(kept("exp_vs_invalidate"));
    let runs = Arc::new(AtomicU32::new(0));
    assert_eq!(call(&SITE, 1, || counted(&runs)).await, Ok("v1".into()));
    assert!(global().invalidate("exp_vs_invalidate", &(1u64,)));
    assert_eq!(call(&SITE, 1, down).await, Err("source down".into()));
    assert_eq!(stats("exp_vs_invalidate").stale_served, 0);
    // invalidate_all likewise, after an expire_all would have kept it.
    assert_eq!(call(&SITE, 2, || counted(&runs)).await, Ok("v2".into()));
    global().invalidate_all("exp_vs_invalidate");
    assert_eq!(call(&SITE, 2, down).await, Err("source down".into()));
}

#[tokio::test]
async fn expire_all_expires_every_entry_of_the_cache_and_keeps_each() {
    static SITE: CacheSite = CacheSite::new(kept("exp_all"));
    static OTHER: CacheSite = CacheSite::new(kept("exp_all_other"));
    let runs = Arc::new(AtomicU32::new(0));
    assert_eq!(call(&SITE, 1, || counted(&runs)).await, Ok("v1".into()));
    assert_eq!(call(&SITE, 2, || counted(&runs)).await, Ok("v2".into()));
    assert_eq!(call(&OTHER, 1, || counted(&runs)).await, Ok("v3".into()));
    global().expire_all("exp_all");
    assert_eq!(call(&SITE, 1, down).await, Ok("v1".into()));
    assert_eq!(call(&SITE, 2, || counted(&runs)).await, Ok("v4".into()));
    // Another cache is untouched: a fresh hit.
    assert_eq!(call(&OTHER, 1, down).await, Ok("v3".into()));
    let s = stats("exp_all");
    assert_eq!((s.expirations, s.stale_served), (1, 1));
    assert_eq!(stats("exp_all_other").stale_served, 0);
    // What is computed after the expiry is fresh.
    assert_eq!(call(&SITE, 2, down).await, Ok("v4".into()));
}

#[tokio::test]
async fn expire_tag_expires_the_tagged_entries_and_keeps_each() {
    static SITE: CacheSite = CacheSite::new(kept("exp_tag"));
    let runs = Arc::new(AtomicU32::new(0));
    let tags = ["exp_tag:red"];
    let tagged = call_tagged(&SITE, 1, &tags, || counted(&runs)).await;
    assert_eq!(tagged, Ok("v1".into()));
    assert_eq!(call(&SITE, 2, || counted(&runs)).await, Ok("v2".into()));
    global().expire_tag("exp_tag:red");
    assert_eq!(call_tagged(&SITE, 1, &tags, down).await, Ok("v1".into()));
    assert_eq!(stats("exp_tag").stale_served, 1);
    // The untagged entry stays fresh.
    assert_eq!(call(&SITE, 2, down).await, Ok("v2".into()));
    let again = call_tagged(&SITE, 1, &tags, || counted(&runs)).await;
    assert_eq!(again, Ok("v3".into()));
    // invalidate_tag removes instead.
    global().invalidate_tag("exp_tag:red");
    let err = call_tagged(&SITE, 1, &tags, down).await;
    assert_eq!(err, Err("source down".into()));
}

#[tokio::test]
async fn without_stale_if_error_expire_is_invalidate() {
    static SITE: CacheSite = CacheSite::new(spec("exp_no_window", 60_000));
    let runs = Arc::new(AtomicU32::new(0));
    let tags = ["exp_no_window:t"];
    assert_eq!(call(&SITE, 1, || counted(&runs)).await, Ok("v1".into()));
    assert!(global().expire("exp_no_window", &(1u64,)));
    assert_eq!(call(&SITE, 1, down).await, Err("source down".into()));
    // Removed, as `invalidate` would: nothing left to expire.
    assert!(!global().expire("exp_no_window", &(1u64,)));
    assert_eq!(call(&SITE, 2, || counted(&runs)).await, Ok("v2".into()));
    global().expire_all("exp_no_window");
    assert_eq!(call(&SITE, 2, down).await, Err("source down".into()));
    let tagged = call_tagged(&SITE, 3, &tags, || counted(&runs)).await;
    assert_eq!(tagged, Ok("v3".into()));
    global().expire_tag("exp_no_window:t");
    let err = call_tagged(&SITE, 3, &tags, down).await;
    assert_eq!(err, Err("source down".into()));
    assert_eq!(stats("exp_no_window").stale_served, 0);
}

#[tokio::test]
async fn the_copy_lasts_no_longer_than_its_stale_window() {
    static SITE: CacheSite = CacheSite::new(SiteSpec {
        stale_if_error_ms: 300,
        ..spec("exp_window_ends", 200)
    });
    let runs = Arc::new(AtomicU32::new(0));
    assert_eq!(call(&SITE, 1, || counted(&runs)).await, Ok("v1".into()));
    assert!(global().expire("exp_window_ends", &(1u64,)));
    assert_eq!(call(&SITE, 1, down).await, Ok("v1".into()));
    tokio::time::sleep(Duration::from_millis(600)).await;
    assert_eq!(call(&SITE, 1, down).await, Err("source down".into()));
}

/// Read your writes: a computation that began before the expiry neither stores its value
/// nor is joined by a call that begins after it, for each of the three expiries.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_call_after_an_expiry_gets_a_fresh_value_computed_before_it() {
    static SITE: CacheSite = CacheSite::new(kept("exp_ryw"));
    let tags = ["exp_ryw:t"];
    let expiries: [fn(u64); 3] = [
        |k| {
            global().expire("exp_ryw", &(k,));
        },
        |_| global().expire_all("exp_ryw"),
        |_| global().expire_tag("exp_ryw:t"),
    ];
    for (round, expire) in expiries.into_iter().enumerate() {
        let k = round as u64;
        let (release, wait) = tokio::sync::oneshot::channel::<()>();
        let started = Arc::new(tokio::sync::Notify::new());
        let began = Arc::clone(&started);
        let old = tokio::spawn(async move {
            call_tagged(&SITE, k, &tags, || async move {
                began.notify_one();
                let _ = wait.await;
                Ok("computed before".to_owned())
            })
            .await
        });
        started.notified().await;
        expire(k);
        let runs = Arc::new(AtomicU32::new(0));
        // Begins after the expiry: does not join the older computation.
        let new = call_tagged(&SITE, k, &tags, || counted(&runs)).await;
        assert_eq!(new, Ok("v1".into()), "round {round}");
        let _ = release.send(());
        assert_eq!(old.await.expect("joined"), Ok("computed before".into()));
        // The older value was not stored over the newer one.
        assert_eq!(call_tagged(&SITE, k, &tags, down).await, Ok("v1".into()));
        assert_eq!(runs.load(SeqCst), 1, "round {round}");
    }
}

#[cfg(feature = "redis")]
mod redis {
    //! Two instances on one real Redis: the expiry reaches the other instance's process
    //! copy (backplane) and the Redis copy (re-sealed, or the soft generation), so the
    //! other instance recomputes, and on failure serves the old value.

    use super::*;
    use crate::common::call_in;
    use crate::common::remote::*;
    use test_support::RedisServer;

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn expire_reaches_another_instance_and_redis() {
        static SITE: CacheSite = CacheSite::new(kept("exp_r_key"));
        let server = RedisServer::start();
        let runs = Arc::new(AtomicU32::new(0));
        let (a, b) = two_holding(&server, "expkey", &SITE, "exp_r_key", 1, &runs).await;
        assert!(a.expire("exp_r_key", &(1u64,)));
        let gone = eventually(Duration::from_secs(1), || !l1_has(&b, &SITE, 1)).await;
        assert!(gone, "b still served its copy fresh");
        // b's own copy is the fail-safe copy.
        assert_eq!(call_in(&b, &SITE, 1, down).await, Ok("v1".into()));
        assert!(a.flush(Duration::from_secs(2)).await.is_complete());
        // A third instance, with no copy of its own: the Redis copy is no longer fresh
        // (it recomputes) but is still the fail-safe copy.
        let c = runtime(&server.url(), "expkey");
        connected(&c).await;
        assert_eq!(call_in(&c, &SITE, 1, down).await, Ok("v1".into()));
        assert_eq!(stats_of(&c, "exp_r_key").l2.hits, 0);
        assert_eq!(stats_of(&c, "exp_r_key").stale_served, 1);
        // b recomputes (not a Redis hit of the expired copy).
        assert_eq!(
            call_in(&b, &SITE, 1, || counted(&runs)).await,
            Ok("v2".into())
        );
        assert_eq!(stats_of(&b, "exp_r_key").l2.hits, 1);
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn expire_all_and_expire_tag_reach_another_instance_and_redis() {
        static SITE: CacheSite = CacheSite::new(kept("exp_r_all"));
        let server = RedisServer::start();
        let runs = Arc::new(AtomicU32::new(0));
        let (a, b) = two_holding(&server, "expall", &SITE, "exp_r_all", 1, &runs).await;
        a.expire_all("exp_r_all");
        let gone = eventually(Duration::from_secs(1), || !l1_has(&b, &SITE, 1)).await;
        assert!(gone, "b still served its copy fresh");
        assert_eq!(call_in(&b, &SITE, 1, down).await, Ok("v1".into()));
        assert!(a.flush(Duration::from_secs(2)).await.is_complete());
        let c = runtime(&server.url(), "expall");
        connected(&c).await;
        assert_eq!(call_in(&c, &SITE, 1, down).await, Ok("v1".into()));
        assert_eq!(stats_of(&c, "exp_r_all").l2.hits, 0);
        // A recomputation that succeeds is fresh everywhere again.
        assert_eq!(
            call_in(&c, &SITE, 1, || counted(&runs)).await,
            Ok("v2".into())
        );
        assert!(c.flush(Duration::from_secs(2)).await.is_complete());
        let d = runtime(&server.url(), "expall");
        connected(&d).await;
        assert_eq!(call_in(&d, &SITE, 1, down).await, Ok("v2".into()));
        assert_eq!(stats_of(&d, "exp_r_all").l2.hits, 1);

        // Tags: the same through the tag's soft generation.
        let tags = ["exp_r_all:t"];
        let first = call_tagged_in(&a, &SITE, 2, &tags, || counted(&runs)).await;
        assert_eq!(first, Ok("v3".into()));
        written(&server, &redis_key("expall", "exp_r_all", 2)).await;
        let read = call_tagged_in(&b, &SITE, 2, &tags, || counted(&runs)).await;
        assert_eq!(read, Ok("v3".into()));
        a.expire_tag("exp_r_all:t");
        let gone = eventually(Duration::from_secs(1), || !l1_has(&b, &SITE, 2)).await;
        assert!(gone, "b still served its tagged copy fresh");
        assert_eq!(
            call_tagged_in(&b, &SITE, 2, &tags, down).await,
            Ok("v3".into())
        );
        assert!(a.flush(Duration::from_secs(2)).await.is_complete());
        let e = runtime(&server.url(), "expall");
        connected(&e).await;
        assert_eq!(
            call_tagged_in(&e, &SITE, 2, &tags, down).await,
            Ok("v3".into())
        );
        let fresh = call_tagged_in(&e, &SITE, 2, &tags, || counted(&runs)).await;
        assert_eq!(fresh, Ok("v4".into()));
    }

    /// Read your writes on the instance that expires: a call right after `expire*`
    /// returned recomputes; neither its own copy nor the Redis copy (re-sealed or
    /// soft-bumped in the background, behind the fence) answers fresh.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn the_expiring_instance_recomputes_at_once() {
        static SITE: CacheSite = CacheSite::new(kept("exp_r_ryw"));
        let server = RedisServer::start();
        let runs = Arc::new(AtomicU32::new(0));
        let (a, _b) = two_holding(&server, "expryw", &SITE, "exp_r_ryw", 1, &runs).await;
        a.expire("exp_r_ryw", &(1u64,));
        assert_eq!(
            call_in(&a, &SITE, 1, || counted(&runs)).await,
            Ok("v2".into())
        );
        assert!(a.flush(Duration::from_secs(2)).await.is_complete());
        a.expire_all("exp_r_ryw");
        assert_eq!(
            call_in(&a, &SITE, 1, || counted(&runs)).await,
            Ok("v3".into())
        );
        assert!(a.flush(Duration::from_secs(2)).await.is_complete());
        assert_eq!(stats_of(&a, "exp_r_ryw").l2.hits, 0);
        assert_eq!(stats_of(&a, "exp_r_ryw").expirations, 2);
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn without_stale_if_error_expire_removes_in_redis_too() {
        static SITE: CacheSite = CacheSite::new(spec("exp_r_plain", 60_000));
        let server = RedisServer::start();
        let runs = Arc::new(AtomicU32::new(0));
        let (a, b) = two_holding(&server, "expplain", &SITE, "exp_r_plain", 1, &runs).await;
        a.expire("exp_r_plain", &(1u64,));
        assert!(a.flush(Duration::from_secs(2)).await.is_complete());
        let key = redis_key("expplain", "exp_r_plain", 1);
        assert!(!server.cmd::<bool>(&[b"EXISTS", key.as_bytes()]));
        let gone = eventually(Duration::from_secs(1), || !l1_has(&b, &SITE, 1)).await;
        assert!(gone);
        assert_eq!(call_in(&b, &SITE, 1, down).await, Err("source down".into()));
    }
}
