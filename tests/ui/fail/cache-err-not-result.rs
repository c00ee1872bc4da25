use cache_runtime::cache_result;

fn never(_: &String) -> bool {
    false
}

#[cache_result("users", cache_err = never, err_ttl = "5s")]
async fn load(id: u64) -> Option<u64> {
    Some(id)
}

fn main() {}
