//! The service with caching disabled by configuration (`--no-cache`, as the load
//! benchmark runs it): same answers, nothing served from a cache, and a graceful stop.

mod common;

use common::{Server, cache_stats, counter, get};

fn server() -> &'static Server {
    common::server_with(&["--no-cache", "--rate-limit", "0"])
}

#[tokio::test]
async fn no_cache_computes_every_time_and_stops_gracefully() {
    let s = server();
    let report = get(s, "/performance").await.json;
    assert_eq!(report["api_performance"]["cache_enabled"], false);
    let disabled = report["api_performance"]["caches_disabled"]
        .as_array()
        .expect("list");
    assert_eq!(disabled.len(), example_api::services::CACHES.len());
    let features = report["optimization_features"]
        .as_array()
        .expect("features");
    assert!(
        !features
            .iter()
            .any(|f| f == "in_process_cache" || f == "cache_warming")
    );

    for path in [
        "/analytics/demo/best-times",
        "/analytics/demo/top-posts?period=2d&limit=3",
        "/analytics/demo/post-dynamics?hours=4",
        "/analytics/channels/1/metrics",
    ] {
        let first = get(s, path).await;
        let second = get(s, path).await;
        assert_eq!(first.status, 200, "{path}");
        assert_eq!(
            first.json, second.json,
            "{path}: deterministic without a cache"
        );
        assert_eq!(first.x_cache.as_deref(), Some("BYPASS"), "{path}");
        assert_eq!(second.x_cache.as_deref(), Some("BYPASS"), "{path}");
    }
    for cache in ["demo_best_times", "demo_top_posts", "analytics_summary"] {
        assert_eq!(counter(&cache_stats(s, cache).await, "hits"), 0, "{cache}");
    }
    // Timers still run without caches.
    let timers = get(s, "/performance").await.json["timers"].clone();
    assert!(timers.as_array().is_some_and(|t| {
        t.iter()
            .any(|t| t["name"] == "analytics_best_times" && t["count"].as_u64() >= Some(2))
    }));

    // Shutdown: `run` returns once the signal arrives, and the port is closed afterwards.
    s.stop().expect("clean shutdown");
    assert!(reqwest::get(s.url("/health")).await.is_err());
}
