//! A typed handle to one entry of a cached function, named by its arguments: what
//! `#[cache_result]`'s companion `<fn>_entry(..)` returns, and what `#[cache_invalidate]`
//! and `#[cache_put]` go through.
//!
//! ```text
//! <fn>_entry(&args)   key: encoded exactly as the call encodes it (same site, same options)
//!   invalidate()      -> the invalidation fan-out of invalidate.rs, for this key value
//!   expire()          -> the expiry fan-out of invalidate.rs (kept as the fail-safe copy)
//!   put(v)            -> drop the key (older computations no longer store) -> store v in the
//!                        local tier -> the remote tier drops its copy (announced)
//!   put_async(v)      -> as put, but the remote tier gets v itself (read generations, write)
//!   peek()            -> the local tier only: a fresh value, or None; counts nothing
//! ```
//!
//! The value's type is checked by the compiler: the companion returns
//! `CacheEntry<V>` with `V` the part the function caches, and the generated code converts
//! between `V` and the function's return type with the function's own adapter.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

use super::fill::rebuilt;
use super::invalidate::{Change, Instances};
use super::policy::Tier;
use super::site::{CacheSite, SiteState};
use super::ticket::{Start, StoreRules, Ticket};
use crate::clock;
use crate::key::{self, KeyBuf, KeyBytes};
use crate::value::{Adapter, PlainAdapter};

/// A future that stores a value (`put_async`).
pub type PutFuture = Pin<Box<dyn Future<Output = ()> + Send + 'static>>;

/// The entry of a `#[cache_result]` function for one set of arguments.
///
/// Get it from the companion function that `#[cache_result]` generates beside the
/// function, `<fn>_entry`, which takes the key arguments by reference (in an `impl`
/// block it is an associated function: `Self::<fn>_entry(&id)`). The key is computed
/// exactly as the cached call computes it, so a wrong type or arity is a compile error.
///
/// ```
/// use cache_runtime::cache_result;
///
/// #[cache_result("entry_doc_names", ttl = "5m")]
/// fn name(id: u64) -> Result<String, String> {
///     Ok(format!("user-{id}"))
/// }
///
/// assert_eq!(name(7), Ok("user-7".to_owned()));
/// assert_eq!(name_entry(&7).peek(), Some("user-7".to_owned()));
/// name_entry(&7).put("renamed".to_owned());
/// assert_eq!(name(7), Ok("renamed".to_owned()));
/// assert!(name_entry(&7).invalidate());
/// assert_eq!(name_entry(&7).peek(), None);
/// ```
pub struct CacheEntry<V> {
    key: EntryKey,
    put: fn(&EntryKey, V),
    put_async: fn(&EntryKey, V) -> PutFuture,
    peek: fn(&EntryKey) -> Option<V>,
}

impl<V> std::fmt::Debug for CacheEntry<V> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CacheEntry")
            .field("cache", &self.key.site.name())
            .finish_non_exhaustive()
    }
}

/// The key of a [`CacheEntry`] and the site it belongs to; what generated code converts
/// values through.
pub struct EntryKey {
    site: &'static CacheSite,
    key: KeyBytes,
}

impl<V> CacheEntry<V> {
    /// Built by the companion function; `put`, `put_async` and `peek` convert between `V`
    /// and the function's return type.
    #[doc(hidden)]
    pub fn new(
        site: &'static CacheSite,
        key: KeyBytes,
        put: fn(&EntryKey, V),
        put_async: fn(&EntryKey, V) -> PutFuture,
        peek: fn(&EntryKey) -> Option<V>,
    ) -> Self {
        Self {
            key: EntryKey { site, key },
            put,
            put_async,
            peek,
        }
    }

    /// Drops the entry from every tier, as
    /// [`CacheRuntime::invalidate`](crate::CacheRuntime::invalidate) does for its key value:
    /// a call that begins afterwards computes. For a generic function, only this handle's
    /// instantiation is dropped here (`f_entry::<u32>(&7)` leaves `f::<u64>(7)` alone;
    /// other instances, told by the backplane, drop every instantiation of the arguments);
    /// `CacheRuntime::invalidate`, which names no type, reaches every instantiation.
    /// Returns whether an entry was held in process.
    ///
    /// ```
    /// # use cache_runtime::cache_result;
    /// #[cache_result("entry_doc_invalidate")]
    /// fn square(x: u32) -> u32 { x * x }
    /// square(3);
    /// assert!(square_entry(&3).invalidate());
    /// assert!(!square_entry(&3).invalidate());
    /// ```
    pub fn invalidate(&self) -> bool {
        self.key.invalidate()
    }

    /// Ends the entry's freshness everywhere and keeps it as the fail-safe copy, as
    /// [`CacheRuntime::expire`](crate::CacheRuntime::expire) does for its key value: a
    /// call that begins afterwards recomputes, and if that fails it gets the expired
    /// value (with `stale_if_error`; without it this is [`invalidate`](Self::invalidate)).
    /// Reaches this handle's instantiation here, as `invalidate` does. Returns whether an
    /// entry was held in process.
    ///
    /// ```
    /// # use cache_runtime::cache_result;
    /// #[cache_result("entry_doc_expire", stale_if_error = "1m")]
    /// fn cube(x: u32) -> u32 { x * x * x }
    /// cube(2);
    /// assert!(cube_entry(&2).expire());
    /// // Still held, as the fail-safe copy, but no longer fresh.
    /// assert_eq!(cube_entry(&2).peek(), None);
    /// ```
    pub fn expire(&self) -> bool {
        self.key.expire()
    }

    /// Stores `value` as the entry, with the cache's TTL (or `ttl_from`), unless
    /// `unless` refuses it; a computation of the key already running no longer stores.
    /// With a remote tier, Redis drops its copy (other instances recompute); use
    /// [`put_async`](Self::put_async) to write the value there too. Storing a value the
    /// function would not cache (an `Err`, a `None`, for a return type that hides its
    /// shape behind an alias) drops the entry instead.
    ///
    /// ```
    /// # use cache_runtime::cache_result;
    /// #[cache_result("entry_doc_put")]
    /// fn label(id: u32) -> Option<String> { Some(format!("#{id}")) }
    /// label_entry(&1).put("first".to_owned());
    /// assert_eq!(label(1), Some("first".to_owned()));
    /// ```
    pub fn put(&self, value: V) {
        (self.put)(&self.key, value);
    }

    /// [`put`](Self::put), and with a remote tier the value is written to Redis too (its
    /// generations read first, as a computation does), so every instance reads it.
    ///
    /// ```
    /// # use cache_runtime::cache_result;
    /// #[cache_result("entry_doc_put_async")]
    /// async fn total(id: u32) -> u64 { id as u64 }
    /// # #[tokio::main(flavor = "current_thread")] async fn main() {
    /// total_entry(&2).put_async(40).await;
    /// assert_eq!(total(2).await, 40);
    /// # }
    /// ```
    pub fn put_async(&self, value: V) -> PutFuture {
        (self.put_async)(&self.key, value)
    }

    /// The value held in process, if it is fresh. Reads no other tier, runs nothing and
    /// counts nothing (neither a hit nor a miss).
    ///
    /// ```
    /// # use cache_runtime::cache_result;
    /// #[cache_result("entry_doc_peek")]
    /// fn twice(x: u8) -> u16 { x as u16 * 2 }
    /// assert_eq!(twice_entry(&4).peek(), None);
    /// twice(4);
    /// assert_eq!(twice_entry(&4).peek(), Some(8));
    /// ```
    pub fn peek(&self) -> Option<V> {
        (self.peek)(&self.key)
    }
}

impl EntryKey {
    fn state(&self) -> &Arc<SiteState> {
        self.site.global_state()
    }

    /// The key value without its type-parameter suffix, prefix left for the stamp.
    fn value_bytes(&self) -> Option<KeyBuf> {
        let buf = self.key.buf.as_ref().ok()?;
        Some(KeyBuf::from_slice(&buf[..self.key.suffix]))
    }

    /// The full key, stamped with the cache's id and version, as the lookup stamps it.
    fn stamped(&self, state: &SiteState) -> Option<KeyBuf> {
        let mut buf = self.key.buf.as_ref().ok()?.clone();
        key::stamp(&mut buf, state.cache.id, state.version);
        Some(buf)
    }

    fn invalidate(&self) -> bool {
        crate::stats::Counters::bump(&self.state().cache.counters.invalidations);
        self.drop_everywhere()
    }

    fn expire(&self) -> bool {
        crate::stats::Counters::bump(&self.state().cache.counters.expirations);
        self.everywhere(Change::Expire)
    }

    /// The invalidation fan-out for this key value, not counted as an invalidation.
    fn drop_everywhere(&self) -> bool {
        self.everywhere(Change::Drop)
    }

    /// The invalidation or expiry fan-out for this key value, not counted.
    fn everywhere(&self, change: Change) -> bool {
        let state = self.state();
        let Some(buf) = self.value_bytes() else {
            return false;
        };
        let (name, which) = (self.site.name(), self.instance());
        state
            .engine
            .change_encoded(name, Some(&state.cache), &buf, which, change)
    }

    /// This handle's own instantiation: its key's type-parameter suffix.
    fn instance(&self) -> Instances<'_> {
        match self.key.buf.as_ref() {
            Ok(buf) => Instances::Only(&buf[self.key.suffix..]),
            Err(_) => Instances::All,
        }
    }

    /// Splits `result` with the function's adapter and stores the cached part (or drops
    /// the entry when there is none), checked by `rules`.
    pub fn put<R, A: Adapter<R>>(&self, adapter: A, result: R, rules: StoreRules<A::Value>) {
        let Ok(value) = adapter.split(result) else {
            self.invalidate();
            return;
        };
        let state = self.state();
        let Some(key) = self.stamped(state) else {
            return;
        };
        // Dropping first makes every computation of the key that began before this put
        // give up its store, here and (announced) on other instances.
        self.drop_everywhere();
        let ticket = self.ticket(state, key, rules);
        let start = ticket.start_now();
        ticket.store(value, start, false);
    }

    /// [`put`](Self::put), writing the value to the remote tier too.
    pub fn put_async<R, A: Adapter<R>>(
        &self,
        adapter: A,
        result: R,
        rules: StoreRules<A::Value>,
    ) -> PutFuture {
        let Ok(value) = adapter.split(result) else {
            self.invalidate();
            return Box::pin(async {});
        };
        let state = Arc::clone(self.state());
        let Some(key) = self.stamped(&state) else {
            return Box::pin(async {});
        };
        let bytes = self.value_bytes();
        let suffix = KeyBuf::from_slice(&key[self.key.suffix..]);
        let mut ticket = self.ticket(&state, key, rules);
        Box::pin(async move {
            if let Some(buf) = &bytes {
                // Locally only: the remote copy is overwritten below, and the write is
                // announced to the other instances.
                let only = Instances::Only(&suffix);
                state
                    .engine
                    .change_local(&state.cache, buf, only, Change::Drop);
            }
            let mut start = ticket.start_now();
            if state.tier != Tier::Local {
                ticket.consult_remote(&mut start).await;
                // Redis could not be read for the generations: the value still goes there,
                // through the recovery queue, which judges it when Redis answers.
                let remote = start.remote.take().or_else(|| ticket.unstamped_remote());
                // Another invalidation may have run meanwhile: judge by now.
                start = Start {
                    remote,
                    ..ticket.start_now()
                };
            }
            ticket.store(value, start, false);
        })
    }

    /// The fresh value held in process, rebuilt as the function's return type.
    pub fn peek<R, A: Adapter<R>>(&self, adapter: A) -> Option<R> {
        let state = self.state();
        let key = self.stamped(state)?;
        let entry = state.engine.local.get(&state.part, &key)?;
        let meta = entry.meta();
        // A copy kept by `fail_throttle` is stale, whatever its deadline says; an idle
        // entry (`tti`) is not served either.
        let now = clock::now();
        let idle = meta.idle_at(now, state.policy.tti);
        if !meta.is_current(&state.cache) || now >= meta.fresh_until() || meta.throttled() || idle {
            return None;
        }
        rebuilt(&adapter, &entry)
    }

    /// The ticket a put stores through.
    fn ticket<W: crate::CacheValue>(
        &self,
        state: &Arc<SiteState>,
        key: KeyBuf,
        rules: StoreRules<W>,
    ) -> Ticket<W, PlainAdapter> {
        // The type-parameter suffix is noted, as a miss notes it, so that invalidating by
        // value finds this entry.
        state.cache.note_suffix(&key[self.key.suffix..]);
        Ticket::put(Arc::clone(state), self.site.name(), key, rules)
    }
}

/// A key argument the companion received by reference, handed to a `key = ..`
/// expression as the function has it: `(&Owned(x)).owned()` with the traits of [`owned`]
/// in scope clones a `Clone` value and otherwise keeps the reference (field reads and
/// method calls work either way).
pub struct Owned<'a, T: ?Sized>(pub &'a T);

impl<T: ?Sized> Clone for Owned<'_, T> {
    fn clone(&self) -> Self {
        *self
    }
}

impl<T: ?Sized> Copy for Owned<'_, T> {}

/// The autoref-specialization traits for [`Owned`].
// By-value `self` is what makes the autoref dispatch pick the most specific impl.
#[allow(clippy::wrong_self_convention)]
pub mod owned {
    use super::Owned;

    /// A `Clone` value: a clone.
    pub trait Cloned<T> {
        /// The value.
        fn owned(self) -> T;
    }
    /// Anything else: the reference.
    pub trait Borrowed<'a, T: ?Sized> {
        /// The reference.
        fn owned(self) -> &'a T;
    }
    impl<T: Clone> Cloned<T> for &Owned<'_, T> {
        fn owned(self) -> T {
            self.0.clone()
        }
    }
    impl<'a, T: ?Sized> Borrowed<'a, T> for Owned<'a, T> {
        fn owned(self) -> &'a T {
            self.0
        }
    }
}
