//! The in-process map's key: a call's encoded key bytes, kept inline in quick_cache's slot
//! when they are short (most keys: a cache id, a version and a few encoded arguments), so
//! that a hit compares them without following a pointer, and a stored entry costs no
//! allocation for its key. Longer keys fall back to a boxed slice. Hashing and equality
//! are those of the bytes (`[u8]`), so the map is read with a plain `&[u8]`.

use std::borrow::Borrow;
use std::hash::{Hash, Hasher};

/// Keys up to this many bytes are kept inline: with the length, the entry's weight and the
/// variant's tag the key is 24 bytes, the size of a boxed slice with the weight beside it.
pub(crate) const INLINE: usize = 18;

/// The map's key (see the module docs), with the weight its entry is charged against the
/// byte budget: the map's weigher reads it here, so the entry's own allocation does not
/// hold it. Keys begin with their cache's id ([`cache_id`](Self::cache_id)).
#[derive(Clone)]
pub(crate) enum MapKey {
    Inline {
        len: u8,
        bytes: [u8; INLINE],
        weight: u32,
    },
    Heap {
        bytes: Box<[u8]>,
        weight: u32,
    },
}

impl MapKey {
    /// `key`, for an entry of `weight` bytes (saturated at `u32::MAX`).
    #[inline]
    pub(crate) fn new(key: &[u8], weight: u64) -> Self {
        let weight = u32::try_from(weight).unwrap_or(u32::MAX);
        if key.len() <= INLINE {
            let mut bytes = [0; INLINE];
            bytes[..key.len()].copy_from_slice(key);
            Self::Inline {
                len: key.len() as u8,
                bytes,
                weight,
            }
        } else {
            Self::Heap {
                bytes: key.into(),
                weight,
            }
        }
    }

    /// What its entry is charged against the byte budget.
    #[inline]
    pub(crate) fn weight(&self) -> u64 {
        match self {
            Self::Inline { weight, .. } | Self::Heap { weight, .. } => u64::from(*weight),
        }
    }

    /// The id of the cache its entry belongs to: the first four bytes of every key
    /// (`key::stamp`).
    #[inline]
    pub(crate) fn cache_id(&self) -> u32 {
        cache_id(self.as_bytes())
    }

    #[inline]
    pub(crate) fn as_bytes(&self) -> &[u8] {
        match self {
            Self::Inline { len, bytes, .. } => &bytes[..usize::from(*len)],
            Self::Heap { bytes, .. } => bytes,
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

/// The cache id an encoded key begins with (0 for a key too short to hold one).
#[inline]
pub(crate) fn cache_id(key: &[u8]) -> u32 {
    key.get(..4)
        .and_then(|b| b.try_into().ok())
        .map_or(0, u32::from_le_bytes)
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
            let key = MapKey::new(&bytes, 77);
            assert_eq!(matches!(key, MapKey::Inline { .. }), len <= INLINE);
            assert_eq!(key.weight(), 77);
            assert_eq!(key.as_bytes(), &bytes[..]);
            assert_eq!(hasher.hash_one(&key), hasher.hash_one(&bytes[..]));
            // Equal by their bytes alone, whatever their weights.
            assert!(key == MapKey::new(&bytes, 5));
        }
        assert!(MapKey::new(b"ab", 1) != MapKey::new(b"abc", 1));
        assert_eq!(MapKey::new(&[7, 1, 0, 0, 9, 9], 1).cache_id(), 263);
        assert_eq!(MapKey::new(b"x", u64::MAX).weight(), u64::from(u32::MAX));
        assert_eq!(MapKey::heap_bytes(INLINE), 0);
        assert_eq!(MapKey::heap_bytes(30), 48);
    }
}
