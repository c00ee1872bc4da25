use cache_runtime::cache_invalidate;

#[cache_invalidate(caches = "users", before = "yes")]
fn rename(_id: u64) {}

fn main() {}
