use cache_runtime::cache_result;

// Every problem of one attribute is reported in the same compile.
#[cache_result("users", ttl = 0, version = -1, refresh_ahead = 2.0, colour = "red")]
const fn load(id: u64) -> u64 {
    id
}

fn main() {}
