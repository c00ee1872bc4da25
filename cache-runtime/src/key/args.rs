//! What generated code writes keys with: the default key (the tuple of the key inputs,
//! one argument at a time, so a type that cannot be encoded is reported at that argument)
//! or the value of `key = ...`, followed by the concrete types of a generic function's
//! type parameters.

use serde::Serialize;

use super::encode::{self, KeyBuf, KeyError, PREFIX};

/// An encoded key value (or why it could not be encoded), and where the type parameters
/// of a generic function begin in it.
pub struct KeyBytes {
    pub(crate) buf: Result<KeyBuf, KeyError>,
    pub(crate) suffix: usize,
}

/// Where a key input's encoding is written.
pub struct KeyWriter<'a>(&'a mut KeyBuf);

/// Values that can be part of a cache key: every `serde::Serialize` type.
#[diagnostic::on_unimplemented(
    message = "`{Self}` cannot be part of a cache key",
    label = "this argument is part of the cache key",
    note = "key inputs must implement `serde::Serialize`: derive it, leave the argument out with `skip(...)`, or choose the key with `key = ...`"
)]
pub trait KeyArg {
    /// Appends this value's canonical encoding.
    fn write_key(&self, out: KeyWriter<'_>) -> Result<(), KeyError>;
}

impl<T: Serialize + ?Sized> KeyArg for T {
    #[inline]
    fn write_key(&self, out: KeyWriter<'_>) -> Result<(), KeyError> {
        encode::encode_into(out.0, self)
    }
}

/// Encodes a key value (from `key = ...`) plus the concrete types of the function's type
/// parameters.
#[inline]
pub fn key<K: ?Sized + KeyArg>(value: &K, generics: &[&'static str]) -> KeyBytes {
    let mut buf = encode::empty_key();
    let encoded = value.write_key(KeyWriter(&mut buf));
    finish(buf, encoded, generics)
}

#[inline]
fn finish(mut buf: KeyBuf, encoded: Result<(), KeyError>, generics: &[&'static str]) -> KeyBytes {
    let suffix = buf.len();
    encode::push_generics(&mut buf, generics);
    KeyBytes {
        buf: encoded.map(|()| buf),
        suffix,
    }
}

/// The default key, the tuple of the key inputs, built one input at a time so that a
/// type that cannot be encoded is reported at that argument alone.
pub struct KeyArgs {
    buf: KeyBuf,
    encoded: Result<(), KeyError>,
}

/// Starts the default key of a function with at least one key input.
#[inline]
pub fn key_args() -> KeyArgs {
    let mut buf = encode::empty_key();
    encode::start_tuple(&mut buf);
    KeyArgs {
        buf,
        encoded: Ok(()),
    }
}

impl KeyArgs {
    /// Appends one key input.
    #[inline]
    pub fn arg<K: ?Sized + KeyArg>(&mut self, value: &K) {
        // Only an error is copied: assigning the whole `Result` on every argument read it
        // back wider than it was written, a store-forwarding stall per argument on the
        // hit path (perf: a fifth of the generated function's time).
        if self.encoded.is_ok()
            && let Err(e) = value.write_key(KeyWriter(&mut self.buf))
        {
            self.encoded = Err(e);
        }
    }

    /// Appends the concrete types of the function's type parameters.
    #[inline]
    pub fn finish(self, generics: &[&'static str]) -> KeyBytes {
        finish(self.buf, self.encoded, generics)
    }
}

/// Writes the cache id and version into the reserved prefix of an encoded key.
pub(crate) fn stamp(buf: &mut [u8], id: u32, version: u32) {
    buf[..4].copy_from_slice(&id.to_le_bytes());
    buf[4..PREFIX].copy_from_slice(&version.to_le_bytes());
}
