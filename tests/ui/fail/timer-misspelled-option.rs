use cache_runtime::performance_timer;

#[performance_timer("load", slwo = "250ms")]
async fn load(id: u64) -> u64 {
    id
}

fn main() {}
