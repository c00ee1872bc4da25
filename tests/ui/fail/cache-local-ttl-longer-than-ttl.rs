use cache_runtime::cache_result;

#[cache_result("users", ttl = "5m", local_ttl = "10m")]
async fn load(id: u64) -> u64 {
    id
}

fn main() {}
