use cache_runtime::cache_result;

#[cache_result("users", ttl = "5m", stale_if_error = "1 hour")]
async fn load(id: u64) -> u64 {
    id
}

fn main() {}
