//! `CacheRuntime`: the handle users hold, its builder, the global runtime, statistics and
//! readiness. What a call and an invalidation do is `cache/`'s; this file only configures
//! and delegates.

use std::collections::HashMap;
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use serde::Serialize;

use crate::cache::{
    self, CacheOverride, CacheSite, DEFAULT_MAX_BYTES, DEFAULT_MAX_WAIT, DEFAULT_TTL, Engine,
    Lookup, Settings, Tier,
};
use crate::key::KeyBytes;
use crate::stats::RuntimeStats;
use crate::tier::local::Listeners;
use crate::tier::remote::RemoteOptions;
use crate::value::Adapter;

/// The caching runtime: the in-process tier, single-flight, per-cache statistics and
/// configuration. Generated code uses the [global](crate::global) one.
///
/// ```
/// use std::time::Duration;
/// use cache_runtime::CacheRuntime;
///
/// let rt = CacheRuntime::builder()
///     .namespace("billing")
///     .max_bytes(16 << 20)
///     .default_ttl(Duration::from_secs(120))
///     .cache_ttl("invoice_totals", Duration::from_secs(10))
///     .disable_cache("experimental")
///     .build();
/// assert_eq!(rt.stats().namespace, "billing");
/// ```
#[derive(Clone)]
pub struct CacheRuntime {
    pub(crate) engine: Arc<Engine>,
}

impl std::fmt::Debug for CacheRuntime {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CacheRuntime")
            .field("namespace", &self.engine.namespace)
            .field("capacity_bytes", &self.engine.local.capacity())
            .finish_non_exhaustive()
    }
}

static GLOBAL: OnceLock<CacheRuntime> = OnceLock::new();

/// The runtime generated code uses: the one [installed](CacheRuntimeBuilder::install), or
/// else a default in-process runtime (64 MiB, 60 s default TTL) started on first use.
///
/// ```
/// let rt = cache_runtime::global();
/// assert!(rt.stats().l1.capacity_bytes > 0);
/// ```
pub fn global() -> &'static CacheRuntime {
    GLOBAL.get_or_init(|| CacheRuntime {
        engine: Arc::clone(cache::global()),
    })
}

#[doc(hidden)]
/// How many Redis operations of `rt` were answered (a pipeline counts once: one round
/// trip each); 0 without a remote tier. For tests that count round trips.
pub fn remote_round_trips(rt: &CacheRuntime) -> u64 {
    rt.engine.remote.round_trips()
}

/// Looks a call up in a given runtime (tests of runtimes other than the global one).
#[doc(hidden)]
pub fn lookup_in<R, A: Adapter<R>>(
    rt: &CacheRuntime,
    site: &'static CacheSite,
    key: KeyBytes,
    adapter: A,
) -> Lookup<R, A> {
    cache::lookup_in(&rt.engine, site, key, adapter)
}

/// How [`CacheRuntime::ready`] ended.
///
/// ```
/// use cache_runtime::Readiness;
/// assert!(Readiness::LocalOnly.is_ready());
/// assert!(!Readiness::TimedOut.is_ready());
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Readiness {
    /// No remote tier is configured: the runtime is a complete local cache, ready at once.
    LocalOnly,
    /// The remote tier is connected and its backplane subscribed.
    Connected,
    /// The deadline passed first. The runtime serves from the in-process tier meanwhile,
    /// and starts using Redis as soon as it answers.
    TimedOut,
}

impl Readiness {
    /// Whether every configured tier is usable.
    ///
    /// ```
    /// assert!(cache_runtime::Readiness::Connected.is_ready());
    /// ```
    pub fn is_ready(self) -> bool {
        !matches!(self, Readiness::TimedOut)
    }
}

/// Returned by [`CacheRuntimeBuilder::install`] when a runtime is already in place.
///
/// ```
/// let _ = cache_runtime::global(); // starts the default runtime
/// let err = cache_runtime::CacheRuntime::builder().install().unwrap_err();
/// assert!(err.to_string().contains("already"));
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InstallError;

impl std::fmt::Display for InstallError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(
            "a cache runtime is already installed (install must run before the first cached call)",
        )
    }
}

impl std::error::Error for InstallError {}

/// Configures a [`CacheRuntime`].
///
/// ```
/// use std::time::Duration;
/// let rt = cache_runtime::CacheRuntime::builder()
///     .ttl_jitter(0.1)
///     .build();
/// # let _ = rt;
/// ```
#[derive(Debug, Clone)]
pub struct CacheRuntimeBuilder {
    namespace: String,
    max_bytes: u64,
    default_ttl: Duration,
    jitter: f64,
    overrides: HashMap<String, CacheOverride>,
    /// The remote tier's options (set by its methods, `tier/remote/builder.rs`).
    pub(crate) remote: RemoteOptions,
    pub(crate) tiers: HashMap<String, Tier>,
    /// The disk tier's options (set by its methods, `tier/disk/builder.rs`).
    pub(crate) disk: crate::tier::disk::DiskConfig,
    max_wait: Duration,
    /// Eviction listeners (set by `tier/local/builder.rs`).
    pub(crate) listeners: Listeners,
    /// Per-cache capacities (set by `tier/local/builder.rs`).
    pub(crate) capacities: HashMap<String, u64>,
}

impl CacheRuntime {
    /// A builder with the defaults: namespace `"app"`, 64 MiB, 60 s TTL, no jitter.
    ///
    /// ```
    /// let rt = cache_runtime::CacheRuntime::builder().build();
    /// assert_eq!(rt.stats().namespace, "app");
    /// ```
    pub fn builder() -> CacheRuntimeBuilder {
        CacheRuntimeBuilder {
            namespace: "app".into(),
            max_bytes: DEFAULT_MAX_BYTES,
            default_ttl: DEFAULT_TTL,
            jitter: 0.0,
            overrides: HashMap::new(),
            remote: RemoteOptions::new(),
            tiers: HashMap::new(),
            disk: Default::default(),
            max_wait: DEFAULT_MAX_WAIT,
            listeners: Listeners::default(),
            capacities: HashMap::new(),
        }
    }

    /// Removes the entry of `key_value` from cache `name`. The key value of a function
    /// without `key = ...` is the tuple of its key inputs in order: `(a, b)`, `(a,)` or
    /// `()`. A computation of that key already running when this is called will not store
    /// its result. Returns whether an entry was removed. For a generic function it names
    /// no type, so it reaches every instantiation with that key value (a typed handle,
    /// `f_entry::<u32>(&7).invalidate()`, reaches only its own).
    ///
    /// With a remote tier (feature `redis`) it also deletes the Redis copies and tells the
    /// other instances, which drop theirs; that runs in the background, and until Redis
    /// has acknowledged it this instance does not read Redis. An instance that never used
    /// the cache cannot name its Redis keys (they include the value type): the instances
    /// that did delete them when the announcement reaches them.
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")] async fn main() {
    /// use cache_runtime::cache_result;
    ///
    /// #[cache_result("doc_invalidate_greeting", ttl = 300)]
    /// async fn greeting(lang: &str, name: String) -> String { format!("{lang}: hello {name}") }
    ///
    /// greeting("en", "Ada".into()).await;
    /// let rt = cache_runtime::global();
    /// assert!(rt.invalidate("doc_invalidate_greeting", &("en", "Ada")));
    /// assert!(!rt.invalidate("doc_invalidate_greeting", &("en", "Ada")));
    /// # }
    /// ```
    pub fn invalidate<K: Serialize + ?Sized>(&self, name: &str, key_value: &K) -> bool {
        self.engine.invalidate_key(name, key_value)
    }

    /// Removes every entry of cache `name`, including fail-safe copies kept for
    /// `stale_if_error`.
    ///
    /// With a remote tier (feature `redis`) it also increments the cache's generation in
    /// Redis, which every read checks (no keyspace scan), and tells the other instances.
    ///
    /// ```
    /// cache_runtime::global().invalidate_all("users");
    /// ```
    pub fn invalidate_all(&self, name: &str) {
        self.engine.invalidate_all(name);
    }

    /// Invalidates every entry, of any cache, that was stored with `tag`
    /// (`#[cache_result(..., tags = [...])]`). Entries become unreachable at once and
    /// their memory is reclaimed as they are evicted or replaced.
    ///
    /// With a remote tier (feature `redis`) it also increments the tag's generation in
    /// Redis, which every read of a tagged entry checks, and tells the other instances.
    ///
    /// ```
    /// cache_runtime::global().invalidate_tag("channel:42");
    /// ```
    pub fn invalidate_tag(&self, tag: &str) {
        self.engine.invalidate_tag(tag);
    }

    /// Ends the freshness of the entry of `key_value` in cache `name`, keeping it as the
    /// fail-safe copy: *soft* invalidation. The next call recomputes; if that
    /// recomputation fails (an `Err`, a `None`, a hard timeout, an overload), the expired
    /// value is served instead, as after a TTL ran out (`stale_if_error`, counted in
    /// `stale_served`). Read your writes holds as for [`invalidate`](Self::invalidate): a
    /// call that begins after this returned never gets a *fresh* value computed before
    /// it. Returns whether an entry was held. Counted in `expirations`.
    ///
    /// Only meaningful with `stale_if_error`: an entry without a stale window has no
    /// fail-safe copy to keep, and `expire` is then `invalidate`. The copy lasts as long
    /// as its stale window would have (`ttl + stale_if_error` from its computation).
    ///
    /// With a remote tier (feature `redis`) it also re-seals the Redis copies with their
    /// TTL ended (kept for their stale window) and tells the other instances, which expire
    /// theirs; as for `invalidate`, in the background, and this instance reads no Redis
    /// until it has landed.
    ///
    /// ```
    /// use cache_runtime::cache_result;
    /// use std::sync::atomic::{AtomicBool, Ordering};
    ///
    /// static DOWN: AtomicBool = AtomicBool::new(false);
    ///
    /// #[cache_result("doc_expire_price", ttl = "10m", stale_if_error = "1h")]
    /// fn price(id: u32) -> Result<u32, String> {
    ///     if DOWN.load(Ordering::SeqCst) { Err("source down".into()) } else { Ok(id * 10) }
    /// }
    ///
    /// assert_eq!(price(4), Ok(40));
    /// let rt = cache_runtime::global();
    /// assert!(rt.expire("doc_expire_price", &(4,)));
    /// DOWN.store(true, Ordering::SeqCst);
    /// // Recomputed, failed: the expired value is the answer.
    /// assert_eq!(price(4), Ok(40));
    /// // `invalidate` would have removed it: the error comes through.
    /// rt.invalidate("doc_expire_price", &(4,));
    /// assert!(price(4).is_err());
    /// ```
    pub fn expire<K: Serialize + ?Sized>(&self, name: &str, key_value: &K) -> bool {
        self.engine.expire_key(name, key_value)
    }

    /// Ends the freshness of every entry of cache `name`, keeping each as its fail-safe
    /// copy: [`expire`](Self::expire) for the whole cache. No entry is touched (the
    /// cache's generation gets a soft bump that every lookup already compares), and a
    /// computation already running will not store.
    ///
    /// With a remote tier (feature `redis`) it also increments the soft part of the
    /// cache's generation in Redis (no keyspace scan), and tells the other instances.
    ///
    /// ```
    /// cache_runtime::global().expire_all("users");
    /// ```
    pub fn expire_all(&self, name: &str) {
        self.engine.expire_all(name);
    }

    /// Ends the freshness of every entry, of any cache, stored with `tag`, keeping each
    /// as its fail-safe copy: [`expire`](Self::expire) for a tag, as
    /// [`invalidate_tag`](Self::invalidate_tag) is [`invalidate`](Self::invalidate) for
    /// one.
    ///
    /// ```
    /// cache_runtime::global().expire_tag("channel:42");
    /// ```
    pub fn expire_tag(&self, tag: &str) {
        self.engine.expire_tag(tag);
    }

    /// A snapshot of every cache's figures.
    ///
    /// ```
    /// let s = cache_runtime::global().stats();
    /// println!("{}", serde_json::to_string_pretty(&s).unwrap());
    /// ```
    pub fn stats(&self) -> RuntimeStats {
        self.engine.stats()
    }

    /// Waits, for at most `deadline`, until every configured tier is usable: at once
    /// without a remote tier ([`Readiness::LocalOnly`]); with one, until Redis is connected
    /// and the backplane subscribed ([`Readiness::Connected`]), or the deadline passes
    /// ([`Readiness::TimedOut`]). Calls never need it (they skip a Redis that is not there
    /// yet); a service awaits it before it reports itself ready, so its first calls
    /// share entries and `lock = true` locks with the other instances.
    ///
    /// It works in any async runtime (the wait runs on the remote tier's own thread).
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")] async fn main() {
    /// use std::time::Duration;
    /// use cache_runtime::{CacheRuntime, Readiness};
    ///
    /// let rt = CacheRuntime::builder().build();
    /// assert_eq!(rt.ready(Duration::from_secs(1)).await, Readiness::LocalOnly);
    /// # }
    /// ```
    pub async fn ready(&self, deadline: Duration) -> Readiness {
        match self.engine.remote.ready(deadline).await {
            None => Readiness::LocalOnly,
            Some(true) => Readiness::Connected,
            Some(false) => Readiness::TimedOut,
        }
    }

    /// Waits, for at most `deadline`, until what this runtime has begun in Redis in the
    /// background has landed: writes of computed and put values, invalidations (with their
    /// announcements to the other instances), and releases of `lock = true` locks,
    /// including those waiting in the recovery queue; returns what is left. At once, with
    /// nothing left, without a remote tier.
    ///
    /// An operation that does not reach Redis (an outage, a timeout, the circuit open) is
    /// kept in the recovery queue and replayed as soon as Redis answers, however long that
    /// takes (bounded by [`recovery_queue`](crate::CacheRuntimeBuilder::recovery_queue)),
    /// and this instance reads no Redis until it has landed, so that it never reads back
    /// what it changed. A service awaits `flush` when it shuts down, after its last
    /// request: the remote tier's thread stops with the runtime, and what had not landed by
    /// then is lost (a change other instances never hear of, a lock that blocks its key
    /// until it expires); [`Flushed::pending`] says how much. Like
    /// [`ready`](Self::ready), it works in any async runtime. With a disk tier
    /// ([`disk`](crate::CacheRuntimeBuilder::disk)) it first waits until the records
    /// queued for the disk are written, so that a restart on the same path finds them.
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")] async fn main() {
    /// use std::time::Duration;
    ///
    /// let rt = cache_runtime::CacheRuntime::builder().build();
    /// rt.invalidate_all("profiles");
    /// let flushed = rt.flush(Duration::from_secs(5)).await;
    /// assert!(flushed.is_complete(), "nothing left: {flushed:?}");
    /// # }
    /// ```
    pub async fn flush(&self, deadline: Duration) -> Flushed {
        // The disk's queued records first: they need no network.
        self.engine.disk.flush().await;
        Flushed {
            pending: self.engine.remote.flush(deadline).await,
        }
    }

    /// Every cache's figures and every `#[performance_timer]`'s, in the Prometheus text
    /// exposition format.
    ///
    /// ```
    /// let text = cache_runtime::global().prometheus();
    /// assert!(text.contains("# TYPE cache_hits_total counter"));
    /// ```
    pub fn prometheus(&self) -> String {
        let mut out = crate::export::prometheus::Exposition::default();
        crate::export::caches::render(&self.stats(), &mut out);
        crate::export::timers::render(&mut out);
        out.finish()
    }
}

impl CacheRuntimeBuilder {
    /// Prefix of every key's readable form (and, with a remote tier, of its Redis keys).
    ///
    /// ```
    /// let rt = cache_runtime::CacheRuntime::builder().namespace("svc").build();
    /// assert_eq!(rt.stats().namespace, "svc");
    /// ```
    pub fn namespace(mut self, namespace: impl Into<String>) -> Self {
        self.namespace = namespace.into();
        self
    }

    /// Byte budget of the in-process tier (default 64 MiB). Entries are weighed by their
    /// encoded size plus key and bookkeeping; the least valuable are evicted beyond it.
    ///
    /// ```
    /// let rt = cache_runtime::CacheRuntime::builder().max_bytes(1 << 20).build();
    /// assert_eq!(rt.stats().l1.capacity_bytes, 1 << 20);
    /// ```
    pub fn max_bytes(mut self, bytes: u64) -> Self {
        self.max_bytes = bytes.max(1);
        self
    }

    /// TTL of caches whose attribute gives none (default 60 s).
    ///
    /// ```
    /// # use std::time::Duration;
    /// let rt = cache_runtime::CacheRuntime::builder().default_ttl(Duration::from_secs(5)).build();
    /// # let _ = rt;
    /// ```
    pub fn default_ttl(mut self, ttl: Duration) -> Self {
        self.default_ttl = ttl;
        self
    }

    /// Shortens each entry's TTL by a random fraction up to `fraction` (0 to 0.5), so
    /// entries filled together do not expire together.
    ///
    /// ```
    /// let rt = cache_runtime::CacheRuntime::builder().ttl_jitter(0.1).build();
    /// # let _ = rt;
    /// ```
    pub fn ttl_jitter(mut self, fraction: f64) -> Self {
        self.jitter = if fraction.is_finite() {
            fraction.clamp(0.0, 0.5)
        } else {
            0.0
        };
        self
    }

    /// Applies an override to cache `name`.
    ///
    /// ```
    /// use std::time::Duration;
    /// use cache_runtime::{CacheOverride, CacheRuntime};
    /// let rt = CacheRuntime::builder()
    ///     .override_cache("users", CacheOverride::default().ttl(Duration::from_secs(5)))
    ///     .build();
    /// # let _ = rt;
    /// ```
    pub fn override_cache(mut self, name: impl Into<String>, over: CacheOverride) -> Self {
        self.overrides.insert(name.into(), over);
        self
    }

    /// Replaces the TTL of cache `name`.
    ///
    /// ```
    /// # use std::time::Duration;
    /// let rt = cache_runtime::CacheRuntime::builder().cache_ttl("users", Duration::from_secs(5)).build();
    /// # let _ = rt;
    /// ```
    pub fn cache_ttl(self, name: impl Into<String>, ttl: Duration) -> Self {
        self.tune(name, |o| o.ttl = Some(ttl))
    }

    /// Changes the override of cache `name` (a default one if it has none yet).
    pub(crate) fn tune(
        mut self,
        name: impl Into<String>,
        change: impl FnOnce(&mut CacheOverride),
    ) -> Self {
        change(self.overrides.entry(name.into()).or_default());
        self
    }

    /// Bounds how many computations of cache `name` run at once (a bulkhead), replacing
    /// the attribute's `max_concurrent`; `0` removes the bound. Single-flight applies first,
    /// so concurrent misses of one key take one permit. Further computations wait for a
    /// permit: up to [`max_wait`](Self::max_wait) when the function's error type implements
    /// `From<`[`Overloaded`](crate::Overloaded)`>` (then it returns that error), for as
    /// long as it takes otherwise. Counted as `queued` and `overloaded`.
    ///
    /// ```
    /// let rt = cache_runtime::CacheRuntime::builder()
    ///     .cache_max_concurrent("post_dynamics", 4)
    ///     .build();
    /// # let _ = rt;
    /// ```
    pub fn cache_max_concurrent(self, name: impl Into<String>, limit: u32) -> Self {
        self.tune(name, |o| o.max_concurrent = Some(limit))
    }

    /// How long a computation waits for a permit of its cache's bulkhead before it
    /// returns its `From<Overloaded>` error (default 1 s). Functions whose error type has
    /// no such conversion wait as long as it takes.
    ///
    /// ```
    /// use std::time::Duration;
    /// let rt = cache_runtime::CacheRuntime::builder()
    ///     .max_wait(Duration::from_millis(250))
    ///     .build();
    /// # let _ = rt;
    /// ```
    pub fn max_wait(mut self, wait: Duration) -> Self {
        self.max_wait = wait;
        self
    }

    /// Turns cache `name` off: its function runs on every call.
    ///
    /// ```
    /// let rt = cache_runtime::CacheRuntime::builder().disable_cache("users").build();
    /// # let _ = rt;
    /// ```
    pub fn disable_cache(self, name: impl Into<String>) -> Self {
        self.tune(name, |o| o.disabled = true)
    }

    /// Builds a runtime.
    ///
    /// ```
    /// let rt = cache_runtime::CacheRuntime::builder().build();
    /// # let _ = rt;
    /// ```
    pub fn build(self) -> CacheRuntime {
        CacheRuntime {
            engine: Engine::start(self.settings()),
        }
    }

    fn settings(self) -> Settings {
        let remote = self.remote.config(
            self.overrides
                .iter()
                .map(|(name, o)| (name, o.compress_threshold, o.encrypt)),
        );
        Settings {
            remote,
            tiers: self.tiers,
            disk: self.disk,
            namespace: self.namespace,
            max_bytes: self.max_bytes,
            default_ttl: self.default_ttl,
            jitter: self.jitter,
            overrides: self.overrides,
            max_wait: self.max_wait,
            listeners: self.listeners,
            capacities: self.capacities,
        }
    }

    /// Builds the runtime and makes it the one generated code uses. Call it once at
    /// start-up, before the first cached call; afterwards it returns [`InstallError`].
    ///
    /// ```
    /// let rt = cache_runtime::CacheRuntime::builder().namespace("doc").install().unwrap();
    /// assert_eq!(rt.stats().namespace, "doc");
    /// assert!(std::ptr::eq(rt, cache_runtime::global()));
    /// ```
    pub fn install(self) -> Result<&'static CacheRuntime, InstallError> {
        let engine = cache::install(self.settings()).map_err(|()| InstallError)?;
        Ok(GLOBAL.get_or_init(|| CacheRuntime {
            engine: Arc::clone(engine),
        }))
    }
}

/// What [`CacheRuntime::flush`] left undone.
///
/// ```
/// # #[tokio::main(flavor = "current_thread")] async fn main() {
/// let rt = cache_runtime::CacheRuntime::builder().build();
/// let flushed = rt.flush(std::time::Duration::from_millis(10)).await;
/// assert_eq!(flushed.pending, 0);
/// # }
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[must_use = "flush reports what did not land"]
pub struct Flushed {
    /// Operations still waiting to reach Redis (in the recovery queue, or a first try
    /// still in flight): 0 when everything landed.
    pub pending: u64,
}

impl Flushed {
    /// Whether everything landed.
    pub fn is_complete(&self) -> bool {
        self.pending == 0
    }
}
