//! Single-flight: concurrent misses of one key run the computation once.
//!
//! The first caller of a missing key becomes the leader and registers a [`Flight`]; later
//! callers find it and wait for its result. The leader always publishes something, even
//! when its future is dropped or its body panics (a drop guard does it), so waiters never
//! hang and no key stays locked:
//! - a value (or a stale fallback): waiters clone it;
//! - a failure (`Err`/`None`, not shared because errors need not be `Clone`): each waiter
//!   computes for itself;
//! - a panic: every waiter panics too, with a message naming the cache and quoting the
//!   body's own panic message;
//! - abandonment (the leader's future was dropped): waiters race to lead a new flight.
//!
//! A flight remembers the invalidation state it began under ([`Validity`]). A call that
//! finds a flight begun before an invalidation of its cache (or of one of its tags) does
//! not join it: it starts a new flight, which replaces the old one in the map. Those that
//! joined the old flight before the invalidation still get its value; nobody who arrives
//! afterwards does. That is what makes a read after `invalidate*` see only values
//! computed after it.

use std::collections::HashMap;
use std::sync::Arc;

use event_listener::{Event, Listener};
use parking_lot::Mutex;

use crate::state::Validity;
use crate::tier::local::Entry;

const SHARDS: usize = 16;

/// What a finished flight tells its waiters.
#[derive(Clone)]
pub(crate) enum Settled {
    Value(Entry),
    Stale(Entry),
    Failed,
    /// The body panicked; its panic message.
    Panicked(Arc<str>),
    Abandoned,
}

/// The message of a panic payload, when it has one.
pub(crate) fn panic_message(payload: &(dyn std::any::Any + Send)) -> Arc<str> {
    if let Some(s) = payload.downcast_ref::<&str>() {
        Arc::from(*s)
    } else if let Some(s) = payload.downcast_ref::<String>() {
        Arc::from(s.as_str())
    } else {
        Arc::from("(a panic payload that is not a string)")
    }
}

/// One computation in progress.
pub(crate) struct Flight {
    result: Mutex<Option<Settled>>,
    done: Event,
    validity: Validity,
}

impl Flight {
    fn result(&self) -> Option<Settled> {
        self.result.lock().clone()
    }

    /// Waits for the leader's outcome without blocking the thread.
    pub(crate) async fn wait(&self) -> Settled {
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
    pub(crate) fn wait_blocking(&self) -> Settled {
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

    /// Joins the flight of `key` begun under the current invalidation state, or leads a
    /// new one whose state `validity` reads (under the shard's lock, so two callers never
    /// both lead).
    pub(crate) fn join(self: &Arc<Self>, key: &[u8], validity: impl FnOnce() -> Validity) -> Join {
        let mut map = self.shard(key).lock();
        if let Some(f) = map.get(key)
            && f.validity.holds()
        {
            return Join::Wait(Arc::clone(f));
        }
        let flight = Arc::new(Flight {
            result: Mutex::new(None),
            done: Event::new(),
            validity: validity(),
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
    pub(crate) fn finish(mut self, outcome: Settled) {
        self.publish(outcome);
    }

    /// The invalidation state this computation began under.
    pub(crate) fn validity(&self) -> &Validity {
        &self.flight.validity
    }

    fn publish(&mut self, outcome: Settled) {
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
                Settled::Panicked(Arc::from("(the computation panicked)"))
            } else {
                Settled::Abandoned
            };
            self.publish(outcome);
        }
    }
}
