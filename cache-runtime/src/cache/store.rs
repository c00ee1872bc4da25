//! Storing what a ticket computed (or was handed by a `put`): the entry and its deadlines,
//! its weight against the byte budget, the local tier unless an invalidation ran since
//! the computation began, and the remote write when the remote tier granted one.

use std::sync::Arc;

use super::policy::Tier;
use super::ticket::{Start, Ticket};
use crate::clock;
use crate::codec::{Codec, MessagePack};
use crate::state::Validity;
use crate::stats::Counters;
use crate::tier::local::{self, Entry, Made, New};
use crate::tier::remote::Write;
use crate::value::Adapter;

impl<R, A: Adapter<R>> Ticket<R, A> {
    /// The bytes an entry of this ticket's key, with a value of `encoded` bytes, is
    /// charged against the byte budget: the encoded size stands for the value's heap
    /// bytes, the tier knows the rest (`local::entry_bytes`; `tests/budget.rs` and the
    /// scale bench check that the charge is what an entry occupies).
    pub(super) fn weight_of(&self, encoded: usize) -> u64 {
        let policy = &self.site.policy;
        let extra = (!self.tags.is_empty()
            || policy.stale > 0
            || policy.refresh_ahead > 0.0
            || policy.tti > 0)
            .then_some(self.tags.len());
        encoded as u64 + local::entry_bytes(self.key.len(), size_of::<A::Value>(), extra)
    }

    /// Builds the entry for a value and stores it (locally unless it is too large or an
    /// invalidation ran while it was computed; remotely when the remote tier granted it).
    /// `short`: the value is a `None` (`cache_none = "30s"`) or a chosen error
    /// (`cache_err` with `err_ttl`), kept for the cache's shorter TTL of those.
    pub(super) fn store(&self, value: A::Value, start: Start, short: bool) -> Entry {
        self.store_into(value, start, short, None)
    }

    /// [`store`](Self::store), with the remote write (if any) added to `sink` instead of
    /// sent: a batch sends its records' writes in one pipeline.
    pub(super) fn store_into(
        &self,
        value: A::Value,
        start: Start,
        short: bool,
        sink: Option<&mut Vec<Write>>,
    ) -> Entry {
        let site = &self.site;
        let counters = &site.cache.counters;
        // The clock is read only for `only_if_slower` (zero, the default, never refuses).
        let slower = site.policy.only_if_slower;
        let refused = !self.explicit
            && (self.rules.unless.is_some_and(|unless| unless(&value))
                || (!slower.is_zero()
                    && u128::from(clock::nanos_since(start.at)) < slower.as_nanos()));
        let mut ttl = self
            .rules
            .ttl_from
            .map(|ttl_from| site.policy.bounded(ttl_from(&value)));
        if short && site.policy.short_ttl > 0 {
            let short = site.policy.short_ttl;
            ttl = Some(ttl.map_or(short, |t| t.min(short)));
        }
        if refused || ttl.is_some_and(|t| t == 0) {
            Counters::bump(&counters.not_stored);
            let now = clock::now();
            return self.slot(value, &start.validity, (now, now, u64::MAX), 0);
        }
        // With a remote write ahead the bytes are kept; otherwise only counted.
        let remote = start.remote.is_some() && self.remote_allowed();
        let (encoded, body) = if remote || self.disk_allowed() {
            match MessagePack.encode(&value) {
                Ok(b) => (Ok(b.len()), Some(b)),
                Err(e) => (Err(e), None),
            }
        } else {
            (MessagePack.encoded_len(&value), None)
        };
        let mut storable = true;
        let weight = match encoded {
            Ok(n) => {
                if site.policy.max_bytes > 0 && n as u64 > site.policy.max_bytes {
                    Counters::bump(&counters.too_large);
                    storable = false;
                }
                self.weight_of(n)
            }
            Err(e) => {
                Counters::bump(&counters.encode_errors);
                tracing::warn!(cache = self.name, error = %e, "value not encodable: not cached");
                storable = false;
                0
            }
        };
        // The entry's own deadlines go to Redis; the in-process copy is fresh for at most
        // `local_ttl` of them.
        let now = clock::now();
        let deadlines = site.policy.deadlines_with(now, ttl);
        let local = site.policy.local(now, deadlines);
        let entry: Entry = self.slot(value, &start.validity, local, weight);
        if storable {
            if site.tier != Tier::Remote {
                self.keep(&entry, weight, &start.validity);
            }
            if let Some(body) = body.as_deref().filter(|_| self.disk_allowed()) {
                self.write_disk(body, (deadlines.0, deadlines.1), &start);
            }
            if let (Some(stamp), Some(body)) = (start.remote.filter(|_| remote), body) {
                let (fresh, stale, _) = deadlines;
                let write = (stamp, body, fresh, stale);
                self.write_remote(&entry, write, &start.validity, start.lock, sink);
            }
        }
        entry
    }

    /// An entry for `value`, judged by the invalidation state its computation began under.
    pub(super) fn slot(
        &self,
        value: A::Value,
        began: &Validity,
        deadlines: (u64, u64, u64),
        weight: u64,
    ) -> Entry {
        self.made(value, began, deadlines, weight, false).erase()
    }

    /// [`slot`](Self::slot), typed (its value can be taken back), and marked as the copy
    /// `fail_throttle` keeps when `throttled`.
    pub(super) fn made(
        &self,
        value: A::Value,
        began: &Validity,
        deadlines: (u64, u64, u64),
        weight: u64,
        throttled: bool,
    ) -> Made<A::Value> {
        let tti = self.site.policy.tti;
        let new = New {
            // An empty slice's clone still calls into the allocator's path (60
            // instructions a miss); most caches have no tags.
            generations: (
                began.generation,
                if began.tags.is_empty() {
                    Box::default()
                } else {
                    began.tags.clone()
                },
            ),
            deadlines,
            weight,
            throttled,
            idle: (tti != 0).then(|| local::idle::step(clock::now(), tti)),
        };
        local::make(new, value)
    }

    /// Inserts an entry in the local tier, unless an invalidation or expiry of the cache,
    /// or of one of its tags, ran since its computation began. Under the cache's store
    /// lock, which a key invalidation also holds: either the invalidation comes first and
    /// this sees its epoch, or this comes first and the invalidation removes the entry. A
    /// tag's change that races past the check leaves an entry judged by the tag
    /// generations it recorded: dead or expired, never fresh; checked here so that an
    /// older value does not replace the one computed after an `expire_tag`.
    /// `weight`: its charge against the byte budget.
    pub(super) fn keep(&self, entry: &Entry, weight: u64, began: &Validity) {
        let cache = &self.site.cache;
        let _store = cache.store.lock();
        if began.holds() {
            let local = &self.site.engine.local;
            let entry = (Arc::clone(entry), weight);
            local.insert(cache, &self.site.part, &self.key, entry);
        }
    }
}
