//! Single-flight: concurrent misses of one key run the computation once.
//!
//! The first caller of a missing key becomes the leader and registers a [`Flight`]; later
//! callers find it and wait for its result. The leader always publishes something, even
//! when its future is dropped or its body panics (a drop guard does it), so waiters never
//! hang and no key stays locked:
//! - a value (or a stale fallback): waiters clone it;
//! - a failure (`Err`/`None`, not shared because errors need not be `Clone`): each waiter
//!   computes for itself;
//! - a panic: every waiter panics too, with a message naming the cache;
//! - abandonment (the leader's future was dropped): waiters race to lead a new flight.

use std::collections::HashMap;
use std::sync::Arc;

use event_listener::{Event, Listener};
use parking_lot::Mutex;

use crate::l1::Entry;

const SHARDS: usize = 16;

/// What a finished flight tells its waiters.
#[derive(Clone)]
pub(crate) enum Outcome {
    Value(Entry),
    Stale(Entry),
    Failed,
    Panicked,
    Abandoned,
}

/// One computation in progress.
pub(crate) struct Flight {
    result: Mutex<Option<Outcome>>,
    done: Event,
}

impl Flight {
    fn result(&self) -> Option<Outcome> {
        self.result.lock().clone()
    }

    /// Waits for the leader's outcome without blocking the thread.
    pub(crate) async fn wait(&self) -> Outcome {
        loop {
            if let Some(r) = self.result() {
                return r;
            }
            let listener = self.done.listen();
            if let Some(r) = self.result() {
                return r;
            }
            listener.await;
        }
    }

    /// Waits for the leader's outcome, blocking the thread (for sync functions).
    pub(crate) fn wait_blocking(&self) -> Outcome {
        loop {
            if let Some(r) = self.result() {
                return r;
            }
            let listener = self.done.listen();
            if let Some(r) = self.result() {
                return r;
            }
            listener.wait();
        }
    }
}

type Shard = Mutex<HashMap<Box<[u8]>, Arc<Flight>, foldhash::fast::RandomState>>;

/// The flights in progress of one runtime.
pub(crate) struct Flights {
    shards: Box<[Shard]>,
    hasher: foldhash::fast::RandomState,
}

/// Either lead the computation of a key or wait for the one in progress.
pub(crate) enum Join {
    Lead(Leader),
    Wait(Arc<Flight>),
}

impl Flights {
    pub(crate) fn new() -> Self {
        Self {
            shards: (0..SHARDS).map(|_| Mutex::default()).collect(),
            hasher: foldhash::fast::RandomState::default(),
        }
    }

    fn shard(&self, key: &[u8]) -> &Shard {
        use std::hash::BuildHasher;
        &self.shards[(self.hasher.hash_one(key) as usize) % SHARDS]
    }

    pub(crate) fn join(self: &Arc<Self>, key: &[u8]) -> Join {
        let mut map = self.shard(key).lock();
        if let Some(f) = map.get(key) {
            return Join::Wait(Arc::clone(f));
        }
        let flight = Arc::new(Flight {
            result: Mutex::new(None),
            done: Event::new(),
        });
        map.insert(key.into(), Arc::clone(&flight));
        Join::Lead(Leader {
            flights: Arc::clone(self),
            key: key.into(),
            flight,
            finished: false,
        })
    }
}

/// The leader's obligation to publish an outcome: dropping it unfinished publishes
/// `Abandoned` (or `Panicked` while unwinding).
pub(crate) struct Leader {
    flights: Arc<Flights>,
    key: Box<[u8]>,
    flight: Arc<Flight>,
    finished: bool,
}

impl Leader {
    pub(crate) fn finish(mut self, outcome: Outcome) {
        self.publish(outcome);
    }

    fn publish(&mut self, outcome: Outcome) {
        self.finished = true;
        *self.flight.result.lock() = Some(outcome);
        {
            let mut map = self.flights.shard(&self.key).lock();
            if map
                .get(&self.key)
                .is_some_and(|f| Arc::ptr_eq(f, &self.flight))
            {
                map.remove(&self.key);
            }
        }
        self.flight.done.notify(usize::MAX);
    }
}

impl Drop for Leader {
    fn drop(&mut self) {
        if !self.finished {
            let outcome = if std::thread::panicking() {
                Outcome::Panicked
            } else {
                Outcome::Abandoned
            };
            self.publish(outcome);
        }
    }
}
