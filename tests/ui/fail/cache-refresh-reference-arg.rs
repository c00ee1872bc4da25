use cache_runtime::cache_result;

#[cache_result("users", ttl = "5m", refresh_ahead = 0.8)]
async fn load(name: &str) -> String {
    name.to_uppercase()
}

fn main() {}
