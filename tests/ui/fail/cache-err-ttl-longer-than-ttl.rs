use cache_runtime::cache_result;

#[cache_result("users", ttl = "1m", cache_err = |e| e == "not found", err_ttl = "2m")]
async fn load(id: u64) -> Result<u64, String> {
    Ok(id)
}

fn main() {}
