use cache_runtime::cache_result;

#[derive(Clone)]
struct Service {
    calls: u64,
}

impl Service {
    #[cache_result("users", ttl = "5m", refresh_ahead = 0.8)]
    async fn load(&mut self, id: u64) -> u64 {
        self.calls += 1;
        id
    }
}

fn main() {}
