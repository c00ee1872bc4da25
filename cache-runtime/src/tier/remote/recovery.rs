//! The recovery queue: the remote operations of this instance that did not reach Redis
//! (a failure, a timeout, the circuit open, no connection), kept until Redis answers
//! again and then replayed by `replay.rs`. What FusionCache calls auto-recovery.
//!
//! - One operation per Redis entry key, the latest wins: a write replaces an older write
//!   or delete of the same key, a delete cancels a pending write.
//! - Generation bumps (`invalidate_all`, `invalidate_tag`, and the soft ones of `expire_all`,
//!   `expire_tag`), one per counter and step, in order, each with the time it was made
//!   (replaying one late or twice only invalidates more, never less).
//! - Announcements whose operation landed but whose message did not go out.
//!
//! Bounds: [`Limits::entries`] keyed operations and [`Limits::bytes`] of written values.
//! Past them the queue stays correct by being conservative, and counts it (`overflowed`):
//! a write whose value does not fit is kept as a delete of its key (other instances
//! recompute it instead of reading the new value), and a key that does not fit at all
//! becomes a bump of its cache's generation (the whole cache is recomputed). Nothing is
//! given up on a timer: an operation waits as long as the instance lives.

use std::collections::{HashMap, VecDeque};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use parking_lot::Mutex;

use super::envelope::Stamp;

/// Bookkeeping bytes counted per queued operation besides its key and value.
const OP_OVERHEAD: usize = 96;

/// How much the queue may hold.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Limits {
    /// Keyed operations (writes and deletes of entry keys).
    pub(crate) entries: usize,
    /// Bytes of keys and written values.
    pub(crate) bytes: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            entries: 100_000,
            bytes: 64 << 20,
        }
    }
}

/// A write of a value that did not land.
pub(crate) struct PendingWrite {
    /// The generations its computation began under (`known`), or only where it goes and
    /// its tags (a `put` made while Redis could not be read: judged at replay).
    pub(crate) stamp: Stamp,
    /// When the value was made (unix ms): what "latest" compares.
    pub(crate) created_ms: u64,
    pub(crate) ttl: Duration,
    pub(crate) stale: Duration,
    /// The encoded value (sealed at replay).
    pub(crate) body: Vec<u8>,
    /// The `lock = true` lock to release with it: `(lock key, token)`.
    pub(crate) lock: Option<(String, String)>,
}

impl PendingWrite {
    /// When the value stops being usable at all (unix ms): past it, there is nothing to
    /// replay.
    pub(crate) fn until_ms(&self) -> u64 {
        self.created_ms
            .saturating_add(self.ttl.as_millis() as u64)
            .saturating_add(self.stale.as_millis() as u64)
    }
}

/// What is pending for one entry key.
pub(crate) enum KeyedOp {
    Write(Box<PendingWrite>),
    /// A delete made at this time (unix ms): replayed as a tombstone of that time.
    Delete {
        at_ms: u64,
    },
    /// An `expire` made at this time: replayed as a re-seal of what the key holds, ended.
    Expire {
        at_ms: u64,
    },
}

/// A keyed operation with what it belongs to.
pub(crate) struct Keyed {
    pub(crate) op: KeyedOp,
    /// The cache it belongs to: its generation is bumped if the queue overflows.
    pub(crate) cache: String,
    /// The announcement to send once it landed.
    pub(crate) announce: Option<Vec<u8>>,
}

impl Keyed {
    fn bytes(&self, key: &str) -> usize {
        let body = match &self.op {
            KeyedOp::Write(w) => w.body.len() + w.stamp.key.len(),
            KeyedOp::Delete { .. } | KeyedOp::Expire { .. } => 0,
        };
        OP_OVERHEAD + key.len() + body + self.announce.as_ref().map_or(0, Vec::len)
    }
}

/// A generation bump that did not land.
pub(crate) struct Bump {
    /// The counter's Redis key.
    pub(crate) counter: String,
    /// What it adds: 1 (`invalidate_all`, `invalidate_tag`) or the soft step (`expire_all`,
    /// `expire_tag`).
    pub(crate) step: u64,
    /// When the invalidation was made (unix ms): the counter becomes at least this.
    pub(crate) at_ms: u64,
    pub(crate) announce: Option<Vec<u8>>,
}

/// The operations themselves, under the queue's lock.
#[derive(Default)]
struct Ops {
    keyed: HashMap<String, Keyed>,
    bumps: VecDeque<Bump>,
    announces: VecDeque<Vec<u8>>,
    /// Keyed operations taken for a replay and not yet resolved: still pending.
    in_flight: usize,
    bytes: usize,
}

impl Ops {
    fn len(&self) -> usize {
        self.keyed.len() + self.in_flight + self.bumps.len() + self.announces.len()
    }
}

/// The queue and its figures.
pub(crate) struct Recovery {
    ops: Mutex<Ops>,
    limits: Limits,
    /// This runtime's id on the backplane, for the announcements the queue makes itself.
    instance: u64,
    /// Keyed and ordered operations waiting (a gauge).
    pending: AtomicU64,
    pub(crate) replayed: AtomicU64,
    pub(crate) superseded: AtomicU64,
    pub(crate) overflowed: AtomicU64,
}

/// How the queue changed: what the caller (who owns the fence and the wake-up) must do.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Change {
    /// The queue was empty and is not any more.
    Filled,
    /// The queue is empty now (and was not).
    Emptied,
    Same,
}

impl Recovery {
    pub(crate) fn new(limits: Limits, instance: u64) -> Self {
        Self {
            ops: Mutex::new(Ops::default()),
            limits,
            instance,
            pending: AtomicU64::new(0),
            replayed: AtomicU64::new(0),
            superseded: AtomicU64::new(0),
            overflowed: AtomicU64::new(0),
        }
    }

    /// Operations waiting.
    pub(crate) fn pending(&self) -> u64 {
        self.pending.load(Ordering::SeqCst)
    }

    /// Bytes held by the waiting operations.
    pub(crate) fn bytes(&self) -> u64 {
        self.ops.lock().bytes as u64
    }

    fn changed(&self, ops: &Ops, before: usize) -> Change {
        let after = ops.len();
        self.pending.store(after as u64, Ordering::SeqCst);
        match (before, after) {
            (0, a) if a > 0 => Change::Filled,
            (b, 0) if b > 0 => Change::Emptied,
            _ => Change::Same,
        }
    }

    /// Keeps an operation on entry `key`, replacing whatever was pending for it (counted as
    /// superseded). `generation` names the cache's counter, bumped instead when the key
    /// does not fit.
    pub(crate) fn keep(
        &self,
        key: String,
        mut keyed: Keyed,
        generation: impl FnOnce() -> String,
    ) -> Change {
        let mut ops = self.ops.lock();
        let before = ops.len();
        if let Some(old) = ops.keyed.remove(&key) {
            ops.bytes -= old.bytes(&key);
            self.superseded.fetch_add(1, Ordering::Relaxed);
        }
        let mut bytes = keyed.bytes(&key);
        if ops.bytes + bytes > self.limits.bytes
            && let KeyedOp::Write(w) = &keyed.op
        {
            // The value does not fit: its key is deleted instead, which other instances
            // answer by recomputing.
            keyed.op = KeyedOp::Delete {
                at_ms: w.created_ms,
            };
            bytes = keyed.bytes(&key);
            self.overflowed.fetch_add(1, Ordering::Relaxed);
        }
        if ops.keyed.len() + ops.in_flight >= self.limits.entries
            || ops.bytes + bytes > self.limits.bytes
        {
            self.overflowed.fetch_add(1, Ordering::Relaxed);
            let at_ms = match &keyed.op {
                KeyedOp::Write(w) => w.created_ms,
                KeyedOp::Delete { at_ms } | KeyedOp::Expire { at_ms } => *at_ms,
            };
            push_bump(
                &mut ops,
                Bump {
                    counter: generation(),
                    step: 1,
                    at_ms,
                    announce: Some(
                        super::message::Message::All {
                            name: keyed.cache.clone(),
                        }
                        .encode(self.instance),
                    ),
                },
            );
            return self.changed(&ops, before);
        }
        ops.bytes += bytes;
        ops.keyed.insert(key, keyed);
        self.changed(&ops, before)
    }

    /// Keeps a generation bump (merged with a pending bump of the same counter).
    pub(crate) fn keep_bump(&self, bump: Bump) -> Change {
        let mut ops = self.ops.lock();
        let before = ops.len();
        push_bump(&mut ops, bump);
        self.changed(&ops, before)
    }

    /// Keeps an announcement whose operation landed (one copy of each message).
    pub(crate) fn keep_announce(&self, message: Vec<u8>) -> Change {
        let mut ops = self.ops.lock();
        let before = ops.len();
        if !ops.announces.contains(&message) {
            ops.announces.push_back(message);
        }
        self.changed(&ops, before)
    }

    /// Takes every keyed operation, to replay them; each stays pending until
    /// [`resolve`](Self::resolve)d.
    pub(crate) fn take_keyed(&self) -> Vec<(String, Keyed)> {
        let mut ops = self.ops.lock();
        let taken: Vec<_> = ops.keyed.drain().collect();
        // Their bytes stay counted until they are resolved.
        ops.in_flight += taken.len();
        taken
    }

    /// Resolves a taken operation: dropped when it `landed` (or was superseded), else put
    /// back, unless a newer operation for its key arrived meanwhile (which supersedes it).
    pub(crate) fn resolve(&self, key: String, keyed: Keyed, landed: bool) -> Change {
        let mut ops = self.ops.lock();
        let before = ops.len();
        ops.in_flight = ops.in_flight.saturating_sub(1);
        if landed || ops.keyed.contains_key(&key) {
            if !landed {
                self.superseded.fetch_add(1, Ordering::Relaxed);
            }
            ops.bytes = ops.bytes.saturating_sub(keyed.bytes(&key));
        } else {
            ops.keyed.insert(key, keyed);
        }
        self.changed(&ops, before)
    }

    /// The oldest pending bump, if any (left in place until [`done_bump`](Self::done_bump)).
    pub(crate) fn next_bump(&self) -> Option<Bump> {
        let ops = self.ops.lock();
        ops.bumps.front().map(|b| Bump {
            counter: b.counter.clone(),
            step: b.step,
            at_ms: b.at_ms,
            announce: b.announce.clone(),
        })
    }

    /// Removes `done` once it landed (a newer bump merged into it meanwhile stays).
    pub(crate) fn done_bump(&self, done: &Bump) -> Change {
        let mut ops = self.ops.lock();
        let before = ops.len();
        if let Some(i) = ops
            .bumps
            .iter()
            .position(|b| b.counter == done.counter && b.step == done.step && b.at_ms == done.at_ms)
        {
            ops.bumps.remove(i);
        }
        self.changed(&ops, before)
    }

    /// The oldest pending announcement, if any.
    pub(crate) fn next_announce(&self) -> Option<Vec<u8>> {
        self.ops.lock().announces.front().cloned()
    }

    /// Removes an announcement once sent.
    pub(crate) fn done_announce(&self, message: &[u8]) -> Change {
        let mut ops = self.ops.lock();
        let before = ops.len();
        if let Some(i) = ops.announces.iter().position(|m| m == message) {
            ops.announces.remove(i);
        }
        self.changed(&ops, before)
    }

    /// Whether a keyed operation is pending for entry `key`.
    #[cfg(test)]
    fn holds(&self, key: &str) -> bool {
        self.ops.lock().keyed.contains_key(key)
    }
}

fn push_bump(ops: &mut Ops, bump: Bump) {
    match ops
        .bumps
        .iter_mut()
        .find(|b| b.counter == bump.counter && b.step == bump.step)
    {
        Some(b) => {
            b.at_ms = b.at_ms.max(bump.at_ms);
            if b.announce.is_none() {
                b.announce = bump.announce;
            }
        }
        None => ops.bumps.push_back(bump),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn write(key: &str, created_ms: u64, body: usize) -> Keyed {
        Keyed {
            op: KeyedOp::Write(Box::new(PendingWrite {
                stamp: Stamp::unknown(key.to_owned(), &[]),
                created_ms,
                ttl: Duration::from_secs(60),
                stale: Duration::ZERO,
                body: vec![0; body],
                lock: None,
            })),
            cache: "c".into(),
            announce: Some(vec![1]),
        }
    }

    fn delete(at_ms: u64) -> Keyed {
        Keyed {
            op: KeyedOp::Delete { at_ms },
            cache: "c".into(),
            announce: None,
        }
    }

    fn queue(entries: usize, bytes: usize) -> Recovery {
        Recovery::new(Limits { entries, bytes }, 7)
    }

    #[test]
    fn one_operation_per_key_the_latest() {
        let q = queue(10, 1 << 20);
        assert_eq!(
            q.keep("k".into(), write("k", 1, 10), || "g".into()),
            Change::Filled
        );
        assert_eq!(
            q.keep("k".into(), write("k", 2, 10), || "g".into()),
            Change::Same
        );
        assert_eq!(q.keep("k".into(), delete(3), || "g".into()), Change::Same);
        assert_eq!((q.pending(), q.superseded.load(Ordering::Relaxed)), (1, 2));
        let taken = q.take_keyed();
        assert!(
            matches!(taken[0].1.op, KeyedOp::Delete { at_ms: 3 }),
            "the delete cancelled the writes"
        );
        assert_eq!(q.pending(), 1, "taken is still pending");
        // A newer operation arriving while the old one is replayed wins over putting it back.
        q.keep("k".into(), write("k", 4, 10), || "g".into());
        let (key, old) = taken.into_iter().next().expect("one");
        assert_eq!(q.resolve(key, old, false), Change::Same);
        assert!(q.holds("k"));
        let (key, newer) = q.take_keyed().into_iter().next().expect("one");
        assert_eq!(q.resolve(key, newer, true), Change::Emptied);
        assert_eq!((q.pending(), q.bytes()), (0, 0));
    }

    #[test]
    fn a_full_queue_keeps_a_delete_then_a_cache_bump() {
        let q = queue(2, 1_000);
        // Too many bytes for the value: kept as a delete of its key.
        q.keep("big".into(), write("big", 1, 5_000), || "g".into());
        assert!(q.holds("big") && q.overflowed.load(Ordering::Relaxed) == 1);
        assert!(q.bytes() < 1_000);
        q.keep("b".into(), write("b", 2, 10), || "g".into());
        // No room for a third key (in flight counts): its cache is bumped instead.
        let taken = q.take_keyed();
        q.keep("c".into(), write("c", 3, 10), || "gen:c".into());
        q.keep("d".into(), write("d", 5, 10), || "gen:c".into());
        assert_eq!(q.overflowed.load(Ordering::Relaxed), 3);
        let bump = q.next_bump().expect("a bump");
        assert_eq!(
            (bump.counter.as_str(), bump.step, bump.at_ms),
            ("gen:c", 1, 5),
            "one bump, at the latest time"
        );
        assert!(bump.announce.is_some());
        assert_eq!(q.pending(), 3);
        for (key, keyed) in taken {
            q.resolve(key, keyed, true);
        }
        assert_eq!(q.done_bump(&bump), Change::Emptied);
    }
}
