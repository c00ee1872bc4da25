//! The tables, and the indexes created once the seed is in.

use sqlx::Executor;

use super::pool::Db;

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
pub(super) const INDEXES: &[&str] = &[
    "CREATE INDEX IF NOT EXISTS channels_owner ON channels (owner_id)",
    "CREATE INDEX IF NOT EXISTS posts_channel ON posts (channel_id)",
    "CREATE INDEX IF NOT EXISTS posts_published ON posts (published_at)",
    "CREATE INDEX IF NOT EXISTS snapshots_ts ON post_snapshots (ts)",
];

impl Db {
    /// Creates the tables that do not exist yet.
    pub(super) async fn migrate(&self) -> Result<(), sqlx::Error> {
        for statement in SCHEMA {
            self.pool.execute(*statement).await?;
        }
        Ok(())
    }
}
