//! The envelope in front of every value stored in Redis: when it was made, for how long
//! it is fresh and kept, and the generations its computation began under.
//!
//! ```text
//! u8  format (1)        u64 created-at (unix ms)   u64 ttl (ms)   u64 stale-until (unix ms)
//! u64 cache generation  u16 tag count, then per tag: u16 length, UTF-8 name, u64 generation
//! the value, MessagePack
//! ```
//!
//! Integers are little-endian. Parsing never panics, whatever the bytes.

use std::time::Duration;

pub(crate) use super::types::unix_ms;

use crate::codec::MAX_DECODE_BYTES;

/// The envelope format this build writes and reads.
const FORMAT: u8 = 1;
/// Fixed part of the envelope header.
const HEADER: usize = 1 + 8 * 4 + 2;

impl Stamp {
    /// The Redis key the entry goes to.
    pub(crate) fn key(&self) -> &str {
        &self.key
    }
}

/// The generations an entry's computation began under, and where it goes.
#[derive(Clone, Debug)]
pub(crate) struct Stamp {
    pub(crate) key: String,
    pub(crate) generation: u64,
    pub(crate) tags: Vec<(String, u64)>,
}

/// The parsed envelope header of a stored entry.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Header {
    pub(crate) created_ms: u64,
    pub(crate) ttl_ms: u64,
    pub(crate) stale_until_ms: u64,
    pub(crate) generation: u64,
    pub(crate) tags: Vec<(String, u64)>,
    pub(crate) body_at: usize,
}

/// Why an envelope was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Corrupt {
    Short,
    Version(u8),
    TooLarge,
    Tag,
}

fn u64_at(b: &[u8], at: usize) -> Result<u64, Corrupt> {
    let bytes = b.get(at..at + 8).ok_or(Corrupt::Short)?;
    let mut a = [0u8; 8];
    a.copy_from_slice(bytes);
    Ok(u64::from_le_bytes(a))
}

fn u16_at(b: &[u8], at: usize) -> Result<u16, Corrupt> {
    let bytes = b.get(at..at + 2).ok_or(Corrupt::Short)?;
    Ok(u16::from_le_bytes([bytes[0], bytes[1]]))
}

impl Header {
    /// Parses the header of `bytes`; never panics, whatever the bytes.
    pub(crate) fn parse(bytes: &[u8]) -> Result<Self, Corrupt> {
        if bytes.len() > MAX_DECODE_BYTES + (1 << 20) {
            return Err(Corrupt::TooLarge);
        }
        let format = *bytes.first().ok_or(Corrupt::Short)?;
        if format != FORMAT {
            return Err(Corrupt::Version(format));
        }
        let created_ms = u64_at(bytes, 1)?;
        let ttl_ms = u64_at(bytes, 9)?;
        let stale_until_ms = u64_at(bytes, 17)?;
        let generation = u64_at(bytes, 25)?;
        let count = u16_at(bytes, 33)?;
        let mut at = HEADER;
        let mut tags = Vec::with_capacity(usize::from(count).min(64));
        for _ in 0..count {
            let len = usize::from(u16_at(bytes, at)?);
            at += 2;
            let name = bytes.get(at..at + len).ok_or(Corrupt::Short)?;
            let name = std::str::from_utf8(name).map_err(|_| Corrupt::Tag)?;
            at += len;
            tags.push((name.to_owned(), u64_at(bytes, at)?));
            at += 8;
        }
        Ok(Self {
            created_ms,
            ttl_ms,
            stale_until_ms,
            generation,
            tags,
            body_at: at,
        })
    }

    /// `(created_ms, ttl_ms, stale_until_ms)`.
    pub(crate) fn times(&self) -> (u64, u64, u64) {
        (self.created_ms, self.ttl_ms, self.stale_until_ms)
    }

    /// Where the encoded value begins.
    pub(crate) fn body_at(&self) -> usize {
        self.body_at
    }

    /// Whether the entry is fresh at `now_ms`.
    pub(crate) fn fresh_at(&self, now_ms: u64) -> bool {
        now_ms < self.created_ms.saturating_add(self.ttl_ms)
    }

    /// Whether the entry, expired or not, is still inside its `stale_if_error` window at
    /// `now_ms`: usable as a fail-safe copy.
    pub(crate) fn keepable_at(&self, now_ms: u64) -> bool {
        now_ms < self.stale_until_ms
    }
}

/// Builds an envelope: header, then the encoded value.
pub(crate) fn envelope(
    stamp: &Stamp,
    created_ms: u64,
    ttl: Duration,
    stale: Duration,
    body: &[u8],
) -> Vec<u8> {
    let ttl_ms = ttl.as_millis() as u64;
    let stale_until = created_ms
        .saturating_add(ttl_ms)
        .saturating_add(stale.as_millis() as u64);
    let tags: Vec<_> = stamp
        .tags
        .iter()
        .filter(|(t, _)| t.len() <= usize::from(u16::MAX))
        .take(usize::from(u16::MAX))
        .collect();
    let tag_bytes: usize = tags.iter().map(|(t, _)| 2 + t.len() + 8).sum();
    let mut out = Vec::with_capacity(HEADER + tag_bytes + body.len());
    out.push(FORMAT);
    for v in [created_ms, ttl_ms, stale_until, stamp.generation] {
        out.extend_from_slice(&v.to_le_bytes());
    }
    out.extend_from_slice(&(tags.len() as u16).to_le_bytes());
    for (t, g) in tags {
        out.extend_from_slice(&(t.len() as u16).to_le_bytes());
        out.extend_from_slice(t.as_bytes());
        out.extend_from_slice(&g.to_le_bytes());
    }
    out.extend_from_slice(body);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn stamp(tags: &[(&str, u64)]) -> Stamp {
        Stamp {
            key: "k".into(),
            generation: 3,
            tags: tags.iter().map(|(t, g)| ((*t).to_owned(), *g)).collect(),
        }
    }

    #[test]
    fn envelope_round_trips() {
        let s = stamp(&[("channel:1", 4), ("", 0)]);
        let bytes = envelope(
            &s,
            1000,
            Duration::from_secs(2),
            Duration::from_secs(3),
            b"body",
        );
        let h = Header::parse(&bytes).expect("parses");
        assert_eq!(
            (h.created_ms, h.ttl_ms, h.stale_until_ms, h.generation),
            (1000, 2000, 6000, 3)
        );
        assert_eq!(h.tags, s.tags);
        assert_eq!(&bytes[h.body_at..], b"body");
        assert!(h.fresh_at(2999) && !h.fresh_at(3000));
    }

    #[test]
    fn foreign_bytes_never_panic() {
        let good = envelope(
            &stamp(&[("a", 1), ("bb", 2)]),
            5,
            Duration::from_millis(7),
            Duration::ZERO,
            b"xyz",
        );
        for cut in 0..good.len() {
            let _ = Header::parse(&good[..cut]);
        }
        let mut rng = fastrand::Rng::with_seed(11);
        for _ in 0..5000 {
            let mut bad = good.clone();
            let i = rng.usize(..bad.len());
            bad[i] = rng.u8(..);
            if let Ok(h) = Header::parse(&bad) {
                assert!(h.body_at <= bad.len());
            }
        }
        assert_eq!(Header::parse(b""), Err(Corrupt::Short));
        let mut other = good.clone();
        other[0] = 2;
        assert_eq!(Header::parse(&other), Err(Corrupt::Version(2)));
        assert_eq!(
            Header::parse(b"not an envelope"),
            Err(Corrupt::Version(b'n'))
        );
    }
}
