use cache_runtime::cache_result;

#[cache_result("users", skip(conn))]
async fn load(id: u64, db: String) -> u64 {
    let _ = db;
    id
}

fn main() {}
