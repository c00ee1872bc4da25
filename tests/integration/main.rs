//! Cross-crate integration tests: the macros applied as a user would, through the public
//! API only. One process, one installed runtime; every test uses its own cache names.

mod axum_routes;
mod hot;
mod shapes;
mod timers;

use std::sync::Once;
use std::time::Duration;

/// Installs this binary's runtime once, before any cached call.
pub fn setup() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        cache_runtime::CacheRuntime::builder()
            .namespace("itest")
            .default_ttl(Duration::from_secs(300))
            .cache_ttl("it_overridden_ttl", Duration::from_millis(100))
            .disable_cache("it_disabled")
            .install()
            .expect("first install in this process");
    });
}

/// The figures of one cache.
pub fn stats(name: &str) -> cache_runtime::CacheStats {
    cache_runtime::global()
        .stats()
        .cache(name)
        .cloned()
        .unwrap_or_else(|| panic!("no stats for {name}"))
}
