//! The traffic: a weighted mix of requests sent to the instances in rotation (as a load
//! balancer would), a checker that compares a sample of answers with the `--no-cache`
//! reference, changes (to the database, then an admin invalidation, or through the write
//! API) and the time until every instance serves them (staleness), a probe of
//! the Redis tier (L2 hits), the miss storm, and the Redis outage's changes and
//! convergence check.
//!
//! - `call`: one request and its answer.
//! - `ctx`: what the traffic's tasks share, and the load balancer's rotation.
//! - `stats`: what a phase measured.
//! - `load`: the mix, its workers, and the check against the reference.
//! - `staleness`: the changes and the time until every instance serves them.
//! - `probe`: the Redis tier's probe and counters.
//! - `storm`: the miss storm.
//! - `converge`: the Redis outage's changes and the time until every instance serves them.

mod call;
mod converge;
mod ctx;
mod load;
mod probe;
mod staleness;
mod stats;
mod storm;

pub(crate) use converge::{Converged, Outage};
pub(crate) use ctx::Ctx;
pub(crate) use probe::l2_counters;
pub(crate) use stats::PhaseStats;
pub(crate) use storm::{Storm, miss_storm};
