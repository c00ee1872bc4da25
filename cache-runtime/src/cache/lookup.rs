//! The read path: scope mode, key, in-process tier (first the thread's hot copy of the key,
//! if it has one, then the shared map). A fresh hit is cloned and returned; a hit past its
//! refresh point also hands back a ticket for a background refresh; an expired entry (past
//! its TTL, or by `expire*`) still inside its stale window is kept as the fail-safe copy;
//! anything else is a miss with a [`Ticket`] to compute through (see `ticket.rs` and
//! `fill.rs`).
//! The entry points: [`lookup`] for the global runtime (what generated code calls), and
//! `lookup_in` for another runtime.

use std::sync::Arc;

use super::engine::{self, Engine};
use super::fail_throttle;
use super::scope::{self, Mode, Outcome, ServedFrom};
use super::site::{self, CacheSite, SiteState};
use super::ticket::Ticket;
use crate::clock;
use crate::key::{self, KeyBuf, KeyBytes};
use crate::stats::Counters;
use crate::tier::local;
use crate::value::Adapter;

/// The result of looking a call up in the in-process tier.
pub enum Lookup<R, A: Adapter<R>> {
    /// A fresh value.
    Hit(R),
    /// A fresh value past its refresh point: return it, and refresh through the ticket.
    Refresh(R, Ticket<R, A>),
    /// No usable value: compute through the ticket.
    Miss(Ticket<R, A>),
}

/// Looks a call up in the global runtime.
#[inline]
pub fn lookup<R, A: Adapter<R>>(
    site: &'static CacheSite,
    key: KeyBytes,
    adapter: A,
) -> Lookup<R, A> {
    lookup_resolved(site.global_state(), site.spec().name, key, adapter)
}

/// Looks a call up in the runtime of `engine` (tests of runtimes other than the global
/// one).
pub(crate) fn lookup_in<R, A: Adapter<R>>(
    engine: &Arc<Engine>,
    site: &'static CacheSite,
    key: KeyBytes,
    adapter: A,
) -> Lookup<R, A> {
    if engine::is_global(engine) {
        return lookup(site, key, adapter);
    }
    let state = Arc::new(site::resolve(engine, site.spec()));
    lookup_resolved(&state, site.spec().name, key, adapter)
}

/// Looks a call up in a resolved site; see the module docs.
#[inline]
fn lookup_resolved<R, A: Adapter<R>>(
    site: &Arc<SiteState>,
    name: &'static str,
    key: KeyBytes,
    adapter: A,
) -> Lookup<R, A> {
    let ticket = |key: KeyBuf, mode: Mode, previous| {
        Ticket::new(Arc::clone(site), name, key, mode, adapter, previous)
    };
    let counters = &site.cache.counters;
    let suffix = key.suffix;
    let mut key = match key.buf {
        Ok(k) => k,
        Err(e) => {
            Counters::bump(&counters.encode_errors);
            tracing::warn!(cache = name, error = %e, "key not encodable: computing uncached");
            return Lookup::Miss(ticket(KeyBuf::new(), Mode::Bypass, None));
        }
    };
    key::stamp(&mut key, site.cache.id, site.version);
    match scope::mode() {
        Mode::Normal if !site.policy.disabled => {}
        Mode::Refresh if !site.policy.disabled => {
            site.cache.note_suffix(&key[suffix..]);
            return Lookup::Miss(ticket(key, Mode::Refresh, None));
        }
        _ => return Lookup::Miss(ticket(key, Mode::Bypass, None)),
    }
    let local = &site.engine.local;
    let hash = local::hot_hash(&key);
    // A plain fresh hit from this thread's hot copy (see `tier/local.rs`): the checks of
    // the map path below, without writing a shared cache line.
    let cache = &*site.cache;
    let tti = site.policy.tti;
    let hot = local.hot(&key, hash, |entry| {
        let meta = entry.meta();
        let now = clock::now();
        let fresh_until = meta.fresh_hit(cache, now)?;
        if tti != 0 && !meta.read_idle(now, tti) {
            return None;
        }
        let v = local::value_of::<A::Value>(entry)?;
        Some((v.clone(), fresh_until))
    });
    if let Some((v, fresh_until)) = hot {
        let value = adapter.rebuild(v);
        counters.hits.incr();
        let (from, ttl) = (ServedFrom::Local, site.policy.span);
        scope::record_entry(name, Outcome::Hit, from, fresh_until, ttl);
        tracing::debug!(cache = name, "hit");
        return Lookup::Hit(value);
    }
    let mut stale = None;
    if let Some(entry) = local.get(&site.part, &key) {
        let meta = entry.meta();
        let now = clock::now();
        let fresh_until = meta.fresh_until();
        let fresh = now < fresh_until && meta.is_current(cache);
        if fresh && (tti == 0 || meta.read_idle(now, tti)) {
            if let Some(v) = local::value_of::<A::Value>(&entry) {
                let value = adapter.rebuild(v.clone());
                let hit = || {
                    counters.hits.incr();
                    let (from, ttl) = (ServedFrom::Local, site.policy.span);
                    scope::record_entry(name, Outcome::Hit, from, fresh_until, ttl);
                    tracing::debug!(cache = name, "hit");
                };
                if now >= meta.refresh_after() {
                    // Past the refresh point, or a copy `fail_throttle` keeps (whose
                    // refresh point is 0): the plain hit below reads neither.
                    if meta.throttled() {
                        fail_throttle::served(site, name);
                        return Lookup::Hit(value);
                    }
                    hit();
                    if meta.claim_refresh() {
                        let t = ticket(key, Mode::Normal, Some(entry)).background();
                        return Lookup::Refresh(value, t);
                    }
                } else {
                    hit();
                }
                local.remember(&key, hash, &entry);
                return Lookup::Hit(value);
            }
        } else if (!fresh || meta.has_stale_window())
            && meta.keepable_at(cache, now)
            && local::value_of::<A::Value>(&entry).is_some()
        {
            // Past its TTL, or expired by `expire*`, or idle with a stale window of its
            // own: the fail-safe copy.
            stale = Some(entry);
        }
    }
    Counters::bump(&counters.misses);
    tracing::debug!(cache = name, "miss");
    site.cache.note_suffix(&key[suffix..]);
    Lookup::Miss(ticket(key, Mode::Normal, stale))
}
