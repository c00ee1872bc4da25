//! The envelope as plain functions of bytes, outside any Redis read: what the fuzz
//! tests, the benchmarks and the tests that forge entries in a real Redis use. Not public
//! API (reached through `__private`).

use std::time::Duration;

use super::envelope::{Header, Stamp, envelope};
use super::open::{open, verify};
use super::seal::{Keyring, Sealing, SigningKey};
use super::types::unix_ms;

fn keyring(secrets: &[&[u8]]) -> Keyring {
    Keyring::new(secrets.iter().map(|s| SigningKey::new(s)).collect())
}

/// Seals `value` as the remote tier writes it under Redis key `key` (generation 0, no
/// tags, fresh for 60 s from now), with the first of `secrets` signing.
///
/// ```
/// # #[cfg(feature = "redis")] {
/// use cache_runtime::__private::{open_envelope, seal_envelope};
/// let bytes = seal_envelope("ns:c:v0:ab", b"value", &[b"secret"], 1024, false).unwrap();
/// assert_eq!(open_envelope("ns:c:v0:ab", &bytes, &[b"secret"]).unwrap(), b"value");
/// assert!(open_envelope("ns:c:v0:cd", &bytes, &[b"secret"]).is_err());
/// # }
/// ```
pub fn seal_envelope(
    key: &str,
    value: &[u8],
    secrets: &[&[u8]],
    compress_threshold: usize,
    encrypt: bool,
) -> Result<Vec<u8>, String> {
    let keys = keyring(secrets);
    let stamp = Stamp {
        key: key.to_owned(),
        generation: 0,
        tags: Vec::new(),
        known: true,
    };
    let sealing = Sealing {
        keys: &keys,
        compress_threshold,
        encrypt,
    };
    let d = Duration::from_secs(60);
    envelope(&stamp, unix_ms(), d, d, value, sealing).map_err(|e| format!("{e:?}"))
}

/// Opens an envelope read under Redis key `key` as the remote tier does (parse, verify,
/// decrypt, inflate), ignoring generations and times: the value's bytes, or why not.
///
/// ```
/// # #[cfg(feature = "redis")] {
/// let err = cache_runtime::__private::open_envelope("k", b"\x02", &[]).unwrap_err();
/// assert!(err.contains("Short"));
/// # }
/// ```
pub fn open_envelope(key: &str, bytes: &[u8], secrets: &[&[u8]]) -> Result<Vec<u8>, String> {
    let keys = keyring(secrets);
    let run = || {
        let mut header = Header::parse(bytes)?;
        verify(key, &header, bytes, &keys)?;
        let mut out = open(key, &mut header, bytes.to_vec(), &keys)?;
        out.drain(..header.body_at().min(out.len()));
        Ok(out)
    };
    run().map_err(|e: super::envelope::Corrupt| format!("{e:?}"))
}
