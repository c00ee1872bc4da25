//! Generic fns: the type arguments are part of the key.

use cache_runtime::cache_result;
use serde::Serialize;

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
}
