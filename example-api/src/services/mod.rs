//! The service layer: the functions that carry `#[cache_result]` and
//! `#[performance_timer]`. Routes call these and do nothing else of substance.

pub mod ai;
pub mod analytics;
pub mod analyzer;
pub mod channel_metrics;
pub mod channels;
pub mod performance;
pub mod warming;
pub mod writes;

/// Every cache the service defines: the one list of their names, as each
/// `#[cache_result("NAME", ...)]` (or `#[cache_batch("NAME", ...)]`) gives it (TTLs and options stay in the attributes).
/// Start-up checks `--cache-ttl` and `--cache-disable` against it, the admin API's
/// invalidation accepts these names, and `/performance` lists them when caching is off.
pub const CACHES: &[&str] = &[
    "demo_post_dynamics",
    "demo_top_posts",
    "demo_best_times",
    "analytics_summary",
    "channel_metrics",
    "user_channels",
    "ai_content_analysis",
];

/// Whether `name` is one of [`CACHES`].
pub fn is_cache_name(name: &str) -> bool {
    CACHES.contains(&name)
}

/// `ts` (Unix seconds, UTC) as RFC 3339, e.g. `2024-05-01T13:00:00Z`.
pub fn rfc3339(ts: i64) -> String {
    // Howard Hinnant's civil-from-days.
    let days = ts.div_euclid(86_400);
    let secs = ts.rem_euclid(86_400);
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}Z",
        secs / 3600,
        secs / 60 % 60,
        secs % 60
    )
}

#[cfg(test)]
mod tests {
    #[test]
    fn rfc3339_formats_utc() {
        assert_eq!(super::rfc3339(0), "1970-01-01T00:00:00Z");
        assert_eq!(super::rfc3339(1_700_000_000), "2023-11-14T22:13:20Z");
        assert_eq!(super::rfc3339(951_782_400), "2000-02-29T00:00:00Z");
    }

    /// [`super::CACHES`] names exactly the caches of the `#[cache_result]` attributes.
    #[test]
    fn caches_lists_every_cache_result() {
        let sources = [
            include_str!("ai.rs"),
            include_str!("analytics.rs"),
            include_str!("channel_metrics.rs"),
            include_str!("channels.rs"),
            include_str!("performance.rs"),
            include_str!("warming.rs"),
            include_str!("writes.rs"),
        ];
        let mut named: Vec<&str> = sources
            .iter()
            .flat_map(|source| {
                let results = source.split("cache_result(").skip(1);
                results.chain(source.split("cache_batch(").skip(1))
            })
            .filter_map(|rest| rest.trim_start().strip_prefix('"')?.split('"').next())
            .collect();
        named.sort_unstable();
        let mut listed = super::CACHES.to_vec();
        listed.sort_unstable();
        assert_eq!(named, listed);
    }
}
