//! `#[cache_put]`: an update stores its result as the entry of the read path, so the
//! next read is served without a recomputation.
//!
//! `cargo run -p examples --example cache_put`

use std::sync::atomic::{AtomicU32, Ordering};

use cache_runtime::{cache_put, cache_result};

#[derive(Clone, Debug, serde::Serialize, serde::Deserialize)]
struct Channel {
    id: u64,
    name: String,
}

static LOADS: AtomicU32 = AtomicU32::new(0);

#[cache_result("channel", ttl = "10m")]
async fn channel(id: u64) -> Result<Channel, String> {
    LOADS.fetch_add(1, Ordering::SeqCst);
    Ok(Channel {
        id,
        name: format!("channel {id}"),
    })
}

/// The updated channel becomes the cached `channel(id)`; an `Err` stores nothing.
#[cache_put(channel(id))]
async fn rename(id: u64, name: String) -> Result<Channel, String> {
    if name.is_empty() {
        return Err("empty name".into());
    }
    Ok(Channel { id, name })
}

#[tokio::main]
async fn main() {
    examples::init_logging();
    println!("read: {:?}", channel(3).await.expect("the body returns Ok"));
    rename(3, "Rust news".into())
        .await
        .expect("the body returns Ok");
    println!(
        "read after rename: {:?}",
        channel(3).await.expect("the body returns Ok")
    );
    let _ = rename(3, String::new()).await;
    println!(
        "read after a failed rename: {:?}",
        channel(3).await.expect("the body returns Ok")
    );
    println!("loads from the database: {}", LOADS.load(Ordering::SeqCst));
}
