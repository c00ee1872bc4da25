use cache_runtime::{cache_invalidate, cache_result};

#[cache_result("users")]
fn user_name(id: u64, lang: String) -> String {
    format!("{id}:{lang}")
}

#[cache_invalidate(user_name(id))]
fn rename(id: u64) {}

fn main() {}
