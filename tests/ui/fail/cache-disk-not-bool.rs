use cache_runtime::cache_result;

#[cache_result("users", disk = 0)]
async fn load(id: u64) -> u64 {
    id
}

fn main() {}
