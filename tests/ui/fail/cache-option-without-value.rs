use cache_runtime::cache_result;

#[cache_result("users", cache_none)]
async fn load(id: u64) -> Option<u64> {
    Some(id)
}

fn main() {}
