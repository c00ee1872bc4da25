//! The read of a miss: the entry and the generations that judge it, in one round trip;
//! and what is done with anything under our keys that we never wrote.

use std::sync::Arc;
use std::sync::atomic::Ordering;

use redis::{FromRedisValue, Value};

use super::conn::Shared;
use super::envelope::{Corrupt, Header, Stamp};
use super::expire::has_stale_window;
use super::open::{open, verify};
use super::types::{Fail, Fetched, Found, Read, unix_ms};
use crate::state;

/// One generation as Redis answered it.
enum Generation {
    /// An integer, or no key (0).
    Value(u64),
    /// Anything else: another type, or a string that is not an integer.
    Malformed,
}

fn parse_generation(v: Value) -> Generation {
    match v {
        Value::ServerError(_) => Generation::Malformed,
        v => match Option::<u64>::from_redis_value(v) {
            Ok(g) => Generation::Value(g.unwrap_or(0)),
            Err(_) => Generation::Malformed,
        },
    }
}

/// What the entry key held.
enum Body {
    Missing,
    Bytes(Vec<u8>),
    /// Not a string (`WRONGTYPE`): foreign, overwritten by the next write.
    Foreign,
}

fn body(v: Value) -> Body {
    match v {
        Value::Nil => Body::Missing,
        Value::BulkString(b) if super::replay::is_tombstone(&b) => Body::Missing,
        Value::ServerError(_) => Body::Foreign,
        v => match Vec::<u8>::from_redis_value(v) {
            Ok(b) => Body::Bytes(b),
            Err(_) => Body::Foreign,
        },
    }
}

impl Shared {
    /// GET key (when `value`), GET the cache generation, MGET the tag generations.
    pub(crate) async fn read(
        self: Arc<Self>,
        key: String,
        cache: String,
        tags: Vec<String>,
        value: bool,
    ) -> Read {
        // An invalidation in flight, or anything waiting in the recovery queue: reading
        // Redis now could read back what this instance has changed.
        if self.fence.load(Ordering::SeqCst) > 0 || self.recovery.pending() > 0 {
            self.totals.skipped.fetch_add(1, Ordering::Relaxed);
            return Read::Failed(Fail::Skipped);
        }
        let generation_key = self.keys.generation(&cache);
        let tag_keys: Vec<String> = tags.iter().map(|t| self.keys.tag(t)).collect();
        let cluster = self.cluster();
        let replies = self
            .run(true, |mut conn| {
                let mut pipe = redis::pipe();
                // A reply that is an error (a key of another type) is data, not a failure of
                // Redis: it must not count against the breaker.
                pipe.ignore_errors();
                if value {
                    pipe.cmd("GET").arg(&key);
                }
                pipe.cmd("GET").arg(&generation_key);
                // In a cluster a pipeline stays in one slot (the entry's and the cache
                // generation's, by their hash tag); the tags' generations live in slots of
                // their own and are one MGET that the cluster client splits by slot.
                let mut tags_read = None;
                if !tag_keys.is_empty() {
                    if cluster {
                        let mut mget = redis::cmd("MGET");
                        mget.arg(&tag_keys);
                        tags_read = Some((mget, conn.clone()));
                    } else {
                        pipe.cmd("MGET").arg(&tag_keys);
                    }
                }
                async move {
                    let main = pipe.query_async::<Vec<Value>>(&mut conn);
                    let Some((mget, mut other)) = tags_read else {
                        return main.await;
                    };
                    let tags = async move { mget.query_async::<Value>(&mut other).await };
                    let (mut replies, tags) = futures_util::future::try_join(main, tags).await?;
                    replies.push(tags);
                    Ok(replies)
                }
            })
            .await;
        let replies = match replies {
            Ok(r) => r,
            Err(f) => return Read::Failed(f),
        };
        let mut it = replies.into_iter();
        let entry = if value {
            it.next().map_or(Body::Missing, body)
        } else {
            Body::Missing
        };
        let mut malformed = Vec::new();
        let generation = match it.next().map(parse_generation) {
            Some(Generation::Value(g)) => g,
            _ => {
                malformed.push(generation_key);
                0
            }
        };
        let mut tag_generations = Vec::with_capacity(tags.len());
        if !tags.is_empty() {
            let replies = match it.next() {
                Some(Value::Array(v)) if v.len() == tags.len() => v,
                _ => {
                    self.totals.errors.fetch_add(1, Ordering::Relaxed);
                    tracing::warn!(cache, "unexpected reply to a cache read: treated as a miss");
                    return Read::Failed(Fail::Error);
                }
            };
            for (reply, key) in replies.into_iter().zip(&tag_keys) {
                match parse_generation(reply) {
                    Generation::Value(g) => tag_generations.push(g),
                    Generation::Malformed => {
                        malformed.push(key.clone());
                        tag_generations.push(0);
                    }
                }
            }
        }
        if !malformed.is_empty() {
            tracing::warn!(cache, keys = ?malformed, "a generation in redis is not an integer: reset, this read is a miss");
            self.reset_generations(malformed).await;
            return Read::Malformed;
        }
        let stamp = Stamp {
            key,
            generation,
            tags: tags.into_iter().zip(tag_generations).collect(),
            known: true,
        };
        let found = match entry {
            Body::Missing => Found::Nothing,
            Body::Foreign => Found::Corrupt(Corrupt::Short),
            Body::Bytes(bytes) => match self.check(&stamp, bytes).await {
                Ok(found) => found,
                Err(f) => return Read::Failed(f),
            },
        };
        Read::Done { stamp, found }
    }

    /// The entries of many keys of one cache (a batch's records) and the cache's
    /// generation, in one round trip: `MGET` of the entry keys (one slot in a cluster: an
    /// entry key carries its cache's hash tag, as the generation key does) and `GET` of the
    /// generation, pipelined. One [`Read`] per key, in order, judged as [`read`](Self::read)
    /// judges one (records carry no tags known before they are computed).
    pub(crate) async fn read_many(self: Arc<Self>, keys: Vec<String>, cache: String) -> Vec<Read> {
        let failed = |f: Fail, n: usize| (0..n).map(|_| Read::Failed(f)).collect();
        if self.fence.load(Ordering::SeqCst) > 0 || self.recovery.pending() > 0 {
            self.totals.skipped.fetch_add(1, Ordering::Relaxed);
            return failed(Fail::Skipped, keys.len());
        }
        let generation_key = self.keys.generation(&cache);
        let replies = self
            .run(true, |mut conn| {
                let mut pipe = redis::pipe();
                pipe.ignore_errors();
                pipe.cmd("MGET").arg(&keys);
                pipe.cmd("GET").arg(&generation_key);
                async move { pipe.query_async::<Vec<Value>>(&mut conn).await }
            })
            .await;
        let mut it = match replies {
            Ok(r) => r.into_iter(),
            Err(f) => return failed(f, keys.len()),
        };
        let entries = match it.next() {
            Some(Value::Array(v)) if v.len() == keys.len() => v,
            _ => {
                self.totals.errors.fetch_add(1, Ordering::Relaxed);
                tracing::warn!(cache, "unexpected reply to a batch read: treated as misses");
                return failed(Fail::Error, keys.len());
            }
        };
        let Some(Generation::Value(generation)) = it.next().map(parse_generation) else {
            tracing::warn!(
                cache,
                "a generation in redis is not an integer: reset, this read is a miss"
            );
            self.reset_generations(vec![generation_key]).await;
            return (0..keys.len()).map(|_| Read::Malformed).collect();
        };
        let mut reads = Vec::with_capacity(keys.len());
        for (key, reply) in keys.into_iter().zip(entries) {
            let stamp = Stamp {
                key,
                generation,
                tags: Vec::new(),
                known: true,
            };
            let found = match body(reply) {
                Body::Missing => Found::Nothing,
                Body::Foreign => Found::Corrupt(Corrupt::Short),
                Body::Bytes(bytes) => match self.check(&stamp, bytes).await {
                    Ok(found) => found,
                    Err(f) => {
                        reads.push(Read::Failed(f));
                        continue;
                    }
                },
            };
            reads.push(Read::Done { stamp, found });
        }
        reads
    }

    /// Replaces generations that are not integers by a fresh random one, which no stored
    /// entry carries: every entry they guarded is treated as invalidated, which is what an
    /// unknown generation has to mean.
    async fn reset_generations(&self, keys: Vec<String>) {
        self.totals
            .repaired
            .fetch_add(keys.len() as u64, Ordering::Relaxed);
        for key in keys {
            let fresh = fastrand::u64(1 << 32..1 << 62);
            let r = self
                .run(false, |mut conn| {
                    let mut cmd = redis::cmd("SET");
                    cmd.arg(&key).arg(fresh);
                    async move { cmd.query_async::<()>(&mut conn).await }
                })
                .await;
            if let Err(f) = r {
                tracing::debug!(failure = ?f, key, "could not reset a malformed generation");
            }
        }
    }

    /// An entry refused after its header parsed: counted, logged, overwritten by the value
    /// computed next.
    fn refused(&self, stamp: &Stamp, why: Corrupt) -> Found {
        if why.is_rejection() {
            self.totals.rejected.fetch_add(1, Ordering::Relaxed);
            tracing::warn!(key = stamp.key, reason = ?why, "entry in redis rejected (not written for this key, or not by a holder of our keys): recomputing");
        }
        Found::Corrupt(why)
    }

    /// Checks an entry's envelope against the current generations and its TTL.
    async fn check(&self, stamp: &Stamp, bytes: Vec<u8>) -> Result<Found, Fail> {
        let keys = &self.protection.keys;
        let mut header = match Header::parse(&bytes) {
            Ok(h) => h,
            Err(c) => return Ok(Found::Corrupt(c)),
        };
        // Nothing else in the entry is believed before it is known to be written for this
        // key (and, with signing keys, by a holder of one).
        if let Err(c) = verify(&stamp.key, &header, &bytes, keys) {
            return Ok(self.refused(stamp, c));
        }
        // A generation whose hard part moved: invalidated. Only a soft part: expired by
        // `expire_all` / `expire_tag` (see `expire.rs`), a fail-safe copy at most.
        let mut expired = false;
        let mut judge = |current: u64, written: u64| {
            expired |= current != written;
            state::alive(current, written)
        };
        if !judge(stamp.generation, header.generation) {
            return Ok(Found::Outdated);
        }
        // Tags the caller did not name (another instance's tags for this key): one more read.
        let mut unknown = Vec::new();
        for (tag, generation) in &header.tags {
            match stamp.tags.iter().find(|(t, _)| t == tag) {
                Some((_, current)) if !judge(*current, *generation) => {
                    return Ok(Found::Outdated);
                }
                Some(_) => {}
                None => unknown.push((self.keys.tag(tag), *generation)),
            }
        }
        if !unknown.is_empty() {
            let keys: Vec<&String> = unknown.iter().map(|(k, _)| k).collect();
            let current = self
                .run(true, |mut conn| {
                    let mut cmd = redis::cmd("MGET");
                    cmd.arg(&keys);
                    async move { cmd.query_async::<Vec<Value>>(&mut conn).await }
                })
                .await?;
            let matches = current.len() == unknown.len()
                && current.into_iter().zip(&unknown).all(|(c, (_, g))| {
                    matches!(parse_generation(c), Generation::Value(v) if judge(v, *g))
                });
            if !matches {
                return Ok(Found::Outdated);
            }
        }
        if expired && !has_stale_window(&header) {
            return Ok(Found::Outdated);
        }
        let now = unix_ms();
        if !header.keepable_at(now) && !header.fresh_at(now) {
            return Ok(Found::Outdated);
        }
        let bytes = match open(&stamp.key, &mut header, bytes, keys) {
            Ok(b) => b,
            Err(c) => return Ok(self.refused(stamp, c)),
        };
        if header.fresh_at(now) && !expired {
            Ok(Found::Entry(Fetched { bytes, header }))
        } else if header.keepable_at(now) {
            Ok(Found::Stale(Fetched { bytes, header }))
        } else {
            Ok(Found::Outdated)
        }
    }
}
