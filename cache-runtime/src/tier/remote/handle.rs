//! [`Remote`]: the one seam between the orchestrator and Redis. Without the `redis`
//! feature, or without a URL, it holds nothing and every method is a no-op (or, where the
//! orchestrator first asks [`Remote::is_on`], unreachable), so `cache/` needs no `cfg`.

use std::sync::Weak;
use std::time::Duration;

use super::message::Subscriber;
use super::types::{Fail, Locked, Read, Write};
use super::{Config, On, Stamp};
use crate::stats::RuntimeStats;

/// The remote tier of one runtime, or its absence.
pub(crate) struct Remote(Option<On>);

impl Remote {
    /// The tier for `config` (none: no remote tier). An invalid URL is logged and leaves
    /// the runtime local only.
    pub(crate) fn start(
        config: Option<&Config>,
        namespace: &str,
        subscriber: Weak<dyn Subscriber>,
    ) -> Self {
        Self(config.and_then(|c| On::start(c, namespace, subscriber)))
    }

    /// Whether there is a remote tier at all.
    #[inline]
    pub(crate) fn is_on(&self) -> bool {
        self.0.is_some()
    }

    /// The Redis key of an entry of `cache` whose [`CacheKey`](crate::CacheKey) displays as
    /// `display`.
    pub(crate) fn entry_key(&self, cache: &str, display: String) -> String {
        match &self.0 {
            Some(on) => on.entry_key(cache, display),
            None => display,
        }
    }

    /// Reads an entry and the generations that judge it.
    pub(crate) async fn read(
        &self,
        key: String,
        cache: &str,
        tags: &[String],
        value: bool,
    ) -> Read {
        match &self.0 {
            Some(on) => on.read(key, cache, tags, value).await,
            None => Read::Failed(Fail::Skipped),
        }
    }

    /// Reads many entries of one cache and its generation in one round trip, one [`Read`]
    /// per key.
    pub(crate) async fn read_many(&self, keys: Vec<String>, cache: &str) -> Vec<Read> {
        match &self.0 {
            Some(on) => on.read_many(keys, cache).await,
            None => keys.iter().map(|_| Read::Failed(Fail::Skipped)).collect(),
        }
    }

    /// Takes the `lock = true` lock of an entry key, or waits for its holder's value.
    pub(crate) async fn lock(&self, key: String, cache: &str, tags: &[String]) -> Locked {
        match &self.0 {
            Some(on) => on.lock(key, cache, tags).await,
            None => Locked::Unlocked,
        }
    }

    /// Writes a value in the background; `done` learns how it went.
    pub(crate) fn write(&self, w: Write, done: impl FnOnce(Result<(), Fail>) + Send + 'static) {
        match &self.0 {
            Some(on) => on.write(w, done),
            None => done(Err(Fail::Skipped)),
        }
    }

    /// Writes values (of one cache) in the background in one pipeline; `done` learns how
    /// each went.
    pub(crate) fn write_many(
        &self,
        writes: Vec<Write>,
        mut done: impl FnMut(Result<(), Fail>) + Send + 'static,
    ) {
        match &self.0 {
            Some(on) => on.write_many(writes, done),
            None => writes.iter().for_each(|_| done(Err(Fail::Skipped))),
        }
    }

    /// Deletes the Redis copies of one key value and announces it.
    pub(crate) fn invalidate_key(&self, cache: &str, key: &[u8], keys: Vec<String>) {
        if let Some(on) = &self.0 {
            on.invalidate_key(cache, key, keys);
        }
    }

    /// Deletes Redis copies without announcing (after another instance's announcement).
    pub(crate) fn forget(&self, keys: Vec<String>) {
        if let Some(on) = &self.0 {
            on.forget(keys);
        }
    }

    /// Bumps the cache's generation in Redis and announces it.
    pub(crate) fn invalidate_all(&self, cache: &str) {
        if let Some(on) = &self.0 {
            on.invalidate_all(cache);
        }
    }

    /// Bumps the tag's generation in Redis and announces it.
    pub(crate) fn invalidate_tag(&self, tag: &str) {
        if let Some(on) = &self.0 {
            on.invalidate_tag(tag);
        }
    }

    /// Re-seals the Redis copies of one key value as expired and announces the expiry.
    pub(crate) fn expire_key(&self, cache: &str, key: &[u8], keys: Vec<String>) {
        if let Some(on) = &self.0 {
            on.expire_key(cache, key, keys);
        }
    }

    /// Re-seals Redis copies as expired without announcing (after another instance's
    /// announcement).
    pub(crate) fn reseal(&self, cache: &str, keys: Vec<String>) {
        if let Some(on) = &self.0 {
            on.reseal(cache, keys);
        }
    }

    /// Bumps the soft part of the cache's generation in Redis and announces it.
    pub(crate) fn expire_all(&self, cache: &str) {
        if let Some(on) = &self.0 {
            on.expire_all(cache);
        }
    }

    /// Bumps the soft part of the tag's generation in Redis and announces it.
    pub(crate) fn expire_tag(&self, tag: &str) {
        if let Some(on) = &self.0 {
            on.expire_tag(tag);
        }
    }

    /// Waits up to `deadline` for Redis to be reachable; whether it is. `None` without a
    /// remote tier.
    pub(crate) async fn ready(&self, deadline: Duration) -> Option<bool> {
        match &self.0 {
            Some(on) => Some(on.ready(deadline).await),
            None => None,
        }
    }

    /// Waits up to `deadline` until the background writes and invalidations begun so far
    /// are done and the recovery queue is empty; how many operations are left (0 at once
    /// without a remote tier).
    pub(crate) async fn flush(&self, deadline: Duration) -> u64 {
        match &self.0 {
            Some(on) => on.flush(deadline).await,
            None => 0,
        }
    }

    /// Where a `put`'s value goes when Redis could not be read for its generations: the
    /// recovery queue judges it when Redis answers (`None` without a remote tier).
    pub(crate) fn unstamped(&self, key: String, tags: &[String]) -> Option<Stamp> {
        self.0.as_ref().map(|on| on.unstamped(key, tags))
    }

    /// How many operations Redis answered (one per round trip; 0 without a remote tier).
    pub(crate) fn round_trips(&self) -> u64 {
        self.0.as_ref().map_or(0, On::round_trips)
    }

    /// Adds the runtime-wide remote figures to `stats`.
    pub(crate) fn fill_stats(&self, stats: &mut RuntimeStats) {
        if let Some(on) = &self.0 {
            on.fill_stats(stats);
        }
    }
}
