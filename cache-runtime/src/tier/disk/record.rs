//! The bytes of one record on disk: a header that proves whose record it is and until
//! when it holds, the value (MessagePack, as the remote tier stores it), and a checksum.
//!
//! ```text
//! [4] magic "CRDK"   u8 format (1)
//! [8] namespace digest            [32] key digest (the engine's key, repeated; bytes
//!                                      6..8 are its cache's tag, see `key_digest`)
//! u32 version        u64 began (unix ms: when the computation began)
//! u64 fresh-until (unix ms)       u64 stale-until (unix ms)
//! u16 length, value type name     u16 length, cache name
//! u16 tag count, then per tag: u16 length, name
//! u32 value length, the value     [32] blake3 of everything above
//! ```
//!
//! Integers are little-endian. Deadlines are wall-clock milliseconds: the process clock's
//! epoch does not survive a restart. [`open`] never panics and allocates nothing beyond
//! the bytes it is given: torn, truncated, foreign or corrupt bytes are an [`Invalid`].

/// The record format this build writes and reads; any other is a counted miss. 2: the
/// key digest carries its cache's tag (format 1's keys are never looked up again).
pub(crate) const FORMAT: u8 = 2;
const MAGIC: &[u8; 4] = b"CRDK";
const SUM: usize = 32;

/// Why a record was not used.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Invalid {
    /// Shorter than its header says, or a checksum that does not match.
    Corrupt,
    /// Another format version, or not a record of this tier at all.
    Foreign,
}

/// What a record says besides its value.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Meta<'a> {
    pub(crate) namespace: [u8; 8],
    pub(crate) key: [u8; 32],
    pub(crate) version: u32,
    pub(crate) began_ms: u64,
    pub(crate) fresh_until_ms: u64,
    pub(crate) stale_until_ms: u64,
    pub(crate) value_type: &'a str,
    pub(crate) cache: &'a str,
    pub(crate) tags: Vec<&'a str>,
}

/// The first 8 bytes of the namespace's digest.
pub(crate) fn namespace_digest(namespace: &str) -> [u8; 8] {
    let h = blake3::derive_key("cache-runtime 2026 disk namespace", namespace.as_bytes());
    let mut out = [0; 8];
    out.copy_from_slice(&h[..8]);
    out
}

/// The tag of cache `cache` in `namespace`: 16 bits that the engine's hash of each of its
/// records carries (see [`engine_hash`]), so that a record the engine drops unread still
/// names its cache.
pub(crate) fn cache_tag(namespace: &str, cache: &str) -> u16 {
    let mut h = blake3::Hasher::new_derive_key("cache-runtime 2026 disk cache tag");
    h.update(&(namespace.len() as u64).to_le_bytes());
    h.update(namespace.as_bytes());
    h.update(cache.as_bytes());
    let b = h.finalize();
    u16::from_le_bytes([b.as_bytes()[0], b.as_bytes()[1]])
}

/// The engine's key of an entry: namespace, cache name and key value (no version or value
/// type, so that an invalidation by key can name it before the cache is first used),
/// with the cache's `tag` in bytes 6..8.
pub(crate) fn key_digest(namespace: &str, cache: &str, tag: u16, encoded: &[u8]) -> [u8; 32] {
    let mut h = blake3::Hasher::new_derive_key("cache-runtime 2026 disk key");
    for part in [namespace.as_bytes(), cache.as_bytes()] {
        h.update(&(part.len() as u64).to_le_bytes());
        h.update(part);
    }
    h.update(encoded);
    let mut out = *h.finalize().as_bytes();
    out[6..8].copy_from_slice(&tag.to_le_bytes());
    out
}

/// The engine's hash of a key: its first 8 bytes (a digest already), so that its top 16
/// bits are the cache's tag.
pub(crate) fn engine_hash(key: &[u8]) -> u64 {
    let mut b = [0; 8];
    let n = key.len().min(8);
    b[..n].copy_from_slice(&key[..n]);
    u64::from_le_bytes(b)
}

/// The cache tag an engine hash carries.
pub(crate) fn tag_of(hash: u64) -> u16 {
    (hash >> 48) as u16
}

fn put_str(out: &mut Vec<u8>, s: &str) {
    let s = &s.as_bytes()[..s.len().min(u16::MAX as usize)];
    out.extend_from_slice(&(s.len() as u16).to_le_bytes());
    out.extend_from_slice(s);
}

/// Writes a record.
pub(crate) fn seal(meta: &Meta<'_>, value: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(128 + value.len());
    out.extend_from_slice(MAGIC);
    out.push(FORMAT);
    out.extend_from_slice(&meta.namespace);
    out.extend_from_slice(&meta.key);
    out.extend_from_slice(&meta.version.to_le_bytes());
    for n in [meta.began_ms, meta.fresh_until_ms, meta.stale_until_ms] {
        out.extend_from_slice(&n.to_le_bytes());
    }
    put_str(&mut out, meta.value_type);
    put_str(&mut out, meta.cache);
    let tags = meta.tags.len().min(u16::MAX as usize);
    out.extend_from_slice(&(tags as u16).to_le_bytes());
    for t in &meta.tags[..tags] {
        put_str(&mut out, t);
    }
    out.extend_from_slice(&(value.len() as u32).to_le_bytes());
    out.extend_from_slice(value);
    let sum = blake3::hash(&out);
    out.extend_from_slice(sum.as_bytes());
    out
}

struct Reader<'a>(&'a [u8]);

impl<'a> Reader<'a> {
    fn take(&mut self, n: usize) -> Result<&'a [u8], Invalid> {
        if self.0.len() < n {
            return Err(Invalid::Corrupt);
        }
        let (a, b) = self.0.split_at(n);
        self.0 = b;
        Ok(a)
    }
    fn u16(&mut self) -> Result<u16, Invalid> {
        Ok(u16::from_le_bytes(
            self.take(2)?.try_into().expect("2 bytes"),
        ))
    }
    fn u32(&mut self) -> Result<u32, Invalid> {
        Ok(u32::from_le_bytes(
            self.take(4)?.try_into().expect("4 bytes"),
        ))
    }
    fn u64(&mut self) -> Result<u64, Invalid> {
        Ok(u64::from_le_bytes(
            self.take(8)?.try_into().expect("8 bytes"),
        ))
    }
    fn str(&mut self) -> Result<&'a str, Invalid> {
        let n = self.u16()? as usize;
        std::str::from_utf8(self.take(n)?).map_err(|_| Invalid::Corrupt)
    }
}

/// Checks a record and splits it into what it says and its value.
pub(crate) fn open(bytes: &[u8]) -> Result<(Meta<'_>, &[u8]), Invalid> {
    if bytes.len() < MAGIC.len() + 1 || &bytes[..4] != MAGIC {
        return Err(Invalid::Foreign);
    }
    if bytes[4] != FORMAT {
        return Err(Invalid::Foreign);
    }
    if bytes.len() < 5 + SUM {
        return Err(Invalid::Corrupt);
    }
    let (body, sum) = bytes.split_at(bytes.len() - SUM);
    if blake3::hash(body).as_bytes() != sum {
        return Err(Invalid::Corrupt);
    }
    let mut r = Reader(&body[5..]);
    let namespace = r.take(8)?.try_into().expect("8 bytes");
    let key = r.take(32)?.try_into().expect("32 bytes");
    let version = r.u32()?;
    let (began_ms, fresh_until_ms, stale_until_ms) = (r.u64()?, r.u64()?, r.u64()?);
    let value_type = r.str()?;
    let cache = r.str()?;
    let n = r.u16()? as usize;
    let mut tags = Vec::with_capacity(n.min(64));
    for _ in 0..n {
        tags.push(r.str()?);
    }
    let len = r.u32()? as usize;
    let value = r.take(len)?;
    if !r.0.is_empty() {
        return Err(Invalid::Corrupt);
    }
    let meta = Meta {
        namespace,
        key,
        version,
        began_ms,
        fresh_until_ms,
        stale_until_ms,
        value_type,
        cache,
        tags,
    };
    Ok((meta, value))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn meta() -> Meta<'static> {
        Meta {
            namespace: namespace_digest("app"),
            key: key_digest("app", "users", cache_tag("app", "users"), b"k"),
            version: 3,
            began_ms: 10,
            fresh_until_ms: 20,
            stale_until_ms: 30,
            value_type: "u32",
            cache: "users",
            tags: vec!["a", "bc"],
        }
    }

    #[test]
    fn a_record_reads_back() {
        let bytes = seal(&meta(), b"value");
        let (m, v) = open(&bytes).expect("test");
        assert_eq!((m, v), (meta(), &b"value"[..]));
    }

    #[test]
    fn every_flipped_byte_and_every_truncation_is_refused() {
        let bytes = seal(&meta(), b"value");
        for i in 0..bytes.len() {
            let mut b = bytes.clone();
            b[i] ^= 0x41;
            assert!(open(&b).is_err(), "flip at {i}");
            assert!(open(&bytes[..i]).is_err(), "truncated to {i}");
        }
    }

    #[test]
    fn the_engine_hash_names_the_cache_tag() {
        let tag = cache_tag("app", "users");
        let key = key_digest("app", "users", tag, b"k");
        assert_eq!(tag_of(engine_hash(&key)), tag);
        assert_ne!(cache_tag("app", "users"), cache_tag("other", "users"));
    }

    #[test]
    fn another_format_is_foreign() {
        let mut bytes = seal(&meta(), b"value");
        bytes[4] = FORMAT + 1;
        assert_eq!(open(&bytes).expect_err("refused"), Invalid::Foreign);
        assert_eq!(
            open(b"\x00\x01garbage").expect_err("refused"),
            Invalid::Foreign
        );
    }
}
