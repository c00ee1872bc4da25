use cache_runtime::cache_result;

#[cache_result("users", cache_none = "30s")]
async fn find(id: u64) -> Result<u64, String> {
    Ok(id)
}

fn main() {}
