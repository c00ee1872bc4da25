//! `#[cache_batch]` in every supported shape: async and sync, an id collection as
//! `Vec<K>`, `&[K]`, `HashSet<K>` and `BTreeSet<K>`, other arguments in the key (a method
//! receiver left out), a map or a `Result` of one, tags over id and value, `missing_ttl`,
//! and the `<fn>_entry` companion of one record.

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};

use cache_runtime::cache_batch;

#[derive(Clone, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
struct User {
    id: u64,
    name: String,
}

#[cache_batch("ui_batch_users", ttl = "5m", tags = |id, _user| [format!("user:{id}")])]
async fn users(region: String, ids: Vec<u64>) -> Result<HashMap<u64, User>, String> {
    Ok(ids
        .into_iter()
        .map(|id| (id, User { id, name: format!("{region}-{id}") }))
        .collect())
}

#[cache_batch("ui_batch_prices", missing_ttl = "30s", tier = "local")]
fn prices(skus: &[String]) -> HashMap<String, u32> {
    skus.iter()
        .filter(|sku| sku.starts_with('a'))
        .map(|sku| (sku.clone(), sku.len() as u32))
        .collect()
}

#[cache_batch("ui_batch_set", ttl = 60, stale_if_error = "1m", version = 2)]
fn lengths(words: HashSet<String>) -> BTreeMap<String, usize> {
    words.into_iter().map(|w| (w.clone(), w.len())).collect()
}

// Records refreshed ahead: one background body call for those past 80% of their TTL.
#[cache_batch("ui_batch_refresh", ttl = "5m", refresh_ahead = 0.8, missing_ttl = "30s")]
async fn scores(region: String, ids: Vec<u64>) -> Result<HashMap<u64, u64>, String> {
    Ok(ids.into_iter().map(|id| (id, id + region.len() as u64)).collect())
}

#[cache_batch("ui_batch_refresh_sync", ttl = "5m", refresh_ahead = 0.8)]
fn sync_scores(ids: &[u64]) -> HashMap<u64, u64> {
    ids.iter().map(|id| (*id, *id)).collect()
}

struct Repo {
    offset: u64,
}

impl Repo {
    #[cache_batch("ui_batch_method", skip(scale), entry = false)]
    async fn shifted(&self, scale: u64, ids: BTreeSet<u64>) -> HashMap<u64, u64> {
        ids.into_iter().map(|id| (id, id * scale + self.offset)).collect()
    }
}

#[tokio::main(flavor = "current_thread")]
async fn main() {
    assert_eq!(scores("eu".to_owned(), vec![3, 1]).await.map(|m| m[&1]), Ok(3));
    assert_eq!(sync_scores(&[4]).get(&4), Some(&4));
    let got = users("eu".to_owned(), vec![1, 2, 2]).await;
    assert_eq!(got.map(|m| m.len()), Ok(2));
    assert_eq!(
        users_entry(&"eu".to_owned(), &1).peek().map(|u| u.name),
        Some("eu-1".to_owned())
    );
    assert!(users_entry(&"eu".to_owned(), &1).invalidate());

    let skus = ["a1".to_owned(), "b2".to_owned()];
    assert_eq!(prices(&skus).len(), 1);
    assert_eq!(prices_entry(&"b2".to_owned()).peek(), None);
    prices_entry(&"b2".to_owned()).put(7);
    assert_eq!(prices(&skus).len(), 2);

    assert_eq!(lengths(HashSet::from(["abc".to_owned()]))["abc"], 3);
    assert_eq!(lengths_entry(&"abc".to_owned()).peek(), Some(3));

    let repo = Repo { offset: 1 };
    assert_eq!(repo.shifted(10, BTreeSet::from([1, 2])).await[&2], 21);
}
