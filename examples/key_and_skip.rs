//! Choosing the key: `skip(...)` leaves arguments out, `key = ...` picks any serializable
//! expression, and `&self` methods leave `self` out of the key.
//!
//! `cargo run -p examples --example key_and_skip`

use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};

use cache_runtime::cache_result;
use serde::Serialize;

#[derive(Clone, Serialize)]
struct Filter {
    country: String,
    limit: u32,
}

struct Service {
    queries: Arc<AtomicU32>,
}

impl Service {
    /// `trace_id` changes on every request and must not split the cache.
    #[cache_result("top_posts", ttl = 60, skip(trace_id))]
    async fn top_posts(&self, filter: Filter, trace_id: String) -> Vec<String> {
        self.queries.fetch_add(1, Ordering::SeqCst);
        println!(
            "  computing top posts for {} (trace {trace_id})",
            filter.country
        );
        (0..filter.limit)
            .map(|i| format!("{}-post-{i}", filter.country))
            .collect()
    }

    /// Only the country matters, whatever the limit: the key is an expression.
    #[cache_result("country_name", ttl = 60, key = filter.country.to_lowercase())]
    async fn country_name(&self, filter: &Filter) -> String {
        self.queries.fetch_add(1, Ordering::SeqCst);
        format!("Country {}", filter.country.to_uppercase())
    }
}

#[tokio::main]
async fn main() {
    examples::init_logging();
    let svc = Service {
        queries: Arc::new(AtomicU32::new(0)),
    };
    let f = |c: &str, limit| Filter {
        country: c.into(),
        limit,
    };
    svc.top_posts(f("de", 3), "trace-1".into()).await;
    svc.top_posts(f("de", 3), "trace-2".into()).await; // hit: trace_id is skipped
    svc.top_posts(f("fr", 3), "trace-3".into()).await; // miss: another filter
    println!(
        "top_posts queries: {}",
        svc.queries.swap(0, Ordering::SeqCst)
    );

    println!("{}", svc.country_name(&f("DE", 1)).await);
    println!("{}", svc.country_name(&f("de", 50)).await); // hit: same key expression
    println!(
        "country_name queries: {}",
        svc.queries.load(Ordering::SeqCst)
    );

    // The key of a function without `key = ...` is the tuple of its key inputs.
    let rt = cache_runtime::global();
    let removed = rt.invalidate("top_posts", &(f("de", 3),));
    println!("invalidated top_posts(de): {removed}");
}
