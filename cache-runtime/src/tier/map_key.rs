//! The in-process map's key: a call's encoded key bytes, kept inline in quick_cache's slot
//! when they are short (most keys: a cache id, a version and a few encoded arguments), so
//! that a hit compares them without following a pointer, and a stored entry costs no
//! allocation for its key. Longer keys fall back to a boxed slice. Hashing and equality
//! are those of the bytes (`[u8]`), so the map is read with a plain `&[u8]`.

use std::borrow::Borrow;
use std::hash::{Hash, Hasher};

/// Keys up to this many bytes are kept inline: with the length and the variant's tag the
/// key is 24 bytes, the size of the boxed slice (16) rounded up to the slot's alignment
/// with room to spare.
pub(crate) const INLINE: usize = 22;

/// The map's key (see the module docs).
#[derive(Clone)]
pub(crate) enum MapKey {
    Inline { len: u8, bytes: [u8; INLINE] },
    Heap(Box<[u8]>),
}

impl MapKey {
    #[inline]
    pub(crate) fn new(key: &[u8]) -> Self {
        if key.len() <= INLINE {
            let mut bytes = [0; INLINE];
            bytes[..key.len()].copy_from_slice(key);
            Self::Inline {
                len: key.len() as u8,
                bytes,
            }
        } else {
            Self::Heap(key.into())
        }
    }

    #[inline]
    pub(crate) fn as_bytes(&self) -> &[u8] {
        match self {
            Self::Inline { len, bytes } => &bytes[..usize::from(*len)],
            Self::Heap(b) => b,
        }
    }

    /// Heap bytes this key holds besides itself (for the byte budget): none inline, else
    /// its allocation as the allocator rounds it (16-byte steps, an 8-byte header, at
    /// least 32 bytes).
    pub(crate) fn heap_bytes(len: usize) -> usize {
        if len <= INLINE {
            0
        } else {
            (len + 8).div_ceil(16).max(2) * 16
        }
    }
}

impl Borrow<[u8]> for MapKey {
    #[inline]
    fn borrow(&self) -> &[u8] {
        self.as_bytes()
    }
}

impl PartialEq for MapKey {
    #[inline]
    fn eq(&self, other: &Self) -> bool {
        self.as_bytes() == other.as_bytes()
    }
}

impl Eq for MapKey {}

impl Hash for MapKey {
    /// As `[u8]` hashes, so that a `&[u8]` finds it.
    #[inline]
    fn hash<H: Hasher>(&self, state: &mut H) {
        self.as_bytes().hash(state);
    }
}

#[cfg(test)]
mod tests {
    use std::hash::BuildHasher;

    use super::*;

    #[test]
    fn short_keys_are_inline_long_ones_boxed_and_both_hash_as_bytes() {
        assert_eq!(size_of::<MapKey>(), 24);
        let hasher = foldhash::fast::FixedState::with_seed(1);
        for len in [0, 1, 13, INLINE, INLINE + 1, 100] {
            let bytes: Vec<u8> = (0..len as u8).collect();
            let key = MapKey::new(&bytes);
            assert_eq!(matches!(key, MapKey::Inline { .. }), len <= INLINE);
            assert_eq!(key.as_bytes(), &bytes[..]);
            assert_eq!(hasher.hash_one(&key), hasher.hash_one(&bytes[..]));
            assert!(key == MapKey::new(&bytes));
        }
        assert!(MapKey::new(b"ab") != MapKey::new(b"abc"));
        assert_eq!(MapKey::heap_bytes(INLINE), 0);
        assert_eq!(MapKey::heap_bytes(30), 48);
    }
}
