use cache_runtime::cache_invalidate;

#[cache_invalidate()]
fn rename(_id: u64) {}

fn main() {}
