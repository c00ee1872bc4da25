use cache_runtime::cache_result;

#[cache_result("users", tier = "remote", lock = true)]
fn load(id: u64) -> u64 {
    id
}

#[cache_result("reports", tier = "local", lock = true)]
async fn report(id: u64) -> u64 {
    id
}

fn main() {}
