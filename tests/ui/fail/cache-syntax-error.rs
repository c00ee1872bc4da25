use cache_runtime::cache_result;

#[cache_result("users", ttl = )]
async fn load(id: u64) -> u64 {
    id
}

fn main() {
    // The function is still emitted, so this call reports nothing more.
    let _ = load(1);
}
