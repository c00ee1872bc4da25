use std::time::Duration;

use cache_runtime::cache_result;

#[cache_result("users", ttl_from = |v: &String| Duration::from_secs(v.len() as u64))]
fn load(id: u64) -> Vec<u64> {
    vec![id]
}

fn main() {}
