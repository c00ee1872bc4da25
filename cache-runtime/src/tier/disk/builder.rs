//! The builder's methods for the disk tier.

use std::path::PathBuf;

use crate::runtime::CacheRuntimeBuilder;

impl CacheRuntimeBuilder {
    /// A disk tier in directory `path` of at most `max_bytes` (feature `disk`): entries
    /// survive a restart. On a miss in process the disk is read before Redis; a hit fills
    /// the process with the entry's remaining TTL (`X-Cache-Tier: disk`). Computed values
    /// are written in the background; [`flush`](crate::CacheRuntime::flush) waits for
    /// them (await it when the service stops). The directory is created if needed and
    /// locked: a second process on the same path runs without the disk tier (an error in
    /// the log; [`RuntimeStats::disk`](crate::RuntimeStats::disk) is `None`). Without the
    /// feature the setting is ignored.
    ///
    /// ```
    /// let dir = std::env::temp_dir().join(format!("doc-disk-{}", std::process::id()));
    /// let rt = cache_runtime::CacheRuntime::builder().disk(&dir, 64 << 20).build();
    /// # let _ = rt; let _ = std::fs::remove_dir_all(&dir);
    /// ```
    pub fn disk(mut self, path: impl Into<PathBuf>, max_bytes: u64) -> Self {
        self.disk.path = Some(path.into());
        self.disk.max_bytes = max_bytes;
        if self.disk.max_value_bytes == 0 {
            self.disk.max_value_bytes = super::DEFAULT_MAX_VALUE_BYTES;
        }
        self
    }

    /// The largest encoded value written to disk (default 1 MiB; never more than half
    /// of the engine's block, `max_bytes / 32` up to 8 MiB). Larger values stay in process.
    pub fn disk_max_value_bytes(mut self, bytes: usize) -> Self {
        self.disk.max_value_bytes = bytes;
        self
    }

    /// Turns the disk tier on or off for cache `name` (default on); beats the attribute's
    /// `disk = ...`.
    ///
    /// ```
    /// let rt = cache_runtime::CacheRuntime::builder().disk_cache("sessions", false).build();
    /// # let _ = rt;
    /// ```
    pub fn disk_cache(mut self, name: impl Into<String>, on: bool) -> Self {
        self.disk.caches.insert(name.into(), on);
        self
    }
}
