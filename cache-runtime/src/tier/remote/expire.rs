//! Expiry in Redis (`expire`, `expire_all`, `expire_tag`): the entries stop being fresh
//! but stay as fail-safe copies inside their `stale_if_error` window.
//!
//! - `expire_all` / `expire_tag`: `INCRBY` of the cache's or tag's generation by
//!   [`SOFT_STEP`], its soft part (see `state.rs`). A read compares an entry's generations
//!   with the current ones as before; when only a soft part differs the entry is
//!   [`Found::Stale`](super::Found) (inside its stale window, if it has one) instead of
//!   dead. The generations are the ones read *before* computing, so a value whose
//!   computation began before the expiry is expired too, wherever it is written from;
//!   an instance built before expiry existed sees a changed generation: an invalidation.
//! - `expire(name, key)`: each Redis copy the instance can name is read, and written
//!   back re-sealed with its TTL ended at now (same value, creation time, generations and
//!   stale-until), if it still holds the bytes read (compare-and-set in one script); one
//!   without a stale window, or that does not open, is deleted, as `invalidate` would.
//!
//! As an invalidation does, an expiry raises the fence (this instance reads no Redis until
//! it has landed, so it never reads back a copy that is still fresh), goes to the recovery
//! queue when Redis cannot be reached (replayed when it answers), and is announced once it
//! has landed.

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use redis::{FromRedisValue, Value};

use super::client::On;
use super::conn::{Fence, Shared};
use super::envelope::{Header, Stamp, envelope};
use super::message::Message;
use super::open::{open, verify};
use super::recovery::{Bump, KeyedOp};
use super::replay::push_bump;
use super::types::{Fail, unix_ms};
use crate::state::SOFT_STEP;

/// Compare-and-set of an entry: if `KEYS[1]` still holds `ARGV[1]`, sets it to `ARGV[2]`
/// for `ARGV[3]` ms, or deletes it when `ARGV[2]` is empty.
const SWAP: &str = r"
if redis.call('GET', KEYS[1]) ~= ARGV[1] then return 0 end
if ARGV[2] == '' then return redis.call('DEL', KEYS[1]) end
redis.call('SET', KEYS[1], ARGV[2], 'PX', ARGV[3])
return 1
";

/// Whether an entry has a `stale_if_error` window at all: without one, an entry reached
/// by an expiry is outdated (an expiry is then an invalidation).
pub(crate) fn has_stale_window(h: &Header) -> bool {
    h.stale_until_ms > h.created_ms.saturating_add(h.ttl_ms)
}

/// What one expiry does in Redis.
enum Step {
    /// `INCRBY counter SOFT_STEP`.
    Soften(String),
    /// Re-seal these entry keys of the cache as expired.
    Reseal { cache: String, keys: Vec<String> },
}

impl On {
    /// `expire(name, key)`: re-seals `keys` (the Redis copies this instance can name) as
    /// expired and tells the other instances, which expire theirs (and re-seal what they
    /// can name when this one could name none).
    pub(crate) fn expire_key(&self, cache: &str, key: &[u8], keys: Vec<String>) {
        let announce = Message::ExpireKey {
            name: cache.to_owned(),
            key: key.to_vec(),
            resealed: !keys.is_empty(),
        };
        let step = Step::Reseal {
            cache: cache.to_owned(),
            keys,
        };
        expiry(&self.shared, step, Some(announce));
    }

    /// Re-seals Redis copies named after another instance's announcement, without
    /// announcing again.
    pub(crate) fn reseal(&self, cache: &str, keys: Vec<String>) {
        if !keys.is_empty() {
            let step = Step::Reseal {
                cache: cache.to_owned(),
                keys,
            };
            expiry(&self.shared, step, None);
        }
    }

    /// `expire_all(name)`: the soft bump of the cache's generation, announced.
    pub(crate) fn expire_all(&self, cache: &str) {
        let counter = self.shared.keys.generation(cache);
        let msg = Message::ExpireAll {
            name: cache.to_owned(),
        };
        expiry(&self.shared, Step::Soften(counter), Some(msg));
    }

    /// `expire_tag(tag)`: the soft bump of the tag's generation, announced.
    pub(crate) fn expire_tag(&self, tag: &str) {
        let counter = self.shared.keys.tag(tag);
        let msg = Message::ExpireTag {
            tag: tag.to_owned(),
        };
        expiry(&self.shared, Step::Soften(counter), Some(msg));
    }
}

/// Runs an expiry in the background behind the fence, once; if Redis does not answer it
/// goes to the recovery queue. Announced once it has landed.
fn expiry(shared: &Arc<Shared>, step: Step, announce: Option<Message>) {
    let fence = Fence::raise(shared);
    let announce = announce.map(|m| m.encode(shared.instance));
    let shared = Arc::clone(shared);
    let timer = shared.timer.clone();
    let at_ms = unix_ms();
    timer.spawn(async move {
        let _fence = fence;
        let r = match &step {
            Step::Soften(counter) => shared.soften(counter, at_ms).await,
            Step::Reseal { cache, keys } => shared.reseal(cache, keys).await,
        };
        if r.is_err() {
            match step {
                Step::Soften(counter) => {
                    let bump = Bump {
                        counter,
                        step: SOFT_STEP,
                        at_ms,
                        announce,
                    };
                    shared.queue_changed(shared.recovery.keep_bump(bump));
                }
                Step::Reseal { cache, keys } => {
                    let expire = || KeyedOp::Expire { at_ms };
                    shared.keep_each(keys, expire, &cache, announce.as_ref());
                }
            }
            return;
        }
        if let Some(msg) = announce {
            shared.announce_or_keep(msg).await;
        }
    });
}

impl Shared {
    /// The soft bump of `counter` (`BUMP` by `SOFT_STEP`, see `replay.rs`); a counter that
    /// is not an integer (or would overflow) is replaced by a fresh random generation,
    /// which invalidates instead.
    async fn soften(&self, counter: &str, at_ms: u64) -> Result<(), Fail> {
        let mut pipe = redis::pipe();
        push_bump(&mut pipe, counter, SOFT_STEP, at_ms);
        let replies = self
            .run(false, |mut conn| async move {
                pipe.query_async::<Vec<i64>>(&mut conn).await
            })
            .await?;
        if replies.first() == Some(&1) {
            self.totals.repaired.fetch_add(1, Ordering::Relaxed);
            tracing::warn!(counter, "a generation in redis was not an integer: reset");
        }
        Ok(())
    }

    /// Re-seals each of `keys` as expired (see the module docs).
    async fn reseal(&self, cache: &str, keys: &[String]) -> Result<(), Fail> {
        for key in keys {
            self.reseal_one(cache, key).await?;
        }
        Ok(())
    }

    /// Re-seals one entry key as expired (an `expire` of the recovery queue lands so).
    pub(super) async fn reseal_one(&self, cache: &str, key: &str) -> Result<(), Fail> {
        let replies = self
            .run(false, |mut conn| {
                let mut pipe = redis::pipe();
                // Another type under the key is data, not a failure of Redis.
                pipe.ignore_errors();
                pipe.cmd("GET").arg(key);
                async move { pipe.query_async::<Vec<Value>>(&mut conn).await }
            })
            .await?;
        let old = match replies.into_iter().next() {
            None | Some(Value::Nil | Value::ServerError(_)) => return Ok(()),
            Some(v) => match Vec::<u8>::from_redis_value(v) {
                Ok(b) => b,
                Err(_) => return Ok(()),
            },
        };
        let Some((new, px)) = self.expired_copy(cache, key, &old) else {
            return Ok(());
        };
        self.run(false, |mut conn| {
            let mut cmd = redis::cmd("EVAL");
            cmd.arg(SWAP).arg(1).arg(key).arg(old).arg(new).arg(px);
            async move { cmd.query_async::<Value>(&mut conn).await }
        })
        .await
        .map(drop)
    }

    /// The bytes to put in place of entry `old` under `key`, and for how many ms: its
    /// expired copy, or nothing (delete) when it has no stale window or does not open.
    /// `None`: leave it (not an entry of ours, or no longer fresh).
    fn expired_copy(&self, cache: &str, key: &str, old: &[u8]) -> Option<(Vec<u8>, u64)> {
        let keys = &self.protection.keys;
        let mut header = Header::parse(old).ok()?;
        verify(key, &header, old, keys).ok()?;
        let now = unix_ms();
        if !header.fresh_at(now) {
            return None;
        }
        if !has_stale_window(&header) {
            return Some((Vec::new(), 0));
        }
        let Ok(opened) = open(key, &mut header, old.to_vec(), keys) else {
            return Some((Vec::new(), 0));
        };
        let body = opened.get(header.body_at()..)?;
        let stamp = Stamp {
            key: key.to_owned(),
            generation: header.generation,
            tags: header.tags.clone(),
            known: true,
        };
        // Created no later than now (another machine's clock may be ahead), fresh until now.
        let created = header.created_ms.min(now);
        let ttl = Duration::from_millis(now - created);
        let left = header.stale_until_ms.saturating_sub(now).max(1);
        let sealing = self.protection.for_cache(cache);
        match envelope(
            &stamp,
            created,
            ttl,
            Duration::from_millis(left),
            body,
            sealing,
        ) {
            Ok(bytes) => Some((bytes, left)),
            Err(_) => Some((Vec::new(), 0)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_envelope_has_a_stale_window_only_with_stale_if_error() {
        let stamp = Stamp {
            key: "k".into(),
            generation: 3,
            tags: Vec::new(),
            known: true,
        };
        let keys = super::super::seal::Protection::default();
        let seal = |stale_ms| {
            let b = envelope(
                &stamp,
                1_000,
                Duration::from_millis(500),
                Duration::from_millis(stale_ms),
                b"\x01",
                keys.for_cache("c"),
            )
            .unwrap_or_default();
            Header::parse(&b).map(|h| has_stale_window(&h)).ok()
        };
        assert_eq!(seal(0), Some(false));
        assert_eq!(seal(1), Some(true));
    }
}
