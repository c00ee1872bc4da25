use cache_runtime::cache_result;

#[cache_result("users", cache_none = true)]
async fn load(id: u64) -> Result<u64, String> {
    Ok(id)
}

fn main() {}
