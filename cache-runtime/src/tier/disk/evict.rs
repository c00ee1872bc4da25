//! Eviction events of the disk tier: records foyer's block engine drops for room, told to
//! the runtime's eviction listeners with tier `disk` and cause `capacity`.
//!
//! foyer 0.22 has no eviction listener for its disk engine (`EventListener` is its memory
//! part's). What it has is the reclaimer's *reinsertion filter*: when it empties a block
//! for reuse, it asks the filter, for each record of the block, whether to write it again
//! elsewhere (given the record's hash and length, not its bytes); the default rejects all
//! and we reject all too, so nothing about what is kept changes. Two things make a hash
//! an event:
//!
//! - **Which cache**: the engine's hash of a key is its first 8 bytes (`KeyHash`), and the
//!   key digest keeps its cache's 16-bit tag there (`record::key_digest`). [`Names`] maps
//!   tags back to names (every cache that wrote, kept in the file `caches`, so that a
//!   record written before a restart is named too). The key itself is not known: the
//!   event's key is empty.
//! - **Whether the record was the key's current one**: a block also holds records since
//!   replaced by a newer write of their key, or removed. At the filter the engine's index
//!   must still have the hash (else it was removed: no event); once the reclaim is over
//!   (`Store::wait`) it must no longer have it (else a newer record holds the key: it
//!   was replaced, no event), and the tier must not have removed it itself in between
//!   (an invalidation: no event). A key written again between the two is not reported.
//!
//! The check and the event run on the tier's own runtime, in one task ([`watch`]); only
//! when someone listens.

use std::collections::HashMap;
use std::fmt;
use std::hash::{BuildHasher, Hasher};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use foyer::{HybridCache, Statistics, StorageFilterCondition, StorageFilterResult};
use parking_lot::{Mutex, RwLock};
use tokio::sync::Notify;

use super::{Tell, record};
use crate::tier::local::EvictionCause;

/// The engine's key type.
pub(crate) type Engine = HybridCache<Vec<u8>, Vec<u8>, KeyHash>;

/// The engine's hasher: a key is a digest already, its first 8 bytes are its hash.
#[derive(Clone, Copy, Debug, Default)]
pub(crate) struct KeyHash;

impl BuildHasher for KeyHash {
    type Hasher = FirstBytes;
    fn build_hasher(&self) -> FirstBytes {
        FirstBytes(0)
    }
}

/// See [`KeyHash`].
pub(crate) struct FirstBytes(u64);

impl Hasher for FirstBytes {
    fn finish(&self) -> u64 {
        self.0
    }
    fn write(&mut self, bytes: &[u8]) {
        self.0 = record::engine_hash(bytes);
    }
    /// A `Vec`'s length, which its `Hash` writes before its bytes.
    fn write_usize(&mut self, _: usize) {}
}

/// A key whose engine hash is `hash` (for the index's look-ups by hash).
fn probe(hash: u64) -> Vec<u8> {
    hash.to_le_bytes().to_vec()
}

const NAMES: &str = "caches";

/// The names of the caches that wrote to this directory, by tag.
pub(crate) struct Names {
    namespace: String,
    path: PathBuf,
    tags: RwLock<Tags>,
}

#[derive(Default)]
struct Tags {
    by_name: HashMap<Box<str>, u16>,
    /// The first name of each tag.
    by_tag: HashMap<u16, Arc<str>>,
}

impl Names {
    /// Reads the names file in `dir` (one name a line; anything unreadable is skipped:
    /// the file only names events).
    pub(crate) fn load(dir: &Path, namespace: &str) -> Self {
        let path = dir.join(NAMES);
        let me = Self {
            namespace: namespace.to_owned(),
            path,
            tags: RwLock::default(),
        };
        let text = std::fs::read(&me.path).unwrap_or_default();
        let mut t = me.tags.write();
        for name in String::from_utf8_lossy(&text).lines() {
            let tag = record::cache_tag(namespace, name);
            t.by_name.insert(name.into(), tag);
            t.by_tag.entry(tag).or_insert_with(|| Arc::from(name));
        }
        drop(t);
        me
    }

    /// The tag of cache `name`; a name seen for the first time is added to the file.
    pub(crate) fn tag(&self, name: &str) -> u16 {
        if let Some(&tag) = self.tags.read().by_name.get(name) {
            return tag;
        }
        let tag = record::cache_tag(&self.namespace, name);
        let mut t = self.tags.write();
        if t.by_name.insert(name.into(), tag).is_none() {
            // Two caches of one tag: events name the first (16 bits: rare, and only the
            // name of an event is at stake).
            t.by_tag.entry(tag).or_insert_with(|| Arc::from(name));
            if !name.contains(['\n', '\r']) {
                let line = format!("{name}\n");
                let appended = std::fs::OpenOptions::new()
                    .create(true)
                    .append(true)
                    .open(&self.path)
                    .and_then(|mut f| f.write_all(line.as_bytes()));
                if let Err(e) = appended {
                    tracing::debug!(path = %self.path.display(), error = %e, "disk cache names not written: evictions after a restart may go unreported");
                }
            }
        }
        tag
    }

    fn name(&self, tag: u16) -> Option<Arc<str>> {
        self.tags.read().by_tag.get(&tag).cloned()
    }
}

/// The records of reclaimed blocks that were current when the reclaimer saw them.
#[derive(Default)]
pub(crate) struct Watch {
    /// The engine, once built (and `None` again when the tier closes: it holds the
    /// filter, which holds this).
    engine: RwLock<Option<Engine>>,
    state: Mutex<Noted>,
    wake: Notify,
}

#[derive(Default)]
struct Noted {
    /// Hashes noted by reclaims, with the moment (of `clock`) they were.
    pending: Vec<(u64, u64)>,
    /// A batch is being checked.
    checking: bool,
    /// The last moment the tier removed each hash, while hashes are pending or checked.
    removed: HashMap<u64, u64>,
    clock: u64,
}

impl Noted {
    fn tick(&mut self) -> u64 {
        self.clock += 1;
        self.clock
    }
}

impl Watch {
    /// Starts watching `engine`.
    pub(crate) fn set(&self, engine: &Engine) {
        *self.engine.write() = Some(engine.clone());
    }

    /// Notes that the tier removed the record of `hash` (so that its index entry going
    /// away is not taken for the engine's eviction). Called after the engine's removal,
    /// which takes the hash out of the index at once: a reclaim that notes the hash
    /// after it finds it gone, one that noted it before is pending or checked here.
    pub(crate) fn removed(&self, hash: u64) {
        let mut st = self.state.lock();
        if !st.pending.is_empty() || st.checking {
            let at = st.tick();
            st.removed.insert(hash, at);
        }
    }

    /// Stops (the tier is closing).
    pub(crate) fn close(&self) {
        self.engine.write().take();
        self.wake.notify_one();
    }
}

/// The reinsertion filter: rejects every record (foyer's default) and notes the current
/// ones.
pub(crate) struct Reclaims(pub(crate) Arc<Watch>);

impl fmt::Debug for Reclaims {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Reclaims")
    }
}

impl StorageFilterCondition for Reclaims {
    fn filter(&self, _: &Arc<Statistics>, hash: u64, _: usize) -> StorageFilterResult {
        // Under the lock, like the removals the tier notes (see `Watch::removed`).
        let mut st = self.0.state.lock();
        let current = self
            .0
            .engine
            .read()
            .as_ref()
            .is_some_and(|e| e.storage().may_contains(&probe(hash)));
        if current {
            let at = st.tick();
            st.pending.push((hash, at));
            if st.pending.len() == 1 {
                self.0.wake.notify_one();
            }
        }
        StorageFilterResult::Reject
    }
}

/// The task that turns noted records into events, on the tier's runtime.
pub(crate) async fn watch(watch: Arc<Watch>, names: Arc<Names>, tell: Tell) {
    loop {
        watch.wake.notified().await;
        let Some(engine) = watch.engine.read().clone() else {
            return;
        };
        // Taken before the wait: every reclaim that noted these is under way, and over
        // once the wait returns.
        let batch = {
            let mut st = watch.state.lock();
            st.checking = true;
            std::mem::take(&mut st.pending)
        };
        engine.storage().wait().await;
        let evicted: Vec<u64> = {
            // Under the lock: a removal by the tier is either noted already, or comes
            // after the look-up in the index.
            let mut st = watch.state.lock();
            st.checking = false;
            let evicted = batch
                .into_iter()
                .filter(|&(hash, at)| {
                    // Not a newer record holding the key, nor a removal by the tier.
                    !engine.storage().may_contains(&probe(hash))
                        && st.removed.get(&hash).is_none_or(|&r| r < at)
                })
                .map(|(hash, _)| hash)
                .collect();
            // What a later batch needs is what was removed after its oldest hash.
            let oldest = st.pending.iter().map(|p| p.1).min();
            st.removed.retain(|_, at| oldest.is_some_and(|o| *at >= o));
            evicted
        };
        for hash in evicted {
            if let Some(name) = names.name(record::tag_of(hash)) {
                tell(&name, None, EvictionCause::Capacity);
            }
        }
    }
}
