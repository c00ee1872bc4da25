//! Generic fns: the type arguments are part of the key, and a value whose bounds come
//! from the fn's where-clause is cached (not silently passed through uncached).

use std::sync::atomic::{AtomicUsize, Ordering};

use cache_runtime::cache_result;
use serde::Serialize;

static WRAPPED_CALLS: AtomicUsize = AtomicUsize::new(0);

#[cache_result("generic_describe", ttl = "5m")]
fn describe<T: Serialize + std::fmt::Debug>(value: T) -> String {
    format!("{}={value:?}", std::any::type_name::<T>())
}

#[cache_result("generic_async")]
async fn first<T>(items: Vec<T>) -> Option<T>
where
    T: Serialize + Clone + Send + Sync + serde::de::DeserializeOwned + 'static,
{
    items.first().cloned()
}

#[cache_result("generic_wrapped", key = (id, std::any::type_name::<T>()))]
async fn wrapped<T>(id: u64, value: T) -> Result<Vec<T>, String>
where
    T: Clone + Serialize + serde::de::DeserializeOwned + Send + Sync + 'static,
{
    WRAPPED_CALLS.fetch_add(1, Ordering::SeqCst);
    let _ = id;
    Ok(vec![value])
}

#[cache_result("generic_lifetime")]
fn longest<'a>(a: &'a str, b: &'a str) -> String {
    if a.len() >= b.len() { a } else { b }.to_owned()
}

#[tokio::main]
async fn main() {
    // `1u8` and `1u64` encode alike, but they are different keys.
    assert_eq!(describe(1u8), "u8=1");
    assert_eq!(describe(1u64), "u64=1");
    assert_eq!(describe(1u8), "u8=1");
    assert_eq!(first(vec![3, 4]).await, Some(3));
    assert_eq!(first(Vec::<String>::new()).await, None);
    assert_eq!(longest("ab", "abc"), "abc");
    assert_eq!(wrapped(1, "a".to_owned()).await, Ok(vec!["a".to_owned()]));
    assert_eq!(wrapped(1, "b".to_owned()).await, Ok(vec!["a".to_owned()]));
    assert_eq!(WRAPPED_CALLS.load(Ordering::SeqCst), 1, "cached by the key expression");
}
