//! The figures of each cache: the live counters (`counters.rs`), their serializable
//! snapshots (`snapshot.rs`), and the one list of their names (`names.rs`) that the
//! Prometheus text and the `metrics` facade both use.

mod counters;
pub(crate) mod names;
mod snapshot;

pub(crate) use counters::Counters;
pub use snapshot::{CacheStats, CircuitState, L1Stats, L2CacheStats, L2Stats, RuntimeStats};
