use cache_runtime::performance_timer;

#[performance_timer("load", span = "off")]
fn load(id: u64) -> u64 {
    id
}

fn main() {}
