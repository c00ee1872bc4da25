//! The targets of issue 12, which the run is judged against (a leaf: the traffic and the
//! report both read them).

use std::time::Duration;

/// Staleness p99 in the steady phase.
pub(crate) const STALE_STEADY_P99: Duration = Duration::from_millis(100);
/// Staleness bound in any phase.
pub(crate) const STALE_MAX: Duration = Duration::from_secs(2);
/// L2 hits must resume within this after a fault.
pub(crate) const RECOVERY_MAX: Duration = Duration::from_secs(5);
/// Body runs allowed in a miss storm over three instances.
pub(crate) const STORM_MAX_COMPUTES: u64 = 3;
