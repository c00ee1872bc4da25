//! Cache warming: fill caches before traffic needs them.

use std::time::Instant;

use cache_runtime::Scope;
use serde::Serialize;

use crate::db::Db;
use crate::error::ApiError;
use crate::services::analytics::{self, Hours, Limit};

/// Caches filled at start-up, before the server reports ready.
pub const CRITICAL: [&str; 2] = ["demo_best_times", "demo_top_posts"];

/// Caches that [`warm`] knows how to fill (with their default request).
pub const WARMABLE: [&str; 3] = ["demo_best_times", "demo_top_posts", "demo_post_dynamics"];

/// The outcome of warming one cache.
#[derive(Debug, Clone, Serialize)]
pub struct Warmed {
    /// The cache.
    pub cache: String,
    /// How long the computation took.
    pub duration_ms: f64,
}

/// Recomputes and stores the default entry of each named cache (a forced refresh: a
/// fresh value replaces any cached one). Unknown names are a `400`.
pub async fn warm(db: &Db, names: &[String]) -> Result<Vec<Warmed>, ApiError> {
    if let Some(unknown) = names.iter().find(|n| !WARMABLE.contains(&n.as_str())) {
        return Err(ApiError::BadRequest(format!(
            "cannot warm `{unknown}`; warmable caches: {}",
            WARMABLE.join(", ")
        )));
    }
    let mut done = Vec::with_capacity(names.len());
    for name in names {
        let started = Instant::now();
        let refresh = Scope::refresh();
        match name.as_str() {
            "demo_best_times" => drop(refresh.run(analytics::best_times(db)).await.0?),
            "demo_top_posts" => {
                let period = Hours::parse_period(analytics::DEFAULT_PERIOD)?;
                let limit = Limit::new(analytics::DEFAULT_LIMIT)?;
                drop(
                    refresh
                        .run(analytics::top_posts(db, period, limit))
                        .await
                        .0?,
                );
            }
            _ => {
                let hours = Hours::new(analytics::DEFAULT_HOURS, "hours")?;
                drop(refresh.run(analytics::post_dynamics(db, hours)).await.0?);
            }
        }
        let duration_ms = started.elapsed().as_secs_f64() * 1000.0;
        tracing::info!(cache = %name, duration_ms = format!("{duration_ms:.1}"), "cache warmed");
        done.push(Warmed {
            cache: name.clone(),
            duration_ms,
        });
    }
    Ok(done)
}

#[cfg(test)]
mod tests {
    #[test]
    fn warmed_caches_are_caches() {
        for name in super::CRITICAL.iter().chain(&super::WARMABLE) {
            assert!(crate::services::is_cache_name(name), "{name}");
        }
        assert!(super::CRITICAL.iter().all(|n| super::WARMABLE.contains(n)));
    }
}
