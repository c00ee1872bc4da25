use cache_runtime::cache_result;

struct UserId(u64);

#[cache_result("users", key = UserId(id))]
async fn load(id: u64) -> u64 {
    id
}

fn main() {}
