//! Writes: renaming a channel and publishing a post, by the channel's owner only.
//!
//! Each write changes the database first; when it succeeds, its `#[cache_invalidate]`
//! drops the cached reads it made stale (entries named by the cached functions and their
//! arguments, checked by the compiler through their `<fn>_entry` companions), so that
//! the next read shows the change at once (on this instance at once, on the others when
//! the runtime's announcement reaches them). Entries of other users and other channels
//! are left alone. What each write drops:
//!
//! | write | `user_channels(user)` | `channel_summary(id)` | `top_posts(..)` | `best_times()` |
//! |---|---|---|---|---|
//! | [`rename_channel`] | the owner's entry | the channel's entry | every entry (they show channel titles) | - |
//! | [`publish_post`] | the owner's entry (post count) | the channel's entry | every entry | its one entry |
//!
//! `post_dynamics` is not dropped: it sums hourly views, and a new post has none yet.

use std::time::{SystemTime, UNIX_EPOCH};

use serde::{Deserialize, Serialize};

use crate::db::{Channel, Db, User};
use crate::error::ApiError;
use crate::services::ai::PostText;
use crate::services::{analytics, channel_metrics, channels, rfc3339};

/// Shortest channel name (handle), in characters.
pub const MIN_NAME_CHARS: usize = 3;
/// Longest channel name (handle), in characters.
pub const MAX_NAME_CHARS: usize = 32;
/// Longest channel title, in characters.
pub const MAX_TITLE_CHARS: usize = 128;
/// How far in the future a post's `published_at` may be (clock skew between client and
/// server), in seconds.
pub const MAX_CLOCK_SKEW_SECS: i64 = 300;

/// A checked change to a channel: a new `name` (handle), a new `title`, or both.
///
/// ```
/// use example_api::services::writes::ChannelChange;
/// let change = ChannelChange::new(Some("rust_weekly".into()), None).unwrap();
/// assert_eq!(change.name(), Some("rust_weekly"));
/// let err = ChannelChange::new(Some("Rust Weekly".into()), None).unwrap_err();
/// assert_eq!(err.code(), "bad_request");
/// assert_eq!(ChannelChange::new(None, None).unwrap_err().code(), "unprocessable_entity");
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChannelChange {
    name: Option<String>,
    title: Option<String>,
}

impl ChannelChange {
    /// `name`: [`MIN_NAME_CHARS`] to [`MAX_NAME_CHARS`] lowercase ASCII letters, digits
    /// and `_`, starting with a letter. `title`: not blank, at most [`MAX_TITLE_CHARS`]
    /// characters as sent, no control characters; surrounding whitespace is dropped.
    ///
    /// `422` when neither is given, `413` for one over its length, `400` otherwise.
    pub fn new(name: Option<String>, title: Option<String>) -> Result<Self, ApiError> {
        if name.is_none() && title.is_none() {
            return Err(ApiError::Unprocessable(
                "send at least one of {\"name\": HANDLE} or {\"title\": TEXT}".into(),
            ));
        }
        if let Some(name) = &name {
            check_name(name)?;
        }
        let title = title.map(|t| check_title(&t)).transpose()?;
        Ok(Self { name, title })
    }

    /// The new name, if it changes.
    pub fn name(&self) -> Option<&str> {
        self.name.as_deref()
    }

    /// The new title, if it changes.
    pub fn title(&self) -> Option<&str> {
        self.title.as_deref()
    }
}

fn check_name(name: &str) -> Result<(), ApiError> {
    let chars = name.chars().count();
    if chars > MAX_NAME_CHARS {
        return Err(ApiError::PayloadTooLarge(format!(
            "`name` is {chars} characters; the limit is {MAX_NAME_CHARS}"
        )));
    }
    let well_formed = name.starts_with(|c: char| c.is_ascii_lowercase())
        && name
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_');
    if chars < MIN_NAME_CHARS || !well_formed {
        return Err(ApiError::BadRequest(format!(
            "`name` must be {MIN_NAME_CHARS} to {MAX_NAME_CHARS} lowercase letters, digits \
             or `_`, starting with a letter (e.g. `rust_weekly`)"
        )));
    }
    Ok(())
}

fn check_title(title: &str) -> Result<String, ApiError> {
    // Counted as sent (as JSON Schema's `maxLength` counts it), before trimming.
    let chars = title.chars().count();
    if chars > MAX_TITLE_CHARS {
        return Err(ApiError::PayloadTooLarge(format!(
            "`title` is {chars} characters; the limit is {MAX_TITLE_CHARS}"
        )));
    }
    let title = title.trim();
    if title.is_empty() {
        return Err(ApiError::BadRequest("`title` must not be blank".into()));
    }
    if title.chars().any(char::is_control) {
        return Err(ApiError::BadRequest(
            "`title` must not contain control characters".into(),
        ));
    }
    Ok(title.to_owned())
}

/// What a post is, as in the seeded data.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum PostKind {
    /// Text only (the default).
    #[default]
    Text,
    /// A photo with a caption.
    Photo,
    /// A video with a caption.
    Video,
}

impl PostKind {
    /// The value stored in the database.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Text => "text",
            Self::Photo => "photo",
            Self::Video => "video",
        }
    }
}

/// A checked post to publish.
///
/// ```
/// use example_api::services::writes::{NewPost, PostKind};
/// let post = NewPost::new("Hello".into(), PostKind::Text, Some("2024-05-01T13:00:00Z")).unwrap();
/// assert_eq!(post.published_at(), Some(1_714_568_400));
/// assert_eq!(NewPost::new(" ".into(), PostKind::Text, None).unwrap_err().code(), "bad_request");
/// assert_eq!(NewPost::new("x".into(), PostKind::Text, Some("yesterday")).unwrap_err().code(), "bad_request");
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewPost {
    text: PostText,
    kind: PostKind,
    published_at: Option<i64>,
}

impl NewPost {
    /// `text`: as for `/ai/analyze` (not blank, at most
    /// [`MAX_TEXT_CHARS`](crate::services::ai::MAX_TEXT_CHARS) characters), and no NUL
    /// characters.
    /// `published_at`: RFC 3339 in UTC, e.g. `2024-05-01T13:00:00Z` (`None`: when it is
    /// published).
    pub fn new(text: String, kind: PostKind, published_at: Option<&str>) -> Result<Self, ApiError> {
        let text = PostText::new(text)?;
        if text.as_str().contains('\0') {
            return Err(ApiError::BadRequest(
                "`text` must not contain NUL characters".into(),
            ));
        }
        let published_at = published_at.map(parse_time).transpose()?;
        Ok(Self {
            text,
            kind,
            published_at,
        })
    }

    /// The requested publication time, Unix seconds.
    pub fn published_at(&self) -> Option<i64> {
        self.published_at
    }
}

/// The `published_at` values [`NewPost::new`] accepts, as a regular expression (for the
/// OpenAPI description, beside `format: date-time`): RFC 3339 in UTC with an upper-case `T`
/// and `Z`, optional fractional seconds.
pub const PUBLISHED_AT_PATTERN: &str =
    "^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}(\\.[0-9]+)?Z$";

/// Parses `YYYY-MM-DDTHH:MM:SS[.fraction]Z` (any year from 0000, a leap second `:60` read
/// as `:59`) into Unix seconds: exactly the strings [`PUBLISHED_AT_PATTERN`] matches that
/// name a real date and time.
fn parse_time(value: &str) -> Result<i64, ApiError> {
    parse_utc(value).ok_or_else(|| {
        ApiError::BadRequest(format!(
            "`published_at` must be an RFC 3339 time in UTC such as \
             2024-05-01T13:00:00Z, got `{value}`"
        ))
    })
}

fn parse_utc(value: &str) -> Option<i64> {
    let b = value.as_bytes();
    let digits = |range: std::ops::Range<usize>| -> Option<i64> {
        let part = b.get(range)?;
        part.iter()
            .all(u8::is_ascii_digit)
            .then(|| part.iter().fold(0i64, |n, d| n * 10 + i64::from(d - b'0')))
    };
    let punctuation = [(4, b'-'), (7, b'-'), (10, b'T'), (13, b':'), (16, b':')];
    if b.len() < 20 || punctuation.iter().any(|&(at, c)| b[at] != c) || b.last() != Some(&b'Z') {
        return None;
    }
    let fraction = &b[19..b.len() - 1];
    let fraction_ok = fraction.is_empty()
        || (fraction.len() >= 2
            && fraction[0] == b'.'
            && fraction[1..].iter().all(u8::is_ascii_digit));
    let (year, month, day) = (digits(0..4)?, digits(5..7)?, digits(8..10)?);
    let (hour, minute, second) = (digits(11..13)?, digits(14..16)?, digits(17..19)?);
    let leap = year % 4 == 0 && (year % 100 != 0 || year % 400 == 0);
    let month_days = match month {
        2 if leap => 29,
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        1..=12 => 31,
        _ => return None,
    };
    if !fraction_ok || !(1..=month_days).contains(&day) || hour > 23 || minute > 59 || second > 60 {
        return None;
    }
    Some(days_from_civil(year, month, day) * 86_400 + hour * 3600 + minute * 60 + second.min(59))
}

/// Days from 1970-01-01 to the given date of the proleptic Gregorian calendar (Howard
/// Hinnant's `days_from_civil`).
fn days_from_civil(year: i64, month: i64, day: i64) -> i64 {
    let y = if month <= 2 { year - 1 } else { year };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (month + 9) % 12;
    let doy = (153 * mp + 2) / 5 + day - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// A published post.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Post {
    /// Post id.
    pub id: i64,
    /// Channel id.
    pub channel_id: i64,
    /// Publication time, RFC 3339.
    pub published_at: String,
    /// What it is.
    pub kind: PostKind,
    /// The post's text.
    pub text: String,
}

/// Renames channel `channel_id` of `user`: `404` for an unknown channel, `403` for
/// another user's. Returns the channel as it is now.
///
/// ```
/// # #[tokio::main(flavor = "current_thread")] async fn main() {
/// use example_api::config::SeedConfig;
/// use example_api::services::writes::{self, ChannelChange};
///
/// let seed = SeedConfig { channels: 2, posts_per_channel: 1, days: 1, track_hours: 1 };
/// let db = example_api::Db::open("sqlite::memory:", 1, &seed).await.unwrap();
/// let users = db.users().await.unwrap(); // alice owns channel 1, bob channel 2
/// let change = ChannelChange::new(None, Some("Rust Weekly".into())).unwrap();
/// let channel = writes::rename_channel(&db, &users[0], 1, &change).await.unwrap();
/// assert_eq!(channel.title, "Rust Weekly");
/// let err = writes::rename_channel(&db, &users[1], 1, &change).await.unwrap_err();
/// assert_eq!(err.code(), "forbidden");
/// # }
/// ```
#[cache_runtime::performance_timer("channels_rename")]
#[cache_runtime::cache_invalidate(
    channels::user_channels(user),
    analytics::channel_summary(channel_id),
    // Every window's top posts show channel titles.
    cache = "demo_top_posts"
)]
pub async fn rename_channel(
    db: &Db,
    user: &User,
    channel_id: i64,
    change: &ChannelChange,
) -> Result<Channel, ApiError> {
    owned_channel(db, user, channel_id).await?;
    if !db
        .update_channel(channel_id, user.id, change.name(), change.title())
        .await?
    {
        return Err(gone(channel_id));
    }
    db.channel(channel_id)
        .await?
        .ok_or_else(|| gone(channel_id))
}

/// Publishes `post` in channel `channel_id` of `user`: `404` for an unknown channel,
/// `403` for another user's, `400` for a `published_at` before the channel was created
/// or more than [`MAX_CLOCK_SKEW_SECS`] in the future.
///
/// ```
/// # #[tokio::main(flavor = "current_thread")] async fn main() {
/// use example_api::config::SeedConfig;
/// use example_api::services::writes::{self, NewPost, PostKind};
///
/// let seed = SeedConfig { channels: 1, posts_per_channel: 1, days: 1, track_hours: 1 };
/// let db = example_api::Db::open("sqlite::memory:", 1, &seed).await.unwrap();
/// let alice = db.users().await.unwrap().remove(0);
/// let post = NewPost::new("Hello, readers".into(), PostKind::Text, None).unwrap();
/// let published = writes::publish_post(&db, &alice, 1, &post).await.unwrap();
/// assert_eq!(published.id, 2, "after the one seeded post");
/// assert_eq!(db.channel(1).await.unwrap().unwrap().posts, 2);
/// # }
/// ```
#[cache_runtime::performance_timer("posts_publish")]
#[cache_runtime::cache_invalidate(
    channels::user_channels(user),
    analytics::channel_summary(channel_id),
    // Its lifetime totals: the record of this channel in the batch cache.
    channel_metrics::channel_metrics(channel_id),
    // Every window may rank the new post.
    cache = "demo_top_posts"
)]
pub async fn publish_post(
    db: &Db,
    user: &User,
    channel_id: i64,
    post: &NewPost,
) -> Result<Post, ApiError> {
    let channel = owned_channel(db, user, channel_id).await?;
    let now = unix_now();
    let published_at = post.published_at.unwrap_or(now);
    if published_at < channel.created_at {
        return Err(ApiError::Conflict(format!(
            "`published_at` is before the channel was created ({})",
            rfc3339(channel.created_at)
        )));
    }
    if published_at > now + MAX_CLOCK_SKEW_SECS {
        return Err(ApiError::Conflict(format!(
            "`published_at` is in the future (now: {})",
            rfc3339(now)
        )));
    }
    let id = db
        .insert_post(
            channel_id,
            published_at,
            post.kind.as_str(),
            post.text.as_str(),
        )
        .await?;
    // One post more barely moves the best publishing times, an aggregate of every post:
    // expired rather than dropped, so that if recomputing it fails, the last one answers.
    analytics::best_times_entry().expire();
    Ok(Post {
        id,
        channel_id,
        published_at: rfc3339(published_at),
        kind: post.kind,
        text: post.text.as_str().to_owned(),
    })
}

/// The channel, if `user` owns it: `404` for an unknown one, `403` for another user's.
async fn owned_channel(db: &Db, user: &User, channel_id: i64) -> Result<Channel, ApiError> {
    let channel = db
        .channel(channel_id)
        .await?
        .ok_or_else(|| gone(channel_id))?;
    if channel.owner_id != user.id {
        return Err(ApiError::Forbidden(format!(
            "channel {channel_id} belongs to another user"
        )));
    }
    Ok(channel)
}

fn gone(channel_id: i64) -> ApiError {
    ApiError::NotFound(format!("channel {channel_id} does not exist"))
}

fn unix_now() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The error code of `result`, or `"ok"`.
    fn code<T>(result: Result<T, ApiError>) -> &'static str {
        result.err().map_or("ok", |e| e.code())
    }

    #[test]
    fn names_and_titles() {
        let name = |n: &str| ChannelChange::new(Some(n.into()), None);
        assert_eq!(code(name("abc")), "ok");
        assert_eq!(code(name(&"a".repeat(MAX_NAME_CHARS))), "ok");
        assert_eq!(
            code(name(&"a".repeat(MAX_NAME_CHARS + 1))),
            "payload_too_large"
        );
        for bad in [
            "",
            "ab",
            "1abc",
            "_abc",
            "abc-d",
            "ABC",
            "abc d",
            "caf\u{e9}",
        ] {
            assert_eq!(code(name(bad)), "bad_request", "{bad:?}");
        }
        let title = |t: &str| ChannelChange::new(None, Some(t.into()));
        assert_eq!(
            title("  Rust Weekly ")
                .ok()
                .as_ref()
                .and_then(ChannelChange::title),
            Some("Rust Weekly")
        );
        assert_eq!(code(title(" \t")), "bad_request");
        assert_eq!(code(title("a\u{7}b")), "bad_request");
        assert_eq!(
            code(title(&"\u{e9}".repeat(MAX_TITLE_CHARS))),
            "ok",
            "characters, not bytes"
        );
        assert_eq!(
            code(title(&"x".repeat(MAX_TITLE_CHARS + 1))),
            "payload_too_large"
        );
    }

    #[test]
    fn post_times_are_rfc3339_utc() {
        let at =
            |t: &str| NewPost::new("x".into(), PostKind::Photo, Some(t)).map(|p| p.published_at());
        assert_eq!(at("1970-01-01T00:00:00Z").ok(), Some(Some(0)));
        assert_eq!(at("2024-05-01T13:00:00.5Z").ok(), Some(Some(1_714_568_400)));
        assert_eq!(at("1969-12-31T23:59:59Z").ok(), Some(Some(-1)));
        assert_eq!(at("2000-02-29T00:00:00Z").ok(), Some(Some(951_782_400)));
        assert_eq!(at("2016-12-31T23:59:60Z").ok(), Some(Some(1_483_228_799)));
        assert_eq!(at("0000-01-01T00:00:00Z").ok(), Some(Some(-62_167_219_200)));
        for bad in [
            "",
            "2024-05-01",
            "2024-05-01T13:00:00+02:00",
            "2024-05-01T13:00:00+00:00",
            "2024-05-01t13:00:00z",
            "2024-05-01 13:00:00Z",
            "2024-05-01T13:00:00.Z",
            "2024-05-01T13:00:00",
            "2023-02-29T00:00:00Z",
            "2024-13-01T00:00:00Z",
            "2024-05-01T24:00:00Z",
            "2024-05-01T13:00:61Z",
            "２024-05-01T13:00:00Z",
            "1714568400",
        ] {
            assert_eq!(code(at(bad)), "bad_request", "{bad:?}");
        }
        assert_eq!(
            code(NewPost::new("a\0b".into(), PostKind::Text, None)),
            "bad_request"
        );
    }
}
