use std::collections::HashMap;

use cache_runtime::cache_batch;

#[derive(Clone)]
struct Repo;

impl Repo {
    #[cache_batch("batch_refresh_method", refresh_ahead = 0.5)]
    async fn names(&self, ids: Vec<u64>) -> HashMap<u64, String> {
        ids.into_iter().map(|id| (id, id.to_string())).collect()
    }
}

fn main() {}
