//! The remote tier's settings: the builder's Redis options (feature `redis`), which the
//! builder's Redis methods (`builder.rs`) set, their defaults, and the [`Config`] the tier
//! starts from.

use std::time::Duration;

use super::recovery::Limits;
use super::seal::{CacheSealing, Protection};

/// The default deadline of one Redis operation.
pub(crate) const DEFAULT_TIMEOUT: Duration = Duration::from_millis(50);
/// The default expiry of a `lock = true` lock: how long a computation may hold it, and how
/// long a lock whose holder died blocks the key.
pub(crate) const DEFAULT_LOCK_TTL: Duration = Duration::from_secs(10);

/// The remote tier's settings, from the builder.
#[derive(Clone, Debug)]
pub(crate) struct Config {
    pub(crate) url: String,
    pub(crate) deadline: Duration,
    pub(crate) lock_ttl: Duration,
    pub(crate) protection: Protection,
    pub(crate) recovery: Limits,
}

/// The Redis options of a `CacheRuntimeBuilder`.
#[derive(Clone, Debug)]
pub(crate) struct RemoteOptions {
    /// No URL: no remote tier.
    pub(super) url: Option<String>,
    pub(super) timeout: Duration,
    pub(super) lock_ttl: Duration,
    pub(super) protection: Protection,
    pub(super) recovery: Limits,
}

impl RemoteOptions {
    /// No URL, and the defaults of every other option.
    pub(crate) fn new() -> Self {
        Self {
            url: None,
            timeout: DEFAULT_TIMEOUT,
            lock_ttl: DEFAULT_LOCK_TTL,
            protection: Protection::default(),
            recovery: Limits::default(),
        }
    }

    /// The remote tier's settings (`None` without a URL), with the caches that replace the
    /// runtime's compression threshold or encryption: `(name, threshold, encrypt)`.
    pub(crate) fn config<'a>(
        self,
        caches: impl IntoIterator<Item = (&'a String, Option<usize>, Option<bool>)>,
    ) -> Option<Config> {
        let url = self.url?;
        let mut protection = self.protection;
        for (name, compress_threshold, encrypt) in caches {
            let c = CacheSealing {
                compress_threshold,
                encrypt,
            };
            if c != CacheSealing::default() {
                protection.caches.insert(name.clone(), c);
            }
        }
        Some(Config {
            url,
            deadline: self.timeout,
            lock_ttl: self.lock_ttl,
            protection,
            recovery: self.recovery,
        })
    }
}
