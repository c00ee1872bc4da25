//! The only items generated code calls. Not public API: names and signatures change
//! between any two releases, which is why `cache-runtime` pins `cache-macros` exactly.

use std::sync::{Arc, OnceLock};

use serde::Serialize;

pub use crate::adapter::{Adapter, ErrKind, IsOption, Kind, err_kind, kind, option_whole};
pub use crate::bounds::{
    CacheKey, CacheValue, CachedPart, Checked, KeyInput, Never, Uncacheable, checked, whole,
};
pub use crate::call::{Lookup, Ticket};
pub use crate::timer::{Timed, TimerSite, time_async, time_sync};

use crate::key::{self, KeyBuf};
use crate::runtime::{self, CacheRuntime, SiteState};

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
    /// `tier = ...`: 0 both (the default), 1 local, 2 remote. The runtime's
    /// `cache_tier` override wins; without a remote tier it has no effect.
    pub tier: u8,
    /// `lock = true`: single-flight across instances through a Redis lock; without a
    /// remote tier it has no effect.
    pub lock: bool,
}

/// One `#[cache_result]` function: its spec and its resolution against the global
/// runtime, made once.
#[derive(Debug)]
pub struct CacheSite {
    spec: SiteSpec,
    state: OnceLock<Arc<SiteState>>,
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

    #[inline]
    fn global_state(&self) -> &Arc<SiteState> {
        self.state
            .get_or_init(|| Arc::new(runtime::global().inner.resolve(&self.spec)))
    }
}

/// An encoded key value (or why it could not be encoded), and where the type parameters
/// of a generic function begin in it.
pub struct KeyBytes {
    pub(crate) buf: Result<KeyBuf, crate::KeyError>,
    pub(crate) suffix: usize,
}

/// Where a key input's encoding is written.
pub struct KeyWriter<'a>(&'a mut KeyBuf);

/// Values that can be part of a cache key: every `serde::Serialize` type.
#[diagnostic::on_unimplemented(
    message = "`{Self}` cannot be part of a cache key",
    label = "this argument is part of the cache key",
    note = "key inputs must implement `serde::Serialize`: derive it, leave the argument out with `skip(...)`, or choose the key with `key = ...`"
)]
pub trait KeyArg {
    /// Appends this value's canonical encoding.
    fn write_key(&self, out: KeyWriter<'_>) -> Result<(), crate::KeyError>;
}

impl<T: Serialize + ?Sized> KeyArg for T {
    #[inline]
    fn write_key(&self, out: KeyWriter<'_>) -> Result<(), crate::KeyError> {
        key::encode_into(out.0, self)
    }
}

/// Encodes a key value (from `key = ...`) plus the concrete types of the function's type
/// parameters.
#[inline]
pub fn key<K: ?Sized + KeyArg>(value: &K, generics: &[&'static str]) -> KeyBytes {
    let mut buf = key::empty_key();
    let encoded = value.write_key(KeyWriter(&mut buf));
    finish(buf, encoded, generics)
}

#[inline]
fn finish(
    mut buf: KeyBuf,
    encoded: Result<(), crate::KeyError>,
    generics: &[&'static str],
) -> KeyBytes {
    let suffix = buf.len();
    key::push_generics(&mut buf, generics);
    KeyBytes {
        buf: encoded.map(|()| buf),
        suffix,
    }
}

/// The default key, the tuple of the key inputs, built one input at a time so that a
/// type that cannot be encoded is reported at that argument alone.
pub struct KeyArgs {
    buf: KeyBuf,
    encoded: Result<(), crate::KeyError>,
}

/// Starts the default key of a function with at least one key input.
#[inline]
pub fn key_args() -> KeyArgs {
    let mut buf = key::empty_key();
    key::start_tuple(&mut buf);
    KeyArgs {
        buf,
        encoded: Ok(()),
    }
}

impl KeyArgs {
    /// Appends one key input.
    #[inline]
    pub fn arg<K: ?Sized + KeyArg>(&mut self, value: &K) {
        if self.encoded.is_ok() {
            self.encoded = value.write_key(KeyWriter(&mut self.buf));
        }
    }

    /// Appends the concrete types of the function's type parameters.
    #[inline]
    pub fn finish(self, generics: &[&'static str]) -> KeyBytes {
        finish(self.buf, self.encoded, generics)
    }
}

/// Compile-time check for `refresh_ahead` arguments, which a background task must own.
#[inline]
pub fn assert_refresh_arg<T: Clone + Send + 'static>(_: &T) {}

/// Compile-time check for `cache_none = true`.
#[inline]
pub fn assert_option<R: IsOption>() {}

/// A tag value.
#[inline]
pub fn tag<S: AsRef<str>>(s: S) -> String {
    s.as_ref().to_owned()
}

/// Looks a call up in the global runtime.
#[inline]
pub fn lookup<R, A: Adapter<R>>(
    site: &'static CacheSite,
    key: KeyBytes,
    adapter: A,
) -> Lookup<R, A> {
    crate::call::lookup(site.global_state(), site.spec.name, key, adapter)
}

/// Looks a call up in a given runtime (tests of runtimes other than the global one).
pub fn lookup_in<R, A: Adapter<R>>(
    rt: &CacheRuntime,
    site: &'static CacheSite,
    key: KeyBytes,
    adapter: A,
) -> Lookup<R, A> {
    if runtime::global_ptr_eq(rt) {
        return lookup(site, key, adapter);
    }
    let state = Arc::new(rt.inner.resolve(&site.spec));
    crate::call::lookup(&state, site.spec.name, key, adapter)
}
