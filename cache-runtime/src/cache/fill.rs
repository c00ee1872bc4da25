//! Compute and store: what a [`Ticket`] does after a miss.
//!
//! ```text
//! ticket:  single-flight join (a flight begun before an invalidation is not joined)
//!          -> (lead) remote tier (see fetch.rs) -> compute
//!             -> Ok: store in the local tier (unless invalidated meanwhile), write to
//!                the remote tier in the background, publish to waiters
//!             -> Err: serve the fail-safe copy (local, or read from Redis) if any
//!          -> (wait) clone the leader's value, or compute alone after its failure
//! ```

use std::any::Any;
use std::future::Future;
use std::marker::PhantomData;
use std::panic::{AssertUnwindSafe, catch_unwind, resume_unwind};
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::task::{Context, Poll};

use super::budget::{self, Throttled};
use super::bulkhead::{Entered, Permit};
use super::flight::{self, Join, Leader, Settled};
use super::scope::{self, Mode, Outcome, ServedFrom};
use super::site::SiteState;
use super::timeout;
use crate::clock;
use crate::codec::{Codec, MessagePack};
use crate::key::KeyBuf;
use crate::state::Validity;
use crate::stats::Counters;
use crate::tier::local::{self, Entry, Meta, Slot};
use crate::tier::remote::LockGuard;
use crate::tier::remote::{Fetched, Stamp, Tier};
use crate::value::Adapter;

/// Bookkeeping bytes charged per entry on top of its key, its encoded value and the value's
/// own size: the entry's `Meta` and reference counts, the allocator's headers and rounding
/// of the entry and its key, and quick_cache's slot, index and growth slack for it
/// (measured by `tests/budget.rs`: with 96 bytes here a fill of small entries took 1.94x
/// `max_bytes` of resident memory).
pub(super) const ENTRY_OVERHEAD: u64 = (size_of::<Meta>() + 16 + 2 * 16 + 112) as u64;

impl<R, A: Adapter<R>> Ticket<R, A> {
    /// The bytes an entry of this ticket's key, with a value of `encoded` bytes, is
    /// charged against the byte budget.
    pub(super) fn weight_of(&self, encoded: usize) -> u64 {
        // Each tag is an `(Arc<TagState>, u64)` in the entry's boxed slice.
        let tags = self.tags.len() * size_of::<(Arc<crate::state::TagState>, u64)>();
        (encoded + self.key.len() + size_of::<A::Value>() + tags) as u64 + ENTRY_OVERHEAD
    }
}

/// What `unless = |v| ..` and `ttl_from = |v| ..` say about a value about to be stored;
/// both run on the store path only, never on a hit.
pub struct StoreRules<V> {
    /// `unless`: true means "do not store this value" (it is still returned).
    pub unless: Option<fn(&V) -> bool>,
    /// `ttl_from`: the value's own TTL, bounded by the cache's `ttl` when one is given.
    pub ttl_from: Option<fn(&V) -> std::time::Duration>,
}

impl<V> Clone for StoreRules<V> {
    fn clone(&self) -> Self {
        *self
    }
}

impl<V> Copy for StoreRules<V> {}

impl<V> StoreRules<V> {
    /// No rules: every value is stored with the cache's TTL.
    pub const NONE: Self = Self {
        unless: None,
        ttl_from: None,
    };
}

/// The right to compute a missing value, with everything needed to store it.
pub struct Ticket<R, A: Adapter<R>> {
    pub(super) site: Arc<SiteState>,
    pub(super) name: &'static str,
    pub(super) key: KeyBuf,
    /// Normal (single-flight, store), Refresh (no reads, store) or Bypass (store nothing).
    pub(super) mode: Mode,
    /// A background refresh started by `refresh_ahead`.
    pub(super) background: bool,
    /// A value stored through a `CacheEntry` (`put`): `unless` and `only_if_slower`,
    /// which judge computations, do not apply.
    pub(super) explicit: bool,
    pub(super) adapter: A,
    /// The expired local entry kept for `stale_if_error`, or for a background refresh the
    /// entry being refreshed.
    pub(super) previous: Option<Entry>,
    /// A fail-safe copy read from Redis (past its TTL, inside its stale window), as read.
    pub(super) remote_copy: Option<Fetched>,
    pub(super) tags: Vec<String>,
    /// What to return when the cache's bulkhead stays full past `max_wait`; `None`: wait.
    overload: Option<fn() -> R>,
    /// What to return when the caller's computation budget is spent; `None`: compute
    /// anyway.
    throttle: Option<fn(Throttled) -> R>,
    /// `unless` and `ttl_from`.
    rules: StoreRules<A::Value>,
    /// What a call returns when its body runs past `hard_timeout` and no fail-safe copy
    /// is at hand; `None`: no hard timeout.
    timed_out: Option<fn() -> R>,
    _result: PhantomData<fn() -> R>,
}

/// Who computes, and what they owe.
pub(super) enum Lead {
    Flight(Leader),
    Alone,
}

impl Lead {
    fn settle(self, outcome: Settled) {
        if let Lead::Flight(l) = self {
            l.finish(outcome);
        }
    }
}

/// What an entry's validity is measured against: the invalidation state when its
/// computation began, and what the remote tier granted.
pub(super) struct Start {
    /// When the computation began, as a raw precise reading ([`clock::now_raw`]).
    pub(super) at: u64,
    pub(super) validity: Validity,
    /// The remote generations read before computing: the right to write to Redis.
    pub(super) remote: Option<Stamp>,
    /// The `lock = true` lock this computation holds, released by its write (or on drop).
    pub(super) lock: Option<LockGuard>,
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

impl<R, A: Adapter<R>> Ticket<R, A> {
    pub(super) fn new(
        site: Arc<SiteState>,
        name: &'static str,
        key: KeyBuf,
        mode: Mode,
        adapter: A,
        previous: Option<Entry>,
    ) -> Self {
        Self {
            site,
            name,
            key,
            mode,
            background: false,
            explicit: false,
            adapter,
            previous,
            remote_copy: None,
            tags: Vec::new(),
            overload: None,
            throttle: None,
            rules: StoreRules::NONE,
            timed_out: None,
            _result: PhantomData,
        }
    }

    /// Marks this ticket as a background refresh of `previous`.
    pub(super) fn background(mut self) -> Self {
        self.background = true;
        self
    }

    /// Attaches tags to the entry this ticket may store.
    pub fn with_tags(mut self, tags: Vec<String>) -> Self {
        self.tags = tags;
        self
    }

    /// What the computation returns if its cache's bulkhead (`max_concurrent`) stays full
    /// for longer than the runtime's `max_wait`; without it, the computation waits.
    pub fn with_overload(mut self, overload: Option<fn() -> R>) -> Self {
        self.overload = overload;
        self
    }

    /// What the computation returns if the caller's computation budget
    /// ([`with_budget`](crate::with_budget)) is spent and no fail-safe copy is at hand;
    /// without it, the computation runs anyway.
    pub fn with_throttle(mut self, throttle: Option<fn(Throttled) -> R>) -> Self {
        self.throttle = throttle;
        self
    }

    /// The `unless` and `ttl_from` rules of the values this ticket stores.
    pub fn with_rules(mut self, rules: StoreRules<A::Value>) -> Self {
        self.rules = rules;
        self
    }

    /// What the call returns when its body runs past the cache's `hard_timeout` and no
    /// fail-safe copy is at hand.
    pub fn with_hard_timeout(mut self, answer: fn() -> R) -> Self {
        self.timed_out = Some(answer);
        self
    }

    /// How long this computation waits for a bulkhead permit.
    fn patience(&self) -> Option<std::time::Duration> {
        self.overload.map(|_| self.site.engine.max_wait)
    }

    /// Counts how the wait for a permit went; `None` when it ran out (overloaded).
    fn admitted<'a>(&self, entered: Entered<'a>) -> Option<Permit<'a>> {
        let counters = &self.site.cache.counters;
        match entered {
            Entered::Free(p) => Some(p),
            Entered::Queued(p) => {
                Counters::bump(&counters.queued);
                Some(p)
            }
            Entered::Overloaded => {
                Counters::bump(&counters.overloaded);
                tracing::warn!(
                    cache = self.name,
                    "too many computations of this cache: overloaded"
                );
                None
            }
        }
    }

    /// The answer to an overload: the fail-safe copy when one is at hand (an expired value
    /// inside its `stale_if_error` window, as after a failed recomputation), else the
    /// function's own error.
    fn overloaded(self, lead: Lead, start: &Start) -> R {
        let answer = self.overload;
        self.stale_or(lead, &start.validity, move || match answer {
            Some(answer) => answer(),
            None => unreachable!("only a computation with an overload answer stops waiting"),
        })
    }

    /// Charges the caller's computation budget for the computation about to run; `Some`
    /// with the answer when it is spent and the call can be refused: the fail-safe copy
    /// when one is at hand, else the function's `From<Throttled>` error. A put (which
    /// computes nothing) and a background refresh are never charged; a function that
    /// cannot be refused computes anyway.
    fn throttled(&self, lead: Lead, start: &Start) -> Result<Lead, R> {
        if self.explicit || self.background {
            return Ok(lead);
        }
        let Err(refused) = budget::spend() else {
            return Ok(lead);
        };
        let throttle = self.throttle;
        if throttle.is_none() && self.usable_stale(&start.validity).is_none() {
            return Ok(lead);
        }
        Counters::bump(&self.site.cache.counters.throttled);
        tracing::debug!(cache = self.name, "computation budget spent: refused");
        Err(
            self.stale_or(lead, &start.validity, move || match throttle {
                Some(answer) => answer(refused),
                None => {
                    unreachable!("a call without a throttle answer is refused only with a copy")
                }
            }),
        )
    }

    /// Computes (or joins a computation in progress) and stores the result if cacheable.
    ///
    /// The computation's future is boxed: it carries the ticket, the flight and the remote
    /// reads, and inline it would make the future of every cached function that large,
    /// copied on every call, hits included (one allocation per miss instead).
    pub fn run_async<F, Fut>(self, f: F) -> Pin<Box<impl Future<Output = R>>>
    where
        F: FnOnce() -> Fut,
        Fut: Future<Output = R>,
    {
        Box::pin(self.compute_async(f))
    }

    async fn compute_async<F, Fut>(mut self, f: F) -> R
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
        let mut start = self.start(&lead);
        if let Some(hit) = self.consult_remote(&mut start).await {
            return self.finish_remote(lead, hit, &start);
        }
        if let Some(hit) = self.lock_remote(&mut start).await {
            return self.finish_remote(lead, hit, &start);
        }
        let lead = match self.throttled(lead, &start) {
            Ok(lead) => lead,
            Err(answer) => return answer,
        };
        let bulkhead = Arc::clone(&self.site.bulkhead);
        let Some(permit) = self.admitted(bulkhead.enter(self.patience()).await) else {
            return self.overloaded(lead, &start);
        };
        start.at = clock::now_raw();
        let limit = self.site.policy.hard_timeout.zip(self.timed_out);
        let result = match limit {
            None => CatchUnwind { fut: f() }.await,
            Some((limit, answer)) => match timeout::within(limit, CatchUnwind { fut: f() }).await {
                Some(result) => result,
                None => {
                    drop(permit);
                    return self.hard_timed_out(lead, &start, answer);
                }
            },
        };
        drop(permit);
        self.finish(lead, result, start)
    }

    /// The answer to a body that ran past `hard_timeout`: the fail-safe copy when there
    /// is one, else the function's `From<Timeout>` error. Nothing is stored.
    fn hard_timed_out(self, lead: Lead, start: &Start, answer: fn() -> R) -> R {
        let counters = &self.site.cache.counters;
        Counters::bump(&counters.hard_timeouts);
        tracing::warn!(
            cache = self.name,
            "computation past its hard_timeout: stopped waiting"
        );
        self.stale_or(lead, &start.validity, answer)
    }

    /// The fail-safe copy, also handed to the callers waiting for this computation, when
    /// there is one; else `otherwise`.
    fn stale_or(&self, lead: Lead, began: &Validity, otherwise: impl FnOnce() -> R) -> R {
        let Some(entry) = self.usable_stale(began) else {
            lead.settle(Settled::Failed);
            scope::record(self.name, Outcome::Miss);
            return otherwise();
        };
        lead.settle(Settled::Stale(Arc::clone(&entry)));
        Counters::bump(&self.site.cache.counters.stale_served);
        self.record_entry(Outcome::Stale, &entry);
        tracing::debug!(cache = self.name, "serving the fail-safe copy");
        match local::value_of::<A::Value>(&entry) {
            Some(v) => self.adapter.rebuild(v.clone()),
            None => unreachable!("usable_stale checked the value type"),
        }
    }

    /// [`run_async`](Self::run_async) with the cache's `soft_timeout`: when an expired
    /// value is at hand as the fail-safe copy (`stale_if_error`), the computation runs as
    /// a task of the current tokio runtime, and if it has not finished by the soft
    /// timeout the call answers with the copy; the task goes on, stores its value and
    /// tells the callers waiting for it. Without a copy (or outside a tokio runtime) it is
    /// [`run_async`](Self::run_async). Boxed, as `run_async` is, so that a hit's future does
    /// not carry it.
    pub fn run_async_soft<F, Fut>(self, f: F) -> Pin<Box<impl Future<Output = R>>>
    where
        F: FnOnce() -> Fut + Send + 'static,
        Fut: Future<Output = R> + Send + 'static,
        R: Send + 'static,
    {
        Box::pin(self.soft(f))
    }

    async fn soft<F, Fut>(self, f: F) -> R
    where
        F: FnOnce() -> Fut + Send + 'static,
        Fut: Future<Output = R> + Send + 'static,
        R: Send + 'static,
    {
        let copy = self.site.policy.soft_timeout.and_then(|limit| {
            let now = clock::now();
            let usable = self.previous.as_ref().filter(|e| {
                e.meta().is_current()
                    && now < e.meta().stale_until
                    && local::value_of::<A::Value>(e).is_some()
            })?;
            Some((limit, Arc::clone(usable)))
        });
        let handle = tokio::runtime::Handle::try_current();
        let (Some((limit, copy)), Ok(handle)) = (copy, handle) else {
            return self.run_async(f).await;
        };
        let (site, name, adapter) = (Arc::clone(&self.site), self.name, self.adapter);
        let task = handle.spawn(self.run_async(f));
        match timeout::within(limit, task).await {
            Some(Ok(result)) => result,
            Some(Err(e)) if e.is_panic() => resume_unwind(e.into_panic()),
            // Cancelled (the runtime is shutting down) or still running: the copy.
            Some(Err(_)) | None => {
                let counters = &site.cache.counters;
                Counters::bump(&counters.soft_timeouts);
                Counters::bump(&counters.stale_served);
                scope::record(name, Outcome::Stale);
                tracing::debug!(cache = name, "soft timeout: serving the fail-safe copy");
                match local::value_of::<A::Value>(&copy) {
                    Some(v) => adapter.rebuild(v.clone()),
                    None => unreachable!("the copy's value type was checked above"),
                }
            }
        }
    }

    /// [`run_async`](Self::run_async) for synchronous functions; a waiter blocks its
    /// thread until the leader finishes. The remote tier is not used.
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
        // Taken before the wait for a permit: what an overload may serve as the fail-safe
        // copy is judged against the invalidations seen when the call began.
        let mut start = self.start(&lead);
        let lead = match self.throttled(lead, &start) {
            Ok(lead) => lead,
            Err(answer) => return answer,
        };
        let bulkhead = Arc::clone(&self.site.bulkhead);
        let Some(permit) = self.admitted(bulkhead.enter_blocking(self.patience())) else {
            return self.overloaded(lead, &start);
        };
        start.at = clock::now_raw();
        let result = catch_unwind(AssertUnwindSafe(f));
        drop(permit);
        self.finish(lead, result, start)
    }

    /// Refreshes the entry in the background on the current tokio runtime (no-op outside
    /// one, or when a computation of the key is already running).
    pub fn refresh_async<F, Fut>(mut self, f: F)
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
        let mut start = self.start(&lead);
        handle.spawn(async move {
            self.consult_remote(&mut start).await;
            let bulkhead = Arc::clone(&self.site.bulkhead);
            let permit = self.admitted(bulkhead.enter(None).await);
            let result = CatchUnwind { fut: f() }.await;
            drop(permit);
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
        let start = self.start(&lead);
        let spawned = std::thread::Builder::new()
            .name("cache-refresh".into())
            .spawn(move || {
                let bulkhead = Arc::clone(&self.site.bulkhead);
                let permit = self.admitted(bulkhead.enter_blocking(None));
                let result = catch_unwind(AssertUnwindSafe(f));
                drop(permit);
                self.finish_background(lead, result, start);
            });
        if let Err(e) = spawned {
            tracing::warn!(error = %e, "could not start a refresh thread");
        }
    }

    /// A start judged by the invalidation state now, for a value already at hand.
    pub(super) fn start_now(&self) -> Start {
        Start {
            at: clock::now_raw(),
            validity: self.validity_now(),
            remote: None,
            lock: None,
        }
    }

    /// The invalidation state now.
    fn validity_now(&self) -> Validity {
        let cache = &self.site.cache;
        Validity {
            cache: Arc::clone(cache),
            epoch: cache.epoch.load(Ordering::SeqCst),
            generation: cache.generation.load(Ordering::SeqCst),
            tags: self.site.engine.registry.tag_states(&self.tags),
        }
    }

    fn start(&self, lead: &Lead) -> Start {
        Start {
            at: clock::now_raw(),
            validity: match lead {
                Lead::Flight(l) => l.validity().clone(),
                Lead::Alone => self.validity_now(),
            },
            remote: None,
            lock: None,
        }
    }

    /// Leads a background refresh, unless a computation of the key is already running.
    fn lead_refresh(&self) -> Option<Lead> {
        match self
            .site
            .engine
            .flights
            .join(&self.key, || self.validity_now())
        {
            Join::Lead(lead) => {
                Counters::bump(&self.site.cache.counters.refreshes);
                Some(Lead::Flight(lead))
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
        if self.mode != Mode::Normal || self.background {
            return Ok(Lead::Alone);
        }
        match self
            .site
            .engine
            .flights
            .join(&self.key, || self.validity_now())
        {
            Join::Lead(l) => Ok(Lead::Flight(l)),
            Join::Wait(f) => Err(f),
        }
    }

    /// Records the outcome with the entry behind it (its freshness, for HTTP caching).
    fn record_entry(&self, outcome: Outcome, entry: &Entry) {
        let fresh_until = entry.meta().fresh_until;
        let ttl = self.site.policy.ttl;
        scope::record_entry(self.name, outcome, ServedFrom::Local, fresh_until, ttl);
    }

    fn joined(&self, outcome: Settled) -> Joined<R> {
        let counters = &self.site.cache.counters;
        match outcome {
            Settled::Value(e) => match local::value_of::<A::Value>(&e) {
                Some(v) => {
                    Counters::bump(&counters.coalesced);
                    self.record_entry(Outcome::Coalesced, &e);
                    Joined::Done(self.adapter.rebuild(v.clone()))
                }
                None => Joined::Alone,
            },
            Settled::Stale(e) => match local::value_of::<A::Value>(&e) {
                Some(v) => {
                    Counters::bump(&counters.stale_served);
                    scope::record(self.name, Outcome::Stale);
                    Joined::Done(self.adapter.rebuild(v.clone()))
                }
                None => Joined::Alone,
            },
            Settled::Failed => Joined::Alone,
            Settled::Abandoned => Joined::Retry,
            Settled::Panicked(message) => panic!(
                "the computation of cache `{}` panicked in a concurrent call for the same key: {message}",
                self.name
            ),
        }
    }

    /// Stores a cacheable result, tells waiters, records the outcome.
    fn finish(self, lead: Lead, result: Result<R, Box<dyn Any + Send>>, start: Start) -> R {
        let counters = &self.site.cache.counters;
        counters.record_compute(clock::nanos_since(start.at));
        let result = match result {
            Ok(r) => r,
            Err(panic) => {
                lead.settle(Settled::Panicked(flight::panic_message(&*panic)));
                resume_unwind(panic);
            }
        };
        if self.mode == Mode::Bypass {
            scope::record(self.name, Outcome::Bypassed);
            return result;
        }
        match self.adapter.split(result) {
            Ok(value) => {
                let entry = self.store(value, start);
                lead.settle(Settled::Value(Arc::clone(&entry)));
                let outcome = if self.mode == Mode::Refresh {
                    Outcome::Refreshed
                } else {
                    Outcome::Miss
                };
                self.record_entry(outcome, &entry);
                match local::value_of::<A::Value>(&entry) {
                    Some(v) => self.adapter.rebuild(v.clone()),
                    None => unreachable!("an entry built from A::Value downcasts to it"),
                }
            }
            Err(uncached) => {
                Counters::bump(&counters.errors_not_cached);
                self.stale_or(lead, &start.validity, || uncached)
            }
        }
    }

    /// The end of a background refresh: store if cacheable; on failure or panic keep the
    /// current entry and let a later hit try again.
    fn finish_background(self, lead: Lead, result: Result<R, Box<dyn Any + Send>>, start: Start) {
        let counters = &self.site.cache.counters;
        counters.record_compute(clock::nanos_since(start.at));
        match result.map(|r| self.adapter.split(r)) {
            Ok(Ok(value)) => {
                let entry = self.store(value, start);
                lead.settle(Settled::Value(entry));
            }
            Ok(Err(_)) => {
                Counters::bump(&counters.errors_not_cached);
                self.release_refresh();
                lead.settle(Settled::Failed);
            }
            Err(panic) => {
                tracing::error!(cache = self.name, "background refresh panicked");
                self.release_refresh();
                lead.settle(Settled::Panicked(flight::panic_message(&*panic)));
            }
        }
    }

    /// The fail-safe copy, if one is still valid: the expired local entry (if it is still
    /// the one under this key), or else the copy read from Redis (if nothing was
    /// invalidated since this call began).
    fn usable_stale(&self, began: &Validity) -> Option<Entry> {
        if self.mode != Mode::Normal || self.background {
            return None;
        }
        let now = clock::now();
        let usable = |e: &Entry| {
            e.meta().is_current()
                && now < e.meta().stale_until
                && local::value_of::<A::Value>(e).is_some()
        };
        if let Some(prev) = self.previous.as_ref().filter(|p| usable(p))
            && let Some(current) = self.site.engine.local.get(&self.key)
            && Arc::ptr_eq(&current, prev)
        {
            return Some(current);
        }
        if !began.holds() {
            return None;
        }
        self.remote_fail_safe(began)
            .filter(|c| c.meta().is_current())
    }

    /// Builds the entry for a value and stores it (locally unless it is too large or an
    /// invalidation ran while it was computed; remotely when the remote tier granted it).
    pub(super) fn store(&self, value: A::Value, start: Start) -> Entry {
        let site = &self.site;
        let counters = &site.cache.counters;
        // The clock is read only for `only_if_slower` (zero, the default, never refuses).
        let slower = site.policy.only_if_slower;
        let refused = !self.explicit
            && (self.rules.unless.is_some_and(|unless| unless(&value))
                || (!slower.is_zero()
                    && u128::from(clock::nanos_since(start.at)) < slower.as_nanos()));
        let ttl = self
            .rules
            .ttl_from
            .map(|ttl_from| site.policy.bounded(ttl_from(&value)));
        if refused || ttl.is_some_and(|t| t == 0) {
            Counters::bump(&counters.not_stored);
            let now = clock::now();
            return self.slot(value, &start.validity, (now, now, u64::MAX), 0);
        }
        // With a remote write ahead the bytes are kept; otherwise only counted.
        let remote = start.remote.is_some() && self.remote_allowed();
        let (encoded, body) = if remote {
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
        let deadlines = site.policy.deadlines_with(clock::now(), ttl);
        let entry: Entry = self.slot(value, &start.validity, deadlines, weight);
        if storable {
            if site.tier != Tier::Remote {
                self.keep(&entry, &start.validity);
            }
            if let (Some(stamp), Some(body)) = (start.remote, body) {
                self.write_remote(&entry, stamp, body, &start.validity, start.lock);
            }
        }
        entry
    }

    /// An entry for `value`, judged by the invalidation state its computation began under.
    pub(super) fn slot(
        &self,
        value: A::Value,
        began: &Validity,
        (fresh_until, stale_until, refresh_after): (u64, u64, u64),
        weight: u64,
    ) -> Arc<Slot<A::Value>> {
        Arc::new(Slot {
            meta: Meta {
                cache: Arc::clone(&self.site.cache),
                generation: began.generation,
                tags: began.tags.clone(),
                fresh_until,
                stale_until,
                refresh_after,
                refreshing: AtomicBool::new(false),
                weight,
                counted: AtomicBool::new(false),
                retired: AtomicBool::new(false),
            },
            value,
        })
    }

    /// Inserts an entry in the local tier, unless an invalidation of the cache ran since
    /// its computation began. Under the cache's store lock, which a key invalidation also
    /// holds: either the invalidation comes first and this sees its epoch, or this comes
    /// first and the invalidation removes the entry.
    pub(super) fn keep(&self, entry: &Entry, began: &Validity) {
        let cache = &self.site.cache;
        let _store = cache.store.lock();
        if cache.epoch.load(Ordering::SeqCst) == began.epoch {
            self.site.engine.local.insert(&self.key, Arc::clone(entry));
        }
    }
}
