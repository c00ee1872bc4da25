//! A cache's effective policy: the macro's static spec, overridden by runtime
//! configuration by cache name, with the runtime's defaults filling the gaps; and the
//! [`Tier`] choice, which tiers a cache uses.

use std::time::Duration;

use crate::clock;

/// Which tiers a cache uses when the runtime has a remote tier.
///
/// Set per cache with `#[cache_result("name", tier = "local")]` (`"both"`, `"local"` or
/// `"remote"`) or, overriding the attribute, with
/// [`CacheRuntimeBuilder::cache_tier`](crate::CacheRuntimeBuilder::cache_tier). Without a
/// remote tier every cache is local, whatever its setting.
///
/// With the `redis` feature, `CacheRuntimeBuilder::cache_tier("rates", Tier::Local)`
/// keeps cache `rates` per instance, and `Tier::Remote` keeps a large, rarely read cache
/// in Redis only.
///
/// ```
/// use cache_runtime::Tier;
/// assert_eq!(Tier::default(), Tier::Both);
/// ```
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Tier {
    /// In process first, then Redis (the default).
    #[default]
    Both,
    /// In process only.
    Local,
    /// Redis only: every call reads Redis, nothing is kept in process.
    Remote,
}

/// Runtime changes to one cache, set by name on the builder so operators retune a cache
/// without recompiling.
///
/// ```
/// use std::time::Duration;
/// use cache_runtime::CacheOverride;
/// let o = CacheOverride::default().ttl(Duration::from_secs(30));
/// let off = CacheOverride::default().disabled();
/// # let _ = (o, off);
/// ```
#[derive(Clone, Debug, Default, PartialEq)]
pub struct CacheOverride {
    pub(crate) ttl: Option<Duration>,
    pub(crate) disabled: bool,
    pub(crate) max_concurrent: Option<u32>,
    /// Remote tier: encrypt this cache's values in Redis (replaces the runtime's setting).
    pub(crate) encrypt: Option<bool>,
    /// Remote tier: compress this cache's values from this encoded size (0: never).
    pub(crate) compress_threshold: Option<usize>,
}

impl CacheOverride {
    /// Replaces the TTL written in the attribute.
    ///
    /// ```
    /// # use std::time::Duration;
    /// let o = cache_runtime::CacheOverride::default().ttl(Duration::from_secs(5));
    /// # let _ = o;
    /// ```
    pub fn ttl(mut self, ttl: Duration) -> Self {
        self.ttl = Some(ttl);
        self
    }

    /// Bounds how many computations of the cache run at once (`0`: no bound), replacing
    /// the attribute's `max_concurrent`.
    ///
    /// ```
    /// let o = cache_runtime::CacheOverride::default().max_concurrent(4);
    /// # let _ = o;
    /// ```
    pub fn max_concurrent(mut self, limit: u32) -> Self {
        self.max_concurrent = Some(limit);
        self
    }

    /// With a remote tier: encrypts (or not) the cache's values in Redis, replacing
    /// [`CacheRuntimeBuilder::encrypt`](crate::CacheRuntimeBuilder) for this cache.
    ///
    /// ```
    /// let o = cache_runtime::CacheOverride::default().encrypt(true);
    /// # let _ = o;
    /// ```
    pub fn encrypt(mut self, on: bool) -> Self {
        self.encrypt = Some(on);
        self
    }

    /// With a remote tier: compresses the cache's values in Redis from `bytes` encoded
    /// bytes (`0`: never), replacing the runtime's threshold for this cache.
    ///
    /// ```
    /// let o = cache_runtime::CacheOverride::default().compress_threshold(256);
    /// # let _ = o;
    /// ```
    pub fn compress_threshold(mut self, bytes: usize) -> Self {
        self.compress_threshold = Some(bytes);
        self
    }

    /// Turns the cache off: every call runs the function.
    ///
    /// ```
    /// let o = cache_runtime::CacheOverride::default().disabled();
    /// # let _ = o;
    /// ```
    pub fn disabled(mut self) -> Self {
        self.disabled = true;
        self
    }
}

/// What the attribute declares about a cache's policy (0 = not given).
#[derive(Clone, Copy, Debug)]
pub(crate) struct Declared {
    pub(crate) ttl_ms: u64,
    pub(crate) stale_if_error_ms: u64,
    pub(crate) refresh_ahead: f64,
    pub(crate) max_bytes: u64,
    pub(crate) max_concurrent: u32,
    /// `only_if_slower`: values computed faster than this are not stored; 0 = off.
    pub(crate) only_if_slower_ms: u64,
    /// `hard_timeout`: how long a call waits for the body; 0 = off.
    pub(crate) hard_timeout_ms: u64,
    /// `soft_timeout`: how long a call with a fail-safe copy waits; 0 = off.
    pub(crate) soft_timeout_ms: u64,
    /// `fail_throttle`: after a failed recomputation served the fail-safe copy, how long
    /// the copy answers without calling the body; 0 = off.
    pub(crate) fail_throttle_ms: u64,
    /// `local_ttl`: how long the in-process copy lives when the cache also has a Redis
    /// copy; 0 = as long as `ttl`.
    pub(crate) local_ttl_ms: u64,
    /// The TTL of a cached `None` (`cache_none = "30s"`) or of an error `cache_err`
    /// picks (`err_ttl`); 0 = the cache's TTL.
    pub(crate) short_ttl_ms: u64,
    /// `tti`: an entry not read for this long expires; 0 = off.
    pub(crate) tti_ms: u64,
}

/// The resolved policy of one call site, in clock ticks.
#[derive(Clone, Debug)]
pub(crate) struct Policy {
    pub(crate) ttl: u64,
    pub(crate) stale: u64,
    /// Fraction of the TTL after which a hit triggers a background refresh; 0 = off.
    pub(crate) refresh_ahead: f64,
    /// Largest encoded value stored; 0 = no per-cache limit.
    pub(crate) max_bytes: u64,
    pub(crate) jitter: f64,
    pub(crate) disabled: bool,
    /// Computations of the cache that may run at once; 0 = no bound.
    pub(crate) max_concurrent: u32,
    /// Values computed faster than this are not stored (`only_if_slower`).
    pub(crate) only_if_slower: Duration,
    /// True when the TTL was given (attribute or override), which bounds `ttl_from`.
    pub(crate) ttl_given: bool,
    /// How long a call waits for the body (`hard_timeout`); `None` = as long as it takes.
    pub(crate) hard_timeout: Option<Duration>,
    /// How long a call with a fail-safe copy waits for the body (`soft_timeout`).
    pub(crate) soft_timeout: Option<Duration>,
    /// `fail_throttle`, in ticks: how long the fail-safe copy answers without calling the
    /// body after a failed recomputation; 0 = off.
    pub(crate) fail_throttle: u64,
    /// `local_ttl`, in ticks: the longest an entry is fresh in process, below `ttl`;
    /// `u64::MAX` = no bound (no `local_ttl`, or a cache without a Redis copy, which
    /// [`Policy::local_only`] turns it off for).
    pub(crate) local_ttl: u64,
    /// In ticks, at most `ttl`: the TTL of a cached `None` (`cache_none = "30s"`) or of
    /// an error `cache_err` picks (`err_ttl`); 0 = the cache's TTL.
    pub(crate) short_ttl: u64,
    /// The longest an entry is fresh in process, in ticks: `ttl`, or `local_ttl` when it
    /// applies. What the age of a value served from process is measured against (a copy
    /// made fresh for `local_ttl` is new, not `ttl - local_ttl` old).
    pub(crate) span: u64,
    /// `tti`, in ticks: an entry not read for this long is not served fresh (see
    /// `tier/local/idle.rs`); 0 = off.
    pub(crate) tti: u64,
}

impl Policy {
    pub(crate) fn resolve(
        spec: &Declared,
        over: Option<&CacheOverride>,
        default_ttl: Duration,
        jitter: f64,
    ) -> Self {
        let given = over
            .and_then(|o| o.ttl)
            .or((spec.ttl_ms > 0).then(|| Duration::from_millis(spec.ttl_ms)));
        let ttl = given.unwrap_or(default_ttl);
        let ttl_ticks = clock::ticks(ttl);
        let at_most_ttl = |ms: u64| clock::ticks(Duration::from_millis(ms)).min(ttl_ticks);
        let local_ttl = if spec.local_ttl_ms > 0 {
            at_most_ttl(spec.local_ttl_ms)
        } else {
            u64::MAX
        };
        Self {
            ttl: ttl_ticks,
            stale: clock::ticks(Duration::from_millis(spec.stale_if_error_ms)),
            refresh_ahead: spec.refresh_ahead,
            max_bytes: spec.max_bytes,
            jitter,
            disabled: over.is_some_and(|o| o.disabled),
            max_concurrent: over
                .and_then(|o| o.max_concurrent)
                .unwrap_or(spec.max_concurrent),
            only_if_slower: Duration::from_millis(spec.only_if_slower_ms),
            ttl_given: given.is_some(),
            hard_timeout: (spec.hard_timeout_ms > 0)
                .then(|| Duration::from_millis(spec.hard_timeout_ms)),
            soft_timeout: (spec.soft_timeout_ms > 0)
                .then(|| Duration::from_millis(spec.soft_timeout_ms)),
            fail_throttle: clock::ticks(Duration::from_millis(spec.fail_throttle_ms)),
            local_ttl,
            short_ttl: at_most_ttl(spec.short_ttl_ms),
            span: ttl_ticks.min(local_ttl),
            tti: clock::ticks(Duration::from_millis(spec.tti_ms)),
        }
    }

    /// The policy of a cache kept in one tier only (no remote tier, `Tier::Local` or
    /// `Tier::Remote`): `local_ttl`, which bounds the in-process copy below the Redis
    /// copy's TTL, does not apply, and `ttl` alone says how long an entry is fresh.
    pub(crate) fn local_only(mut self) -> Self {
        self.local_ttl = u64::MAX;
        self.span = self.ttl;
        self
    }

    /// The deadlines of the in-process copy of an entry whose own deadlines are
    /// `deadlines`, stored `now`: fresh for at most `local_ttl`, never past its own TTL.
    /// The stale window keeps its end, so the copy stays the fail-safe copy as long as
    /// the entry would have.
    #[inline]
    pub(crate) fn local(
        &self,
        now: u64,
        (fresh, stale, refresh): (u64, u64, u64),
    ) -> (u64, u64, u64) {
        (
            fresh.min(now.saturating_add(self.local_ttl)),
            stale,
            refresh,
        )
    }

    /// A TTL from `ttl_from`, in ticks, bounded by the cache's TTL when one was given.
    pub(crate) fn bounded(&self, ttl: Duration) -> u64 {
        let ticks = clock::ticks(ttl);
        if self.ttl_given {
            ticks.min(self.ttl)
        } else {
            ticks
        }
    }

    /// [`deadlines`](Self::deadlines) with the TTL of `ttl_from` (in ticks) when given.
    pub(crate) fn deadlines_with(&self, now: u64, ttl: Option<u64>) -> (u64, u64, u64) {
        match ttl {
            None => self.deadlines(now),
            Some(ttl) => Policy {
                ttl,
                ..self.clone()
            }
            .deadlines(now),
        }
    }

    /// The deadlines of an entry computed now: `(fresh_until, stale_until, refresh_after)`.
    /// Jitter only shortens the TTL, so the TTL stays the longest a value is served fresh.
    pub(crate) fn deadlines(&self, now: u64) -> (u64, u64, u64) {
        let ttl = if self.jitter > 0.0 {
            (self.ttl as f64 * (1.0 - self.jitter * fastrand::f64())) as u64
        } else {
            self.ttl
        };
        let fresh = now.saturating_add(ttl);
        let refresh = if self.refresh_ahead > 0.0 {
            now.saturating_add((ttl as f64 * self.refresh_ahead) as u64)
        } else {
            u64::MAX
        };
        (fresh, fresh.saturating_add(self.stale), refresh)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec(ttl_ms: u64) -> Declared {
        Declared {
            ttl_ms,
            stale_if_error_ms: 1000,
            refresh_ahead: 0.5,
            max_bytes: 0,
            max_concurrent: 0,
            only_if_slower_ms: 0,
            hard_timeout_ms: 0,
            soft_timeout_ms: 0,
            fail_throttle_ms: 0,
            local_ttl_ms: 0,
            short_ttl_ms: 0,
            tti_ms: 0,
        }
    }

    #[test]
    fn override_beats_attribute_beats_default() {
        let d = Duration::from_secs(60);
        let p = Policy::resolve(&spec(0), None, d, 0.0);
        assert_eq!(p.ttl, clock::ticks(d));
        let p = Policy::resolve(&spec(2000), None, d, 0.0);
        assert_eq!(p.ttl, clock::ticks(Duration::from_secs(2)));
        let o = CacheOverride::default().ttl(Duration::from_secs(9));
        let p = Policy::resolve(&spec(2000), Some(&o), d, 0.0);
        assert_eq!(p.ttl, clock::ticks(Duration::from_secs(9)));
        assert!(!p.disabled);
    }

    #[test]
    fn jitter_only_shortens_and_deadlines_are_ordered() {
        let p = Policy::resolve(&spec(10_000), None, Duration::from_secs(1), 0.2);
        for _ in 0..1000 {
            let (fresh, stale, refresh) = p.deadlines(1000);
            assert!(fresh <= 1000 + p.ttl);
            assert!(fresh >= 1000 + (p.ttl as f64 * 0.8) as u64 - 1);
            assert!(refresh < fresh && fresh < stale);
        }
    }
}
