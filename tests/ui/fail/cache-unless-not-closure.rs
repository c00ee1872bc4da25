use cache_runtime::cache_result;

#[cache_result("users", unless = true)]
fn load(id: u64) -> Vec<u64> {
    vec![id]
}

fn main() {}
