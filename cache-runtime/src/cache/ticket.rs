//! The one type a miss computes through: a [`Ticket`] carries the call's site, key,
//! mode and adapter, the fail-safe copy found on the way, and the rules for storing what
//! it computes. `lookup.rs` hands one out; `fill.rs` computes through it,
//! `fetch.rs` reads the remote tier with it, `store.rs` stores with it, and a
//! [`CacheEntry`](super::CacheEntry) `put` stores through one made by [`Ticket::put`].

use std::marker::PhantomData;
use std::sync::Arc;
use std::sync::atomic::Ordering;

use super::budget::Throttled;
use super::flight::{Leader, Settled};
use super::scope::Mode;
use super::site::SiteState;
use crate::clock;
use crate::key::KeyBuf;
use crate::state::Validity;
use crate::tier::local::Entry;
use crate::tier::remote::{Fetched, LockGuard, Stamp};
use crate::value::{Adapter, PlainAdapter};

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
    pub(super) overload: Option<fn() -> R>,
    /// What to return when the caller's computation budget is spent; `None`: compute
    /// anyway.
    pub(super) throttle: Option<fn(Throttled) -> R>,
    /// `unless` and `ttl_from`.
    pub(super) rules: StoreRules<A::Value>,
    /// What a call returns when its body runs past `hard_timeout` and no fail-safe copy
    /// is at hand; `None`: no hard timeout.
    pub(super) timed_out: Option<fn() -> R>,
    /// `cache_none = "30s"` and `cache_err` with `err_ttl`: true for a result kept for
    /// the cache's TTL (`Some`, `Ok`), false for one kept for the shorter TTL of `None`s
    /// and chosen errors; `None`: every value gets the cache's TTL.
    pub(super) full: Option<fn(&R) -> bool>,
    _result: PhantomData<fn() -> R>,
}

/// Who computes, and what they owe.
pub(super) enum Lead {
    Flight(Leader),
    Alone,
}

impl Lead {
    pub(super) fn settle(self, outcome: Settled) {
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
            full: None,
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

    /// `cache_none = "30s"`, `cache_err` with `err_ttl`: `full` tells a `Some` or `Ok`
    /// (kept for `ttl`) from a `None` or a chosen error, which is stored with the cache's
    /// shorter TTL for those.
    pub fn with_short_ttl(mut self, full: fn(&R) -> bool) -> Self {
        self.full = Some(full);
        self
    }

    /// Whether `result` is kept for the shorter TTL of `None`s and chosen errors.
    pub(super) fn is_short(&self, result: &R) -> bool {
        self.full.is_some_and(|full| !full(result))
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
    pub(super) fn validity_now(&self) -> Validity {
        let cache = &self.site.cache;
        Validity {
            cache: Arc::clone(cache),
            epoch: cache.epoch.load(Ordering::SeqCst),
            generation: cache.generation.load(Ordering::SeqCst),
            tags: self.site.engine.registry.tag_states(&self.tags),
        }
    }

    /// A start judged by the flight this call leads (the state it began under), or by
    /// the invalidation state now for a call that computes alone.
    pub(super) fn start(&self, lead: &Lead) -> Start {
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
}

impl<V: crate::CacheValue> Ticket<V, PlainAdapter> {
    /// A ticket for a value already at hand (a [`CacheEntry`](super::CacheEntry) `put`):
    /// it stores without reading first, as a refresh does, with the cache's `ttl_from`;
    /// `unless` and `only_if_slower`, which judge computations, do not apply.
    pub(super) fn put(
        site: Arc<SiteState>,
        name: &'static str,
        key: KeyBuf,
        rules: StoreRules<V>,
    ) -> Self {
        Self {
            explicit: true,
            rules,
            ..Self::new(site, name, key, Mode::Refresh, PlainAdapter, None)
        }
    }
}
