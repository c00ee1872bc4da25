//! What one phase measured from the client side.

use std::time::Instant;

use hdrhistogram::Histogram;

/// What one phase measured from the client side.
#[derive(Debug)]
pub(crate) struct PhaseStats {
    /// Requests sent to the fleet.
    pub(crate) requests: u64,
    /// Answers with another status than the one asked for (5xx included).
    pub(crate) unexpected: u64,
    /// Of those, 5xx.
    pub(crate) server_errors: u64,
    /// Requests that got no answer (connection refused or reset, timeout).
    pub(crate) socket_errors: u64,
    /// Answers compared with the reference.
    pub(crate) checked: u64,
    /// Compared answers that differed, or instances that never served a new value.
    pub(crate) wrong: u64,
    /// Checks skipped because the reference stayed overloaded or unreachable for 5 s.
    pub(crate) reference_unavailable: u64,
    /// Latency of answered requests, in microseconds.
    pub(crate) latency: Histogram<u64>,
    /// Delay from an invalidation's answer until a request sent to an instance gets the
    /// new value, in microseconds (one sample per invalidation and instance; the
    /// instances are polled every 2 ms, and the delay is to the start of the first
    /// request that got it, so a slow answer does not count as staleness).
    pub(crate) staleness: Histogram<u64>,
    /// Instances that did not serve the new value within the convergence limit.
    pub(crate) not_converged: u64,
    /// When the Redis probe saw a value computed by another instance (an L2 hit).
    pub l2_probe_hits: Vec<Instant>,
    /// The first few failures, for the report.
    pub(crate) examples: Vec<String>,
}

impl PhaseStats {
    /// Empty figures.
    pub(crate) fn new() -> Self {
        let hist = || Histogram::new_with_bounds(1, 120_000_000, 3).expect("valid bounds");
        Self {
            requests: 0,
            unexpected: 0,
            server_errors: 0,
            socket_errors: 0,
            checked: 0,
            wrong: 0,
            reference_unavailable: 0,
            latency: hist(),
            staleness: hist(),
            not_converged: 0,
            l2_probe_hits: Vec::new(),
            examples: Vec::new(),
        }
    }

    pub(super) fn example(&mut self, what: String) {
        if self.examples.len() < 8 {
            self.examples.push(what);
        }
    }
}
