use cache_runtime::cache_result;

#[cache_result("users")]
fn load(id: impl serde::Serialize) -> u64 {
    let _ = id;
    1
}

fn main() {}
