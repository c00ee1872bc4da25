use std::collections::HashMap;

use cache_runtime::cache_batch;

#[cache_batch("batch_tags", tags = ["users"], missing_ttl = "0s")]
fn named(ids: Vec<u64>) -> HashMap<u64, String> {
    ids.into_iter().map(|id| (id, id.to_string())).collect()
}

fn main() {}
