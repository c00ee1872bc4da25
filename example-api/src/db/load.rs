//! Loading the demonstration dataset into an empty database: one transaction of
//! multi-row inserts, then the indexes and the dataset's end time.

use std::time::Instant;

use sqlx::Executor;

use super::pool::{Backend, Db};
use super::schema::INDEXES;
use super::seed;
use crate::config::SeedConfig;

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

impl Db {
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
        let data = seed::generate(config, end);
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
}

/// Rows per multi-row `INSERT` of snapshots (5 parameters each; well under the
/// parameter limits of SQLite and PostgreSQL).
const SNAPSHOT_BATCH: usize = 2000;

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
}
