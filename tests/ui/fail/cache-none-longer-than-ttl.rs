use cache_runtime::cache_result;

#[cache_result("users", ttl = "1m", cache_none = "5m")]
async fn find(id: u64) -> Option<u64> {
    Some(id)
}

fn main() {}
