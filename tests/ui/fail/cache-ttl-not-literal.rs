use cache_runtime::cache_result;

const TTL: u64 = 300;

#[cache_result("users", ttl = TTL)]
async fn load(id: u64) -> u64 {
    id
}

fn main() {}
