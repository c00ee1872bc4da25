//! The caching vocabulary: the typed companion `<fn>_entry` of free fns, methods and
//! generic fns; `#[cache_invalidate]` and `#[cache_put]` on async and sync fns and
//! methods, with `#[performance_timer]` in either order; `unless`, `only_if_slower`,
//! `ttl_from` and `hard_timeout`.

use std::time::Duration;

use cache_runtime::{
    CacheEntry, Timeout, cache_invalidate, cache_put, cache_result, performance_timer,
};
use serde::{Deserialize, Serialize};

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
struct Channel {
    id: u64,
    name: String,
}

#[derive(Debug)]
enum ApiError {
    Slow,
    Invalid,
}

impl From<Timeout> for ApiError {
    fn from(_: Timeout) -> Self {
        ApiError::Slow
    }
}

type ApiResult<T> = Result<T, ApiError>;

#[cache_result("voc_channel", ttl = "5m", hard_timeout = "2s")]
async fn channel(id: u64) -> Result<Channel, ApiError> {
    Ok(Channel { id, name: format!("#{id}") })
}

#[cache_result("voc_by_name")]
fn by_name(owner: &str, name: &str) -> Option<u64> {
    (owner == "ada").then_some(name.len() as u64)
}

#[cache_result("voc_alias", unless = |v| v.is_empty())]
async fn alias(id: u64) -> ApiResult<String> {
    Ok(id.to_string())
}

#[cache_result("voc_token", ttl = "1h", ttl_from = |t: &(String, u64)| Duration::from_secs(t.1), only_if_slower = "1ms")]
fn token(scope: String) -> (String, u64) {
    (scope, 60)
}

#[cache_result("voc_generic")]
fn show<T: Serialize + std::fmt::Debug>(value: T) -> String {
    format!("{value:?}")
}

#[cache_invalidate(channel(id), by_name(owner, &name), cache = "voc_alias", tags = [format!("channel:{id}")])]
#[performance_timer]
async fn rename(id: u64, owner: String, name: String) -> Result<(), ApiError> {
    if name.is_empty() {
        return Err(ApiError::Invalid);
    }
    drop(name); // the body may move what the targets read
    Ok(())
}

#[performance_timer]
#[cache_invalidate(show::<u8>(n), before = true)]
fn forget(n: u8) {}

#[cache_put(channel(id))]
async fn store(id: u64, name: String) -> Result<Channel, ApiError> {
    Ok(Channel { id, name })
}

#[cache_put(token(scope))]
fn refresh_token(scope: String) -> (String, u64) {
    (scope, 30)
}

struct Repo;

impl Repo {
    #[cache_result("voc_method")]
    async fn count(&self, user: u64) -> u64 {
        user
    }

    #[cache_invalidate(Self::count(user))]
    async fn reset(&self, user: u64) -> Option<()> {
        Some(())
    }

    #[cache_put(Self::count(user))]
    fn set(&self, user: u64, value: u64) -> u64 {
        value
    }
}

#[tokio::main]
async fn main() {
    channel(1).await.unwrap();
    let entry: CacheEntry<Channel> = channel_entry(&1);
    assert!(entry.peek().is_some());
    assert_eq!(by_name("ada", "abc"), Some(3));
    assert_eq!(by_name_entry("ada", "abc").peek(), Some(3));
    alias(2).await.unwrap();
    // The alias hides `Result`: its entry holds the whole return type.
    let whole: CacheEntry<ApiResult<String>> = alias_entry(&2);
    assert!(whole.peek().is_some());
    rename(1, "ada".into(), "abc".into()).await.unwrap();
    assert!(channel_entry(&1).peek().is_none());
    assert!(by_name_entry("ada", "abc").peek().is_none());
    store(1, "new".into()).await.unwrap();
    assert_eq!(channel_entry(&1).peek().unwrap().name, "new");
    token("s".into());
    refresh_token("s".into());
    assert_eq!(token_entry(&"s".to_owned()).peek(), Some(("s".to_owned(), 30)));
    show(1u8);
    forget(1);
    assert!(show_entry::<u8>(&1).peek().is_none());
    let repo = Repo;
    repo.count(4).await;
    repo.reset(4).await;
    assert!(Repo::count_entry(&4).peek().is_none());
    repo.set(4, 40);
    assert_eq!(repo.count(4).await, 40);
    channel_entry(&9).put_async(Channel { id: 9, name: "nine".into() }).await;
    assert!(channel_entry(&9).invalidate());
}
