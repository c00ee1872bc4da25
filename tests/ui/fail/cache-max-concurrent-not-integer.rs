use cache_runtime::cache_result;

#[cache_result("users", max_concurrent = "4")]
async fn load(id: u64) -> u64 {
    id
}

fn main() {}
