//! The circuit breaker shared by every operation of one remote tier.
//!
//! After [`FAILURE_THRESHOLD`] consecutive failures (errors or timeouts) the circuit opens
//! and reads and writes skip Redis for [`COOL_DOWN`]; then one operation goes through as a
//! probe: success closes the circuit, failure opens it for another cool-down. Malformed
//! data under one cache's keys is not a failure of Redis and never counts here, so one
//! cache's bad bytes cannot switch the remote tier off for the others.

use std::time::{Duration, Instant};

use parking_lot::Mutex;

use crate::stats::CircuitState;

/// Consecutive failures that open the circuit.
pub(crate) const FAILURE_THRESHOLD: u32 = 5;
/// How long an open circuit skips Redis before it lets a probe through.
pub(crate) const COOL_DOWN: Duration = Duration::from_secs(2);

#[derive(Debug, Clone, Copy)]
enum Phase {
    Closed,
    Open { until: Instant },
    HalfOpen,
}

/// Consecutive failures open the circuit; see the module docs.
pub(crate) struct Breaker {
    state: Mutex<(Phase, u32)>,
}

impl Breaker {
    pub(crate) fn admit(&self) -> bool {
        let mut s = self.state.lock();
        match s.0 {
            Phase::Closed => true,
            Phase::HalfOpen => false,
            Phase::Open { until } => {
                if Instant::now() >= until {
                    s.0 = Phase::HalfOpen;
                    true
                } else {
                    false
                }
            }
        }
    }

    pub(crate) fn success(&self) {
        let mut s = self.state.lock();
        if !matches!(s.0, Phase::Closed) {
            tracing::info!("redis answers again: circuit closed");
        }
        *s = (Phase::Closed, 0);
    }

    pub(crate) fn failure(&self) {
        let mut s = self.state.lock();
        s.1 = s.1.saturating_add(1);
        let open = match s.0 {
            Phase::Closed => s.1 >= FAILURE_THRESHOLD,
            Phase::HalfOpen => true,
            Phase::Open { .. } => false,
        };
        if open {
            tracing::warn!(failures = s.1, cool_down = ?COOL_DOWN, "redis failing: circuit open");
            s.0 = Phase::Open {
                until: Instant::now() + COOL_DOWN,
            };
        }
    }

    /// Lets the next operation probe at once.
    pub(crate) fn probe_now(&self) {
        let mut s = self.state.lock();
        if let Phase::Open { .. } = s.0 {
            s.0 = Phase::Open {
                until: Instant::now(),
            };
        }
    }

    pub(crate) fn state(&self) -> CircuitState {
        match self.state.lock().0 {
            Phase::Closed => CircuitState::Closed,
            Phase::Open { .. } => CircuitState::Open,
            Phase::HalfOpen => CircuitState::HalfOpen,
        }
    }
}

impl Breaker {
    pub(crate) fn new() -> Self {
        Self {
            state: Mutex::new((Phase::Closed, 0)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn breaker_opens_after_repeated_failures_and_probes_once() {
        let b = Breaker::new();
        for _ in 0..FAILURE_THRESHOLD - 1 {
            assert!(b.admit());
            b.failure();
        }
        assert_eq!(b.state(), CircuitState::Closed);
        b.failure();
        assert_eq!(b.state(), CircuitState::Open);
        assert!(!b.admit());
        b.probe_now();
        assert!(b.admit(), "one probe");
        assert!(!b.admit(), "only one");
        assert_eq!(b.state(), CircuitState::HalfOpen);
        b.failure();
        assert_eq!(b.state(), CircuitState::Open);
        b.probe_now();
        assert!(b.admit());
        b.success();
        assert_eq!(b.state(), CircuitState::Closed);
        assert!(b.admit());
    }
}
