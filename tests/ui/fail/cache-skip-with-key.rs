use cache_runtime::cache_result;

#[cache_result("users", key = id, skip(db))]
async fn load(id: u64, db: String) -> u64 {
    let _ = db;
    id
}

fn main() {}
