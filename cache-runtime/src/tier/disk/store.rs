//! The disk tier when it is on: foyer's block engine (a `HybridCache` whose memory part
//! is a few hundred KiB, written on insertion) on a directory the process holds a lock
//! on, with its own small tokio runtime, the generations file (`marks.rs`) and the
//! record format (`record.rs`).
//!
//! foyer keeps no TTL (its issues #308 and #983): every record carries its own deadlines,
//! generations and key digest, checked on each read. Its recovery (`RecoverMode::Quiet`)
//! skips what it cannot read; a start that still fails clears the directory once and
//! tries again, and if that fails too the runtime runs without a disk tier (logged):
//! no fault of the disk fails a start.

use std::fs::File;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};

use std::sync::Arc;

use foyer::{
    BlockEngineConfig, DeviceBuilder, FsDeviceBuilder, HybridCacheBuilder, HybridCachePolicy,
    PsyncIoEngineConfig, RecoverMode, Spawner, StorageFilter,
};

use super::evict::{self, Engine, KeyHash, Names, Reclaims, Watch};
use super::marks::{Marks, Of};
use super::record::{self, Invalid, Meta};
use super::writer::{Job, Writer};
use super::{DiskConfig, DiskStats, Found, Tell, Want};
use crate::tier::local::EvictionCause;
use crate::tier::remote::unix_ms;

/// The memory part foyer's `HybridCache` insists on (records, by their length).
const MEMORY_BYTES: usize = 256 << 10;
/// The least of foyer's write buffer. Every record takes 4 KiB there (its alignment), and
/// a record that finds the buffer full while the previous one is being written is dropped
/// unwritten: at 2 blocks of 64 KiB a burst of 30 writes lost some.
const BUFFER_FLOOR: usize = 1 << 20;
const LOCK: &str = "LOCK";
const ENGINE_DIR: &str = "engine";

#[derive(Default)]
struct Counters {
    hits: AtomicU64,
    misses: AtomicU64,
    rejected: AtomicU64,
    corrupt: AtomicU64,
    writes: AtomicU64,
    too_large: AtomicU64,
    errors: AtomicU64,
}

/// An open disk tier.
pub(crate) struct On {
    rt: Option<tokio::runtime::Runtime>,
    cache: Engine,
    marks: Marks,
    /// The caches' tags (`evict.rs`).
    names: Arc<Names>,
    /// Who hears of records leaving (`None`: nobody listens).
    tell: Option<Tell>,
    /// The reclaims' records, when someone listens.
    watch: Option<Arc<Watch>>,
    namespace: String,
    ns: [u8; 8],
    max_value: usize,
    path: PathBuf,
    max_bytes: u64,
    counters: Counters,
    /// Inserts records off the callers' threads (`writer.rs`); taken on drop.
    writer: Option<Writer>,
    /// Held for as long as the tier is open: a second process on the path is refused.
    _lock: File,
}

impl Drop for On {
    fn drop(&mut self) {
        // Stopped before the runtime it inserts on.
        drop(self.writer.take());
        if let Some(w) = &self.watch {
            w.close();
        }
        // Not `Runtime::drop`, which panics inside an async context.
        if let Some(rt) = self.rt.take() {
            rt.shutdown_background();
        }
    }
}

/// The engine's block: 1/16 of the bytes, between 64 KiB and 16 MiB, 4 KiB aligned. A
/// record must fit in half a block.
fn block_size(max_bytes: u64) -> usize {
    let b = (max_bytes / 16).clamp(64 << 10, 16 << 20) as usize;
    b.div_ceil(4096) * 4096
}

async fn build(
    dir: &Path,
    max_bytes: u64,
    spawner: Spawner,
    watch: Option<&Arc<Watch>>,
) -> foyer::Result<Engine> {
    let block = block_size(max_bytes);
    // Reclaimed records are never written again (foyer's default), and noted for the
    // eviction events when someone listens.
    let reinsertion = match watch {
        Some(w) => StorageFilter::new().with_condition(Reclaims(Arc::clone(w))),
        None => StorageFilter::new().with_condition(foyer::RejectAll),
    };
    let device = FsDeviceBuilder::new(dir)
        .with_capacity(max_bytes as usize)
        .build()?;
    HybridCacheBuilder::new()
        .with_name("cache-runtime-disk")
        .with_policy(HybridCachePolicy::WriteOnInsertion)
        .memory(MEMORY_BYTES)
        .with_hash_builder(KeyHash)
        .with_weighter(|k: &Vec<u8>, v: &Vec<u8>| k.len() + v.len())
        .storage()
        .with_io_engine_config(PsyncIoEngineConfig::new())
        .with_engine_config(
            BlockEngineConfig::new(device)
                .with_block_size(block)
                .with_buffer_pool_size((2 * block).max(BUFFER_FLOOR))
                .with_submit_queue_size_threshold(4 * block)
                .with_reinsertion_filter(reinsertion)
                // Removals survive a restart: a removed record does not come back.
                .with_tombstone_log(true),
        )
        .with_recover_mode(RecoverMode::Quiet)
        .with_spawner(spawner)
        .build()
        .await
}

impl On {
    /// Opens the tier; `Err` with a message for the log when it cannot be used.
    pub(crate) fn open(
        path: &Path,
        config: &DiskConfig,
        namespace: &str,
        tell: Option<Tell>,
    ) -> Result<Self, String> {
        let path = path.to_path_buf();
        std::fs::create_dir_all(&path)
            .map_err(|e| format!("cannot create {}: {e}", path.display()))?;
        let lock = File::options()
            .create(true)
            .truncate(false)
            .read(true)
            .write(true)
            .open(path.join(LOCK))
            .map_err(|e| format!("cannot open {}: {e}", path.join(LOCK).display()))?;
        match fs4::fs_std::FileExt::try_lock_exclusive(&lock) {
            Ok(true) => {}
            Ok(false) => {
                return Err(format!(
                    "{} is in use by another process: one disk cache directory per process",
                    path.display()
                ));
            }
            Err(e) => return Err(format!("cannot lock {}: {e}", path.display())),
        }
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .thread_name("cache-disk")
            .enable_all()
            .build()
            .map_err(|e| format!("cannot start the disk tier's runtime: {e}"))?;
        let dir = path.join(ENGINE_DIR);
        let spawner = Spawner::from(rt.handle().clone());
        let watch = tell.is_some().then(|| Arc::new(Watch::default()));
        let opened = rt.block_on(build(
            &dir,
            config.max_bytes,
            spawner.clone(),
            watch.as_ref(),
        ));
        let cache = match opened {
            Ok(c) => c,
            Err(e) => {
                tracing::warn!(path = %dir.display(), error = %e, "disk cache files unreadable: starting empty");
                let _ = std::fs::remove_dir_all(&dir);
                rt.block_on(build(&dir, config.max_bytes, spawner, watch.as_ref()))
                    .map_err(|e| format!("cannot open the disk cache in {}: {e}", dir.display()))?
            }
        };
        let marks = Marks::load(&path, unix_ms(), Some(&lock));
        let names = Arc::new(Names::load(&path, namespace));
        if let (Some(w), Some(t)) = (&watch, &tell) {
            w.set(&cache);
            rt.spawn(evict::watch(
                Arc::clone(w),
                Arc::clone(&names),
                Arc::clone(t),
            ));
        }
        let writer = Writer::start(cache.clone(), rt.handle().clone());
        Ok(Self {
            rt: Some(rt),
            writer: Some(writer),
            cache,
            marks,
            names,
            tell,
            watch,
            namespace: namespace.to_owned(),
            ns: record::namespace_digest(namespace),
            max_value: config
                .max_value_bytes
                .min(block_size(config.max_bytes) / 2 - 1024),
            path,
            max_bytes: config.max_bytes,
            counters: Counters::default(),
            _lock: lock,
        })
    }

    fn writer(&self) -> &Writer {
        self.writer.as_ref().expect("writer held until drop")
    }

    fn handle(&self) -> &tokio::runtime::Handle {
        self.rt.as_ref().expect("runtime held until drop").handle()
    }

    fn key(&self, cache: &str, encoded: &[u8]) -> Vec<u8> {
        let tag = self.names.tag(cache);
        record::key_digest(&self.namespace, cache, tag, encoded).to_vec()
    }

    /// Reads the record of a key and checks it: its namespace, key, version, value type,
    /// checksum, generations and deadlines.
    pub(crate) async fn read(&self, want: &Want<'_>) -> Option<Found> {
        let key = self.key(want.cache, want.encoded);
        // The index in memory first: a key never written costs no task on the engine's
        // runtime (a cold miss stays a few microseconds, not a cross-thread round trip).
        if !self.cache.contains(&key) {
            self.counters.misses.fetch_add(1, Relaxed);
            return None;
        }
        let cache = self.cache.clone();
        let k = key.clone();
        let got = self
            .handle()
            .spawn(async move { cache.get(&k).await.map(|e| e.map(|e| e.value().clone())) })
            .await;
        let bytes = match got {
            Ok(Ok(Some(bytes))) => bytes,
            Ok(Ok(None)) => {
                self.counters.misses.fetch_add(1, Relaxed);
                return None;
            }
            Ok(Err(e)) => {
                self.counters.errors.fetch_add(1, Relaxed);
                tracing::warn!(cache = want.cache, error = %e, "disk cache read failed: recomputing");
                return None;
            }
            Err(e) => {
                self.counters.errors.fetch_add(1, Relaxed);
                tracing::warn!(cache = want.cache, error = %e, "disk cache read failed: recomputing");
                return None;
            }
        };
        match record::open(&bytes) {
            Ok((meta, value)) => {
                let mine = meta.namespace == self.ns
                    && meta.key[..] == key[..]
                    && meta.cache == want.cache
                    && meta.version == want.version
                    && meta.value_type == want.value_type;
                let now = unix_ms();
                if !mine {
                    self.counters.rejected.fetch_add(1, Relaxed);
                    return None;
                }
                let gone = if !self.marks.holds(meta.cache, &meta.tags, meta.began_ms) {
                    Some(EvictionCause::Invalidated)
                } else if now >= meta.fresh_until_ms {
                    Some(EvictionCause::Expired)
                } else {
                    None
                };
                if let Some(cause) = gone {
                    // Never served from disk: removed, and told.
                    self.counters.misses.fetch_add(1, Relaxed);
                    self.drop_record(&key);
                    if let Some(tell) = &self.tell {
                        tell(want.cache, Some(want.encoded), cause);
                    }
                    return None;
                }
                self.counters.hits.fetch_add(1, Relaxed);
                Some(Found {
                    body: value.to_vec(),
                    began_ms: meta.began_ms,
                    fresh_until_ms: meta.fresh_until_ms,
                    stale_until_ms: meta.stale_until_ms,
                })
            }
            Err(why) => {
                let c = if why == Invalid::Corrupt {
                    &self.counters.corrupt
                } else {
                    &self.counters.rejected
                };
                c.fetch_add(1, Relaxed);
                tracing::warn!(cache = want.cache, reason = ?why, "disk cache record refused: recomputing");
                // Gone, so that the next read does not find it again.
                self.drop_record(&key);
                None
            }
        }
    }

    /// Queues a record for writing (foyer writes it from its own flusher).
    pub(crate) fn write(
        &self,
        want: &Want<'_>,
        tags: &[&str],
        deadlines: (u64, u64, u64),
        value: &[u8],
    ) {
        if value.len() > self.max_value {
            self.counters.too_large.fetch_add(1, Relaxed);
            return;
        }
        let key = self.key(want.cache, want.encoded);
        let (began_ms, fresh_until_ms, stale_until_ms) = deadlines;
        let meta = Meta {
            namespace: self.ns,
            key: key.clone().try_into().expect("32 bytes"),
            version: want.version,
            began_ms,
            fresh_until_ms,
            stale_until_ms,
            value_type: want.value_type,
            cache: want.cache,
            tags: tags.to_vec(),
        };
        let bytes = record::seal(&meta, value);
        let queued = self.writer().push(Job { key, bytes });
        if queued {
            self.counters.writes.fetch_add(1, Relaxed);
        }
    }

    /// Removes the record of one key.
    pub(crate) fn remove(&self, cache: &str, encoded: &[u8]) {
        self.drop_record(&self.key(cache, encoded));
    }

    fn drop_record(&self, key: &Vec<u8>) {
        // Under the writer's gate: a record of this key still queued is dropped from the
        // queue, one the writer took is in the engine already and removed here.
        self.writer().remove_with(key, || {
            let _g = self.handle().enter();
            self.cache.remove(key);
        });
        if let Some(w) = &self.watch {
            w.removed(record::engine_hash(key));
        }
    }

    /// Every record of `name` (a cache or a tag) begun until now is no longer served.
    pub(crate) fn invalidate(&self, of: Of, name: &str) {
        self.marks.mark(of, name, unix_ms());
    }

    /// Waits until every queued record is on disk.
    pub(crate) async fn flush(&self) {
        self.writer().drain();
        let cache = self.cache.clone();
        let _ = self
            .handle()
            .spawn(async move { cache.storage().wait().await })
            .await;
    }

    /// The tier's figures.
    pub(crate) fn stats(&self) -> DiskStats {
        let c = &self.counters;
        let (dropped, skipped) = self.writer().counts();
        DiskStats {
            path: self.path.display().to_string(),
            capacity_bytes: self.max_bytes,
            hits: c.hits.load(Relaxed),
            misses: c.misses.load(Relaxed),
            rejected: c.rejected.load(Relaxed),
            corrupt: c.corrupt.load(Relaxed),
            writes: c.writes.load(Relaxed),
            too_large: c.too_large.load(Relaxed),
            errors: c.errors.load(Relaxed),
            dropped,
            skipped,
        }
    }
}
