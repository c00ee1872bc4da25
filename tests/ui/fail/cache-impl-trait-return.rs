use cache_runtime::cache_result;

#[cache_result("users")]
fn load(id: u64) -> impl std::fmt::Display {
    id
}

fn main() {}
