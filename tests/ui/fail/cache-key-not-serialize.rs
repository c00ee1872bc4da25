use cache_runtime::cache_result;

struct UserId(u64);

#[cache_result("users", ttl = "5m")]
async fn load(id: UserId, name: String) -> String {
    format!("{}:{name}", id.0)
}

fn main() {}
