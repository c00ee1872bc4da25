use cache_runtime::cache_invalidate;

#[cache_invalidate(expire = true)]
fn rename(_id: u64) {}

fn main() {}
