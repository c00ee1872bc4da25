//! The remote tier: one Redis shared by every instance of a service (feature `redis`).
//!
//! The orchestrator sees only [`Remote`], which without the feature or a URL holds nothing.
//! Files: `handle.rs` the seam; `client.rs` the tier when it is on (the Redis thread and
//! its operations); `conn.rs` the connection and how one operation runs; `read.rs` the read
//! of a miss; `lock.rs` single-flight across instances; `envelope.rs` the stored format;
//! `expire.rs` expiry (`expire*`) in Redis; `seal.rs` the signing keys, compression and encryption settings; `probe.rs` the
//! envelope as functions of bytes (fuzzing, benchmarks);
//! `keys.rs` every Redis key name; `breaker.rs` the circuit breaker; `message.rs` and
//! `backplane.rs` the announcements between instances; `recovery.rs` the operations that
//! did not land, kept until Redis answers, and `replay.rs` how they land (and the rule
//! that keeps any landing from moving a key backwards); `off.rs` the tier without the
//! feature.
//!
//! How it behaves and why (deadlines, the circuit breaker, the entry format and what an
//! entry must prove, malformed state, invalidation by generations, Redis Cluster,
//! `lock = true`): the guide's Redis chapter, `docs/guide/redis.md`
//! ([`crate::guide::redis`]).

#[cfg(feature = "redis")]
mod backplane;
#[cfg(feature = "redis")]
mod breaker;
#[cfg(feature = "redis")]
mod builder;
#[cfg(feature = "redis")]
mod client;
#[cfg(feature = "redis")]
mod conn;
#[cfg(feature = "redis")]
mod envelope;
// Without the feature the seam is all there is: its announcement types go unused.
#[cfg(feature = "redis")]
mod expire;
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
mod open;
#[cfg(feature = "redis")]
mod options;
#[cfg(feature = "redis")]
mod probe;
#[cfg(feature = "redis")]
mod read;
#[cfg(feature = "redis")]
mod recovery;
#[cfg(feature = "redis")]
mod replay;
#[cfg(feature = "redis")]
mod seal;
#[cfg_attr(not(feature = "redis"), allow(dead_code))]
mod types;

// The one place that picks the tier: the real one with the feature, else `off.rs`'s types
// that have no values. Every other file takes these from here.
#[cfg(feature = "redis")]
use client::On;
#[cfg(not(feature = "redis"))]
use off::On;
#[cfg(not(feature = "redis"))]
pub(crate) use off::{Config, Corrupt, Header, LockGuard, RemoteOptions, Stamp};
#[cfg(feature = "redis")]
pub(crate) use {
    envelope::{Corrupt, Header, Stamp},
    lock::LockGuard,
    options::{Config, RemoteOptions},
};

pub(crate) use handle::Remote;
pub(crate) use message::{Message, Subscriber};
#[cfg(feature = "redis")]
pub use probe::{open_envelope, seal_envelope};
pub(crate) use types::{Fail, Fetched, Found, Locked, Read, Write, unix_ms};
