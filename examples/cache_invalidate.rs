//! `#[cache_invalidate]` on a write path: drop an entry of a cached function by its
//! arguments, a whole cache, or tags, when the write succeeds (or always, `before = true`).
//!
//! `cargo run -p examples --example cache_invalidate`

use std::sync::atomic::{AtomicU32, Ordering};

use cache_runtime::{cache_invalidate, cache_result, performance_timer};

static READS: AtomicU32 = AtomicU32::new(0);

#[cache_result("channel_name", ttl = "10m")]
async fn channel_name(channel_id: u64) -> Result<String, String> {
    READS.fetch_add(1, Ordering::SeqCst);
    Ok(format!("channel {channel_id}"))
}

#[cache_result("channel_posts", tags = [format!("channel:{channel_id}")])]
async fn posts(channel_id: u64, page: u32) -> Vec<String> {
    READS.fetch_add(1, Ordering::SeqCst);
    vec![format!("post {page} of channel {channel_id}")]
}

/// Renaming drops the channel's name; a failed rename drops nothing.
#[performance_timer]
#[cache_invalidate(channel_name(channel_id))]
async fn rename(channel_id: u64, name: String) -> Result<(), String> {
    if name.trim().is_empty() {
        return Err("a channel needs a name".into());
    }
    Ok(())
}

/// Publishing drops every page of the channel (by tag) and the whole `top` cache.
#[cache_invalidate(tags = [format!("channel:{channel_id}")], cache = "top")]
async fn publish(channel_id: u64, title: String) -> Result<u64, String> {
    Ok(title.len() as u64 + channel_id)
}

async fn read_all() -> u32 {
    let before = READS.load(Ordering::SeqCst);
    channel_name(1).await.expect("the body returns Ok");
    posts(1, 1).await;
    posts(1, 2).await;
    READS.load(Ordering::SeqCst) - before
}

#[tokio::main]
async fn main() {
    examples::init_logging();
    println!("cold: {} reads", read_all().await);
    println!("warm: {} reads", read_all().await);
    let _ = rename(1, " ".into()).await;
    println!("after a failed rename: {} reads", read_all().await);
    rename(1, "Rust news".into())
        .await
        .expect("the body returns Ok");
    println!("after a rename: {} reads (the name)", read_all().await);
    publish(1, "hello".into())
        .await
        .expect("the body returns Ok");
    println!("after publishing: {} reads (both pages)", read_all().await);
}
