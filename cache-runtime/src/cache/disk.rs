//! The disk tier's part in a miss, for async calls: the leader of a flight reads the disk
//! after joining and before Redis; a computed value is queued for the disk after it is
//! stored in process.
//!
//! ```text
//! lead:  disk read (tier/disk: checks namespace, key, type, checksum, generations, TTL)
//!        -> current record: decode, fill the local tier with its remaining TTL, publish, Hit
//!        -> else: Redis (fetch.rs), then compute (fill.rs) -> Ok: queue the disk write
//! ```
//! Synchronous calls, bypass scopes and `Tier::Remote` caches never touch the disk.

use std::time::Duration;

use super::flight::Settled;
use super::scope::{self, Mode, Outcome, ServedFrom};
use super::ticket::{Lead, Start, Ticket};
use crate::clock;
use crate::codec::{Codec, MessagePack};
use crate::key::KeyParts;
use crate::tier::disk::{Found, Want};
use crate::tier::remote::unix_ms;
use crate::value::Adapter;

impl<R, A: Adapter<R>> Ticket<R, A> {
    /// Whether this call may use the disk tier at all.
    pub(super) fn disk_allowed(&self) -> bool {
        self.mode != Mode::Bypass && self.site.disk
    }

    fn disk_want(&self) -> Want<'_> {
        Want {
            cache: self.name,
            version: self.site.version,
            value_type: std::any::type_name::<A::Value>(),
            encoded: self.key.encoded(),
        }
    }

    /// Reads the disk before Redis: a current record, decoded. Anything else is a miss.
    pub(super) async fn consult_disk(&self) -> Option<(A::Value, Found)> {
        if !self.disk_allowed() || self.mode != Mode::Normal || self.background {
            return None;
        }
        let found = self.site.engine.disk.read(&self.disk_want()).await?;
        match MessagePack.decode::<A::Value>(&found.body) {
            Ok(v) => Some((v, found)),
            Err(e) => {
                tracing::warn!(cache = self.name, error = %e, "record on disk does not decode as this cache's value type: recomputing");
                None
            }
        }
    }

    /// Serves a record read from disk: fills the local tier with its remaining TTL (never
    /// more than this cache's own TTL), tells waiters, records a hit from the disk.
    pub(super) fn finish_disk(
        self,
        lead: Lead,
        (value, found): (A::Value, Found),
        start: &Start,
    ) -> R {
        let policy = &self.site.policy;
        let now = clock::now();
        let now_ms = unix_ms();
        let ms =
            |until_ms: u64| clock::ticks(Duration::from_millis(until_ms.saturating_sub(now_ms)));
        let fresh_until = now.saturating_add(ms(found.fresh_until_ms).min(policy.ttl));
        let stale_until = now
            .saturating_add(ms(found.stale_until_ms).min(policy.ttl.saturating_add(policy.stale)))
            .max(fresh_until);
        let refresh_after = if policy.refresh_ahead > 0.0 {
            let span = found.fresh_until_ms.saturating_sub(found.began_ms);
            now.saturating_add(ms(
                found.began_ms + (span as f64 * policy.refresh_ahead) as u64
            ))
        } else {
            u64::MAX
        };
        let deadlines = (fresh_until, stale_until, refresh_after);
        let fits = policy.max_bytes == 0 || found.body.len() as u64 <= policy.max_bytes;
        let weight = self.weight_of(found.body.len());
        let slot = self.made(value, &start.validity, deadlines, weight, false);
        let entry = slot.erase();
        if fits {
            self.keep(&entry, weight, &start.validity);
        }
        match lead {
            Lead::Flight(l) => l.finish(Settled::Value(entry)),
            Lead::Alone => drop(entry),
        }
        scope::record_entry(
            self.name,
            Outcome::Hit,
            ServedFrom::Disk,
            fresh_until,
            policy.span,
        );
        tracing::debug!(cache = self.name, "hit on disk");
        self.adapter.rebuild(slot.into_value())
    }

    /// Queues a stored value for the disk, with its own deadlines (clock ticks, as
    /// `store` computed them). The disk's writer writes it unless an invalidation ran
    /// since its computation began, checked under the gate a key's removal from the disk
    /// also takes: the record is either refused there or removed after.
    pub(super) fn write_disk(
        &self,
        body: &[u8],
        (fresh_until, stale_until): (u64, u64),
        start: &Start,
    ) {
        let to_ms =
            |ticks: u64| Duration::from(coarsetime::Duration::from_ticks(ticks)).as_millis() as u64;
        let now = clock::now();
        let now_ms = unix_ms();
        let began_ms = now_ms.saturating_sub(clock::nanos_since(start.at) / 1_000_000);
        let deadlines = (
            began_ms,
            now_ms.saturating_add(to_ms(fresh_until.saturating_sub(now))),
            now_ms.saturating_add(to_ms(stale_until.saturating_sub(now))),
        );
        let tags: Vec<&str> = self.tags.iter().map(String::as_str).collect();
        // Under the cache's store lock, which a key's invalidation takes to move the
        // cache's epoch before it removes the key from the disk (and with it any record of
        // the key still queued for the disk's writer, `tier/disk/writer.rs`): the record is
        // either refused here or removed after.
        let _store = self.site.cache.store.lock();
        if start.validity.holds() {
            let want = self.disk_want();
            self.site.engine.disk.write(&want, &tags, deadlines, body);
        }
    }
}
