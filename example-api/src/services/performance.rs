//! The `/performance` report and the `/metrics` text, from the cache runtime's figures,
//! the timers and the database pool.

use std::fmt::Write as _;

use cache_runtime::{Bottleneck, CacheStats, CircuitState, L1Stats, L2Stats, TimerStats, Trends};
use serde::{Serialize, Serializer};

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
    /// One entry per cache that has been used, by name (with its Redis figures, `l2`,
    /// when Redis is configured).
    pub caches: Vec<CacheFigures>,
    /// One entry per `#[performance_timer]`, slowest p95 first.
    pub timers: Vec<TimerStats>,
    /// Timers ranked by slow calls, then by their share of their group's time over the last
    /// hour, each with the timed calls it makes, the cache in front of it and one sentence
    /// to act on (at most 10).
    pub bottlenecks: Vec<Bottleneck>,
    /// Every timer and cache, last 5 minutes against the 30 before them: `regressed`,
    /// `improved` or `steady`.
    pub trends: Trends,
}

/// One cache's figures: the runtime's [`CacheStats`], serialized without the all-zero
/// `l2` (Redis) object when no Redis tier is configured.
#[derive(Debug, Clone)]
pub struct CacheFigures {
    /// The figures.
    pub stats: CacheStats,
    /// Whether a Redis tier is configured (and `stats.l2` means something).
    pub remote: bool,
}

impl Serialize for CacheFigures {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        if self.remote {
            return self.stats.serialize(serializer);
        }
        let mut value = serde_json::to_value(&self.stats).map_err(serde::ser::Error::custom)?;
        if let Some(map) = value.as_object_mut() {
            map.remove("l2");
        }
        value.serialize(serializer)
    }
}

/// Whether the Redis tier is configured and usable, as `/health` and `/performance`
/// report it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub enum RedisStatus {
    /// No `--redis-url`: in-process cache only.
    #[serde(rename = "not configured")]
    NotConfigured,
    /// Connected, and the circuit breaker lets operations through.
    #[serde(rename = "connected")]
    Connected,
    /// Not connected yet, or failing (circuit open or half-open): the service answers
    /// from the in-process tier and by computing until Redis is back.
    #[serde(rename = "unavailable")]
    Unavailable,
}

impl RedisStatus {
    /// The status from the runtime's remote-tier figures (`None`: no remote tier).
    ///
    /// The runtime learns that Redis has gone only from failing operations: with no
    /// traffic reaching Redis, a dead server still reads as connected until the next
    /// operations fail (5 in a row open the circuit).
    pub fn of(l2: Option<&L2Stats>) -> Self {
        match l2 {
            None => Self::NotConfigured,
            Some(l2) if l2.connected && l2.circuit == CircuitState::Closed => Self::Connected,
            Some(_) => Self::Unavailable,
        }
    }

    /// The status of the installed runtime.
    pub fn current() -> Self {
        Self::of(cache_runtime::global().stats().l2.as_ref())
    }
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

/// The cache tiers and the database.
#[derive(Debug, Clone, Serialize)]
pub struct SystemStats {
    /// Whether every configured cache tier is reachable: the in-process tier always is;
    /// with Redis configured, whether Redis is [connected](RedisStatus::Connected).
    pub cache_connected: bool,
    /// Where cached values live: `in_process`, plus `redis` when configured.
    pub cache_tiers: Vec<&'static str>,
    /// The Redis tier's state.
    pub redis: RedisStatus,
    /// The in-process tier's fill.
    pub l1: L1Stats,
    /// The Redis tier's figures (connection, circuit breaker, errors, backplane), when
    /// configured.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub l2: Option<L2Stats>,
    /// `sqlite` or `postgres`.
    pub database: crate::db::Backend,
    /// Open connections.
    pub pool_size: u32,
    /// Idle connections.
    pub pool_idle: usize,
    /// The pool's maximum.
    pub pool_max: u32,
    /// Mean latency of all `db.*` queries, in seconds (the design's field).
    pub avg_query_time: f64,
    /// Mean latency of all `db.*` queries, in milliseconds.
    pub avg_query_time_ms: f64,
    /// Queries run.
    pub queries: u64,
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
    let insight = cache_runtime::performance_snapshot();
    let avg_query_ms = if queries == 0 {
        0.0
    } else {
        query_ms / queries as f64
    };

    let cache_enabled = !config.no_cache;
    let caches_disabled = if config.no_cache {
        super::CACHES.iter().map(|n| (*n).to_owned()).collect()
    } else {
        config.cache_disabled.clone()
    };
    let mut security = vec![
        "trusted_hosts",
        "request_timeout",
        "request_id",
        "admin_bearer_auth",
        "connection_limit",
        "header_read_timeout",
        "in_flight_limit",
        "request_size_limits",
    ];
    if !config.cors_origins.is_empty() {
        security.push("cors");
    }
    if config.server.rate_limit > 0 {
        security.push("rate_limit");
    }
    let mut features = vec![
        "gzip_compression_min_1000_bytes",
        "db_connection_pool",
        "timed_queries",
    ];
    let redis = RedisStatus::of(stats.l2.as_ref());
    if cache_enabled {
        features.extend(["in_process_cache", "single_flight", "tag_invalidation"]);
        if !config.no_warm {
            features.push("cache_warming");
        }
        if redis == RedisStatus::Connected {
            features.extend(["redis_shared_cache", "redis_invalidation_backplane"]);
        }
    }
    let mut cache_tiers = vec!["in_process"];
    if redis != RedisStatus::NotConfigured {
        cache_tiers.push("redis");
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
            cache_connected: redis != RedisStatus::Unavailable,
            cache_tiers,
            redis,
            l1: stats.l1.clone(),
            l2: stats.l2.clone(),
            database: state.db.backend(),
            pool_size: state.db.pool_size(),
            pool_idle: state.db.pool_idle(),
            pool_max: state.db.pool_max(),
            avg_query_time: (avg_query_ms * 1000.0).round() / 1e6,
            avg_query_time_ms: (avg_query_ms * 1000.0).round() / 1000.0,
            queries,
        },
        optimization_features: features,
        caches: stats
            .caches
            .into_iter()
            .map(|c| CacheFigures {
                stats: c,
                remote: redis != RedisStatus::NotConfigured,
            })
            .collect(),
        timers,
        bottlenecks: insight.bottlenecks,
        trends: insight.trends,
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
