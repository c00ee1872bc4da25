use cache_runtime::cache_result;

#[cache_result("users", tier = "redis")]
async fn load(id: u64) -> u64 {
    id
}

fn main() {}
