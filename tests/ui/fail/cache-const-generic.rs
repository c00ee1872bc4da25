use cache_runtime::cache_result;

#[cache_result("users")]
fn load<const N: usize>(id: u64) -> u64 {
    id * N as u64
}

fn main() {}
