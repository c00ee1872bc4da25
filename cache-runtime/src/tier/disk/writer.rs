//! The disk tier's writer: a record is inserted into foyer's engine by a thread of the
//! tier's, not by the caller that computed it. foyer's insert costs the caller ~2 us at
//! p50 and up to ~100 us when its write buffer is busy; queuing a sealed record costs a
//! lock and a push. The thread takes the queued records one by one, in order, and once
//! the queue is empty lets it fill for a millisecond before it looks again, so a busy
//! service does not wake it once per record.
//!
//! Invalidations stay exact. A record is queued under its cache's store lock after the
//! same check as before (no invalidation of the cache or its tags since its computation
//! began), and a key's invalidation, after moving the cache's epoch under that lock,
//! removes the key from the disk under this writer's gate: records of the key still
//! queued are dropped from the queue, and the writer holds the gate from taking a record
//! to inserting it, so one it took is in the engine when the removal runs. A read after
//! the invalidation never finds the old record. The queue is bounded in bytes: a record
//! that finds it full is dropped and counted.

use std::collections::VecDeque;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Duration;

use parking_lot::Mutex;

use super::evict::Engine;

/// The most bytes of records waiting for the writer.
const MAX_QUEUED_BYTES: usize = 32 << 20;
/// How long the writer lets records gather after a batch.
const BATCH_PAUSE: Duration = Duration::from_millis(1);
/// How long an idle writer sleeps before it looks again (a push wakes it sooner).
const IDLE_PARK: Duration = Duration::from_millis(200);

/// One record to write: its key and sealed bytes.
pub(crate) struct Job {
    pub(crate) key: Vec<u8>,
    pub(crate) bytes: Vec<u8>,
}

#[derive(Default)]
struct Queue {
    jobs: VecDeque<Job>,
    bytes: usize,
}

struct Shared {
    queue: Mutex<Queue>,
    /// Held from taking a record off the queue to inserting it, and while a key is
    /// removed: so records land in the order queued, and a removal sees every record of
    /// its key either queued or inserted.
    gate: Mutex<()>,
    asleep: AtomicBool,
    stop: AtomicBool,
    /// Records dropped for a full queue, and records dropped by their key's removal.
    dropped: AtomicU64,
    skipped: AtomicU64,
}

/// The writer (see the module docs).
pub(crate) struct Writer {
    shared: Arc<Shared>,
    engine: Engine,
    handle: tokio::runtime::Handle,
    thread: Option<std::thread::Thread>,
}

impl Writer {
    /// Starts the writer's thread, inserting into `engine` inside `handle`'s runtime.
    pub(crate) fn start(engine: Engine, handle: tokio::runtime::Handle) -> Self {
        let shared = Arc::new(Shared {
            queue: Mutex::new(Queue::default()),
            gate: Mutex::new(()),
            asleep: AtomicBool::new(false),
            stop: AtomicBool::new(false),
            dropped: AtomicU64::new(0),
            skipped: AtomicU64::new(0),
        });
        let mut writer = Self {
            shared: Arc::clone(&shared),
            engine: engine.clone(),
            handle: handle.clone(),
            thread: None,
        };
        let spawned = std::thread::Builder::new()
            .name("cache-disk-writer".into())
            .spawn(move || run(&shared, &engine, &handle));
        match spawned {
            Ok(t) => writer.thread = Some(t.thread().clone()),
            // No thread: every push writes at once, on the caller (as before the writer).
            Err(e) => tracing::warn!(error = %e, "no disk writer thread: writing on callers"),
        }
        writer
    }

    /// Queues a record; false when the queue is full (the record is dropped).
    pub(crate) fn push(&self, job: Job) -> bool {
        let Some(thread) = &self.thread else {
            let _gate = self.shared.gate.lock();
            let _rt = self.handle.enter();
            self.engine.insert(job.key, job.bytes);
            return true;
        };
        {
            let mut q = self.shared.queue.lock();
            if q.bytes + job.bytes.len() > MAX_QUEUED_BYTES {
                drop(q);
                self.shared.dropped.fetch_add(1, Ordering::Relaxed);
                return false;
            }
            q.bytes += job.bytes.len();
            q.jobs.push_back(job);
        }
        if self.shared.asleep.swap(false, Ordering::SeqCst) {
            thread.unpark();
        }
        true
    }

    /// Writes what is queued now, on the caller (a flush).
    pub(crate) fn drain(&self) {
        write_queued(&self.shared, &self.engine, &self.handle);
    }

    /// Removes `key`'s records still queued, then runs `remove` (the engine's removal),
    /// both under the gate.
    pub(crate) fn remove_with<T>(&self, key: &[u8], remove: impl FnOnce() -> T) -> T {
        let _gate = self.shared.gate.lock();
        {
            let mut q = self.shared.queue.lock();
            let before = q.jobs.len();
            let mut freed = 0;
            q.jobs.retain(|j| {
                let keep = j.key != key;
                if !keep {
                    freed += j.bytes.len();
                }
                keep
            });
            q.bytes -= freed;
            let gone = (before - q.jobs.len()) as u64;
            self.shared.skipped.fetch_add(gone, Ordering::Relaxed);
        }
        remove()
    }

    /// Records dropped for a full queue, and records dropped by their key's removal.
    pub(crate) fn counts(&self) -> (u64, u64) {
        (
            self.shared.dropped.load(Ordering::Relaxed),
            self.shared.skipped.load(Ordering::Relaxed),
        )
    }
}

impl Drop for Writer {
    fn drop(&mut self) {
        self.shared.stop.store(true, Ordering::SeqCst);
        if let Some(t) = &self.thread {
            t.unpark();
        }
    }
}

fn run(shared: &Shared, engine: &Engine, handle: &tokio::runtime::Handle) {
    while !shared.stop.load(Ordering::SeqCst) {
        if write_queued(shared, engine, handle) {
            std::thread::sleep(BATCH_PAUSE);
            continue;
        }
        shared.asleep.store(true, Ordering::SeqCst);
        if shared.queue.lock().jobs.is_empty() && !shared.stop.load(Ordering::SeqCst) {
            std::thread::park_timeout(IDLE_PARK);
        }
        shared.asleep.store(false, Ordering::SeqCst);
    }
}

/// Writes the queued records in order; false when there were none.
fn write_queued(shared: &Shared, engine: &Engine, handle: &tokio::runtime::Handle) -> bool {
    let _rt = handle.enter();
    let mut wrote = false;
    loop {
        let _gate = shared.gate.lock();
        let job = {
            let mut q = shared.queue.lock();
            let job = q.jobs.pop_front();
            if let Some(j) = &job {
                q.bytes -= j.bytes.len();
            }
            job
        };
        let Some(job) = job else {
            return wrote;
        };
        engine.insert(job.key, job.bytes);
        wrote = true;
    }
}
