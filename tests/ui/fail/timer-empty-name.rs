use cache_runtime::performance_timer;

#[performance_timer("")]
async fn load(id: u64) -> u64 {
    id
}

fn main() {}
