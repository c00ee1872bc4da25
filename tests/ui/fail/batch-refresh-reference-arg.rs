use std::collections::HashMap;

use cache_runtime::cache_batch;

// The background refresh owns clones of the other arguments: a reference cannot be one.
#[cache_batch("batch_refresh_ref", refresh_ahead = 0.5)]
async fn names(region: &str, ids: Vec<u64>) -> HashMap<u64, String> {
    ids.into_iter().map(|id| (id, format!("{region}{id}"))).collect()
}

fn main() {}
