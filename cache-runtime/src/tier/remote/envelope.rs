//! The envelope in front of every value stored in Redis: when it was made, for how long
//! it is fresh and kept, the generations its computation began under, which Redis key it
//! was written for, and how its payload is sealed (compressed, signed, encrypted).
//!
//! ```text
//! u8  format (2)        u8 flags (1 zstd, 2 signed, 4 encrypted)
//! u64 created-at (unix ms)   u64 ttl (ms)   u64 stale-until (unix ms)   u64 cache generation
//! u16 tag count, then per tag: u16 length, UTF-8 name, u64 generation
//! u32 value length (decoded, before compression)   [16] blake3 digest of the Redis key
//! signed or encrypted: [4] key id;  encrypted: [24] XChaCha20-Poly1305 nonce
//! the payload: the value (MessagePack), zstd-compressed when flagged, then encrypted
//!   (with a 16-byte tag) when flagged, the Redis key and everything above as associated data
//! signed and not encrypted: [32] blake3 keyed MAC over the Redis key and everything above
//! ```
//!
//! Integers are little-endian. This file holds the format and writes it; `open.rs` checks
//! and opens what is read back. Parsing and opening never panic, whatever the bytes; a
//! compressed payload is inflated only when the length it declares is within
//! [`MAX_DECODE_BYTES`], into a buffer of that size and no more.

use std::cell::RefCell;
use std::time::Duration;

use chacha20poly1305::aead::{Aead, AeadCore, KeyInit, OsRng, Payload};
use chacha20poly1305::{Key, XChaCha20Poly1305};

use super::seal::Sealing;
use crate::codec::MAX_DECODE_BYTES;

/// The envelope format this build writes and reads. Format 1 (no key digest, no flags)
/// reads as a counted miss and is overwritten.
pub(crate) const FORMAT: u8 = 2;
/// Payload is zstd-compressed.
pub(crate) const COMPRESSED: u8 = 1;
/// A keyed MAC follows the payload.
pub(crate) const SIGNED: u8 = 2;
/// Payload is encrypted (XChaCha20-Poly1305); authenticated by its tag, no MAC.
pub(crate) const ENCRYPTED: u8 = 4;
const KNOWN_FLAGS: u8 = COMPRESSED | SIGNED | ENCRYPTED;
/// Fixed part of the envelope header, before the tags.
const HEADER: usize = 2 + 8 * 4 + 2;
/// Length of the Redis key digest.
pub(crate) const DIGEST: usize = 16;
/// Length of a key id.
pub(crate) const KEY_ID: usize = 4;
/// Length of an XChaCha20-Poly1305 nonce.
pub(crate) const NONCE: usize = 24;
/// Length of the MAC trailer.
pub(crate) const MAC: usize = 32;
/// Length of the AEAD tag at the end of an encrypted payload.
const TAG: usize = 16;
/// zstd level: 1 is the fastest, and on the example API's payloads within a few percent
/// of level 3 (BENCHMARKS.md, "Compression").
const ZSTD_LEVEL: i32 = 1;

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
    /// Whether the generations were read from Redis. A `put` made while Redis could not
    /// be read has only its key and tag names: it goes to the recovery queue, which reads
    /// them when it lands (`replay.rs`).
    pub(crate) known: bool,
}

impl Stamp {
    /// Where a value goes when its generations could not be read.
    pub(crate) fn unknown(key: String, tags: &[String]) -> Self {
        Self {
            key,
            generation: 0,
            tags: tags.iter().map(|t| (t.clone(), 0)).collect(),
            known: false,
        }
    }
}

/// The parsed envelope header of a stored entry.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Header {
    pub(crate) flags: u8,
    pub(crate) created_ms: u64,
    pub(crate) ttl_ms: u64,
    pub(crate) stale_until_ms: u64,
    pub(crate) generation: u64,
    pub(crate) tags: Vec<(String, u64)>,
    /// The decoded value's length, as the writer declared it.
    pub(crate) value_len: usize,
    /// Where the Redis key digest is (the key id and the nonce follow it).
    pub(crate) digest_at: usize,
    pub(crate) key_id: Option<[u8; KEY_ID]>,
    /// Where the payload begins (after the header).
    pub(crate) body_at: usize,
}

/// Why an envelope was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Corrupt {
    /// Ends before its header does, or not a string at all.
    Short,
    /// Another envelope format (1: the format before key digests).
    Version(u8),
    /// Larger than any value this runtime decodes.
    TooLarge,
    /// A tag name that is not UTF-8.
    Tag,
    /// Flags this build does not know.
    Flags(u8),
    /// A compressed payload that does not inflate to its declared length.
    Inflate,
    /// A declared value length over [`MAX_DECODE_BYTES`]: refused before inflating.
    Bomb,
    /// Written for another Redis key (moved or copied there): rejected.
    Moved,
    /// Signing is on and the entry carries no MAC (written without a key): rejected.
    Unsigned,
    /// A MAC that does not verify, or a key id this runtime does not hold: rejected.
    Forged,
    /// An encrypted payload that does not open with the runtime's keys: rejected.
    Sealed,
}

impl Corrupt {
    /// Whether the entry was refused for its authenticity (`l2.rejected`) rather than
    /// its shape: bytes that name another key, lack a valid MAC, or do not decrypt.
    pub(crate) fn is_rejection(self) -> bool {
        matches!(
            self,
            Corrupt::Moved | Corrupt::Unsigned | Corrupt::Forged | Corrupt::Sealed
        )
    }
}

pub(crate) fn array_at<const N: usize>(b: &[u8], at: usize) -> Result<[u8; N], Corrupt> {
    let bytes = b.get(at..at.checked_add(N).ok_or(Corrupt::Short)?);
    let mut a = [0u8; N];
    a.copy_from_slice(bytes.ok_or(Corrupt::Short)?);
    Ok(a)
}

fn u64_at(b: &[u8], at: usize) -> Result<u64, Corrupt> {
    array_at(b, at).map(u64::from_le_bytes)
}

fn u32_at(b: &[u8], at: usize) -> Result<u32, Corrupt> {
    array_at(b, at).map(u32::from_le_bytes)
}

fn u16_at(b: &[u8], at: usize) -> Result<u16, Corrupt> {
    array_at(b, at).map(u16::from_le_bytes)
}

/// The digest of a Redis key that every entry carries.
pub(crate) fn key_digest(key: &str) -> [u8; DIGEST] {
    let mut d = [0u8; DIGEST];
    d.copy_from_slice(&blake3::hash(key.as_bytes()).as_bytes()[..DIGEST]);
    d
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
        let flags = *bytes.get(1).ok_or(Corrupt::Short)?;
        if flags & !KNOWN_FLAGS != 0 {
            return Err(Corrupt::Flags(flags));
        }
        let created_ms = u64_at(bytes, 2)?;
        let ttl_ms = u64_at(bytes, 10)?;
        let stale_until_ms = u64_at(bytes, 18)?;
        let generation = u64_at(bytes, 26)?;
        let count = u16_at(bytes, 34)?;
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
        let value_len = u32_at(bytes, at)? as usize;
        at += 4;
        let digest_at = at;
        at += DIGEST;
        let key_id = if flags & (SIGNED | ENCRYPTED) != 0 {
            let id = array_at(bytes, at)?;
            at += KEY_ID;
            Some(id)
        } else {
            None
        };
        if flags & ENCRYPTED != 0 {
            at += NONCE;
        }
        let trailer = if flags & ENCRYPTED == 0 && flags & SIGNED != 0 {
            MAC
        } else {
            0
        };
        if bytes.len() < at + trailer {
            return Err(Corrupt::Short);
        }
        Ok(Self {
            flags,
            created_ms,
            ttl_ms,
            stale_until_ms,
            generation,
            tags,
            value_len,
            digest_at,
            key_id,
            body_at: at,
        })
    }

    /// `(created_ms, ttl_ms, stale_until_ms)`.
    pub(crate) fn times(&self) -> (u64, u64, u64) {
        (self.created_ms, self.ttl_ms, self.stale_until_ms)
    }

    /// Where the encoded value begins in the bytes handed on (0 once opened).
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

thread_local! {
    /// A zstd context per thread (the Redis thread, in practice): creating one per value
    /// would cost more than compressing a few KB.
    static DEFLATE: RefCell<Option<zstd::bulk::Compressor<'static>>> = const { RefCell::new(None) };
}

/// Compresses `body` at [`ZSTD_LEVEL`]; `None` if zstd fails.
fn deflate(body: &[u8]) -> Option<Vec<u8>> {
    DEFLATE.with(|c| {
        let mut c = c.borrow_mut();
        if c.is_none() {
            *c = zstd::bulk::Compressor::new(ZSTD_LEVEL).ok();
        }
        c.as_mut()?.compress(body).ok()
    })
}

/// The associated data of an encrypted payload: the Redis key (length-prefixed) and the
/// header.
pub(crate) fn associated(key: &str, head: &[u8]) -> Vec<u8> {
    let mut aad = Vec::with_capacity(8 + key.len() + head.len());
    aad.extend_from_slice(&(key.len() as u64).to_le_bytes());
    aad.extend_from_slice(key.as_bytes());
    aad.extend_from_slice(head);
    aad
}

/// Why an entry was not sealed (and is not written).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum SealError {
    /// Encryption was asked for and the runtime holds no key.
    NoKey,
}

/// Builds an envelope: header, then the encoded value, compressed, signed or encrypted
/// as `sealing` says.
pub(crate) fn envelope(
    stamp: &Stamp,
    created_ms: u64,
    ttl: Duration,
    stale: Duration,
    body: &[u8],
    sealing: Sealing<'_>,
) -> Result<Vec<u8>, SealError> {
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
    let writer = sealing.keys.writer();
    if sealing.encrypt && writer.is_none() {
        return Err(SealError::NoKey);
    }
    let compressed = (sealing.compress_threshold > 0 && body.len() >= sealing.compress_threshold)
        .then(|| deflate(body))
        .flatten()
        .filter(|c| c.len() < body.len());
    let mut flags = 0;
    if compressed.is_some() {
        flags |= COMPRESSED;
    }
    match (writer, sealing.encrypt) {
        (Some(_), true) => flags |= ENCRYPTED,
        (Some(_), false) => flags |= SIGNED,
        (None, _) => {}
    }
    let payload = compressed.as_deref().unwrap_or(body);
    let tag_bytes: usize = tags.iter().map(|(t, _)| 2 + t.len() + 8).sum();
    let mut out =
        Vec::with_capacity(HEADER + tag_bytes + 4 + DIGEST + KEY_ID + NONCE + payload.len() + MAC);
    out.push(FORMAT);
    out.push(flags);
    for v in [created_ms, ttl_ms, stale_until, stamp.generation] {
        out.extend_from_slice(&v.to_le_bytes());
    }
    out.extend_from_slice(&(tags.len() as u16).to_le_bytes());
    for (t, g) in tags {
        out.extend_from_slice(&(t.len() as u16).to_le_bytes());
        out.extend_from_slice(t.as_bytes());
        out.extend_from_slice(&g.to_le_bytes());
    }
    out.extend_from_slice(&(body.len() as u32).to_le_bytes());
    out.extend_from_slice(&key_digest(&stamp.key));
    let Some(k) = writer else {
        out.extend_from_slice(payload);
        return Ok(out);
    };
    out.extend_from_slice(&k.id);
    if flags & ENCRYPTED != 0 {
        let nonce = XChaCha20Poly1305::generate_nonce(&mut OsRng);
        out.extend_from_slice(&nonce);
        let aad = associated(&stamp.key, &out);
        let cipher = XChaCha20Poly1305::new(Key::from_slice(&k.cipher));
        let sealed = cipher
            .encrypt(
                &nonce,
                Payload {
                    msg: payload,
                    aad: &aad,
                },
            )
            .map_err(|_| SealError::NoKey)?;
        debug_assert_eq!(sealed.len(), payload.len() + TAG);
        out.extend_from_slice(&sealed);
    } else {
        out.extend_from_slice(payload);
        let mac = k.mac(&stamp.key, &out);
        out.extend_from_slice(mac.as_bytes());
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::super::open::{inflate, open, verify};
    use super::*;
    use crate::tier::remote::seal::{Keyring, SigningKey};

    fn stamp(tags: &[(&str, u64)]) -> Stamp {
        Stamp {
            key: "k".into(),
            generation: 3,
            tags: tags.iter().map(|(t, g)| ((*t).to_owned(), *g)).collect(),
            known: true,
        }
    }

    fn plain() -> Sealing<'static> {
        Sealing {
            keys: Keyring::empty(),
            compress_threshold: 0,
            encrypt: false,
        }
    }

    fn seal(s: &Stamp, body: &[u8], sealing: Sealing<'_>) -> Vec<u8> {
        envelope(
            s,
            1000,
            Duration::from_secs(2),
            Duration::from_secs(3),
            body,
            sealing,
        )
        .expect("sealed")
    }

    fn unseal(key: &str, bytes: &[u8], keys: &Keyring) -> Result<Vec<u8>, Corrupt> {
        let mut h = Header::parse(bytes)?;
        verify(key, &h, bytes, keys)?;
        let out = open(key, &mut h, bytes.to_vec(), keys)?;
        Ok(out[h.body_at..].to_vec())
    }

    #[test]
    fn envelope_round_trips() {
        let s = stamp(&[("channel:1", 4), ("", 0)]);
        let bytes = seal(&s, b"body", plain());
        let h = Header::parse(&bytes).expect("parses");
        assert_eq!(
            (h.created_ms, h.ttl_ms, h.stale_until_ms, h.generation),
            (1000, 2000, 6000, 3)
        );
        assert_eq!(h.tags, s.tags);
        assert_eq!(&bytes[h.body_at..], b"body");
        assert!(h.fresh_at(2999) && !h.fresh_at(3000));
        assert_eq!(unseal("k", &bytes, Keyring::empty()), Ok(b"body".to_vec()));
    }

    #[test]
    fn every_sealing_round_trips_and_names_its_key() {
        let ring = Keyring::new(vec![
            SigningKey::new(b"new key"),
            SigningKey::new(b"old key"),
        ]);
        let old = Keyring::new(vec![SigningKey::new(b"old key")]);
        let body: Vec<u8> = (0..4096u32).map(|i| (i % 7) as u8).collect();
        let s = stamp(&[("t", 1)]);
        for (threshold, encrypt) in [(0, false), (1024, false), (0, true), (1024, true)] {
            let sealing = Sealing {
                keys: &ring,
                compress_threshold: threshold,
                encrypt,
            };
            let bytes = seal(&s, &body, sealing);
            let h = Header::parse(&bytes).expect("parses");
            assert_eq!(
                h.flags & COMPRESSED != 0,
                threshold > 0,
                "{threshold} {encrypt}"
            );
            assert_eq!(unseal("k", &bytes, &ring), Ok(body.clone()));
            // Under another key: moved.
            assert_eq!(unseal("other", &bytes, &ring), Err(Corrupt::Moved));
            // A runtime that holds only the old key cannot verify the new key's entries.
            let expected = if encrypt {
                Corrupt::Sealed
            } else {
                Corrupt::Forged
            };
            assert_eq!(unseal("k", &bytes, &old), Err(expected));
            // One flipped payload byte: never served.
            let mut bad = bytes.clone();
            let i = h.body_at + 3;
            bad[i] ^= 1;
            let refused = unseal("k", &bad, &ring).expect_err("a flipped byte is refused");
            assert!(refused.is_rejection(), "{refused:?}");
        }
        // Written with the old key: still read by the rotated ring.
        let by_old = seal(
            &s,
            &body,
            Sealing {
                keys: &old,
                compress_threshold: 0,
                encrypt: false,
            },
        );
        assert_eq!(unseal("k", &by_old, &ring), Ok(body.clone()));
        // Unsigned, read where signing is on: rejected.
        let unsigned = seal(&s, &body, plain());
        assert_eq!(unseal("k", &unsigned, &ring), Err(Corrupt::Unsigned));
    }

    #[test]
    fn compression_bombs_are_refused_before_inflating() {
        let huge = vec![0u8; 1 << 20];
        let frame = zstd::bulk::compress(&huge, 1).expect("compress");
        assert!(frame.len() < 1024);
        // Declared smaller than the frame inflates to: refused.
        assert_eq!(inflate(&frame, 1000), Err(Corrupt::Inflate));
        assert_eq!(inflate(&frame, MAX_DECODE_BYTES + 1), Err(Corrupt::Bomb));
        assert_eq!(inflate(&frame, 1 << 20).map(|v| v.len()), Ok(1 << 20));
        assert_eq!(inflate(b"not zstd", 10), Err(Corrupt::Inflate));
    }

    #[test]
    fn encryption_without_a_key_writes_nothing() {
        let r = envelope(
            &stamp(&[]),
            0,
            Duration::ZERO,
            Duration::ZERO,
            b"x",
            Sealing {
                keys: Keyring::empty(),
                compress_threshold: 0,
                encrypt: true,
            },
        );
        assert_eq!(r, Err(SealError::NoKey));
    }

    #[test]
    fn foreign_bytes_never_panic() {
        let good = seal(&stamp(&[("a", 1), ("bb", 2)]), b"xyz", plain());
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
        other[0] = 1;
        assert_eq!(Header::parse(&other), Err(Corrupt::Version(1)));
        assert_eq!(
            Header::parse(b"not an envelope"),
            Err(Corrupt::Version(b'n'))
        );
    }
}
