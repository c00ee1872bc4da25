use cache_runtime::cache_result;

#[cache_result("users", err_ttl = "5s")]
async fn load(id: u64) -> Result<u64, String> {
    Ok(id)
}

fn main() {}
