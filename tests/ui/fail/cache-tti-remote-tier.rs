use cache_runtime::cache_result;

#[cache_result("sessions", tti = "5m", tier = "remote")]
async fn load(id: u64) -> u64 {
    id
}

fn main() {}
