//! The circuit breaker shared by every operation of one remote tier.
//!
//! Two kinds of failure open it, judged differently:
//!
//! - **Errors** (a refused or broken connection, an error reply): [`FAILURE_THRESHOLD`]
//!   consecutive ones open the circuit. Redis itself is failing.
//! - **Timeouts**: a late answer is as often this process's fault (CPU starvation, a
//!   stalled executor) as Redis's, so a run of them among successes must not switch Redis
//!   off. They open the circuit only when, within a window of [`WINDOW`], at least
//!   [`TIMEOUT_THRESHOLD`] operations timed out *and* they are at least half of all the
//!   operations of that window and the one before it (so the judgement slides): a frozen Redis (every operation late) opens it within a few
//!   deadlines, a loaded client whose operations mostly succeed does not.
//!
//! An open circuit skips Redis for [`COOL_DOWN`]; then one operation goes through as a
//! probe: success closes the circuit, any failure opens it for another cool-down.
//! Malformed data under one cache's keys is not a failure of Redis and never counts here,
//! so one cache's bad bytes cannot switch the remote tier off for the others.

use std::time::{Duration, Instant};

use parking_lot::Mutex;

use crate::stats::CircuitState;

/// Consecutive errors that open the circuit.
pub(crate) const FAILURE_THRESHOLD: u32 = 5;
/// Timeouts within one window that may open the circuit (if they are half of its
/// operations or more).
pub(crate) const TIMEOUT_THRESHOLD: u32 = 8;
/// The window over which timeouts are weighed against all operations.
pub(crate) const WINDOW: Duration = Duration::from_secs(2);
/// How long an open circuit skips Redis before it lets a probe through.
pub(crate) const COOL_DOWN: Duration = Duration::from_secs(2);

#[derive(Debug, Clone, Copy)]
enum Phase {
    Closed,
    Open { until: Instant },
    HalfOpen,
}

struct State {
    phase: Phase,
    /// Errors since the last success.
    errors: u32,
    /// The current timeout window: when it began, its operations and its timeouts.
    window: Instant,
    ops: u32,
    timeouts: u32,
    /// The previous window's operations and timeouts, so that the judgement slides: a
    /// burst of late answers at the start of a window is weighed against the successes
    /// just before it.
    prev_ops: u32,
    prev_timeouts: u32,
}

/// See the module docs.
pub(crate) struct Breaker {
    state: Mutex<State>,
}

impl State {
    /// Counts one operation in the timeout window, starting a new one when it is over.
    fn count(&mut self, now: Instant, timed_out: bool) {
        let age = now.duration_since(self.window);
        if age >= WINDOW {
            (self.prev_ops, self.prev_timeouts) = if age < WINDOW * 2 {
                (self.ops, self.timeouts)
            } else {
                (0, 0)
            };
            self.window = now;
            self.ops = 0;
            self.timeouts = 0;
        }
        self.ops = self.ops.saturating_add(1);
        if timed_out {
            self.timeouts = self.timeouts.saturating_add(1);
        }
    }

    fn open(&mut self, now: Instant, why: &str) {
        tracing::warn!(
            errors = self.errors,
            timeouts = self.timeouts,
            operations = self.ops,
            cool_down = ?COOL_DOWN,
            "redis failing ({why}): circuit open"
        );
        self.phase = Phase::Open {
            until: now + COOL_DOWN,
        };
    }
}

impl Breaker {
    pub(crate) fn new() -> Self {
        Self {
            state: Mutex::new(State {
                phase: Phase::Closed,
                errors: 0,
                window: Instant::now(),
                ops: 0,
                timeouts: 0,
                prev_ops: 0,
                prev_timeouts: 0,
            }),
        }
    }

    /// Whether an operation may go to Redis now.
    pub(crate) fn admit(&self) -> bool {
        let mut s = self.state.lock();
        match s.phase {
            Phase::Closed => true,
            Phase::HalfOpen => false,
            Phase::Open { until } => {
                if Instant::now() >= until {
                    s.phase = Phase::HalfOpen;
                    true
                } else {
                    false
                }
            }
        }
    }

    pub(crate) fn success(&self) {
        let mut s = self.state.lock();
        if !matches!(s.phase, Phase::Closed) {
            tracing::info!("redis answers again: circuit closed");
            (s.ops, s.timeouts, s.prev_ops, s.prev_timeouts) = (0, 0, 0, 0);
        }
        s.phase = Phase::Closed;
        s.errors = 0;
        s.count(Instant::now(), false);
    }

    /// An error: Redis refused, broke the connection, or answered with an error.
    pub(crate) fn failure(&self) {
        let now = Instant::now();
        let mut s = self.state.lock();
        s.errors = s.errors.saturating_add(1);
        s.count(now, false);
        match s.phase {
            Phase::Closed if s.errors >= FAILURE_THRESHOLD => s.open(now, "errors"),
            Phase::HalfOpen => s.open(now, "the probe failed"),
            _ => {}
        }
    }

    /// No answer within the deadline.
    pub(crate) fn timeout(&self) {
        let now = Instant::now();
        let mut s = self.state.lock();
        s.count(now, true);
        match s.phase {
            Phase::Closed
                if s.timeouts >= TIMEOUT_THRESHOLD
                    && (s.timeouts + s.prev_timeouts) * 2 >= s.ops + s.prev_ops =>
            {
                s.open(now, "timeouts");
            }
            Phase::HalfOpen => s.open(now, "the probe timed out"),
            _ => {}
        }
    }

    /// Lets the next operation probe at once.
    pub(crate) fn probe_now(&self) {
        let mut s = self.state.lock();
        if let Phase::Open { .. } = s.phase {
            s.phase = Phase::Open {
                until: Instant::now(),
            };
        }
    }

    pub(crate) fn state(&self) -> CircuitState {
        match self.state.lock().phase {
            Phase::Closed => CircuitState::Closed,
            Phase::Open { .. } => CircuitState::Open,
            Phase::HalfOpen => CircuitState::HalfOpen,
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

    #[test]
    fn timeouts_among_successes_keep_the_circuit_closed() {
        // A loaded client: runs of up to six late answers, most operations fine.
        let b = Breaker::new();
        for round in 0..50 {
            for _ in 0..(round % 7) {
                b.timeout();
            }
            for _ in 0..8 {
                b.success();
            }
            assert_eq!(b.state(), CircuitState::Closed, "round {round}");
        }
    }

    #[test]
    fn a_burst_of_timeouts_after_a_busy_window_keeps_the_circuit_closed() {
        let b = Breaker::new();
        for _ in 0..100 {
            b.success();
        }
        // The window rolls over; a burst of late answers opens the new one.
        b.state.lock().window -= WINDOW;
        for _ in 0..TIMEOUT_THRESHOLD * 2 {
            b.timeout();
        }
        assert_eq!(b.state(), CircuitState::Closed);
    }

    #[test]
    fn a_frozen_redis_opens_the_circuit_after_a_few_timeouts() {
        let b = Breaker::new();
        for _ in 0..20 {
            b.success();
        }
        let mut late = 0;
        while b.state() == CircuitState::Closed {
            assert!(b.admit());
            b.timeout();
            late += 1;
            assert!(late <= 40, "never opened");
        }
        // At least the threshold, and at least as many as the successes before them.
        assert_eq!(late, 20);
        let b = Breaker::new();
        for _ in 0..TIMEOUT_THRESHOLD {
            b.timeout();
        }
        assert_eq!(b.state(), CircuitState::Open);
        b.probe_now();
        assert!(b.admit());
        b.timeout();
        assert_eq!(b.state(), CircuitState::Open, "a late probe opens it again");
    }
}
