//! Landing what the recovery queue (`recovery.rs`) holds, and the rule that keeps every
//! landing, first try or replay, from moving a key backwards.
//!
//! **Latest wins, by the time an operation was made.** A value's envelope carries its
//! creation time (unix ms); a delete leaves a *tombstone* under the key (10 bytes: a marker,
//! then the delete's time at the offset where an envelope has its creation time) that
//! lives [`HORIZON`]. A write or delete lands only if what the key holds was made no later
//! than it ([`REPLACE`], one script, atomic in Redis). A generation bump ([`BUMP`]) also
//! records when it was made, in the counter's "bumped at" key ([`bumped_at_key`], in the
//! counter's cluster slot), and a `put` made while Redis could not be read is written
//! under the generations current at replay only if none was bumped after the put was
//! made. A
//! replayed write older than [`HORIZON`] (its tombstone may be gone) lands as a delete of
//! its key instead: other instances recompute rather than risk an old value. Times come
//! from each instance's clock: skew between instances of a fleet shifts "latest" by as
//! much (NTP keeps it to milliseconds).

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use redis::{FromRedisValue, Value};

use super::conn::Shared;
use super::envelope::{Stamp, envelope};
use super::lock::RELEASE;
use super::recovery::{Change, Keyed, KeyedOp, PendingWrite};
use super::types::{Fail, unix_ms};

/// How long a tombstone stays, and how old a replayed write may be before it lands as a
/// delete instead.
pub(crate) const HORIZON: Duration = Duration::from_secs(600);
/// First byte of a tombstone (an envelope's is its format, 2).
pub(crate) const TOMBSTONE: u8 = 0xFF;
/// Longest pause between two replay passes while Redis does not answer (the first is
/// 50 ms, doubling): the queue lands at most about this long after Redis is back.
const RETRY_CAP: Duration = Duration::from_millis(200);
/// Keyed operations replayed at once (pipelined on the multiplexed connection).
const BATCH: usize = 64;

/// Sets `KEYS[1]` to `ARGV[2]` with expiry `ARGV[3]` ms unless it holds an envelope or a
/// tombstone made after `ARGV[1]` (unix ms); 1 when set, 0 when superseded. A value of
/// another type, or bytes of no known format, are overwritten.
pub(crate) const REPLACE: &str = r"
local ok, head = pcall(redis.call, 'GETRANGE', KEYS[1], 0, 9)
if ok and #head == 10 then
  local f = string.byte(head, 1)
  if f == 2 or f == 255 then
    local t = 0
    for i = 10, 3, -1 do t = t * 256 + string.byte(head, i) end
    if t > tonumber(ARGV[1]) then return 0 end
  end
end
redis.call('SET', KEYS[1], ARGV[2], 'PX', ARGV[3])
return 1";

/// Adds `ARGV[1]` to the generation `KEYS[1]` (1, or the soft step of an expiry) and, with
/// a second key, raises that "bumped at" key to `ARGV[2]` (unix ms). A generation that is
/// not an integer (another type, a string, an overflow) is replaced by `ARGV[3]`, a fresh
/// random one, which invalidates just as well: 1 then, else 0.
pub(crate) const BUMP: &str = r"
local repaired = 0
if not pcall(redis.call, 'INCRBY', KEYS[1], ARGV[1]) then
  redis.call('SET', KEYS[1], ARGV[3])
  repaired = 1
end
if KEYS[2] then
  local ok, cur = pcall(redis.call, 'GET', KEYS[2])
  local at = 0
  if ok and cur then at = tonumber(cur) or 0 end
  if tonumber(ARGV[2]) > at then redis.call('SET', KEYS[2], ARGV[2]) end
end
return repaired";

/// The key that records when `counter` was last bumped, in the same cluster slot: the
/// counter's own hash tag followed by `:at` when it has one, else the whole counter as
/// the tag. `None` for a counter whose braces would put it elsewhere (a tag named with
/// `{` or `}`): a `put` queued under such a tag is not replayed (others recompute).
pub(crate) fn bumped_at_key(counter: &str) -> Option<String> {
    if let Some(open) = counter.find('{')
        && let Some(len) = counter[open + 1..].find('}')
        && len > 0
    {
        return Some(format!("{counter}:at"));
    }
    (!counter.contains(['{', '}'])).then(|| format!("{{{counter}}}:at"))
}

/// The tombstone of a delete made at `at_ms`.
pub(crate) fn tombstone(at_ms: u64) -> Vec<u8> {
    let mut t = Vec::with_capacity(10);
    t.extend_from_slice(&[TOMBSTONE, 0]);
    t.extend_from_slice(&at_ms.to_le_bytes());
    t
}

/// Whether `bytes` are a tombstone (read as no entry).
pub(crate) fn is_tombstone(bytes: &[u8]) -> bool {
    bytes.len() == 10 && bytes[0] == TOMBSTONE
}

/// Appends the tombstone of a delete made at `at_ms` of `key` to `pipe`.
pub(crate) fn push_delete(pipe: &mut redis::Pipeline, key: &str, at_ms: u64) {
    pipe.cmd("EVAL")
        .arg(REPLACE)
        .arg(1)
        .arg(key)
        .arg(at_ms)
        .arg(tombstone(at_ms))
        .arg(HORIZON.as_millis() as u64);
}

/// Appends the bump of `counter` by `step` made at `at_ms` to `pipe` (its reply: 1 when a
/// malformed counter was reset).
pub(crate) fn push_bump(pipe: &mut redis::Pipeline, counter: &str, step: u64, at_ms: u64) {
    let cmd = pipe.cmd("EVAL").arg(BUMP);
    match bumped_at_key(counter) {
        Some(at) => cmd.arg(2).arg(counter).arg(at),
        None => cmd.arg(1).arg(counter),
    };
    pipe.arg(step)
        .arg(at_ms)
        .arg(fastrand::u64(1 << 32..1 << 62));
}

/// What a replayed operation came to.
enum Replayed {
    Landed,
    /// Something newer holds the key, or the value expired meanwhile.
    Superseded,
}

impl Shared {
    /// Wakes whoever waits for a change of the queue: the replay task when it filled, and
    /// `flush` when it emptied.
    pub(crate) fn queue_changed(&self, change: Change) {
        match change {
            Change::Filled => self.wake.notify_one(),
            Change::Emptied => {
                self.settled.notify(usize::MAX);
            }
            Change::Same => {}
        }
    }

    /// Announces `msg` (an operation that landed); if it cannot be sent, the recovery
    /// queue sends it when Redis answers.
    pub(crate) async fn announce_or_keep(&self, msg: Vec<u8>) {
        match self
            .run_announced(false, redis::pipe(), Some(msg.clone()))
            .await
        {
            Ok(()) => {
                self.totals.sent.fetch_add(1, Ordering::Relaxed);
            }
            Err(_) => self.queue_changed(self.recovery.keep_announce(msg)),
        }
    }

    /// Keeps `op()` for each of `keys` of `cache` (an invalidation or expiry that did not
    /// land), each with the announcement.
    pub(crate) fn keep_each(
        &self,
        keys: Vec<String>,
        op: impl Fn() -> KeyedOp,
        cache: &str,
        announce: Option<&Vec<u8>>,
    ) {
        for key in keys {
            let keyed = Keyed {
                op: op(),
                cache: cache.to_owned(),
                announce: announce.cloned(),
            };
            self.keep(key, keyed);
        }
    }

    /// Keeps a keyed operation that did not land.
    pub(crate) fn keep(&self, key: String, keyed: Keyed) {
        let cache = keyed.cache.clone();
        let change = self
            .recovery
            .keep(key, keyed, || self.keys.generation(&cache));
        // A queue that was not empty is being replayed: the replay task sees the new
        // operation when its pass ends (it retries while anything is pending).
        self.queue_changed(change);
    }

    /// Runs a pass over the queue; whether it is empty after it (false: Redis did not
    /// answer, try again later).
    async fn replay(&self) -> bool {
        let mut taken = self.recovery.take_keyed().into_iter();
        let mut answered = true;
        loop {
            let batch: Vec<(String, Keyed)> = taken.by_ref().take(BATCH).collect();
            if batch.is_empty() {
                break;
            }
            if !answered {
                for (key, keyed) in batch {
                    self.queue_changed(self.recovery.resolve(key, keyed, false));
                }
                continue;
            }
            let landed =
                futures_util::future::join_all(batch.into_iter().map(|(key, keyed)| async move {
                    let r = self.replay_keyed(&key, &keyed).await;
                    (key, keyed, r)
                }))
                .await;
            for (key, keyed, r) in landed {
                let landed = match r {
                    Ok(Replayed::Landed) => {
                        self.recovery.replayed.fetch_add(1, Ordering::Relaxed);
                        if let Some(msg) = &keyed.announce {
                            self.queue_changed(self.recovery.keep_announce(msg.clone()));
                        }
                        true
                    }
                    Ok(Replayed::Superseded) => {
                        self.recovery.superseded.fetch_add(1, Ordering::Relaxed);
                        true
                    }
                    Err(_) => {
                        answered = false;
                        false
                    }
                };
                self.queue_changed(self.recovery.resolve(key, keyed, landed));
            }
        }
        if !answered {
            return false;
        }
        while let Some(bump) = self.recovery.next_bump() {
            let mut pipe = redis::pipe();
            push_bump(&mut pipe, &bump.counter, bump.step, bump.at_ms);
            let r = self
                .run(false, |mut conn| async move {
                    pipe.query_async::<Vec<i64>>(&mut conn).await
                })
                .await;
            match r {
                Ok(repaired) => {
                    if repaired.first() == Some(&1) {
                        self.totals.repaired.fetch_add(1, Ordering::Relaxed);
                    }
                    self.recovery.replayed.fetch_add(1, Ordering::Relaxed);
                    if let Some(msg) = &bump.announce {
                        self.queue_changed(self.recovery.keep_announce(msg.clone()));
                    }
                    self.queue_changed(self.recovery.done_bump(&bump));
                }
                Err(_) => return false,
            }
        }
        while let Some(msg) = self.recovery.next_announce() {
            match self
                .run_announced(false, redis::pipe(), Some(msg.clone()))
                .await
            {
                Ok(()) => {
                    self.totals.sent.fetch_add(1, Ordering::Relaxed);
                    self.queue_changed(self.recovery.done_announce(&msg));
                }
                Err(_) => return false,
            }
        }
        self.recovery.pending() == 0
    }

    /// Lands one keyed operation.
    async fn replay_keyed(&self, key: &str, keyed: &Keyed) -> Result<Replayed, Fail> {
        let (at_ms, bytes, px, lock) = match &keyed.op {
            KeyedOp::Expire { .. } => {
                self.reseal_one(&keyed.cache, key).await?;
                return Ok(Replayed::Landed);
            }
            KeyedOp::Delete { at_ms } => (*at_ms, tombstone(*at_ms), HORIZON, None),
            KeyedOp::Write(w) => {
                let now = unix_ms();
                let until = w.until_ms();
                if until <= now {
                    return Ok(Replayed::Superseded);
                }
                if now.saturating_sub(w.created_ms) >= HORIZON.as_millis() as u64 {
                    // Its tombstones may be gone: a delete is what cannot go wrong.
                    (
                        w.created_ms,
                        tombstone(w.created_ms),
                        HORIZON,
                        w.lock.as_ref(),
                    )
                } else {
                    let Some(stamp) = self.stamp_of(w, &keyed.cache).await? else {
                        return Ok(Replayed::Superseded);
                    };
                    let sealing = self.protection.for_cache(&keyed.cache);
                    let Ok(sealed) =
                        envelope(&stamp, w.created_ms, w.ttl, w.stale, &w.body, sealing)
                    else {
                        return Ok(Replayed::Superseded);
                    };
                    let px = Duration::from_millis(until - now);
                    (w.created_ms, sealed, px, w.lock.as_ref())
                }
            }
        };
        let mut pipe = redis::pipe();
        pipe.cmd("EVAL")
            .arg(REPLACE)
            .arg(1)
            .arg(key)
            .arg(at_ms)
            .arg(bytes)
            .arg(px.as_millis().max(1) as u64);
        if let Some((lock_key, token)) = lock {
            pipe.cmd("EVAL")
                .arg(RELEASE)
                .arg(1)
                .arg(lock_key)
                .arg(token)
                .ignore();
        }
        let set = self
            .run(false, |mut conn| async move {
                pipe.query_async::<Vec<i64>>(&mut conn).await
            })
            .await?;
        Ok(if set.first() == Some(&1) {
            Replayed::Landed
        } else {
            Replayed::Superseded
        })
    }

    /// The stamp a pending write lands under: its own, or for a `put` made while Redis
    /// could not be read, the current generations if none was bumped after the put was
    /// made (`None`: one was, or cannot be told, and the put is superseded).
    async fn stamp_of(&self, w: &PendingWrite, cache: &str) -> Result<Option<Stamp>, Fail> {
        if w.stamp.known {
            return Ok(Some(w.stamp.clone()));
        }
        let mut counters = vec![self.keys.generation(cache)];
        counters.extend(w.stamp.tags.iter().map(|(t, _)| self.keys.tag(t)));
        let Some(ats) = counters
            .iter()
            .map(|c| bumped_at_key(c))
            .collect::<Option<Vec<String>>>()
        else {
            return Ok(None);
        };
        let wanted = counters.len() * 2;
        let read: Vec<String> = counters.into_iter().chain(ats).collect();
        let cluster = self.cluster();
        let values = self
            .run(false, |mut conn| async move {
                let mut out: Vec<Value> = Vec::with_capacity(read.len());
                if cluster {
                    // Tags live in slots of their own: one GET each.
                    for key in &read {
                        let mut cmd = redis::cmd("GET");
                        cmd.arg(key);
                        out.push(cmd.query_async::<Value>(&mut conn).await?);
                    }
                } else {
                    let mut cmd = redis::cmd("MGET");
                    cmd.arg(&read);
                    out = cmd.query_async::<Vec<Value>>(&mut conn).await?;
                }
                Ok(out)
            })
            .await?;
        // Anything that is not an integer (or nothing: 0) means "cannot be told".
        let values: Option<Vec<u64>> = values
            .into_iter()
            .map(|v| {
                Option::<u64>::from_redis_value(v)
                    .ok()
                    .map(Option::unwrap_or_default)
            })
            .collect();
        let Some(values) = values.filter(|v| v.len() == wanted) else {
            return Ok(None);
        };
        let (generations, bumped) = values.split_at(wanted / 2);
        if bumped.iter().any(|&at| at > w.created_ms) {
            return Ok(None);
        }
        Ok(Some(Stamp {
            key: w.stamp.key.clone(),
            generation: generations[0],
            tags: w
                .stamp
                .tags
                .iter()
                .zip(&generations[1..])
                .map(|((t, _), g)| (t.clone(), *g))
                .collect(),
            known: true,
        }))
    }
}

/// The replay task: waits until the queue holds something, then replays it until it is
/// empty, retrying every [`RETRY_CAP`] at most while Redis does not answer.
pub(crate) async fn recover(shared: Arc<Shared>) {
    loop {
        if shared.recovery.pending() == 0 {
            shared.wake.notified().await;
            continue;
        }
        let mut backoff = Duration::from_millis(50);
        while !shared.replay().await {
            tokio::time::sleep(backoff).await;
            backoff = (backoff * 2).min(RETRY_CAP);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use test_support::RedisServer;

    /// `REPLACE` of `key` with `bytes` made at `at`; whether it was set.
    fn replace(server: &RedisServer, key: &str, at: u64, bytes: &[u8]) -> bool {
        redis::cmd("EVAL")
            .arg(REPLACE)
            .arg(1)
            .arg(key)
            .arg(at)
            .arg(bytes)
            .arg(60_000)
            .query::<i64>(&mut server.conn())
            .expect("script runs")
            == 1
    }

    /// An envelope head made at `at` (format 2): all `REPLACE` reads of a value.
    fn made_at(at: u64) -> Vec<u8> {
        let mut v = vec![super::super::envelope::FORMAT, 0];
        v.extend_from_slice(&at.to_le_bytes());
        v.extend_from_slice(b"rest of the envelope");
        v
    }

    #[test]
    fn the_latest_change_of_a_key_wins_whatever_order_it_lands_in() {
        let server = RedisServer::start();
        let get = |k: &str| server.cmd::<Option<Vec<u8>>>(&[b"GET", k.as_bytes()]);
        // A write over nothing lands; an older write or delete after it does not.
        assert!(replace(&server, "k", 1_000, &made_at(1_000)));
        assert!(!replace(&server, "k", 999, &made_at(999)));
        assert!(!replace(&server, "k", 999, &tombstone(999)));
        assert_eq!(get("k"), Some(made_at(1_000)));
        // A delete made later lands, and an older write replayed after it does not.
        assert!(replace(&server, "k", 2_000, &tombstone(2_000)));
        assert!(!replace(&server, "k", 1_500, &made_at(1_500)));
        assert_eq!(get("k"), Some(tombstone(2_000)));
        // Made in the same millisecond: the one that arrives last wins.
        assert!(replace(&server, "k", 2_000, &made_at(2_000)));
        assert_eq!(get("k"), Some(made_at(2_000)));
        // Anything else under the key (another type, unknown bytes) is overwritten.
        server.cmd::<()>(&[b"DEL", b"k"]);
        server.cmd::<()>(&[b"HSET", b"k", b"f", b"v"]);
        assert!(replace(&server, "k", 5, &made_at(5)));
        server.cmd::<()>(&[b"SET", b"k", b"\x07garbage..."]);
        assert!(replace(&server, "k", 5, &made_at(5)));
        let ttl: i64 = server.cmd(&[b"PTTL", b"k"]);
        assert!(ttl > 0 && ttl <= 60_000, "the expiry is set: {ttl}");
    }

    #[test]
    fn a_bump_adds_its_step_and_records_when_it_was_made() {
        let server = RedisServer::start();
        let bump = |counter: &str, step: u64, at: u64| {
            let mut pipe = redis::pipe();
            push_bump(&mut pipe, counter, step, at);
            pipe.query::<Vec<i64>>(&mut server.conn())
                .expect("script runs")[0]
        };
        let get = |k: &str| server.cmd::<Option<String>>(&[b"GET", k.as_bytes()]);
        assert_eq!(bump("ns:__gen:c", 1, 1_000), 0);
        assert_eq!(get("ns:__gen:c").as_deref(), Some("1"));
        assert_eq!(get("{ns:__gen:c}:at").as_deref(), Some("1000"));
        assert_eq!(
            bump("ns:__gen:c", 1 << 40, 900),
            0,
            "a soft step, made earlier"
        );
        assert_eq!(get("ns:__gen:c"), Some(((1u64 << 40) + 1).to_string()));
        assert_eq!(
            get("{ns:__gen:c}:at").as_deref(),
            Some("1000"),
            "the latest time stays"
        );
        for bad in [&b"abc"[..], b"1.5"] {
            server.cmd::<()>(&[b"SET", b"ns:__gen:c", bad]);
            assert_eq!(bump("ns:__gen:c", 1, 2_000), 1, "{bad:?} is repaired");
            let fresh: u64 = get("ns:__gen:c").expect("set").parse().expect("an integer");
            assert!(fresh >= 1 << 32);
        }
        server.cmd::<()>(&[b"SET", b"ns:__gen:c", b"9223372036854775807"]);
        assert_eq!(bump("ns:__gen:c", 1, 2_000), 1, "an overflow is repaired");
        server.cmd::<()>(&[b"DEL", b"ns:__gen:c"]);
        server.cmd::<()>(&[b"LPUSH", b"ns:__gen:c", b"x"]);
        assert_eq!(bump("ns:__gen:c", 1, 3_000), 1, "another type is repaired");
        assert_eq!(get("{ns:__gen:c}:at").as_deref(), Some("3000"));
    }

    #[test]
    fn a_bumped_at_key_shares_its_counters_cluster_slot() {
        assert_eq!(
            bumped_at_key("{ns:users}:__gen").as_deref(),
            Some("{ns:users}:__gen:at")
        );
        assert_eq!(
            bumped_at_key("ns:__tag:t").as_deref(),
            Some("{ns:__tag:t}:at")
        );
        assert_eq!(
            bumped_at_key("ns:__tag:a{b}").as_deref(),
            Some("ns:__tag:a{b}:at")
        );
        assert_eq!(bumped_at_key("ns:__tag:a{}b"), None);
        assert_eq!(bumped_at_key("ns:__tag:a}b"), None);
    }
}
