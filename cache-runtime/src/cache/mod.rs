//! The orchestrator: the only place that knows what a call and an invalidation do, and
//! in which order the tiers are tried.
//!
//! Read in this order: `site.rs` (what the macro hands over, resolved once per site),
//! `lookup.rs` (the read path: scope, key, local tier), `fill.rs` (single-flight, compute,
//! store, fail-safe), `fetch.rs` (the remote tier's part in a miss), `invalidate.rs` (what
//! an invalidation and another instance's announcement do), `flight.rs` (single-flight),
//! `policy.rs` (TTLs and overrides), `scope.rs` (per-call control), `engine.rs` (what one
//! runtime holds), `entry.rs` (the typed handle `<fn>_entry` returns: invalidate, put,
//! peek one entry), `timeout.rs` (`hard_timeout`'s deadline and `Timeout`).

mod budget;
mod bulkhead;
mod engine;
mod entry;
mod fetch;
mod fill;
mod flight;
mod invalidate;
mod lookup;
mod policy;
mod scope;
mod site;
mod timeout;

pub use budget::{
    Budget, Budgeted, ThrottleKind, Throttled, throttle, with_budget, with_budget_sync,
};
pub use bulkhead::{OverloadKind, Overloaded, overload};
pub use engine::{DEFAULT_MAX_BYTES, DEFAULT_MAX_WAIT, DEFAULT_TTL};
pub(crate) use engine::{Engine, Settings, global, install, started};
pub use entry::{CacheEntry, EntryKey, Owned, PutFuture, owned};
pub use fill::{StoreRules, Ticket};
pub use lookup::Lookup;
pub use policy::CacheOverride;
pub use scope::{CallOutcome, EntryInfo, Outcome, Outcomes, Scope, Scoped, ServedFrom};
pub(crate) use site::lookup_in;
pub use site::{CacheSite, SiteSpec, assert_refresh_arg, lookup, tag};
pub use timeout::{TimedOut, Timeout, timed_out};
