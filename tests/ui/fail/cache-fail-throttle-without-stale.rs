use cache_runtime::cache_result;

#[cache_result("users", ttl = "5m", fail_throttle = "5s")]
async fn load(id: u64) -> Result<u64, String> {
    Ok(id)
}

fn main() {}
