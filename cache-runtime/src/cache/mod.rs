//! The orchestrator: the only place that knows what a call and an invalidation do, and
//! in which order the tiers are tried.
//!
//! Read in this order: `site.rs` (what the macro hands over, resolved once per site),
//! `lookup.rs` (the read path and its entry points: scope, key, local tier), `ticket.rs`
//! (the one type a miss computes through), `fill.rs` (single-flight, compute, fail-safe),
//! `store.rs` (storing what was computed), `disk.rs` (the disk tier's part in a miss),
//! `fetch.rs` (the remote tier's part in a miss),
//! `invalidate.rs` (what an invalidation and another instance's announcement do),
//! `flight.rs` (single-flight), `policy.rs` (TTLs, overrides and the [`Tier`] a cache
//! uses), `scope.rs` (per-call control), `engine.rs` (what one runtime holds), `entry.rs`
//! (the typed handle `<fn>_entry` returns: invalidate, put, peek one entry), `bulkhead.rs`
//! (`max_concurrent`), `timeout.rs` (`hard_timeout`'s deadline and `Timeout`),
//! `fail_throttle.rs` (the fail-safe copy kept as the answer after a failure), `batch/`
//! (`#[cache_batch]`: many records in one call, each an ordinary entry; `refresh.rs` its
//! `refresh_ahead`), `trace.rs` (a call's `tracing` span and its outcome).

mod batch;
mod budget;
mod bulkhead;
mod disk;
mod engine;
mod entry;
mod fail_throttle;
mod fetch;
mod fill;
mod flight;
mod invalidate;
mod lookup;
mod policy;
mod scope;
mod site;
mod store;
mod ticket;
mod timeout;
mod trace;

pub use batch::{
    Batch, BatchOutput, BatchTags, Present, RecordKind, Remembered, batch, batch_with,
};
pub use budget::{
    Budget, Budgeted, ThrottleKind, Throttled, throttle, with_budget, with_budget_sync,
};
pub use bulkhead::{OverloadKind, Overloaded, overload};
pub use engine::{DEFAULT_MAX_BYTES, DEFAULT_MAX_WAIT, DEFAULT_TTL};
pub(crate) use engine::{Engine, Settings, global, install, started};
pub use entry::{CacheEntry, EntryKey, Owned, PutFuture, owned};
pub(crate) use lookup::lookup_in;
pub use lookup::{Lookup, lookup};
pub use policy::{CacheOverride, Tier};
pub use scope::{CallOutcome, EntryInfo, Outcome, Outcomes, Scope, Scoped, ServedFrom};
pub use site::{CacheSite, SiteSpec, assert_refresh_arg, tag};
pub use ticket::{StoreRules, Ticket};
pub use timeout::{TimedOut, Timeout, timed_out};
pub use trace::cache_span;
