//! What an invalidation does, in order, and what an announcement from another instance
//! does. Every path goes: state (epoch, generations) -> local tier -> remote tier ->
//! announcement; flights need no step of their own, since a flight begun before the
//! state changed is no longer joined (see `flight.rs`).
//!
//! Read your writes: once `invalidate*` has returned, a call that begins afterwards gets
//! no value computed before it: the local entries are gone or dead, no new call joins an
//! older flight, an older computation neither stores locally nor writes remotely, and
//! this instance reads no Redis until the invalidation has landed there.

use std::sync::atomic::Ordering;

use serde::Serialize;

use super::engine::Engine;
use crate::key::{self, KeyBuf, KeyParts};
use crate::state::CacheState;
use crate::stats::Counters;
use crate::tier::remote::{Message, Subscriber};

impl Engine {
    /// `invalidate(name, key_value)`: see [`CacheRuntime::invalidate`](crate::CacheRuntime::invalidate).
    pub(crate) fn invalidate_key<K: Serialize + ?Sized>(&self, name: &str, key_value: &K) -> bool {
        let cache = self.registry.existing(name);
        if let Some(c) = &cache {
            Counters::bump(&c.counters.invalidations);
        }
        let Ok((buf, _)) = key::encode_key(key_value, &[]) else {
            return false;
        };
        self.invalidate_encoded(name, cache.as_ref(), &buf, Instances::All)
    }

    /// Invalidates one encoded key value (prefix left for the stamp, no type parameters)
    /// in the instantiations `which`: the part of [`invalidate_key`](Self::invalidate_key)
    /// after encoding, shared with [`CacheEntry::invalidate`](crate::CacheEntry::invalidate).
    ///
    /// The announcement names the key value only, so other instances drop every
    /// instantiation of it: more than needed for [`Instances::Only`], never less.
    pub(super) fn invalidate_encoded(
        &self,
        name: &str,
        cache: Option<&std::sync::Arc<CacheState>>,
        buf: &KeyBuf,
        which: Instances<'_>,
    ) -> bool {
        let removed = cache.is_some_and(|c| self.drop_key(c, buf, which));
        if self.remote.is_on() {
            let keys = match cache {
                Some(c) => self.remote_keys(c, buf.encoded(), which),
                None => Vec::new(),
            };
            self.remote.invalidate_key(name, buf.encoded(), keys);
        }
        tracing::debug!(cache = name, removed, "invalidate");
        removed
    }

    /// `invalidate_all(name)`.
    pub(crate) fn invalidate_all(&self, name: &str) {
        if let Some(cache) = self.registry.existing(name) {
            Counters::bump(&cache.counters.invalidations);
            self.drop_all(&cache);
        }
        self.remote.invalidate_all(name);
        tracing::debug!(cache = name, "invalidate_all");
    }

    /// `invalidate_tag(tag)`.
    pub(crate) fn invalidate_tag(&self, tag: &str) {
        self.drop_tag(tag);
        self.remote.invalidate_tag(tag);
        tracing::debug!(tag, "invalidate_tag");
    }

    /// Removes the local entries of one encoded key value (prefix left for the stamp) in
    /// the instantiations `which`, under every version of `cache`; a computation already
    /// running will not store, and no new call joins it.
    pub(super) fn drop_key(&self, cache: &CacheState, buf: &KeyBuf, which: Instances<'_>) -> bool {
        let versions = cache.versions.read().clone();
        // Under the store lock: a fill either sees the new epoch, or stored before and is
        // removed below.
        let _store = cache.store.lock();
        cache.epoch.fetch_add(1, Ordering::SeqCst);
        let mut removed = false;
        for mut key in which.keys(cache, buf) {
            for &v in &versions {
                key::stamp(&mut key, cache.id, v);
                removed |= self.local.remove(&key);
            }
        }
        removed
    }

    fn drop_all(&self, cache: &CacheState) {
        {
            let _store = cache.store.lock();
            cache.generation.fetch_add(1, Ordering::SeqCst);
            cache.epoch.fetch_add(1, Ordering::SeqCst);
        }
        self.local.purge(cache.id);
    }

    fn drop_tag(&self, tag: &str) {
        if let Some(state) = self.registry.existing_tag(tag) {
            state.generation.fetch_add(1, Ordering::SeqCst);
        }
    }

    /// The Redis keys of an encoded key value in the instantiations `which`, under every
    /// version and value type this instance has used with the remote tier.
    fn remote_keys(&self, cache: &CacheState, encoded: &[u8], which: Instances<'_>) -> Vec<String> {
        let buf = key::unstamped(encoded);
        let types = cache.remote_types();
        which
            .keys(cache, &buf)
            .iter()
            .flat_map(|key| {
                types.iter().map(move |&(version, value_type)| {
                    self.remote_key(&cache.name, version, value_type, key.encoded())
                })
            })
            .collect()
    }
}

/// Which instantiations of a generic function's key value an invalidation reaches.
#[derive(Clone, Copy)]
pub(super) enum Instances<'a> {
    /// Every instantiation seen (`invalidate(name, key)`, which names no type; an
    /// announcement from another instance).
    All,
    /// The one whose type-parameter suffix this is (a typed handle `f_entry::<T>(..)`).
    Only(&'a [u8]),
}

impl Instances<'_> {
    /// The full keys (prefix left to stamp) of `encoded` in these instantiations.
    fn keys(self, cache: &CacheState, encoded: &KeyBuf) -> Vec<KeyBuf> {
        match self {
            Instances::All => cache.keys_of(encoded),
            Instances::Only(suffix) => {
                let mut k = encoded.clone();
                k.extend_from_slice(suffix);
                vec![k]
            }
        }
    }
}

impl Subscriber for Engine {
    fn on_message(&self, msg: Message) {
        match msg {
            Message::Key { name, key, deleted } => {
                let Some(cache) = self.registry.existing(&name) else {
                    return;
                };
                self.drop_key(&cache, &key::unstamped(&key), Instances::All);
                if !deleted {
                    // The sender could not name the Redis keys; this instance can.
                    self.remote
                        .forget(self.remote_keys(&cache, &key, Instances::All));
                }
            }
            Message::All { name } => {
                if let Some(cache) = self.registry.existing(&name) {
                    self.drop_all(&cache);
                }
            }
            Message::Tag { tag } => self.drop_tag(&tag),
            Message::Write { name, version, key } => {
                let Some(cache) = self.registry.existing(&name) else {
                    return;
                };
                let mut buf = key::unstamped(&key);
                key::stamp(&mut buf, cache.id, version);
                self.local.remove(&buf);
            }
        }
    }

    fn on_resubscribed(&self) {
        for cache in self.registry.all() {
            self.drop_all(&cache);
        }
    }
}
