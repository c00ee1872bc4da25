use cache_runtime::cache_invalidate;

#[cache_invalidate(cache = "users", expire = true, expire = false)]
fn rename(_id: u64) {}

fn main() {}
