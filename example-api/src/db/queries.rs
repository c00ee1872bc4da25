//! The timed queries: one method of [`Db`] each, carrying
//! `#[performance_timer("db.<query>")]`.

use cache_runtime::performance_timer;
use sqlx::Executor;

use super::models::{Channel, ChannelTotals, HourlyViews, PostTotals, TimeSlot, User};
use super::pool::{Backend, Db};

impl Db {
    /// All users (for printing the demo tokens at start-up).
    #[performance_timer("db.users")]
    pub async fn users(&self) -> Result<Vec<User>, sqlx::Error> {
        sqlx::query_as("SELECT id, name, token FROM users ORDER BY id")
            .fetch_all(&self.pool)
            .await
    }

    /// The user holding a bearer token.
    #[performance_timer("db.user_by_token")]
    pub async fn user_by_token(&self, token: &str) -> Result<Option<User>, sqlx::Error> {
        sqlx::query_as("SELECT id, name, token FROM users WHERE token = $1")
            .bind(token)
            .fetch_optional(&self.pool)
            .await
    }

    /// The channels a user owns, with their post counts.
    #[performance_timer("db.channels_of_user")]
    pub async fn channels_of_user(&self, user_id: i64) -> Result<Vec<Channel>, sqlx::Error> {
        sqlx::query_as(&format!(
            "{CHANNEL_SELECT} WHERE c.owner_id = $1 {CHANNEL_GROUP} ORDER BY c.id"
        ))
        .bind(user_id)
        .fetch_all(&self.pool)
        .await
    }

    /// One channel, with its post count.
    #[performance_timer("db.channel_by_id")]
    pub async fn channel(&self, id: i64) -> Result<Option<Channel>, sqlx::Error> {
        sqlx::query_as(&format!("{CHANNEL_SELECT} WHERE c.id = $1 {CHANNEL_GROUP}"))
            .bind(id)
            .fetch_optional(&self.pool)
            .await
    }

    /// Lifetime totals of a channel's posts.
    #[performance_timer("db.channel_totals")]
    pub async fn channel_totals(&self, channel_id: i64) -> Result<ChannelTotals, sqlx::Error> {
        sqlx::query_as(
            "SELECT CAST(COUNT(DISTINCT p.id) AS BIGINT) AS posts,
                    CAST(COALESCE(SUM(s.views), 0) AS BIGINT) AS views,
                    CAST(COALESCE(SUM(s.reactions), 0) AS BIGINT) AS reactions,
                    CAST(COALESCE(SUM(s.shares), 0) AS BIGINT) AS shares
             FROM posts p LEFT JOIN post_snapshots s ON s.post_id = p.id
             WHERE p.channel_id = $1",
        )
        .bind(channel_id)
        .fetch_one(&self.pool)
        .await
    }

    /// Lifetime totals of each of `ids` that names a channel, in one query (a channel
    /// without posts has zeros; an id that names none is absent).
    #[performance_timer("db.channels_totals")]
    pub async fn channels_totals(
        &self,
        ids: &[i64],
    ) -> Result<Vec<(i64, ChannelTotals)>, sqlx::Error> {
        if ids.is_empty() {
            return Ok(Vec::new());
        }
        let marks: Vec<String> = (1..=ids.len()).map(|i| format!("${i}")).collect();
        let sql = format!(
            "SELECT c.id AS id, CAST(COUNT(DISTINCT p.id) AS BIGINT) AS posts,
                    CAST(COALESCE(SUM(s.views), 0) AS BIGINT) AS views,
                    CAST(COALESCE(SUM(s.reactions), 0) AS BIGINT) AS reactions,
                    CAST(COALESCE(SUM(s.shares), 0) AS BIGINT) AS shares
             FROM channels c LEFT JOIN posts p ON p.channel_id = c.id
                  LEFT JOIN post_snapshots s ON s.post_id = p.id
             WHERE c.id IN ({}) GROUP BY c.id",
            marks.join(", ")
        );
        let mut query = sqlx::query_as::<_, (i64, i64, i64, i64, i64)>(&sql);
        for id in ids {
            query = query.bind(*id);
        }
        let rows = query.fetch_all(&self.pool).await?;
        Ok(rows
            .into_iter()
            .map(|(id, posts, views, reactions, shares)| {
                let totals = ChannelTotals {
                    posts,
                    views,
                    reactions,
                    shares,
                };
                (id, totals)
            })
            .collect())
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
        sqlx::query_as(
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
        .await
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
        sqlx::query_as(
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
        .await
    }

    /// Totals of all posts grouped by the weekday and hour (UTC) of publication: a full
    /// scan of the snapshots, the slowest query of the service. A post without snapshots
    /// yet (just published) counts with no views.
    #[performance_timer("db.publication_slots")]
    pub async fn publication_slots(&self) -> Result<Vec<TimeSlot>, sqlx::Error> {
        sqlx::query_as(
            "SELECT CAST((p.published_at / 86400 + 4) % 7 AS BIGINT) AS weekday,
                    CAST((p.published_at / 3600) % 24 AS BIGINT) AS hour_of_day,
                    CAST(COUNT(DISTINCT p.id) AS BIGINT) AS posts,
                    CAST(COALESCE(SUM(s.views), 0) AS BIGINT) AS views,
                    CAST(COALESCE(SUM(s.reactions + s.shares), 0) AS BIGINT) AS interactions
             FROM posts p LEFT JOIN post_snapshots s ON s.post_id = p.id
             GROUP BY 1, 2 ORDER BY 1, 2",
        )
        .fetch_all(&self.pool)
        .await
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

#[cfg(test)]
mod tests {
    use sqlx::Row;

    use super::*;
    use crate::config::SeedConfig;

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
