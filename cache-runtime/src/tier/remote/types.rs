//! The types the orchestrator exchanges with the remote tier, with or without Redis (the
//! module root picks which `Header`, `Stamp`, `Corrupt` and `LockGuard` they carry).

use super::{Corrupt, Header, LockGuard, Stamp};

/// Why an operation did not run or did not succeed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Fail {
    /// Not attempted: not connected yet, circuit open, or an invalidation in flight.
    Skipped,
    /// Redis answered with an error, or the connection failed.
    Error,
    /// No answer within the deadline.
    Timeout,
}

/// An entry read from Redis whose generations are current.
#[derive(Debug)]
pub(crate) struct Fetched {
    pub(crate) bytes: Vec<u8>,
    pub(crate) header: Header,
}

impl Fetched {
    /// The encoded value.
    pub(crate) fn body(&self) -> &[u8] {
        self.bytes.get(self.header.body_at()..).unwrap_or_default()
    }
}

/// What a read found under the key.
#[derive(Debug)]
pub(crate) enum Found {
    /// No key (or the value was not asked for).
    Nothing,
    /// An entry that was invalidated (older generation), or expired beyond its
    /// `stale_if_error` window.
    Outdated,
    /// An entry past its TTL but inside its `stale_if_error` window: not served, but kept
    /// as the fail-safe copy in case the recomputation fails.
    Stale(Fetched),
    /// Bytes that are not an envelope of this format (or not a string at all).
    Corrupt(Corrupt),
    /// A fresh entry.
    Entry(Fetched),
}

/// The result of a read.
#[derive(Debug)]
pub(crate) enum Read {
    /// Redis was skipped or failed: a miss without the right to write.
    Failed(Fail),
    /// A generation (the cache's or a tag's) held something this runtime never writes: it
    /// has been reset, this call is a miss and writes nothing.
    Malformed,
    /// Redis answered; `stamp` holds the generations that give the right to write.
    Done { stamp: Stamp, found: Found },
}

/// What a `lock = true` attempt ended with.
pub(crate) enum Locked {
    /// This caller holds the lock: compute, write, release (dropping the guard releases).
    Held(LockGuard),
    /// Another instance's computation wrote the value while this caller waited: the read
    /// that found it.
    Filled(Read),
    /// Redis failed, or the wait ran out: compute without the lock.
    Unlocked,
}

/// A value to write to Redis, with what its announcement names.
pub(crate) struct Write {
    /// The generations its computation began under, and its Redis key.
    pub(crate) stamp: Stamp,
    pub(crate) ttl: std::time::Duration,
    pub(crate) stale: std::time::Duration,
    /// The encoded value.
    pub(crate) body: Vec<u8>,
    /// The cache name, the key's version and its encoded key value (for the announcement).
    pub(crate) cache: String,
    pub(crate) version: u32,
    pub(crate) key: Vec<u8>,
    /// The `lock = true` lock to release once the value is in.
    pub(crate) lock: Option<LockGuard>,
}

/// Unix time in milliseconds (envelopes are compared across machines).
pub(crate) fn unix_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64)
}
