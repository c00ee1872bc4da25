//! [`CacheKey`]: the 256-bit name of a cache entry outside the process.

use std::fmt;

use serde::Serialize;

use super::encode::{KeyError, KeyParts, encode_key};

/// The 256-bit name of one cache entry, identical in every process and build of the same
/// code: blake3 over the namespace, the cache name, its version, a fingerprint of the
/// cached value's type and the canonical encoding of the key value.
///
/// Its display form, `namespace:name:vN:<64 hex digits>`, is what a remote tier stores the
/// entry under; the readable prefix groups a cache's entries for operators.
///
/// ```
/// use cache_runtime::CacheKey;
///
/// let a = CacheKey::new::<String, _>("svc", "user_name", 1, &(42u64,)).unwrap();
/// let b = CacheKey::new::<String, _>("svc", "user_name", 1, &(42u64,)).unwrap();
/// let c = CacheKey::new::<String, _>("svc", "user_name", 2, &(42u64,)).unwrap();
/// assert_eq!(a, b);
/// assert_ne!(a, c);
/// assert!(a.to_string().starts_with("svc:user_name:v1:"));
/// assert_eq!(a.to_string().len(), "svc:user_name:v1:".len() + 64);
/// ```
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct CacheKey {
    prefix: String,
    digest: [u8; 32],
}

impl CacheKey {
    /// The key of `key_value` in cache `name` (at `version`) of `namespace`, for values of
    /// type `V`.
    ///
    /// ```
    /// # use cache_runtime::CacheKey;
    /// let k = CacheKey::new::<Vec<u8>, _>("ns", "blobs", 0, &("a", 1)).unwrap();
    /// assert_eq!(k.prefix(), "ns:blobs:v0");
    /// ```
    pub fn new<V: ?Sized, K: Serialize + ?Sized>(
        namespace: &str,
        name: &str,
        version: u32,
        key_value: &K,
    ) -> Result<Self, KeyError> {
        let (encoded, _) = encode_key(key_value, &[])?;
        Ok(Self::from_encoded(
            namespace,
            name,
            version,
            std::any::type_name::<V>(),
            encoded.encoded(),
        ))
    }

    pub(crate) fn from_encoded(
        namespace: &str,
        name: &str,
        version: u32,
        value_type: &str,
        encoded: &[u8],
    ) -> Self {
        let mut h = blake3::Hasher::new_derive_key("cache-runtime 2026 entry key");
        for part in [namespace.as_bytes(), name.as_bytes(), value_type.as_bytes()] {
            h.update(&(part.len() as u64).to_le_bytes());
            h.update(part);
        }
        h.update(&version.to_le_bytes());
        h.update(encoded);
        Self {
            prefix: format!("{namespace}:{name}:v{version}"),
            digest: *h.finalize().as_bytes(),
        }
    }

    /// The readable prefix `namespace:name:vN`.
    ///
    /// ```
    /// # use cache_runtime::CacheKey;
    /// let k = CacheKey::new::<u8, _>("ns", "c", 3, &()).unwrap();
    /// assert_eq!(k.prefix(), "ns:c:v3");
    /// ```
    pub fn prefix(&self) -> &str {
        &self.prefix
    }

    /// The 32-byte blake3 digest.
    ///
    /// ```
    /// # use cache_runtime::CacheKey;
    /// let k = CacheKey::new::<u8, _>("ns", "c", 0, &()).unwrap();
    /// assert_eq!(k.digest().len(), 32);
    /// ```
    pub fn digest(&self) -> &[u8; 32] {
        &self.digest
    }
}

impl fmt::Display for CacheKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:", self.prefix)?;
        for b in self.digest {
            write!(f, "{b:02x}")?;
        }
        Ok(())
    }
}

impl fmt::Debug for CacheKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "CacheKey({self})")
    }
}
