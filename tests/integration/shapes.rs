//! Every function shape a web codebase has, cached for real.

use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering::SeqCst};
use std::time::Duration;

use cache_runtime::{cache_result, global};
use serde::{Deserialize, Serialize};

use crate::{setup, stats};

static GENERIC_RUNS: AtomicU32 = AtomicU32::new(0);

#[cache_result("it_generic", ttl = 60)]
fn describe<T: Serialize + std::fmt::Debug>(value: T) -> String {
    GENERIC_RUNS.fetch_add(1, SeqCst);
    format!("{} {value:?}", std::any::type_name::<T>())
}

#[test]
fn generic_instantiations_never_share_entries() {
    setup();
    // MessagePack-like encodings write both 7s alike; the key still tells them apart.
    assert_eq!(describe::<u32>(7), "u32 7");
    assert_eq!(describe::<u64>(7), "u64 7");
    assert_eq!(describe::<u32>(7), "u32 7");
    assert_eq!(GENERIC_RUNS.load(SeqCst), 2);
    // Invalidating the key value reaches every instantiation.
    assert!(global().invalidate("it_generic", &(7u32,)));
    describe::<u32>(7);
    describe::<u64>(7);
    assert_eq!(GENERIC_RUNS.load(SeqCst), 4);
}

#[derive(Clone)]
struct Repo {
    name: &'static str,
    queries: Arc<AtomicU32>,
}

impl Repo {
    #[cache_result("it_method", ttl = 60)]
    async fn user_name(&self, id: u64) -> Result<String, String> {
        self.queries.fetch_add(1, SeqCst);
        Ok(format!("user {id} via {}", self.name))
    }
}

#[tokio::test]
async fn self_is_not_part_of_the_key() {
    setup();
    let queries = Arc::new(AtomicU32::new(0));
    let a = Repo {
        name: "a",
        queries: Arc::clone(&queries),
    };
    let b = Repo {
        name: "b",
        queries: Arc::clone(&queries),
    };
    assert_eq!(a.user_name(1).await, Ok("user 1 via a".into()));
    // Another instance, same key: the cached answer.
    assert_eq!(b.user_name(1).await, Ok("user 1 via a".into()));
    assert_eq!(queries.load(SeqCst), 1);
    // The key value is `(id,)`: `self` is not part of it.
    assert!(global().invalidate("it_method", &(1u64,)));
    assert_eq!(b.user_name(1).await, Ok("user 1 via b".into()));
}

#[derive(Debug, PartialEq)]
struct ApiError(String);
type ApiResult<T> = Result<T, ApiError>;

static ALIAS_RUNS: AtomicU32 = AtomicU32::new(0);

#[cache_result("it_alias", ttl = 60)]
async fn behind_alias(fail: bool) -> ApiResult<u32> {
    ALIAS_RUNS.fetch_add(1, SeqCst);
    if fail {
        Err(ApiError("no".into()))
    } else {
        Ok(5)
    }
}

#[tokio::test]
async fn errors_behind_an_alias_are_not_cached() {
    setup();
    assert_eq!(behind_alias(true).await, Err(ApiError("no".into())));
    assert_eq!(behind_alias(true).await, Err(ApiError("no".into())));
    assert_eq!(behind_alias(false).await, Ok(5));
    assert_eq!(behind_alias(false).await, Ok(5));
    assert_eq!(ALIAS_RUNS.load(SeqCst), 3);
    assert_eq!(stats("it_alias").errors_not_cached, 2);
}

static OPTION_RUNS: AtomicU32 = AtomicU32::new(0);

#[cache_result("it_option", ttl = 60)]
fn find(id: u32) -> Option<String> {
    OPTION_RUNS.fetch_add(1, SeqCst);
    (id > 0).then(|| format!("#{id}"))
}

static NONE_RUNS: AtomicU32 = AtomicU32::new(0);

#[cache_result("it_cache_none", ttl = 60, cache_none = true)]
fn find_caching_none(id: u32) -> Option<String> {
    NONE_RUNS.fetch_add(1, SeqCst);
    (id > 0).then(|| format!("#{id}"))
}

#[test]
fn none_is_cached_only_when_asked() {
    setup();
    for _ in 0..3 {
        assert_eq!(find(0), None);
        assert_eq!(find(1), Some("#1".into()));
        assert_eq!(find_caching_none(0), None);
    }
    assert_eq!(OPTION_RUNS.load(SeqCst), 4, "None recomputed, Some cached");
    assert_eq!(NONE_RUNS.load(SeqCst), 1, "None cached");
}

static REF_RUNS: AtomicU32 = AtomicU32::new(0);

#[cache_result("it_refs", ttl = 60)]
async fn total(label: &str, values: &[u32]) -> String {
    REF_RUNS.fetch_add(1, SeqCst);
    format!("{label}={}", values.iter().sum::<u32>())
}

#[tokio::test]
async fn reference_arguments_key_by_value() {
    setup();
    let owned = String::from("sum");
    assert_eq!(total("sum", &[1, 2]).await, "sum=3");
    let values: Vec<u32> = vec![1, 2];
    assert_eq!(total(&owned, &values).await, "sum=3");
    assert_eq!(total("sum", &[1, 2, 0]).await, "sum=3");
    assert_eq!(REF_RUNS.load(SeqCst), 2);
    // The key value is the tuple of the inputs, here `(&str, &[u32])`.
    // (A slice argument serializes as a sequence: pass a Vec or slice, not an array,
    // which serde writes as a tuple.)
    assert!(global().invalidate("it_refs", &("sum", vec![1u32, 2])));
    assert_eq!(total("sum", &[1, 2]).await, "sum=3");
    assert_eq!(REF_RUNS.load(SeqCst), 3);
}

#[derive(Clone, Serialize, Deserialize, Debug, PartialEq)]
struct Page {
    items: Vec<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    next: Option<String>,
}

static KEY_RUNS: AtomicU32 = AtomicU32::new(0);

#[cache_result("it_key_expr", ttl = 60, key = (user.to_lowercase(), page), version = 2)]
async fn page(user: String, page: u32, request_id: u64) -> Page {
    KEY_RUNS.fetch_add(1, SeqCst);
    Page {
        items: vec![format!("{user}:{page}:{request_id}")],
        next: None,
    }
}

#[tokio::test]
async fn key_expressions_choose_what_matters() {
    setup();
    let first = page("Ada".into(), 1, 100).await;
    assert_eq!(page("ADA".into(), 1, 200).await, first);
    assert_ne!(page("ada".into(), 2, 300).await, first);
    assert_eq!(KEY_RUNS.load(SeqCst), 2);
    assert!(global().invalidate("it_key_expr", &("ada", 1u32)));
}

static OVERRIDE_RUNS: AtomicU32 = AtomicU32::new(0);

#[cache_result("it_overridden_ttl", ttl = "1h")]
async fn overridden() -> u32 {
    OVERRIDE_RUNS.fetch_add(1, SeqCst) + 1
}

static DISABLED_RUNS: AtomicU32 = AtomicU32::new(0);

#[cache_result("it_disabled", ttl = "1h")]
fn disabled() -> u32 {
    DISABLED_RUNS.fetch_add(1, SeqCst) + 1
}

#[tokio::test]
async fn operators_retune_caches_without_recompiling() {
    setup();
    assert_eq!(overridden().await, 1);
    assert_eq!(overridden().await, 1);
    tokio::time::sleep(Duration::from_millis(250)).await; // the 100 ms override, not 1 h
    assert_eq!(overridden().await, 2);
    assert_eq!((disabled(), disabled()), (1, 2));
    assert_eq!(global().stats().namespace, "itest");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn macro_functions_single_flight() {
    setup();
    static RUNS: AtomicU32 = AtomicU32::new(0);
    #[cache_result("it_flight", ttl = 60)]
    async fn slow(id: u64) -> u64 {
        tokio::time::sleep(Duration::from_millis(150)).await;
        RUNS.fetch_add(1, SeqCst);
        id * 2
    }
    let tasks: Vec<_> = (0..16).map(|_| tokio::spawn(slow(21))).collect();
    for t in tasks {
        assert_eq!(t.await.expect("task"), 42);
    }
    assert_eq!(RUNS.load(SeqCst), 1);
}

#[tokio::test]
async fn tags_invalidate_across_caches() {
    setup();
    static RUNS: AtomicU32 = AtomicU32::new(0);
    #[cache_result("it_tag_a", ttl = 60, tags = [format!("team:{team}")])]
    async fn members(team: u32) -> u32 {
        RUNS.fetch_add(1, SeqCst);
        team
    }
    #[cache_result("it_tag_b", ttl = 60, tags = [format!("team:{team}"), "all-teams"])]
    async fn budget(team: u32) -> u32 {
        RUNS.fetch_add(1, SeqCst);
        team * 10
    }
    members(1).await;
    budget(1).await;
    members(2).await;
    assert_eq!(RUNS.load(SeqCst), 3);
    global().invalidate_tag("team:1");
    members(1).await;
    budget(1).await;
    members(2).await;
    assert_eq!(
        RUNS.load(SeqCst),
        5,
        "team 1 recomputed in both caches, team 2 kept"
    );
}

#[cache_result("it_future_size")]
async fn small_future(id: u64, q: String) -> String {
    format!("{q}-{id}")
}

#[cache_result("it_future_size_refresh", refresh_ahead = 0.8)]
async fn small_future_refresh(id: u64, q: String) -> String {
    format!("{q}-{id}")
}

#[cache_result("it_future_size_soft", soft_timeout = "50ms", stale_if_error = "1m")]
async fn small_future_soft(id: u64, q: String) -> Result<String, String> {
    Ok(format!("{q}-{id}"))
}

/// Every call moves its future at least once (into a task, or into the caller's future),
/// so a cached `async fn` must not carry the lookup's key and ticket in it: only its
/// arguments and the boxed computation (it was 336 bytes for this signature before).
#[tokio::test]
async fn a_cached_async_fns_future_holds_little_more_than_its_arguments() {
    crate::setup();
    let arguments = std::mem::size_of::<(u64, String)>();
    let plain = std::mem::size_of_val(&small_future(7, "q".into()));
    let refresh = std::mem::size_of_val(&small_future_refresh(7, "q".into()));
    let soft = std::mem::size_of_val(&small_future_soft(7, "q".into()));
    for (what, size) in [
        ("plain", plain),
        ("refresh_ahead", refresh),
        ("soft_timeout", soft),
    ] {
        assert!(
            size <= 2 * arguments + 32,
            "{what}: a {size}-byte future for {arguments} bytes of arguments"
        );
    }
    assert_eq!(small_future(7, "q".into()).await, "q-7");
    assert_eq!(small_future_refresh(7, "q".into()).await, "q-7");
    assert_eq!(small_future_soft(7, "q".into()).await, Ok("q-7".into()));
}
