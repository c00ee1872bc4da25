//! The database: pool, schema, seed data and the timed data-access layer.
//!
//! The SQL is portable between SQLite (the default, embedded) and PostgreSQL: it runs on
//! sqlx's `Any` driver, binds with `$N` placeholders (both backends accept them), keeps
//! times as integer Unix seconds and casts aggregates to `BIGINT` / `DOUBLE PRECISION`.
//!
//! Every query is a method of [`Db`] carrying `#[performance_timer("db.<query>")]`, so
//! `/performance` reports real query latencies.

use std::time::Instant;

use cache_runtime::performance_timer;
use serde::{Deserialize, Serialize};
use sqlx::any::{AnyPoolOptions, AnyRow};
use sqlx::{AnyPool, Executor, Row};

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
    pool: AnyPool,
    backend: Backend,
    dataset_end: i64,
}

/// A user of the service, identified by a bearer token.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct User {
    /// Database id.
    pub id: i64,
    /// Display name.
    pub name: String,
    /// Bearer token for `Authorization: Bearer <token>`.
    #[serde(skip_serializing)]
    pub token: String,
}

/// A channel and how many posts it has.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Channel {
    /// Database id.
    pub id: i64,
    /// Owning user.
    pub owner_id: i64,
    /// Short handle, e.g. `tech_daily_1`.
    pub name: String,
    /// Display title.
    pub title: String,
    /// Topic category.
    pub category: String,
    /// Subscriber count.
    pub subscribers: i64,
    /// Creation time, Unix seconds.
    pub created_at: i64,
    /// Number of posts.
    pub posts: i64,
}

/// Views summed over all posts for one hour.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct HourlyViews {
    /// End of the hour, Unix seconds.
    pub ts: i64,
    /// Views gained in that hour.
    pub views: i64,
    /// Reactions gained in that hour.
    pub reactions: i64,
    /// Posts that gained views in that hour.
    pub active_posts: i64,
}

/// A post with its lifetime totals.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PostTotals {
    /// Post id.
    pub id: i64,
    /// Channel id.
    pub channel_id: i64,
    /// Channel title.
    pub channel_title: String,
    /// Publication time, Unix seconds.
    pub published_at: i64,
    /// `text`, `photo` or `video`.
    pub kind: String,
    /// The post's text.
    pub text: String,
    /// Total views.
    pub views: i64,
    /// Total reactions.
    pub reactions: i64,
    /// Total shares.
    pub shares: i64,
}

/// Performance of the posts published in one weekday-and-hour slot (UTC).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TimeSlot {
    /// 0 = Sunday ... 6 = Saturday.
    pub weekday: i64,
    /// Hour of day, 0..=23.
    pub hour: i64,
    /// Posts published in the slot.
    pub posts: i64,
    /// Their total views.
    pub views: i64,
    /// Their total reactions plus shares.
    pub interactions: i64,
}

/// Lifetime totals of one channel.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ChannelTotals {
    /// Posts in the channel.
    pub posts: i64,
    /// Total views.
    pub views: i64,
    /// Total reactions.
    pub reactions: i64,
    /// Total shares.
    pub shares: i64,
}

/// What [`Db::seed_if_empty`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SeedReport {
    /// Users inserted.
    pub users: u64,
    /// Channels inserted.
    pub channels: u64,
    /// Posts inserted.
    pub posts: u64,
    /// Hourly snapshot rows inserted.
    pub snapshots: u64,
}

const SCHEMA: &[&str] = &[
    "CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL)",
    "CREATE TABLE IF NOT EXISTS users (
        id BIGINT PRIMARY KEY,
        name TEXT NOT NULL,
        token TEXT NOT NULL UNIQUE)",
    "CREATE TABLE IF NOT EXISTS channels (
        id BIGINT PRIMARY KEY,
        owner_id BIGINT NOT NULL REFERENCES users(id),
        name TEXT NOT NULL,
        title TEXT NOT NULL,
        category TEXT NOT NULL,
        subscribers BIGINT NOT NULL,
        created_at BIGINT NOT NULL)",
    "CREATE TABLE IF NOT EXISTS posts (
        id BIGINT PRIMARY KEY,
        channel_id BIGINT NOT NULL REFERENCES channels(id),
        published_at BIGINT NOT NULL,
        kind TEXT NOT NULL,
        text TEXT NOT NULL)",
    "CREATE TABLE IF NOT EXISTS post_snapshots (
        post_id BIGINT NOT NULL REFERENCES posts(id),
        ts BIGINT NOT NULL,
        views BIGINT NOT NULL,
        reactions BIGINT NOT NULL,
        shares BIGINT NOT NULL,
        PRIMARY KEY (post_id, ts))",
];

/// Indexes are created after seeding, which is faster than maintaining them per row.
const INDEXES: &[&str] = &[
    "CREATE INDEX IF NOT EXISTS channels_owner ON channels (owner_id)",
    "CREATE INDEX IF NOT EXISTS posts_channel ON posts (channel_id)",
    "CREATE INDEX IF NOT EXISTS posts_published ON posts (published_at)",
    "CREATE INDEX IF NOT EXISTS snapshots_ts ON post_snapshots (ts)",
];

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

    async fn migrate(&self) -> Result<(), sqlx::Error> {
        for statement in SCHEMA {
            self.pool.execute(*statement).await?;
        }
        Ok(())
    }

    async fn meta_i64(&self, key: &str) -> Result<Option<i64>, sqlx::Error> {
        let value: Option<String> = sqlx::query_scalar("SELECT value FROM meta WHERE key = $1")
            .bind(key)
            .fetch_optional(&self.pool)
            .await?;
        Ok(value.and_then(|v| v.parse().ok()))
    }

    /// Seeds the demonstration dataset in one transaction, unless it is already there.
    /// Returns `None` if the database was already seeded.
    pub async fn seed_if_empty(
        &self,
        config: &SeedConfig,
    ) -> Result<Option<SeedReport>, sqlx::Error> {
        if self.meta_i64("dataset_end").await?.is_some() {
            return Ok(None);
        }
        let started = Instant::now();
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_secs() as i64);
        let end = now - now % 3600;
        let data = crate::seed::generate(config, end);
        tracing::info!(
            users = data.users.len(),
            channels = data.channels.len(),
            posts = data.posts.len(),
            snapshots = data.snapshots.len(),
            "seeding an empty database"
        );

        let mut tx = self.pool.begin().await?;
        let backend = self.backend;
        insert_rows(
            &mut tx,
            backend,
            "users",
            &["id", "name", "token"],
            &data.users,
            |q, u| q.bind(u.id).bind(u.name.clone()).bind(u.token.clone()),
        )
        .await?;
        insert_rows(
            &mut tx,
            backend,
            "channels",
            &[
                "id",
                "owner_id",
                "name",
                "title",
                "category",
                "subscribers",
                "created_at",
            ],
            &data.channels,
            |q, c| {
                q.bind(c.id)
                    .bind(c.owner_id)
                    .bind(c.name.clone())
                    .bind(c.title.clone())
                    .bind(c.category.clone())
                    .bind(c.subscribers)
                    .bind(c.created_at)
            },
        )
        .await?;
        insert_rows(
            &mut tx,
            backend,
            "posts",
            &["id", "channel_id", "published_at", "kind", "text"],
            &data.posts,
            |q, p| {
                q.bind(p.id)
                    .bind(p.channel_id)
                    .bind(p.published_at)
                    .bind(p.kind.clone())
                    .bind(p.text.clone())
            },
        )
        .await?;

        let total = data.snapshots.len() as u64;
        let mut inserted = 0u64;
        let mut next_report = total / 10;
        for chunk in data.snapshots.chunks(SNAPSHOT_BATCH) {
            insert_rows(
                &mut tx,
                backend,
                "post_snapshots",
                &["post_id", "ts", "views", "reactions", "shares"],
                chunk,
                |q, s| {
                    q.bind(s.post_id)
                        .bind(s.ts)
                        .bind(s.views)
                        .bind(s.reactions)
                        .bind(s.shares)
                },
            )
            .await?;
            inserted += chunk.len() as u64;
            if inserted >= next_report && total > 0 {
                tracing::info!(
                    "seeding snapshots: {inserted}/{total} ({}%)",
                    inserted * 100 / total
                );
                next_report += total / 10;
            }
        }
        for statement in INDEXES {
            tx.execute(*statement).await?;
        }
        for (key, value) in [
            ("dataset_end", end.to_string()),
            ("seed_channels", config.channels.to_string()),
            (
                "seed_posts_per_channel",
                config.posts_per_channel.to_string(),
            ),
        ] {
            sqlx::query("INSERT INTO meta (key, value) VALUES ($1, $2)")
                .bind(key)
                .bind(value)
                .execute(&mut *tx)
                .await?;
        }
        tx.commit().await?;
        if self.backend == Backend::Sqlite {
            self.pool.execute("ANALYZE").await?;
        }
        let report = SeedReport {
            users: data.users.len() as u64,
            channels: data.channels.len() as u64,
            posts: data.posts.len() as u64,
            snapshots: inserted,
        };
        tracing::info!(
            elapsed_ms = started.elapsed().as_millis() as u64,
            "seeded {} users, {} channels, {} posts, {} snapshots",
            report.users,
            report.channels,
            report.posts,
            report.snapshots
        );
        Ok(Some(report))
    }

    /// All users (for printing the demo tokens at start-up).
    #[performance_timer("db.users")]
    pub async fn users(&self) -> Result<Vec<User>, sqlx::Error> {
        sqlx::query("SELECT id, name, token FROM users ORDER BY id")
            .fetch_all(&self.pool)
            .await?
            .iter()
            .map(user_from_row)
            .collect()
    }

    /// The user holding a bearer token.
    #[performance_timer("db.user_by_token")]
    pub async fn user_by_token(&self, token: &str) -> Result<Option<User>, sqlx::Error> {
        sqlx::query("SELECT id, name, token FROM users WHERE token = $1")
            .bind(token)
            .fetch_optional(&self.pool)
            .await?
            .as_ref()
            .map(user_from_row)
            .transpose()
    }

    /// The channels a user owns, with their post counts.
    #[performance_timer("db.channels_of_user")]
    pub async fn channels_of_user(&self, user_id: i64) -> Result<Vec<Channel>, sqlx::Error> {
        sqlx::query(&format!(
            "{CHANNEL_SELECT} WHERE c.owner_id = $1 {CHANNEL_GROUP} ORDER BY c.id"
        ))
        .bind(user_id)
        .fetch_all(&self.pool)
        .await?
        .iter()
        .map(channel_from_row)
        .collect()
    }

    /// One channel, with its post count.
    #[performance_timer("db.channel_by_id")]
    pub async fn channel(&self, id: i64) -> Result<Option<Channel>, sqlx::Error> {
        sqlx::query(&format!("{CHANNEL_SELECT} WHERE c.id = $1 {CHANNEL_GROUP}"))
            .bind(id)
            .fetch_optional(&self.pool)
            .await?
            .as_ref()
            .map(channel_from_row)
            .transpose()
    }

    /// Lifetime totals of a channel's posts.
    #[performance_timer("db.channel_totals")]
    pub async fn channel_totals(&self, channel_id: i64) -> Result<ChannelTotals, sqlx::Error> {
        let row = sqlx::query(
            "SELECT CAST(COUNT(DISTINCT p.id) AS BIGINT) AS posts,
                    CAST(COALESCE(SUM(s.views), 0) AS BIGINT) AS views,
                    CAST(COALESCE(SUM(s.reactions), 0) AS BIGINT) AS reactions,
                    CAST(COALESCE(SUM(s.shares), 0) AS BIGINT) AS shares
             FROM posts p LEFT JOIN post_snapshots s ON s.post_id = p.id
             WHERE p.channel_id = $1",
        )
        .bind(channel_id)
        .fetch_one(&self.pool)
        .await?;
        Ok(ChannelTotals {
            posts: row.try_get("posts")?,
            views: row.try_get("views")?,
            reactions: row.try_get("reactions")?,
            shares: row.try_get("shares")?,
        })
    }

    /// Views a channel gained in `(since, until]`.
    #[performance_timer("db.channel_views_between")]
    pub async fn channel_views_between(
        &self,
        channel_id: i64,
        since: i64,
        until: i64,
    ) -> Result<i64, sqlx::Error> {
        sqlx::query_scalar(
            "SELECT CAST(COALESCE(SUM(s.views), 0) AS BIGINT)
             FROM post_snapshots s JOIN posts p ON p.id = s.post_id
             WHERE p.channel_id = $1 AND s.ts > $2 AND s.ts <= $3",
        )
        .bind(channel_id)
        .bind(since)
        .bind(until)
        .fetch_one(&self.pool)
        .await
    }

    /// Views per hour over all posts in `(since, until]`, oldest first.
    #[performance_timer("db.hourly_views")]
    pub async fn hourly_views(
        &self,
        since: i64,
        until: i64,
    ) -> Result<Vec<HourlyViews>, sqlx::Error> {
        sqlx::query(
            "SELECT s.ts AS ts,
                    CAST(SUM(s.views) AS BIGINT) AS views,
                    CAST(SUM(s.reactions) AS BIGINT) AS reactions,
                    CAST(COUNT(*) AS BIGINT) AS active_posts
             FROM post_snapshots s
             WHERE s.ts > $1 AND s.ts <= $2
             GROUP BY s.ts ORDER BY s.ts",
        )
        .bind(since)
        .bind(until)
        .fetch_all(&self.pool)
        .await?
        .iter()
        .map(|r| {
            Ok(HourlyViews {
                ts: r.try_get("ts")?,
                views: r.try_get("views")?,
                reactions: r.try_get("reactions")?,
                active_posts: r.try_get("active_posts")?,
            })
        })
        .collect()
    }

    /// The most viewed posts published after `since` (optionally in one channel). A post
    /// without snapshots yet (just published) counts with no views.
    ///
    /// The snapshots are summed per post before the join, and only for the posts in the
    /// window: grouping the joined rows by every post column instead made the 30-day window
    /// take 330-435 ms on the default seed (50 ms now), and ten cold `limit`s of it behind
    /// `top_posts`' bulkhead (`max_concurrent = 2`) outwaited its `max_wait` after every
    /// cache-wide invalidation (`RELIABILITY.md`, finding 5).
    #[performance_timer("db.top_posts")]
    pub async fn top_posts(
        &self,
        since: i64,
        channel_id: Option<i64>,
        limit: i64,
    ) -> Result<Vec<PostTotals>, sqlx::Error> {
        sqlx::query(
            "SELECT p.id AS id, p.channel_id AS channel_id, c.title AS channel_title,
                    p.published_at AS published_at, p.kind AS kind, p.text AS text,
                    CAST(COALESCE(s.views, 0) AS BIGINT) AS views,
                    CAST(COALESCE(s.reactions, 0) AS BIGINT) AS reactions,
                    CAST(COALESCE(s.shares, 0) AS BIGINT) AS shares
             FROM posts p
             JOIN channels c ON c.id = p.channel_id
             LEFT JOIN (
                 SELECT post_id, SUM(views) AS views, SUM(reactions) AS reactions,
                        SUM(shares) AS shares
                 FROM post_snapshots
                 WHERE post_id IN (
                     SELECT id FROM posts
                     WHERE published_at > $1 AND ($2 < 0 OR channel_id = $2))
                 GROUP BY post_id
             ) s ON s.post_id = p.id
             WHERE p.published_at > $1 AND ($2 < 0 OR p.channel_id = $2)
             ORDER BY views DESC, p.id
             LIMIT $3",
        )
        .bind(since)
        .bind(channel_id.unwrap_or(-1))
        .bind(limit)
        .fetch_all(&self.pool)
        .await?
        .iter()
        .map(|r| {
            Ok(PostTotals {
                id: r.try_get("id")?,
                channel_id: r.try_get("channel_id")?,
                channel_title: r.try_get("channel_title")?,
                published_at: r.try_get("published_at")?,
                kind: r.try_get("kind")?,
                text: r.try_get("text")?,
                views: r.try_get("views")?,
                reactions: r.try_get("reactions")?,
                shares: r.try_get("shares")?,
            })
        })
        .collect()
    }

    /// Totals of all posts grouped by the weekday and hour (UTC) of publication: a full
    /// scan of the snapshots, the slowest query of the service. A post without snapshots
    /// yet (just published) counts with no views.
    #[performance_timer("db.publication_slots")]
    pub async fn publication_slots(&self) -> Result<Vec<TimeSlot>, sqlx::Error> {
        sqlx::query(
            "SELECT CAST((p.published_at / 86400 + 4) % 7 AS BIGINT) AS weekday,
                    CAST((p.published_at / 3600) % 24 AS BIGINT) AS hour_of_day,
                    CAST(COUNT(DISTINCT p.id) AS BIGINT) AS posts,
                    CAST(COALESCE(SUM(s.views), 0) AS BIGINT) AS views,
                    CAST(COALESCE(SUM(s.reactions + s.shares), 0) AS BIGINT) AS interactions
             FROM posts p LEFT JOIN post_snapshots s ON s.post_id = p.id
             GROUP BY 1, 2 ORDER BY 1, 2",
        )
        .fetch_all(&self.pool)
        .await?
        .iter()
        .map(|r| {
            Ok(TimeSlot {
                weekday: r.try_get("weekday")?,
                hour: r.try_get("hour_of_day")?,
                posts: r.try_get("posts")?,
                views: r.try_get("views")?,
                interactions: r.try_get("interactions")?,
            })
        })
        .collect()
    }

    /// Sets a channel's `name` and/or `title` (a `None` keeps the current value), if
    /// `owner_id` owns it. Returns whether a row changed (`false`: no such channel of
    /// that owner).
    #[performance_timer("db.update_channel")]
    pub async fn update_channel(
        &self,
        id: i64,
        owner_id: i64,
        name: Option<&str>,
        title: Option<&str>,
    ) -> Result<bool, sqlx::Error> {
        let done = sqlx::query(
            "UPDATE channels SET name = COALESCE($3, name), title = COALESCE($4, title)
             WHERE id = $1 AND owner_id = $2",
        )
        .bind(id)
        .bind(owner_id)
        .bind(name)
        .bind(title)
        .execute(&self.pool)
        .await?;
        Ok(done.rows_affected() > 0)
    }

    /// Inserts a post and returns its id (one more than the largest so far).
    #[performance_timer("db.insert_post")]
    pub async fn insert_post(
        &self,
        channel_id: i64,
        published_at: i64,
        kind: &str,
        text: &str,
    ) -> Result<i64, sqlx::Error> {
        let mut tx = self.pool.begin().await?;
        if self.backend == Backend::Postgres {
            // Two concurrent `MAX(id) + 1` would pick the same id: one insert at a time,
            // while reads go on. (SQLite runs one writing statement at a time anyway.)
            tx.execute("LOCK TABLE posts IN EXCLUSIVE MODE").await?;
        }
        let id = sqlx::query_scalar(
            "INSERT INTO posts (id, channel_id, published_at, kind, text)
             SELECT COALESCE(MAX(id), 0) + 1, $1, $2, $3, $4 FROM posts
             RETURNING id",
        )
        .bind(channel_id)
        .bind(published_at)
        .bind(kind)
        .bind(text)
        .fetch_one(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(id)
    }
}

const CHANNEL_SELECT: &str = "SELECT c.id AS id, c.owner_id AS owner_id, c.name AS name,
        c.title AS title, c.category AS category, c.subscribers AS subscribers,
        c.created_at AS created_at, CAST(COUNT(p.id) AS BIGINT) AS posts
     FROM channels c LEFT JOIN posts p ON p.channel_id = c.id";
const CHANNEL_GROUP: &str =
    "GROUP BY c.id, c.owner_id, c.name, c.title, c.category, c.subscribers, c.created_at";

/// Rows per multi-row `INSERT` of snapshots (5 parameters each; well under the
/// parameter limits of SQLite and PostgreSQL).
const SNAPSHOT_BATCH: usize = 2000;

fn user_from_row(r: &AnyRow) -> Result<User, sqlx::Error> {
    Ok(User {
        id: r.try_get("id")?,
        name: r.try_get("name")?,
        token: r.try_get("token")?,
    })
}

fn channel_from_row(r: &AnyRow) -> Result<Channel, sqlx::Error> {
    Ok(Channel {
        id: r.try_get("id")?,
        owner_id: r.try_get("owner_id")?,
        name: r.try_get("name")?,
        title: r.try_get("title")?,
        category: r.try_get("category")?,
        subscribers: r.try_get("subscribers")?,
        created_at: r.try_get("created_at")?,
        posts: r.try_get("posts")?,
    })
}

type AnyQuery<'q> = sqlx::query::Query<'q, sqlx::Any, sqlx::any::AnyArguments<'q>>;

/// One multi-row `INSERT INTO table (columns) VALUES ($1, ...), (...)` per call.
async fn insert_rows<T>(
    tx: &mut sqlx::Transaction<'_, sqlx::Any>,
    backend: Backend,
    table: &str,
    columns: &[&str],
    rows: &[T],
    bind: impl for<'q> Fn(AnyQuery<'q>, &T) -> AnyQuery<'q>,
) -> Result<(), sqlx::Error> {
    for chunk in rows.chunks(SNAPSHOT_BATCH) {
        let sql = insert_sql(backend, table, columns, chunk.len());
        let mut query = sqlx::query(&sql);
        for row in chunk {
            query = bind(query, row);
        }
        query.execute(&mut **tx).await?;
    }
    Ok(())
}

/// `INSERT INTO table (columns) VALUES (..), (..)` for `rows` rows. PostgreSQL gets
/// `$1, $2, ...`; SQLite gets anonymous `?`, because binding to named or numbered
/// parameters looks each name up in a list (quadratic in the parameter count: 20 s
/// instead of 1 s for the default seed).
fn insert_sql(backend: Backend, table: &str, columns: &[&str], rows: usize) -> String {
    use std::fmt::Write as _;
    let mut sql = format!("INSERT INTO {table} ({}) VALUES ", columns.join(", "));
    let mut n = 0;
    for row in 0..rows {
        sql.push_str(if row == 0 { "(" } else { ", (" });
        for col in 0..columns.len() {
            n += 1;
            let sep = if col == 0 { "" } else { ", " };
            let _ = match backend {
                Backend::Sqlite => write!(sql, "{sep}?"),
                Backend::Postgres => write!(sql, "{sep}${n}"),
            };
        }
        sql.push(')');
    }
    sql
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn insert_sql_numbers_placeholders_across_rows() {
        assert_eq!(
            insert_sql(Backend::Postgres, "t", &["a", "b"], 2),
            "INSERT INTO t (a, b) VALUES ($1, $2), ($3, $4)"
        );
        assert_eq!(
            insert_sql(Backend::Sqlite, "t", &["a", "b"], 2),
            "INSERT INTO t (a, b) VALUES (?, ?), (?, ?)"
        );
    }

    /// `top_posts` against totals summed here from the raw rows: every window, the channel
    /// filter, the order (views, then id) and a just-published post without snapshots.
    #[tokio::test]
    async fn top_posts_are_each_posts_snapshot_sums_in_order() {
        let seed = SeedConfig {
            channels: 3,
            posts_per_channel: 6,
            days: 4,
            track_hours: 30,
        };
        let db = Db::open("sqlite::memory:", 1, &seed).await.expect("db");
        let fresh = db
            .insert_post(2, db.dataset_end(), "text", "no snapshots yet")
            .await
            .expect("inserted");
        let posts: Vec<(i64, i64, i64)> =
            sqlx::query("SELECT id, channel_id, published_at FROM posts")
                .fetch_all(&db.pool)
                .await
                .expect("posts")
                .iter()
                .map(|r| (r.get(0), r.get(1), r.get(2)))
                .collect();
        let mut totals = std::collections::HashMap::<i64, (i64, i64, i64)>::new();
        for r in sqlx::query("SELECT post_id, views, reactions, shares FROM post_snapshots")
            .fetch_all(&db.pool)
            .await
            .expect("snapshots")
        {
            let t = totals.entry(r.get(0)).or_default();
            t.0 += r.get::<i64, _>(1);
            t.1 += r.get::<i64, _>(2);
            t.2 += r.get::<i64, _>(3);
        }
        let end = db.dataset_end();
        let mut cases = 0;
        for since in [0, end - 3 * 86_400, end - 86_400, end - 3_600] {
            for channel in [None, Some(2)] {
                let mut expected: Vec<(i64, (i64, i64, i64))> = posts
                    .iter()
                    .filter(|(_, c, at)| *at > since && channel.is_none_or(|ch| ch == *c))
                    .map(|(id, _, _)| (*id, totals.get(id).copied().unwrap_or_default()))
                    .collect();
                expected.sort_by_key(|(id, t)| (std::cmp::Reverse(t.0), *id));
                expected.truncate(5);
                let got: Vec<(i64, (i64, i64, i64))> = db
                    .top_posts(since, channel, 5)
                    .await
                    .expect("top posts")
                    .iter()
                    .map(|p| (p.id, (p.views, p.reactions, p.shares)))
                    .collect();
                assert_eq!(got, expected, "since {since}, channel {channel:?}");
                cases += usize::from(!got.is_empty());
            }
        }
        assert!(cases >= 6, "the windows hold posts");
        let newest = db.top_posts(end - 3_600, Some(2), 100).await.expect("top");
        assert!(
            newest.iter().any(|p| p.id == fresh && p.views == 0),
            "the post without snapshots counts with no views: {newest:?}"
        );
    }
}
