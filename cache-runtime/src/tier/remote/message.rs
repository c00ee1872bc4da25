//! The backplane's messages: invalidations and writes announced to every instance
//! sharing a namespace, over the Redis pub/sub channel `namespace:__bus`.
//!
//! Each runtime draws a random instance id and ignores messages carrying its own. On a
//! message from another instance the runtime drops the affected in-process entries through
//! the same paths as a local invalidation, without announcing again:
//!
//! - `invalidate(name, key)`: that key, under every version of the cache;
//! - `invalidate_all(name)`: the whole cache;
//! - `invalidate_tag(tag)`: every entry carrying the tag;
//! - `expire(name, key)`, `expire_all(name)`, `expire_tag(tag)`: the same entries, made
//!   expired instead of dropped (kept as fail-safe copies); an instance built before
//!   expiry existed ignores these kinds, as any unknown bytes;
//! - a write of a newer value by another instance: that key (the next call reads Redis);
//!   it also wakes callers of this instance waiting on that instance's `lock = true` lock.
//!
//! Pub/sub delivers at most once: a message sent while an instance is disconnected is lost
//! to it. So whenever the subscription is re-established after a disconnection (or after
//! Redis was unreachable at start-up), the instance clears its whole in-process tier. A
//! ping every second detects a connection that died silently.
//!
//! Messages are small binary records (format byte, instance id, kind, length-prefixed
//! fields); anything that does not parse is ignored.

/// Format byte of a message.
const FORMAT: u8 = 1;

/// One announcement.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Message {
    /// `invalidate(name, key)`; `deleted` tells whether the sender deleted the Redis copies
    /// (it cannot when it never used the cache, and a receiver that knows the keys does).
    Key {
        name: String,
        key: Vec<u8>,
        deleted: bool,
    },
    /// `invalidate_all(name)`.
    All { name: String },
    /// `invalidate_tag(tag)`.
    Tag { tag: String },
    /// `expire(name, key)`; `resealed` tells whether the sender re-sealed the Redis copies
    /// as expired (as `deleted` for [`Message::Key`]).
    ExpireKey {
        name: String,
        key: Vec<u8>,
        resealed: bool,
    },
    /// `expire_all(name)`.
    ExpireAll { name: String },
    /// `expire_tag(tag)`.
    ExpireTag { tag: String },
    /// A newer value of `key` (encoded key value, without the cache id) was written.
    Write {
        name: String,
        version: u32,
        key: Vec<u8>,
    },
}

/// What the runtime does with announcements from other instances.
pub(crate) trait Subscriber: Send + Sync {
    /// Applies another instance's announcement locally.
    fn on_message(&self, msg: Message);
    /// The subscription came back after a gap in which messages may have been lost.
    fn on_resubscribed(&self);
}

fn put_bytes(out: &mut Vec<u8>, b: &[u8]) {
    out.extend_from_slice(&(b.len() as u32).to_le_bytes());
    out.extend_from_slice(b);
}

impl Message {
    /// The wire form of this message sent by `instance`.
    pub(crate) fn encode(&self, instance: u64) -> Vec<u8> {
        let mut out = Vec::with_capacity(64);
        out.push(FORMAT);
        out.extend_from_slice(&instance.to_le_bytes());
        match self {
            Message::Key { name, key, deleted } => {
                out.push(b'K');
                put_bytes(&mut out, name.as_bytes());
                put_bytes(&mut out, key);
                out.push(u8::from(*deleted));
            }
            Message::All { name } => {
                out.push(b'A');
                put_bytes(&mut out, name.as_bytes());
            }
            Message::Tag { tag } => {
                out.push(b'T');
                put_bytes(&mut out, tag.as_bytes());
            }
            Message::ExpireKey {
                name,
                key,
                resealed,
            } => {
                out.push(b'k');
                put_bytes(&mut out, name.as_bytes());
                put_bytes(&mut out, key);
                out.push(u8::from(*resealed));
            }
            Message::ExpireAll { name } => {
                out.push(b'a');
                put_bytes(&mut out, name.as_bytes());
            }
            Message::ExpireTag { tag } => {
                out.push(b't');
                put_bytes(&mut out, tag.as_bytes());
            }
            Message::Write { name, version, key } => {
                out.push(b'W');
                put_bytes(&mut out, name.as_bytes());
                out.extend_from_slice(&version.to_le_bytes());
                put_bytes(&mut out, key);
            }
        }
        out
    }

    /// Parses a wire message: `(sender, message)`, or `None` for anything foreign.
    pub(crate) fn decode(bytes: &[u8]) -> Option<(u64, Self)> {
        let mut r = Reader(bytes);
        if r.u8()? != FORMAT {
            return None;
        }
        let instance = u64::from_le_bytes(r.take(8)?.try_into().ok()?);
        let msg = match r.u8()? {
            b'K' => Message::Key {
                name: r.string()?,
                key: r.bytes()?.to_vec(),
                deleted: r.u8()? != 0,
            },
            b'A' => Message::All { name: r.string()? },
            b'T' => Message::Tag { tag: r.string()? },
            b'k' => Message::ExpireKey {
                name: r.string()?,
                key: r.bytes()?.to_vec(),
                resealed: r.u8()? != 0,
            },
            b'a' => Message::ExpireAll { name: r.string()? },
            b't' => Message::ExpireTag { tag: r.string()? },
            b'W' => Message::Write {
                name: r.string()?,
                version: u32::from_le_bytes(r.take(4)?.try_into().ok()?),
                key: r.bytes()?.to_vec(),
            },
            _ => return None,
        };
        r.0.is_empty().then_some((instance, msg))
    }
}

struct Reader<'a>(&'a [u8]);

impl<'a> Reader<'a> {
    fn take(&mut self, n: usize) -> Option<&'a [u8]> {
        if self.0.len() < n {
            return None;
        }
        let (head, rest) = self.0.split_at(n);
        self.0 = rest;
        Some(head)
    }
    fn u8(&mut self) -> Option<u8> {
        Some(self.take(1)?[0])
    }
    fn bytes(&mut self) -> Option<&'a [u8]> {
        let len = u32::from_le_bytes(self.take(4)?.try_into().ok()?);
        self.take(usize::try_from(len).ok()?)
    }
    fn string(&mut self) -> Option<String> {
        std::str::from_utf8(self.bytes()?).ok().map(str::to_owned)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn messages_round_trip() {
        for m in [
            Message::Key {
                name: "users".into(),
                key: vec![0, 1, 2, 255],
                deleted: true,
            },
            Message::All { name: "ü".into() },
            Message::Tag { tag: String::new() },
            Message::Write {
                name: "n".into(),
                version: 7,
                key: vec![],
            },
            Message::ExpireKey {
                name: "users".into(),
                key: vec![9, 0, 255],
                resealed: false,
            },
            Message::ExpireAll { name: "ü".into() },
            Message::ExpireTag { tag: "t".into() },
        ] {
            let bytes = m.encode(42);
            assert_eq!(Message::decode(&bytes), Some((42, m.clone())));
            for cut in 0..bytes.len() {
                assert_eq!(Message::decode(&bytes[..cut]), None);
            }
        }
        assert_eq!(Message::decode(b"hello"), None);
    }

    #[test]
    fn unknown_kinds_and_trailing_bytes_are_ignored() {
        let mut unknown = Message::ExpireAll { name: "n".into() }.encode(1);
        unknown[9] = b'?';
        assert_eq!(Message::decode(&unknown), None);
        let mut longer = Message::ExpireTag { tag: "t".into() }.encode(1);
        longer.push(0);
        assert_eq!(Message::decode(&longer), None);
    }
}
