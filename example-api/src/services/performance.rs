//! The `/performance` report and the `/metrics` text, from the cache runtime's figures,
//! the timers and the database pool.

use std::fmt::Write as _;

use cache_runtime::{CacheStats, L1Stats, TimerStats};
use serde::Serialize;

use crate::AppState;

/// The `/performance` report.
#[derive(Debug, Clone, Serialize)]
pub struct PerformanceReport {
    /// What is switched on.
    pub api_performance: ApiPerformance,
    /// The cache tier and the database.
    pub system_stats: SystemStats,
    /// The optimisations really in effect.
    pub optimization_features: Vec<&'static str>,
    /// One entry per cache that has been used, by name.
    pub caches: Vec<CacheStats>,
    /// One entry per `#[performance_timer]`, slowest p95 first.
    pub timers: Vec<TimerStats>,
    /// Timers whose p95 exceeds their slow threshold, slowest first.
    pub bottlenecks: Vec<Bottleneck>,
}

/// The service's switches.
#[derive(Debug, Clone, Serialize)]
pub struct ApiPerformance {
    /// `healthy`.
    pub status: &'static str,
    /// Seconds since start.
    pub uptime_seconds: u64,
    /// Whether any cache is enabled.
    pub cache_enabled: bool,
    /// Caches disabled by configuration.
    pub caches_disabled: Vec<String>,
    /// Gzip for bodies of at least 1000 bytes.
    pub compression_enabled: bool,
    /// Security middleware in effect.
    pub security_middleware: Vec<&'static str>,
}

/// The cache tier and the database.
#[derive(Debug, Clone, Serialize)]
pub struct SystemStats {
    /// The in-process cache is always reachable.
    pub cache_connected: bool,
    /// Where cached values live.
    pub cache_tiers: Vec<&'static str>,
    /// The in-process tier's fill.
    pub l1: L1Stats,
    /// `sqlite` or `postgres`.
    pub database: crate::db::Backend,
    /// Open connections.
    pub pool_size: u32,
    /// Idle connections.
    pub pool_idle: usize,
    /// The pool's maximum.
    pub pool_max: u32,
    /// Mean latency of all `db.*` queries, in milliseconds.
    pub avg_query_time_ms: f64,
    /// Queries run.
    pub queries: u64,
}

/// A timer whose p95 is over its slow threshold.
#[derive(Debug, Clone, Serialize)]
pub struct Bottleneck {
    /// The timer's name.
    pub name: String,
    /// Its 95th percentile, in milliseconds.
    pub p95_ms: f64,
    /// Its threshold, in milliseconds.
    pub slow_ms: f64,
    /// Calls over the threshold.
    pub slow_calls: u64,
}

/// Builds the report.
pub fn report(state: &AppState) -> PerformanceReport {
    let config = &state.config;
    let stats = cache_runtime::global().stats();
    let mut timers = cache_runtime::timers();
    timers.sort_by(|a, b| {
        b.p95_ms
            .total_cmp(&a.p95_ms)
            .then_with(|| a.name.cmp(&b.name))
    });

    let (queries, query_ms) = timers
        .iter()
        .filter(|t| t.name.starts_with("db."))
        .fold((0u64, 0.0), |(n, ms), t| {
            (n + t.count, ms + t.mean_ms * t.count as f64)
        });
    let bottlenecks = timers
        .iter()
        .filter_map(|t| {
            let slow_ms = t.slow_ms?;
            (t.count > 0 && t.p95_ms > slow_ms).then(|| Bottleneck {
                name: t.name.clone(),
                p95_ms: t.p95_ms,
                slow_ms,
                slow_calls: t.slow_calls,
            })
        })
        .collect();

    let cache_enabled = !config.no_cache;
    let caches_disabled = if config.no_cache {
        super::CACHES.iter().map(|(n, _)| (*n).to_owned()).collect()
    } else {
        config.cache_disabled.clone()
    };
    let mut security = vec![
        "trusted_hosts",
        "request_timeout",
        "request_id",
        "admin_bearer_auth",
    ];
    if !config.cors_origins.is_empty() {
        security.push("cors");
    }
    let mut features = vec![
        "gzip_compression_min_1000_bytes",
        "db_connection_pool",
        "timed_queries",
    ];
    if cache_enabled {
        features.extend(["in_process_cache", "single_flight", "tag_invalidation"]);
        if !config.no_warm {
            features.push("cache_warming");
        }
    }

    PerformanceReport {
        api_performance: ApiPerformance {
            status: "healthy",
            uptime_seconds: state.started.elapsed().as_secs(),
            cache_enabled,
            caches_disabled,
            compression_enabled: true,
            security_middleware: security,
        },
        system_stats: SystemStats {
            cache_connected: true,
            cache_tiers: vec!["in_process"],
            l1: stats.l1.clone(),
            database: state.db.backend(),
            pool_size: state.db.pool_size(),
            pool_idle: state.db.pool_idle(),
            pool_max: state.db.pool_max(),
            avg_query_time_ms: if queries == 0 {
                0.0
            } else {
                (query_ms / queries as f64 * 1000.0).round() / 1000.0
            },
            queries,
        },
        optimization_features: features,
        caches: stats.caches,
        timers,
        bottlenecks,
    }
}

/// The runtime's Prometheus text plus the database pool's gauges.
pub fn prometheus(state: &AppState) -> String {
    let mut out = cache_runtime::global().prometheus();
    for (name, help, value) in [
        (
            "db_pool_connections",
            "Open database connections.",
            f64::from(state.db.pool_size()),
        ),
        (
            "db_pool_idle_connections",
            "Idle database connections.",
            state.db.pool_idle() as f64,
        ),
        (
            "db_pool_max_connections",
            "Maximum database connections.",
            f64::from(state.db.pool_max()),
        ),
    ] {
        let _ = write!(
            out,
            "# HELP {name} {help}\n# TYPE {name} gauge\n{name} {value}\n"
        );
    }
    out
}
