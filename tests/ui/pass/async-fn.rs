//! Free async fns: the body runs once per key, later calls are hits; `?` and `return`
//! in the body behave as in the undecorated function.

use std::sync::atomic::{AtomicUsize, Ordering};

use cache_runtime::cache_result;

static CALLS: AtomicUsize = AtomicUsize::new(0);

#[cache_result("async_square", ttl = "5m")]
async fn square(x: u64) -> u64 {
    CALLS.fetch_add(1, Ordering::SeqCst);
    x * x
}

#[cache_result("async_no_args", ttl = 60)]
async fn answer() -> String {
    String::from("42")
}

#[cache_result("async_parse", ttl = "1h")]
async fn parse(text: String) -> Result<u32, std::num::ParseIntError> {
    if text.is_empty() {
        return Ok(0);
    }
    let n: u32 = text.trim().parse()?;
    Ok(n + 1)
}

/// No return type: caches `()`, harmless.
#[cache_result("async_unit")]
async fn touch(id: u64) {
    let _ = id;
}

#[cache_result("async_mut_arg")]
async fn count_down(mut n: u32) -> u32 {
    let mut steps = 0;
    while n > 0 {
        n /= 2;
        steps += 1;
    }
    steps
}

#[tokio::main]
async fn main() {
    assert_eq!(square(3).await, 9);
    assert_eq!(square(3).await, 9);
    assert_eq!(square(4).await, 16);
    assert_eq!(CALLS.load(Ordering::SeqCst), 2);
    assert_eq!(answer().await, "42");
    assert_eq!(parse("41".into()).await, Ok(42));
    assert_eq!(parse(String::new()).await, Ok(0));
    assert!(parse("x".into()).await.is_err());
    touch(1).await;
    assert_eq!(count_down(8).await, 4);
    assert_eq!(count_down(8).await, 4);
}
