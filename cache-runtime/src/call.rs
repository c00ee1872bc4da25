//! The orchestrator: the one place that knows the order of a cached call.
//!
//! ```text
//! lookup:  scope mode -> key -> L1 (fresh hit: clone, return; past refresh_after: also
//!          hand back a ticket for a background refresh; expired but within the stale
//!          window: keep it as the fail-safe copy) -> miss
//! ticket:  single-flight join -> (lead) compute -> Ok: store in L1, publish to waiters
//!                                                -> Err: serve the fail-safe copy if any
//!                             -> (wait) clone the leader's value, or compute alone
//! ```
//! Tiers never call each other. With the `redis` feature the remote tier slots in between
//! the flight join and the computation of an async call:
//!
//! ```text
//! lead:    (remote read: GET key + generations, one round trip) -> current entry: decode,
//!          fill L1 with its remaining TTL, publish to waiters, Hit
//!          -> otherwise compute -> Ok: store in L1, write to Redis in the background
//! ```
//! Synchronous calls, bypass scopes and `Tier::Local` caches never touch Redis.

use std::any::Any;
use std::future::Future;
use std::marker::PhantomData;
use std::panic::{AssertUnwindSafe, catch_unwind, resume_unwind};
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::task::{Context, Poll};
#[cfg(feature = "redis")]
use std::time::Duration;
use std::time::Instant;

use crate::adapter::Adapter;
use crate::clock;
use crate::codec::{Codec, MessagePack};
use crate::flight::{self, Join, Leader};
use crate::key::KeyBuf;
use crate::l1::{self, Entry, Meta, Slot};
use crate::runtime::{SiteState, stamp};
use crate::scope::{self, Mode, Outcome};
use crate::stats::Counters;

/// Bookkeeping bytes charged per entry on top of its key and encoded value.
const ENTRY_OVERHEAD: u64 = 96;

/// The result of looking a call up in the in-process tier.
pub enum Lookup<R, A: Adapter<R>> {
    /// A fresh value.
    Hit(R),
    /// A fresh value past its refresh point: return it, and refresh through the ticket.
    Refresh(R, Ticket<R, A>),
    /// No usable value: compute through the ticket.
    Miss(Ticket<R, A>),
}

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum How {
    /// Single-flight, store when cacheable.
    Normal,
    /// Compute and store, no reads (refresh scope).
    Refresh,
    /// Compute, store nothing (bypass scope, disabled cache, unencodable key).
    Bypass,
    /// A background refresh started by `refresh_ahead`.
    Background,
}

/// The right to compute a missing value, with everything needed to store it.
pub struct Ticket<R, A: Adapter<R>> {
    site: Arc<SiteState>,
    name: &'static str,
    key: KeyBuf,
    how: How,
    adapter: A,
    /// The expired entry kept for `stale_if_error`, or for a background refresh the entry
    /// being refreshed.
    previous: Option<Entry>,
    tags: Vec<String>,
    _result: PhantomData<fn() -> R>,
}

/// Who computes, and what they owe.
enum Lead {
    Flight(Leader),
    Alone,
}

/// What an entry's validity is measured against: the cache's invalidation state when its
/// computation began.
struct Start {
    at: Instant,
    epoch: u64,
    generation: u64,
    tags: Box<[(Arc<crate::runtime::TagState>, u64)]>,
    /// The remote generations read before computing: the right to write to Redis.
    #[cfg(feature = "redis")]
    remote: Option<crate::l2::Stamp>,
    /// The `lock = true` lock this computation holds, released by its write (or on drop).
    #[cfg(feature = "redis")]
    lock: Option<crate::l2::LockGuard>,
}

/// A current entry read from Redis and decoded.
#[cfg(feature = "redis")]
struct RemoteHit<V> {
    value: V,
    header: crate::l2::Header,
    len: usize,
}

enum Joined<R> {
    Done(R),
    Retry,
    Alone,
}

pin_project_lite::pin_project! {
    /// Catches a panic of the inner future so the leader can tell its waiters.
    struct CatchUnwind<F> {
        #[pin]
        fut: F,
    }
}

impl<F: Future> Future for CatchUnwind<F> {
    type Output = Result<F::Output, Box<dyn Any + Send>>;
    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let fut = self.project().fut;
        match catch_unwind(AssertUnwindSafe(|| fut.poll(cx))) {
            Ok(Poll::Pending) => Poll::Pending,
            Ok(Poll::Ready(v)) => Poll::Ready(Ok(v)),
            Err(p) => Poll::Ready(Err(p)),
        }
    }
}

/// Looks a call up; see the module docs.
#[inline]
pub(crate) fn lookup<R, A: Adapter<R>>(
    site: &Arc<SiteState>,
    name: &'static str,
    key: crate::private::KeyBytes,
    adapter: A,
) -> Lookup<R, A> {
    let ticket = |key: KeyBuf, how: How, previous: Option<Entry>| Ticket {
        site: Arc::clone(site),
        name,
        key,
        how,
        adapter,
        previous,
        tags: Vec::new(),
        _result: PhantomData,
    };
    let counters = &site.cache.counters;
    let suffix = key.suffix;
    let mut key = match key.buf {
        Ok(k) => k,
        Err(e) => {
            Counters::bump(&counters.encode_errors);
            tracing::warn!(cache = name, error = %e, "key not encodable: computing uncached");
            return Lookup::Miss(ticket(KeyBuf::new(), How::Bypass, None));
        }
    };
    stamp(&mut key, site.cache.id, site.version);
    match scope::mode() {
        Mode::Normal if !site.policy.disabled => {}
        Mode::Refresh if !site.policy.disabled => {
            site.cache.note_suffix(&key[suffix..]);
            return Lookup::Miss(ticket(key, How::Refresh, None));
        }
        _ => return Lookup::Miss(ticket(key, How::Bypass, None)),
    }
    let mut stale = None;
    if let Some(entry) = site.rt.l1.get(&key) {
        let meta = entry.meta();
        if meta.is_current() {
            let now = clock::now();
            if now < meta.fresh_until {
                if let Some(v) = l1::value_of::<A::Value>(&entry) {
                    let value = adapter.rebuild(v.clone());
                    counters.hits.incr();
                    scope::record(name, Outcome::Hit);
                    tracing::debug!(cache = name, "hit");
                    if now >= meta.refresh_after && claim(&meta.refreshing) {
                        return Lookup::Refresh(value, ticket(key, How::Background, Some(entry)));
                    }
                    return Lookup::Hit(value);
                }
            } else if now < meta.stale_until && l1::value_of::<A::Value>(&entry).is_some() {
                stale = Some(entry);
            }
        }
    }
    Counters::bump(&counters.misses);
    tracing::debug!(cache = name, "miss");
    site.cache.note_suffix(&key[suffix..]);
    Lookup::Miss(ticket(key, How::Normal, stale))
}

/// Sets a flag that was clear; true for the one caller that set it.
#[inline]
fn claim(flag: &AtomicBool) -> bool {
    !flag.load(Ordering::Relaxed) && !flag.swap(true, Ordering::AcqRel)
}

impl<R, A: Adapter<R>> Ticket<R, A> {
    /// Attaches tags to the entry this ticket may store.
    pub fn with_tags(mut self, tags: Vec<String>) -> Self {
        self.tags = tags;
        self
    }

    /// Computes (or joins a computation in progress) and stores the result if cacheable.
    pub async fn run_async<F, Fut>(self, f: F) -> R
    where
        F: FnOnce() -> Fut,
        Fut: Future<Output = R>,
    {
        let lead = loop {
            match self.begin() {
                Ok(lead) => break lead,
                Err(flight) => match self.joined(flight.wait().await) {
                    Joined::Done(r) => return r,
                    Joined::Retry => {}
                    Joined::Alone => break Lead::Alone,
                },
            }
        };
        #[cfg_attr(not(feature = "redis"), allow(unused_mut))]
        let mut start = self.start();
        #[cfg(feature = "redis")]
        if let Some(hit) = self.consult_remote(&mut start).await {
            return self.finish_remote(lead, hit, start);
        }
        #[cfg(feature = "redis")]
        if let Some(hit) = self.lock_remote(&mut start).await {
            return self.finish_remote(lead, hit, start);
        }
        let result = CatchUnwind { fut: f() }.await;
        self.finish(lead, result, start)
    }

    /// [`run_async`](Self::run_async) for synchronous functions; a waiter blocks its
    /// thread until the leader finishes.
    pub fn run_sync<F: FnOnce() -> R>(self, f: F) -> R {
        let lead = loop {
            match self.begin() {
                Ok(lead) => break lead,
                Err(flight) => match self.joined(flight.wait_blocking()) {
                    Joined::Done(r) => return r,
                    Joined::Retry => {}
                    Joined::Alone => break Lead::Alone,
                },
            }
        };
        let start = self.start();
        let result = catch_unwind(AssertUnwindSafe(f));
        self.finish(lead, result, start)
    }

    /// Refreshes the entry in the background on the current tokio runtime (no-op outside
    /// one, or when a computation of the key is already running).
    pub fn refresh_async<F, Fut>(self, f: F)
    where
        F: FnOnce() -> Fut + Send + 'static,
        Fut: Future<Output = R> + Send + 'static,
        R: Send + 'static,
    {
        let Ok(handle) = tokio::runtime::Handle::try_current() else {
            self.release_refresh();
            return;
        };
        let Some(lead) = self.lead_refresh() else {
            return;
        };
        #[cfg_attr(not(feature = "redis"), allow(unused_mut))]
        let mut start = self.start();
        handle.spawn(async move {
            #[cfg(feature = "redis")]
            self.consult_remote(&mut start).await;
            let result = CatchUnwind { fut: f() }.await;
            self.finish_background(lead, result, start);
        });
    }

    /// Refreshes the entry on a background thread (for synchronous functions).
    pub fn refresh_sync<F>(self, f: F)
    where
        F: FnOnce() -> R + Send + 'static,
        R: Send + 'static,
    {
        let Some(lead) = self.lead_refresh() else {
            return;
        };
        let start = self.start();
        let spawned = std::thread::Builder::new()
            .name("cache-refresh".into())
            .spawn(move || {
                let result = catch_unwind(AssertUnwindSafe(f));
                self.finish_background(lead, result, start);
            });
        if let Err(e) = spawned {
            tracing::warn!(error = %e, "could not start a refresh thread");
        }
    }

    fn start(&self) -> Start {
        let cache = &self.site.cache;
        Start {
            at: Instant::now(),
            epoch: cache.epoch.load(Ordering::SeqCst),
            generation: cache.generation.load(Ordering::SeqCst),
            tags: self.site.rt.tag_states(&self.tags),
            #[cfg(feature = "redis")]
            remote: None,
            #[cfg(feature = "redis")]
            lock: None,
        }
    }

    fn lead_refresh(&self) -> Option<Leader> {
        match self.site.rt.flights.join(&self.key) {
            Join::Lead(lead) => {
                Counters::bump(&self.site.cache.counters.refreshes);
                Some(lead)
            }
            Join::Wait(_) => None,
        }
    }

    /// Lets a later hit try the refresh again.
    fn release_refresh(&self) {
        if let Some(prev) = &self.previous {
            prev.meta().refreshing.store(false, Ordering::Release);
        }
    }

    /// Leads the computation, or returns the flight to wait for.
    fn begin(&self) -> Result<Lead, Arc<flight::Flight>> {
        match self.how {
            How::Normal => match self.site.rt.flights.join(&self.key) {
                Join::Lead(l) => Ok(Lead::Flight(l)),
                Join::Wait(f) => Err(f),
            },
            How::Refresh | How::Bypass | How::Background => Ok(Lead::Alone),
        }
    }

    fn joined(&self, outcome: flight::Outcome) -> Joined<R> {
        let counters = &self.site.cache.counters;
        match outcome {
            flight::Outcome::Value(e) => match l1::value_of::<A::Value>(&e) {
                Some(v) => {
                    Counters::bump(&counters.coalesced);
                    scope::record(self.name, Outcome::Coalesced);
                    Joined::Done(self.adapter.rebuild(v.clone()))
                }
                None => Joined::Alone,
            },
            flight::Outcome::Stale(e) => match l1::value_of::<A::Value>(&e) {
                Some(v) => {
                    Counters::bump(&counters.stale_served);
                    scope::record(self.name, Outcome::Stale);
                    Joined::Done(self.adapter.rebuild(v.clone()))
                }
                None => Joined::Alone,
            },
            flight::Outcome::Failed => Joined::Alone,
            flight::Outcome::Abandoned => Joined::Retry,
            flight::Outcome::Panicked => panic!(
                "the computation of cache `{}` panicked in a concurrent call for the same key",
                self.name
            ),
        }
    }

    /// Stores a cacheable result, tells waiters, records the outcome.
    fn finish(self, lead: Lead, result: Result<R, Box<dyn Any + Send>>, start: Start) -> R {
        let counters = &self.site.cache.counters;
        counters.record_compute(start.at.elapsed().as_nanos() as u64);
        let result = match result {
            Ok(r) => r,
            Err(panic) => {
                if let Lead::Flight(l) = lead {
                    l.finish(flight::Outcome::Panicked);
                }
                resume_unwind(panic);
            }
        };
        if self.how == How::Bypass {
            scope::record(self.name, Outcome::Bypassed);
            return result;
        }
        match self.adapter.split(result) {
            Ok(value) => {
                let entry = self.store(value, start);
                if let Lead::Flight(l) = lead {
                    l.finish(flight::Outcome::Value(Arc::clone(&entry)));
                }
                let outcome = if self.how == How::Refresh {
                    Outcome::Refreshed
                } else {
                    Outcome::Miss
                };
                scope::record(self.name, outcome);
                match l1::value_of::<A::Value>(&entry) {
                    Some(v) => self.adapter.rebuild(v.clone()),
                    None => unreachable!("an entry built from A::Value downcasts to it"),
                }
            }
            Err(uncached) => {
                Counters::bump(&counters.errors_not_cached);
                match self.usable_stale() {
                    Some(entry) => {
                        if let Lead::Flight(l) = lead {
                            l.finish(flight::Outcome::Stale(Arc::clone(&entry)));
                        }
                        Counters::bump(&counters.stale_served);
                        scope::record(self.name, Outcome::Stale);
                        tracing::debug!(cache = self.name, "serving stale after error");
                        match l1::value_of::<A::Value>(&entry) {
                            Some(v) => self.adapter.rebuild(v.clone()),
                            None => unreachable!("usable_stale checked the value type"),
                        }
                    }
                    None => {
                        if let Lead::Flight(l) = lead {
                            l.finish(flight::Outcome::Failed);
                        }
                        scope::record(self.name, Outcome::Miss);
                        uncached
                    }
                }
            }
        }
    }

    /// The end of a background refresh: store if cacheable; on failure or panic keep the
    /// current entry and let a later hit try again.
    fn finish_background(self, lead: Leader, result: Result<R, Box<dyn Any + Send>>, start: Start) {
        let counters = &self.site.cache.counters;
        counters.record_compute(start.at.elapsed().as_nanos() as u64);
        match result.map(|r| self.adapter.split(r)) {
            Ok(Ok(value)) => {
                let entry = self.store(value, start);
                lead.finish(flight::Outcome::Value(entry));
            }
            Ok(Err(_)) => {
                Counters::bump(&counters.errors_not_cached);
                self.release_refresh();
                lead.finish(flight::Outcome::Failed);
            }
            Err(_) => {
                tracing::error!(cache = self.name, "background refresh panicked");
                self.release_refresh();
                lead.finish(flight::Outcome::Panicked);
            }
        }
    }

    /// The fail-safe copy, if it is still the entry under this key and still valid.
    fn usable_stale(&self) -> Option<Entry> {
        let prev = self.previous.as_ref()?;
        if self.how != How::Normal
            || !prev.meta().is_current()
            || clock::now() >= prev.meta().stale_until
        {
            return None;
        }
        let current = self.site.rt.l1.get(&self.key)?;
        (Arc::ptr_eq(&current, prev) && l1::value_of::<A::Value>(prev).is_some()).then_some(current)
    }

    /// Builds the entry for a value and stores it unless it is too large or an
    /// invalidation ran while it was computed.
    fn store(&self, value: A::Value, start: Start) -> Entry {
        let site = &self.site;
        let counters = &site.cache.counters;
        // With a remote write ahead the bytes are kept; otherwise only counted.
        #[cfg(feature = "redis")]
        let (encoded, body) = match (&start.remote, self.remote_tier()) {
            (Some(_), Some(_)) => match MessagePack.encode(&value) {
                Ok(b) => (Ok(b.len()), Some(b)),
                Err(e) => (Err(e), None),
            },
            _ => (MessagePack.encoded_len(&value), None),
        };
        #[cfg(not(feature = "redis"))]
        let encoded = MessagePack.encoded_len(&value);
        let mut storable = true;
        let weight = match encoded {
            Ok(n) => {
                if site.policy.max_bytes > 0 && n as u64 > site.policy.max_bytes {
                    Counters::bump(&counters.too_large);
                    storable = false;
                }
                n as u64 + self.key.len() as u64 + ENTRY_OVERHEAD
            }
            Err(e) => {
                Counters::bump(&counters.encode_errors);
                tracing::warn!(cache = self.name, error = %e, "value not encodable: not cached");
                storable = false;
                0
            }
        };
        let deadlines = site.policy.deadlines(clock::now());
        let entry = self.entry(value, start.generation, start.tags, deadlines, weight);
        if storable {
            #[cfg(feature = "redis")]
            let local = site.tier != crate::l2::Tier::Remote;
            #[cfg(not(feature = "redis"))]
            let local = true;
            if local {
                self.keep(&entry, start.epoch);
            }
            #[cfg(feature = "redis")]
            if let (Some(stamp), Some(body)) = (start.remote, body) {
                self.write_remote(&entry, stamp, body, start.epoch, start.lock);
            }
        }
        entry
    }

    fn entry(
        &self,
        value: A::Value,
        generation: u64,
        tags: Box<[(Arc<crate::runtime::TagState>, u64)]>,
        deadlines: (u64, u64, u64),
        weight: u64,
    ) -> Entry {
        self.slot(value, generation, tags, deadlines, weight)
    }

    /// [`entry`](Self::entry) before its value type is erased.
    fn slot(
        &self,
        value: A::Value,
        generation: u64,
        tags: Box<[(Arc<crate::runtime::TagState>, u64)]>,
        (fresh_until, stale_until, refresh_after): (u64, u64, u64),
        weight: u64,
    ) -> Arc<Slot<A::Value>> {
        Arc::new(Slot {
            meta: Meta {
                cache: Arc::clone(&self.site.cache),
                generation,
                tags,
                fresh_until,
                stale_until,
                refresh_after,
                refreshing: AtomicBool::new(false),
                weight,
                counted: AtomicBool::new(false),
            },
            value,
        })
    }

    /// Inserts an entry in L1, unless an invalidation ran since `epoch` was read.
    fn keep(&self, entry: &Entry, epoch: u64) {
        let site = &self.site;
        site.rt.l1.insert(&self.key, Arc::clone(entry));
        // An invalidation since the computation began: take the entry back out. One
        // that comes after this check removes it itself.
        if site.cache.epoch.load(Ordering::SeqCst) != epoch {
            site.rt.l1.remove_exact(&self.key, entry);
        }
    }

    /// The remote tier, if this call may use it.
    #[cfg(feature = "redis")]
    fn remote_tier(&self) -> Option<&crate::l2::L2> {
        if self.how == How::Bypass || self.site.tier == crate::l2::Tier::Local {
            return None;
        }
        self.site.rt.l2.as_ref()
    }

    /// Reads Redis before computing: the entry itself for a normal call (returned when
    /// current and decodable), and in every case the generations that give the right to
    /// write the result. Never fails: trouble is counted and is a miss.
    #[cfg(feature = "redis")]
    async fn consult_remote(&self, start: &mut Start) -> Option<RemoteHit<A::Value>> {
        let l2 = self.remote_tier()?;
        let site = &self.site;
        let want = self.how == How::Normal;
        let value_type = std::any::type_name::<A::Value>();
        site.cache.note_remote(site.version, value_type);
        let key = crate::key::CacheKey::from_encoded(
            &site.rt.namespace,
            self.name,
            site.version,
            value_type,
            &self.key[crate::key::PREFIX..],
        );
        let key = l2.shared().entry_key(self.name, key.to_string());
        let began = Instant::now();
        let read = l2.read(key, self.name, &self.tags, want).await;
        let hit = self.take_remote(read, began, want, start, false);
        start.at = Instant::now();
        hit
    }

    /// With `lock = true`, after a remote miss: takes the lock before computing, or waits
    /// for the instance that holds it and returns its value (see `L2::lock`).
    #[cfg(feature = "redis")]
    async fn lock_remote(&self, start: &mut Start) -> Option<RemoteHit<A::Value>> {
        use crate::l2::Locked;
        if !self.site.lock || self.how != How::Normal {
            return None;
        }
        let key = start.remote.as_ref()?.key.clone();
        let l2 = self.remote_tier()?;
        let began = Instant::now();
        let hit = match l2.lock(key, self.name, &self.tags).await {
            Locked::Held(guard) => {
                start.lock = Some(guard);
                None
            }
            Locked::Filled(read) => self.take_remote(read, began, true, start, true),
            Locked::Unlocked => None,
        };
        start.at = Instant::now();
        hit
    }

    /// Counts a remote read and decodes what it found; a miss keeps its generations in
    /// `start` as the right to write. `waited`: the read ended a wait on a lock.
    #[cfg(feature = "redis")]
    fn take_remote(
        &self,
        read: crate::l2::Read,
        began: Instant,
        want: bool,
        start: &mut Start,
        waited: bool,
    ) -> Option<RemoteHit<A::Value>> {
        use crate::l2::{Fail, Found, Read};
        let c = &self.site.cache.counters.l2;
        match read {
            Read::Failed(Fail::Skipped) => {
                if want {
                    Counters::bump(&c.skipped);
                }
                None
            }
            Read::Failed(Fail::Timeout) => {
                Counters::bump(&c.timeouts);
                None
            }
            Read::Failed(Fail::Error) => {
                Counters::bump(&c.errors);
                None
            }
            Read::Done { stamp, found } => {
                c.reads.fetch_add(1, Ordering::Relaxed);
                c.read_nanos
                    .fetch_add(began.elapsed().as_nanos() as u64, Ordering::Relaxed);
                let hit = match found {
                    Found::Entry(f) => match MessagePack.decode::<A::Value>(f.body()) {
                        Ok(value) => Some(RemoteHit {
                            value,
                            len: f.body().len(),
                            header: f.header,
                        }),
                        Err(e) => {
                            Counters::bump(&c.decode_failures);
                            tracing::warn!(cache = self.name, error = %e, "entry in redis does not decode as this cache's value type: recomputing");
                            None
                        }
                    },
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
        }
    }

    /// Serves an entry read from Redis: fills L1, tells waiters, records a hit.
    #[cfg(feature = "redis")]
    fn finish_remote(self, lead: Lead, hit: RemoteHit<A::Value>, start: Start) -> R {
        let site = &self.site;
        let policy = &site.policy;
        let now = clock::now();
        let now_ms = crate::l2::unix_ms();
        let h = &hit.header;
        let ms =
            |until_ms: u64| clock::ticks(Duration::from_millis(until_ms.saturating_sub(now_ms)));
        // The remaining TTL only, and never more than this instance's own TTL.
        let fresh_until =
            now.saturating_add(ms(h.created_ms.saturating_add(h.ttl_ms)).min(policy.ttl));
        let stale_until = fresh_until.saturating_add(policy.stale);
        let refresh_after = if policy.refresh_ahead > 0.0 {
            let at = h
                .created_ms
                .saturating_add((h.ttl_ms as f64 * policy.refresh_ahead) as u64);
            now.saturating_add(ms(at))
        } else {
            u64::MAX
        };
        let weight = hit.len as u64 + self.key.len() as u64 + ENTRY_OVERHEAD;
        let fits = policy.max_bytes == 0 || hit.len as u64 <= policy.max_bytes;
        let slot = self.slot(
            hit.value,
            start.generation,
            start.tags,
            (fresh_until, stale_until, refresh_after),
            weight,
        );
        let entry: Entry = Arc::clone(&slot) as Entry;
        if fits && site.tier != crate::l2::Tier::Remote {
            self.keep(&entry, start.epoch);
        }
        if let Lead::Flight(l) = lead {
            l.finish(flight::Outcome::Value(entry));
        } else {
            drop(entry);
        }
        scope::record(self.name, Outcome::Hit);
        tracing::debug!(cache = self.name, "hit in redis");
        // Kept nowhere else (a remote-only cache, no waiters): the caller takes the
        // decoded value itself instead of a clone.
        match Arc::try_unwrap(slot) {
            Ok(slot) => self.adapter.rebuild(slot.value),
            Err(slot) => self.adapter.rebuild(slot.value.clone()),
        }
    }

    /// Writes a stored value to Redis in the background, unless it was invalidated while
    /// it was computed (locally, or remotely as far as the backplane has told).
    #[cfg(feature = "redis")]
    fn write_remote(
        &self,
        entry: &Entry,
        stamp: crate::l2::Stamp,
        body: Vec<u8>,
        epoch: u64,
        lock: Option<crate::l2::LockGuard>,
    ) {
        use crate::l2::Fail;
        let Some(l2) = self.remote_tier() else {
            return;
        };
        let site = &self.site;
        let meta = entry.meta();
        if site.cache.epoch.load(Ordering::SeqCst) != epoch
            || !meta.is_current()
            || body.len() > crate::codec::MAX_DECODE_BYTES
        {
            return;
        }
        let to_duration = |ticks: u64| Duration::from(coarsetime::Duration::from_ticks(ticks));
        let ttl = to_duration(meta.fresh_until.saturating_sub(clock::now()));
        let stale = to_duration(meta.stale_until.saturating_sub(meta.fresh_until));
        let announce = crate::backplane::Message::Write {
            name: self.name.to_owned(),
            version: site.version,
            key: self.key[crate::key::PREFIX..].to_vec(),
        }
        .encode(l2.shared().instance);
        let cache = Arc::clone(&site.cache);
        l2.write(stamp, ttl, stale, body, announce, lock, move |r| {
            let c = &cache.counters.l2;
            match r {
                Ok(()) => Counters::bump(&c.writes),
                Err(Fail::Error) => Counters::bump(&c.errors),
                Err(Fail::Timeout) => Counters::bump(&c.timeouts),
                Err(Fail::Skipped) => {}
            }
        });
    }
}
