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

use std::sync::Arc;

use event_listener::{Event, EventListener, Listener};
use hashbrown::HashTable;
use hashbrown::hash_table::Entry as Slot;
use parking_lot::Mutex;

use crate::key::KeyBuf;
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
    /// The hash of `key` in the map of flights, computed once when it is registered.
    hash: u64,
    /// The key, held inline (the key buffer's inline capacity) in the flight's one
    /// allocation.
    key: KeyBuf,
    result: Mutex<Option<Settled>>,
    done: Event,
    validity: Validity,
}

impl Flight {
    fn result(&self) -> Option<Settled> {
        self.result.lock().clone()
    }

    /// The leader's outcome, or else a listener for it (listening before the second
    /// look, so that an outcome published in between is not missed).
    fn result_or_listen(&self) -> Result<Settled, EventListener> {
        if let Some(r) = self.result() {
            return Ok(r);
        }
        let listener = self.done.listen();
        self.result().ok_or(listener)
    }

    /// Waits for the leader's outcome without blocking the thread.
    pub(crate) async fn wait(&self) -> Settled {
        loop {
            match self.result_or_listen() {
                Ok(r) => return r,
                Err(listener) => listener.await,
            }
        }
    }

    /// Waits for the leader's outcome, blocking the thread (for sync functions).
    pub(crate) fn wait_blocking(&self) -> Settled {
        loop {
            match self.result_or_listen() {
                Ok(r) => return r,
                Err(listener) => listener.wait(),
            }
        }
    }
}

/// A shard of the flights in progress, each stored under its own `hash`: the key is
/// hashed once per miss (it was four times through a `HashSet`: the shard, the probe,
/// the insert, the removal), and the leader finds its flight again by address.
type Shard = Mutex<HashTable<Arc<Flight>>>;

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

    /// The shard of a hash: bits the table's own probing does not use (its buckets come
    /// from the low bits, its tags from the top seven).
    fn shard(&self, hash: u64) -> &Shard {
        &self.shards[(hash >> 32) as usize % SHARDS]
    }

    /// Joins the flight of `key` begun under the current invalidation state, or leads a
    /// new one whose state `validity` reads (under the shard's lock, so two callers never
    /// both lead).
    pub(crate) fn join(self: &Arc<Self>, key: &[u8], validity: impl FnOnce() -> Validity) -> Join {
        use std::hash::BuildHasher;
        let hash = self.hasher.hash_one(key);
        let mut map = self.shard(hash).lock();
        // One probe: the slot found is the one a new flight goes into.
        let entry = map.entry(hash, |f| f.key[..] == *key, |f| f.hash);
        if let Slot::Occupied(f) = &entry
            && f.get().validity.holds()
        {
            return Join::Wait(Arc::clone(f.get()));
        }
        let flight = Arc::new(Flight {
            hash,
            key: KeyBuf::from_slice(key),
            result: Mutex::new(None),
            done: Event::new(),
            validity: validity(),
        });
        match entry {
            // Replaces a flight begun before an invalidation.
            Slot::Occupied(mut stale) => *stale.get_mut() = Arc::clone(&flight),
            Slot::Vacant(slot) => {
                slot.insert(Arc::clone(&flight));
            }
        }
        Join::Lead(Leader {
            flights: Arc::clone(self),
            flight,
            finished: false,
        })
    }
}

/// The leader's obligation to publish an outcome: dropping it unfinished publishes
/// `Abandoned` (or `Panicked` while unwinding).
pub(crate) struct Leader {
    flights: Arc<Flights>,
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
            let flight = &self.flight;
            let mut map = self.flights.shard(flight.hash).lock();
            // By address: a newer flight of the key that replaced this one (after an
            // invalidation) stays.
            if let Ok(mine) = map.find_entry(flight.hash, |f| Arc::ptr_eq(f, flight)) {
                mine.remove();
            }
        }
        // Only a waiter that listens needs waking: a waiter registers its listener before
        // it checks the result again, and it takes the result's lock after registering, so
        // a listener registered before the result was set is counted here; one registered
        // later finds the result. Skipping the notification spares the event's lazily
        // allocated state on a miss that nobody waited for.
        if self.flight.done.total_listeners() > 0 {
            self.flight.done.notify(usize::MAX);
        }
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
