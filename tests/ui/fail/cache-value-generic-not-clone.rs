use cache_runtime::cache_result;
use serde::Serialize;
use serde::de::DeserializeOwned;

#[cache_result("first")]
async fn first<T>(items: Vec<T>) -> Option<T>
where
    T: Serialize + DeserializeOwned + Send + Sync + 'static,
{
    items.into_iter().next()
}

fn main() {}
