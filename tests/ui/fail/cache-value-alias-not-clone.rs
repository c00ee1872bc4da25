use cache_runtime::cache_result;
use serde::{Deserialize, Serialize};

#[derive(Debug)]
struct ApiError;

type ApiResult<T> = Result<T, ApiError>;

#[derive(Serialize, Deserialize)]
struct User {
    id: u64,
}

#[cache_result("users", ttl = "5m")]
async fn load(id: u64) -> ApiResult<User> {
    Ok(User { id })
}

fn main() {}
