use cache_runtime::cache_result;

#[cache_result("thumbnails", capacity = 0)]
async fn load(id: u64) -> u64 {
    id
}

fn main() {}
