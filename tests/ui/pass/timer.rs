//! `#[performance_timer]` alone: default name, explicit name, `slow`, sync and async,
//! methods, `Result` errors, `impl Trait` returns.

use cache_runtime::{performance_timer, timers};

#[performance_timer]
async fn default_name(x: u64) -> u64 {
    tokio::task::yield_now().await;
    x + 1
}

#[performance_timer("timer_named")]
fn named(x: u64) -> u64 {
    x * 2
}

#[performance_timer("timer_slow", slow = "250ms")]
async fn fallible(x: i64) -> Result<i64, String> {
    if x < 0 {
        return Err("negative".into());
    }
    let parsed: i64 = x.to_string().parse().map_err(|_| "parse")?;
    Ok(parsed)
}

#[performance_timer("timer_sync_result", slow = "2s")]
fn sync_fallible(x: i64) -> Result<i64, String> {
    if x < 0 { Err("negative".into()) } else { Ok(x) }
}

#[performance_timer]
fn digits(x: u64) -> impl Iterator<Item = u32> {
    x.to_string()
        .chars()
        .filter_map(|c| c.to_digit(10))
        .collect::<Vec<_>>()
        .into_iter()
}

#[performance_timer("timer_unit")]
fn nothing() {}

struct Counter {
    step: u64,
}

impl Counter {
    #[performance_timer("timer_method")]
    async fn next(&self, x: u64) -> u64 {
        x + self.step
    }

    #[performance_timer("timer_method_mut")]
    fn bump(&mut self) -> u64 {
        self.step += 1;
        self.step
    }
}

fn stats(name: &str) -> (u64, u64) {
    timers()
        .into_iter()
        .find(|t| t.name == name)
        .map_or((0, 0), |t| (t.count, t.errors))
}

#[tokio::main]
async fn main() {
    assert_eq!(default_name(1).await, 2);
    assert_eq!(named(2), 4);
    assert_eq!(fallible(3).await, Ok(3));
    assert!(fallible(-3).await.is_err());
    assert_eq!(sync_fallible(1), Ok(1));
    assert!(sync_fallible(-1).is_err());
    assert_eq!(digits(123).sum::<u32>(), 6);
    nothing();
    let mut counter = Counter { step: 1 };
    assert_eq!(counter.next(1).await, 2);
    assert_eq!(counter.bump(), 2);

    assert_eq!(stats(concat!(module_path!(), "::", "default_name")), (1, 0));
    assert_eq!(stats("timer_named"), (1, 0));
    assert_eq!(stats("timer_slow"), (2, 1));
    assert_eq!(stats("timer_sync_result"), (2, 1));
    assert_eq!(stats("timer_method"), (1, 0));
    assert_eq!(stats("timer_unit"), (1, 0));
}
