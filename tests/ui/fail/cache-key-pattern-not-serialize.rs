use axum::extract::Path;
use cache_runtime::cache_result;
use serde::Deserialize;

#[derive(Deserialize)]
struct UserId(u64);

#[cache_result("users", ttl = "5m")]
async fn load(Path(id): Path<UserId>) -> String {
    id.0.to_string()
}

fn main() {}
