//! The remote tier when it is on (feature `redis` and a URL): the Redis thread, the
//! connection, the backplane, and every operation the orchestrator asks of them.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Weak};
use std::time::Duration;

use parking_lot::RwLock;
use tokio::runtime::Handle;

use super::breaker::Breaker;
use super::conn::{Fence, Pending, Shared, Target, Totals, connect};
use super::envelope::envelope;
use super::keys::Keys;
use super::lock::RELEASE;
use super::message::{Message, Subscriber};
use super::options::Config;
use super::recovery::{Bump, Keyed, KeyedOp, PendingWrite, Recovery};
use super::replay::{push_bump, push_delete};
use super::types::{Fail, Locked, Read, Write, unix_ms};
use crate::stats::{L2Stats, RuntimeStats};

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
        let instance = fastrand::u64(..);
        let shared = Arc::new(Shared {
            keys: Keys::new(namespace, cluster),
            instance,
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
            recovery: Recovery::new(config.recovery, instance),
            wake: tokio::sync::Notify::new(),
        });
        handle.spawn(connect(Arc::clone(&shared)));
        handle.spawn(super::replay::recover(Arc::clone(&shared)));
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

    /// Reads many entries of one cache in one round trip (see `read.rs`), run as
    /// [`read`](Self::read) runs.
    pub(crate) async fn read_many(&self, keys: Vec<String>, cache: &str) -> Vec<Read> {
        let n = keys.len();
        let task = Arc::clone(&self.shared).read_many(keys, cache.to_owned());
        if Handle::try_current().is_ok() {
            return task.await;
        }
        self.handle
            .spawn(task)
            .await
            .unwrap_or_else(|_| (0..n).map(|_| Read::Failed(Fail::Error)).collect())
    }

    /// Takes the `lock = true` lock of entry `key`, or waits for its holder's value.
    pub(crate) async fn lock(&self, key: String, cache: &str, tags: &[String]) -> Locked {
        let task = Arc::clone(&self.shared).lock(key, cache.to_owned(), tags.to_vec());
        self.handle.spawn(task).await.unwrap_or(Locked::Unlocked)
    }

    /// Writes an entry and announces it, in the background, releasing its lock in the same
    /// pipeline after the value is set; `done` learns the result. A write that does not
    /// land goes to the recovery queue (one whose generations could not be read goes there
    /// at once).
    pub(crate) fn write(&self, w: Write, done: impl FnOnce(Result<(), Fail>) + Send + 'static) {
        let mut done = Some(done);
        self.write_many(vec![w], move |r| {
            if let Some(done) = done.take() {
                done(r);
            }
        });
    }

    /// Writes entries and announces them, in the background and in ONE pipeline (a batch's
    /// new records: all of one cache, so of one slot in a cluster), each sealed and kept
    /// as [`write`](Self::write) seals and keeps one: `done` learns each record's result,
    /// and the records of a pipeline that does not land go to the recovery queue, where
    /// each is judged on its own (the latest write of a key wins, a newer delete is kept).
    pub(crate) fn write_many(
        &self,
        writes: Vec<Write>,
        mut done: impl FnMut(Result<(), Fail>) + Send + 'static,
    ) {
        let shared = Arc::clone(&self.shared);
        let created = unix_ms();
        let mut batch = Vec::with_capacity(writes.len());
        for w in writes {
            let (cache, pending, announce) = pending_of(&shared, w, created);
            if pending.stamp.known {
                batch.push((cache, pending, announce));
            } else {
                let key = pending.stamp.key.clone();
                shared.keep(key, keyed(pending, cache, announce));
                done(Err(Fail::Skipped));
            }
        }
        if batch.is_empty() {
            return;
        }
        let guard = Pending::begin(&shared);
        self.handle.spawn(async move {
            let _pending = guard;
            let mut pipe = redis::pipe();
            let mut sealed = Vec::with_capacity(batch.len());
            for (cache, p, announce) in batch {
                if seal_into(&shared, &mut pipe, &cache, &p, created) {
                    sealed.push((cache, p, announce));
                } else {
                    // Not written, nor kept (its lock, if any, is released all the same).
                    done(Err(Fail::Skipped));
                }
            }
            if sealed.is_empty() {
                if !pipe.is_empty() {
                    let _ = shared.run_announced(true, pipe, None).await;
                }
                return;
            }
            let messages = sealed.iter().map(|(_, _, a)| a.clone()).collect::<Vec<_>>();
            let r = shared.run_announced(true, pipe, messages).await;
            match r {
                Ok(()) => {
                    let n = sealed.len() as u64;
                    shared.totals.sent.fetch_add(n, Ordering::Relaxed);
                    sealed.iter().for_each(|_| done(r));
                }
                Err(_) => {
                    for (cache, pending, announce) in sealed {
                        let key = pending.stamp.key.clone();
                        shared.keep(key, keyed(pending, cache, announce));
                        done(r);
                    }
                }
            }
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

    /// Runs an invalidation in the background: the bump of `counter` and/or tombstones
    /// for `keys` (`replay.rs`: they make a later replay of an older write lose), then the
    /// announcement. Until it has landed this instance reads no Redis (the fence, then the
    /// recovery queue). One try; if Redis does not answer, the invalidation goes to the
    /// recovery queue, which replays it as soon as Redis answers, and in a cluster the
    /// announcement also goes out at once through any node. A counter that is not an
    /// integer is replaced by the time of the invalidation, which invalidates just as well.
    fn invalidation(&self, counter: Option<String>, keys: Vec<String>, announce: Option<Message>) {
        let shared = Arc::clone(&self.shared);
        let fence = Fence::raise(&shared);
        let cache = match &announce {
            Some(Message::Key { name, .. } | Message::All { name }) => name.clone(),
            _ => String::new(),
        };
        let announce = announce.map(|m| m.encode(shared.instance));
        let at_ms = unix_ms();
        self.handle.spawn(async move {
            let _fence = fence;
            let mut pipe = redis::pipe();
            if let Some(c) = &counter {
                push_bump(&mut pipe, c, 1, at_ms);
            }
            for key in &keys {
                push_delete(&mut pipe, key, at_ms);
            }
            let r = if pipe.is_empty() {
                Ok(Vec::new())
            } else {
                shared
                    .run(false, |mut conn| async move {
                        pipe.query_async::<Vec<i64>>(&mut conn).await
                    })
                    .await
            };
            match r {
                Ok(replies) => {
                    if counter.is_some() && replies.first() == Some(&1) {
                        shared.totals.repaired.fetch_add(1, Ordering::Relaxed);
                        tracing::warn!(counter = ?counter, "a generation in redis was not an integer: reset");
                    }
                    if let Some(msg) = announce {
                        shared.announce_or_keep(msg).await;
                    }
                }
                Err(_) => {
                    // In a cluster the other nodes usually still answer (a master is down
                    // or failing over): announce now, so that the other instances drop
                    // their copies at once instead of serving them until the failover
                    // ends. The replay announces again once the invalidation has landed,
                    // which drops whatever they read in between.
                    if shared.cluster()
                        && let Some(msg) = &announce
                        && shared.announce_anywhere(msg.clone()).await.is_ok()
                    {
                        shared.totals.sent.fetch_add(1, Ordering::Relaxed);
                    }
                    let delete = || KeyedOp::Delete { at_ms };
                    shared.keep_each(keys, delete, &cache, announce.as_ref());
                    if let Some(counter) = counter {
                        let bump = Bump {
                            counter,
                            step: 1,
                            at_ms,
                            announce: announce.clone(),
                        };
                        shared.queue_changed(shared.recovery.keep_bump(bump));
                    } else if let Some(msg) = announce {
                        // Nothing named in Redis: the announcement is all there is.
                        shared.queue_changed(shared.recovery.keep_announce(msg));
                    }
                }
            }
        });
    }

    /// Where a `put`'s value goes when Redis could not be read for its generations.
    pub(crate) fn unstamped(&self, key: String, tags: &[String]) -> super::envelope::Stamp {
        super::envelope::Stamp::unknown(key, tags)
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
    /// releases) is done and the recovery queue is empty, for at most `deadline`; how many
    /// operations are still waiting in the queue (0: all landed), or in flight (1 when
    /// only first tries are left).
    pub(crate) async fn flush(&self, deadline: Duration) -> u64 {
        self.wait_until(
            deadline,
            |s| &s.settled,
            |s| s.pending.load(Ordering::SeqCst) == 0 && s.recovery.pending() == 0,
        )
        .await;
        let queued = self.shared.recovery.pending();
        let in_flight = self.shared.pending.load(Ordering::SeqCst);
        queued.max(u64::from(in_flight > 0))
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

    /// How many operations Redis answered (a pipeline counts once).
    pub(crate) fn round_trips(&self) -> u64 {
        self.shared.totals.ops.load(Ordering::Relaxed)
    }

    /// Puts the runtime-wide figures of the remote tier into `stats`.
    pub(crate) fn fill_stats(&self, stats: &mut RuntimeStats) {
        let c = &self.shared.totals;
        let r = &self.shared.recovery;
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
            recovery_pending: r.pending(),
            recovery_bytes: r.bytes(),
            recovery_replayed: r.replayed.load(Ordering::Relaxed),
            recovery_superseded: r.superseded.load(Ordering::Relaxed),
            recovery_overflowed: r.overflowed.load(Ordering::Relaxed),
        });
    }
}

/// A write as it is sent or kept: its cache, the write, and its announcement.
fn pending_of(shared: &Shared, w: Write, created: u64) -> (String, PendingWrite, Vec<u8>) {
    let lock = w.lock.map(super::lock::LockGuard::disarm);
    let announce = Message::Write {
        name: w.cache.clone(),
        version: w.version,
        key: w.key,
    }
    .encode(shared.instance);
    let pending = PendingWrite {
        stamp: w.stamp,
        created_ms: created,
        ttl: w.ttl,
        stale: w.stale,
        body: w.body,
        lock,
    };
    (w.cache, pending, announce)
}

/// Adds a write's `SET` (sealed for its cache) and its lock's release to `pipe`; false
/// when it cannot be sealed (encryption on without a signing key): only the release is
/// added.
fn seal_into(
    shared: &Shared,
    pipe: &mut redis::Pipeline,
    cache: &str,
    p: &PendingWrite,
    created: u64,
) -> bool {
    let sealing = shared.protection.for_cache(cache);
    let sealed = match envelope(&p.stamp, created, p.ttl, p.stale, &p.body, sealing) {
        Ok(bytes) => {
            let px = p.until_ms().saturating_sub(created).max(1);
            pipe.cmd("SET")
                .arg(&p.stamp.key)
                .arg(bytes)
                .arg("PX")
                .arg(px)
                .ignore();
            true
        }
        Err(e) => {
            tracing::error!(cache, error = ?e, "encryption is on and the runtime has no signing key: the value stays in process");
            false
        }
    };
    if let Some((key, token)) = &p.lock {
        pipe.cmd("EVAL")
            .arg(RELEASE)
            .arg(1)
            .arg(key)
            .arg(token)
            .ignore();
    }
    sealed
}

/// A write kept for the recovery queue.
fn keyed(w: PendingWrite, cache: String, announce: Vec<u8>) -> Keyed {
    Keyed {
        op: KeyedOp::Write(Box::new(w)),
        cache,
        announce: Some(announce),
    }
}
