//! Many channels' lifetime metrics in one call (`GET /analytics/channels/metrics?ids=..`):
//! a `#[cache_batch]` function, so each channel is its own cache entry and one query
//! reads only the channels no tier holds.
//!
//! These records are not the single-channel endpoint's: `analytics_summary` caches a whole
//! [`ChannelSummary`](super::analytics::ChannelSummary) (five queries, recent views, the
//! top post), this cache a channel's lifetime totals, so the two share no entries. Both
//! are tagged `channel:{id}` and dropped by the same writes.

use std::collections::HashMap;

use serde::{Deserialize, Serialize};

use crate::db::Db;
use crate::error::ApiError;

/// Most channels one request may name.
pub const MAX_IDS: usize = 100;

/// One channel's lifetime totals.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct ChannelMetrics {
    /// The channel.
    pub channel_id: i64,
    /// Posts in the channel.
    pub posts: i64,
    /// Lifetime views of its posts.
    pub total_views: i64,
    /// Lifetime reactions.
    pub total_reactions: i64,
    /// Lifetime shares.
    pub total_shares: i64,
    /// (reactions + shares) / views, in percent.
    pub engagement_rate_pct: f64,
}

/// The answer of the batch endpoint: the channels found, in the order asked, and the ids
/// that name no channel.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct ChannelMetricsBatch {
    /// The channels found.
    pub channels: Vec<ChannelMetrics>,
    /// Requested ids that name no channel.
    pub missing: Vec<i64>,
}

/// The ids of `?ids=1,2,3`: 1 to [`MAX_IDS`] channel ids, each a positive integer
/// (repeats are answered once).
pub fn parse_ids(raw: &str) -> Result<Vec<i64>, ApiError> {
    let bad = |why: String| ApiError::BadRequest(format!("`ids`: {why}"));
    let parts: Vec<&str> = raw.split(',').map(str::trim).collect();
    if raw.trim().is_empty() {
        return Err(bad("give 1 to 100 channel ids, e.g. `ids=1,2,3`".into()));
    }
    if parts.len() > MAX_IDS {
        return Err(bad(format!(
            "at most {MAX_IDS} ids per request, got {}",
            parts.len()
        )));
    }
    let mut ids = Vec::with_capacity(parts.len());
    for part in parts {
        match part.parse::<i64>() {
            Ok(id) if id > 0 => {
                if !ids.contains(&id) {
                    ids.push(id);
                }
            }
            _ => {
                return Err(bad(format!(
                    "`{part}` is not a channel id (a positive integer)"
                )));
            }
        }
    }
    Ok(ids)
}

/// The metrics of the channels among `ids` that exist, in the order asked.
pub async fn channel_metrics_batch(db: &Db, ids: &[i64]) -> Result<ChannelMetricsBatch, ApiError> {
    let mut found = channel_metrics(db, ids).await?;
    let mut batch = ChannelMetricsBatch {
        channels: Vec::with_capacity(ids.len()),
        missing: Vec::new(),
    };
    for id in ids {
        match found.remove(id) {
            Some(m) => batch.channels.push(m),
            None => batch.missing.push(*id),
        }
    }
    Ok(batch)
}

/// Each channel's metrics, one cache entry per channel; the body runs one query for the
/// channels no tier holds. Ids that name no channel are remembered for 30 s.
#[cache_runtime::cache_batch(
    "channel_metrics",
    ttl = 180,
    missing_ttl = "30s",
    skip(db),
    tags = |id, _metrics| [format!("channel:{id}")]
)]
pub async fn channel_metrics(
    db: &Db,
    ids: &[i64],
) -> Result<HashMap<i64, ChannelMetrics>, ApiError> {
    let totals = db.channels_totals(ids).await?;
    Ok(totals
        .into_iter()
        .map(|(id, t)| {
            let metrics = ChannelMetrics {
                channel_id: id,
                posts: t.posts,
                total_views: t.views,
                total_reactions: t.reactions,
                total_shares: t.shares,
                engagement_rate_pct: super::analytics::engagement_pct(
                    t.reactions + t.shares,
                    t.views,
                ),
            };
            (id, metrics)
        })
        .collect())
}

#[cfg(test)]
mod tests {
    use super::parse_ids;

    #[test]
    fn ids_are_validated() {
        assert_eq!(parse_ids("1, 2,2,3").ok(), Some(vec![1, 2, 3]));
        assert!(parse_ids("").is_err());
        assert!(parse_ids("1,x").is_err());
        assert!(parse_ids("0").is_err());
        assert!(parse_ids(&vec!["1"; 101].join(",")).is_err());
        assert_eq!(parse_ids(&vec!["7"; 100].join(",")).ok(), Some(vec![7]));
    }
}
