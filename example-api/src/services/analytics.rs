//! Analytics over the seeded posts: views over time, top posts, best posting times, and
//! one channel's summary. Times are relative to the dataset's end ([`Db::dataset_end`]).
//!
//! The cached functions return [`CachedJson`]: the answer is serialized once, when it is
//! computed, and every hit hands the same bytes to the response.

use cache_runtime::CachedJson;
use serde::{Deserialize, Serialize};

use crate::db::{Channel, Db, PostTotals, TimeSlot};
use crate::error::ApiError;
use crate::services::rfc3339;

/// Longest window of `post-dynamics` and `top-posts`.
pub const MAX_HOURS: u32 = 24 * 90;
/// Windows up to this many hours may be any whole number of hours; longer ones must be
/// whole days. Each window is a cache entry of its own, so this bounds the windows one can
/// ask for (and the computations a client can force by varying it) to
/// [`WINDOWS`] instead of [`MAX_HOURS`].
pub const HOURLY_UP_TO: u32 = 24 * 7;
/// How many distinct windows there are: 1..=168 hours, then 8..=90 days.
pub const WINDOWS: u32 = HOURLY_UP_TO + (MAX_HOURS - HOURLY_UP_TO) / 24;
/// Largest `limit` of `top-posts`.
pub const MAX_LIMIT: u32 = 100;

/// The `period` values [`Hours::parse_period`] accepts, as a regular expression (for the
/// OpenAPI description): `1h` to `168h`, `1d` to `90d`.
pub const PERIOD_PATTERN: &str =
    "^(?:(?:[1-9]|[1-9][0-9]|1[0-5][0-9]|16[0-8])h|(?:[1-9]|[1-8][0-9]|90)d)$";
/// `hours` of `post-dynamics` when the query gives none.
pub const DEFAULT_HOURS: u32 = 24;
/// `period` of `top-posts` when the query gives none.
pub const DEFAULT_PERIOD: &str = "7d";
/// `limit` of `top-posts` when the query gives none.
pub const DEFAULT_LIMIT: u32 = 10;

/// Views over time.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct PostDynamics {
    /// The window, in hours.
    pub hours: u32,
    /// Start of the window (exclusive), RFC 3339.
    pub from: String,
    /// End of the window (inclusive), RFC 3339.
    pub to: String,
    /// Views in the window.
    pub total_views: i64,
    /// Reactions in the window.
    pub total_reactions: i64,
    /// Percent change of views in the second half of the window against the first half.
    pub trend_pct: Option<f64>,
    /// The hour with the most views.
    pub peak: Option<DynamicsPoint>,
    /// One point per hour, oldest first.
    pub points: Vec<DynamicsPoint>,
}

/// One hour of [`PostDynamics`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct DynamicsPoint {
    /// End of the hour, RFC 3339.
    pub time: String,
    /// Views gained in the hour.
    pub views: i64,
    /// Reactions gained in the hour.
    pub reactions: i64,
    /// Posts that gained views in the hour.
    pub active_posts: i64,
}

/// A validated window length in hours: 1 ..= [`HOURLY_UP_TO`], or whole days up to
/// [`MAX_HOURS`]. Parameters are checked before they reach a cached function, so bad
/// input never becomes a cache lookup.
///
/// ```
/// use example_api::services::analytics::Hours;
/// assert_eq!(Hours::new(36, "hours").unwrap().get(), 36);
/// assert_eq!(Hours::new(240, "hours").unwrap().get(), 240);
/// let err = Hours::new(200, "hours").unwrap_err().to_string();
/// assert!(err.contains("192 or 216"), "{err}");
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(transparent)]
pub struct Hours(u32);

impl Hours {
    /// `hours` if it is a served window; `400` naming `field` otherwise.
    pub fn new(hours: u32, field: &str) -> Result<Self, ApiError> {
        if !(1..=MAX_HOURS).contains(&hours) {
            return Err(ApiError::BadRequest(format!(
                "`{field}` must be between 1 and {MAX_HOURS} hours, got {hours}"
            )));
        }
        if hours > HOURLY_UP_TO && !hours.is_multiple_of(24) {
            let below = hours / 24 * 24;
            let above = (below + 24).min(MAX_HOURS);
            return Err(ApiError::BadRequest(format!(
                "`{field}` above {HOURLY_UP_TO} hours must be whole days (a multiple of 24), \
                 e.g. {below} or {above}; got {hours}"
            )));
        }
        Ok(Self(hours))
    }

    /// Parses a window such as `24h`, `7d` or `30d`: whole hours up to 7 days (`1h` to
    /// `168h`), or whole days up to 90 (`1d` to `90d`); digits without a leading zero, then
    /// the unit. Exactly the strings [`PERIOD_PATTERN`] matches.
    pub fn parse_period(period: &str) -> Result<Self, ApiError> {
        let bad = || {
            ApiError::BadRequest(format!(
                "`period` must be like 24h, 7d or 30d (1h to 168h, or 1d to 90d), got `{period}`"
            ))
        };
        let (digits, hours_per_unit) = match (period.strip_suffix('h'), period.strip_suffix('d')) {
            (Some(digits), _) => (digits, 1),
            (_, Some(digits)) => (digits, 24),
            _ => return Err(bad()),
        };
        let well_formed = (1..=3).contains(&digits.len())
            && !digits.starts_with('0')
            && digits.bytes().all(|b| b.is_ascii_digit());
        let count: u32 = digits
            .parse()
            .ok()
            .filter(|_| well_formed)
            .ok_or_else(bad)?;
        let most = if hours_per_unit == 1 {
            HOURLY_UP_TO
        } else {
            MAX_HOURS / 24
        };
        if count > most {
            return Err(bad());
        }
        Self::new(count * hours_per_unit, "period").map_err(|_| bad())
    }

    /// The number of hours.
    pub fn get(self) -> u32 {
        self.0
    }

    fn seconds(self) -> i64 {
        i64::from(self.0) * 3600
    }
}

/// A validated `limit` (1 ..= [`MAX_LIMIT`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(transparent)]
pub struct Limit(u32);

impl Limit {
    /// `limit` if it is in range; `400` otherwise.
    pub fn new(limit: u32) -> Result<Self, ApiError> {
        if (1..=MAX_LIMIT).contains(&limit) {
            Ok(Self(limit))
        } else {
            Err(ApiError::BadRequest(format!(
                "`limit` must be between 1 and {MAX_LIMIT}"
            )))
        }
    }
}

/// Views per hour over all channels for the `hours` before the dataset's end.
#[cache_runtime::performance_timer("analytics_post_dynamics")]
#[cache_runtime::cache_result("demo_post_dynamics", ttl = 300, skip(db), max_concurrent = 2)]
pub async fn post_dynamics(db: &Db, hours: Hours) -> Result<CachedJson<PostDynamics>, ApiError> {
    json(&compute_post_dynamics(db, hours).await?)
}

async fn compute_post_dynamics(db: &Db, hours: Hours) -> Result<PostDynamics, ApiError> {
    let end = db.dataset_end();
    let start = end - hours.seconds();
    let rows = db.hourly_views(start, end).await?;
    let points: Vec<DynamicsPoint> = rows
        .iter()
        .map(|r| DynamicsPoint {
            time: rfc3339(r.ts),
            views: r.views,
            reactions: r.reactions,
            active_posts: r.active_posts,
        })
        .collect();
    let half = rows.len() / 2;
    let first: i64 = rows[..half].iter().map(|r| r.views).sum();
    let second: i64 = rows[half..].iter().map(|r| r.views).sum();
    Ok(PostDynamics {
        hours: hours.get(),
        from: rfc3339(start),
        to: rfc3339(end),
        total_views: rows.iter().map(|r| r.views).sum(),
        total_reactions: rows.iter().map(|r| r.reactions).sum(),
        trend_pct: (first > 0).then(|| round1((second - first) as f64 * 100.0 / first as f64)),
        peak: points.iter().max_by_key(|p| p.views).cloned(),
        points,
    })
}

/// The most viewed posts.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct TopPosts {
    /// The window as asked, e.g. `7d`.
    pub period: String,
    /// Posts published after this time are ranked, RFC 3339.
    pub since: String,
    /// Posts, most viewed first.
    pub posts: Vec<RankedPost>,
}

/// One post of [`TopPosts`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct RankedPost {
    /// 1-based rank.
    pub rank: usize,
    /// Post id.
    pub id: i64,
    /// Channel id.
    pub channel_id: i64,
    /// Channel title.
    pub channel_title: String,
    /// Publication time, RFC 3339.
    pub published_at: String,
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
    /// (reactions + shares) / views, in percent.
    pub engagement_rate_pct: f64,
}

impl RankedPost {
    fn new(rank: usize, p: PostTotals) -> Self {
        Self {
            rank,
            engagement_rate_pct: engagement_pct(p.reactions + p.shares, p.views),
            id: p.id,
            channel_id: p.channel_id,
            channel_title: p.channel_title,
            published_at: rfc3339(p.published_at),
            kind: p.kind,
            text: p.text,
            views: p.views,
            reactions: p.reactions,
            shares: p.shares,
        }
    }
}

/// The `limit` most viewed posts published in the `hours` before the dataset's end.
#[cache_runtime::performance_timer("analytics_top_posts")]
#[cache_runtime::cache_result("demo_top_posts", ttl = 600, skip(db), max_concurrent = 2)]
pub async fn top_posts(
    db: &Db,
    period: Hours,
    limit: Limit,
) -> Result<CachedJson<TopPosts>, ApiError> {
    json(&compute_top_posts(db, period, limit).await?)
}

async fn compute_top_posts(db: &Db, period: Hours, limit: Limit) -> Result<TopPosts, ApiError> {
    let since = db.dataset_end() - period.seconds();
    let rows = db.top_posts(since, None, i64::from(limit.0)).await?;
    Ok(TopPosts {
        period: format_period(period.get()),
        since: rfc3339(since),
        posts: rows
            .into_iter()
            .enumerate()
            .map(|(i, p)| RankedPost::new(i + 1, p))
            .collect(),
    })
}

fn format_period(hours: u32) -> String {
    if hours.is_multiple_of(24) {
        format!("{}d", hours / 24)
    } else {
        format!("{hours}h")
    }
}

/// When to post.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct BestTimes {
    /// Always `UTC`.
    pub timezone: String,
    /// Posts analysed.
    pub posts_analyzed: i64,
    /// The three best hours of the day, best first.
    pub best_hours: Vec<SlotScore>,
    /// The three best weekdays, best first.
    pub best_weekdays: Vec<SlotScore>,
    /// The five best weekday-and-hour slots with at least two posts, best first.
    pub best_slots: Vec<SlotScore>,
    /// Every hour of the day, 0..=23.
    pub by_hour: Vec<SlotScore>,
    /// Every weekday, Sunday first.
    pub by_weekday: Vec<SlotScore>,
}

/// Performance of posts published in one slot.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct SlotScore {
    /// e.g. `18:00`, `Tuesday` or `Tuesday 18:00`.
    pub slot: String,
    /// Hour of day, if the slot has one.
    pub hour: Option<i64>,
    /// Weekday (0 = Sunday), if the slot has one.
    pub weekday: Option<i64>,
    /// Posts published in the slot.
    pub posts: i64,
    /// Average lifetime views per post.
    pub avg_views: f64,
    /// (reactions + shares) / views, in percent.
    pub engagement_rate_pct: f64,
}

const WEEKDAYS: [&str; 7] = [
    "Sunday",
    "Monday",
    "Tuesday",
    "Wednesday",
    "Thursday",
    "Friday",
    "Saturday",
];

/// Best hours and weekdays to publish, from every post's lifetime views.
#[cache_runtime::performance_timer("analytics_best_times", slow = "500ms")]
#[cache_runtime::cache_result(
    "demo_best_times",
    ttl = 1800,
    stale_if_error = "1h",
    skip(db),
    max_concurrent = 1,
    lock = true
)]
pub async fn best_times(db: &Db) -> Result<CachedJson<BestTimes>, ApiError> {
    json(&compute_best_times(db).await?)
}

async fn compute_best_times(db: &Db) -> Result<BestTimes, ApiError> {
    let slots = db.publication_slots().await?;
    let sum = |filter: &dyn Fn(&TimeSlot) -> bool| {
        slots
            .iter()
            .filter(|s| filter(s))
            .fold((0, 0, 0), |(p, v, i), s| {
                (p + s.posts, v + s.views, i + s.interactions)
            })
    };
    let by_hour: Vec<SlotScore> = (0..24)
        .map(|h| score(format!("{h:02}:00"), Some(h), None, sum(&|s| s.hour == h)))
        .collect();
    let by_weekday: Vec<SlotScore> = (0..7)
        .map(|d| {
            score(
                WEEKDAYS[d as usize].into(),
                None,
                Some(d),
                sum(&|s| s.weekday == d),
            )
        })
        .collect();
    let slot_scores: Vec<SlotScore> = slots
        .iter()
        .filter(|s| s.posts >= 2)
        .map(|s| {
            score(
                format!(
                    "{} {:02}:00",
                    WEEKDAYS[s.weekday.rem_euclid(7) as usize],
                    s.hour
                ),
                Some(s.hour),
                Some(s.weekday),
                (s.posts, s.views, s.interactions),
            )
        })
        .collect();
    Ok(BestTimes {
        timezone: "UTC".into(),
        posts_analyzed: slots.iter().map(|s| s.posts).sum(),
        best_hours: best(by_hour.clone(), 3),
        best_weekdays: best(by_weekday.clone(), 3),
        best_slots: best(slot_scores, 5),
        by_hour,
        by_weekday,
    })
}

fn score(
    slot: String,
    hour: Option<i64>,
    weekday: Option<i64>,
    (posts, views, interactions): (i64, i64, i64),
) -> SlotScore {
    SlotScore {
        slot,
        hour,
        weekday,
        posts,
        avg_views: if posts == 0 {
            0.0
        } else {
            round1(views as f64 / posts as f64)
        },
        engagement_rate_pct: engagement_pct(interactions, views),
    }
}

fn best(mut list: Vec<SlotScore>, n: usize) -> Vec<SlotScore> {
    list.retain(|s| s.posts > 0);
    list.sort_by(|a, b| {
        b.avg_views
            .total_cmp(&a.avg_views)
            .then_with(|| a.slot.cmp(&b.slot))
    });
    list.truncate(n);
    list
}

/// One channel's summary.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct ChannelSummary {
    /// The channel.
    pub channel: Channel,
    /// Lifetime views of its posts.
    pub total_views: i64,
    /// Lifetime reactions.
    pub total_reactions: i64,
    /// Lifetime shares.
    pub total_shares: i64,
    /// Views per post.
    pub avg_views_per_post: f64,
    /// (reactions + shares) / views, in percent.
    pub engagement_rate_pct: f64,
    /// Views per subscriber, in percent.
    pub reach_pct: f64,
    /// Views in the last 24 hours of the dataset.
    pub views_last_24h: i64,
    /// Views in the 24 hours before those.
    pub views_previous_24h: i64,
    /// Change between the two, in percent.
    pub growth_pct: Option<f64>,
    /// The channel's most viewed post.
    pub top_post: Option<RankedPost>,
    /// The dataset's end, RFC 3339.
    pub as_of: String,
}

/// A channel's summary; `404` for an unknown channel.
#[cache_runtime::performance_timer("analytics_metrics_retrieval", slow = "250ms")]
// With Redis, an instance keeps its copy 30 s and then reads Redis's (at most 30 s behind
// another instance's change even without the backplane); when the database fails, the
// last summary answers for 10 minutes, and the database is asked again every 5 s only.
#[cache_runtime::cache_result(
    "analytics_summary",
    ttl = 180,
    local_ttl = "30s",
    stale_if_error = "10m",
    fail_throttle = "5s",
    skip(db),
    tags = [format!("channel:{channel_id}")]
)]
pub async fn channel_summary(
    db: &Db,
    channel_id: i64,
) -> Result<CachedJson<ChannelSummary>, ApiError> {
    json(&compute_channel_summary(db, channel_id).await?)
}

async fn compute_channel_summary(db: &Db, channel_id: i64) -> Result<ChannelSummary, ApiError> {
    let channel = db
        .channel(channel_id)
        .await?
        .ok_or_else(|| ApiError::NotFound(format!("channel {channel_id} does not exist")))?;
    let end = db.dataset_end();
    let totals = db.channel_totals(channel_id).await?;
    let last = db
        .channel_views_between(channel_id, end - 86_400, end)
        .await?;
    let previous = db
        .channel_views_between(channel_id, end - 2 * 86_400, end - 86_400)
        .await?;
    let top_post = db
        .top_posts(0, Some(channel_id), 1)
        .await?
        .into_iter()
        .next()
        .map(|p| RankedPost::new(1, p));
    Ok(ChannelSummary {
        avg_views_per_post: if totals.posts == 0 {
            0.0
        } else {
            round1(totals.views as f64 / totals.posts as f64)
        },
        engagement_rate_pct: engagement_pct(totals.reactions + totals.shares, totals.views),
        reach_pct: if channel.subscribers == 0 {
            0.0
        } else {
            round1(totals.views as f64 * 100.0 / channel.subscribers as f64)
        },
        channel,
        total_views: totals.views,
        total_reactions: totals.reactions,
        total_shares: totals.shares,
        views_last_24h: last,
        views_previous_24h: previous,
        growth_pct: (previous > 0)
            .then(|| round1((last - previous) as f64 * 100.0 / previous as f64)),
        top_post,
        as_of: rfc3339(end),
    })
}

pub(crate) fn engagement_pct(interactions: i64, views: i64) -> f64 {
    if views == 0 {
        0.0
    } else {
        (interactions as f64 * 10_000.0 / views as f64).round() / 100.0
    }
}

fn round1(x: f64) -> f64 {
    (x * 10.0).round() / 10.0
}

/// The JSON body of a computed answer.
fn json<T: Serialize>(value: &T) -> Result<CachedJson<T>, ApiError> {
    CachedJson::new(value).map_err(|e| ApiError::Internal(format!("serializing the answer: {e}")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn periods() {
        let hours = |p| Hours::parse_period(p).ok().map(Hours::get);
        assert_eq!(hours("24h"), Some(24));
        assert_eq!(hours("7d"), Some(168));
        assert_eq!(hours("90d"), Some(MAX_HOURS));
        assert_eq!(hours("169h"), None, "above 7 days: whole days only");
        assert_eq!(hours("8d"), Some(192));
        assert_eq!(hours("1h"), Some(1));
        assert_eq!(hours("168h"), Some(168));
        assert_eq!(hours("1d"), Some(24));
        for bad in [
            "", "0h", "91d", "soon", "90m", "-1d", "200h", "192h", "024h", "h", "1d 12h",
            "24hours", " 24h", "24h ", "+1d", "1000d", "24H", "１h",
        ] {
            assert!(Hours::parse_period(bad).is_err(), "{bad}");
        }
        assert!(Hours::new(0, "hours").is_err());
        let served: Vec<u32> = (0..=MAX_HOURS + 24)
            .filter(|h| Hours::new(*h, "hours").is_ok())
            .collect();
        assert_eq!(served.len(), WINDOWS as usize);
        assert_eq!(WINDOWS, 168 + 83);
        assert_eq!(served.last(), Some(&MAX_HOURS));
        assert!(served.contains(&167) && served.contains(&168) && !served.contains(&169));
        assert!(Limit::new(0).is_err() && Limit::new(MAX_LIMIT + 1).is_err());
        assert_eq!(format_period(168), "7d");
        assert_eq!(format_period(36), "36h");
    }
}
