use axum::Json;
use cache_runtime::cache_result;
use serde::Serialize;

#[derive(Clone, Serialize)]
struct User {
    id: u64,
}

struct Users;

impl Users {
    #[cache_result("users", ttl = "5m")]
    async fn load(&self, id: u64) -> Json<User> {
        Json(User { id })
    }
}

fn main() {}
