use cache_runtime::cache_result;

#[cache_result("users", hard_timeout = "2s")]
async fn load(id: u64) -> u64 {
    id
}

fn main() {}
