//! `lock = true`: single-flight across instances through a lock in Redis, against real
//! redis-server processes: two runtimes in one process, two processes, and holders that
//! fail, are cancelled or die.

#![cfg(feature = "redis")]

mod common;

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering::SeqCst};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use cache_runtime::__private::{CacheSite, SiteSpec};
use cache_runtime::{CacheKey, CacheRuntime};
use common::remote::*;
use common::{call_in, spec};
use test_support::RedisServer;

/// `#[cache_result(name, ttl = 60, lock = true)]`.
const fn locked(name: &'static str) -> SiteSpec {
    SiteSpec {
        lock: true,
        ..spec(name, 60_000)
    }
}

fn locking_runtime(url: &str, ns: &str, lock_ttl: Duration) -> CacheRuntime {
    CacheRuntime::builder()
        .namespace(ns)
        .redis(url)
        .redis_timeout(Duration::from_millis(200))
        .lock_ttl(lock_ttl)
        .build()
}

fn lock_key(ns: &str, name: &str, k: u64) -> String {
    let key = CacheKey::new::<String, _>(ns, name, 0, &(k,))
        .expect("key")
        .to_string();
    let rest = key.strip_prefix(&format!("{ns}:")).expect("namespaced key");
    format!("{ns}:__lock:{rest}")
}

/// A slow body that counts its runs and answers `who`.
fn slow(
    runs: &Arc<AtomicU32>,
    who: &'static str,
    took: Duration,
) -> impl Future<Output = Res> + Send + 'static {
    let runs = Arc::clone(runs);
    async move {
        runs.fetch_add(1, SeqCst);
        tokio::time::sleep(took).await;
        Ok(who.to_string())
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_runtimes_compute_a_locked_key_once() {
    static SITE: CacheSite = CacheSite::new(locked("lock_two"));
    let server = RedisServer::start();
    let ttl = Duration::from_secs(10);
    let (a, b) = (
        locking_runtime(&server.url(), "locktwo", ttl),
        locking_runtime(&server.url(), "locktwo", ttl),
    );
    connected(&a).await;
    connected(&b).await;
    let runs = Arc::new(AtomicU32::new(0));
    for k in 0..3u64 {
        let before = runs.load(SeqCst);
        let (ra, rb) = {
            let (a, b) = (a.clone(), b.clone());
            let (r1, r2) = (Arc::clone(&runs), Arc::clone(&runs));
            let ta = tokio::spawn(async move {
                call_in(&a, &SITE, k, || slow(&r1, "a", Duration::from_millis(300))).await
            });
            let tb = tokio::spawn(async move {
                call_in(&b, &SITE, k, || slow(&r2, "b", Duration::from_millis(300))).await
            });
            (ta.await.expect("a"), tb.await.expect("b"))
        };
        assert_eq!(ra, rb, "key {k}: both callers got the one computed value");
        assert_eq!(runs.load(SeqCst), before + 1, "key {k}: the body ran once");
    }
    let (sa, sb) = (stats_of(&a, "lock_two"), stats_of(&b, "lock_two"));
    assert_eq!(sa.computes + sb.computes, 3);
    assert_eq!(sa.l2.lock_waits + sb.l2.lock_waits, 3);
    // Holders release with their background write: soon, not necessarily yet.
    let released = eventually(Duration::from_secs(2), || {
        server.keys("locktwo:__lock:*").is_empty()
    })
    .await;
    assert!(released, "every lock released");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failed_or_cancelled_holder_releases_the_lock_at_once() {
    static SITE: CacheSite = CacheSite::new(locked("lock_release"));
    let server = RedisServer::start();
    // Long enough that only a release, not the expiry, can explain a prompt answer.
    let ttl = Duration::from_secs(8);
    let (a, b) = (
        locking_runtime(&server.url(), "lockrel", ttl),
        locking_runtime(&server.url(), "lockrel", ttl),
    );
    connected(&a).await;
    connected(&b).await;

    // The holder's body fails: nothing is stored, the lock goes, the waiter computes.
    let failing = {
        let a = a.clone();
        tokio::spawn(async move {
            call_in(&a, &SITE, 1, || async {
                tokio::time::sleep(Duration::from_millis(200)).await;
                Err::<String, _>("db down".to_string())
            })
            .await
        })
    };
    let lock = lock_key("lockrel", "lock_release", 1);
    let taken = eventually(Duration::from_secs(2), || {
        server.cmd::<bool>(&[b"EXISTS", lock.as_bytes()])
    })
    .await;
    assert!(taken, "a took the lock");
    let began = Instant::now();
    let v = call_in(&b, &SITE, 1, || async { Ok("b".to_string()) }).await;
    assert_eq!(v, Ok("b".into()));
    assert!(
        began.elapsed() < Duration::from_secs(3),
        "{:?}",
        began.elapsed()
    );
    assert_eq!(failing.await.expect("a"), Err("db down".into()));

    // The holder's call is cancelled (its future dropped): the lock goes with it.
    let cancelled = {
        let a = a.clone();
        tokio::spawn(async move {
            call_in(&a, &SITE, 2, || async {
                tokio::time::sleep(Duration::from_secs(30)).await;
                Ok("never".to_string())
            })
            .await
        })
    };
    let lock = lock_key("lockrel", "lock_release", 2);
    let taken = eventually(Duration::from_secs(2), || {
        server.cmd::<bool>(&[b"EXISTS", lock.as_bytes()])
    })
    .await;
    assert!(taken, "a took the lock");
    let waiting = {
        let b = b.clone();
        tokio::spawn(async move {
            let began = Instant::now();
            let v = call_in(&b, &SITE, 2, || async { Ok("b2".to_string()) }).await;
            (v, began.elapsed())
        })
    };
    tokio::time::sleep(Duration::from_millis(200)).await;
    cancelled.abort();
    let (v, took) = waiting.await.expect("b");
    assert_eq!(v, Ok("b2".into()));
    assert!(took < Duration::from_secs(3), "{took:?}");
    // b releases its own lock with its background write: soon, not necessarily yet.
    let released = eventually(Duration::from_secs(2), || {
        server.keys("lockrel:__lock:*").is_empty()
    })
    .await;
    assert!(released, "no lock is left behind");
}

static PROC: CacheSite = CacheSite::new(locked("lock_proc"));
static DEAD: CacheSite = CacheSite::new(locked("lock_dead"));

fn unix_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64)
}

async fn until_unix_ms(at: u64) {
    let now = unix_ms();
    if at > now {
        tokio::time::sleep(Duration::from_millis(at - now)).await;
    }
}

/// The child side of the two-process tests: `<url> <what> <start at, unix ms>`.
async fn child(args: &str) {
    let mut parts = args.split(' ');
    let (url, what, at) = (
        parts.next().unwrap_or_default(),
        parts.next().unwrap_or_default(),
        parts.next().and_then(|t| t.parse().ok()).unwrap_or(0),
    );
    let rt = locking_runtime(url, "lockproc", Duration::from_millis(1_500));
    connected(&rt).await;
    println!("READY");
    let runs = Arc::new(AtomicU32::new(0));
    until_unix_ms(at).await;
    let v = match what {
        "race" => {
            call_in(&rt, &PROC, 1, || {
                slow(&runs, "child", Duration::from_millis(500))
            })
            .await
        }
        // Holds the lock "forever": the parent kills this process mid-compute.
        _ => {
            call_in(&rt, &DEAD, 1, || {
                slow(&runs, "child", Duration::from_secs(60))
            })
            .await
        }
    };
    // A holder's write (which releases its lock) runs in the background: like a service,
    // this process stays up until it has landed.
    eventually(Duration::from_secs(3), || {
        let s = stats_of(
            &rt,
            if what == "race" {
                "lock_proc"
            } else {
                "lock_dead"
            },
        );
        s.l2.writes + s.l2.lock_waits > 0
    })
    .await;
    println!("RUNS {}", runs.load(SeqCst));
    println!("VALUE {}", v.unwrap_or_else(|e| e));
}

fn spawn_child(test: &str, args: String) -> std::process::Child {
    let exe = std::env::current_exe().expect("test binary");
    Command::new(exe)
        .args(["--exact", test, "--nocapture"])
        .env("CACHE_LOCK_CHILD", args)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("child runs")
}

fn child_mode() -> Option<String> {
    std::env::var_os("CACHE_LOCK_CHILD").map(|a| a.to_string_lossy().into_owned())
}

fn current_thread() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("tokio")
}

#[test]
fn two_processes_compute_a_locked_key_once() {
    let tokio = current_thread();
    if let Some(args) = child_mode() {
        tokio.block_on(child(&args));
        return;
    }
    let server = RedisServer::start();
    let at = unix_ms() + 2_500;
    let mut child = spawn_child(
        "two_processes_compute_a_locked_key_once",
        format!("{} race {at}", server.url()),
    );
    let stdout = child.stdout.take().expect("piped");
    let mut lines = BufReader::new(stdout).lines().map_while(Result::ok);
    let parent = locking_runtime(&server.url(), "lockproc", Duration::from_millis(1_500));
    let runs = Arc::new(AtomicU32::new(0));
    let value = tokio.block_on(async {
        connected(&parent).await;
        until_unix_ms(at).await;
        call_in(&parent, &PROC, 1, || {
            slow(&runs, "parent", Duration::from_millis(500))
        })
        .await
    });
    let out: Vec<String> = lines.by_ref().collect();
    let _ = child.wait();
    let field = |name: &str| {
        out.iter()
            .find_map(|l| l.strip_prefix(name))
            .unwrap_or_else(|| panic!("the child printed no {name}: {out:?}"))
            .to_owned()
    };
    assert!(out.iter().any(|l| l == "READY"), "{out:?}");
    let child_runs: u32 = field("RUNS ").parse().expect("a count");
    assert_eq!(
        runs.load(SeqCst) + child_runs,
        1,
        "the body ran once in both processes together: {out:?}"
    );
    let value = value.expect("a value");
    assert_eq!(field("VALUE "), value, "both got the one value");
}

#[test]
fn a_lock_whose_holder_died_expires_and_another_instance_computes() {
    let tokio = current_thread();
    if let Some(args) = child_mode() {
        tokio.block_on(child(&args));
        return;
    }
    let server = RedisServer::start();
    let mut child = spawn_child(
        "a_lock_whose_holder_died_expires_and_another_instance_computes",
        format!("{} die 0", server.url()),
    );
    let lock = lock_key("lockproc", "lock_dead", 1);
    let rt = locking_runtime(&server.url(), "lockproc", Duration::from_millis(1_500));
    let (value, took) = tokio.block_on(async {
        connected(&rt).await;
        let taken = eventually(Duration::from_secs(10), || {
            server.cmd::<bool>(&[b"EXISTS", lock.as_bytes()])
        })
        .await;
        assert!(taken, "the child took the lock");
        // The holder dies mid-compute; its lock stays until it expires.
        let _ = child.kill();
        let _ = child.wait();
        assert!(server.cmd::<bool>(&[b"EXISTS", lock.as_bytes()]));
        let began = Instant::now();
        let runs = Arc::new(AtomicU32::new(0));
        let v = call_in(&rt, &DEAD, 1, || {
            slow(&runs, "survivor", Duration::from_millis(10))
        })
        .await;
        (v, began.elapsed())
    });
    assert_eq!(value, Ok("survivor".into()));
    // It waited for the expiry (at most the lock TTL), not for the 60 s computation.
    assert!(took < Duration::from_millis(3_000), "{took:?}");
    let s = stats_of(&rt, "lock_dead");
    assert_eq!((s.computes, s.l2.lock_waits), (1, 0));
}

/// Found by the fleet chaos test (`chaos`, miss storm): a caller whose read missed could
/// take the lock *after* the other instance had computed, written and released it, and
/// ran the body a second time. Two instances call the same fresh keys at the same moment
/// with a body quick enough that the holder finishes within the other's read-then-lock
/// gap; the body must still run once per key.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_lock_taken_after_the_holder_wrote_does_not_compute_again() {
    static SITE: CacheSite = CacheSite::new(locked("lock_late"));
    let server = RedisServer::start();
    let ttl = Duration::from_secs(10);
    let (a, b) = (
        locking_runtime(&server.url(), "locklate", ttl),
        locking_runtime(&server.url(), "locklate", ttl),
    );
    connected(&a).await;
    connected(&b).await;
    let runs = Arc::new(AtomicU32::new(0));
    const KEYS: u64 = 300;
    for k in 0..KEYS {
        let (a, b) = (a.clone(), b.clone());
        let (r1, r2) = (Arc::clone(&runs), Arc::clone(&runs));
        let barrier = Arc::new(tokio::sync::Barrier::new(2));
        let (b1, b2) = (Arc::clone(&barrier), barrier);
        let ta = tokio::spawn(async move {
            b1.wait().await;
            call_in(&a, &SITE, k, || slow(&r1, "a", Duration::ZERO)).await
        });
        let tb = tokio::spawn(async move {
            b2.wait().await;
            call_in(&b, &SITE, k, || slow(&r2, "b", Duration::ZERO)).await
        });
        let (ra, rb) = (ta.await.expect("a"), tb.await.expect("b"));
        assert_eq!(ra, rb, "key {k}: both callers got the one computed value");
    }
    let (sa, sb) = (stats_of(&a, "lock_late"), stats_of(&b, "lock_late"));
    assert_eq!(
        runs.load(SeqCst) as u64,
        KEYS,
        "the body ran once per key (a: {} computes, {} from Redis, {} lock waits; b: {}, {}, {})",
        sa.computes,
        sa.l2.hits,
        sa.l2.lock_waits,
        sb.computes,
        sb.l2.hits,
        sb.l2.lock_waits
    );
}
