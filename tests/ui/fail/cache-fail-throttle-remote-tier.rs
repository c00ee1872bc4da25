use cache_runtime::cache_result;

#[cache_result("users", stale_if_error = "1h", fail_throttle = "5s", tier = "remote")]
async fn load(id: u64) -> Result<u64, String> {
    Ok(id)
}

fn main() {}
