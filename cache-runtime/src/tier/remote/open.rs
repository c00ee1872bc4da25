//! Reading an envelope back (see `envelope.rs` for the format): checking that it was
//! written for the key it was read from and by a holder of the signing keys, then
//! decrypting and inflating its payload. Nothing here panics, whatever the bytes; a
//! compressed payload is inflated only when the length it declares is within
//! [`MAX_DECODE_BYTES`], into a buffer of that size and no more.

use std::cell::RefCell;

use chacha20poly1305::aead::{Aead, KeyInit, Payload};
use chacha20poly1305::{Key, XChaCha20Poly1305, XNonce};

use super::envelope::{
    COMPRESSED, Corrupt, DIGEST, ENCRYPTED, Header, KEY_ID, MAC, NONCE, SIGNED, array_at,
    associated, key_digest,
};
use super::seal::Keyring;
use crate::codec::MAX_DECODE_BYTES;

/// Checks that `bytes`, whose header is `header`, were written for `key` by a holder of
/// the keyring's keys (when it has any), before anything else is read from them.
pub(crate) fn verify(
    key: &str,
    header: &Header,
    bytes: &[u8],
    keys: &Keyring,
) -> Result<(), Corrupt> {
    if bytes.get(header.digest_at..header.digest_at + DIGEST) != Some(&key_digest(key)[..]) {
        return Err(Corrupt::Moved);
    }
    if header.flags & ENCRYPTED != 0 {
        // Authenticated when opened.
        return Ok(());
    }
    if header.flags & SIGNED == 0 {
        return if keys.is_empty() {
            Ok(())
        } else {
            Err(Corrupt::Unsigned)
        };
    }
    // Without keys a signed entry is trusted as an unsigned one is: by its digest.
    if keys.is_empty() {
        return Ok(());
    }
    let id = header.key_id.ok_or(Corrupt::Forged)?;
    let k = keys.find(id).ok_or(Corrupt::Forged)?;
    let at = bytes.len().checked_sub(MAC).ok_or(Corrupt::Short)?;
    let mac = k.mac(key, &bytes[..at]);
    // blake3::Hash compares in constant time.
    let expected: [u8; MAC] = array_at(bytes, at)?;
    if mac == blake3::Hash::from(expected) {
        Ok(())
    } else {
        Err(Corrupt::Forged)
    }
}

/// The value's bytes of a verified entry: decrypted and inflated as flagged. `bytes` is
/// consumed; an unsealed, uncompressed entry costs no copy.
pub(crate) fn open(
    key: &str,
    header: &mut Header,
    mut bytes: Vec<u8>,
    keys: &Keyring,
) -> Result<Vec<u8>, Corrupt> {
    if header.value_len > MAX_DECODE_BYTES {
        return Err(Corrupt::Bomb);
    }
    let at = header.body_at;
    let mut payload = if header.flags & ENCRYPTED != 0 {
        let id = header.key_id.ok_or(Corrupt::Short)?;
        let nonce: [u8; NONCE] = array_at(&bytes, header.digest_at + DIGEST + KEY_ID)?;
        let k = keys.find(id).ok_or(Corrupt::Sealed)?;
        let cipher = XChaCha20Poly1305::new(Key::from_slice(&k.cipher));
        let (head, body) = bytes.split_at(at);
        let aad = associated(key, head);
        cipher
            .decrypt(
                XNonce::from_slice(&nonce),
                Payload {
                    msg: body,
                    aad: &aad,
                },
            )
            .map_err(|_| Corrupt::Sealed)?
    } else {
        if header.flags & SIGNED != 0 {
            bytes.truncate(bytes.len().saturating_sub(MAC));
        }
        if header.flags & COMPRESSED == 0 {
            if bytes.len() - at.min(bytes.len()) != header.value_len {
                return Err(Corrupt::Inflate);
            }
            header.body_at = at;
            return Ok(bytes);
        }
        bytes.drain(..at);
        bytes
    };
    header.body_at = 0;
    if header.flags & COMPRESSED != 0 {
        payload = inflate(&payload, header.value_len)?;
    }
    if payload.len() != header.value_len {
        return Err(Corrupt::Inflate);
    }
    Ok(payload)
}

/// Inflates a zstd frame into at most `limit` bytes: a frame that would grow past it is
/// an error, never an allocation of its size.
pub(crate) fn inflate(compressed: &[u8], limit: usize) -> Result<Vec<u8>, Corrupt> {
    if limit > MAX_DECODE_BYTES {
        return Err(Corrupt::Bomb);
    }
    // The frame's own declared size, when it has one, must match: a frame declaring more
    // is refused before a byte is inflated.
    if let Ok(Some(declared)) = zstd::zstd_safe::get_frame_content_size(compressed)
        && declared != limit as u64
    {
        return Err(Corrupt::Inflate);
    }
    let out = INFLATE
        .with(|d| {
            let mut d = d.borrow_mut();
            if d.is_none() {
                *d = zstd::bulk::Decompressor::new().ok();
            }
            d.as_mut().map(|d| d.decompress(compressed, limit))
        })
        .ok_or(Corrupt::Inflate)?
        .map_err(|_| Corrupt::Inflate)?;
    if out.len() != limit {
        return Err(Corrupt::Inflate);
    }
    Ok(out)
}

thread_local! {
    /// A zstd context per thread (the Redis thread, in practice): creating one per value
    /// would cost more than inflating a few KB.
    static INFLATE: RefCell<Option<zstd::bulk::Decompressor<'static>>> = const { RefCell::new(None) };
}
