//! How values are sealed in Redis: the signing keys (several read, the first writes), the
//! compression threshold and encryption, per runtime and per cache. `envelope.rs` applies
//! them.

use std::collections::HashMap;

/// Values of at least this many encoded bytes are compressed, unless configured otherwise.
pub(crate) const DEFAULT_COMPRESS_THRESHOLD: usize = 1024;

/// One signing key, as derived from the configured secret: a MAC key, an encryption key
/// and a short id that envelopes carry so a reader picks the key without trying each.
#[derive(Clone)]
pub(crate) struct SigningKey {
    pub(crate) id: [u8; 4],
    mac: [u8; 32],
    pub(crate) cipher: [u8; 32],
}

impl std::fmt::Debug for SigningKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Never the key material.
        f.debug_struct("SigningKey")
            .field("id", &self.id)
            .finish_non_exhaustive()
    }
}

impl SigningKey {
    /// Derives the keys from a secret of any length (blake3's key derivation, one context
    /// per purpose).
    pub(crate) fn new(secret: &[u8]) -> Self {
        let id = blake3::derive_key("cache-runtime 2026 envelope key id", secret);
        Self {
            id: [id[0], id[1], id[2], id[3]],
            mac: blake3::derive_key("cache-runtime 2026 envelope mac", secret),
            cipher: blake3::derive_key("cache-runtime 2026 envelope encryption", secret),
        }
    }

    /// The MAC of `bytes` written for Redis key `key`.
    pub(crate) fn mac(&self, key: &str, bytes: &[u8]) -> blake3::Hash {
        let mut h = blake3::Hasher::new_keyed(&self.mac);
        h.update(&(key.len() as u64).to_le_bytes());
        h.update(key.as_bytes());
        h.update(bytes);
        h.finalize()
    }
}

/// The signing keys of a runtime: every one is accepted on read, the first signs writes.
#[derive(Clone, Debug, Default)]
pub(crate) struct Keyring(Vec<SigningKey>);

#[cfg(test)]
static EMPTY: Keyring = Keyring(Vec::new());

impl Keyring {
    pub(crate) fn new(keys: Vec<SigningKey>) -> Self {
        Self(keys)
    }

    /// A keyring without keys: entries are checked by their key digest only.
    #[cfg(test)]
    pub(crate) fn empty() -> &'static Self {
        &EMPTY
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// The key that signs writes.
    pub(crate) fn writer(&self) -> Option<&SigningKey> {
        self.0.first()
    }

    /// The key whose id an envelope names.
    pub(crate) fn find(&self, id: [u8; 4]) -> Option<&SigningKey> {
        self.0.iter().find(|k| k.id == id)
    }
}

/// Per-cache replacements of the runtime's sealing settings.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) struct CacheSealing {
    pub(crate) compress_threshold: Option<usize>,
    pub(crate) encrypt: Option<bool>,
}

/// How a runtime seals the values it writes to Redis.
#[derive(Clone, Debug)]
pub(crate) struct Protection {
    pub(crate) keys: Keyring,
    /// 0: no compression.
    pub(crate) compress_threshold: usize,
    pub(crate) encrypt: bool,
    pub(crate) caches: HashMap<String, CacheSealing>,
}

impl Default for Protection {
    fn default() -> Self {
        Self {
            keys: Keyring::default(),
            compress_threshold: DEFAULT_COMPRESS_THRESHOLD,
            encrypt: false,
            caches: HashMap::new(),
        }
    }
}

/// What one write of one cache does.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Sealing<'a> {
    pub(crate) keys: &'a Keyring,
    pub(crate) compress_threshold: usize,
    pub(crate) encrypt: bool,
}

impl Protection {
    /// The sealing of a write of cache `name`.
    pub(crate) fn for_cache(&self, name: &str) -> Sealing<'_> {
        let over = self.caches.get(name).copied().unwrap_or_default();
        Sealing {
            keys: &self.keys,
            compress_threshold: over.compress_threshold.unwrap_or(self.compress_threshold),
            encrypt: over.encrypt.unwrap_or(self.encrypt),
        }
    }
}
