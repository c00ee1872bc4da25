//! Invalidation by key, by cache and by tag, and per-call scopes (forced refresh, bypass).
//!
//! `cargo run -p examples --example invalidation`

use std::sync::atomic::{AtomicU32, Ordering};

use cache_runtime::{Scope, cache_result};

static READS: AtomicU32 = AtomicU32::new(0);

#[cache_result("post", ttl = "10m", tags = [format!("channel:{channel_id}")])]
async fn post(channel_id: u64, post_id: u64) -> String {
    READS.fetch_add(1, Ordering::SeqCst);
    format!("post {post_id} of channel {channel_id}")
}

async fn read_all() -> u32 {
    let before = READS.load(Ordering::SeqCst);
    for (c, p) in [(1, 10), (1, 11), (2, 20)] {
        post(c, p).await;
    }
    READS.load(Ordering::SeqCst) - before
}

#[tokio::main]
async fn main() {
    examples::init_logging();
    let rt = cache_runtime::global();
    println!("cold: {} reads", read_all().await);
    println!("warm: {} reads", read_all().await);

    rt.invalidate("post", &(1u64, 10u64));
    println!(
        "after invalidate(post, (1, 10)): {} reads",
        read_all().await
    );

    rt.invalidate_tag("channel:1");
    println!(
        "after invalidate_tag(channel:1): {} reads",
        read_all().await
    );

    rt.invalidate_all("post");
    println!("after invalidate_all(post): {} reads", read_all().await);

    let (n, o) = Scope::refresh().run(read_all()).await;
    println!("refresh scope: {n} reads, X-Cache {}", o.x_cache());
    let (n, o) = Scope::bypass().run(read_all()).await;
    println!("bypass scope: {n} reads, X-Cache {}", o.x_cache());
    let (n, o) = Scope::observe().run(read_all()).await;
    println!("observed: {n} reads, X-Cache {}", o.x_cache());
}
