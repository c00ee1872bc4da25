//! Everything the traffic needs, shared by its tasks, and the load balancer's rotation.

use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::Instant;

use reqwest::Client;
use tokio::sync::RwLock;

use super::call::{Call, Reply, send};
use super::stats::PhaseStats;

/// Everything the traffic needs, shared by its tasks.
#[derive(Debug)]
pub(crate) struct Ctx {
    /// The cached instances' base URLs.
    pub(crate) fleet: Vec<String>,
    /// Which of them the load balancer sends to.
    pub(crate) in_rotation: Vec<AtomicBool>,
    /// Requests in flight per instance (to drain one before it is killed).
    pub(crate) in_flight: Vec<AtomicUsize>,
    /// The `--no-cache` instance.
    pub(crate) reference: String,
    /// Demo users' bearer tokens.
    pub(crate) tokens: Vec<String>,
    /// The admin bearer token.
    pub(crate) admin_token: String,
    /// Channels in the database (ids 1..=channels).
    pub(crate) channels: i64,
    /// The shared database, for the changes that precede an invalidation.
    pub(crate) db: sqlx::SqlitePool,
    /// Held (shared) by a compared request, (exclusively) while the database changes and
    /// the fleet converges, so the checker never compares across a change.
    pub(crate) mutate: RwLock<()>,
    /// The HTTP client (a pool per instance).
    pub(crate) http: Client,
    /// The figures of the phase running now.
    pub(crate) stats: Mutex<PhaseStats>,
    /// Answers the load does not compare with the reference (the outage phase's, which
    /// its own check follows): `(path, bearer)`, a path also covering its `?query`
    /// variants, no bearer covering every caller.
    pub(super) unchecked: Mutex<Vec<(String, Option<String>)>>,
    /// Round robin over the instances in rotation.
    next: AtomicUsize,
}

impl Ctx {
    /// The shared context.
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn new(
        fleet: Vec<String>,
        reference: String,
        tokens: Vec<String>,
        admin_token: String,
        channels: i64,
        db: sqlx::SqlitePool,
        http: Client,
    ) -> Self {
        let n = fleet.len();
        Self {
            in_rotation: (0..n).map(|_| AtomicBool::new(true)).collect(),
            in_flight: (0..n).map(|_| AtomicUsize::new(0)).collect(),
            fleet,
            reference,
            tokens,
            admin_token,
            channels,
            db,
            mutate: RwLock::new(()),
            http,
            stats: Mutex::new(PhaseStats::new()),
            unchecked: Mutex::new(Vec::new()),
            next: AtomicUsize::new(0),
        }
    }

    pub(super) fn stats(&self) -> std::sync::MutexGuard<'_, PhaseStats> {
        // A panic while holding the lock only loses a figure; keep counting.
        self.stats.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Starts a new phase's figures and returns the previous phase's.
    pub(crate) fn take_stats(&self) -> PhaseStats {
        std::mem::replace(&mut *self.stats(), PhaseStats::new())
    }

    /// Whether the load leaves `call`'s answer unchecked (see [`Ctx::unchecked`]).
    pub(super) fn is_unchecked(&self, call: &Call) -> bool {
        let unchecked = self.unchecked.lock().unwrap_or_else(|e| e.into_inner());
        unchecked.iter().any(|(path, bearer)| {
            let same_path = call.path == *path
                || call
                    .path
                    .strip_prefix(path.as_str())
                    .is_some_and(|q| q.starts_with('?'));
            same_path && (bearer.is_none() || *bearer == call.bearer)
        })
    }

    /// The next instance in rotation (round robin), if any.
    pub(crate) fn pick(&self) -> Option<usize> {
        let n = self.fleet.len();
        let start = self.next.fetch_add(1, Ordering::Relaxed);
        (0..n)
            .map(|k| (start + k) % n)
            .find(|&i| self.in_rotation[i].load(Ordering::Acquire))
    }

    /// Instances in rotation now.
    pub(crate) fn serving(&self) -> Vec<usize> {
        (0..self.fleet.len())
            .filter(|&i| self.in_rotation[i].load(Ordering::Acquire))
            .collect()
    }

    /// Sends `call` to instance `i`, counting it; `None` on a socket error.
    pub(super) async fn fleet_call(&self, i: usize, route: &str, call: &Call) -> Option<Reply> {
        self.in_flight[i].fetch_add(1, Ordering::AcqRel);
        let started = Instant::now();
        let result = send(&self.http, &self.fleet[i], call).await;
        let took = started.elapsed();
        self.in_flight[i].fetch_sub(1, Ordering::AcqRel);
        let mut stats = self.stats();
        stats.requests += 1;
        match result {
            Ok(reply) => {
                let _ = stats.latency.record(took.as_micros().max(1) as u64);
                Some(reply)
            }
            Err(e) => {
                stats.socket_errors += 1;
                stats.example(format!(
                    "socket error: api-{} {route} {}: {e}",
                    i + 1,
                    call.path
                ));
                None
            }
        }
    }
}
