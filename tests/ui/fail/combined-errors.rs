use cache_runtime::{cache_result, performance_timer};

// Both attributes' errors are reported, each once, whichever is written first.
#[performance_timer("load", slow = 5)]
#[cache_result("users", ttl = 0)]
async fn load(id: u64) -> u64 {
    id
}

#[cache_result("users", ttl = "soon")]
#[performance_timer(fast = "1s")]
async fn store(id: u64) -> u64 {
    id
}

fn main() {}
