//! Counters that each thread adds to without an atomic read-modify-write: every thread owns
//! one cell per counter and is its only writer, so an increment is a plain load and store
//! (no `lock` prefix, no cache line shared with another core); readers sum the cells of
//! every live thread plus what exited threads left behind.
//!
//! On the hit path this replaces a striped `fetch_add`, a locked instruction even on a
//! stripe no other thread uses (stripes are dealt round-robin, so beyond
//! [`crate::stripe::STRIPES`] threads they are shared and must be added to atomically);
//! perf showed that one instruction as over a quarter of the lookup's own time on this
//! project's machine.
//!
//! Exactness: a thread's cells are read by others only through `Relaxed` loads of values it
//! stored whole, so a reader never sees a torn or lost increment; when a thread exits, its
//! totals move to `retired` under the same lock readers hold, so each increment is counted
//! exactly once, either in a live cell or in `retired`. An increment made where the thread's
//! cells are gone (during thread-local teardown) or beyond [`MAX_COUNTERS`] goes to the
//! counter's shared atomic instead.

use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering::Relaxed};
use std::sync::{Arc, OnceLock};

use parking_lot::Mutex;

/// Cells per chunk of a thread's block.
const CHUNK: usize = 256;
/// Chunks per block: counters beyond `CHUNK * CHUNKS` use their shared atomic.
const CHUNKS: usize = 64;
/// How many counters get per-thread cells (more are counted, through their shared atomic).
pub(crate) const MAX_COUNTERS: usize = CHUNK * CHUNKS;

type Chunk = [AtomicU64; CHUNK];

/// One thread's cells, allocated a chunk at a time on first use.
struct Block {
    chunks: [OnceLock<Box<Chunk>>; CHUNKS],
}

impl Block {
    fn new() -> Self {
        Self {
            chunks: std::array::from_fn(|_| OnceLock::new()),
        }
    }

    /// The cell of counter `slot`, if its chunk exists.
    fn cell(&self, slot: usize) -> Option<&AtomicU64> {
        Some(&self.chunks.get(slot / CHUNK)?.get()?[slot % CHUNK])
    }
}

/// Every live thread's block, and the totals of exited threads.
struct Threads {
    live: Vec<Arc<Block>>,
    /// `retired[slot]`: what exited threads counted for counter `slot`.
    retired: Vec<u64>,
}

static THREADS: Mutex<Threads> = Mutex::new(Threads {
    live: Vec::new(),
    retired: Vec::new(),
});

/// The next counter's slot; slots are never reused, so no thread's old cell can leak a
/// count into a new counter.
static NEXT_SLOT: AtomicUsize = AtomicUsize::new(0);

/// This thread's block, registered on first use and retired when the thread exits.
struct Registration(Arc<Block>);

impl Registration {
    fn new() -> Self {
        let block = Arc::new(Block::new());
        THREADS.lock().live.push(Arc::clone(&block));
        Self(block)
    }
}

impl Drop for Registration {
    fn drop(&mut self) {
        let mut threads = THREADS.lock();
        threads.live.retain(|b| !Arc::ptr_eq(b, &self.0));
        for (c, chunk) in self.0.chunks.iter().enumerate() {
            let Some(chunk) = chunk.get() else { continue };
            for (i, cell) in chunk.iter().enumerate() {
                let n = cell.load(Relaxed);
                if n != 0 {
                    let slot = c * CHUNK + i;
                    if threads.retired.len() <= slot {
                        threads.retired.resize(slot + 1, 0);
                    }
                    threads.retired[slot] += n;
                }
            }
        }
    }
}

thread_local! {
    static MINE: Registration = Registration::new();
}

/// A counter with one cell per thread.
pub(crate) struct Counter {
    slot: usize,
    /// Increments that had no cell of their own (see the module docs).
    shared: AtomicU64,
}

impl Default for Counter {
    fn default() -> Self {
        Self {
            slot: NEXT_SLOT.fetch_add(1, Relaxed),
            shared: AtomicU64::new(0),
        }
    }
}

impl Counter {
    /// Adds one, in the calling thread's cell.
    #[inline]
    pub(crate) fn incr(&self) {
        let slot = self.slot;
        let counted = slot < MAX_COUNTERS
            && MINE
                .try_with(|mine| {
                    let chunk = mine.0.chunks[slot / CHUNK].get_or_init(new_chunk);
                    let cell = &chunk[slot % CHUNK];
                    // This thread is the cell's only writer: no read-modify-write needed.
                    cell.store(cell.load(Relaxed) + 1, Relaxed);
                })
                .is_ok();
        if !counted {
            self.shared.fetch_add(1, Relaxed);
        }
    }

    /// The sum over every thread, live or exited.
    pub(crate) fn get(&self) -> u64 {
        let threads = THREADS.lock();
        let live: u64 = threads
            .live
            .iter()
            .filter_map(|b| b.cell(self.slot))
            .map(|c| c.load(Relaxed))
            .sum();
        let retired = threads.retired.get(self.slot).copied().unwrap_or(0);
        live + retired + self.shared.load(Relaxed)
    }
}

#[cold]
fn new_chunk() -> Box<Chunk> {
    Box::new(std::array::from_fn(|_| AtomicU64::new(0)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_of_live_and_exited_threads_sum_exactly() {
        let counter = Arc::new(Counter::default());
        let other = Counter::default();
        // Threads that exit before the read, and threads still running during it.
        let exited: Vec<_> = (0..6)
            .map(|_| {
                let counter = Arc::clone(&counter);
                std::thread::spawn(move || {
                    for _ in 0..10_000 {
                        counter.incr();
                    }
                })
            })
            .collect();
        for t in exited {
            t.join().expect("thread");
        }
        let (counted, release) = (
            Arc::new(std::sync::Barrier::new(4)),
            Arc::new(std::sync::Barrier::new(4)),
        );
        let running: Vec<_> = (0..3)
            .map(|_| {
                let (counter, counted, release) = (
                    Arc::clone(&counter),
                    Arc::clone(&counted),
                    Arc::clone(&release),
                );
                std::thread::spawn(move || {
                    for _ in 0..1_000 {
                        counter.incr();
                    }
                    counted.wait();
                    release.wait();
                })
            })
            .collect();
        counted.wait();
        counter.incr();
        assert_eq!(counter.get(), 6 * 10_000 + 3 * 1_000 + 1);
        assert_eq!(other.get(), 0, "a counter sees only its own increments");
        release.wait();
        for t in running {
            t.join().expect("thread");
        }
        assert_eq!(counter.get(), 6 * 10_000 + 3 * 1_000 + 1);
    }

    #[test]
    fn a_counter_past_the_per_thread_cells_still_counts() {
        let far = Counter {
            slot: MAX_COUNTERS + 3,
            shared: AtomicU64::new(0),
        };
        far.incr();
        far.incr();
        assert_eq!(far.get(), 2);
    }
}
