//! Compute: what a [`Ticket`] does after a miss.
//!
//! ```text
//! ticket:  single-flight join (a flight begun before an invalidation is not joined)
//!          -> (lead) disk tier (disk.rs) -> remote tier (see fetch.rs) -> compute
//!             -> Ok: store (store.rs): the local tier (unless invalidated meanwhile),
//!                the remote tier in the background; publish to waiters
//!             -> Err: serve the fail-safe copy (local, or read from Redis) if any
//!          -> (wait) clone the leader's value, or compute alone after its failure
//! ```

use std::any::Any;
use std::future::Future;
use std::panic::{AssertUnwindSafe, catch_unwind, resume_unwind};
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use super::budget;
use super::bulkhead::{Entered, Permit};
use super::flight::{self, Join, Settled};
use super::scope::{self, Mode, Outcome, ServedFrom};
use super::ticket::{Lead, Start, Ticket};
use super::timeout;
use super::trace;
use crate::clock;
use crate::state::{CacheState, Validity};
use crate::stats::Counters;
use crate::tier::local::{self, Entry};
use crate::value::Adapter;

enum Joined<R> {
    Done(R),
    Retry,
    Alone,
}

pin_project_lite::pin_project! {
    /// Catches a panic of the inner future so the leader can tell its waiters.
    pub(super) struct CatchUnwind<F> {
        #[pin]
        pub(super) fut: F,
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

/// The value of an entry, if it holds the cache's value type, rebuilt as the function's
/// return type.
pub(super) fn rebuilt<R, A: Adapter<R>>(adapter: &A, entry: &Entry) -> Option<R> {
    local::value_of::<A::Value>(entry).map(|v| adapter.rebuild(v.clone()))
}

/// Whether `entry` can serve as the fail-safe copy at `now`: current (or only expired by
/// `expire*`, with a stale window), inside its stale window, and holding a `V`.
fn fail_safe_at<V: 'static>(cache: &CacheState, entry: &Entry, now: u64) -> bool {
    entry.meta().keepable_at(cache, now) && local::value_of::<V>(entry).is_some()
}

impl<R, A: Adapter<R>> Ticket<R, A> {
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
        self.stale_or(lead, &start.validity, false, move || match answer {
            Some(answer) => answer(),
            None => unreachable!("only a computation with an overload answer stops waiting"),
        })
    }

    /// Charges the caller's computation budget for the computation about to run; `Err`
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
            self.stale_or(lead, &start.validity, false, move || match throttle {
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

    /// [`run_async`](Self::run_async) in the call's `span` (see `trace.rs`), entered on
    /// every poll of the boxed computation, whose own future runs in a `cache.compute`
    /// span; the span lives in the box, so the caller's future does not grow.
    pub fn run_async_in<F, Fut>(
        self,
        span: tracing::Span,
        f: F,
    ) -> Pin<Box<impl Future<Output = R>>>
    where
        F: FnOnce() -> Fut,
        Fut: Future<Output = R>,
    {
        let f = trace::computing(!span.is_none(), f);
        Box::pin(tracing::Instrument::instrument(self.compute_async(f), span))
    }

    /// [`run_sync`](Self::run_sync) for a call in `span` (entered by the caller): the
    /// computation runs in a `cache.compute` span.
    pub fn run_sync_in<F: FnOnce() -> R>(self, span: &tracing::Span, f: F) -> R {
        if span.is_none() {
            return self.run_sync(f);
        }
        self.run_sync(move || trace::compute_span().in_scope(f))
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
        if let Some(hit) = self.consult_disk().await {
            return self.finish_disk(lead, hit, &start);
        }
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
        self.stale_or(lead, &start.validity, true, answer)
    }

    /// The fail-safe copy, also handed to the callers waiting for this computation, when
    /// there is one; else `otherwise`. `failed`: the body failed (an error, a hard
    /// timeout), so the copy answers the key for the cache's `fail_throttle`.
    fn stale_or(
        &self,
        lead: Lead,
        began: &Validity,
        failed: bool,
        otherwise: impl FnOnce() -> R,
    ) -> R {
        let Some(entry) = self.usable_stale(began) else {
            lead.settle(Settled::Failed);
            scope::record(self.name, Outcome::Miss);
            return otherwise();
        };
        if failed {
            self.throttle_fail_safe(&entry, began);
        }
        lead.settle(Settled::Stale(Arc::clone(&entry)));
        Counters::bump(&self.site.cache.counters.stale_served);
        self.record_entry(Outcome::Stale, &entry);
        tracing::debug!(cache = self.name, "serving the fail-safe copy");
        rebuilt(&self.adapter, &entry)
            .unwrap_or_else(|| unreachable!("usable_stale checked the value type"))
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
            let usable = self
                .previous
                .as_ref()
                .filter(|e| fail_safe_at::<A::Value>(&self.site.cache, e, now))?;
            Some((limit, Arc::clone(usable)))
        });
        let handle = tokio::runtime::Handle::try_current();
        let (Some((limit, copy)), Ok(handle)) = (copy, handle) else {
            return self.run_async(f).await;
        };
        let (site, name, adapter) = (Arc::clone(&self.site), self.name, self.adapter);
        // The task carries the caller's computation budget: a budget is set around each
        // poll of the caller's future, which a spawned task is not.
        let computation = self.run_async(f);
        let task = match budget::current() {
            Some(b) => handle.spawn(budget::with_budget(b, computation)),
            None => handle.spawn(computation),
        };
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
                rebuilt(&adapter, &copy)
                    .unwrap_or_else(|| unreachable!("the copy's value type was checked above"))
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

    /// Leads a background refresh, unless a computation of the key is already running.
    pub(super) fn lead_refresh(&self) -> Option<Lead> {
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
    pub(super) fn release_refresh(&self) {
        if let Some(prev) = &self.previous {
            prev.meta().release_refresh();
        }
    }

    /// Leads the computation, or returns the flight to wait for.
    pub(super) fn begin(&self) -> Result<Lead, Arc<flight::Flight>> {
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
        let fresh_until = entry.meta().fresh_until();
        let ttl = self.site.policy.span;
        scope::record_entry(self.name, outcome, ServedFrom::Local, fresh_until, ttl);
    }

    fn joined(&self, outcome: Settled) -> Joined<R> {
        let counters = &self.site.cache.counters;
        match outcome {
            Settled::Value(e) => match rebuilt(&self.adapter, &e) {
                Some(r) => {
                    Counters::bump(&counters.coalesced);
                    self.record_entry(Outcome::Coalesced, &e);
                    Joined::Done(r)
                }
                None => Joined::Alone,
            },
            Settled::Stale(e) => match rebuilt(&self.adapter, &e) {
                Some(r) => {
                    Counters::bump(&counters.stale_served);
                    scope::record(self.name, Outcome::Stale);
                    Joined::Done(r)
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
        let short = self.is_short(&result);
        match self.adapter.split(result) {
            Ok(value) => {
                let entry = self.store(value, start, short);
                lead.settle(Settled::Value(Arc::clone(&entry)));
                let outcome = if self.mode == Mode::Refresh {
                    Outcome::Refreshed
                } else {
                    Outcome::Miss
                };
                self.record_entry(outcome, &entry);
                rebuilt(&self.adapter, &entry)
                    .unwrap_or_else(|| unreachable!("an entry built from A::Value downcasts to it"))
            }
            Err(uncached) => {
                Counters::bump(&counters.errors_not_cached);
                self.stale_or(lead, &start.validity, true, || uncached)
            }
        }
    }

    /// The end of a background refresh: store if cacheable; on failure or panic keep the
    /// current entry and let a later hit try again.
    fn finish_background(self, lead: Lead, result: Result<R, Box<dyn Any + Send>>, start: Start) {
        let counters = &self.site.cache.counters;
        counters.record_compute(clock::nanos_since(start.at));
        let short = result.as_ref().is_ok_and(|r| self.is_short(r));
        match result.map(|r| self.adapter.split(r)) {
            Ok(Ok(value)) => {
                let entry = self.store(value, start, short);
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
    pub(super) fn usable_stale(&self, began: &Validity) -> Option<Entry> {
        if self.mode != Mode::Normal || self.background {
            return None;
        }
        let now = clock::now();
        if let Some(prev) = self
            .previous
            .as_ref()
            .filter(|p| fail_safe_at::<A::Value>(&self.site.cache, p, now))
            && let Some(current) = self.site.engine.local.get(&self.site.part, &self.key)
            && Arc::ptr_eq(&current, prev)
        {
            return Some(current);
        }
        if !began.holds() {
            return None;
        }
        self.remote_fail_safe(began)
            .filter(|c| c.meta().is_current(&self.site.cache))
    }
}
