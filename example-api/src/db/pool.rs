//! [`Db`]: the connection pool, the backend it talks to and the dataset's reference time.

use serde::Serialize;
use sqlx::any::AnyPoolOptions;
use sqlx::{AnyPool, Executor};

use crate::config::SeedConfig;

/// Which SQL backend a [`Db`] talks to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Backend {
    /// SQLite (the embedded default).
    Sqlite,
    /// PostgreSQL.
    Postgres,
}

/// A handle to the database: a connection pool plus the dataset's reference time.
///
/// Cheap to clone (the pool is reference counted).
#[derive(Debug, Clone)]
pub struct Db {
    pub(super) pool: AnyPool,
    pub(super) backend: Backend,
    pub(super) dataset_end: i64,
}

impl Db {
    /// Connects, creates the schema, and seeds an empty database.
    ///
    /// For a SQLite URL the parent directory of the file is created first.
    pub async fn open(url: &str, pool_size: u32, seed: &SeedConfig) -> Result<Self, sqlx::Error> {
        sqlx::any::install_default_drivers();
        let backend = if url.starts_with("postgres") {
            Backend::Postgres
        } else if url.starts_with("sqlite:") {
            create_sqlite_dir(url)?;
            Backend::Sqlite
        } else {
            return Err(sqlx::Error::Configuration(
                format!("unsupported database URL `{url}`: use sqlite:// or postgres://").into(),
            ));
        };
        let pool = AnyPoolOptions::new()
            .max_connections(pool_size.max(1))
            .after_connect(move |conn, _meta| {
                Box::pin(async move {
                    if backend == Backend::Sqlite {
                        // Readers never block the writer and vice versa; durable enough
                        // for a demonstration database.
                        conn.execute("PRAGMA journal_mode = WAL").await?;
                        conn.execute("PRAGMA synchronous = NORMAL").await?;
                    }
                    Ok(())
                })
            })
            .connect(url)
            .await?;
        let mut db = Self {
            pool,
            backend,
            dataset_end: 0,
        };
        db.migrate().await?;
        db.seed_if_empty(seed).await?;
        db.dataset_end = db.meta_i64("dataset_end").await?.unwrap_or_default();
        Ok(db)
    }

    /// The backend in use.
    pub fn backend(&self) -> Backend {
        self.backend
    }

    /// The end of the seeded dataset (Unix seconds, on the hour). Analytics are computed
    /// relative to it, so answers do not drift as the wall clock moves.
    pub fn dataset_end(&self) -> i64 {
        self.dataset_end
    }

    /// Open connections in the pool.
    pub fn pool_size(&self) -> u32 {
        self.pool.size()
    }

    /// Idle connections in the pool.
    pub fn pool_idle(&self) -> usize {
        self.pool.num_idle()
    }

    /// The configured maximum of the pool.
    pub fn pool_max(&self) -> u32 {
        self.pool.options().get_max_connections()
    }

    /// Closes the pool, waiting for checked-out connections to return.
    pub async fn close(&self) {
        self.pool.close().await;
    }
    pub(super) async fn meta_i64(&self, key: &str) -> Result<Option<i64>, sqlx::Error> {
        let value: Option<String> = sqlx::query_scalar("SELECT value FROM meta WHERE key = $1")
            .bind(key)
            .fetch_optional(&self.pool)
            .await?;
        Ok(value.and_then(|v| v.parse().ok()))
    }
}

fn create_sqlite_dir(url: &str) -> Result<(), sqlx::Error> {
    let path = url
        .trim_start_matches("sqlite:")
        .trim_start_matches("//")
        .split('?')
        .next()
        .unwrap_or_default();
    if path.is_empty() || path.starts_with(":memory:") {
        return Ok(());
    }
    if let Some(dir) = std::path::Path::new(path)
        .parent()
        .filter(|d| !d.as_os_str().is_empty())
    {
        std::fs::create_dir_all(dir)?;
    }
    Ok(())
}
