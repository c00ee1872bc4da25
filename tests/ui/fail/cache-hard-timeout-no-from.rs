use cache_runtime::cache_result;

#[derive(Debug)]
struct DbError;

#[cache_result("users", hard_timeout = "2s")]
async fn load(id: u64) -> Result<u64, DbError> {
    Ok(id)
}

fn main() {}
