//! The remote tier: one Redis shared by every instance of a service (feature `redis`).
//!
//! The orchestrator sees only [`Remote`], which without the feature or a URL holds nothing.
//! Files: `handle.rs` the seam; `client.rs` the tier when it is on (the Redis thread and
//! its operations); `conn.rs` the connection and how one operation runs; `read.rs` the read
//! of a miss; `lock.rs` single-flight across instances; `envelope.rs` the stored format;
//! `seal.rs` the signing keys, compression and encryption settings; `probe.rs` the
//! envelope as functions of bytes (fuzzing, benchmarks);
//! `keys.rs` every Redis key name; `breaker.rs` the circuit breaker; `message.rs` and
//! `backplane.rs` the announcements between instances; `off.rs` the tier without the
//! feature.
//!
//! # Connection and deadlines
//!
//! One redis-rs `ConnectionManager` (a multiplexed connection that reconnects by itself),
//! no pool; or, for a `redis+cluster://` URL, one cluster connection (see
//! [Redis Cluster](#redis-cluster)). All Redis I/O runs on a dedicated thread (`cache-redis`) with its own
//! single-threaded tokio runtime: the connection, its driver and its reconnections then
//! outlive whichever runtime made the first call, deadlines work even in a caller's
//! runtime built without timers, and a background write needs no runtime at all. A caller
//! awaits the task's `JoinHandle`, which costs one extra wake-up per read.
//!
//! The manager is created in the background: until Redis answers for the first time every
//! remote operation is skipped (counted as `l2_skipped`), so a runtime starts and serves
//! while Redis is down, and begins using it when it appears. Every operation runs under the
//! deadline ([`CacheRuntimeBuilder::redis_timeout`](crate::CacheRuntimeBuilder::redis_timeout),
//! default 50 ms). A read that fails or times out is a miss; a write that does is dropped.
//!
//! # Circuit breaker
//!
//! After 5 consecutive errors, or a 2 s window in which timeouts dominate (see
//! `breaker.rs`: a starved client must not switch a healthy Redis off), the circuit opens
//! and reads and writes skip Redis for 2 s; then one operation goes through as a
//! probe: success closes the circuit, failure opens it for another cool-down. When the
//! backplane's subscription comes back after a disconnection, the next operation probes at
//! once instead of waiting for the cool-down.
//!
//! # Entries
//!
//! An entry is stored under its [`CacheKey`](crate::CacheKey) display form
//! (`namespace:name:vN:<hex>`, the value type's name being part of the digest) as a small
//! envelope in front of the runtime codec's bytes (`envelope.rs`):
//!
//! ```text
//! u8  format (2)        u8 flags (1 zstd, 2 signed, 4 encrypted)
//! u64 created-at (unix ms)   u64 ttl (ms)   u64 stale-until (unix ms)   u64 cache generation
//! u16 tag count, then per tag: u16 length, UTF-8 name, u64 generation
//! u32 value length   [16] blake3 digest of the Redis key
//! signed or encrypted: [4] key id;  encrypted: [24] nonce
//! the value (MessagePack), zstd-compressed and/or encrypted as flagged
//! signed, not encrypted: [32] blake3 keyed MAC over the Redis key and all of the above
//! ```
//!
//! Integers are little-endian. Redis expires the key after the TTL plus the stale window.
//! Anything that does not parse (foreign bytes, another format version, a key of another
//! type) or does not decode as the caller's value type is a counted miss
//! (`l2_decode_failures`) and is overwritten by the value computed next; decoding is bounded
//! by [`MAX_DECODE_BYTES`](crate::codec::MAX_DECODE_BYTES). Entries of format 1 (before key
//! digests) read the same way after an upgrade: one miss each, then overwritten.
//!
//! # What an entry must prove (`seal.rs`)
//!
//! Nothing in an entry is believed before it is known to be written for the key it was
//! read from: every entry carries a digest of its full Redis key, so bytes copied or moved
//! to another key (another user's) are refused. With
//! [`signing_key`](crate::CacheRuntimeBuilder::signing_key) every entry also carries a MAC
//! (blake3 keyed, a key derived from the secret) over the Redis key, the header and the
//! payload, checked before anything else; several keys may be configured for rotation
//! ([`signing_keys`](crate::CacheRuntimeBuilder::signing_keys): the first writes, all
//! read, an envelope names its key by a 4-byte id). An entry that names another key, is
//! unsigned where signing is on, carries a MAC that does not verify, or does not decrypt,
//! is a counted miss (`decode_failures` per cache, `l2.rejected` for the runtime), never
//! decoded, and overwritten by the value computed next.
//!
//! Values of at least [`compress_threshold`](crate::CacheRuntimeBuilder::compress_threshold)
//! encoded bytes (default 1 KiB) are zstd-compressed (level 1) when that makes them
//! smaller. Inflation is bounded: the envelope declares the value's length, which must be
//! within [`MAX_DECODE_BYTES`](crate::codec::MAX_DECODE_BYTES), must equal the zstd frame's
//! own declared size, and bounds the output buffer; a bomb is a counted miss, never an
//! allocation of its size. With [`encrypt`](crate::CacheRuntimeBuilder::encrypt) (or per
//! cache, [`cache_encrypt`](crate::CacheRuntimeBuilder::cache_encrypt)) the payload is
//! sealed with XChaCha20-Poly1305 under a key derived from the signing key, a random
//! 24-byte nonce, and the Redis key plus the header as associated data; the AEAD tag then
//! authenticates the entry (no MAC). Compression and MAC run on the Redis thread, after
//! the caller has its value (writes) or inside the read's task (reads).
//!
//! # Fail-safe copies
//!
//! Redis keeps an entry for its TTL plus its `stale_if_error` window. A read that finds it
//! past its TTL but inside that window, with current generations, hands it to the
//! orchestrator as the fail-safe copy: the call recomputes, and serves the copy if the
//! recomputation fails, on any instance, not only the one that wrote it.
//!
//! # Malformed state
//!
//! Anything under our keys that this runtime never writes costs at most the call that
//! finds it and never counts against the breaker: a cache or tag generation that is not an
//! integer is replaced by a fresh random generation (which invalidates the entries it
//! guarded, as an unknown generation must) and that read is a miss; a lock key that holds
//! no token of ours, or never expires, is deleted. Each is counted in `l2.repaired`.
//!
//! # Invalidation without scanning
//!
//! `invalidate` deletes the key under every version and value type this instance has
//! used for the cache. `invalidate_all` and `invalidate_tag` cannot name their keys, so
//! they bump counters in Redis instead: `INCR namespace:__gen:<cache>` and
//! `INCR namespace:__tag:<tag>`.
//!
//! Every read is one pipelined round trip: `GET key`, `GET` of the cache's generation and
//! `MGET` of the generations of the caller's tags. An envelope records the generations that
//! were current when its computation *began* (read in the same round trip before computing);
//! a hit requires them all to be current. We chose this over folding the generation into
//! the key string (cached per instance and refreshed by backplane messages) because it
//! keeps no per-instance copy that can lag: once `invalidate_all` or `invalidate_tag`
//! returns and its `INCR` has landed, no instance can read an older entry from Redis, even
//! one that missed the backplane message; a computation that raced the invalidation stamps
//! the old generation and is never served. It costs two small reads in a round trip that
//! is paid anyway, and entries of an old generation stay in Redis until they expire or
//! are overwritten under the same key by the next computation. A value is written only if
//! the generations were read before its computation began; otherwise (Redis unreachable at
//! that moment) it stays in process.
//!
//! While an invalidation of this instance is on its way to Redis, this instance does not
//! read Redis (a fence), so it never reads back what it has just invalidated; an
//! invalidation that cannot reach Redis is retried for up to 30 s meanwhile.
//!
//! # Redis Cluster
//!
//! A `redis+cluster://host:port[,host:port...]` URL (seed nodes; `user:password@` before
//! the first host applies to all) connects with redis-rs's cluster client, which follows
//! the cluster's topology, redirections and failovers. No operation on one cache's keys
//! crosses slots: a cache's entries, its generation and its locks share the hash tag
//! `{namespace:cache}` (`{ns:users}:v0:<hex>`, `{ns:users}:__gen`,
//! `{ns:users}:__lock:v0:<hex>`), so each read and each write is one pipeline to one
//! node. Tags span caches, so a tag's generation (`ns:__tag:<tag>`) lives in a slot of its
//! own: a tagged read adds an `MGET` of the tags' generations, which the cluster client
//! splits by slot, sent concurrently with the pipeline. The backplane subscribes on one
//! node (a cluster's `PUBLISH` reaches every node) and moves to the next seed node when
//! that one fails; announcements follow their write or invalidation as a command of their
//! own. An invalidation whose `INCR` or `DEL` fails (its slot's master is down or failing
//! over) is also announced at once, through any node that answers, so the other instances
//! drop their copies during the failover rather than after it; their reads of that slot
//! fail meanwhile, so they compute, and the announcement that follows the landing drops
//! whatever they read between the promotion and the landing. A cache whose slot is on a
//! master that is down behaves as if Redis were down for it: misses compute, and the
//! circuit breaker (shared by the whole cluster) opens.
//!
//! # Single-flight across instances (`lock = true`)
//!
//! Without it, single-flight is per instance: N instances missing one key compute it up
//! to N times. With `#[cache_result(..., lock = true)]`, a caller whose read found no
//! current entry takes a lock before computing:
//! `SET namespace:__lock:<name:vN:hex> <instance-token> NX PX <lock TTL>`
//! ([`CacheRuntimeBuilder::lock_ttl`](crate::CacheRuntimeBuilder::lock_ttl), default
//! 10 s). The holder computes and writes the value and deletes the lock in the same
//! pipeline (a compare-and-delete script, so a lock that expired and was taken by another
//! instance is not deleted). A failed, panicking or cancelled computation releases the
//! lock at once; a holder that dies leaves it to expire.
//!
//! The others wait on the Redis thread: woken by the holder's write announcement on the
//! backplane, or every 50 ms, they re-read the entry (a current one is served, counted as
//! `l2.lock_waits`) and retry the lock (taken when the holder failed or its lock expired).
//! After 5 s or the lock TTL, whichever is shorter, or as soon as Redis fails, they compute
//! themselves. A caller that missed just before the holder wrote and released can still
//! take the lock and compute once more: the lock narrows duplicate computation to that
//! window, it does not make it impossible.

#[cfg(feature = "redis")]
mod backplane;
#[cfg(feature = "redis")]
mod breaker;
#[cfg(feature = "redis")]
mod client;
#[cfg(feature = "redis")]
mod conn;
#[cfg(feature = "redis")]
mod envelope;
// Without the feature the seam is all there is: its announcement types go unused.
#[cfg_attr(not(feature = "redis"), allow(dead_code))]
mod handle;
#[cfg(feature = "redis")]
mod keys;
#[cfg(feature = "redis")]
mod lock;
#[cfg_attr(not(feature = "redis"), allow(dead_code))]
mod message;
#[cfg(not(feature = "redis"))]
#[allow(dead_code)]
mod off;
#[cfg(feature = "redis")]
mod probe;
#[cfg(feature = "redis")]
mod read;
#[cfg(feature = "redis")]
mod seal;
#[cfg_attr(not(feature = "redis"), allow(dead_code))]
mod types;

#[cfg(feature = "redis")]
pub(crate) use client::{DEFAULT_LOCK_TTL, DEFAULT_TIMEOUT};
pub(crate) use handle::{Config, Remote};
pub(crate) use message::{Message, Subscriber};
#[cfg(feature = "redis")]
pub use probe::{open_envelope, seal_envelope};
#[cfg(feature = "redis")]
pub(crate) use seal::{CacheSealing, Keyring, Protection, SigningKey};
pub(crate) use types::{
    Fail, Fetched, Found, Header, LockGuard, Locked, Read, Stamp, Write, unix_ms,
};
