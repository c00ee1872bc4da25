//! The remote tier's part in a miss, for async calls. Only the leader of a flight reads
//! Redis, after joining and before computing:
//!
//! ```text
//! lead:  remote read (GET key + generations, one round trip)
//!        -> fresh entry: decode, fill the local tier with its remaining TTL, publish, Hit
//!        -> past its TTL but inside its stale window: keep it as the fail-safe copy
//!        -> (lock = true) take the lock, or wait for the holder's value
//!        -> compute (fill.rs) -> Ok: write to Redis in the background
//! ```
//! Synchronous calls, bypass scopes and `Tier::Local` caches never touch Redis. Trouble of
//! any kind is counted and is a miss; nothing here fails the call.

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use super::flight::Settled;
use super::policy::Tier;
use super::scope::{self, Mode, Outcome, ServedFrom};
use super::ticket::{Lead, Start, Ticket};
use crate::clock;
use crate::codec::{Codec, MAX_DECODE_BYTES, MessagePack};
use crate::key::KeyParts;
use crate::state::Validity;
use crate::stats::Counters;
use crate::tier::local::Entry;
use crate::tier::remote::{Fail, Fetched, Found, Header, Locked, Read, Stamp, Write};
use crate::value::Adapter;

/// A current entry read from Redis and decoded.
pub(super) struct RemoteHit<V> {
    value: V,
    header: Header,
    len: usize,
}

impl<R, A: Adapter<R>> Ticket<R, A> {
    /// Whether this call may use the remote tier at all.
    pub(super) fn remote_allowed(&self) -> bool {
        self.mode != Mode::Bypass
            && self.site.tier != Tier::Local
            && self.site.engine.remote.is_on()
    }

    /// Reads Redis before computing: the entry itself for a normal call (returned when
    /// fresh and decodable, kept as the fail-safe copy when stale), and in every case the
    /// generations that give the right to write the result.
    pub(super) async fn consult_remote(
        &mut self,
        start: &mut Start,
    ) -> Option<RemoteHit<A::Value>> {
        if !self.remote_allowed() {
            return None;
        }
        let site = &self.site;
        let want = self.mode == Mode::Normal && !self.background;
        let key = self.remote_entry_key();
        let remote = &site.engine.remote;
        let began = Instant::now();
        let read = remote.read(key, self.name, &self.tags, want).await;
        let hit = self.take_remote(read, began, want, start, false);
        start.at = crate::clock::now_raw();
        hit
    }

    /// The Redis key of this ticket's entry (its value type noted for invalidations by
    /// key value).
    pub(super) fn remote_entry_key(&self) -> String {
        let site = &self.site;
        let value_type = std::any::type_name::<A::Value>();
        site.cache.note_remote(site.version, value_type);
        site.engine
            .remote_key(self.name, site.version, value_type, self.key.encoded())
    }

    /// For a `put` whose read of the generations failed: where its value goes, to be
    /// judged by the recovery queue when Redis answers (`None`: no remote tier, or not for
    /// this call).
    pub(super) fn unstamped_remote(&self) -> Option<Stamp> {
        if !self.remote_allowed() {
            return None;
        }
        let site = &self.site;
        let value_type = std::any::type_name::<A::Value>();
        let key = site
            .engine
            .remote_key(self.name, site.version, value_type, self.key.encoded());
        site.engine.remote.unstamped(key, &self.tags)
    }

    /// With `lock = true`, after a remote miss: takes the lock before computing, or waits
    /// for the instance that holds it and returns its value.
    pub(super) async fn lock_remote(&mut self, start: &mut Start) -> Option<RemoteHit<A::Value>> {
        if !self.site.lock || self.mode != Mode::Normal || self.background {
            return None;
        }
        let key = start.remote.as_ref()?.key().to_owned();
        let began = Instant::now();
        let locked = self
            .site
            .engine
            .remote
            .lock(key, self.name, &self.tags)
            .await;
        let hit = match locked {
            Locked::Held(guard) => {
                start.lock = Some(guard);
                None
            }
            Locked::Filled(read) => self.take_remote(read, began, true, start, true),
            Locked::Unlocked => None,
        };
        start.at = crate::clock::now_raw();
        hit
    }

    /// Decodes a fetched value; a failure is counted.
    fn decode(&self, f: &Fetched) -> Option<A::Value> {
        match MessagePack.decode::<A::Value>(f.body()) {
            Ok(v) => Some(v),
            Err(e) => {
                Counters::bump(&self.site.cache.counters.l2.decode_failures);
                tracing::warn!(cache = self.name, error = %e, "entry in redis does not decode as this cache's value type: recomputing");
                None
            }
        }
    }

    /// Counts a remote read and decodes what it found; a miss keeps its generations in
    /// `start` as the right to write. `waited`: the read ended a wait on a lock.
    pub(super) fn take_remote(
        &mut self,
        read: Read,
        began: Instant,
        want: bool,
        start: &mut Start,
        waited: bool,
    ) -> Option<RemoteHit<A::Value>> {
        let c = &self.site.cache.counters.l2;
        let (stamp, found) = match read {
            Read::Failed(Fail::Skipped) => {
                if want {
                    Counters::bump(&c.skipped);
                }
                return None;
            }
            Read::Failed(Fail::Timeout) => {
                Counters::bump(&c.timeouts);
                return None;
            }
            Read::Failed(Fail::Error) => {
                Counters::bump(&c.errors);
                return None;
            }
            Read::Malformed => {
                Counters::bump(&c.decode_failures);
                return None;
            }
            Read::Done { stamp, found } => (stamp, found),
        };
        c.reads.fetch_add(1, Ordering::Relaxed);
        c.read_nanos
            .fetch_add(began.elapsed().as_nanos() as u64, Ordering::Relaxed);
        let hit = match found {
            Found::Entry(f) => self.decode(&f).map(|value| RemoteHit {
                value,
                len: f.body().len(),
                header: f.header,
            }),
            Found::Stale(f) => {
                // Kept as bytes: decoded only if the recomputation fails.
                self.remote_copy = Some(f);
                if want {
                    Counters::bump(&c.misses);
                }
                None
            }
            Found::Corrupt(why) => {
                Counters::bump(&c.decode_failures);
                tracing::warn!(cache = self.name, reason = ?why, "foreign bytes under a cache key in redis: recomputing");
                None
            }
            Found::Nothing | Found::Outdated => {
                if want {
                    Counters::bump(&c.misses);
                }
                None
            }
        };
        match (&hit, waited) {
            (Some(_), false) => Counters::bump(&c.hits),
            (Some(_), true) => Counters::bump(&c.lock_waits),
            (None, _) => start.remote = Some(stamp),
        }
        hit
    }

    /// The deadlines, in clock ticks from now, of an entry Redis stamped with `header`:
    /// its remaining TTL only, never more than this instance's own TTL.
    fn remote_deadlines(&self, header: &Header) -> (u64, u64, u64) {
        let policy = &self.site.policy;
        let now = clock::now();
        let now_ms = crate::tier::remote::unix_ms();
        let (created_ms, ttl_ms, stale_until_ms) = header.times();
        let ms =
            |until_ms: u64| clock::ticks(Duration::from_millis(until_ms.saturating_sub(now_ms)));
        // `local_ttl` (u64::MAX when off) bounds the in-process copy below both.
        let fresh_until = now.saturating_add(
            ms(created_ms.saturating_add(ttl_ms))
                .min(policy.ttl)
                .min(policy.local_ttl),
        );
        let stale_until = now
            .saturating_add(ms(stale_until_ms).min(policy.ttl.saturating_add(policy.stale)))
            .max(fresh_until);
        let refresh_after = if policy.refresh_ahead > 0.0 {
            let at = created_ms.saturating_add((ttl_ms as f64 * policy.refresh_ahead) as u64);
            now.saturating_add(ms(at))
        } else {
            u64::MAX
        };
        (fresh_until, stale_until, refresh_after)
    }

    /// The fail-safe copy read from Redis (expired, inside its stale window), decoded now
    /// that the recomputation failed; never stored. `None` when it does not decode or its
    /// stale window has passed.
    pub(super) fn remote_fail_safe(&self, began: &Validity) -> Option<Entry> {
        let f = self.remote_copy.as_ref()?;
        let value = self.decode(f)?;
        let (_, stale_until, _) = self.remote_deadlines(&f.header);
        let now = clock::now();
        (now < stale_until).then(|| self.slot(value, began, (now, stale_until, u64::MAX), 0))
    }

    /// Serves an entry read from Redis: fills the local tier, tells waiters, records a hit.
    pub(super) fn finish_remote(self, lead: Lead, hit: RemoteHit<A::Value>, start: &Start) -> R {
        let site = &self.site;
        let policy = &site.policy;
        let deadlines = self.remote_deadlines(&hit.header);
        let weight = self.weight_of(hit.len);
        let fits = policy.max_bytes == 0 || hit.len as u64 <= policy.max_bytes;
        let slot = self.made(hit.value, &start.validity, deadlines, weight, false);
        let entry = slot.erase();
        if fits && site.tier != Tier::Remote {
            self.keep(&entry, weight, &start.validity);
        }
        match lead {
            Lead::Flight(l) => l.finish(Settled::Value(entry)),
            Lead::Alone => drop(entry),
        }
        let (from, ttl) = (ServedFrom::Remote, policy.span);
        scope::record_entry(self.name, Outcome::Hit, from, deadlines.0, ttl);
        tracing::debug!(cache = self.name, "hit in redis");
        // Kept nowhere else (a remote-only cache, no waiters): the caller takes the
        // decoded value itself instead of a clone.
        self.adapter.rebuild(slot.into_value())
    }

    /// Writes a stored value to Redis in the background, unless it was invalidated while
    /// it was computed (locally, or remotely as far as the backplane has told).
    /// `(stamp, body, fresh_until, stale_until)`: the right to write, the encoded value
    /// and the entry's own deadlines (which `local_ttl` does not shorten).
    pub(super) fn write_remote(
        &self,
        entry: &Entry,
        (stamp, body, fresh_until, stale_until): (Stamp, Vec<u8>, u64, u64),
        began: &crate::state::Validity,
        lock: Option<crate::tier::remote::LockGuard>,
        sink: Option<&mut Vec<Write>>,
    ) {
        let site = &self.site;
        let meta = entry.meta();
        if !began.holds() || !meta.is_current(&site.cache) || body.len() > MAX_DECODE_BYTES {
            return;
        }
        let to_duration = |ticks: u64| Duration::from(coarsetime::Duration::from_ticks(ticks));
        let write = Write {
            stamp,
            ttl: to_duration(fresh_until.saturating_sub(clock::now())),
            stale: to_duration(stale_until.saturating_sub(fresh_until)),
            body,
            cache: self.name.to_owned(),
            version: site.version,
            key: self.key.encoded().to_vec(),
            lock,
        };
        match sink {
            Some(writes) => writes.push(write),
            None => site.engine.remote.write(write, written(&site.cache)),
        }
    }
}

/// Counts how a background write of `cache` went (the callback of a remote write).
pub(super) fn written(
    cache: &Arc<crate::state::CacheState>,
) -> impl FnMut(Result<(), Fail>) + Send + 'static {
    let cache = Arc::clone(cache);
    move |r| {
        let c = &cache.counters.l2;
        match r {
            Ok(()) => Counters::bump(&c.writes),
            Err(Fail::Error) => Counters::bump(&c.errors),
            Err(Fail::Timeout) => Counters::bump(&c.timeouts),
            Err(Fail::Skipped) => {}
        }
    }
}
