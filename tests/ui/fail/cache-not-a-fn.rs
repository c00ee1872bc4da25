use cache_runtime::cache_result;

#[cache_result("users")]
struct Users;

fn main() {}
