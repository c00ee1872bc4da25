use cache_runtime::{cache_put, cache_result};

#[cache_result("users")]
fn user_name(id: u64) -> Result<String, String> {
    Ok(id.to_string())
}

// Stores a `u64` as the entry of a cache of `String`s.
#[cache_put(user_name(id))]
fn rename(id: u64) -> Result<u64, String> {
    Ok(id)
}

fn main() {}
