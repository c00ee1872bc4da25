use cache_runtime::cache_result;

#[cache_result("users", ttl = "5m", local_ttl = "10s", tier = "local")]
async fn load(id: u64) -> u64 {
    id
}

#[cache_result("reports", ttl = "5m", local_ttl = "10s", tier = "remote")]
async fn report(id: u64) -> u64 {
    id
}

fn main() {}
