use std::collections::HashMap;

use cache_runtime::cache_batch;

#[cache_batch("batch_no_ids")]
fn one(id: u64) -> HashMap<u64, u64> {
    HashMap::from([(id, id)])
}

fn main() {}
