use cache_runtime::performance_timer;

#[performance_timer("load", slow = "250ms", slow = "1s")]
async fn load(id: u64) -> u64 {
    id
}

fn main() {}
