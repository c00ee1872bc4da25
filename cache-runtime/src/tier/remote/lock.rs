//! Single-flight across instances (`lock = true`): `SET lock token NX PX ttl`, a waiter
//! that re-reads the entry until the holder's value appears, and a compare-and-delete
//! release.
//!
//! A lock key holding anything but a lock of ours (another type, a value that is not a
//! token, a key without an expiry) would make every instance wait for a holder that does
//! not exist: it is deleted at once, counted as repaired, and the lock is taken again.

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use redis::{FromRedisValue, Value};
use tokio::runtime::Handle;

use super::conn::Shared;
use super::types::{Fail, Found, Locked, Read};

/// The longest a caller waits for another instance's computation (at most the lock TTL).
pub(crate) const LOCK_WAIT: Duration = Duration::from_secs(5);
/// How often a waiting caller re-reads Redis when no write announcement wakes it first.
const LOCK_POLL: Duration = Duration::from_millis(50);
/// Releases a lock only if it is still the caller's (compare-and-delete).
pub(crate) const RELEASE: &str = "if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) else return 0 end";

/// The token of a lock held by `instance`: two 16-digit hex numbers.
fn token(instance: u64) -> String {
    format!("{instance:016x}-{:016x}", fastrand::u64(..))
}

/// Whether `v` is a token that [`token`] could have made.
fn is_token(v: &[u8]) -> bool {
    v.len() == 33
        && v[16] == b'-'
        && v.iter()
            .enumerate()
            .all(|(i, b)| i == 16 || b.is_ascii_hexdigit())
}

/// A held `lock = true` lock. Dropping it releases the lock in the background; a write
/// releases it in the same pipeline as the value.
pub(crate) struct LockGuard {
    shared: Option<Arc<Shared>>,
    handle: Handle,
    key: String,
    token: String,
}

impl LockGuard {
    /// The lock key and token, for a release in the write's pipeline.
    pub(crate) fn disarm(mut self) -> (String, String) {
        self.shared = None;
        (
            std::mem::take(&mut self.key),
            std::mem::take(&mut self.token),
        )
    }
}

impl Drop for LockGuard {
    fn drop(&mut self) {
        if let Some(shared) = self.shared.take() {
            let (key, token) = (
                std::mem::take(&mut self.key),
                std::mem::take(&mut self.token),
            );
            let pending = super::conn::Pending::begin(&shared);
            self.handle.spawn(async move {
                shared.release(key, token).await;
                drop(pending);
            });
        }
    }
}

impl Shared {
    /// `SET lock token NX PX ttl`: whether this caller now holds the lock.
    async fn try_lock(&self, lock: &str, token: &str) -> Result<bool, Fail> {
        let px = self.lock_ttl.as_millis().clamp(1, u128::from(u64::MAX)) as u64;
        self.run(true, |mut conn| {
            let mut cmd = redis::cmd("SET");
            cmd.arg(lock).arg(token).arg("NX").arg("PX").arg(px);
            async move { cmd.query_async::<Option<String>>(&mut conn).await }
        })
        .await
        .map(|reply| reply.is_some())
    }

    /// After a refused `SET NX`: whether the key holds a lock of ours with an expiry. When
    /// it does not, it is deleted (counted as repaired) and `false` is returned.
    async fn lock_is_sound(&self, lock: &str) -> bool {
        let replies = self
            .run(true, |mut conn| {
                let mut pipe = redis::pipe();
                pipe.ignore_errors();
                pipe.cmd("GET").arg(lock).cmd("PTTL").arg(lock);
                async move { pipe.query_async::<Vec<Value>>(&mut conn).await }
            })
            .await;
        let Ok(replies) = replies else {
            return true;
        };
        let mut it = replies.into_iter();
        let (value, pttl) = (it.next(), it.next());
        let sound = match (value, pttl) {
            (Some(Value::Nil), _) => return true, // released meanwhile
            (Some(v), Some(t)) => {
                let is_lock = Option::<Vec<u8>>::from_redis_value(v)
                    .ok()
                    .flatten()
                    .is_some_and(|b| is_token(&b));
                let expires = i64::from_redis_value(t).is_ok_and(|t| t > 0 || t == -2);
                is_lock && expires
            }
            _ => true,
        };
        if !sound {
            self.totals.repaired.fetch_add(1, Ordering::Relaxed);
            tracing::warn!(
                lock,
                "a lock key in redis holds no lock of ours (or never expires): deleted"
            );
            let _ = self
                .run(false, |mut conn| {
                    let mut cmd = redis::cmd("DEL");
                    cmd.arg(lock);
                    async move { cmd.query_async::<()>(&mut conn).await }
                })
                .await;
        }
        sound
    }

    /// Takes the lock of `key`, or waits for its holder's value; see [`Locked`].
    pub(crate) async fn lock(
        self: Arc<Self>,
        key: String,
        cache: String,
        tags: Vec<String>,
    ) -> Locked {
        let lock = self.keys.lock(&cache, &key);
        let token = token(self.instance);
        let until = Instant::now() + LOCK_WAIT.min(self.lock_ttl);
        let mut repaired = false;
        loop {
            // Listen before asking, so that a write announced meanwhile is not missed.
            let announced = self.written.listen();
            match self.try_lock(&lock, &token).await {
                Ok(true) => {
                    let guard = LockGuard {
                        shared: Some(Arc::clone(&self)),
                        handle: Handle::current(),
                        key: lock,
                        token,
                    };
                    // The caller's read missed before it asked for the lock; another
                    // instance may have computed, written and released in between (the
                    // fleet's miss storm ran the body twice so). Read once more: a value
                    // there answers the call, and dropping the guard releases the lock.
                    let read = Arc::clone(&self)
                        .read(key.clone(), cache.clone(), tags.clone(), true)
                        .await;
                    return match read {
                        Read::Done {
                            found: Found::Entry(_),
                            ..
                        } => Locked::Filled(read),
                        _ => Locked::Held(guard),
                    };
                }
                Ok(false) => {}
                Err(_) => return Locked::Unlocked,
            }
            if !repaired && !self.lock_is_sound(&lock).await {
                repaired = true;
                continue;
            }
            let now = Instant::now();
            if now >= until {
                tracing::debug!(cache, "gave up waiting for another instance's computation");
                return Locked::Unlocked;
            }
            tokio::select! {
                _ = announced => {}
                _ = tokio::time::sleep(LOCK_POLL.min(until - now)) => {}
            }
            let read = Arc::clone(&self)
                .read(key.clone(), cache.clone(), tags.clone(), true)
                .await;
            match read {
                Read::Done {
                    found: Found::Entry(_),
                    ..
                } => return Locked::Filled(read),
                Read::Done { .. } => {}
                Read::Failed(_) | Read::Malformed => return Locked::Unlocked,
            }
        }
    }

    /// Deletes a lock if it is still `token`'s.
    pub(crate) async fn release(&self, lock: String, token: String) {
        let r = self
            .run(false, |mut conn| {
                let mut cmd = redis::cmd("EVAL");
                cmd.arg(RELEASE).arg(1).arg(lock).arg(token);
                async move { cmd.query_async::<i64>(&mut conn).await }
            })
            .await;
        if let Err(f) = r {
            tracing::debug!(failure = ?f, "lock not released: it expires by itself");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::{is_token, token};

    #[test]
    fn tokens_are_recognised() {
        assert!(is_token(token(7).as_bytes()));
        assert!(!is_token(b"xyz"));
        assert!(!is_token(b"0000000000000007+0000000000000001"));
    }
}
