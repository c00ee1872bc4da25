//! The remote tier when it is on (feature `redis` and a URL): the Redis thread, the
//! connection, the backplane, and every operation the orchestrator asks of them.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Weak};
use std::time::Duration;

use parking_lot::RwLock;
use redis::Value;
use tokio::runtime::Handle;

use super::breaker::Breaker;
use super::conn::{Fence, Pending, Shared, Target, Totals, connect};
use super::envelope::envelope;
use super::keys::Keys;
use super::lock::RELEASE;
use super::message::{Message, Subscriber};
use super::options::Config;
use super::types::{Fail, Locked, Read, Write, unix_ms};
use crate::stats::{L2Stats, RuntimeStats};

/// How long an invalidation keeps trying to reach Redis (the instance reads no Redis
/// meanwhile, so it never reads back what it invalidated).
const INVALIDATION_PATIENCE: Duration = Duration::from_secs(30);
/// Longest pause between two tries of an invalidation that did not reach Redis (the
/// first is 50 ms, doubling): it lands at most about this long after Redis is back.
const INVALIDATION_RETRY_CAP: Duration = Duration::from_millis(200);

/// The remote tier of one runtime: the Redis thread and what its tasks share. Dropping it
/// stops the thread.
pub(crate) struct On {
    pub(super) shared: Arc<Shared>,
    handle: Handle,
    _stop: tokio::sync::oneshot::Sender<()>,
}

impl On {
    /// Starts the Redis thread, the connection and the backplane; `None` (logged) when the
    /// URL is invalid or the thread cannot start, and the runtime is then local only.
    pub(crate) fn start(
        config: &Config,
        namespace: &str,
        subscriber: Weak<dyn Subscriber>,
    ) -> Option<Self> {
        let target = match Target::open(config.url.as_str()) {
            Ok(t) => t,
            Err(e) => {
                tracing::error!(error = %e, "invalid redis url: the remote tier is off");
                return None;
            }
        };
        let rt = match tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
        {
            Ok(rt) => rt,
            Err(e) => {
                tracing::error!(error = %e, "could not build the redis runtime: the remote tier is off");
                return None;
            }
        };
        let handle = rt.handle().clone();
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let thread = std::thread::Builder::new()
            .name("cache-redis".into())
            .spawn(move || {
                rt.block_on(async move {
                    let _ = stopped.await;
                });
                rt.shutdown_background();
            });
        if let Err(e) = thread {
            tracing::error!(error = %e, "could not start the redis thread: the remote tier is off");
            return None;
        }
        let cluster = matches!(target, Target::Cluster { .. });
        let shared = Arc::new(Shared {
            keys: Keys::new(namespace, cluster),
            instance: fastrand::u64(..),
            deadline: config.deadline,
            target,
            conn: RwLock::new(None),
            breaker: Breaker::new(),
            totals: Totals::default(),
            fence: AtomicU64::new(0),
            pending: AtomicU64::new(0),
            settled: event_listener::Event::new(),
            lock_ttl: config.lock_ttl.max(Duration::from_millis(1)),
            written: event_listener::Event::new(),
            live: AtomicBool::new(false),
            became_live: event_listener::Event::new(),
            protection: config.protection.clone(),
            timer: handle.clone(),
        });
        handle.spawn(connect(Arc::clone(&shared)));
        handle.spawn(super::backplane::listen(Arc::clone(&shared), subscriber));
        Some(Self {
            shared,
            handle,
            _stop: stop,
        })
    }

    /// The Redis key of an entry of `cache` whose [`CacheKey`](crate::CacheKey) displays as
    /// `display`.
    pub(crate) fn entry_key(&self, cache: &str, display: String) -> String {
        self.shared.keys.entry(cache, display)
    }

    /// Reads `key` (or, with `value` false, only the generations). A caller on a tokio
    /// runtime runs the read itself: the connection's driver stays on the Redis thread, so
    /// the read only sends on its channel and awaits the reply, without a task spawned on
    /// the Redis thread and woken back (two hand-offs per read, and a third busy thread
    /// on a small machine). A caller without a runtime hands the read to the Redis thread.
    /// Either way the deadline is timed on the Redis thread's timer.
    pub(crate) async fn read(
        &self,
        key: String,
        cache: &str,
        tags: &[String],
        value: bool,
    ) -> Read {
        let task = Arc::clone(&self.shared).read(key, cache.to_owned(), tags.to_vec(), value);
        if Handle::try_current().is_ok() {
            return task.await;
        }
        self.handle
            .spawn(task)
            .await
            .unwrap_or(Read::Failed(Fail::Error))
    }

    /// Takes the `lock = true` lock of entry `key`, or waits for its holder's value.
    pub(crate) async fn lock(&self, key: String, cache: &str, tags: &[String]) -> Locked {
        let task = Arc::clone(&self.shared).lock(key, cache.to_owned(), tags.to_vec());
        self.handle.spawn(task).await.unwrap_or(Locked::Unlocked)
    }

    /// Writes an entry and announces it, in the background, releasing its lock in the same
    /// pipeline after the value is set; `done` learns the result.
    pub(crate) fn write(&self, w: Write, done: impl FnOnce(Result<(), Fail>) + Send + 'static) {
        let shared = Arc::clone(&self.shared);
        let created = unix_ms();
        let lock = w.lock.map(super::lock::LockGuard::disarm);
        let announce = Message::Write {
            name: w.cache.clone(),
            version: w.version,
            key: w.key,
        }
        .encode(shared.instance);
        let pending = Pending::begin(&shared);
        self.handle.spawn(async move {
            let _pending = pending;
            let sealing = shared.protection.for_cache(&w.cache);
            let sealed = envelope(&w.stamp, created, w.ttl, w.stale, &w.body, sealing);
            drop(w.body);
            let px = w
                .ttl
                .saturating_add(w.stale)
                .as_millis()
                .clamp(1, u128::from(u64::MAX)) as u64;
            let mut pipe = redis::pipe();
            let announce = match sealed {
                Ok(bytes) => {
                    pipe.cmd("SET")
                        .arg(&w.stamp.key)
                        .arg(bytes)
                        .arg("PX")
                        .arg(px)
                        .ignore();
                    Some(announce)
                }
                Err(e) => {
                    tracing::error!(cache = w.cache, error = ?e, "encryption is on and the runtime has no signing key: the value stays in process");
                    None
                }
            };
            if let Some((key, token)) = &lock {
                pipe.cmd("EVAL")
                    .arg(RELEASE)
                    .arg(1)
                    .arg(key)
                    .arg(token)
                    .ignore();
            }
            let written = announce.is_some();
            let r = if pipe.is_empty() {
                Err(Fail::Skipped)
            } else {
                shared.run_announced(true, pipe, announce).await
            };
            let r = match r {
                Ok(()) if !written => Err(Fail::Skipped),
                r => r,
            };
            if r.is_ok() {
                shared.totals.sent.fetch_add(1, Ordering::Relaxed);
            }
            done(r);
        });
    }

    /// `invalidate(name, key)`: deletes `keys` (the Redis copies this instance can name) and
    /// tells the other instances, which drop theirs (and delete what they can name).
    pub(crate) fn invalidate_key(&self, cache: &str, key: &[u8], keys: Vec<String>) {
        let announce = Message::Key {
            name: cache.to_owned(),
            key: key.to_vec(),
            deleted: !keys.is_empty(),
        };
        self.delete(keys, Some(announce));
    }

    /// Deletes Redis copies named after another instance's announcement, without
    /// announcing again.
    pub(crate) fn forget(&self, keys: Vec<String>) {
        if !keys.is_empty() {
            self.delete(keys, None);
        }
    }

    fn delete(&self, keys: Vec<String>, announce: Option<Message>) {
        self.invalidation(None, keys, announce);
    }

    /// `invalidate_all(name)`: increments the cache's generation, and announces it.
    pub(crate) fn invalidate_all(&self, cache: &str) {
        let counter = self.shared.keys.generation(cache);
        let msg = Message::All {
            name: cache.to_owned(),
        };
        self.invalidation(Some(counter), Vec::new(), Some(msg));
    }

    /// `invalidate_tag(tag)`: increments the tag's generation, and announces it.
    pub(crate) fn invalidate_tag(&self, tag: &str) {
        let counter = self.shared.keys.tag(tag);
        let msg = Message::Tag {
            tag: tag.to_owned(),
        };
        self.invalidation(Some(counter), Vec::new(), Some(msg));
    }

    /// Runs an invalidation in the background: `INCR counter` and/or `DEL keys`, then the
    /// announcement. Until it has landed this instance reads no Redis (the fence), and it
    /// is retried while Redis cannot be reached, for up to [`INVALIDATION_PATIENCE`]; in a
    /// cluster the announcement also goes out ahead, through any node, as soon as a try
    /// fails. A
    /// counter that is not an integer is replaced by a fresh random generation, which
    /// invalidates just as well.
    fn invalidation(&self, counter: Option<String>, keys: Vec<String>, announce: Option<Message>) {
        let shared = Arc::clone(&self.shared);
        let fence = Fence::raise(&shared);
        let announce = announce.map(|m| m.encode(shared.instance));
        self.handle.spawn(async move {
            let _fence = fence;
            let started = tokio::time::Instant::now();
            let mut backoff = Duration::from_millis(50);
            let mut announced_ahead = false;
            loop {
                let r = shared
                    .run(false, |mut conn| {
                        let mut pipe = redis::pipe();
                        pipe.ignore_errors();
                        if let Some(c) = &counter {
                            pipe.cmd("INCR").arg(c);
                        }
                        if !keys.is_empty() {
                            pipe.cmd("DEL").arg(&keys).ignore();
                        }
                        let counter = counter.clone();
                        async move {
                            let replies: Vec<Value> = if pipe.is_empty() {
                                Vec::new()
                            } else {
                                pipe.query_async(&mut conn).await?
                            };
                            if let (Some(c), Some(Value::ServerError(_))) = (&counter, replies.first()) {
                                let mut set = redis::cmd("SET");
                                set.arg(c).arg(fastrand::u64(1 << 32..1 << 62));
                                set.query_async::<()>(&mut conn).await?;
                                return Ok(true);
                            }
                            Ok(false)
                        }
                    })
                    .await;
                match r {
                    Ok(repaired) => {
                        if repaired {
                            shared.totals.repaired.fetch_add(1, Ordering::Relaxed);
                            tracing::warn!(counter = ?counter, "a generation in redis was not an integer: reset");
                        }
                        break;
                    }
                    Err(f) if started.elapsed() >= INVALIDATION_PATIENCE => {
                        tracing::warn!(failure = ?f, "invalidation did not reach redis: its copy stays until it expires");
                        return;
                    }
                    Err(_) => {
                        // In a cluster the other nodes usually still answer (a master is
                        // down or failing over): announce now, so that the other instances
                        // drop their copies at once instead of serving them until the
                        // failover ends. Their reads of the same slot fail meanwhile, so
                        // they compute; the announcement after the landing below drops
                        // whatever they read between the promotion and the landing.
                        if !announced_ahead
                            && shared.cluster()
                            && let Some(msg) = &announce
                        {
                            announced_ahead = shared.announce_anywhere(msg.clone()).await.is_ok();
                            if announced_ahead {
                                shared.totals.sent.fetch_add(1, Ordering::Relaxed);
                            }
                        }
                        // Capped low: an invalidation lands (and this instance reads Redis
                        // again) at most this long after Redis is back, e.g. after a
                        // failover; one small pipeline per retry costs Redis nothing.
                        tokio::time::sleep(backoff).await;
                        backoff = (backoff * 2).min(INVALIDATION_RETRY_CAP);
                    }
                }
            }
            if let Some(msg) = announce {
                let r = shared
                    .run_announced(false, redis::pipe(), Some(msg))
                    .await;
                match r {
                    Ok(()) => {
                        shared.totals.sent.fetch_add(1, Ordering::Relaxed);
                    }
                    Err(f) => {
                        tracing::warn!(failure = ?f, "invalidation not announced: other instances keep their copies until they expire");
                    }
                }
            }
        });
    }

    /// Whether Redis is reachable now: the connection has been established and the
    /// backplane's subscription answered its last ping (sent every second).
    pub(crate) fn connected(&self) -> bool {
        self.shared.connected()
    }

    /// Waits until Redis is reachable, for at most `deadline`; whether it is.
    pub(crate) async fn ready(&self, deadline: Duration) -> bool {
        self.wait_until(deadline, |s| &s.became_live, Shared::connected)
            .await
    }

    /// Waits until every background operation begun so far (writes, invalidations, lock
    /// releases) is done, for at most `deadline`; whether they all are. Done means landed,
    /// or failed for good (an invalidation retries for up to 30 s while Redis is away).
    pub(crate) async fn flush(&self, deadline: Duration) -> bool {
        self.wait_until(
            deadline,
            |s| &s.settled,
            |s| s.pending.load(Ordering::SeqCst) == 0,
        )
        .await
    }

    /// Waits, on the Redis thread (so any async runtime may call it) and for at most
    /// `deadline`, until `holds`, rechecked whenever `event` is notified; whether it holds.
    async fn wait_until(
        &self,
        deadline: Duration,
        event: fn(&Shared) -> &event_listener::Event,
        holds: fn(&Shared) -> bool,
    ) -> bool {
        let shared = Arc::clone(&self.shared);
        let wait = async move {
            tokio::time::timeout(deadline, async {
                loop {
                    let listener = event(&shared).listen();
                    if holds(&shared) {
                        return;
                    }
                    listener.await;
                }
            })
            .await
            .is_ok()
        };
        self.handle.spawn(wait).await.unwrap_or(false)
    }

    /// Puts the runtime-wide figures of the remote tier into `stats`.
    pub(crate) fn fill_stats(&self, stats: &mut RuntimeStats) {
        let c = &self.shared.totals;
        let ops = c.ops.load(Ordering::Relaxed);
        stats.l2 = Some(L2Stats {
            connected: self.connected(),
            circuit: self.shared.breaker.state(),
            errors: c.errors.load(Ordering::Relaxed),
            timeouts: c.timeouts.load(Ordering::Relaxed),
            skipped: c.skipped.load(Ordering::Relaxed),
            repaired: c.repaired.load(Ordering::Relaxed),
            rejected: c.rejected.load(Ordering::Relaxed),
            mean_latency_ms: if ops == 0 {
                0.0
            } else {
                c.op_nanos.load(Ordering::Relaxed) as f64 / ops as f64 / 1e6
            },
            backplane_sent: c.sent.load(Ordering::Relaxed),
            backplane_received: c.received.load(Ordering::Relaxed),
            backplane_resubscribed: c.resubscribed.load(Ordering::Relaxed),
        });
    }
}
