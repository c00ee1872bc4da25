//! A call site: the static description `#[cache_result]` writes ([`SiteSpec`]), and its
//! resolution against a runtime ([`SiteState`]), made once per site for the global runtime.
//! No lookups here: the entry points that read through a site are in `lookup.rs`.

use std::sync::{Arc, OnceLock};

use super::bulkhead::Bulkhead;
use super::engine::{self, Engine};
use super::policy::{Declared, Policy, Tier};
use crate::state::CacheState;
use crate::tier::local::Part;

/// The static description of one `#[cache_result]` function.
#[derive(Debug, Clone, Copy)]
pub struct SiteSpec {
    /// The cache name.
    pub name: &'static str,
    /// `module_path::fn_name`, for diagnostics.
    pub location: &'static str,
    /// TTL in milliseconds; 0 means the runtime's default.
    pub ttl_ms: u64,
    /// Key version.
    pub version: u32,
    /// Fail-safe window in milliseconds; 0 means off.
    pub stale_if_error_ms: u64,
    /// Refresh-ahead fraction of the TTL; 0 means off.
    pub refresh_ahead: f64,
    /// Largest encoded value cached; 0 means no per-cache limit.
    pub max_bytes: u64,
    /// `tier = ...` (default [`Tier::Both`]). The runtime's `cache_tier` override wins;
    /// without a remote tier it has no effect.
    pub tier: Tier,
    /// `lock = true`: single-flight across instances through a Redis lock; without a
    /// remote tier it has no effect.
    pub lock: bool,
    /// `max_concurrent = N`: computations of the cache that may run at once; 0 = no bound.
    pub max_concurrent: u32,
    /// `only_if_slower = "50ms"`: values computed faster are returned, not stored; 0 = off.
    pub only_if_slower_ms: u64,
    /// `hard_timeout = "2s"`: how long a call waits for the body; 0 = off.
    pub hard_timeout_ms: u64,
    /// `soft_timeout = "100ms"`: how long a call with a fail-safe copy waits for the body
    /// before answering with the copy (the body finishes in the background); 0 = off.
    pub soft_timeout_ms: u64,
    /// `fail_throttle = "5s"`: after a failed recomputation served the fail-safe copy, the
    /// copy answers the key's calls for that long without calling the body; 0 = off.
    pub fail_throttle_ms: u64,
    /// `local_ttl = "10s"`: the in-process copy of a cache that also keeps a Redis copy
    /// is fresh for at most that long (the Redis copy for `ttl`); 0 = `ttl`.
    pub local_ttl_ms: u64,
    /// The TTL of a cached `None` (`cache_none = "30s"`) or of an error that `cache_err`
    /// picks (`err_ttl = "5s"`), at most `ttl`; 0 = `ttl`.
    pub short_ttl_ms: u64,
    /// `disk = false`: the cache stays off the disk tier (the runtime's `disk_cache`
    /// override wins); without a disk tier it has no effect.
    pub disk: bool,
    /// `capacity = "16MiB"`: the cache's own in-process byte budget; 0 = it shares the
    /// runtime's `max_bytes`. The runtime's `cache_capacity` wins.
    pub capacity_bytes: u64,
    /// `tti = "5m"`: an entry not read for that long expires (besides `ttl`); 0 = off.
    pub tti_ms: u64,
}

/// One `#[cache_result]` function: its spec and its resolution against the global
/// runtime, made once.
#[derive(Debug)]
pub struct CacheSite {
    spec: SiteSpec,
    state: OnceLock<Arc<SiteState>>,
}

/// A call site resolved against a runtime.
pub(crate) struct SiteState {
    pub(crate) engine: Arc<Engine>,
    pub(crate) cache: Arc<CacheState>,
    pub(crate) policy: Policy,
    pub(crate) version: u32,
    /// The tiers this site uses (always `Local` without a remote tier).
    pub(crate) tier: Tier,
    /// `lock = true`: misses take a lock in Redis before computing.
    pub(crate) lock: bool,
    /// The cache's bound on concurrent computations.
    pub(crate) bulkhead: Arc<Bulkhead>,
    /// Whether misses read the disk tier and computed values are written to it.
    pub(crate) disk: bool,
    /// The in-process map the cache's entries live in: its own when it has a capacity.
    pub(crate) part: Part,
}

impl std::fmt::Debug for SiteState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SiteState")
            .field("cache", &self.cache.name)
            .finish_non_exhaustive()
    }
}

impl CacheSite {
    /// A site for a spec.
    pub const fn new(spec: SiteSpec) -> Self {
        Self {
            spec,
            state: OnceLock::new(),
        }
    }

    /// The cache name.
    pub fn name(&self) -> &'static str {
        self.spec.name
    }

    /// The spec the macro wrote.
    #[inline]
    pub(super) fn spec(&self) -> &SiteSpec {
        &self.spec
    }

    #[inline]
    pub(super) fn global_state(&self) -> &Arc<SiteState> {
        self.state.get_or_init(|| {
            // Once per site: the timer running now, if any, is the one this cache answers.
            crate::timer::note_cache(self.spec.name);
            Arc::new(resolve(engine::global(), &self.spec))
        })
    }
}

/// Resolves a site against an engine: the cache's state, the effective policy and tier.
pub(crate) fn resolve(engine: &Arc<Engine>, spec: &SiteSpec) -> SiteState {
    engine
        .registry
        .declare(spec.name, spec.location, spec.version);
    let tier = if !engine.remote.is_on() {
        // Without a remote tier every cache is local, whatever its setting.
        Tier::Local
    } else {
        // The builder's override beats the attribute.
        engine.tiers.get(spec.name).copied().unwrap_or(spec.tier)
    };
    let policy = Policy::resolve(
        &Declared {
            ttl_ms: spec.ttl_ms,
            stale_if_error_ms: spec.stale_if_error_ms,
            refresh_ahead: spec.refresh_ahead,
            max_bytes: spec.max_bytes,
            max_concurrent: spec.max_concurrent,
            only_if_slower_ms: spec.only_if_slower_ms,
            hard_timeout_ms: spec.hard_timeout_ms,
            soft_timeout_ms: spec.soft_timeout_ms,
            fail_throttle_ms: spec.fail_throttle_ms,
            local_ttl_ms: spec.local_ttl_ms,
            short_ttl_ms: spec.short_ttl_ms,
            tti_ms: spec.tti_ms,
        },
        engine.overrides.get(spec.name),
        engine.default_ttl,
        engine.jitter,
    );
    // `local_ttl` bounds the in-process copy below the Redis copy's TTL: a cache kept in
    // one tier has one TTL.
    let policy = if tier == Tier::Both {
        policy
    } else {
        policy.local_only()
    };
    let cache = engine.registry.cache(spec.name);
    if policy.tti > 0 {
        cache
            .tti
            .store(policy.tti, std::sync::atomic::Ordering::Relaxed);
    }
    // The builder's capacity beats the attribute's.
    let capacity = engine
        .capacities
        .get(spec.name)
        .copied()
        .unwrap_or(spec.capacity_bytes);
    let part = if capacity > 0 {
        engine.local.capped(cache.id, capacity)
    } else {
        engine.local.part(cache.id)
    };
    SiteState {
        part,
        engine: Arc::clone(engine),
        bulkhead: engine.bulkhead(spec.name, policy.max_concurrent),
        policy,
        cache,
        version: spec.version,
        disk: tier != Tier::Remote && engine.disk.used_by(spec.name, spec.disk),
        tier,
        lock: spec.lock,
    }
}

/// Compile-time check for `refresh_ahead` arguments, which a background task must own.
#[inline]
pub fn assert_refresh_arg<T: Clone + Send + 'static>(_: &T) {}

/// A tag value (`tags = [...]`).
#[inline]
pub fn tag<S: AsRef<str>>(s: S) -> String {
    s.as_ref().to_owned()
}
