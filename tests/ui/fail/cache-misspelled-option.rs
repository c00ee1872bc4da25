use cache_runtime::cache_result;

#[cache_result("users", tll = "5m")]
async fn load(id: u64) -> u64 {
    id
}

fn main() {}
