use cache_runtime::{cache_put, cache_result};

#[cache_result("a")]
fn a(id: u64) -> u64 {
    id
}

#[cache_put(a(id), a(id))]
fn set(id: u64) -> u64 {
    id
}

fn main() {}
