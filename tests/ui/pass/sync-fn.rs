//! Sync fns, including borrowed `&str` and `&[T]` arguments.

use std::sync::atomic::{AtomicUsize, Ordering};

use cache_runtime::cache_result;

static CALLS: AtomicUsize = AtomicUsize::new(0);

#[cache_result("sync_shout", ttl = "90s")]
fn shout(word: &str) -> String {
    CALLS.fetch_add(1, Ordering::SeqCst);
    word.to_uppercase()
}

#[cache_result("sync_sum")]
fn sum(values: &[u64], offset: u64) -> u64 {
    values.iter().sum::<u64>() + offset
}

#[cache_result("sync_checked_div")]
fn checked_div(a: i64, b: i64) -> Result<i64, String> {
    if b == 0 {
        return Err("division by zero".to_owned());
    }
    let q = a.checked_div(b).ok_or("overflow")?;
    Ok(q)
}

fn main() {
    assert_eq!(shout("hi"), "HI");
    assert_eq!(shout("hi"), "HI");
    assert_eq!(shout("yo"), "YO");
    assert_eq!(CALLS.load(Ordering::SeqCst), 2);
    assert_eq!(sum(&[1, 2, 3], 1), 7);
    assert_eq!(sum(&[1, 2, 3], 2), 8);
    assert_eq!(checked_div(7, 2), Ok(3));
    assert!(checked_div(7, 0).is_err());
}
