//! `CacheRuntime`: the tiers, the registry of caches, configuration and invalidation.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};
use std::sync::{Arc, OnceLock, Weak};
use std::time::Duration;

use parking_lot::{Mutex, RwLock};
use serde::Serialize;

use crate::flight::Flights;
use crate::key::{self, KeyBuf, PREFIX};
use crate::l1::L1;
use crate::policy::{CacheOverride, Policy};
use crate::private::SiteSpec;
use crate::stats::{Counters, L1Stats, RuntimeStats};

/// The default byte budget of the in-process tier: 64 MiB.
pub const DEFAULT_MAX_BYTES: u64 = 64 << 20;
/// The TTL of caches whose attribute names none: 60 seconds.
pub const DEFAULT_TTL: Duration = Duration::from_secs(60);

/// The state shared by every call site of one cache name.
pub(crate) struct CacheState {
    pub(crate) name: Box<str>,
    pub(crate) id: u32,
    /// Bumped by `invalidate_all`; entries computed under an older generation are dead.
    pub(crate) generation: AtomicU64,
    /// Bumped by every invalidation of this cache; a fill that saw it change while it
    /// computed does not store.
    pub(crate) epoch: AtomicU64,
    /// The versions call sites have used, so `invalidate` reaches each.
    versions: RwLock<Vec<u32>>,
    /// The encoded type parameters (of generic functions, and `Self` of methods) keys of
    /// this cache have ended with; the empty one always. `invalidate` takes the key value
    /// alone and tries each.
    suffixes: RwLock<Vec<Box<[u8]>>>,
    pub(crate) counters: Counters,
    /// The versions and value types this instance has used with the remote tier, so
    /// `invalidate` can name the Redis keys of a key value.
    #[cfg(feature = "redis")]
    remote_types: RwLock<Vec<(u32, &'static str)>>,
}

impl CacheState {
    /// Records the type-parameter suffix of a key about to be stored (miss path only).
    pub(crate) fn note_suffix(&self, suffix: &[u8]) {
        if self.suffixes.read().iter().any(|s| **s == *suffix) {
            return;
        }
        let mut all = self.suffixes.write();
        if !all.iter().any(|s| **s == *suffix) {
            all.push(suffix.into());
        }
    }

    /// Every full key (prefix left to stamp) a key value may be stored under.
    fn keys_of(&self, encoded: &KeyBuf) -> Vec<KeyBuf> {
        self.suffixes
            .read()
            .iter()
            .map(|suffix| {
                let mut k = encoded.clone();
                k.extend_from_slice(suffix);
                k
            })
            .collect()
    }
}

#[cfg(feature = "redis")]
impl CacheState {
    /// Records that entries of `version` and `value_type` may be in the remote tier.
    pub(crate) fn note_remote(&self, version: u32, value_type: &'static str) {
        if self.remote_types.read().contains(&(version, value_type)) {
            return;
        }
        let mut types = self.remote_types.write();
        if !types.contains(&(version, value_type)) {
            types.push((version, value_type));
        }
    }
}

/// One tag's generation; `invalidate_tag` bumps it.
pub(crate) struct TagState {
    pub(crate) generation: AtomicU64,
}

/// A call site resolved against a runtime.
pub(crate) struct SiteState {
    pub(crate) rt: Arc<Inner>,
    pub(crate) cache: Arc<CacheState>,
    pub(crate) policy: Policy,
    pub(crate) version: u32,
    #[cfg(feature = "redis")]
    pub(crate) tier: crate::l2::Tier,
    /// `lock = true`: misses take a lock in Redis before computing.
    #[cfg(feature = "redis")]
    pub(crate) lock: bool,
}

pub(crate) struct Inner {
    pub(crate) namespace: String,
    pub(crate) l1: L1,
    pub(crate) flights: Arc<Flights>,
    default_ttl: Duration,
    jitter: f64,
    overrides: HashMap<String, CacheOverride>,
    caches: RwLock<HashMap<Box<str>, Arc<CacheState>>>,
    next_id: AtomicU32,
    tags: Mutex<HashMap<Box<str>, Weak<TagState>>>,
    /// Where each cache name was first declared, to warn about two functions sharing one.
    owners: Mutex<HashMap<&'static str, &'static str>>,
    /// The remote tier, when configured and started.
    #[cfg(feature = "redis")]
    pub(crate) l2: Option<crate::l2::L2>,
    #[cfg(feature = "redis")]
    tiers: HashMap<String, crate::l2::Tier>,
}

impl Inner {
    pub(crate) fn cache(&self, name: &str) -> Arc<CacheState> {
        if let Some(c) = self.caches.read().get(name) {
            return Arc::clone(c);
        }
        let mut caches = self.caches.write();
        let next_id = &self.next_id;
        Arc::clone(caches.entry(name.into()).or_insert_with(|| {
            Arc::new(CacheState {
                name: name.into(),
                id: next_id.fetch_add(1, Ordering::Relaxed),
                generation: AtomicU64::new(0),
                epoch: AtomicU64::new(0),
                versions: RwLock::new(Vec::new()),
                suffixes: RwLock::new(vec![Box::default()]),
                counters: Counters::new(&self.namespace, name),
                #[cfg(feature = "redis")]
                remote_types: RwLock::new(Vec::new()),
            })
        }))
    }

    fn existing_cache(&self, name: &str) -> Option<Arc<CacheState>> {
        self.caches.read().get(name).cloned()
    }

    pub(crate) fn resolve(self: &Arc<Self>, spec: &SiteSpec) -> SiteState {
        let cache = self.cache(spec.name);
        {
            let mut versions = cache.versions.write();
            if !versions.contains(&spec.version) {
                versions.push(spec.version);
            }
        }
        {
            let mut owners = self.owners.lock();
            let first = *owners.entry(spec.name).or_insert(spec.location);
            if first != spec.location {
                tracing::warn!(
                    cache = spec.name,
                    first,
                    second = spec.location,
                    "two functions share one cache name: equal keys will share entries"
                );
            }
        }
        SiteState {
            rt: Arc::clone(self),
            policy: Policy::resolve(
                spec,
                self.overrides.get(spec.name),
                self.default_ttl,
                self.jitter,
            ),
            cache,
            version: spec.version,
            // The builder's override beats the attribute; without a remote tier every
            // cache is local, whatever its setting.
            #[cfg(feature = "redis")]
            tier: match (&self.l2, self.tiers.get(spec.name)) {
                (None, _) => crate::l2::Tier::Local,
                (Some(_), Some(&tier)) => tier,
                (Some(_), None) => crate::l2::Tier::from_spec(spec.tier),
            },
            #[cfg(feature = "redis")]
            lock: spec.lock,
        }
    }

    /// Removes the entries of one encoded key value (prefix left for the stamp) under every
    /// version of `cache`; a computation of it already running will not store.
    fn invalidate_key_local(&self, cache: &CacheState, buf: &KeyBuf) -> bool {
        // Bump first: a fill that re-checks the epoch after inserting removes its own
        // entry, and one that inserted before the bump is removed below.
        cache.epoch.fetch_add(1, Ordering::SeqCst);
        let versions = cache.versions.read().clone();
        let mut removed = false;
        for mut key in cache.keys_of(buf) {
            for &v in &versions {
                stamp(&mut key, cache.id, v);
                removed |= self.l1.remove(&key);
            }
        }
        removed
    }

    fn invalidate_all_local(&self, cache: &CacheState) {
        cache.generation.fetch_add(1, Ordering::SeqCst);
        cache.epoch.fetch_add(1, Ordering::SeqCst);
        self.l1.purge(cache.id);
    }

    fn invalidate_tag_local(&self, tag: &str) {
        let state = self.tags.lock().get(tag).and_then(Weak::upgrade);
        if let Some(s) = state {
            s.generation.fetch_add(1, Ordering::SeqCst);
        }
    }

    /// The Redis keys of an encoded key value under every version and value type this
    /// instance has used with the remote tier.
    #[cfg(feature = "redis")]
    fn remote_keys(&self, cache: &CacheState, encoded: &[u8]) -> Vec<String> {
        let Some(l2) = &self.l2 else {
            return Vec::new();
        };
        let mut buf = crate::key::empty_key();
        buf.extend_from_slice(encoded);
        let keys = cache.keys_of(&buf);
        let types = cache.remote_types.read().clone();
        keys.iter()
            .flat_map(|key| {
                types.iter().map(move |&(version, value_type)| {
                    let key = crate::key::CacheKey::from_encoded(
                        &self.namespace,
                        &cache.name,
                        version,
                        value_type,
                        &key[PREFIX..],
                    );
                    l2.shared().entry_key(&cache.name, key.to_string())
                })
            })
            .collect()
    }

    /// The tag states of `tags` with their current generations.
    pub(crate) fn tag_states(&self, tags: &[String]) -> Box<[(Arc<TagState>, u64)]> {
        if tags.is_empty() {
            return Box::default();
        }
        let mut map = self.tags.lock();
        if map.len() > 1024 && map.len().is_power_of_two() {
            map.retain(|_, w| w.strong_count() > 0);
        }
        tags.iter()
            .map(|t| {
                let state = match map.get(t.as_str()).and_then(Weak::upgrade) {
                    Some(s) => s,
                    None => {
                        let s = Arc::new(TagState {
                            generation: AtomicU64::new(0),
                        });
                        map.insert(t.as_str().into(), Arc::downgrade(&s));
                        s
                    }
                };
                let generation = state.generation.load(Ordering::Acquire);
                (state, generation)
            })
            .collect()
    }
}

/// Writes the cache id and version into the reserved prefix of an encoded key.
pub(crate) fn stamp(buf: &mut [u8], id: u32, version: u32) {
    buf[..4].copy_from_slice(&id.to_le_bytes());
    buf[4..PREFIX].copy_from_slice(&version.to_le_bytes());
}

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
    pub(crate) inner: Arc<Inner>,
}

impl std::fmt::Debug for CacheRuntime {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CacheRuntime")
            .field("namespace", &self.inner.namespace)
            .field("capacity_bytes", &self.inner.l1.capacity())
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
    GLOBAL.get_or_init(|| CacheRuntime::builder().build())
}

pub(crate) fn global_ptr_eq(rt: &CacheRuntime) -> bool {
    GLOBAL
        .get()
        .is_some_and(|g| Arc::ptr_eq(&g.inner, &rt.inner))
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
    #[cfg(feature = "redis")]
    redis: Option<String>,
    #[cfg(feature = "redis")]
    redis_timeout: Duration,
    #[cfg(feature = "redis")]
    lock_ttl: Duration,
    #[cfg(feature = "redis")]
    tiers: HashMap<String, crate::l2::Tier>,
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
            #[cfg(feature = "redis")]
            redis: None,
            #[cfg(feature = "redis")]
            redis_timeout: crate::l2::DEFAULT_TIMEOUT,
            #[cfg(feature = "redis")]
            lock_ttl: crate::l2::DEFAULT_LOCK_TTL,
            #[cfg(feature = "redis")]
            tiers: HashMap::new(),
        }
    }

    /// Removes the entry of `key_value` from cache `name`. The key value of a function
    /// without `key = ...` is the tuple of its key inputs in order: `(a, b)`, `(a,)` or
    /// `()`. A computation of that key already running when this is called will not store
    /// its result. Returns whether an entry was removed. (For generic functions, whose
    /// keys include their type parameters, use [`invalidate_all`](Self::invalidate_all) or
    /// tags.)
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
        let cache = self.inner.existing_cache(name);
        #[cfg(not(feature = "redis"))]
        if cache.is_none() {
            return false;
        }
        if let Some(c) = &cache {
            Counters::bump(&c.counters.invalidations);
        }
        let Ok((buf, _)) = key::encode_key(key_value, &[]) else {
            return false;
        };
        let removed = match &cache {
            Some(c) => self.inner.invalidate_key_local(c, &buf),
            None => false,
        };
        #[cfg(feature = "redis")]
        if let Some(l2) = &self.inner.l2 {
            let keys = match &cache {
                Some(c) => self.inner.remote_keys(c, &buf[PREFIX..]),
                None => Vec::new(),
            };
            let msg = crate::backplane::Message::Key {
                name: name.to_owned(),
                key: buf[PREFIX..].to_vec(),
                deleted: !keys.is_empty(),
            };
            l2.delete(keys, Some(msg.encode(l2.shared().instance)));
        }
        tracing::debug!(cache = name, removed, "invalidate");
        removed
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
        #[cfg(feature = "redis")]
        if let Some(l2) = &self.inner.l2 {
            let shared = l2.shared();
            let msg = crate::backplane::Message::All {
                name: name.to_owned(),
            };
            l2.bump(shared.generation_key(name), msg.encode(shared.instance));
        }
        let Some(cache) = self.inner.existing_cache(name) else {
            return;
        };
        Counters::bump(&cache.counters.invalidations);
        self.inner.invalidate_all_local(&cache);
        tracing::debug!(cache = name, "invalidate_all");
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
        self.inner.invalidate_tag_local(tag);
        #[cfg(feature = "redis")]
        if let Some(l2) = &self.inner.l2 {
            let shared = l2.shared();
            let msg = crate::backplane::Message::Tag {
                tag: tag.to_owned(),
            };
            l2.bump(shared.tag_key(tag), msg.encode(shared.instance));
        }
        tracing::debug!(tag, "invalidate_tag");
    }

    /// A snapshot of every cache's figures.
    ///
    /// ```
    /// let s = cache_runtime::global().stats();
    /// println!("{}", serde_json::to_string_pretty(&s).unwrap());
    /// ```
    pub fn stats(&self) -> RuntimeStats {
        let mut caches: Vec<_> = self
            .inner
            .caches
            .read()
            .values()
            .map(|c| c.counters.snapshot(&c.name))
            .collect();
        caches.sort_by(|a, b| a.name.cmp(&b.name));
        RuntimeStats {
            namespace: self.inner.namespace.clone(),
            l1: L1Stats {
                entries: self.inner.l1.len(),
                bytes: self.inner.l1.weight(),
                capacity_bytes: self.inner.l1.capacity(),
            },
            caches,
            #[cfg(feature = "redis")]
            l2: self.inner.l2.as_ref().map(|l2| {
                let c = &l2.shared().counters;
                let ops = c.ops.load(Ordering::Relaxed);
                crate::stats::L2Stats {
                    connected: l2.connected(),
                    circuit: l2.circuit(),
                    errors: c.errors.load(Ordering::Relaxed),
                    timeouts: c.timeouts.load(Ordering::Relaxed),
                    skipped: c.skipped.load(Ordering::Relaxed),
                    mean_latency_ms: if ops == 0 {
                        0.0
                    } else {
                        c.op_nanos.load(Ordering::Relaxed) as f64 / ops as f64 / 1e6
                    },
                    backplane_sent: c.sent.load(Ordering::Relaxed),
                    backplane_received: c.received.load(Ordering::Relaxed),
                    backplane_resubscribed: c.resubscribed.load(Ordering::Relaxed),
                }
            }),
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
    pub fn cache_ttl(mut self, name: impl Into<String>, ttl: Duration) -> Self {
        let e = self.overrides.entry(name.into()).or_default();
        e.ttl = Some(ttl);
        self
    }

    /// Adds Redis as a second tier shared by every instance using the same URL and
    /// [namespace](Self::namespace), plus the backplane that keeps their in-process tiers
    /// coherent. The connection is made in the background: the runtime serves from the
    /// in-process tier (and by computing) until Redis answers, and whenever it fails.
    /// An invalid URL is logged and leaves the runtime local only.
    ///
    /// Only `async` functions use Redis; synchronous ones are cached in process only.
    ///
    /// For a Redis Cluster, give its seed nodes as
    /// `redis+cluster://host:port[,host:port...]`: each cache's keys then share one hash
    /// slot (see "Two tiers: Redis" in the README).
    ///
    /// ```no_run
    /// # #[tokio::main] async fn main() {
    /// use std::time::Duration;
    /// use cache_runtime::CacheRuntime;
    ///
    /// CacheRuntime::builder()
    ///     .namespace("billing")
    ///     .redis("redis://127.0.0.1:6379")
    ///     .redis_timeout(Duration::from_millis(20))
    ///     .install()
    ///     .expect("installed before the first cached call");
    /// # }
    /// ```
    #[cfg(feature = "redis")]
    #[cfg_attr(docsrs, doc(cfg(feature = "redis")))]
    pub fn redis(mut self, url: impl Into<String>) -> Self {
        self.redis = Some(url.into());
        self
    }

    /// The deadline of every Redis operation (default 50 ms). A read that misses it is a
    /// miss; a write that misses it is dropped. Only used with [`redis`](Self::redis).
    ///
    /// ```
    /// use std::time::Duration;
    /// let rt = cache_runtime::CacheRuntime::builder()
    ///     .redis("redis://127.0.0.1:6379")
    ///     .redis_timeout(Duration::from_millis(10))
    ///     .build();
    /// # let _ = rt;
    /// ```
    #[cfg(feature = "redis")]
    #[cfg_attr(docsrs, doc(cfg(feature = "redis")))]
    pub fn redis_timeout(mut self, deadline: Duration) -> Self {
        self.redis_timeout = deadline;
        self
    }

    /// The expiry of the locks of `#[cache_result(lock = true)]` caches (default 10 s).
    ///
    /// With `lock = true`, a miss in every tier takes a lock in Redis before computing,
    /// and other instances missing the same key wait for the holder's value instead of
    /// computing it too. The lock is released as soon as the value is written (or the
    /// computation fails, panics or is cancelled); if its holder dies, the lock expires
    /// after this long. Waiters wait at most 5 s or this long, whichever is shorter, and
    /// then compute themselves. Choose it above the computation's usual duration.
    ///
    /// ```
    /// use std::time::Duration;
    /// let rt = cache_runtime::CacheRuntime::builder()
    ///     .redis("redis://127.0.0.1:6379")
    ///     .lock_ttl(Duration::from_secs(3))
    ///     .build();
    /// # let _ = rt;
    /// ```
    #[cfg(feature = "redis")]
    #[cfg_attr(docsrs, doc(cfg(feature = "redis")))]
    pub fn lock_ttl(mut self, ttl: Duration) -> Self {
        self.lock_ttl = ttl;
        self
    }

    /// Chooses the tiers cache `name` uses (default [`Tier::Both`](crate::Tier::Both)).
    ///
    /// ```
    /// use cache_runtime::{CacheRuntime, Tier};
    /// let rt = CacheRuntime::builder()
    ///     .redis("redis://127.0.0.1:6379")
    ///     .cache_tier("feature_flags", Tier::Local)
    ///     .build();
    /// # let _ = rt;
    /// ```
    #[cfg(feature = "redis")]
    #[cfg_attr(docsrs, doc(cfg(feature = "redis")))]
    pub fn cache_tier(mut self, name: impl Into<String>, tier: crate::l2::Tier) -> Self {
        self.tiers.insert(name.into(), tier);
        self
    }

    /// Turns cache `name` off: its function runs on every call.
    ///
    /// ```
    /// let rt = cache_runtime::CacheRuntime::builder().disable_cache("users").build();
    /// # let _ = rt;
    /// ```
    pub fn disable_cache(mut self, name: impl Into<String>) -> Self {
        self.overrides.entry(name.into()).or_default().disabled = true;
        self
    }

    /// Builds a runtime.
    ///
    /// ```
    /// let rt = cache_runtime::CacheRuntime::builder().build();
    /// # let _ = rt;
    /// ```
    pub fn build(self) -> CacheRuntime {
        CacheRuntime {
            inner: Arc::new_cyclic(|_me: &Weak<Inner>| Inner {
                #[cfg(feature = "redis")]
                l2: self.redis.as_ref().and_then(|url| {
                    let me: Weak<dyn crate::backplane::Subscriber> = _me.clone();
                    let config = crate::l2::Config {
                        url: url.clone(),
                        deadline: self.redis_timeout,
                        lock_ttl: self.lock_ttl,
                    };
                    crate::l2::L2::start(&config, &self.namespace, me)
                }),
                #[cfg(feature = "redis")]
                tiers: self.tiers,
                namespace: self.namespace,
                l1: L1::new(self.max_bytes),
                flights: Arc::new(Flights::new()),
                default_ttl: self.default_ttl,
                jitter: self.jitter,
                overrides: self.overrides,
                caches: RwLock::new(HashMap::new()),
                next_id: AtomicU32::new(0),
                tags: Mutex::new(HashMap::new()),
                owners: Mutex::new(HashMap::new()),
            }),
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
        let mut fresh = Some(self);
        let installed = GLOBAL.get_or_init(|| match fresh.take() {
            Some(b) => b.build(),
            None => CacheRuntime::builder().build(),
        });
        if fresh.is_some() {
            Err(InstallError)
        } else {
            Ok(installed)
        }
    }
}

#[cfg(feature = "redis")]
impl crate::backplane::Subscriber for Inner {
    fn on_message(&self, msg: crate::backplane::Message) {
        use crate::backplane::Message;
        match msg {
            Message::Key { name, key, deleted } => {
                let Some(cache) = self.existing_cache(&name) else {
                    return;
                };
                let mut buf = KeyBuf::from_slice(&[0; PREFIX]);
                buf.extend_from_slice(&key);
                self.invalidate_key_local(&cache, &buf);
                if !deleted {
                    // The sender could not name the Redis keys; this instance can.
                    let keys = self.remote_keys(&cache, &key);
                    if let (Some(l2), false) = (&self.l2, keys.is_empty()) {
                        l2.delete(keys, None);
                    }
                }
            }
            Message::All { name } => {
                if let Some(cache) = self.existing_cache(&name) {
                    self.invalidate_all_local(&cache);
                }
            }
            Message::Tag { tag } => self.invalidate_tag_local(&tag),
            Message::Write { name, version, key } => {
                let Some(cache) = self.existing_cache(&name) else {
                    return;
                };
                let mut buf = KeyBuf::from_slice(&[0; PREFIX]);
                buf.extend_from_slice(&key);
                stamp(&mut buf, cache.id, version);
                self.l1.remove(&buf);
            }
        }
    }

    fn on_resubscribed(&self) {
        let caches: Vec<_> = self.caches.read().values().cloned().collect();
        for cache in caches {
            self.invalidate_all_local(&cache);
        }
    }
}
