use cache_runtime::cache_result;

#[cache_result("users", cache_err = |e| e == "not found")]
async fn load(id: u64) -> Result<u64, String> {
    Ok(id)
}

fn main() {}
