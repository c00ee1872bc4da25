//! The demonstration dataset: users, channels, posts and hourly view snapshots.
//!
//! Generated from a fixed random seed, so two databases seeded with the same
//! [`SeedConfig`] and end time hold the same rows (only the users' tokens differ: they are
//! secrets and come from the operating system's random source). Views follow a realistic
//! shape: each post gets a reach from its channel's size, its kind and the hour and weekday
//! it was published, and then decays hour by hour.

use crate::config::SeedConfig;

/// Rows to insert, in insertion order.
#[derive(Debug)]
pub(crate) struct SeedData {
    pub(crate) users: Vec<UserRow>,
    pub(crate) channels: Vec<ChannelRow>,
    pub(crate) posts: Vec<PostRow>,
    pub(crate) snapshots: Vec<SnapshotRow>,
}

#[derive(Debug)]
pub(crate) struct UserRow {
    pub(crate) id: i64,
    pub(crate) name: String,
    pub(crate) token: String,
}

#[derive(Debug)]
pub(crate) struct ChannelRow {
    pub(crate) id: i64,
    pub(crate) owner_id: i64,
    pub(crate) name: String,
    pub(crate) title: String,
    pub(crate) category: String,
    pub(crate) subscribers: i64,
    pub(crate) created_at: i64,
}

#[derive(Debug)]
pub(crate) struct PostRow {
    pub(crate) id: i64,
    pub(crate) channel_id: i64,
    pub(crate) published_at: i64,
    pub(crate) kind: String,
    pub(crate) text: String,
}

#[derive(Debug)]
pub(crate) struct SnapshotRow {
    pub(crate) post_id: i64,
    pub(crate) ts: i64,
    pub(crate) views: i64,
    pub(crate) reactions: i64,
    pub(crate) shares: i64,
}

/// Demo users. The last one owns no channel (an empty `/channels` answer).
const USERS: [&str; 4] = ["alice", "bob", "carol", "dave"];
const OWNERS: i64 = 3;

const CATEGORIES: [(&str, &str, &[&str]); 6] = [
    (
        "tech",
        "Tech",
        &["#rust", "#programming", "#ai", "#opensource"],
    ),
    (
        "travel",
        "Travel",
        &["#travel", "#wanderlust", "#photography"],
    ),
    ("food", "Food", &["#food", "#recipe", "#homecooking"]),
    (
        "finance",
        "Finance",
        &["#investing", "#markets", "#personalfinance"],
    ),
    ("sports", "Sports", &["#football", "#running", "#fitness"]),
    ("science", "Science", &["#science", "#space", "#research"]),
];
const ADJECTIVES: [&str; 6] = ["Daily", "Weekly", "Insider", "Digest", "Lab", "Notes"];

const OPENERS: [&str; 8] = [
    "Big news today:",
    "Quick tip:",
    "We tested it so you don't have to.",
    "Thread:",
    "Unpopular opinion:",
    "This week in review.",
    "Have you seen this?",
    "Finally here!",
];
const BODIES: [&str; 8] = [
    "the new release is faster, simpler and easier to learn than anything before it",
    "three small habits that made a huge difference for our readers this month",
    "a short guide with practical steps you can try in five minutes",
    "we compared the popular options and the results surprised the whole team",
    "what went wrong, what we learned and what we would do differently next time",
    "an honest review after thirty days of daily use",
    "the best places, tools and ideas our community recommended",
    "why the experts disagree and what it means for you",
];
const CLOSERS: [&str; 6] = [
    "What do you think? Tell us in the comments.",
    "Share it with a friend who needs this.",
    "Full story at the link in our profile.",
    "Save this post for later.",
    "More tomorrow.",
    "",
];
const EMOJI: [&str; 8] = ["🚀", "🔥", "✨", "📈", "💡", "🎉", "👀", "✅"];

/// Relative reach of a post by the UTC hour it was published: an evening peak, a smaller
/// morning one, and a quiet night.
fn hour_factor(hour: i64) -> f64 {
    const F: [f64; 24] = [
        0.35, 0.25, 0.2, 0.2, 0.25, 0.35, 0.55, 0.8, 1.05, 1.1, 0.95, 0.9, 1.0, 0.95, 0.9, 0.95,
        1.05, 1.2, 1.4, 1.5, 1.35, 1.1, 0.8, 0.55,
    ];
    F[hour.rem_euclid(24) as usize]
}

/// Relative reach by weekday (0 = Sunday): mid-week is best, Saturday worst.
fn weekday_factor(weekday: i64) -> f64 {
    const F: [f64; 7] = [0.85, 1.0, 1.15, 1.2, 1.1, 0.95, 0.75];
    F[weekday.rem_euclid(7) as usize]
}

/// Publication hours are drawn with these weights (people post more by day).
const POSTING_WEIGHTS: [u32; 24] = [
    1, 1, 1, 1, 1, 2, 3, 5, 7, 8, 8, 7, 7, 7, 6, 6, 7, 8, 9, 9, 8, 6, 4, 2,
];

/// Generates the dataset ending at `end` (Unix seconds, on the hour).
pub(crate) fn generate(config: &SeedConfig, end: i64) -> SeedData {
    let mut rng = fastrand::Rng::with_seed(0x5EED_CAFE);
    let users = USERS
        .iter()
        .enumerate()
        .map(|(i, name)| UserRow {
            id: i as i64 + 1,
            name: (*name).to_owned(),
            token: format!("demo-{name}-{}", random_hex(16)),
        })
        .collect();

    let mut channels = Vec::new();
    let mut posts = Vec::new();
    let mut snapshots = Vec::new();
    let days = i64::from(config.days.max(1));
    let track = i64::from(config.track_hours.max(1));
    let weight_total: u32 = POSTING_WEIGHTS.iter().sum();

    for c in 0..i64::from(config.channels) {
        let (slug, title, tags) = CATEGORIES[c as usize % CATEGORIES.len()];
        let adjective = ADJECTIVES[(c as usize / CATEGORIES.len()) % ADJECTIVES.len()];
        // Log-uniform between 1k and 500k subscribers.
        let subscribers = (1000.0 * 500f64.powf(rng.f64())) as i64;
        let channel_id = c + 1;
        channels.push(ChannelRow {
            id: channel_id,
            owner_id: c % OWNERS + 1,
            name: format!("{slug}_{}_{channel_id}", adjective.to_lowercase()),
            title: format!("{title} {adjective} #{channel_id}"),
            category: slug.to_owned(),
            subscribers,
            created_at: end - (days + rng.i64(30..700)) * 86_400,
        });
        let reach_rate = 0.05 + rng.f64() * 0.3;

        for _ in 0..config.posts_per_channel {
            let post_id = posts.len() as i64 + 1;
            let day_start = end - end % 86_400 - rng.i64(0..days) * 86_400;
            let hour = pick_hour(&mut rng, weight_total);
            let published_at = (day_start + hour * 3600 + rng.i64(0..3600)).min(end - 60);
            let (kind, kind_factor) = match rng.u32(0..10) {
                0..=4 => ("text", 0.8),
                5..=7 => ("photo", 1.1),
                _ => ("video", 1.5),
            };
            posts.push(PostRow {
                id: post_id,
                channel_id,
                published_at,
                kind: kind.to_owned(),
                text: post_text(&mut rng, tags),
            });

            let weekday = (published_at / 86_400 + 4) % 7;
            let reach = subscribers as f64
                * reach_rate
                * kind_factor
                * hour_factor(published_at / 3600 % 24)
                * weekday_factor(weekday)
                * (0.5 + rng.f64());
            let reaction_rate = 0.01 + rng.f64() * 0.05;
            let share_rate = 0.002 + rng.f64() * 0.008;
            let first_hour_end = (published_at / 3600 + 1) * 3600;
            for h in 0..track {
                let ts = first_hour_end + h * 3600;
                if ts > end {
                    break;
                }
                // Most views arrive in the first hours, then a long tail.
                let share = 0.22 * 0.78f64.powi(h as i32) + 0.004 * 0.99f64.powi(h as i32);
                let views = (reach * share * (0.8 + 0.4 * rng.f64())).round() as i64;
                snapshots.push(SnapshotRow {
                    post_id,
                    ts,
                    views,
                    reactions: (views as f64 * reaction_rate).round() as i64,
                    shares: (views as f64 * share_rate).round() as i64,
                });
            }
        }
    }
    SeedData {
        users,
        channels,
        posts,
        snapshots,
    }
}

fn pick_hour(rng: &mut fastrand::Rng, weight_total: u32) -> i64 {
    let mut x = rng.u32(0..weight_total);
    for (hour, w) in POSTING_WEIGHTS.iter().enumerate() {
        if x < *w {
            return hour as i64;
        }
        x -= w;
    }
    12
}

fn post_text(rng: &mut fastrand::Rng, tags: &[&str]) -> String {
    let mut text = format!(
        "{} {} {}",
        OPENERS[rng.usize(..OPENERS.len())],
        BODIES[rng.usize(..BODIES.len())],
        EMOJI[rng.usize(..EMOJI.len())]
    );
    let closer = CLOSERS[rng.usize(..CLOSERS.len())];
    if !closer.is_empty() {
        text.push(' ');
        text.push_str(closer);
    }
    for tag in tags.iter().filter(|_| rng.bool()) {
        text.push(' ');
        text.push_str(tag);
    }
    text
}

/// `bytes` random bytes from the operating system, hex encoded.
pub(crate) fn random_hex(bytes: usize) -> String {
    let mut buf = vec![0u8; bytes];
    if getrandom::fill(&mut buf).is_err() {
        // No OS randomness (should not happen): fall back to a time-seeded generator.
        let mut rng = fastrand::Rng::new();
        rng.fill(&mut buf);
    }
    buf.iter().map(|b| format!("{b:02x}")).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn small() -> SeedConfig {
        SeedConfig {
            channels: 5,
            posts_per_channel: 4,
            days: 3,
            track_hours: 48,
        }
    }

    #[test]
    fn same_config_same_rows() {
        let end = 1_700_000_000 / 3600 * 3600;
        let a = generate(&small(), end);
        let b = generate(&small(), end);
        assert_eq!(a.posts.len(), 20);
        assert_eq!(a.channels.len(), 5);
        assert_eq!(a.snapshots.len(), b.snapshots.len());
        assert!(
            a.snapshots
                .iter()
                .zip(&b.snapshots)
                .all(|(x, y)| (x.post_id, x.ts, x.views) == (y.post_id, y.ts, y.views))
        );
        assert_ne!(a.users[0].token, b.users[0].token, "tokens are secrets");
    }

    #[test]
    fn snapshots_stay_within_the_dataset() {
        let end = 1_700_000_000 / 3600 * 3600;
        let data = generate(&small(), end);
        assert!(
            data.snapshots
                .iter()
                .all(|s| s.ts <= end && s.ts % 3600 == 0)
        );
        assert!(data.posts.iter().all(|p| p.published_at < end));
        assert!(
            data.channels
                .iter()
                .all(|c| (1..=OWNERS).contains(&c.owner_id))
        );
    }
}
