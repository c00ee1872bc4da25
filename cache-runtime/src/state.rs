//! The bottom layer: what every part of the runtime knows about a cache name and a tag.
//! Invalidation changes it; the tiers and flights are judged against it.
//!
//! - A cache's **generation** is bumped by `invalidate_all`: an entry computed under an
//!   older one is dead wherever it is.
//! - A tag's **generation** is bumped by `invalidate_tag`, likewise for entries carrying it.
//! - A cache's **epoch** is bumped by *every* invalidation of that cache, key by key too: a
//!   computation that began under an older epoch neither stores its value nor is joined
//!   by a call that begins afterwards.
//!
//! A generation (a cache's, a tag's, here and in Redis alike) has two parts: its bits
//! below [`SOFT_STEP`] (the low 40) are *hard*, bumped by 1 by `invalidate_all` / `invalidate_tag`
//! (Redis `INCR`); the bits above are *soft*, bumped by [`SOFT_STEP`] by `expire_all` /
//! `expire_tag` (Redis `INCRBY`). An entry whose recorded generations all equal the
//! current ones is current (may be served fresh); one whose hard parts are equal but a
//! soft part differs is *expired*: never served fresh, still the fail-safe copy inside its
//! `stale_if_error` window ([`alive`]); anything else is dead. So a hit still compares one
//! word per generation, as before, and an expiry needs no entry to be touched.
//!
//! A [`Validity`] is the snapshot of these taken when a computation begins.

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::Weak;
use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};

use parking_lot::{Mutex, RwLock};

use crate::key::KeyBuf;
use crate::stats::Counters;

/// What `expire_all` / `expire_tag` add to a generation: the parts below it are the hard
/// generation (see the module docs). 2^40 invalidations before the hard part carries into
/// the soft one (which reads as one more invalidation), and 2^23 expiries before a
/// generation in Redis overflows (reset to a random one: an invalidation).
pub(crate) const SOFT_STEP: u64 = 1 << 40;

/// Whether an entry recorded under generation `recorded` is still alive under `current`:
/// no hard invalidation since, expiries allowed.
#[inline]
pub(crate) fn alive(current: u64, recorded: u64) -> bool {
    (current ^ recorded) & (SOFT_STEP - 1) == 0
}

/// The state shared by every call site of one cache name.
pub(crate) struct CacheState {
    pub(crate) name: Box<str>,
    pub(crate) id: u32,
    /// Bumped by `invalidate_all` (hard part: entries computed under an older one are
    /// dead) and `expire_all` (soft part: they are expired); see the module docs.
    pub(crate) generation: AtomicU64,
    /// Bumped by every invalidation of this cache; a fill that saw it change while it
    /// computed does not store, and no new call joins its flight.
    pub(crate) epoch: AtomicU64,
    /// Held by a store into the in-process tier and by a key invalidation, so that an
    /// invalidation either sees the stored entry and removes it, or the store sees the new
    /// epoch and does not happen.
    pub(crate) store: Mutex<()>,
    /// The versions call sites have used, so `invalidate` reaches each.
    pub(crate) versions: RwLock<Vec<u32>>,
    /// The encoded type parameters (of generic functions, and `Self` of methods) keys of
    /// this cache have ended with; the empty one always. `invalidate` takes the key value
    /// alone and tries each.
    suffixes: RwLock<Vec<Box<[u8]>>>,
    /// The versions and value types this instance has used with the remote tier, so
    /// `invalidate` can name the Redis keys of a key value.
    remote_types: RwLock<Vec<(u32, &'static str)>>,
    pub(crate) counters: Counters,
    /// The cache's `tti` in ticks (0: none), set when a call site resolves: what tells an
    /// idle entry from an evicted one when it leaves (`tier/local/events.rs`).
    pub(crate) tti: AtomicU64,
}

impl CacheState {
    /// Records the type-parameter suffix of a key about to be stored (miss path only).
    #[inline]
    pub(crate) fn note_suffix(&self, suffix: &[u8]) {
        // The empty suffix (every non-generic function's) is always there: no lock for it.
        if suffix.is_empty() || self.suffixes.read().iter().any(|s| **s == *suffix) {
            return;
        }
        let mut all = self.suffixes.write();
        if !all.iter().any(|s| **s == *suffix) {
            all.push(suffix.into());
        }
    }

    /// Every full key (prefix left to stamp) a key value may be stored under.
    pub(crate) fn keys_of(&self, encoded: &KeyBuf) -> Vec<KeyBuf> {
        self.suffixes
            .read()
            .iter()
            .map(|suffix| {
                let mut k = encoded.clone();
                k.extend_from_slice(suffix);
                k
            })
            .collect()
    }

    /// Records that entries of `version` and `value_type` may be in the remote tier.
    pub(crate) fn note_remote(&self, version: u32, value_type: &'static str) {
        if self.remote_types.read().contains(&(version, value_type)) {
            return;
        }
        let mut types = self.remote_types.write();
        if !types.contains(&(version, value_type)) {
            types.push((version, value_type));
        }
    }

    /// The versions and value types used with the remote tier.
    pub(crate) fn remote_types(&self) -> Vec<(u32, &'static str)> {
        self.remote_types.read().clone()
    }
}

/// One tag's generation; `invalidate_tag` bumps its hard part, `expire_tag` its soft part.
pub(crate) struct TagState {
    pub(crate) generation: AtomicU64,
}

/// The invalidation state a computation began under.
#[derive(Clone)]
pub(crate) struct Validity {
    pub(crate) cache: Arc<CacheState>,
    pub(crate) epoch: u64,
    pub(crate) generation: u64,
    pub(crate) tags: Box<[(Arc<TagState>, u64)]>,
}

impl Validity {
    /// Whether no invalidation of the cache (key, all) or of a tag has happened since.
    #[inline]
    pub(crate) fn holds(&self) -> bool {
        self.cache.epoch.load(Ordering::SeqCst) == self.epoch
            && self
                .tags
                .iter()
                .all(|(t, g)| t.generation.load(Ordering::SeqCst) == *g)
    }
}

/// Every cache of one runtime by its id: the in-process tier, whose entries keep only their
/// cache's id, counts an entry in and out of its cache's figures through it (never on a
/// hit, which knows its cache).
#[derive(Default)]
pub(crate) struct CacheTable(RwLock<Vec<Arc<CacheState>>>);

impl CacheTable {
    /// Runs `f` on cache `id`, if there is one.
    pub(crate) fn with(&self, id: u32, f: impl FnOnce(&CacheState)) {
        if let Some(c) = self.0.read().get(id as usize) {
            f(c);
        }
    }

    /// Adds a new cache; ids are handed out in order from 0.
    fn push(&self, cache: &Arc<CacheState>) {
        let mut all = self.0.write();
        debug_assert_eq!(all.len(), cache.id as usize, "cache ids are dense");
        all.push(Arc::clone(cache));
    }
}

/// Every cache and tag of one runtime.
pub(crate) struct Registry {
    /// The namespace, which labels the caches' figures in the `metrics` facade.
    namespace: String,
    caches: RwLock<HashMap<Box<str>, Arc<CacheState>>>,
    /// The same caches by id (ids are dense: `next_id` and `table` change together under
    /// `caches`' write lock).
    table: Arc<CacheTable>,
    next_id: AtomicU32,
    tags: Mutex<HashMap<Box<str>, Weak<TagState>>>,
    /// Where each cache name was first declared, to warn about two functions sharing one.
    owners: Mutex<HashMap<&'static str, &'static str>>,
}

impl Registry {
    pub(crate) fn new(namespace: &str) -> Self {
        Self {
            namespace: namespace.to_owned(),
            caches: RwLock::new(HashMap::new()),
            table: Arc::default(),
            next_id: AtomicU32::new(0),
            tags: Mutex::new(HashMap::new()),
            owners: Mutex::new(HashMap::new()),
        }
    }

    /// The state of cache `name`, made on first use.
    pub(crate) fn cache(&self, name: &str) -> Arc<CacheState> {
        if let Some(c) = self.caches.read().get(name) {
            return Arc::clone(c);
        }
        let mut caches = self.caches.write();
        let (next_id, table) = (&self.next_id, &self.table);
        Arc::clone(caches.entry(name.into()).or_insert_with(|| {
            let cache = Arc::new(CacheState {
                name: name.into(),
                id: next_id.fetch_add(1, Ordering::Relaxed),
                generation: AtomicU64::new(0),
                epoch: AtomicU64::new(0),
                store: Mutex::new(()),
                versions: RwLock::new(Vec::new()),
                suffixes: RwLock::new(vec![Box::default()]),
                remote_types: RwLock::new(Vec::new()),
                counters: Counters::new(&self.namespace, name),
                tti: AtomicU64::new(0),
            });
            table.push(&cache);
            cache
        }))
    }

    /// Every cache by id, shared with the in-process tier.
    pub(crate) fn table(&self) -> Arc<CacheTable> {
        Arc::clone(&self.table)
    }

    /// The state of cache `name` if any call has used it.
    pub(crate) fn existing(&self, name: &str) -> Option<Arc<CacheState>> {
        self.caches.read().get(name).cloned()
    }

    /// Every cache used so far.
    pub(crate) fn all(&self) -> Vec<Arc<CacheState>> {
        self.caches.read().values().cloned().collect()
    }

    /// Records that `location` declares cache `name`; warns when another function did.
    pub(crate) fn declare(&self, name: &'static str, location: &'static str, version: u32) {
        let cache = self.cache(name);
        {
            let mut versions = cache.versions.write();
            if !versions.contains(&version) {
                versions.push(version);
            }
        }
        let mut owners = self.owners.lock();
        let first = *owners.entry(name).or_insert(location);
        if first != location {
            tracing::warn!(
                cache = name,
                first,
                second = location,
                "two functions share one cache name: equal keys will share entries"
            );
        }
    }

    /// The tag state of `tag`, if any entry or computation carries it.
    pub(crate) fn existing_tag(&self, tag: &str) -> Option<Arc<TagState>> {
        self.tags.lock().get(tag).and_then(Weak::upgrade)
    }

    /// The tag states of `tags` with their current generations.
    pub(crate) fn tag_states(&self, tags: &[String]) -> Box<[(Arc<TagState>, u64)]> {
        if tags.is_empty() {
            return Box::default();
        }
        let mut map = self.tags.lock();
        if map.len() > 1024 && map.len().is_power_of_two() {
            map.retain(|_, w| w.strong_count() > 0);
        }
        tags.iter()
            .map(|t| {
                let state = match map.get(t.as_str()).and_then(Weak::upgrade) {
                    Some(s) => s,
                    None => {
                        let s = Arc::new(TagState {
                            generation: AtomicU64::new(0),
                        });
                        map.insert(t.as_str().into(), Arc::downgrade(&s));
                        s
                    }
                };
                let generation = state.generation.load(Ordering::SeqCst);
                (state, generation)
            })
            .collect()
    }
}
