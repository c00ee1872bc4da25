//! The rows the queries return.

use serde::{Deserialize, Serialize};
use sqlx::Row;
use sqlx::any::AnyRow;

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

pub(super) fn user_from_row(r: &AnyRow) -> Result<User, sqlx::Error> {
    Ok(User {
        id: r.try_get("id")?,
        name: r.try_get("name")?,
        token: r.try_get("token")?,
    })
}

pub(super) fn channel_from_row(r: &AnyRow) -> Result<Channel, sqlx::Error> {
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
