use cache_runtime::{Timeout, cache_result};

struct E;
impl From<Timeout> for E {
    fn from(_: Timeout) -> Self {
        E
    }
}

#[cache_result("users", hard_timeout = "2s")]
fn load(id: u64) -> Result<u64, E> {
    Ok(id)
}

fn main() {}
