//! The disk tier (feature `disk`): entries that survive a restart, under the process tier
//! and above Redis. The orchestrator sees only [`Disk`], which without the feature or a
//! path holds nothing.
//!
//! Files: `record.rs` the bytes of one record (header, value, checksum); `marks.rs` the
//! generations of caches and tags, kept across restarts as wall-clock moments; `store.rs`
//! the tier when it is on (foyer's block engine, the directory lock); `evict.rs` the
//! eviction events of records the engine drops; `builder.rs` the builder's methods.
//!
//! A miss in process reads the disk (before Redis): a record that is whole, of this
//! namespace, key, version and value type, begun after the last invalidation of its cache
//! and tags, and still fresh, fills the process with its remaining TTL. A computed value
//! is queued for writing in the background. Anything else is a counted miss.

mod builder;
#[cfg(feature = "disk")]
mod evict;
#[cfg(feature = "disk")]
mod marks;
#[cfg(feature = "disk")]
mod record;
#[cfg(feature = "disk")]
mod store;
#[cfg(feature = "disk")]
mod writer;

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::Arc;

use serde::{Deserialize, Serialize};

use crate::tier::local::EvictionCause;

/// Who the disk tier tells of records that left it: the cache name, the key's encoding
/// (`None` when not known: a record the engine dropped unread) and why.
pub(crate) type Tell = Arc<dyn Fn(&str, Option<&[u8]>, EvictionCause) + Send + Sync>;

/// The largest value written to disk by default: 1 MiB (encoded).
pub(crate) const DEFAULT_MAX_VALUE_BYTES: usize = 1 << 20;

/// The builder's disk settings.
#[derive(Clone, Debug, Default)]
pub(crate) struct DiskConfig {
    /// `None`: no disk tier.
    pub(crate) path: Option<PathBuf>,
    pub(crate) max_bytes: u64,
    pub(crate) max_value_bytes: usize,
    /// Per cache name: on or off (the builder's override; default on).
    pub(crate) caches: HashMap<String, bool>,
}

/// The figures of the disk tier (feature `disk`), in [`RuntimeStats::disk`](crate::RuntimeStats::disk).
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq, Default)]
pub struct DiskStats {
    /// The directory.
    pub path: String,
    /// The most bytes the engine keeps on disk.
    pub capacity_bytes: u64,
    /// Reads that found a current record.
    pub hits: u64,
    /// Reads that found none, or one invalidated or past its TTL.
    pub misses: u64,
    /// Records of another namespace, format, key, version or value type.
    pub rejected: u64,
    /// Records whose checksum or length did not match (torn or damaged bytes).
    pub corrupt: u64,
    /// Records queued for writing.
    pub writes: u64,
    /// Records not written: the writer's queue was full (32 MiB of records waiting).
    pub dropped: u64,
    /// Records not written: their key was invalidated while they waited for the writer.
    pub skipped: u64,
    /// Values not written: over the size limit.
    pub too_large: u64,
    /// Reads the engine failed.
    pub errors: u64,
}

/// Which record a read or write is about.
#[cfg_attr(not(feature = "disk"), allow(dead_code))]
pub(crate) struct Want<'a> {
    pub(crate) cache: &'a str,
    pub(crate) version: u32,
    pub(crate) value_type: &'a str,
    pub(crate) encoded: &'a [u8],
}

/// A current record read back.
#[cfg_attr(not(feature = "disk"), allow(dead_code))]
pub(crate) struct Found {
    /// The value, MessagePack.
    pub(crate) body: Vec<u8>,
    pub(crate) began_ms: u64,
    pub(crate) fresh_until_ms: u64,
    pub(crate) stale_until_ms: u64,
}

/// The disk tier as the orchestrator sees it: off, or an open engine.
pub(crate) struct Disk {
    #[cfg(feature = "disk")]
    on: Option<Arc<store::On>>,
    caches: HashMap<String, bool>,
}

#[cfg_attr(not(feature = "disk"), allow(unused_variables))]
impl Disk {
    /// Opens the tier when a path is configured (and the feature is on). A path that
    /// cannot be used (another process holds it, no permission) leaves the tier off,
    /// with an error in the log: the runtime starts either way. `tell` hears of records
    /// that leave the disk (`None`: nobody listens).
    pub(crate) fn open(config: &DiskConfig, namespace: &str, tell: Option<&Tell>) -> Self {
        let caches = config.caches.clone();
        #[cfg(feature = "disk")]
        {
            // On a thread of its own: opening blocks on foyer's runtime, which panics on
            // a thread that drives async tasks (a runtime built inside `#[tokio::main]`).
            let open = |path| {
                std::thread::scope(|s| {
                    s.spawn(|| store::On::open(path, config, namespace, tell.cloned()))
                        .join()
                        .unwrap_or_else(|_| Err("the disk tier panicked while opening".into()))
                })
            };
            let on = config.path.as_ref().and_then(|path| match open(path) {
                Ok(on) => Some(Arc::new(on)),
                Err(e) => {
                    tracing::error!(error = %e, "disk cache not opened: running without it");
                    None
                }
            });
            Self { on, caches }
        }
        #[cfg(not(feature = "disk"))]
        Self { caches }
    }

    /// Whether the tier is open.
    pub(crate) fn is_on(&self) -> bool {
        #[cfg(feature = "disk")]
        return self.on.is_some();
        #[cfg(not(feature = "disk"))]
        false
    }

    /// Whether cache `name` uses the tier: open, and not turned off for it (the
    /// builder's `disk_cache` beats the attribute's `disk = ...`).
    pub(crate) fn used_by(&self, name: &str, declared: bool) -> bool {
        self.is_on() && self.caches.get(name).copied().unwrap_or(declared)
    }

    /// Reads a current record.
    pub(crate) async fn read(&self, want: &Want<'_>) -> Option<Found> {
        #[cfg(feature = "disk")]
        if let Some(on) = &self.on {
            return on.read(want).await;
        }
        None
    }

    /// Queues a record: `(began, fresh_until, stale_until)` in unix ms. The tier's writer
    /// inserts it (`writer.rs`); a removal of its key before then drops it from the queue.
    pub(crate) fn write(
        &self,
        want: &Want<'_>,
        tags: &[&str],
        deadlines: (u64, u64, u64),
        value: &[u8],
    ) {
        #[cfg(feature = "disk")]
        if let Some(on) = &self.on {
            on.write(want, tags, deadlines, value);
        }
    }

    /// Removes the record of a key (`invalidate`, `expire`: the disk keeps no expired copy).
    pub(crate) fn remove(&self, cache: &str, encoded: &[u8]) {
        #[cfg(feature = "disk")]
        if let Some(on) = &self.on {
            on.remove(cache, encoded);
        }
    }

    /// `invalidate_all`/`expire_all` of a cache: its records begun until now are ignored.
    pub(crate) fn invalidate_cache(&self, name: &str) {
        #[cfg(feature = "disk")]
        if let Some(on) = &self.on {
            on.invalidate(marks::Of::Cache, name);
        }
    }

    /// `invalidate_tag`/`expire_tag`.
    pub(crate) fn invalidate_tag(&self, tag: &str) {
        #[cfg(feature = "disk")]
        if let Some(on) = &self.on {
            on.invalidate(marks::Of::Tag, tag);
        }
    }

    /// Waits until every queued record is written.
    pub(crate) async fn flush(&self) {
        #[cfg(feature = "disk")]
        if let Some(on) = &self.on {
            on.flush().await;
        }
    }

    /// The tier's figures, when it is open.
    pub(crate) fn stats(&self) -> Option<DiskStats> {
        #[cfg(feature = "disk")]
        return self.on.as_ref().map(|on| on.stats());
        #[cfg(not(feature = "disk"))]
        None
    }
}
