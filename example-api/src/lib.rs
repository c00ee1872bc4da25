//! `example-api`: the reference service of the cache toolkit.
//!
//! An axum service over an embedded SQLite database (or PostgreSQL) whose service layer
//! carries `#[cache_result]` and `#[performance_timer]`, while the routes stay thin:
//!
//! ```text
//! config -> db (pool, schema, seed, timed queries) -> services (the annotated functions)
//!        -> routes (axum handlers) -> middleware -> main
//! ```
//!
//! [`serve`] runs the whole service; tests build the same thing with [`prepare`], [`app`]
//! and [`run`] on a listener of their own.

use std::future::Future;
use std::sync::Arc;
use std::time::Instant;

use axum::Router;
use cache_runtime::CacheRuntime;
use tokio::net::TcpListener;

pub mod config;
pub mod db;
pub mod error;
pub mod middleware;
pub mod net;
pub mod routes;
pub mod server;
pub mod services;
pub mod telemetry;

pub use config::Config;
pub use db::Db;
pub use error::ApiError;

/// What every handler can reach. Cheap to clone.
#[derive(Debug, Clone)]
pub struct AppState {
    /// The database.
    pub db: Db,
    /// The configuration the service started with.
    pub config: Arc<Config>,
    /// The bearer token of `/admin/*` (configured or generated).
    pub admin_token: Arc<str>,
    /// When the service started.
    pub started: Instant,
}

/// A failure to start.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    /// The configuration is inconsistent.
    #[error("configuration: {0}")]
    Config(String),
    /// The database could not be opened, created or seeded.
    #[error("database: {0}")]
    Database(#[from] sqlx::Error),
    /// The cache runtime was already installed in this process.
    #[error(transparent)]
    CacheRuntime(#[from] cache_runtime::InstallError),
    /// Warming a critical cache failed.
    #[error("warming: {0}")]
    Warm(ApiError),
    /// Binding or serving failed.
    #[error("i/o: {0}")]
    Io(#[from] std::io::Error),
}

/// Installs the process-wide cache runtime with the configured overrides. Must run
/// before the first cached call, once per process.
pub fn install_cache_runtime(config: &Config) -> Result<&'static CacheRuntime, StartError> {
    let unknown = config
        .cache_ttls
        .iter()
        .map(|t| t.name.as_str())
        .chain(config.cache_disabled.iter().map(String::as_str))
        .find(|name| !services::is_cache_name(name));
    if let Some(name) = unknown {
        return Err(StartError::Config(format!(
            "unknown cache `{name}`; the caches are: {}",
            services::CACHES.join(", ")
        )));
    }
    let mut builder = CacheRuntime::builder()
        .namespace("example-api")
        .max_bytes(config.cache_max_bytes);
    for ttl in &config.cache_ttls {
        builder = builder.cache_ttl(ttl.name.clone(), ttl.ttl);
    }
    for &name in services::CACHES {
        if !config.cache_enabled(name) {
            builder = builder.disable_cache(name);
        }
    }
    if let Some(url) = &config.redis_url {
        builder = builder
            .redis(url.clone())
            .redis_timeout(config.redis_timeout);
    }
    if let Some(dir) = &config.disk_cache {
        builder = builder.disk(dir, config.disk_cache_bytes);
    }
    let runtime = builder.install()?;
    if let Some(dir) = &config.disk_cache
        && runtime.stats().disk.is_none()
    {
        // Logged by the runtime with its reason; the service answers without it.
        tracing::warn!(dir = %dir.display(), "--disk-cache not opened: running without the disk tier");
    }
    if let Some(url) = &config.redis_url {
        // The runtime logs an invalid URL and carries on without Redis; a service told to
        // share its cache should not start silently unshared.
        if runtime.stats().l2.is_none() {
            return Err(StartError::Config(format!(
                "invalid --redis-url `{}` (expected redis://[:PASSWORD@]HOST[:PORT][/DB])",
                redact_url(url)
            )));
        }
        tracing::info!(url = %redact_url(url), timeout = ?config.redis_timeout, "redis tier configured");
    }
    Ok(runtime)
}

/// `url` with the password of its user info, if any, replaced by `***` (for logs).
pub fn redact_url(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else {
        return url.to_owned();
    };
    let authority_end = rest.find('/').unwrap_or(rest.len());
    match rest[..authority_end].rfind('@') {
        Some(at) => {
            // A bare user info may be a password too (some clients read it so).
            let user = rest[..at].split_once(':').map_or("", |(user, _)| user);
            let sep = if rest[..at].contains(':') { ":" } else { "" };
            format!("{scheme}://{user}{sep}***{}", &rest[at..])
        }
        None => url.to_owned(),
    }
}

/// Waits up to `limit` for the remote tier (the runtime's readiness), so that the caches
/// warmed next are shared; the service starts without Redis if it does not answer.
async fn await_redis(limit: std::time::Duration) {
    match cache_runtime::global().ready(limit).await {
        cache_runtime::Readiness::Connected => tracing::info!("redis connected"),
        cache_runtime::Readiness::TimedOut => tracing::warn!(
            "redis not reachable yet: serving from the in-process cache until it answers"
        ),
        _ => {}
    }
}

/// Everything before serving: installs the cache runtime, opens (and on first start
/// seeds) the database, prints the demo tokens, and warms the critical caches.
pub async fn prepare(config: Config) -> Result<AppState, StartError> {
    install_cache_runtime(&config)?;
    if config.redis_url.is_some() {
        await_redis(std::time::Duration::from_secs(2)).await;
    }
    let db = Db::open(&config.database_url, config.db_pool_size, &config.seed).await?;
    tracing::info!(backend = ?db.backend(), dataset_end = %services::rfc3339(db.dataset_end()), "database ready");
    for user in db.users().await? {
        tracing::info!(
            "demo user {:<6} Authorization: Bearer {}",
            user.name,
            user.token
        );
    }
    let admin_token: Arc<str> = match &config.admin_token {
        Some(token) if !token.is_empty() => token.as_str().into(),
        _ => {
            let token = format!("admin-{}", db::random_hex(16));
            tracing::info!("admin token (generated; set --admin-token to choose one): {token}");
            token.into()
        }
    };
    if config.no_warm || config.no_cache {
        tracing::info!("cache warming skipped");
    } else {
        let started = Instant::now();
        let critical = services::warming::CRITICAL.map(String::from);
        services::warming::warm(&db, &critical)
            .await
            .map_err(StartError::Warm)?;
        tracing::info!(
            duration_ms = format!("{:.1}", started.elapsed().as_secs_f64() * 1000.0),
            "critical caches warmed"
        );
    }
    Ok(AppState {
        db,
        config: Arc::new(config),
        admin_token,
        started: Instant::now(),
    })
}

/// The service's router with all its middleware.
pub fn app(state: AppState) -> Router {
    let config = Arc::clone(&state.config);
    middleware::apply(routes::router().with_state(state), &config)
}

/// Serves `state` on `listener` until `shutdown` resolves, then lets in-flight requests
/// finish (up to `--shutdown-timeout`), waits (up to the same again) for the cache's
/// writes and invalidations still on their way to Redis, and closes the database pool.
/// Connection limits and timeouts: see [`server`].
pub async fn run(
    listener: TcpListener,
    state: AppState,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> Result<(), StartError> {
    let db = state.db.clone();
    let config = Arc::clone(&state.config);
    let addr = listener.local_addr()?;
    tracing::info!("ready: listening on http://{addr} (API docs at http://{addr}/docs)");
    server::serve(listener, app(state), &config.server, shutdown).await?;
    let flushed = cache_runtime::global()
        .flush(config.server.shutdown_timeout)
        .await;
    if !flushed.is_complete() {
        tracing::warn!(
            pending = flushed.pending,
            "writes or invalidations had not reached redis by the shutdown deadline: lost"
        );
    }
    db.close().await;
    tracing::info!("stopped");
    Ok(())
}

/// Runs the service as configured until SIGINT or SIGTERM.
pub async fn serve(config: Config) -> Result<(), StartError> {
    // Bind first, so a taken port fails before a long seed.
    let listener = server::bind(config.bind)?;
    let state = prepare(config).await?;
    run(listener, state, shutdown_signal()).await
}

/// Resolves on SIGINT (Ctrl-C) or SIGTERM.
pub async fn shutdown_signal() {
    let ctrl_c = async {
        if tokio::signal::ctrl_c().await.is_err() {
            std::future::pending::<()>().await;
        }
    };
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {},
        () = terminate => {},
    }
    tracing::info!("shutdown signal received: finishing in-flight requests");
}

#[cfg(test)]
mod tests {
    use super::redact_url;

    #[test]
    fn redis_passwords_stay_out_of_logs() {
        assert_eq!(
            redact_url("redis://127.0.0.1:6379"),
            "redis://127.0.0.1:6379"
        );
        assert_eq!(
            redact_url("redis://:s3cret@cache:6379/2"),
            "redis://:***@cache:6379/2"
        );
        assert_eq!(
            redact_url("rediss://app:s3cret@cache/0"),
            "rediss://app:***@cache/0"
        );
        assert_eq!(redact_url("redis://s3cret@cache"), "redis://***@cache");
        assert_eq!(redact_url("not a url"), "not a url");
    }
}
