use cache_runtime::cache_result;

#[cache_result("thumbnails", capacity = "16 megabytes")]
async fn load(id: u64) -> u64 {
    id
}

fn main() {}
