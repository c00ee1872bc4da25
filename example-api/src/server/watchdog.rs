//! The watchdog's view of a connection: when a request head is due, when an idle
//! connection is closed, and how shutdown shortens both.

use std::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, Ordering};
use std::time::Duration;

use tokio::time::Instant;

/// How long, once shutdown began, a connection with no request in progress stays open
/// for a request that may already be on its way (it is answered with `Connection: close`).
pub const DRAIN_GRACE: Duration = Duration::from_secs(1);

#[derive(Debug, Clone, Copy)]
pub(super) struct Timeouts {
    pub(super) header_read: Duration,
    pub(super) keep_alive: Duration,
}

/// Why a connection is closed by its watchdog.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Expiry {
    /// A request head did not arrive complete in time.
    Head,
    /// No request began in time on a kept-alive connection (or during shutdown).
    Idle,
}

/// What a connection is doing, as its watchdog sees it. Updated by the I/O wrapper (bytes
/// arrived) and the service wrapper (a request began or was answered).
#[derive(Debug)]
pub(super) struct Activity {
    base: Instant,
    in_flight: AtomicU32,
    requests: AtomicU64,
    /// Bytes arrived since the connection went idle (or opened): a head is on its way.
    head_started: AtomicBool,
    /// When the current phase (opened, idle, head started) began, in ms after `base`.
    phase_ms: AtomicU64,
    pub(super) h2: AtomicBool,
}

impl Activity {
    pub(super) fn new() -> Self {
        Self {
            base: Instant::now(),
            in_flight: AtomicU32::new(0),
            requests: AtomicU64::new(0),
            head_started: AtomicBool::new(false),
            phase_ms: AtomicU64::new(0),
            h2: AtomicBool::new(false),
        }
    }

    fn now_ms(&self) -> u64 {
        u64::try_from(self.base.elapsed().as_millis()).unwrap_or(u64::MAX)
    }

    pub(super) fn bytes_read(&self) {
        if self.in_flight.load(Ordering::Acquire) == 0
            && !self.head_started.swap(true, Ordering::AcqRel)
            && self.requests.load(Ordering::Acquire) > 0
        {
            // A kept-alive connection's next head: timed from its first byte. (A new
            // connection's first head is timed from the accept.)
            self.phase_ms.store(self.now_ms(), Ordering::Release);
        }
    }

    pub(super) fn request_started(&self, h2: bool) {
        self.in_flight.fetch_add(1, Ordering::AcqRel);
        self.requests.fetch_add(1, Ordering::AcqRel);
        self.head_started.store(false, Ordering::Release);
        if h2 {
            self.h2.store(true, Ordering::Release);
        }
    }

    pub(super) fn request_finished(&self) {
        if self.in_flight.fetch_sub(1, Ordering::AcqRel) == 1 {
            self.phase_ms.store(self.now_ms(), Ordering::Release);
            self.head_started.store(false, Ordering::Release);
        }
    }

    /// When the connection must be closed if nothing changes, and why; `None` while a
    /// request is in flight.
    pub(super) fn deadline(
        &self,
        t: Timeouts,
        drain: Option<Instant>,
    ) -> Option<(Instant, Expiry)> {
        if self.in_flight.load(Ordering::Acquire) > 0 {
            return None;
        }
        let since = self.base + Duration::from_millis(self.phase_ms.load(Ordering::Acquire));
        let head = self.head_started.load(Ordering::Acquire);
        let (limit, why) = if head || self.requests.load(Ordering::Acquire) == 0 {
            (t.header_read, Expiry::Head)
        } else {
            (t.keep_alive, Expiry::Idle)
        };
        let at = since + limit;
        match drain {
            Some(start) if !head && start + DRAIN_GRACE < at => {
                Some((start + DRAIN_GRACE, Expiry::Idle))
            }
            _ => Some((at, why)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const T: Timeouts = Timeouts {
        header_read: Duration::from_secs(10),
        keep_alive: Duration::from_secs(60),
    };

    #[tokio::test(start_paused = true)]
    async fn the_watchdog_times_heads_and_idle_periods() {
        let a = Activity::new();
        let opened = a.base;
        // A new connection: its first head is due within the header-read timeout.
        assert_eq!(
            a.deadline(T, None),
            Some((opened + T.header_read, Expiry::Head))
        );
        tokio::time::advance(Duration::from_secs(3)).await;
        a.bytes_read();
        assert_eq!(
            a.deadline(T, None),
            Some((opened + T.header_read, Expiry::Head)),
            "bytes of the first head do not restart its clock"
        );
        a.request_started(false);
        assert_eq!(a.deadline(T, None), None, "in flight: no deadline");
        tokio::time::advance(Duration::from_secs(20)).await;
        a.request_finished();
        let idle = Instant::now();
        assert_eq!(
            a.deadline(T, None),
            Some((idle + T.keep_alive, Expiry::Idle))
        );
        tokio::time::advance(Duration::from_secs(30)).await;
        a.bytes_read();
        let head = Instant::now();
        assert_eq!(
            a.deadline(T, None),
            Some((head + T.header_read, Expiry::Head))
        );
        // Shutdown: an idle connection gets the grace, one reading a head its timeout.
        let drain = Instant::now();
        assert_eq!(
            a.deadline(T, Some(drain)),
            Some((head + T.header_read, Expiry::Head))
        );
        a.request_started(false);
        a.request_finished();
        assert_eq!(
            a.deadline(T, Some(drain)),
            Some((drain + DRAIN_GRACE, Expiry::Idle))
        );
    }
}
