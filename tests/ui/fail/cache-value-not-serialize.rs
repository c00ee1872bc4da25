use cache_runtime::cache_result;

struct User {
    id: u64,
}

#[cache_result("users", ttl = "5m")]
async fn load(id: u64) -> User {
    User { id }
}

fn main() {}
