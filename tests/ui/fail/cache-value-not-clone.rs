use cache_runtime::cache_result;
use serde::{Deserialize, Serialize};

#[derive(Serialize, Deserialize)]
struct User {
    id: u64,
}

#[cache_result("users", ttl = "5m")]
async fn load(id: u64) -> Result<User, String> {
    Ok(User { id })
}

fn main() {}
