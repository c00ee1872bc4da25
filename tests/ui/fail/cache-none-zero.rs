use cache_runtime::cache_result;

#[cache_result("users", cache_none = "0s")]
async fn find(id: u64) -> Option<u64> {
    Some(id)
}

fn main() {}
