//! The caching vocabulary through the macros, in the global runtime: the typed entry
//! handle (`<fn>_entry`), `#[cache_invalidate]`, `#[cache_put]`, `unless`,
//! `only_if_slower`, `ttl_from` and `hard_timeout`. Each test uses caches of its own.

use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering::SeqCst};
use std::time::Duration;

use cache_runtime::{
    Timeout, cache_invalidate, cache_put, cache_result, global, performance_timer, timers,
};
use serde::{Deserialize, Serialize};

fn stats(name: &str) -> cache_runtime::CacheStats {
    global().stats().cache(name).cloned().expect("cache seen")
}

// ---------- the typed handle ----------

static NAME_RUNS: AtomicU32 = AtomicU32::new(0);

#[cache_result("voc_names", ttl = "5m")]
async fn user_name(id: u64) -> Result<String, String> {
    NAME_RUNS.fetch_add(1, SeqCst);
    Ok(format!("user-{id}"))
}

#[tokio::test]
async fn the_entry_handle_peeks_puts_and_invalidates_the_entry_of_those_arguments() {
    assert_eq!(user_name_entry(&1).peek(), None, "nothing cached yet");
    assert_eq!(user_name(1).await.expect("ok"), "user-1");
    assert_eq!(user_name_entry(&1).peek().as_deref(), Some("user-1"));
    assert_eq!(user_name_entry(&2).peek(), None, "another key");
    let before = stats("voc_names");

    user_name_entry(&1).put("renamed".into());
    assert_eq!(
        user_name(1).await.expect("ok"),
        "renamed",
        "served the put value"
    );
    assert_eq!(NAME_RUNS.load(SeqCst), 1, "without recomputing");
    let after = stats("voc_names");
    assert_eq!(after.hits, before.hits + 1);
    assert_eq!(after.misses, before.misses, "peek counts nothing");

    assert!(user_name_entry(&1).invalidate());
    assert!(!user_name_entry(&1).invalidate(), "already gone");
    assert_eq!(user_name(1).await.expect("ok"), "user-1");
    assert_eq!(NAME_RUNS.load(SeqCst), 2, "recomputed after invalidate");
}

static SLOW_RUNS: AtomicU32 = AtomicU32::new(0);

#[cache_result("voc_put_race", ttl = "5m")]
async fn slow_value(id: u64) -> u64 {
    SLOW_RUNS.fetch_add(1, SeqCst);
    tokio::time::sleep(Duration::from_millis(150)).await;
    id
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_put_wins_over_a_computation_that_began_before_it() {
    let running = tokio::spawn(slow_value(5));
    tokio::time::sleep(Duration::from_millis(40)).await;
    slow_value_entry(&5).put(500);
    // The old computation still answers its own caller...
    assert_eq!(running.await.expect("ok"), 5);
    // ...but does not store over the put.
    assert_eq!(slow_value(5).await, 500);
    assert_eq!(slow_value_entry(&5).peek(), Some(500));
    assert_eq!(SLOW_RUNS.load(SeqCst), 1);
}

struct Repo {
    prefix: &'static str,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
struct Channel {
    id: u64,
    name: String,
}

static CHANNEL_RUNS: AtomicU32 = AtomicU32::new(0);

impl Repo {
    #[cache_result("voc_channel", ttl = "5m")]
    async fn channel(&self, id: u64) -> Result<Channel, String> {
        CHANNEL_RUNS.fetch_add(1, SeqCst);
        Ok(Channel {
            id,
            name: format!("{}{id}", self.prefix),
        })
    }

    /// Renames: the cached channel is dropped on success only.
    #[cache_invalidate(Self::channel(id))]
    async fn rename(&self, id: u64, name: &str) -> Result<(), String> {
        if name.is_empty() {
            return Err("empty name".into());
        }
        Ok(())
    }

    /// Stores the renamed channel as the entry: the next read needs no computation.
    #[cache_put(Self::channel(id))]
    #[performance_timer("voc.rename_and_store")]
    async fn rename_and_store(&self, id: u64, name: String) -> Result<Channel, String> {
        if name.is_empty() {
            return Err("empty name".into());
        }
        Ok(Channel { id, name })
    }
}

#[tokio::test]
async fn methods_invalidate_and_put_their_entries_only_when_they_succeed() {
    let repo = Repo { prefix: "ch-" };
    assert_eq!(repo.channel(3).await.expect("ok").name, "ch-3");
    assert!(Repo::channel_entry(&3).peek().is_some());

    assert!(repo.rename(3, "").await.is_err());
    assert!(
        Repo::channel_entry(&3).peek().is_some(),
        "a failure drops nothing"
    );
    repo.rename(3, "x").await.expect("ok");
    assert_eq!(Repo::channel_entry(&3).peek(), None, "dropped on success");
    assert_eq!(repo.channel(3).await.expect("ok").name, "ch-3");
    assert_eq!(CHANNEL_RUNS.load(SeqCst), 2);

    let stored = repo.rename_and_store(3, "news".into()).await.expect("ok");
    assert_eq!(stored.name, "news");
    assert_eq!(
        repo.channel(3).await.expect("ok").name,
        "news",
        "read the put value"
    );
    assert_eq!(CHANNEL_RUNS.load(SeqCst), 2, "no recomputation");
    assert!(repo.rename_and_store(3, String::new()).await.is_err());
    assert_eq!(
        repo.channel(3).await.expect("ok").name,
        "news",
        "an Err stores nothing"
    );
    let timer = timers()
        .into_iter()
        .find(|t| t.name == "voc.rename_and_store")
        .expect("timed");
    assert_eq!(timer.count, 2, "composes with #[performance_timer]");
}

#[cache_result("voc_generic")]
fn describe<T: Serialize + std::fmt::Debug>(value: T) -> String {
    format!("{value:?}")
}

#[test]
fn a_generic_function_has_an_entry_per_instantiation() {
    assert_eq!(describe(1u8), "1");
    assert_eq!(describe(1u64), "1");
    describe_entry::<u8>(&1).put("one byte".into());
    assert_eq!(describe(1u8), "one byte");
    assert_eq!(describe(1u64), "1", "another instantiation, another entry");
    assert_eq!(describe_entry::<u64>(&1).peek().as_deref(), Some("1"));
}

static PARSED: AtomicU32 = AtomicU32::new(0);

#[cache_result("voc_parse_as")]
fn parse_as<T: std::str::FromStr + Serialize>(text: String) -> Option<String> {
    PARSED.fetch_add(1, SeqCst);
    text.parse::<T>()
        .ok()
        .map(|_| format!("{} {text}", std::any::type_name::<T>()))
}

#[cache_invalidate(parse_as::<u32>(text))]
fn forget_u32(text: String) {
    let _ = text;
}

#[test]
fn a_typed_handle_drops_and_puts_only_its_own_instantiation() {
    let t = || "7".to_owned();
    let runs = || PARSED.load(SeqCst);
    parse_as::<u32>(t());
    parse_as::<u64>(t());
    assert_eq!(runs(), 2);
    // The u32 handle: the u64 entry of the same argument stays.
    parse_as_entry::<u32>(&t()).invalidate();
    parse_as::<u64>(t());
    assert_eq!(runs(), 2, "the u64 entry was left alone");
    parse_as::<u32>(t());
    assert_eq!(runs(), 3, "the u32 entry was dropped");
    // The same through #[cache_invalidate(parse_as::<u32>(text))].
    forget_u32(t());
    parse_as::<u64>(t());
    assert_eq!(runs(), 3);
    parse_as::<u32>(t());
    assert_eq!(runs(), 4);
    // A put replaces only its own instantiation.
    parse_as_entry::<u32>(&t()).put("put".into());
    assert_eq!(parse_as::<u32>(t()).as_deref(), Some("put"));
    assert_eq!(parse_as::<u64>(t()).as_deref(), Some("u64 7"));
    assert_eq!(runs(), 4, "the u64 entry survived the put");
    // `invalidate(name, key)` names no type: every instantiation.
    assert!(global().invalidate("voc_parse_as", &(t(),)));
    parse_as::<u32>(t());
    parse_as::<u64>(t());
    assert_eq!(runs(), 6);
}

// ---------- #[cache_invalidate] forms ----------

static TAGGED_RUNS: AtomicU32 = AtomicU32::new(0);

#[cache_result("voc_tagged", tags = [format!("user:{user}")])]
fn posts(user: u64, page: u32) -> Vec<u32> {
    TAGGED_RUNS.fetch_add(1, SeqCst);
    vec![page; user as usize]
}

#[cache_result("voc_top")]
fn top(n: u32) -> Vec<u32> {
    TAGGED_RUNS.fetch_add(1, SeqCst);
    (0..n).collect()
}

#[cache_invalidate(tags = [format!("user:{user}")], cache = "voc_top")]
fn publish(user: u64, title: String) -> Option<String> {
    (!title.is_empty()).then_some(title)
}

#[cache_invalidate(posts(user, 1), before = true)]
fn failing_delete(user: u64) -> Result<(), String> {
    let _ = user;
    Err("storage down".into())
}

#[test]
fn tags_and_whole_caches_are_dropped_on_some_and_kept_on_none() {
    let fill = || {
        posts(1, 1);
        posts(1, 2);
        posts(2, 1);
        top(3);
    };
    fill();
    assert_eq!(TAGGED_RUNS.load(SeqCst), 4);
    assert_eq!(publish(1, String::new()), None);
    fill();
    assert_eq!(TAGGED_RUNS.load(SeqCst), 4, "None dropped nothing");
    assert_eq!(publish(1, "hello".into()).as_deref(), Some("hello"));
    fill();
    // user 1's two pages and the whole top cache; user 2's page stayed.
    assert_eq!(TAGGED_RUNS.load(SeqCst), 7);

    assert!(failing_delete(1).is_err());
    assert_eq!(
        posts_entry(&1, &1).peek(),
        None,
        "before = true drops even on Err"
    );
    assert!(posts_entry(&1, &2).peek().is_some());
}

// ---------- conditional caching, TTL from the value ----------

static UNLESS_RUNS: AtomicU32 = AtomicU32::new(0);

#[cache_result("voc_unless", unless = |v| v.is_empty())]
fn search(q: &str) -> Vec<String> {
    UNLESS_RUNS.fetch_add(1, SeqCst);
    q.split(' ')
        .filter(|w| w.len() > 2)
        .map(str::to_owned)
        .collect()
}

#[test]
fn unless_keeps_refused_values_out_of_the_cache() {
    assert!(search("a b").is_empty());
    assert!(search("a b").is_empty());
    assert_eq!(UNLESS_RUNS.load(SeqCst), 2, "an empty result is not stored");
    assert_eq!(search("cache them").len(), 2);
    assert_eq!(search("cache them").len(), 2);
    assert_eq!(UNLESS_RUNS.load(SeqCst), 3, "a non-empty one is");
    assert_eq!(stats("voc_unless").not_stored, 2);
}

static SLOWER_RUNS: AtomicU32 = AtomicU32::new(0);

#[cache_result("voc_only_if_slower", only_if_slower = "30ms")]
async fn maybe_slow(wait_ms: u64) -> u64 {
    SLOWER_RUNS.fetch_add(1, SeqCst);
    tokio::time::sleep(Duration::from_millis(wait_ms)).await;
    wait_ms
}

#[tokio::test]
async fn only_values_slower_than_the_threshold_are_stored() {
    maybe_slow(0).await;
    maybe_slow(0).await;
    assert_eq!(SLOWER_RUNS.load(SeqCst), 2, "fast: recomputed");
    maybe_slow(60).await;
    maybe_slow(60).await;
    assert_eq!(SLOWER_RUNS.load(SeqCst), 3, "slow: cached");
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
struct Token {
    value: String,
    expires_in_ms: u64,
}

static TOKEN_RUNS: AtomicU32 = AtomicU32::new(0);

#[cache_result("voc_ttl_from", ttl = "150ms", ttl_from = |t| Duration::from_millis(t.expires_in_ms))]
async fn token(scope: &str, expires_in_ms: u64) -> Result<Token, String> {
    let run = TOKEN_RUNS.fetch_add(1, SeqCst);
    Ok(Token {
        value: format!("{scope}-{run}"),
        expires_in_ms,
    })
}

#[tokio::test]
async fn ttl_from_sets_each_entry_s_ttl_bounded_by_ttl() {
    let short = token("a", 40).await.expect("ok");
    let long = token("b", 10_000).await.expect("ok");
    assert_eq!(token("a", 40).await.expect("ok"), short);
    tokio::time::sleep(Duration::from_millis(80)).await;
    assert_ne!(
        token("a", 40).await.expect("ok"),
        short,
        "expired after its own 40 ms"
    );
    assert_eq!(
        token("b", 10_000).await.expect("ok"),
        long,
        "still fresh at 80 ms"
    );
    tokio::time::sleep(Duration::from_millis(120)).await;
    assert_ne!(
        token("b", 10_000).await.expect("ok"),
        long,
        "10 s asked, but bounded by ttl = 150ms"
    );
}

// ---------- hard timeouts ----------

#[derive(Debug, PartialEq)]
enum ApiError {
    Slow,
    Down,
}

impl From<Timeout> for ApiError {
    fn from(_: Timeout) -> Self {
        ApiError::Slow
    }
}

static HANG: AtomicU32 = AtomicU32::new(0);

#[cache_result(
    "voc_hard",
    ttl = "50ms",
    stale_if_error = "10m",
    hard_timeout = "60ms"
)]
async fn report(id: u64) -> Result<String, ApiError> {
    let hang = HANG.load(SeqCst);
    if hang == 2 {
        return Err(ApiError::Down);
    }
    if hang == 1 {
        tokio::time::sleep(Duration::from_secs(5)).await;
    }
    Ok(format!("report {id}"))
}

#[tokio::test]
async fn a_hard_timeout_answers_with_the_fail_safe_copy_or_the_timeout_error() {
    HANG.store(1, SeqCst);
    let began = std::time::Instant::now();
    assert_eq!(
        report(1).await,
        Err(ApiError::Slow),
        "no copy: From<Timeout>"
    );
    let waited = began.elapsed();
    assert!(
        waited >= Duration::from_millis(55) && waited < Duration::from_millis(1000),
        "stopped waiting at the hard timeout, after {waited:?}"
    );
    HANG.store(0, SeqCst);
    assert_eq!(report(2).await.expect("ok"), "report 2");
    tokio::time::sleep(Duration::from_millis(70)).await; // past its TTL, inside the window
    HANG.store(1, SeqCst);
    assert_eq!(
        report(2).await.expect("ok"),
        "report 2",
        "the fail-safe copy answers"
    );
    let s = stats("voc_hard");
    assert_eq!(s.hard_timeouts, 2);
    assert!(s.stale_served >= 1);
    let text = global().prometheus();
    assert!(
        text.contains("cache_hard_timeouts_total{namespace=\"app\",cache=\"voc_hard\"} 2"),
        "{text}"
    );
    HANG.store(2, SeqCst);
    assert_eq!(
        report(3).await,
        Err(ApiError::Down),
        "an ordinary error is not a timeout"
    );
    assert_eq!(stats("voc_hard").hard_timeouts, 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_callers_share_one_hard_timeout() {
    static RUNS: AtomicU32 = AtomicU32::new(0);
    #[cache_result("voc_hard_shared", hard_timeout = "50ms")]
    async fn hangs(id: u64) -> Result<u64, ApiError> {
        RUNS.fetch_add(1, SeqCst);
        tokio::time::sleep(Duration::from_secs(5)).await;
        Ok(id)
    }
    let calls: Vec<_> = (0..8).map(|_| tokio::spawn(hangs(1))).collect();
    let counter = Arc::new(AtomicU32::new(0));
    for c in calls {
        if c.await.expect("ok") == Err(ApiError::Slow) {
            counter.fetch_add(1, SeqCst);
        }
    }
    assert_eq!(
        counter.load(SeqCst),
        8,
        "every caller got the timeout error"
    );
    assert!(RUNS.load(SeqCst) >= 1);
}

// ---------- soft timeouts ----------

static SOFT_SLOW: AtomicU32 = AtomicU32::new(0);
static SOFT_RUNS: AtomicU32 = AtomicU32::new(0);

#[cache_result(
    "voc_soft",
    ttl = "300ms",
    stale_if_error = "10m",
    soft_timeout = "30ms"
)]
async fn dashboard(id: u64) -> Result<String, ApiError> {
    let run = SOFT_RUNS.fetch_add(1, SeqCst) + 1;
    if SOFT_SLOW.load(SeqCst) == 1 {
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    Ok(format!("dashboard {id} v{run}"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_soft_timeout_answers_with_the_copy_and_the_body_stores_in_the_background() {
    assert_eq!(dashboard(1).await.expect("ok"), "dashboard 1 v1");
    tokio::time::sleep(Duration::from_millis(320)).await; // expired, inside the window
    SOFT_SLOW.store(1, SeqCst);
    let began = std::time::Instant::now();
    assert_eq!(
        dashboard(1).await.expect("ok"),
        "dashboard 1 v1",
        "the copy"
    );
    let waited = began.elapsed();
    assert!(
        waited < Duration::from_millis(150),
        "answered at the soft timeout, after {waited:?}"
    );
    assert_eq!(stats("voc_soft").soft_timeouts, 1);
    // The body went on and stored its value.
    tokio::time::sleep(Duration::from_millis(250)).await;
    SOFT_SLOW.store(0, SeqCst);
    assert_eq!(
        dashboard_entry(&1).peek().as_deref(),
        Some("dashboard 1 v2")
    );
    assert_eq!(dashboard(1).await.expect("ok"), "dashboard 1 v2");
    assert_eq!(
        SOFT_RUNS.load(SeqCst),
        2,
        "no third run: the background one stored"
    );
    // Without a copy (a new key) the call waits for the body.
    SOFT_SLOW.store(1, SeqCst);
    let began = std::time::Instant::now();
    assert_eq!(dashboard(2).await.expect("ok"), "dashboard 2 v3");
    assert!(began.elapsed() >= Duration::from_millis(190));
    assert_eq!(stats("voc_soft").soft_timeouts, 1);
}
