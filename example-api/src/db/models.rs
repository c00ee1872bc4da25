//! The rows the queries return, each read from the columns of its fields' names
//! (`sqlx::FromRow`).

use serde::{Deserialize, Serialize};

/// A user of the service, identified by a bearer token.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, sqlx::FromRow)]
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
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, sqlx::FromRow, utoipa::ToSchema)]
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
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, sqlx::FromRow)]
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
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, sqlx::FromRow)]
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
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, sqlx::FromRow)]
pub struct TimeSlot {
    /// 0 = Sunday ... 6 = Saturday.
    pub weekday: i64,
    /// Hour of day, 0..=23.
    #[sqlx(rename = "hour_of_day")]
    pub hour: i64,
    /// Posts published in the slot.
    pub posts: i64,
    /// Their total views.
    pub views: i64,
    /// Their total reactions plus shares.
    pub interactions: i64,
}

/// Lifetime totals of one channel.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, sqlx::FromRow)]
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
