use cache_runtime::cache_result;

#[derive(Clone, Debug)]
struct DbError;

#[cache_result("users", cache_err = |_| true, err_ttl = "5s")]
async fn load(id: u64) -> Result<u64, DbError> {
    Ok(id)
}

fn main() {}
