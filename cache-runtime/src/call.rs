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
//! Tiers never call each other; a remote tier slots in between the flight join and the
//! computation.

use std::any::Any;
use std::future::Future;
use std::marker::PhantomData;
use std::panic::{AssertUnwindSafe, catch_unwind, resume_unwind};
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::task::{Context, Poll};
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
    key: Result<KeyBuf, crate::KeyError>,
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
    let mut key = match key {
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
        let start = self.start();
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
        let start = self.start();
        handle.spawn(async move {
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
    fn finish(
        self,
        lead: Lead,
        result: Result<R, Box<dyn Any + Send>>,
        start: Start,
    ) -> R {
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
        if self.how != How::Normal || !prev.meta().is_current() || clock::now() >= prev.meta().stale_until {
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
        let (fresh_until, stale_until, refresh_after) = site.policy.deadlines(clock::now());
        let entry: Entry = Arc::new(Slot {
            meta: Meta {
                cache: Arc::clone(&site.cache),
                generation: start.generation,
                tags: start.tags,
                fresh_until,
                stale_until,
                refresh_after,
                refreshing: AtomicBool::new(false),
                weight,
                counted: AtomicBool::new(false),
            },
            value,
        });
        if storable {
            site.rt.l1.insert(&self.key, Arc::clone(&entry));
            // An invalidation since the computation began: take the entry back out. One
            // that comes after this check removes it itself.
            if site.cache.epoch.load(Ordering::SeqCst) != start.epoch {
                site.rt.l1.remove_exact(&self.key, &entry);
            }
        }
        entry
    }
}
