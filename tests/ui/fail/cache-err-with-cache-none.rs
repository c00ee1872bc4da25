use cache_runtime::cache_result;

#[cache_result("users", cache_none = true, cache_err = |e| e == "not found", err_ttl = "5s")]
async fn load(id: u64) -> Option<u64> {
    Some(id)
}

fn main() {}
