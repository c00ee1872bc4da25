//! Cache keys: the canonical encoding of key values (`encode.rs`), what generated code
//! writes them with (`args.rs`), and the 256-bit [`CacheKey`] digest.

mod args;
mod digest;
mod display;
mod encode;

pub(crate) use args::stamp;
pub use args::{KeyArg, KeyArgs, KeyBytes, KeyWriter, key, key_args};
pub use digest::CacheKey;
pub(crate) use display::display;
pub use encode::KeyError;
pub(crate) use encode::{KeyBuf, KeyParts, PREFIX, encode_key, unstamped};
