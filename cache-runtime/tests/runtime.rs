//! Run-time behaviour of the cache, driven through the entry points generated code calls
//! (no macros). Every test uses its own cache names: the global runtime is shared.

mod common;

use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering::SeqCst};
use std::time::Duration;

use cache_runtime::__private::{CacheSite, SiteSpec};
use cache_runtime::{CacheRuntime, Outcome, Scope, global};
use common::*;
use tokio::time::sleep;

fn stats(name: &str) -> cache_runtime::CacheStats {
    global()
        .stats()
        .cache(name)
        .cloned()
        .unwrap_or_else(|| panic!("cache {name} has no stats"))
}

#[tokio::test]
async fn second_call_is_a_hit_with_the_same_value() {
    static SITE: CacheSite = CacheSite::new(spec("rt_hit", 60_000));
    let runs = Arc::new(AtomicU32::new(0));
    let a = call(&SITE, 1, || counted(&runs)).await;
    let b = call(&SITE, 1, || counted(&runs)).await;
    let c = call(&SITE, 2, || counted(&runs)).await;
    assert_eq!(a, Ok("v1".into()));
    assert_eq!(b, a);
    assert_eq!(c, Ok("v2".into()));
    let s = stats("rt_hit");
    assert_eq!((s.hits, s.misses, s.computes, s.entries), (1, 2, 2, 2));
    assert!(s.bytes > 0);
}

#[tokio::test]
async fn errors_are_not_cached() {
    static SITE: CacheSite = CacheSite::new(spec("rt_err", 60_000));
    let runs = Arc::new(AtomicU32::new(0));
    for _ in 0..3 {
        let r = call(&SITE, 1, || {
            runs.fetch_add(1, SeqCst);
            async { Err::<String, _>("db down".to_string()) }
        })
        .await;
        assert_eq!(r, Err("db down".into()));
    }
    assert_eq!(runs.load(SeqCst), 3);
    let s = stats("rt_err");
    assert_eq!((s.errors_not_cached, s.entries), (3, 0));
}

#[tokio::test]
async fn entries_expire_after_their_ttl() {
    static SITE: CacheSite = CacheSite::new(spec("rt_ttl", 150));
    let runs = Arc::new(AtomicU32::new(0));
    assert_eq!(call(&SITE, 1, || counted(&runs)).await, Ok("v1".into()));
    assert_eq!(call(&SITE, 1, || counted(&runs)).await, Ok("v1".into()));
    sleep(Duration::from_millis(300)).await;
    assert_eq!(call(&SITE, 1, || counted(&runs)).await, Ok("v2".into()));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_misses_compute_once() {
    static SITE: CacheSite = CacheSite::new(spec("rt_flight", 60_000));
    let runs = Arc::new(AtomicU32::new(0));
    let tasks: Vec<_> = (0..32)
        .map(|_| {
            let runs = Arc::clone(&runs);
            tokio::spawn(async move {
                call(&SITE, 7, || async move {
                    sleep(Duration::from_millis(150)).await;
                    Ok(format!("v{}", runs.fetch_add(1, SeqCst) + 1))
                })
                .await
            })
        })
        .collect();
    for t in tasks {
        assert_eq!(t.await.expect("task"), Ok("v1".into()));
    }
    assert_eq!(runs.load(SeqCst), 1);
    let s = stats("rt_flight");
    assert_eq!(s.computes, 1);
    assert_eq!(s.coalesced + s.hits, 31);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_cancelled_leader_hands_over_and_leaves_no_lock() {
    static SITE: CacheSite = CacheSite::new(spec("rt_cancel", 60_000));
    let runs = Arc::new(AtomicU32::new(0));
    // The leader is dropped mid-computation by its timeout.
    let r2 = Arc::clone(&runs);
    let leader = tokio::spawn(async move {
        tokio::time::timeout(
            Duration::from_millis(50),
            call(&SITE, 1, || async move {
                r2.fetch_add(1, SeqCst);
                sleep(Duration::from_secs(10)).await;
                Ok("never".to_string())
            }),
        )
        .await
    });
    sleep(Duration::from_millis(10)).await;
    let r3 = Arc::clone(&runs);
    let waiter = tokio::spawn(async move {
        call(&SITE, 1, || async move {
            r3.fetch_add(1, SeqCst);
            Ok("from waiter".to_string())
        })
        .await
    });
    assert!(leader.await.expect("task").is_err(), "leader timed out");
    let got = tokio::time::timeout(Duration::from_secs(5), waiter)
        .await
        .expect("waiter did not hang")
        .expect("task");
    assert_eq!(got, Ok("from waiter".into()));
    assert_eq!(runs.load(SeqCst), 2);
    // The key is usable: the stored value is served.
    assert_eq!(
        call(&SITE, 1, || async { Ok("again".to_string()) }).await,
        Ok("from waiter".into())
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_panicking_body_panics_every_waiter_and_the_cache_recovers() {
    static SITE: CacheSite = CacheSite::new(spec("rt_panic", 60_000));
    let tasks: Vec<_> = (0..8)
        .map(|i| {
            tokio::spawn(async move {
                call(&SITE, 1, move || async move {
                    sleep(Duration::from_millis(100)).await;
                    if i < 100 {
                        panic!("body exploded");
                    }
                    Ok(String::new())
                })
                .await
            })
        })
        .collect();
    for t in tasks {
        let joined = tokio::time::timeout(Duration::from_secs(5), t)
            .await
            .expect("no caller hangs");
        assert!(joined.expect_err("every caller panics").is_panic());
    }
    assert_eq!(
        call(&SITE, 1, || async { Ok("fine".to_string()) }).await,
        Ok("fine".into())
    );
}

#[tokio::test]
async fn stale_if_error_serves_the_last_good_value() {
    static SITE: CacheSite = CacheSite::new(SiteSpec {
        stale_if_error_ms: 5_000,
        ..spec("rt_stale", 100)
    });
    assert_eq!(
        call(&SITE, 1, || async { Ok("good".to_string()) }).await,
        Ok("good".into())
    );
    sleep(Duration::from_millis(200)).await;
    let (r, outcomes) = Scope::observe()
        .run(call(&SITE, 1, || async {
            Err("upstream down".to_string())
        }))
        .await;
    assert_eq!(r, Ok("good".into()));
    assert_eq!(outcomes.x_cache(), "STALE");
    // A success replaces the fail-safe copy.
    assert_eq!(
        call(&SITE, 1, || async { Ok("new".to_string()) }).await,
        Ok("new".into())
    );
    assert_eq!(stats("rt_stale").stale_served, 1);
    // Past the stale window an error reaches the caller.
    static SHORT: CacheSite = CacheSite::new(SiteSpec {
        stale_if_error_ms: 100,
        ..spec("rt_stale_short", 100)
    });
    call(&SHORT, 1, || async { Ok("good".to_string()) })
        .await
        .ok();
    sleep(Duration::from_millis(300)).await;
    assert_eq!(
        call(&SHORT, 1, || async { Err("down".to_string()) }).await,
        Err("down".into())
    );
}

#[tokio::test]
async fn invalidation_removes_the_fail_safe_copy_too() {
    static SITE: CacheSite = CacheSite::new(SiteSpec {
        stale_if_error_ms: 60_000,
        ..spec("rt_stale_inv", 100)
    });
    call(&SITE, 1, || async { Ok("good".to_string()) })
        .await
        .ok();
    sleep(Duration::from_millis(200)).await;
    assert!(global().invalidate("rt_stale_inv", &(1u64,)));
    assert_eq!(
        call(&SITE, 1, || async { Err("down".to_string()) }).await,
        Err("down".into())
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn refresh_ahead_refreshes_once_in_the_background() {
    static SITE: CacheSite = CacheSite::new(SiteSpec {
        refresh_ahead: 0.5,
        ..spec("rt_refresh", 600)
    });
    let runs = Arc::new(AtomicU32::new(0));
    let make = || {
        let runs = Arc::clone(&runs);
        move || async move {
            sleep(Duration::from_millis(50)).await;
            Ok(format!("v{}", runs.fetch_add(1, SeqCst) + 1))
        }
    };
    assert_eq!(call_refreshing(&SITE, 1, make).await, Ok("v1".into()));
    sleep(Duration::from_millis(350)).await; // past half the TTL, before expiry
    // Many hits past the refresh point: each gets the cached value at once...
    for _ in 0..20 {
        assert_eq!(call_refreshing(&SITE, 1, make).await, Ok("v1".into()));
    }
    // ...and one background refresh replaces it.
    sleep(Duration::from_millis(150)).await;
    assert_eq!(call_refreshing(&SITE, 1, make).await, Ok("v2".into()));
    assert_eq!(runs.load(SeqCst), 2);
    assert_eq!(stats("rt_refresh").refreshes, 1);
}

#[tokio::test]
async fn invalidate_one_key_all_keys_and_tags() {
    static SITE: CacheSite = CacheSite::new(spec("rt_inv", 60_000));
    let runs = Arc::new(AtomicU32::new(0));
    for k in 1..=3 {
        call_tagged(&SITE, k, &[&format!("rt_inv_tag:{}", k % 2)], || {
            counted(&runs)
        })
        .await
        .ok();
    }
    assert_eq!(runs.load(SeqCst), 3);
    let again = |k| call_tagged(&SITE, k, &[], || counted(&runs));
    assert_eq!(again(1).await, Ok("v1".into()));

    assert!(global().invalidate("rt_inv", &(1u64,)));
    assert_eq!(again(1).await, Ok("v4".into()));
    assert_eq!(again(2).await, Ok("v2".into()), "other keys untouched");

    // Keys 1 and 3 were tagged rt_inv_tag:1 (key 1's new entry has no tag).
    global().invalidate_tag("rt_inv_tag:1");
    assert_eq!(again(3).await, Ok("v5".into()));
    assert_eq!(again(1).await, Ok("v4".into()));
    assert_eq!(again(2).await, Ok("v2".into()));

    global().invalidate_all("rt_inv");
    assert_eq!(again(2).await, Ok("v6".into()));
    assert_eq!(again(1).await, Ok("v7".into()));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_fill_that_began_before_an_invalidation_does_not_store() {
    static SITE: CacheSite = CacheSite::new(spec("rt_inv_race", 60_000));
    for invalidate in [
        (|| {
            global().invalidate("rt_inv_race", &(1u64,));
        }) as fn(),
        || global().invalidate_all("rt_inv_race"),
    ] {
        // Seed the cache so the name is known, then drop the entry.
        call(&SITE, 1, || async { Ok("seed".to_string()) })
            .await
            .ok();
        global().invalidate_all("rt_inv_race");
        let slow = tokio::spawn(call(&SITE, 1, || async {
            sleep(Duration::from_millis(300)).await;
            Ok("computed from old data".to_string())
        }));
        sleep(Duration::from_millis(100)).await;
        invalidate();
        assert_eq!(
            slow.await.expect("task"),
            Ok("computed from old data".into())
        );
        assert_eq!(
            call(&SITE, 1, || async { Ok("fresh".to_string()) }).await,
            Ok("fresh".into())
        );
    }
}

#[tokio::test]
async fn values_over_max_bytes_are_returned_not_cached() {
    static SITE: CacheSite = CacheSite::new(SiteSpec {
        max_bytes: 100,
        ..spec("rt_max_bytes", 60_000)
    });
    let runs = Arc::new(AtomicU32::new(0));
    for _ in 0..2 {
        let r = call(&SITE, 1, || {
            runs.fetch_add(1, SeqCst);
            async { Ok("x".repeat(1000)) }
        })
        .await;
        assert_eq!(r.map(|s| s.len()), Ok(1000));
        call(&SITE, 2, || async { Ok("small".to_string()) })
            .await
            .ok();
    }
    assert_eq!(runs.load(SeqCst), 2);
    let s = stats("rt_max_bytes");
    assert_eq!((s.too_large, s.entries, s.hits), (2, 1, 1));
}

#[tokio::test]
async fn the_byte_budget_evicts() {
    static SITE: CacheSite = CacheSite::new(spec("rt_budget", 60_000));
    let rt = CacheRuntime::builder().max_bytes(64 << 10).build();
    for k in 0..2_000 {
        call_in(&rt, &SITE, k, || async { Ok("y".repeat(200)) })
            .await
            .ok();
    }
    let s = rt.stats();
    let c = s.cache("rt_budget").expect("stats");
    assert!(s.l1.bytes <= s.l1.capacity_bytes, "{s:?}");
    assert!(c.evictions > 1000, "{c:?}");
    assert_eq!(c.entries, s.l1.entries);
    // The global runtime never saw this cache.
    assert!(global().stats().cache("rt_budget").is_none());
}

#[tokio::test]
async fn overrides_retune_a_cache_by_name() {
    static SITE: CacheSite = CacheSite::new(spec("rt_override", 60_000));
    let runs = Arc::new(AtomicU32::new(0));
    let off = CacheRuntime::builder().disable_cache("rt_override").build();
    for _ in 0..2 {
        call_in(&off, &SITE, 1, || counted(&runs)).await.ok();
    }
    assert_eq!(runs.load(SeqCst), 2, "disabled: every call computes");

    let short = CacheRuntime::builder()
        .cache_ttl("rt_override", Duration::from_millis(100))
        .build();
    assert_eq!(
        call_in(&short, &SITE, 1, || counted(&runs)).await,
        Ok("v3".into())
    );
    assert_eq!(
        call_in(&short, &SITE, 1, || counted(&runs)).await,
        Ok("v3".into())
    );
    sleep(Duration::from_millis(250)).await;
    assert_eq!(
        call_in(&short, &SITE, 1, || counted(&runs)).await,
        Ok("v4".into())
    );
}

#[tokio::test]
async fn scopes_refresh_bypass_and_report() {
    static SITE: CacheSite = CacheSite::new(spec("rt_scope", 60_000));
    let runs = Arc::new(AtomicU32::new(0));
    let (v, o) = Scope::observe()
        .run(call(&SITE, 1, || counted(&runs)))
        .await;
    assert_eq!((v, o.x_cache()), (Ok("v1".into()), "MISS"));
    let (v, o) = Scope::observe()
        .run(call(&SITE, 1, || counted(&runs)))
        .await;
    assert_eq!((v, o.x_cache()), (Ok("v1".into()), "HIT"));

    let (v, o) = Scope::refresh()
        .run(call(&SITE, 1, || counted(&runs)))
        .await;
    assert_eq!(v, Ok("v2".into()));
    assert_eq!(o.iter().next().map(|c| c.outcome), Some(Outcome::Refreshed));
    assert_eq!(
        call(&SITE, 1, || counted(&runs)).await,
        Ok("v2".into()),
        "refresh stored"
    );

    let (v, o) = Scope::bypass().run(call(&SITE, 1, || counted(&runs))).await;
    assert_eq!((v, o.x_cache()), (Ok("v3".into()), "BYPASS"));
    assert_eq!(
        call(&SITE, 1, || counted(&runs)).await,
        Ok("v2".into()),
        "bypass stored nothing"
    );

    // Outside a scope nothing is recorded, and scopes nest.
    let ((inner, outer_inner), outer) = Scope::observe()
        .run(async {
            call(&SITE, 1, || counted(&runs)).await.ok();
            Scope::bypass().run(call(&SITE, 1, || counted(&runs))).await
        })
        .await;
    assert_eq!(inner, Ok("v4".into()));
    assert_eq!(outer_inner.x_cache(), "BYPASS");
    assert_eq!(outer.x_cache(), "HIT");
}

#[test]
fn sync_calls_single_flight_across_threads() {
    static SITE: CacheSite = CacheSite::new(spec("rt_sync", 60_000));
    let runs = Arc::new(AtomicU32::new(0));
    let threads: Vec<_> = (0..8)
        .map(|_| {
            let runs = Arc::clone(&runs);
            std::thread::spawn(move || {
                call_sync(&SITE, 1, || {
                    std::thread::sleep(Duration::from_millis(150));
                    Ok(format!("v{}", runs.fetch_add(1, SeqCst) + 1))
                })
            })
        })
        .collect();
    for t in threads {
        assert_eq!(t.join().expect("thread"), Ok("v1".into()));
    }
    assert_eq!(runs.load(SeqCst), 1);
}

#[tokio::test]
async fn an_unencodable_key_runs_uncached() {
    use cache_runtime::__private::{self as p, Lookup};
    struct Bad;
    impl serde::Serialize for Bad {
        fn serialize<S: serde::Serializer>(&self, _: S) -> Result<S::Ok, S::Error> {
            Err(serde::ser::Error::custom("no"))
        }
    }
    static SITE: CacheSite = CacheSite::new(spec("rt_bad_key", 60_000));
    for _ in 0..2 {
        match p::lookup(&SITE, p::key(&Bad, &[]), adapter()) {
            Lookup::Miss(t) => {
                assert_eq!(
                    t.run_async(|| async { Ok("ok".to_string()) }).await,
                    Ok("ok".into())
                );
            }
            _ => panic!("an unencodable key is never a hit"),
        }
    }
    assert_eq!(stats("rt_bad_key").encode_errors, 2);
}

#[tokio::test]
async fn prometheus_text_lists_each_cache() {
    static SITE: CacheSite = CacheSite::new(spec("rt_prom \"quoted\"", 60_000));
    call(&SITE, 1, || async { Ok(String::new()) }).await.ok();
    call(&SITE, 1, || async { Ok(String::new()) }).await.ok();
    let text = global().prometheus();
    assert!(
        text.contains("cache_hits_total{namespace=\"app\",cache=\"rt_prom \\\"quoted\\\"\"} 1"),
        "{text}"
    );
    assert!(text.contains("# TYPE cache_entries gauge"));
}

#[test]
fn keys_are_identical_in_another_process() {
    use cache_runtime::CacheKey;
    let key = || {
        CacheKey::new::<Vec<String>, _>("ns", "users", 3, &(42u64, "en", [1.5f64, -0.0]))
            .expect("key")
            .to_string()
    };
    if std::env::var_os("CACHE_KEY_CHILD").is_some() {
        println!("KEY={}", key());
        return;
    }
    let exe = std::env::current_exe().expect("test binary");
    let out = std::process::Command::new(exe)
        .args([
            "--exact",
            "keys_are_identical_in_another_process",
            "--nocapture",
        ])
        .env("CACHE_KEY_CHILD", "1")
        .output()
        .expect("child runs");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let child = stdout
        .lines()
        .find_map(|l| l.strip_prefix("KEY="))
        .unwrap_or_else(|| panic!("child printed no key: {stdout}"));
    assert_eq!(child, key());
}
