//! `refresh_ahead`: on a `&self` method of a `Clone` service and on free fns (async
//! and sync); the body runs on clones of the arguments and of `self`.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use cache_runtime::cache_result;

#[derive(Clone)]
struct Service {
    calls: Arc<AtomicUsize>,
    greeting: String,
}

impl Service {
    #[cache_result("refresh_method", ttl = "5m", refresh_ahead = 0.8)]
    async fn greet(&self, name: String) -> String {
        self.calls.fetch_add(1, Ordering::SeqCst);
        // `self` inside macros and closures refers to the clone too.
        let greeting = self.greeting.clone();
        let format = |n: &str| format!("{}, {n}{}", self.greeting, "!");
        assert_eq!(format!("{}", self.greeting), greeting);
        format(&name)
    }

    #[cache_result("refresh_method_sync", ttl = "5m", refresh_ahead = 0.5)]
    fn shout(&self, mut name: String) -> String {
        name.make_ascii_uppercase();
        format!("{} {name}", self.greeting)
    }
}

#[cache_result("refresh_free", ttl = "5m", refresh_ahead = 0.9)]
async fn total(ids: Vec<u64>, scale: u64) -> u64 {
    ids.iter().sum::<u64>() * scale
}

#[cache_result("refresh_free_sync", ttl = 60, refresh_ahead = 0.5, tags = [format!("n:{n}")])]
fn square(n: u64) -> Result<u64, String> {
    n.checked_mul(n).ok_or_else(|| "overflow".to_owned())
}

#[tokio::main]
async fn main() {
    let service = Service {
        calls: Arc::new(AtomicUsize::new(0)),
        greeting: "Hello".into(),
    };
    assert_eq!(service.greet("Ann".into()).await, "Hello, Ann!");
    assert_eq!(service.greet("Ann".into()).await, "Hello, Ann!");
    assert_eq!(service.calls.load(Ordering::SeqCst), 1);
    assert_eq!(service.shout("ann".into()), "Hello ANN");
    assert_eq!(total(vec![1, 2], 10).await, 30);
    assert_eq!(square(4), Ok(16));
    assert_eq!(square(4), Ok(16));
}
