//! Per-call control: run a future (or a closure) with caching changed for every cached
//! call inside it, and learn what each of those calls did.
//!
//! A scope is carried by the future it wraps (set around each poll, like a tracing span),
//! so it follows the work across `.await`s but not into tasks spawned from it.

use std::cell::{Cell, RefCell};
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use parking_lot::Mutex;

use crate::clock;

/// How cached calls inside a scope behave.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Mode {
    /// Read and write as usual.
    Normal,
    /// Skip reads, keep writes: every call computes and stores its fresh value.
    Refresh,
    /// No cache at all: compute, store nothing.
    Bypass,
}

/// What one cached call did.
///
/// ```
/// use cache_runtime::{Outcome, Scope};
/// let (_, outcomes) = Scope::observe().run_sync(|| ());
/// assert!(outcomes.iter().all(|c| c.outcome != Outcome::Stale));
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Outcome {
    /// Answered from the cache.
    Hit,
    /// Computed (and stored when cacheable).
    Miss,
    /// Waited for a concurrent caller's computation of the same key.
    Coalesced,
    /// The recomputation failed; an expired value was served (`stale_if_error`).
    Stale,
    /// Computed and stored in a refresh scope.
    Refreshed,
    /// Computed without touching the cache (bypass scope, disabled cache, or a key that
    /// could not be encoded).
    Bypassed,
}

impl Outcome {
    /// Its name on a call's span (`cache.outcome`).
    fn trace_name(self) -> &'static str {
        match self {
            Self::Hit => "hit",
            Self::Miss => "miss",
            Self::Coalesced => "coalesced",
            Self::Stale => "stale",
            Self::Refreshed => "refresh",
            Self::Bypassed => "bypass",
        }
    }
}

/// One cached call seen by a scope.
///
/// ```
/// # #[tokio::main(flavor = "current_thread")] async fn main() {
/// #[cache_runtime::cache_result("doc_call_outcome", ttl = 5)]
/// async fn one() -> u8 { 1 }
/// let (_, outcomes) = cache_runtime::Scope::observe().run(one()).await;
/// let call = outcomes.iter().next().unwrap();
/// assert_eq!((call.cache, call.outcome), ("doc_call_outcome", cache_runtime::Outcome::Miss));
/// # }
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize)]
pub struct CallOutcome {
    /// The cache name.
    pub cache: &'static str,
    /// What the call did.
    pub outcome: Outcome,
    /// The entry the call answered with or stored, when there is one: where it came from,
    /// how long it stays fresh, how old it is.
    pub entry: Option<EntryInfo>,
}

/// The tier a cached call was answered from.
///
/// ```
/// # #[tokio::main(flavor = "current_thread")] async fn main() {
/// #[cache_runtime::cache_result("doc_served_from", ttl = 5)]
/// async fn one() -> u8 { 1 }
/// one().await;
/// let (_, o) = cache_runtime::Scope::observe().run(one()).await;
/// assert_eq!(o.served_from(), Some(cache_runtime::ServedFrom::Local));
/// # }
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ServedFrom {
    /// The in-process tier (L1), or a value computed by this call or a concurrent one.
    Local,
    /// The remote tier (L2, Redis).
    Remote,
    /// The disk tier (feature `disk`): an entry kept across a restart.
    Disk,
}

impl ServedFrom {
    /// Its name on a call's span (`cache.tier`).
    fn trace_name(self) -> &'static str {
        match self {
            Self::Local => "local",
            Self::Remote => "remote",
            Self::Disk => "disk",
        }
    }
}

/// What a scope learns about the entry behind one call.
///
/// ```
/// # #[tokio::main(flavor = "current_thread")] async fn main() {
/// #[cache_runtime::cache_result("doc_entry_info", ttl = 60)]
/// async fn one() -> u8 { 1 }
/// let (_, o) = cache_runtime::Scope::observe().run(one()).await;
/// let entry = o.iter().next().unwrap().entry.unwrap();
/// assert!(entry.fresh_for.as_secs() > 58 && entry.age.as_secs() < 2);
/// # }
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize)]
pub struct EntryInfo {
    /// Where the value came from.
    pub from: ServedFrom,
    /// How long the entry stays fresh from now (zero for a stale value).
    pub fresh_for: Duration,
    /// How long ago the entry was computed (as far as its TTL tells: TTL minus what is
    /// left of it).
    pub age: Duration,
}

/// Everything the cached calls inside a scope did, in order.
///
/// ```
/// # #[tokio::main(flavor = "current_thread")] async fn main() {
/// use cache_runtime::{Outcome, Scope, cache_result};
///
/// #[cache_result("doc_scope_square", ttl = 60)]
/// async fn square(x: u64) -> u64 { x * x }
///
/// let (_, first) = Scope::observe().run(square(4)).await;
/// let (_, second) = Scope::observe().run(square(4)).await;
/// assert_eq!(first.x_cache(), "MISS");
/// assert_eq!(second.x_cache(), "HIT");
/// assert_eq!(second.iter().next().unwrap().outcome, Outcome::Hit);
/// # }
/// ```
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Outcomes(Vec<CallOutcome>);

impl Outcomes {
    /// The calls in the order they finished.
    ///
    /// ```
    /// let (_, o) = cache_runtime::Scope::observe().run_sync(|| 1);
    /// assert_eq!(o.iter().count(), 0);
    /// ```
    pub fn iter(&self) -> impl Iterator<Item = &CallOutcome> {
        self.0.iter()
    }

    /// A value for an `X-Cache` response header: `"NONE"` when no cached call ran,
    /// otherwise the least cache-served outcome among the calls: `"BYPASS"`, `"MISS"`,
    /// `"STALE"`, `"COALESCED"` or `"HIT"` (all hits).
    ///
    /// ```
    /// let (_, o) = cache_runtime::Scope::observe().run_sync(|| ());
    /// assert_eq!(o.x_cache(), "NONE");
    /// ```
    pub fn x_cache(&self) -> &'static str {
        let rank = |o: Outcome| match o {
            Outcome::Bypassed => 0,
            Outcome::Miss | Outcome::Refreshed => 1,
            Outcome::Stale => 2,
            Outcome::Coalesced => 3,
            Outcome::Hit => 4,
        };
        match self.0.iter().map(|c| c.outcome).min_by_key(|o| rank(*o)) {
            None => "NONE",
            Some(Outcome::Bypassed) => "BYPASS",
            Some(Outcome::Miss | Outcome::Refreshed) => "MISS",
            Some(Outcome::Stale) => "STALE",
            Some(Outcome::Coalesced) => "COALESCED",
            Some(Outcome::Hit) => "HIT",
        }
    }

    /// For a request whose cached calls were all hits: `Some(Remote)` when one of them
    /// came from the remote tier, else `Some(Disk)` when one came from the disk tier,
    /// `Some(Local)` when all came from this process; `None`
    /// otherwise (for an `X-Cache-Tier` header next to `X-Cache: HIT`).
    ///
    /// ```
    /// let (_, o) = cache_runtime::Scope::observe().run_sync(|| ());
    /// assert_eq!(o.served_from(), None);
    /// ```
    pub fn served_from(&self) -> Option<ServedFrom> {
        if self.0.is_empty() || self.0.iter().any(|c| c.outcome != Outcome::Hit) {
            return None;
        }
        let from = |tier| {
            self.0
                .iter()
                .any(|c| c.entry.is_some_and(|e| e.from == tier))
        };
        Some(if from(ServedFrom::Remote) {
            ServedFrom::Remote
        } else if from(ServedFrom::Disk) {
            ServedFrom::Disk
        } else {
            ServedFrom::Local
        })
    }

    /// How long the answer built from these calls stays fresh: the shortest freshness of
    /// their entries. `None` when no cached call ran or one of them has no entry (it
    /// bypassed the cache or its result was not cacheable), so the answer must not be kept.
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")] async fn main() {
    /// #[cache_runtime::cache_result("doc_fresh_for", ttl = 30)]
    /// async fn one() -> u8 { 1 }
    /// let (_, o) = cache_runtime::Scope::observe().run(one()).await;
    /// assert!(o.fresh_for().unwrap().as_secs() >= 29);
    /// let (_, none) = cache_runtime::Scope::bypass().run(one()).await;
    /// assert_eq!(none.fresh_for(), None);
    /// # }
    /// ```
    pub fn fresh_for(&self) -> Option<Duration> {
        if self.0.is_empty() {
            return None;
        }
        self.0
            .iter()
            .map(|c| c.entry.map(|e| e.fresh_for))
            .try_fold(Duration::MAX, |min, f| f.map(|f| min.min(f)))
    }

    /// The age of the oldest entry among the calls (zero when none had one).
    ///
    /// ```
    /// let (_, o) = cache_runtime::Scope::observe().run_sync(|| ());
    /// assert_eq!(o.age(), std::time::Duration::ZERO);
    /// ```
    pub fn age(&self) -> Duration {
        self.0
            .iter()
            .filter_map(|c| c.entry.map(|e| e.age))
            .max()
            .unwrap_or_default()
    }
}

struct Active {
    mode: Mode,
    seen: Mutex<Vec<CallOutcome>>,
}

thread_local! {
    /// Fast flag read on every cached call: is any scope active on this thread?
    static ACTIVE: Cell<bool> = const { Cell::new(false) };
    static CURRENT: RefCell<Option<Arc<Active>>> = const { RefCell::new(None) };
}

/// The mode of the scope active on this thread.
#[inline]
pub(crate) fn mode() -> Mode {
    if !ACTIVE.with(Cell::get) {
        return Mode::Normal;
    }
    CURRENT.with(|c| c.borrow().as_ref().map_or(Mode::Normal, |a| a.mode))
}

/// Records a call's outcome in the active scope, if any.
#[inline]
pub(crate) fn record(cache: &'static str, outcome: Outcome) {
    super::trace::outcome(outcome.trace_name(), None);
    if !ACTIVE.with(Cell::get) {
        return;
    }
    push(CallOutcome {
        cache,
        outcome,
        entry: None,
    });
}

/// Records a call that answered with (or stored) an entry: where it came from, its
/// freshness deadline (clock ticks) and the cache's TTL (ticks), from which its age
/// follows. Costs nothing more than [`record`] outside a scope.
#[inline]
pub(crate) fn record_entry(
    cache: &'static str,
    outcome: Outcome,
    from: ServedFrom,
    fresh_until: u64,
    ttl: u64,
) {
    super::trace::outcome(outcome.trace_name(), Some(from.trace_name()));
    if !ACTIVE.with(Cell::get) {
        return;
    }
    let left = fresh_until.saturating_sub(clock::now());
    let duration = |ticks: u64| Duration::from(coarsetime::Duration::from_ticks(ticks));
    push(CallOutcome {
        cache,
        outcome,
        entry: Some(EntryInfo {
            from,
            fresh_for: duration(left),
            age: duration(ttl.saturating_sub(left)),
        }),
    });
}

fn push(call: CallOutcome) {
    CURRENT.with(|c| {
        if let Some(a) = c.borrow().as_ref() {
            a.seen.lock().push(call);
        }
    });
}

/// Makes `active` current for the duration of `f`, restoring the outer scope after.
fn enter<R>(active: &Arc<Active>, f: impl FnOnce() -> R) -> R {
    struct Restore(Option<Arc<Active>>, bool);
    impl Drop for Restore {
        fn drop(&mut self) {
            let prev = self.0.take();
            CURRENT.with(|c| *c.borrow_mut() = prev);
            ACTIVE.with(|a| a.set(self.1));
        }
    }
    let prev = CURRENT.with(|c| c.borrow_mut().replace(Arc::clone(active)));
    let _restore = Restore(prev, ACTIVE.with(|a| a.replace(true)));
    f()
}

/// Runs work with caching changed for every cached call inside it.
///
/// - [`Scope::observe`]: caching as usual; learn what each call did (for an `X-Cache`
///   header).
/// - [`Scope::refresh`]: skip reads, keep writes: force a recomputation and store it
///   (warming, or "refresh" buttons).
/// - [`Scope::bypass`]: no cache at all; nothing is read or written.
///
/// ```
/// # #[tokio::main(flavor = "current_thread")] async fn main() {
/// use std::sync::atomic::{AtomicU32, Ordering};
/// use cache_runtime::{Scope, cache_result};
///
/// static RUNS: AtomicU32 = AtomicU32::new(0);
///
/// #[cache_result("doc_scope_runs", ttl = 60)]
/// async fn report(day: u32) -> u32 { RUNS.fetch_add(1, Ordering::SeqCst) + day }
///
/// report(1).await;                                  // computes and stores
/// report(1).await;                                  // hit
/// Scope::refresh().run(report(1)).await;            // computes again, stores
/// Scope::bypass().run(report(1)).await;             // computes, stores nothing
/// assert_eq!(RUNS.load(Ordering::SeqCst), 3);
/// # }
/// ```
#[derive(Clone, Copy, Debug)]
pub struct Scope {
    mode: Mode,
}

impl Scope {
    /// Caching as usual, with outcomes recorded.
    ///
    /// ```
    /// let (v, outcomes) = cache_runtime::Scope::observe().run_sync(|| 2 + 2);
    /// assert_eq!((v, outcomes.x_cache()), (4, "NONE"));
    /// ```
    pub fn observe() -> Self {
        Self { mode: Mode::Normal }
    }

    /// Reads skipped, writes kept: every cached call recomputes and stores.
    ///
    /// ```
    /// let (v, _) = cache_runtime::Scope::refresh().run_sync(|| "warm");
    /// assert_eq!(v, "warm");
    /// ```
    pub fn refresh() -> Self {
        Self {
            mode: Mode::Refresh,
        }
    }

    /// No cache: every cached call computes and nothing is stored.
    ///
    /// ```
    /// let (v, _) = cache_runtime::Scope::bypass().run_sync(|| 1);
    /// assert_eq!(v, 1);
    /// ```
    pub fn bypass() -> Self {
        Self { mode: Mode::Bypass }
    }

    fn activate(self) -> Arc<Active> {
        Arc::new(Active {
            mode: self.mode,
            seen: Mutex::new(Vec::new()),
        })
    }

    /// Runs a future inside the scope; resolves to its output and the outcomes.
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")] async fn main() {
    /// let (v, outcomes) = cache_runtime::Scope::observe().run(async { 7 }).await;
    /// assert_eq!(v, 7);
    /// assert_eq!(outcomes.x_cache(), "NONE");
    /// # }
    /// ```
    pub fn run<F: Future>(self, fut: F) -> Scoped<F> {
        Scoped {
            fut,
            active: self.activate(),
        }
    }

    /// Runs a closure inside the scope (for synchronous code).
    ///
    /// ```
    /// let (v, _) = cache_runtime::Scope::observe().run_sync(|| "done");
    /// assert_eq!(v, "done");
    /// ```
    pub fn run_sync<R>(self, f: impl FnOnce() -> R) -> (R, Outcomes) {
        let active = self.activate();
        let r = enter(&active, f);
        let seen = std::mem::take(&mut *active.seen.lock());
        (r, Outcomes(seen))
    }
}

pin_project_lite::pin_project! {
    /// The future returned by [`Scope::run`]: resolves to the output and the outcomes.
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")] async fn main() {
    /// let scoped: cache_runtime::Scoped<_> = cache_runtime::Scope::bypass().run(async { 3 });
    /// assert_eq!(scoped.await.0, 3);
    /// # }
    /// ```
    pub struct Scoped<F> {
        #[pin]
        fut: F,
        active: Arc<Active>,
    }
}

impl<F: Future> Future for Scoped<F> {
    type Output = (F::Output, Outcomes);

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.project();
        let active = this.active;
        let fut = this.fut;
        match enter(active, || fut.poll(cx)) {
            Poll::Ready(v) => {
                let seen = std::mem::take(&mut *active.seen.lock());
                Poll::Ready((v, Outcomes(seen)))
            }
            Poll::Pending => Poll::Pending,
        }
    }
}
