use cache_runtime::cache_result;
use serde::Deserialize;

#[derive(Clone, Deserialize)]
struct User {
    id: u64,
}

#[cache_result("users", ttl = "5m")]
fn load(id: u64) -> Option<User> {
    Some(User { id })
}

fn main() {}
