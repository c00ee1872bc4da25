use cache_runtime::cache_result;
use serde::Serialize;

#[derive(Serialize)]
struct Filter {
    name: String,
}

#[cache_result("users", ttl = "5m", refresh_ahead = 0.8)]
async fn load(filter: Filter) -> String {
    filter.name
}

fn main() {}
