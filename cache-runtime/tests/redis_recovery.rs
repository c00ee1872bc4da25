//! Auto-recovery: what an instance changes while Redis does not answer (a `put`, an
//! invalidation of a key, of a cache, of a tag) reaches Redis and the other instances once
//! it answers again, the latest change of a key wins, and a full queue stays correct by
//! being coarser. Against a real redis-server frozen with SIGSTOP: connections stay open
//! and every operation times out, as when a network path drops packets. The global runtime
//! is instance A (the typed handles write through it); instance B is another runtime.

#![cfg(feature = "redis")]

mod common;

use std::collections::HashMap;
use std::sync::atomic::{AtomicU32, Ordering::SeqCst};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use cache_runtime::__private::CacheSite;
use cache_runtime::{CacheRuntime, cache_result, global};
use common::remote::*;
use common::{call_in, counted, spec};
use test_support::RedisServer;

/// The "database" behind the cached function, shared by both instances.
static SOURCE: Mutex<Option<HashMap<u64, String>>> = Mutex::new(None);

fn source(id: u64) -> String {
    SOURCE
        .lock()
        .expect("source")
        .as_ref()
        .and_then(|m| m.get(&id).cloned())
        .unwrap_or_else(|| format!("src{id}"))
}

fn set_source(id: u64, v: &str) {
    SOURCE
        .lock()
        .expect("source")
        .get_or_insert_with(HashMap::new)
        .insert(id, v.to_owned());
}

#[cache_result("rec_profile", ttl = 60)]
async fn profile(id: u64) -> Result<String, String> {
    Ok(source(id))
}

/// The same cache as `profile`, as instance B's call site sees it.
static OTHER: CacheSite = CacheSite::new(spec("rec_profile", 60_000));

/// What instance B answers for `id` (its body reads the source, as `profile`'s does).
async fn at_b(b: &CacheRuntime, id: u64) -> String {
    call_in(b, &OTHER, id, || async move { Ok(source(id)) })
        .await
        .expect("b answers")
}

/// Instance B as a process of its own: this test binary run with `RECOVERY_CHILD_URL`,
/// answering `get <id>` and `hits` on stdin, one line each, on stdout. Its body answers
/// `src<id>` (it has no access to the parent's source but through Redis), so every value
/// it serves that is not computed came from Redis.
fn child(url: &str) {
    let tokio = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("tokio");
    let b = runtime(url, "recov");
    tokio.block_on(connected(&b));
    // On a line of its own: the harness has printed the test's name without a newline.
    println!("\nREADY");
    for line in std::io::stdin().lines().map_while(Result::ok) {
        let mut words = line.split_whitespace();
        match (
            words.next(),
            words.next().and_then(|w| w.parse::<u64>().ok()),
        ) {
            (Some("get"), Some(id)) => println!("GOT {}", tokio.block_on(at_b(&b, id))),
            (Some("hits"), _) => println!("GOT {}", stats_of(&b, "rec_profile").l2.hits),
            _ => return,
        }
    }
}

/// The parent's side of [`child`].
struct ChildB {
    process: std::process::Child,
    lines: std::io::Lines<std::io::BufReader<std::process::ChildStdout>>,
}

impl ChildB {
    fn start(url: &str) -> Self {
        use std::io::BufRead;
        let exe = std::env::current_exe().expect("test binary");
        let mut process = std::process::Command::new(exe)
            .args([
                "--exact",
                "what_an_instance_changed_while_redis_was_frozen_reaches_the_others_when_it_answers",
                "--nocapture",
                "--test-threads=1",
            ])
            .env("RECOVERY_CHILD_URL", url)
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::null())
            .spawn()
            .expect("child runs");
        let stdout = process.stdout.take().expect("piped");
        let mut lines = std::io::BufReader::new(stdout).lines();
        let ready = lines.by_ref().map_while(Result::ok).any(|l| l == "READY");
        assert!(ready, "instance B started");
        Self { process, lines }
    }

    fn ask(&mut self, question: &str) -> String {
        use std::io::Write;
        let stdin = self.process.stdin.as_mut().expect("piped");
        writeln!(stdin, "{question}").expect("child reads");
        tokio::task::block_in_place(|| {
            self.lines
                .by_ref()
                .map_while(Result::ok)
                .find_map(|l| l.strip_prefix("GOT ").map(str::to_owned))
                .expect("child answers")
        })
    }

    fn get(&mut self, id: u64) -> String {
        self.ask(&format!("get {id}"))
    }
}

impl Drop for ChildB {
    fn drop(&mut self) {
        let _ = self.process.kill();
        let _ = self.process.wait();
    }
}

/// Waits until B answers `want` for `id`; how long it took.
async fn b_converges(b: &mut ChildB, id: u64, want: &str) -> Duration {
    let began = Instant::now();
    loop {
        let got = b.get(id);
        if got == want {
            return began.elapsed();
        }
        assert!(
            began.elapsed() < Duration::from_secs(10),
            "instance B still answers {got:?} for {id}, not {want:?}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// B answers `want` for every id in `ids` for a while (it does not go back).
async fn b_stays(b: &mut ChildB, ids: &[u64], want: impl Fn(u64) -> String) {
    for _ in 0..10 {
        for &id in ids {
            assert_eq!(b.get(id), want(id), "instance B went back for {id}");
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn what_an_instance_changed_while_redis_was_frozen_reaches_the_others_when_it_answers() {
    if let Some(url) = std::env::var_os("RECOVERY_CHILD_URL") {
        // On a thread of its own: this one is inside the test's tokio runtime.
        let url = url.to_string_lossy().into_owned();
        std::thread::spawn(move || child(&url))
            .join()
            .expect("instance B ran");
        return;
    }
    let server = RedisServer::start();
    let ns = "recov";
    let a = CacheRuntime::builder()
        .namespace(ns)
        .redis(server.url())
        .redis_timeout(Duration::from_millis(50))
        .recovery_queue(4, 1 << 20)
        .install()
        .expect("the global runtime of this test");
    connected(a).await;
    let mut b = ChildB::start(&server.url());
    let ids: Vec<u64> = (1..=3).chain(10..=16).collect();
    for &id in &ids {
        set_source(id, &format!("old{id}"));
        assert_eq!(profile(id).await.expect("a"), format!("old{id}"));
    }
    assert!(a.flush(Duration::from_secs(5)).await.is_complete());
    for &id in &ids {
        assert_eq!(b.get(id), format!("old{id}"), "b read a's value");
    }
    assert_eq!(b.ask("hits"), ids.len().to_string(), "all from redis");

    // Redis freezes. A puts a new value of 1; the database changes 2 and A invalidates
    // it; A puts 3 and then invalidates it (the delete cancels the put). B, another
    // process, computes `src<id>` for what it finds nowhere.
    server.pause();
    profile_entry(&1).put_async("put1".into()).await;
    set_source(2, "src2");
    a.invalidate("rec_profile", &(2u64,));
    profile_entry(&3).put_async("put3".into()).await;
    set_source(3, "src3");
    a.invalidate("rec_profile", &(3u64,));
    assert_eq!(profile(1).await.expect("a"), "put1", "a reads its own put");
    assert_eq!(
        profile(2).await.expect("a"),
        "src2",
        "a recomputes what it invalidated"
    );
    let waiting = a.flush(Duration::from_millis(200)).await;
    assert!(
        waiting.pending >= 3,
        "kept while Redis is frozen: {waiting:?}"
    );
    let l2 = a.stats().l2.expect("l2");
    assert!(
        l2.recovery_pending >= 3 && l2.recovery_superseded >= 1,
        "{l2:?}"
    );

    // Redis answers again: B gets every change within a few seconds, and keeps it.
    server.resume();
    let took = [
        b_converges(&mut b, 1, "put1").await,
        b_converges(&mut b, 2, "src2").await,
        b_converges(&mut b, 3, "src3").await,
    ];
    eprintln!("b converged after {took:?}");
    b_stays(&mut b, &[1, 2, 3], |id| match id {
        1 => "put1".into(),
        _ => format!("src{id}"),
    })
    .await;
    assert!(a.flush(Duration::from_secs(5)).await.is_complete());
    let l2 = a.stats().l2.expect("l2");
    assert_eq!(l2.recovery_pending, 0);
    assert!(l2.recovery_replayed >= 2, "{l2:?}");

    // The queue holds 4 operations: 7 puts while frozen keep 4 and bump the cache's
    // generation for the rest, so B recomputes every key of the cache (never an old value).
    server.pause();
    for id in 10..=16 {
        set_source(id, &format!("src{id}"));
        profile_entry(&id).put_async(format!("src{id}")).await;
    }
    let l2 = a.stats().l2.expect("l2");
    assert!(l2.recovery_overflowed >= 3, "{l2:?}");
    server.resume();
    for id in 10..=16 {
        b_converges(&mut b, id, &format!("src{id}")).await;
    }
    b_stays(&mut b, &(10..=16).collect::<Vec<_>>(), |id| {
        format!("src{id}")
    })
    .await;
    assert!(global().flush(Duration::from_secs(5)).await.is_complete());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cache_and_tag_invalidations_made_while_redis_was_frozen_land_when_it_answers() {
    static ALL: CacheSite = CacheSite::new(spec("rec_all", 60_000));
    static TAGGED: CacheSite = CacheSite::new(spec("rec_tagged", 60_000));
    let server = RedisServer::start();
    let (a, b) = connected_pair(&server, "recall").await;
    let runs = Arc::new(AtomicU32::new(0));
    call_in(&a, &ALL, 1, || counted(&runs)).await.expect("a");
    call_tagged_in(&a, &TAGGED, 1, &["team:7"], || counted(&runs))
        .await
        .expect("a");
    assert!(a.flush(Duration::from_secs(5)).await.is_complete());
    let b_all = || call_in(&b, &ALL, 1, || counted(&runs));
    let b_tagged = || call_tagged_in(&b, &TAGGED, 1, &["team:7"], || counted(&runs));
    assert_eq!(b_all().await.expect("b"), "v1");
    assert_eq!(b_tagged().await.expect("b"), "v2");
    assert_eq!(runs.load(SeqCst), 2, "b read both from redis");

    server.pause();
    a.invalidate_all("rec_all");
    a.invalidate_tag("team:7");
    assert!(a.flush(Duration::from_millis(200)).await.pending >= 2);
    server.resume();
    let began = Instant::now();
    loop {
        let (all, tagged) = (b_all().await.expect("b"), b_tagged().await.expect("b"));
        if all != "v1" && tagged != "v2" {
            break;
        }
        assert!(
            began.elapsed() < Duration::from_secs(10),
            "b still answers {all} and {tagged}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert!(a.flush(Duration::from_secs(5)).await.is_complete());
    let l2 = a.stats().l2.expect("l2");
    assert!(l2.recovery_replayed >= 2, "{l2:?}");
}
