//! The targets of issues 12 and 22, which the run is judged against (a leaf: the traffic
//! and the report both read them).

use std::time::Duration;

/// Staleness p99 in the steady phase.
pub(crate) const STALE_STEADY_P99: Duration = Duration::from_millis(100);
/// Staleness bound in any phase.
pub(crate) const STALE_MAX: Duration = Duration::from_secs(2);
/// L2 hits must resume within this after a fault.
pub(crate) const RECOVERY_MAX: Duration = Duration::from_secs(5);
/// Body runs allowed in a miss storm over three instances.
pub(crate) const STORM_MAX_COMPUTES: u64 = 3;
/// Redis outage: per instance, the p99 over the changed keys of the time from "every
/// master answers PING again" until the instance serves the key's latest value.
pub(crate) const CONVERGE_P99: Duration = Duration::from_secs(2);
/// Redis outage: an old value served this long after Redis answers again is a wrong
/// answer even if the instance has not served the latest value yet (the 2 s target plus
/// 10 s of grace).
pub(crate) const CONVERGE_GRACE: Duration = Duration::from_secs(12);
/// Redis outage: the check gives up on an instance that still serves an old value of a
/// changed key this long after Redis answers again (a failure).
pub(crate) const CONVERGE_GIVE_UP: Duration = Duration::from_secs(30);
