use std::collections::HashMap;

use cache_runtime::cache_batch;

#[cache_batch("batch_refresh", key = ids.len(), unless = |v| *v == 0)]
fn counts(ids: Vec<u64>) -> HashMap<u64, u64> {
    ids.into_iter().map(|id| (id, id)).collect()
}

fn main() {}
