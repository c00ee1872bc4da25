//! `fail_throttle`: after a recomputation fails and the fail-safe copy is served, the copy
//! answers the key's calls for a while without calling the failing body again.
//!
//! ```text
//! failure (Err, hard_timeout) -> fail-safe copy served (fill.rs, stale_or)
//!    -> the copy is stored again in process: fresh_until = now + fail_throttle (never
//!       past its stale window), refresh_after = 0, marked `throttled`
//! lookup -> a throttled copy inside its throttle: answered as STALE, no computation
//!        -> past it: an ordinary miss with the copy as the fail-safe copy; one call
//!           recomputes (the others wait for it, as for any miss)
//! ```
//!
//! The copy is kept in process only: the Redis copy is left alone, so other instances
//! keep their own judgement, and a `Tier::Remote` cache (nothing in process) is not
//! throttled. A throttled copy never takes the plain hit path: its `refresh_after` of 0
//! sends it to the map path's refresh branch, where `throttled` is read, and it is never
//! made a thread's hot copy. It counts as a miss (a lookup that found nothing fresh),
//! `stale_served` and `fail_throttled`.

use super::policy::Tier;
use super::scope::{self, Outcome, ServedFrom};
use super::site::SiteState;
use super::ticket::Ticket;
use crate::clock;
use crate::codec::{Codec, MessagePack};
use crate::state::Validity;
use crate::stats::Counters;
use crate::tier::local::{self, Entry};
use crate::value::Adapter;

impl<R, A: Adapter<R>> Ticket<R, A> {
    /// After a failed recomputation answered with `copy`: keeps the copy in process as
    /// the key's answer for the cache's `fail_throttle` (when set), judged by the
    /// invalidation state the computation began under.
    pub(super) fn throttle_fail_safe(&self, copy: &Entry, began: &Validity) {
        let site = &self.site;
        let throttle = site.policy.fail_throttle;
        if throttle == 0 || site.tier == Tier::Remote {
            return;
        }
        let Some(value) = local::value_of::<A::Value>(copy) else {
            return;
        };
        let meta = copy.meta();
        // The weight the copy was stored with, when it keeps one (a stale window does); a
        // copy read from Redis carries none: its encoded size is counted.
        let weight = match meta.kept_weight().filter(|&w| w > 0) {
            Some(w) => w,
            None => match MessagePack.encoded_len(value) {
                Ok(n) if site.policy.max_bytes == 0 || n as u64 <= site.policy.max_bytes => {
                    self.weight_of(n)
                }
                _ => return,
            },
        };
        let now = clock::now();
        let fresh_until = now.saturating_add(throttle).min(meta.stale_until());
        // Judged by the state the computation began under, as a stored value is: a copy
        // kept after an `expire*` is current again for the throttle, and any invalidation
        // or expiry since makes it stale. A refresh point of 0 keeps it off the plain hit.
        let deadlines = (fresh_until, meta.stale_until(), 0);
        let slot = self.made(value.clone(), began, deadlines, weight, true);
        self.keep(&slot.erase(), weight, began);
    }
}

/// A lookup answered by a copy that `fail_throttle` keeps: counted and recorded as a
/// stale answer.
#[cold]
pub(super) fn served(site: &SiteState, name: &'static str) {
    let counters = &site.cache.counters;
    Counters::bump(&counters.misses);
    Counters::bump(&counters.stale_served);
    Counters::bump(&counters.fail_throttled);
    // Expired: fresh for nothing, as old as the TTL (as `stale_or` records a copy).
    scope::record_entry(name, Outcome::Stale, ServedFrom::Local, 0, site.policy.span);
    tracing::debug!(cache = name, "fail_throttle: serving the fail-safe copy");
}
