use cache_runtime::cache_invalidate;

#[cache_invalidate(cache = "users", expire = "soft")]
fn rename(_id: u64) {}

fn main() {}
