//! The engine behind a `CacheRuntime`: the tiers, the flights in progress, the registry
//! of caches and tags, and the configuration a call site is resolved against.

use std::collections::HashMap;
use std::sync::{Arc, OnceLock, Weak};
use std::time::Duration;

use parking_lot::Mutex;

use super::bulkhead::Bulkhead;
use super::flight::Flights;
use super::policy::{CacheOverride, Tier};
use crate::key::CacheKey;
use crate::state::Registry;
use crate::stats::{L1Stats, RuntimeStats};
use crate::tier::disk::{Disk, DiskConfig, Tell};
use crate::tier::local::{Listeners, Local};
use crate::tier::remote::{Config, Remote, Subscriber};

/// The default byte budget of the in-process tier: 64 MiB.
pub const DEFAULT_MAX_BYTES: u64 = 64 << 20;
/// The TTL of caches whose attribute names none: 60 seconds.
pub const DEFAULT_TTL: Duration = Duration::from_secs(60);

/// How long a computation that can fail with `Overloaded` waits for a permit: 1 second.
pub const DEFAULT_MAX_WAIT: Duration = Duration::from_secs(1);

/// The engine generated code uses.
static GLOBAL: OnceLock<Arc<Engine>> = OnceLock::new();

/// The global engine: the one installed, or else one with the default settings.
pub(crate) fn global() -> &'static Arc<Engine> {
    GLOBAL.get_or_init(|| Engine::start(Settings::default()))
}

/// Makes an engine built from `settings` the global one; `Err` when there already is one.
pub(crate) fn install(settings: Settings) -> Result<&'static Arc<Engine>, ()> {
    let mut fresh = Some(settings);
    let installed = GLOBAL.get_or_init(|| Engine::start(fresh.take().unwrap_or_default()));
    if fresh.is_some() {
        Err(())
    } else {
        Ok(installed)
    }
}

/// The global engine if it has been started (never starts one).
pub(crate) fn started() -> Option<&'static Arc<Engine>> {
    GLOBAL.get()
}

/// Whether `engine` is the global one.
pub(crate) fn is_global(engine: &Arc<Engine>) -> bool {
    GLOBAL.get().is_some_and(|g| Arc::ptr_eq(g, engine))
}

/// What a runtime is built from (the builder's settings).
pub(crate) struct Settings {
    pub(crate) namespace: String,
    pub(crate) max_bytes: u64,
    pub(crate) default_ttl: Duration,
    pub(crate) jitter: f64,
    pub(crate) overrides: HashMap<String, CacheOverride>,
    pub(crate) tiers: HashMap<String, Tier>,
    pub(crate) remote: Option<Config>,
    pub(crate) disk: DiskConfig,
    /// How long a computation whose error type converts from `Overloaded` waits for a
    /// permit of its cache's bulkhead.
    pub(crate) max_wait: Duration,
    /// Who hears of entries leaving the in-process tier.
    pub(crate) listeners: Listeners,
    /// Caches with a byte budget of their own (`cache_capacity`).
    pub(crate) capacities: HashMap<String, u64>,
}

impl Default for Settings {
    fn default() -> Self {
        Self {
            namespace: "app".into(),
            max_bytes: DEFAULT_MAX_BYTES,
            default_ttl: DEFAULT_TTL,
            jitter: 0.0,
            overrides: HashMap::new(),
            tiers: HashMap::new(),
            remote: None,
            disk: DiskConfig::default(),
            max_wait: DEFAULT_MAX_WAIT,
            listeners: Listeners::default(),
            capacities: HashMap::new(),
        }
    }
}

/// The disk tier's eviction events, told to the same listeners as the in-process tier's
/// (with tier `disk`); `None` when nobody listens.
fn disk_events(engine: &Weak<Engine>, listeners: &Listeners) -> Option<Tell> {
    if listeners.is_empty() {
        return None;
    }
    let (engine, listeners) = (engine.clone(), listeners.clone());
    Some(Arc::new(move |cache, encoded, cause| {
        if let Some(e) = engine.upgrade() {
            let key = encoded.map(crate::key::display).unwrap_or_default();
            let state = e.registry.cache(cache);
            listeners.tell_from(&state, key, cause, crate::ServedFrom::Disk);
        }
    }))
}

/// One runtime's machinery.
pub(crate) struct Engine {
    pub(crate) namespace: String,
    pub(crate) local: Local,
    pub(crate) flights: Arc<Flights>,
    pub(crate) remote: Remote,
    /// The disk tier (off without the feature or a path).
    pub(crate) disk: Disk,
    pub(crate) registry: Registry,
    pub(crate) default_ttl: Duration,
    pub(crate) jitter: f64,
    pub(crate) overrides: HashMap<String, CacheOverride>,
    pub(crate) tiers: HashMap<String, Tier>,
    pub(crate) max_wait: Duration,
    /// Caches with a byte budget of their own set on the builder (beats `capacity`).
    pub(crate) capacities: HashMap<String, u64>,
    /// One bulkhead per cache name.
    bulkheads: Mutex<HashMap<Box<str>, Arc<Bulkhead>>>,
}

impl Engine {
    /// Builds the engine and starts its remote tier (if configured), which reports
    /// announcements from other instances back to it.
    pub(crate) fn start(settings: Settings) -> Arc<Self> {
        Arc::new_cyclic(|me: &Weak<Engine>| {
            let subscriber: Weak<dyn Subscriber> = me.clone();
            let registry = Registry::new(&settings.namespace);
            let tell = disk_events(me, &settings.listeners);
            Engine {
                remote: Remote::start(settings.remote.as_ref(), &settings.namespace, subscriber),
                local: Local::new(settings.max_bytes, registry.table(), settings.listeners),
                disk: Disk::open(&settings.disk, &settings.namespace, tell.as_ref()),
                flights: Arc::new(Flights::new()),
                registry,
                namespace: settings.namespace,
                default_ttl: settings.default_ttl,
                jitter: settings.jitter,
                overrides: settings.overrides,
                tiers: settings.tiers,
                max_wait: settings.max_wait,
                capacities: settings.capacities,
                bulkheads: Mutex::new(HashMap::new()),
            }
        })
    }

    /// The bulkhead of cache `name`, with its limit set to `limit` (0: none).
    pub(crate) fn bulkhead(&self, name: &str, limit: u32) -> Arc<Bulkhead> {
        let b = Arc::clone(
            self.bulkheads
                .lock()
                .entry(name.into())
                .or_insert_with(|| Arc::new(Bulkhead::new())),
        );
        b.set_limit(limit);
        b
    }

    /// The Redis key of the entry of `encoded` (a key value without its prefix) in cache
    /// `name` under `version` and `value_type`: its [`CacheKey`] digest, named by the remote
    /// tier.
    pub(crate) fn remote_key(
        &self,
        name: &str,
        version: u32,
        value_type: &str,
        encoded: &[u8],
    ) -> String {
        let digest = CacheKey::from_encoded(&self.namespace, name, version, value_type, encoded);
        self.remote.entry_key(name, digest.to_string())
    }

    /// A snapshot of every cache's figures.
    pub(crate) fn stats(&self) -> RuntimeStats {
        let mut caches: Vec<_> = self
            .registry
            .all()
            .iter()
            .map(|c| {
                let mut s = c.counters.snapshot(&c.name);
                if let Some((capacity, _)) = self.local.capped_usage(c.id) {
                    s.capacity_bytes = capacity;
                }
                s
            })
            .collect();
        caches.sort_by(|a, b| a.name.cmp(&b.name));
        let mut stats = RuntimeStats {
            namespace: self.namespace.clone(),
            l1: L1Stats {
                entries: self.local.len(),
                bytes: self.local.weight(),
                capacity_bytes: self.local.capacity(),
            },
            caches,
            l2: None,
            disk: self.disk.stats(),
        };
        self.remote.fill_stats(&mut stats);
        stats
    }
}
