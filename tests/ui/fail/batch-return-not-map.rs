use cache_runtime::cache_batch;

#[cache_batch("batch_vec")]
fn listed(ids: Vec<u64>) -> Vec<(u64, String)> {
    ids.into_iter().map(|id| (id, id.to_string())).collect()
}

fn main() {}
