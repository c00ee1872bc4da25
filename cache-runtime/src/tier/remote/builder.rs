//! The Redis methods of [`CacheRuntimeBuilder`] (feature `redis`): they set the builder's
//! [`RemoteOptions`](super::RemoteOptions), which become the remote tier's settings when
//! the runtime is built. They live with the tier so that the builder itself has no `cfg`.

use std::time::Duration;

use super::seal::{Keyring, SigningKey};
use crate::Tier;
use crate::runtime::CacheRuntimeBuilder;

impl CacheRuntimeBuilder {
    /// Adds Redis as a second tier shared by every instance using the same URL and
    /// [namespace](Self::namespace), plus the backplane that keeps their in-process tiers
    /// coherent. The connection is made in the background: the runtime serves from the
    /// in-process tier (and by computing) until Redis answers, and whenever it fails.
    /// An invalid URL is logged and leaves the runtime local only.
    ///
    /// Only `async` functions use Redis; synchronous ones are cached in process only.
    ///
    /// For a Redis Cluster, give its seed nodes as
    /// `redis+cluster://host:port[,host:port...]`: each cache's keys then share one hash
    /// slot (see "Two tiers: Redis" in the README).
    ///
    /// ```no_run
    /// # #[tokio::main] async fn main() {
    /// use std::time::Duration;
    /// use cache_runtime::CacheRuntime;
    ///
    /// CacheRuntime::builder()
    ///     .namespace("billing")
    ///     .redis("redis://127.0.0.1:6379")
    ///     .redis_timeout(Duration::from_millis(20))
    ///     .install()
    ///     .expect("installed before the first cached call");
    /// # }
    /// ```
    #[cfg_attr(docsrs, doc(cfg(feature = "redis")))]
    pub fn redis(mut self, url: impl Into<String>) -> Self {
        self.remote.url = Some(url.into());
        self
    }

    /// The deadline of every Redis operation (default 50 ms). A read that misses it is a
    /// miss; a write that misses it is dropped. Only used with [`redis`](Self::redis).
    ///
    /// ```
    /// use std::time::Duration;
    /// let rt = cache_runtime::CacheRuntime::builder()
    ///     .redis("redis://127.0.0.1:6379")
    ///     .redis_timeout(Duration::from_millis(10))
    ///     .build();
    /// # let _ = rt;
    /// ```
    #[cfg_attr(docsrs, doc(cfg(feature = "redis")))]
    pub fn redis_timeout(mut self, deadline: Duration) -> Self {
        self.remote.timeout = deadline;
        self
    }

    /// The expiry of the locks of `#[cache_result(lock = true)]` caches (default 10 s).
    ///
    /// With `lock = true`, a miss in every tier takes a lock in Redis before computing,
    /// and other instances missing the same key wait for the holder's value instead of
    /// computing it too. The lock is released as soon as the value is written (or the
    /// computation fails, panics or is cancelled); if its holder dies, the lock expires
    /// after this long. Waiters wait at most 5 s or this long, whichever is shorter, and
    /// then compute themselves. Choose it above the computation's usual duration.
    ///
    /// ```
    /// use std::time::Duration;
    /// let rt = cache_runtime::CacheRuntime::builder()
    ///     .redis("redis://127.0.0.1:6379")
    ///     .lock_ttl(Duration::from_secs(3))
    ///     .build();
    /// # let _ = rt;
    /// ```
    #[cfg_attr(docsrs, doc(cfg(feature = "redis")))]
    pub fn lock_ttl(mut self, ttl: Duration) -> Self {
        self.remote.lock_ttl = ttl;
        self
    }

    /// Bounds the recovery queue (default 100,000 operations and 64 MiB of values).
    ///
    /// A write, delete or invalidation that does not reach Redis (an outage, a timeout,
    /// the circuit open) is kept and replayed as soon as Redis answers, one operation per
    /// key (the latest wins), with its announcement to the other instances; until then
    /// this instance reads no Redis, so it never reads back what it changed. Nothing is
    /// given up on a timer. Past these bounds the queue stays correct by being
    /// conservative: a value that does not fit is replayed as a delete of its key, and a
    /// key that does not fit as an invalidation of its whole cache (`stats().l2`
    /// `recovery_overflowed`). The guide's Redis chapter has the rule that keeps a replay
    /// from moving a key backwards.
    ///
    /// ```
    /// let rt = cache_runtime::CacheRuntime::builder()
    ///     .redis("redis://127.0.0.1:6379")
    ///     .recovery_queue(10_000, 16 << 20)
    ///     .build();
    /// # let _ = rt;
    /// ```
    #[cfg_attr(docsrs, doc(cfg(feature = "redis")))]
    pub fn recovery_queue(mut self, operations: usize, bytes: usize) -> Self {
        self.remote.recovery = super::recovery::Limits {
            entries: operations.max(1),
            bytes: bytes.max(1),
        };
        self
    }

    /// Signs every value written to Redis with `secret` (any length; use at least 32
    /// random bytes) and accepts only values signed with it: bytes copied from another
    /// key, or written by anyone without the secret, are a counted miss
    /// (`stats().l2.rejected`), never decoded, and are overwritten. The MAC is blake3's
    /// keyed mode over the Redis key, the envelope header and the payload. Replaces the
    /// keys set before; to rotate, see [`signing_keys`](Self::signing_keys).
    ///
    /// Without a signing key every entry still names the key it was written for (a
    /// digest), so bytes moved between keys are rejected all the same; but anyone who can
    /// write to Redis can write an entry that is served. See the README, "What an unsigned
    /// deployment trusts".
    ///
    /// ```
    /// let rt = cache_runtime::CacheRuntime::builder()
    ///     .redis("redis://127.0.0.1:6379")
    ///     .signing_key("a secret of at least 32 random bytes, from config")
    ///     .build();
    /// # let _ = rt;
    /// ```
    #[cfg_attr(docsrs, doc(cfg(feature = "redis")))]
    pub fn signing_key(self, secret: impl AsRef<[u8]>) -> Self {
        self.signing_keys([secret])
    }

    /// Several signing keys, for rotation: the first signs what this runtime writes, every
    /// one is accepted on read. Roll a new key out as `[new, old]` on every instance,
    /// then, once entries signed with the old one have expired, drop it. Empty secrets are
    /// ignored (and logged). An empty list turns signing off.
    ///
    /// ```
    /// let rt = cache_runtime::CacheRuntime::builder()
    ///     .redis("redis://127.0.0.1:6379")
    ///     .signing_keys(["key-2026-12 ...", "key-2026-11 ..."])
    ///     .build();
    /// # let _ = rt;
    /// ```
    #[cfg_attr(docsrs, doc(cfg(feature = "redis")))]
    pub fn signing_keys<S: AsRef<[u8]>>(mut self, secrets: impl IntoIterator<Item = S>) -> Self {
        let keys = secrets
            .into_iter()
            .filter(|s| {
                let empty = s.as_ref().is_empty();
                if empty {
                    tracing::error!("an empty signing key was given: ignored");
                }
                !empty
            })
            .map(|s| SigningKey::new(s.as_ref()))
            .collect();
        self.remote.protection.keys = Keyring::new(keys);
        self
    }

    /// The signing keys from environment variable `var`: comma-separated, the first
    /// signs (see [`signing_keys`](Self::signing_keys)). An unset or empty variable leaves
    /// the keys as they were.
    ///
    /// ```
    /// // CACHE_SIGNING_KEYS="new secret,old secret"
    /// let rt = cache_runtime::CacheRuntime::builder()
    ///     .redis("redis://127.0.0.1:6379")
    ///     .signing_keys_from_env("CACHE_SIGNING_KEYS")
    ///     .build();
    /// # let _ = rt;
    /// ```
    #[cfg_attr(docsrs, doc(cfg(feature = "redis")))]
    pub fn signing_keys_from_env(self, var: &str) -> Self {
        match std::env::var(var) {
            Ok(v) if !v.trim().is_empty() => {
                let keys: Vec<String> = v.split(',').map(|k| k.trim().to_owned()).collect();
                self.signing_keys(keys)
            }
            _ => self,
        }
    }

    /// Values whose encoded size is at least `bytes` are zstd-compressed in Redis
    /// (default 1024; `0` turns compression off). A value that does not shrink is stored
    /// as it is. Decompression is bounded: an entry that declares or inflates to more
    /// than [`MAX_DECODE_BYTES`](crate::codec::MAX_DECODE_BYTES) is a counted miss.
    /// Per cache: [`cache_compress_threshold`](Self::cache_compress_threshold).
    ///
    /// ```
    /// let rt = cache_runtime::CacheRuntime::builder()
    ///     .redis("redis://127.0.0.1:6379")
    ///     .compress_threshold(4096)
    ///     .build();
    /// # let _ = rt;
    /// ```
    #[cfg_attr(docsrs, doc(cfg(feature = "redis")))]
    pub fn compress_threshold(mut self, bytes: usize) -> Self {
        self.remote.protection.compress_threshold = bytes;
        self
    }

    /// Encrypts the values of every cache in Redis (XChaCha20-Poly1305, the Redis key and
    /// the envelope header as associated data), with a key derived from the signing key;
    /// for values that hold personal data. Needs a [`signing_key`](Self::signing_key):
    /// without one, values that should be encrypted are not written to Redis at all (and
    /// an error is logged). Per cache: [`cache_encrypt`](Self::cache_encrypt).
    ///
    /// ```
    /// let rt = cache_runtime::CacheRuntime::builder()
    ///     .redis("redis://127.0.0.1:6379")
    ///     .signing_key("a secret of at least 32 random bytes, from config")
    ///     .encrypt(true)
    ///     .build();
    /// # let _ = rt;
    /// ```
    #[cfg_attr(docsrs, doc(cfg(feature = "redis")))]
    pub fn encrypt(mut self, on: bool) -> Self {
        self.remote.protection.encrypt = on;
        self
    }

    /// Encrypts (or not) the values of cache `name` in Redis, replacing the runtime's
    /// [`encrypt`](Self::encrypt) for it.
    ///
    /// ```
    /// let rt = cache_runtime::CacheRuntime::builder()
    ///     .redis("redis://127.0.0.1:6379")
    ///     .signing_key("a secret of at least 32 random bytes, from config")
    ///     .cache_encrypt("user_profiles", true)
    ///     .build();
    /// # let _ = rt;
    /// ```
    #[cfg_attr(docsrs, doc(cfg(feature = "redis")))]
    pub fn cache_encrypt(self, name: impl Into<String>, on: bool) -> Self {
        self.tune(name, |o| o.encrypt = Some(on))
    }

    /// Replaces the runtime's [`compress_threshold`](Self::compress_threshold) for cache
    /// `name` (`0`: never compressed).
    ///
    /// ```
    /// let rt = cache_runtime::CacheRuntime::builder()
    ///     .redis("redis://127.0.0.1:6379")
    ///     .cache_compress_threshold("analytics_daily", 256)
    ///     .build();
    /// # let _ = rt;
    /// ```
    #[cfg_attr(docsrs, doc(cfg(feature = "redis")))]
    pub fn cache_compress_threshold(self, name: impl Into<String>, bytes: usize) -> Self {
        self.tune(name, |o| o.compress_threshold = Some(bytes))
    }

    /// Chooses the tiers cache `name` uses (default [`Tier::Both`](crate::Tier::Both)).
    ///
    /// ```
    /// use cache_runtime::{CacheRuntime, Tier};
    /// let rt = CacheRuntime::builder()
    ///     .redis("redis://127.0.0.1:6379")
    ///     .cache_tier("feature_flags", Tier::Local)
    ///     .build();
    /// # let _ = rt;
    /// ```
    #[cfg_attr(docsrs, doc(cfg(feature = "redis")))]
    pub fn cache_tier(mut self, name: impl Into<String>, tier: Tier) -> Self {
        self.tiers.insert(name.into(), tier);
        self
    }
}
