//! What an invalidation does, in order, and what an announcement from another instance
//! does. Every path goes: state (epoch, generations) -> local tier -> remote tier ->
//! announcement; flights need no step of their own, since a flight begun before the
//! state changed is no longer joined (see `flight.rs`).
//!
//! Read your writes: once `invalidate*` has returned, a call that begins afterwards gets
//! no value computed before it: the local entries are gone or dead, no new call joins an
//! older flight, an older computation neither stores locally nor writes remotely, and
//! this instance reads no Redis until the invalidation has landed there.
//!
//! An expiry (`expire*`) goes the same way and keeps the same promise for fresh values: a
//! call that begins afterwards gets no *fresh* value computed before it; it recomputes,
//! and only if that fails may it get the expired value, as the fail-safe copy. Locally a
//! key's entry is replaced by an expired copy and a cache's or tag's generation gets a
//! soft bump (see `state.rs`); in Redis the same soft bump of the generation, and a key's
//! entry re-sealed with its TTL ended; other instances are told. Without
//! `stale_if_error` an entry has no stale window, and an expiry is an invalidation.

use std::sync::atomic::Ordering;

use serde::Serialize;

use super::engine::Engine;
use crate::clock;
use crate::key::{self, KeyBuf, KeyParts};
use crate::state::{CacheState, SOFT_STEP};
use crate::stats::Counters;
use crate::tier::remote::{Message, Subscriber};

/// What an invalidation does to the entries it reaches.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub(super) enum Change {
    /// `invalidate*`: the entries are removed (or dead).
    Drop,
    /// `expire*`: the entries are no longer fresh, kept as fail-safe copies.
    Expire,
}

impl Change {
    /// What a cache's or tag's generation moves by (see `state.rs`).
    fn step(self) -> u64 {
        match self {
            Change::Drop => 1,
            Change::Expire => SOFT_STEP,
        }
    }

    /// Counts the call in the cache's figures.
    fn count(self, cache: &CacheState) {
        let c = &cache.counters;
        Counters::bump(match self {
            Change::Drop => &c.invalidations,
            Change::Expire => &c.expirations,
        });
    }
}

impl Engine {
    /// `invalidate(name, key_value)`: see [`CacheRuntime::invalidate`](crate::CacheRuntime::invalidate).
    pub(crate) fn invalidate_key<K: Serialize + ?Sized>(&self, name: &str, key_value: &K) -> bool {
        self.change_key(name, key_value, Change::Drop)
    }

    /// `expire(name, key_value)`: see [`CacheRuntime::expire`](crate::CacheRuntime::expire).
    pub(crate) fn expire_key<K: Serialize + ?Sized>(&self, name: &str, key_value: &K) -> bool {
        self.change_key(name, key_value, Change::Expire)
    }

    fn change_key<K: Serialize + ?Sized>(&self, name: &str, key_value: &K, change: Change) -> bool {
        let cache = self.registry.existing(name);
        if let Some(c) = &cache {
            change.count(c);
        }
        let Ok((buf, _)) = key::encode_key(key_value, &[]) else {
            return false;
        };
        self.change_encoded(name, cache.as_ref(), &buf, Instances::All, change)
    }

    /// Invalidates or expires one encoded key value (prefix left for the stamp, no type
    /// parameters) in the instantiations `which`: the part of
    /// [`invalidate_key`](Self::invalidate_key) and [`expire_key`](Self::expire_key)
    /// after encoding, shared with [`CacheEntry`](crate::CacheEntry)'s `invalidate` and
    /// `expire`. Whether an entry was held here.
    ///
    /// The announcement names the key value only, so other instances reach every
    /// instantiation of it: more than needed for [`Instances::Only`], never less.
    pub(super) fn change_encoded(
        &self,
        name: &str,
        cache: Option<&std::sync::Arc<CacheState>>,
        buf: &KeyBuf,
        which: Instances<'_>,
        change: Change,
    ) -> bool {
        let held = cache.is_some_and(|c| self.change_local(c, buf, which, change));
        // After the local change (under the store lock): a disk write either saw it, or is
        // queued before this removal. The disk keeps no expired copy.
        self.disk.remove(name, buf.encoded());
        if self.remote.is_on() {
            let keys = match cache {
                Some(c) => self.remote_keys(c, buf.encoded(), which),
                None => Vec::new(),
            };
            match change {
                Change::Drop => self.remote.invalidate_key(name, buf.encoded(), keys),
                Change::Expire => self.remote.expire_key(name, buf.encoded(), keys),
            }
        }
        tracing::debug!(cache = name, held, ?change, "invalidate key");
        held
    }

    /// `invalidate_all(name)`.
    pub(crate) fn invalidate_all(&self, name: &str) {
        self.change_all(name, Change::Drop);
    }

    /// `expire_all(name)`.
    pub(crate) fn expire_all(&self, name: &str) {
        self.change_all(name, Change::Expire);
    }

    fn change_all(&self, name: &str, change: Change) {
        if let Some(cache) = self.registry.existing(name) {
            change.count(&cache);
            self.change_local_all(&cache, change);
        }
        self.disk.invalidate_cache(name);
        match change {
            Change::Drop => self.remote.invalidate_all(name),
            Change::Expire => self.remote.expire_all(name),
        }
        tracing::debug!(cache = name, ?change, "invalidate all");
    }

    /// `invalidate_tag(tag)`.
    pub(crate) fn invalidate_tag(&self, tag: &str) {
        self.change_tag(tag, Change::Drop);
    }

    /// `expire_tag(tag)`.
    pub(crate) fn expire_tag(&self, tag: &str) {
        self.change_tag(tag, Change::Expire);
    }

    fn change_tag(&self, tag: &str, change: Change) {
        self.change_local_tag(tag, change);
        self.disk.invalidate_tag(tag);
        match change {
            Change::Drop => self.remote.invalidate_tag(tag),
            Change::Expire => self.remote.expire_tag(tag),
        }
        tracing::debug!(tag, ?change, "invalidate tag");
    }

    /// Removes (or expires) the local entries of one encoded key value (prefix left for
    /// the stamp) in the instantiations `which`, under every version of `cache`; a
    /// computation already running will not store, and no new call joins it. An expired
    /// entry is replaced by a copy that is no longer fresh (removed when it has no stale
    /// window). Whether an entry was held.
    pub(super) fn change_local(
        &self,
        cache: &CacheState,
        buf: &KeyBuf,
        which: Instances<'_>,
        change: Change,
    ) -> bool {
        let versions = cache.versions.read().clone();
        // Under the store lock: a fill either sees the new epoch, or stored before and is
        // removed (expired) below.
        let _store = cache.store.lock();
        cache.epoch.fetch_add(1, Ordering::SeqCst);
        let now = clock::now();
        let part = self.local.part(cache.id);
        let mut held = false;
        for mut key in which.keys(cache, buf) {
            for &v in &versions {
                key::stamp(&mut key, cache.id, v);
                held |= match change {
                    Change::Drop => self.local.remove(&part, &key),
                    Change::Expire => self.local.expire(cache, &part, &key, now),
                };
            }
        }
        held
    }

    /// Bumps the cache's generation (its hard or soft part, see `state.rs`): every entry
    /// computed before is dead (and purged) or expired; a computation already running
    /// will not store.
    fn change_local_all(&self, cache: &CacheState, change: Change) {
        {
            let _store = cache.store.lock();
            cache.generation.fetch_add(change.step(), Ordering::SeqCst);
            cache.epoch.fetch_add(1, Ordering::SeqCst);
        }
        if change == Change::Drop {
            self.local.purge(cache.id);
        }
    }

    fn change_local_tag(&self, tag: &str, change: Change) {
        if let Some(state) = self.registry.existing_tag(tag) {
            state.generation.fetch_add(change.step(), Ordering::SeqCst);
        }
    }

    /// Another instance's key announcement: the local entries, and the Redis copies when
    /// the sender could not name them (`done` false) and this instance can.
    fn on_key(&self, name: &str, key: &[u8], done: bool, change: Change) {
        let Some(cache) = self.registry.existing(name) else {
            return;
        };
        self.change_local(&cache, &key::unstamped(key), Instances::All, change);
        if !done {
            let keys = self.remote_keys(&cache, key, Instances::All);
            match change {
                Change::Drop => self.remote.forget(keys),
                Change::Expire => self.remote.reseal(name, keys),
            }
        }
    }

    fn on_all(&self, name: &str, change: Change) {
        if let Some(cache) = self.registry.existing(name) {
            self.change_local_all(&cache, change);
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
            Message::Key { name, key, deleted } => self.on_key(&name, &key, deleted, Change::Drop),
            Message::All { name } => self.on_all(&name, Change::Drop),
            Message::Tag { tag } => self.change_local_tag(&tag, Change::Drop),
            Message::ExpireKey {
                name,
                key,
                resealed,
            } => self.on_key(&name, &key, resealed, Change::Expire),
            Message::ExpireAll { name } => self.on_all(&name, Change::Expire),
            Message::ExpireTag { tag } => self.change_local_tag(&tag, Change::Expire),
            Message::Write { name, version, key } => {
                let Some(cache) = self.registry.existing(&name) else {
                    return;
                };
                let mut buf = key::unstamped(&key);
                key::stamp(&mut buf, cache.id, version);
                self.local.remove(&self.local.part(cache.id), &buf);
            }
        }
    }

    fn on_resubscribed(&self) {
        for cache in self.registry.all() {
            self.change_local_all(&cache, Change::Drop);
        }
    }
}
