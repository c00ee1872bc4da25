//! Batch calls (`#[cache_batch]`): one call for many ids, one ordinary cache entry per
//! record.
//!
//! ```text
//! batch(ids)   for each distinct id: lookup.rs with the key `#[cache_result]` builds for
//!              (other args.., id) -> hit: kept | miss: its ticket
//!   run        claim: each missed record's flight (flight.rs) -> lead it, or wait for it
//!              -> (async, remote tier) each led record read from Redis (fetch.rs)
//!              -> the body, once, with the led ids that no tier holds
//!                 -> Ok(map): each returned record stored (store.rs) and published to its
//!                    flight; a record not returned is published as missing (stored as a
//!                    `None` for `missing_ttl` only); the new records written to Redis in
//!                    one pipeline (a record that does not land goes to the recovery
//!                    queue, as a single write does)
//!                 -> Err / panic / cancelled: nothing stored, every led flight released
//!                    (waiters compute the id themselves)
//!              -> the waited records: their leader's value, or (its body failed or was
//!                 dropped) another round for those ids
//! ```
//!
//! A record is the entry a single-id function would hold: the same key, the same value
//! type, the same ticket, so invalidation by key value, by cache and by tag, the typed
//! handle and the statistics (one hit or miss per record) work unchanged. The body never
//! waits for a flight while the ids it leads are unpublished, so overlapping batches
//! cannot wait for each other in a circle.

use std::collections::hash_map::Entry as MapEntry;
use std::collections::{BTreeMap, HashMap, HashSet};
use std::future::Future;
use std::hash::Hash;
use std::panic::{AssertUnwindSafe, catch_unwind, resume_unwind};
use std::pin::Pin;
use std::sync::Arc;
use std::time::Instant;

mod refresh;

use super::fill::{CatchUnwind, rebuilt};
use super::flight::{Flight, Settled};
use super::lookup::{Lookup, lookup};
use super::scope::{self, Mode, Outcome, ServedFrom};
use super::site::CacheSite;
use super::ticket::{Lead, Start, Ticket};
use crate::CacheValue;
use crate::clock;
use crate::key::{KeyBuf, KeyBytes};
use crate::stats::Counters;
use crate::tier::remote::Write;
use crate::value::PlainAdapter;

/// What a batch function returns: a map from id to record (`HashMap<K, V>`,
/// `BTreeMap<K, V>`), or a `Result` of one, whose `Err` is returned and stores nothing.
#[diagnostic::on_unimplemented(
    message = "`{Self}` is not what a #[cache_batch] function returns",
    label = "a batch function returns the records it found",
    note = "return `HashMap<K, V>`, `BTreeMap<K, V>` or `Result<HashMap<K, V>, E>`, with `K` the element type of the id collection"
)]
pub trait BatchOutput: Sized {
    /// The id of a record.
    type Id: Eq + Hash + Clone;
    /// A record.
    type Value: CacheValue;
    /// The records found as a `HashMap` (`Ok`), or the result itself when it is an error.
    fn into_records(self) -> Result<HashMap<Self::Id, Self::Value>, Self>;
    /// The function's result for the records found.
    fn from_records(records: HashMap<Self::Id, Self::Value>) -> Self;
}

impl<K: Eq + Hash + Clone, V: CacheValue> BatchOutput for HashMap<K, V> {
    type Id = K;
    type Value = V;
    fn into_records(self) -> Result<HashMap<K, V>, Self> {
        Ok(self)
    }
    fn from_records(records: HashMap<K, V>) -> Self {
        records
    }
}

impl<K: Eq + Hash + Ord + Clone, V: CacheValue> BatchOutput for BTreeMap<K, V> {
    type Id = K;
    type Value = V;
    fn into_records(self) -> Result<HashMap<K, V>, Self> {
        Ok(self.into_iter().collect())
    }
    fn from_records(records: HashMap<K, V>) -> Self {
        records.into_iter().collect()
    }
}

impl<M: BatchOutput, E> BatchOutput for Result<M, E> {
    type Id = M::Id;
    type Value = M::Value;
    fn into_records(self) -> Result<HashMap<M::Id, M::Value>, Self> {
        match self {
            Ok(m) => m.into_records().map_err(Ok),
            Err(e) => Err(Err(e)),
        }
    }
    fn from_records(records: HashMap<M::Id, M::Value>) -> Self {
        Ok(M::from_records(records))
    }
}

/// How a record is stored: the value itself ([`Present`]), or an `Option` whose `None`
/// remembers an id the body did not return ([`Remembered`], `missing_ttl`).
pub trait RecordKind<V>: Copy + Send + Sync + 'static {
    /// The type of the entry.
    type Stored: CacheValue;
    /// The entry for a record (`None`: the id was not returned), if one is stored.
    fn stored(value: Option<V>) -> Option<Self::Stored>;
    /// The record an entry holds (`None`: remembered as missing).
    fn record(stored: Self::Stored) -> Option<V>;
}

/// Records stored as `V`, the entry of `#[cache_result] fn f(.., id) -> V` (or
/// `-> Result<V, E>`); ids the body does not return are not cached.
#[derive(Clone, Copy, Debug)]
pub struct Present;

/// Records stored as `Option<V>`, the entry of `#[cache_result(cache_none = ..)]
/// fn f(.., id) -> Option<V>`: an id the body does not return is kept as `None` for the
/// cache's short TTL (`missing_ttl`).
#[derive(Clone, Copy, Debug)]
pub struct Remembered;

impl<V: CacheValue> RecordKind<V> for Present {
    type Stored = V;
    fn stored(value: Option<V>) -> Option<V> {
        value
    }
    fn record(stored: V) -> Option<V> {
        Some(stored)
    }
}

impl<V: CacheValue> RecordKind<V> for Remembered {
    type Stored = Option<V>;
    fn stored(value: Option<V>) -> Option<Option<V>> {
        Some(value)
    }
    fn record(stored: Option<V>) -> Option<V> {
        stored
    }
}

type RecordTicket<O, D> =
    Ticket<<D as RecordKind<<O as BatchOutput>::Value>>::Stored, PlainAdapter>;

/// Tags of a record, from its id and value (`tags = |id, value| [..]`).
pub type BatchTags<O> = fn(&<O as BatchOutput>::Id, &<O as BatchOutput>::Value) -> Vec<String>;

/// A batch call after its in-process lookups: the records found, and a ticket per
/// record to compute. Made by [`batch`]; finished by [`run_async`](Self::run_async) or
/// [`run_sync`](Self::run_sync).
pub struct Batch<O: BatchOutput, D: RecordKind<O::Value>> {
    name: &'static str,
    tags: Option<BatchTags<O>>,
    found: HashMap<O::Id, O::Value>,
    missing: Vec<Pending<O, D>>,
    /// Records answered from the cache past their refresh point (`refresh_ahead`), each
    /// with its claimed refresh.
    refresh: Vec<(O::Id, RecordTicket<O, D>)>,
}

/// A record still to get: its id, its ticket, and whether it is computed without a
/// flight (the flight it waited for failed: as a single call does, it computes alone).
struct Pending<O: BatchOutput, D: RecordKind<O::Value>> {
    id: O::Id,
    ticket: RecordTicket<O, D>,
    alone: bool,
}

/// A record this call computes: its flight (or none), and what its store is judged by.
struct Claimed<O: BatchOutput, D: RecordKind<O::Value>> {
    id: O::Id,
    ticket: RecordTicket<O, D>,
    lead: Lead,
    start: Start,
}

/// One round's records: those this call leads, and those it waits for.
type Round<O, D> = (Vec<Claimed<O, D>>, Vec<(Pending<O, D>, Arc<Flight>)>);

/// Looks each distinct id up in the global runtime's in-process tier, under the key
/// `key(id)` (the key a single-id `#[cache_result]` call builds for the same arguments).
/// Each record counts as a hit or a miss of the cache.
pub fn batch<'a, O, D>(
    site: &'static CacheSite,
    kind: D,
    ids: impl IntoIterator<Item = &'a O::Id>,
    key: impl Fn(&O::Id) -> KeyBytes,
    tags: Option<BatchTags<O>>,
) -> Batch<O, D>
where
    O: BatchOutput,
    O::Id: 'a,
    D: RecordKind<O::Value>,
{
    let look = |k| lookup::<D::Stored, PlainAdapter>(site, k, PlainAdapter);
    batch_with(site.name(), kind, ids, key, tags, look)
}

/// [`batch`] through another lookup: `look` is `lookup_in` of a runtime other than the
/// global one (tests of several instances).
pub fn batch_with<'a, O, D>(
    name: &'static str,
    _kind: D,
    ids: impl IntoIterator<Item = &'a O::Id>,
    key: impl Fn(&O::Id) -> KeyBytes,
    tags: Option<BatchTags<O>>,
    look: impl Fn(KeyBytes) -> Lookup<D::Stored, PlainAdapter>,
) -> Batch<O, D>
where
    O: BatchOutput,
    O::Id: 'a,
    D: RecordKind<O::Value>,
{
    let ids = ids.into_iter();
    let mut found = HashMap::with_capacity(ids.size_hint().0);
    // The ids seen that `found` does not hold (to compute, or remembered missing), so
    // that a repeated id is looked up once while a batch of hits hashes each id once,
    // into `found` only (this set stays empty and unallocated).
    let mut elsewhere: HashSet<&O::Id, foldhash::fast::RandomState> = HashSet::default();
    let mut missing = Vec::new();
    let mut refresh = Vec::new();
    for id in ids {
        let slot = match found.entry(id.clone()) {
            MapEntry::Occupied(_) => continue,
            MapEntry::Vacant(slot) => slot,
        };
        if !elsewhere.is_empty() && elsewhere.contains(id) {
            continue;
        }
        match look(key(id)) {
            Lookup::Hit(stored) => match D::record(stored) {
                Some(v) => drop(slot.insert(v)),
                None => drop(elsewhere.insert(id)),
            },
            Lookup::Refresh(stored, ticket) => {
                // Answered now; refreshed by `refresh_async`/`refresh_sync`, or released
                // when the batch runs without them.
                match D::record(stored) {
                    Some(v) => drop(slot.insert(v)),
                    None => drop(elsewhere.insert(id)),
                }
                refresh.push((id.clone(), ticket));
            }
            Lookup::Miss(ticket) => {
                elsewhere.insert(id);
                missing.push(Pending {
                    id: slot.into_key(),
                    ticket,
                    alone: false,
                });
            }
        }
    }
    Batch {
        name,
        tags,
        found,
        missing,
        refresh,
    }
}

impl<O: BatchOutput, D: RecordKind<O::Value>> Batch<O, D> {
    /// Whether every record was found (nothing to compute).
    pub fn is_complete(&self) -> bool {
        self.missing.is_empty()
    }

    /// Computes the missing records with `body` (called with the ids to compute, at most
    /// once unless a record this call waited for failed in another call), stores them and
    /// returns every requested record that exists. Boxed, as a single call's computation
    /// is.
    pub fn run_async<F, Fut>(self, body: F) -> Pin<Box<impl Future<Output = O>>>
    where
        F: FnMut(Vec<O::Id>) -> Fut,
        Fut: Future<Output = O>,
    {
        Box::pin(self.compute_async(body))
    }

    async fn compute_async<F, Fut>(mut self, mut body: F) -> O
    where
        F: FnMut(Vec<O::Id>) -> Fut,
        Fut: Future<Output = O>,
    {
        self.release_refresh();
        let mut pending = std::mem::take(&mut self.missing);
        while !pending.is_empty() {
            let (mut claimed, joined) = claim(pending);
            claimed = self.read_remote(claimed).await;
            if !claimed.is_empty() {
                let ids = claimed.iter().map(|c| c.id.clone()).collect();
                let began = clock::now_raw();
                let result = CatchUnwind { fut: body(ids) }.await;
                if let Some(err) = self.finish(claimed, began, result) {
                    return err;
                }
            }
            pending = Vec::new();
            for (p, flight) in joined {
                let settled = flight.wait().await;
                self.joined(p, settled, &mut pending);
            }
        }
        O::from_records(self.found)
    }

    /// [`run_async`](Self::run_async) for synchronous functions: a record another call
    /// computes is waited for by blocking the thread. The remote tier is not used.
    pub fn run_sync<F: FnMut(Vec<O::Id>) -> O>(mut self, mut body: F) -> O {
        self.release_refresh();
        let mut pending = std::mem::take(&mut self.missing);
        while !pending.is_empty() {
            let (claimed, joined) = claim(pending);
            if !claimed.is_empty() {
                let ids = claimed.iter().map(|c| c.id.clone()).collect();
                let began = clock::now_raw();
                let result = catch_unwind(AssertUnwindSafe(|| body(ids)));
                if let Some(err) = self.finish(claimed, began, result) {
                    return err;
                }
            }
            pending = Vec::new();
            for (p, flight) in joined {
                let settled = flight.wait_blocking();
                self.joined(p, settled, &mut pending);
            }
        }
        O::from_records(self.found)
    }

    /// With the remote tier: the led records read from Redis in one round trip (one
    /// `MGET`); those found fill the process and are published, the rest are returned
    /// for the body, each keeping the generations read as its right to write.
    async fn read_remote(&mut self, claimed: Vec<Claimed<O, D>>) -> Vec<Claimed<O, D>> {
        let (mut remote, mut rest): (Vec<_>, Vec<_>) = claimed
            .into_iter()
            .partition(|c| c.ticket.remote_allowed() && c.ticket.mode == Mode::Normal);
        let Some(first) = remote.first() else {
            return rest;
        };
        let engine = Arc::clone(&first.ticket.site.engine);
        let keys = remote.iter().map(|c| c.ticket.remote_entry_key()).collect();
        let began = Instant::now();
        let reads = engine.remote.read_many(keys, self.name).await;
        for (mut c, read) in remote.drain(..).zip(reads) {
            match c.ticket.take_remote(read, began, true, &mut c.start, false) {
                Some(hit) => {
                    c.start.at = clock::now_raw();
                    let stored = c.ticket.finish_remote(c.lead, hit, &c.start);
                    if let Some(v) = D::record(stored) {
                        self.found.insert(c.id, v);
                    }
                }
                None => {
                    c.start.at = clock::now_raw();
                    rest.push(c);
                }
            }
        }
        rest
    }

    /// Ends a body call: stores and publishes each record of `Ok`, releases every flight
    /// on an `Err` (returned) or a panic (resumed).
    fn finish(
        &mut self,
        claimed: Vec<Claimed<O, D>>,
        began: u64,
        result: Result<O, Box<dyn std::any::Any + Send>>,
    ) -> Option<O> {
        if let Some(first) = claimed.first() {
            let counters = &first.ticket.site.cache.counters;
            counters.record_compute(clock::nanos_since(began));
        }
        let out = match result {
            Ok(out) => out,
            Err(panic) => {
                // Waiters compute the ids themselves: the panic may be about another id.
                release(claimed);
                resume_unwind(panic);
            }
        };
        let records = match out.into_records() {
            Ok(records) => records,
            Err(err) => {
                if let Some(first) = claimed.first() {
                    let counters = &first.ticket.site.cache.counters;
                    Counters::bump(&counters.errors_not_cached);
                }
                return self.stale_or(claimed, err);
            }
        };
        self.store_all(claimed, records);
        None
    }

    /// Stores each computed record (`None`: not returned) and sends their remote writes
    /// in one pipeline once all are stored.
    fn store_all(&mut self, claimed: Vec<Claimed<O, D>>, mut records: HashMap<O::Id, O::Value>) {
        let mut writes = Vec::new();
        let site = claimed.first().map(|c| Arc::clone(&c.ticket.site));
        for c in claimed {
            let value = records.remove(&c.id);
            self.store(c, value, &mut writes);
        }
        if let (Some(site), false) = (site, writes.is_empty()) {
            let done = super::fetch::written(&site.cache);
            site.engine.remote.write_many(writes, done);
        }
    }

    /// After an `Err`: when every record asked for has a fail-safe copy
    /// (`stale_if_error`), the copies answer (as a single call's copy answers its error);
    /// otherwise the error, and every flight is released.
    fn stale_or(&mut self, claimed: Vec<Claimed<O, D>>, err: O) -> Option<O> {
        let copies: Option<Vec<_>> = claimed
            .iter()
            .map(|c| c.ticket.usable_stale(&c.start.validity))
            .collect();
        let Some(copies) = copies else {
            release(claimed);
            scope::record(self.name, Outcome::Miss);
            return Some(err);
        };
        for (c, entry) in claimed.into_iter().zip(copies) {
            Counters::bump(&c.ticket.site.cache.counters.stale_served);
            scope::record(self.name, Outcome::Stale);
            if let Some(v) = rebuilt::<D::Stored, _>(&PlainAdapter, &entry).and_then(D::record) {
                self.found.insert(c.id, v);
            }
            c.lead.settle(Settled::Stale(entry));
        }
        None
    }

    /// Stores one computed record (or `None`: the body did not return it) and publishes
    /// it to its flight; its remote write, if any, is added to `writes`.
    fn store(&mut self, c: Claimed<O, D>, value: Option<O::Value>, writes: &mut Vec<Write>) {
        let Claimed {
            id,
            mut ticket,
            lead,
            mut start,
        } = c;
        if let (Some(tags), Some(v)) = (self.tags, &value) {
            ticket.tags = tags(&id, v);
            start.validity.tags = ticket.site.engine.registry.tag_states(&ticket.tags);
        }
        let (from, ttl) = (ServedFrom::Local, ticket.site.policy.span);
        let outcome = match ticket.mode {
            Mode::Refresh => Outcome::Refreshed,
            Mode::Bypass => Outcome::Bypassed,
            Mode::Normal => Outcome::Miss,
        };
        let Some(stored) = D::stored(value.clone()) else {
            // Not returned, not remembered: its waiters learn it is missing.
            lead.settle(Settled::Value(missing_marker::<O::Value>(&ticket, &start)));
            scope::record(self.name, outcome);
            return;
        };
        if ticket.mode == Mode::Bypass {
            lead.settle(Settled::Failed);
            scope::record(self.name, outcome);
        } else {
            let short = value.is_none();
            let entry = ticket.store_into(stored, start, short, Some(writes));
            scope::record_entry(self.name, outcome, from, entry.meta().fresh_until(), ttl);
            lead.settle(Settled::Value(entry));
        }
        if let Some(v) = value {
            self.found.insert(id, v);
        }
    }

    /// What a record this call waited for became: its value, known missing, or another
    /// try (`pending`).
    fn joined(&mut self, p: Pending<O, D>, settled: Settled, pending: &mut Vec<Pending<O, D>>) {
        let counters = &p.ticket.site.cache.counters;
        match settled {
            Settled::Value(entry) | Settled::Stale(entry) => {
                if let Some(stored) = rebuilt::<D::Stored, _>(&PlainAdapter, &entry) {
                    Counters::bump(&counters.coalesced);
                    scope::record(self.name, Outcome::Coalesced);
                    if let Some(v) = D::record(stored) {
                        self.found.insert(p.id, v);
                    }
                } else if crate::tier::local::value_of::<Missing<O::Value>>(&entry).is_some() {
                    Counters::bump(&counters.coalesced);
                    scope::record(self.name, Outcome::Coalesced);
                } else {
                    // Another type under the key (a single-id function of another shape).
                    pending.push(Pending { alone: true, ..p });
                }
            }
            Settled::Failed | Settled::Panicked(_) => pending.push(Pending { alone: true, ..p }),
            Settled::Abandoned => pending.push(p),
        }
    }
}

/// What waiters are told about an id the body did not return, when it is not remembered
/// (never stored).
#[derive(Clone, serde::Serialize, serde::Deserialize)]
struct Missing<V>(std::marker::PhantomData<V>);

/// An unstored entry that tells waiters the record does not exist.
fn missing_marker<V: CacheValue>(
    ticket: &Ticket<impl CacheValue, PlainAdapter>,
    start: &Start,
) -> crate::tier::local::Entry {
    let marker = Ticket::<Missing<V>, PlainAdapter>::new(
        Arc::clone(&ticket.site),
        ticket.name,
        KeyBuf::new(),
        Mode::Bypass,
        PlainAdapter,
        None,
    );
    let now = clock::now();
    marker.slot(
        Missing(std::marker::PhantomData),
        &start.validity,
        (now, now, u64::MAX),
        0,
    )
}

/// Leads the flight of each record, or finds the one to wait for; a record whose earlier
/// flight failed computes without one.
fn claim<O: BatchOutput, D: RecordKind<O::Value>>(pending: Vec<Pending<O, D>>) -> Round<O, D> {
    let mut claimed = Vec::with_capacity(pending.len());
    let mut joined = Vec::new();
    for p in pending {
        let lead = if p.alone {
            Lead::Alone
        } else {
            match p.ticket.begin() {
                Ok(lead) => lead,
                Err(flight) => {
                    joined.push((p, flight));
                    continue;
                }
            }
        };
        let start = p.ticket.start(&lead);
        claimed.push(Claimed {
            id: p.id,
            ticket: p.ticket,
            lead,
            start,
        });
    }
    (claimed, joined)
}

/// Releases the flights of records that will not be computed here: their waiters
/// compute them.
fn release<O: BatchOutput, D: RecordKind<O::Value>>(claimed: Vec<Claimed<O, D>>) {
    for c in claimed {
        c.lead.settle(Settled::Failed);
    }
}
