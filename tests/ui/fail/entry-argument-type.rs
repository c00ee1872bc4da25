use cache_runtime::{cache_invalidate, cache_result};

#[cache_result("users")]
fn user_name(id: u64, lang: String) -> String {
    format!("{id}:{lang}")
}

// The key is `(u64, String)`: a `&str` id is a compile error, not a silent miss.
#[cache_invalidate(user_name(name, lang))]
fn rename(name: &str, lang: String) {
    let _ = (name, lang);
}

fn main() {}
