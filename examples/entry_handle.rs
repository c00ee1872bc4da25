//! The typed handle to a cached function's entries: `<fn>_entry(&args)` names the entry
//! by the function's own key arguments (checked by the compiler) and can peek at it,
//! overwrite it or invalidate it.
//!
//! `cargo run -p examples --example entry_handle`

use cache_runtime::{CacheEntry, cache_result};

#[derive(Clone, Debug, serde::Serialize, serde::Deserialize)]
struct Profile {
    name: String,
    followers: u64,
}

#[cache_result("profile", ttl = "10m")]
async fn profile(user_id: u64) -> Result<Profile, String> {
    println!("  (loading profile {user_id} from the database)");
    Ok(Profile {
        name: format!("user {user_id}"),
        followers: user_id * 10,
    })
}

struct Feed;

impl Feed {
    #[cache_result("feed_page")]
    async fn page(&self, user_id: u64, page: u32) -> Vec<String> {
        vec![format!("post {page} of {user_id}")]
    }
}

#[tokio::main]
async fn main() {
    examples::init_logging();
    let entry: CacheEntry<Profile> = profile_entry(&1);
    println!("before any call, peek: {:?}", entry.peek());
    profile(1).await.expect("the body returns Ok");
    println!("after a call, peek: {:?}", entry.peek());

    entry.put(Profile {
        name: "Ada".into(),
        followers: 1815,
    });
    println!(
        "after put, the call returns: {:?}",
        profile(1).await.expect("the body returns Ok")
    );

    println!("invalidate: {}", entry.invalidate());
    println!(
        "after invalidate, the call recomputes: {:?}",
        profile(1).await.expect("the body returns Ok")
    );

    // In an impl block the companion is an associated function.
    Feed.page(1, 2).await;
    println!("method entry: {:?}", Feed::page_entry(&1, &2).peek());
    // `profile_entry(&"1")` or `Feed::page_entry(&1)` would not compile.
}
