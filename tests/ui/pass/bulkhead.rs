//! `max_concurrent = N` on async and sync functions, with an error type that converts from
//! `Overloaded` and one that does not.
use cache_runtime::{Overloaded, cache_result};

#[derive(Debug)]
pub enum ApiError {
    Busy,
    Db,
}

impl From<Overloaded> for ApiError {
    fn from(_: Overloaded) -> Self {
        ApiError::Busy
    }
}

#[cache_result("bulkhead_rejects", ttl = 60, max_concurrent = 2)]
async fn rejects(id: u64) -> Result<u64, ApiError> {
    if id == 0 { Err(ApiError::Db) } else { Ok(id) }
}

#[cache_result("bulkhead_waits", ttl = 60, max_concurrent = 1)]
async fn waits(id: u64) -> Result<u64, String> {
    Ok(id)
}

#[cache_result("bulkhead_sync", max_concurrent = 3)]
fn sync_plain(id: u64) -> u64 {
    id + 1
}

#[tokio::main(flavor = "current_thread")]
async fn main() {
    assert_eq!(rejects(3).await.ok(), Some(3));
    assert!(matches!(rejects(0).await, Err(ApiError::Db)));
    assert_eq!(waits(4).await, Ok(4));
    assert_eq!(sync_plain(1), 2);
}
