//! Codecs: how cached values become bytes (for the byte budget, `max_bytes` and remote
//! tiers) and back.
//!
//! The default, [`MessagePack`], is self-describing (named fields), so the shapes cached
//! API values commonly have decode correctly: `#[serde(skip_serializing_if)]`, untagged
//! enums, `serde_json::Value`. Compact formats that are not self-describing, such as
//! postcard (opt-in feature `postcard`), are smaller and faster but fail to decode those
//! shapes; use them only for plain data types. Decoding is bounded by a size limit and
//! never panics on foreign bytes.

use std::fmt;
use std::io;

use serde::Serialize;
use serde::de::DeserializeOwned;

/// Largest encoded value a codec will decode (64 MiB); bigger inputs are refused unread.
///
/// ```
/// use cache_runtime::codec::{Codec, MessagePack, MAX_DECODE_BYTES};
/// let too_big = vec![0u8; MAX_DECODE_BYTES + 1];
/// assert!(MessagePack.decode::<Vec<u8>>(&too_big).is_err());
/// ```
pub const MAX_DECODE_BYTES: usize = 64 << 20;

/// Why a value could not be encoded or decoded.
///
/// ```
/// use cache_runtime::codec::{Codec, MessagePack};
/// let err = MessagePack.decode::<String>(&[0xc1]).unwrap_err();
/// assert!(err.to_string().contains("decode"));
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CodecError(String);

impl fmt::Display for CodecError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for CodecError {}

/// Turns values into bytes and back.
///
/// ```
/// use cache_runtime::codec::{Codec, MessagePack};
/// let bytes = MessagePack.encode(&vec![1u32, 2, 3]).unwrap();
/// assert_eq!(MessagePack.encoded_len(&vec![1u32, 2, 3]).unwrap(), bytes.len());
/// let back: Vec<u32> = MessagePack.decode(&bytes).unwrap();
/// assert_eq!(back, vec![1, 2, 3]);
/// ```
pub trait Codec: Send + Sync + 'static {
    /// A short name for logs and statistics.
    fn name(&self) -> &'static str;
    /// Encodes a value.
    fn encode<T: Serialize + ?Sized>(&self, value: &T) -> Result<Vec<u8>, CodecError>;
    /// Decodes a value; refuses inputs over [`MAX_DECODE_BYTES`], never panics.
    fn decode<T: DeserializeOwned>(&self, bytes: &[u8]) -> Result<T, CodecError>;
    /// The encoded size of a value, without keeping the bytes.
    fn encoded_len<T: Serialize + ?Sized>(&self, value: &T) -> Result<usize, CodecError> {
        self.encode(value).map(|b| b.len())
    }
}

fn check_size(bytes: &[u8]) -> Result<(), CodecError> {
    if bytes.len() > MAX_DECODE_BYTES {
        return Err(CodecError(format!(
            "decode refused: {} bytes exceeds the {MAX_DECODE_BYTES}-byte limit",
            bytes.len()
        )));
    }
    Ok(())
}

/// Counts bytes written without storing them.
struct Counter(usize);

impl io::Write for Counter {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.0 += buf.len();
        Ok(buf.len())
    }
    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

/// MessagePack with named struct fields (`rmp-serde`): the default codec.
///
/// ```
/// use cache_runtime::codec::{Codec, MessagePack};
/// #[derive(serde::Serialize, serde::Deserialize, PartialEq, Debug)]
/// struct User { id: u64, #[serde(skip_serializing_if = "Option::is_none")] nick: Option<String> }
/// let u = User { id: 7, nick: None };
/// let back: User = MessagePack.decode(&MessagePack.encode(&u).unwrap()).unwrap();
/// assert_eq!(back, u);
/// ```
#[derive(Debug, Clone, Copy, Default)]
pub struct MessagePack;

impl Codec for MessagePack {
    fn name(&self) -> &'static str {
        "msgpack"
    }
    fn encode<T: Serialize + ?Sized>(&self, value: &T) -> Result<Vec<u8>, CodecError> {
        rmp_serde::to_vec_named(value).map_err(|e| CodecError(format!("encode: {e}")))
    }
    fn decode<T: DeserializeOwned>(&self, bytes: &[u8]) -> Result<T, CodecError> {
        check_size(bytes)?;
        rmp_serde::from_slice(bytes).map_err(|e| CodecError(format!("decode: {e}")))
    }
    fn encoded_len<T: Serialize + ?Sized>(&self, value: &T) -> Result<usize, CodecError> {
        let mut counter = Counter(0);
        value
            .serialize(&mut rmp_serde::Serializer::new(&mut counter).with_struct_map())
            .map_err(|e| CodecError(format!("encode: {e}")))?;
        Ok(counter.0)
    }
}

/// postcard: compact, not self-describing. It cannot decode `skip_serializing_if` fields,
/// untagged enums or `serde_json::Value`; use it only for plain data types.
///
/// ```
/// use cache_runtime::codec::{Codec, Postcard};
/// let bytes = Postcard.encode(&(1u8, "a")).unwrap();
/// let back: (u8, String) = Postcard.decode(&bytes).unwrap();
/// assert_eq!(back, (1, "a".to_string()));
/// ```
#[cfg(feature = "postcard")]
#[cfg_attr(docsrs, doc(cfg(feature = "postcard")))]
#[derive(Debug, Clone, Copy, Default)]
pub struct Postcard;

#[cfg(feature = "postcard")]
impl Codec for Postcard {
    fn name(&self) -> &'static str {
        "postcard"
    }
    fn encode<T: Serialize + ?Sized>(&self, value: &T) -> Result<Vec<u8>, CodecError> {
        postcard::to_allocvec(value).map_err(|e| CodecError(format!("encode: {e}")))
    }
    fn decode<T: DeserializeOwned>(&self, bytes: &[u8]) -> Result<T, CodecError> {
        check_size(bytes)?;
        postcard::from_bytes(bytes).map_err(|e| CodecError(format!("decode: {e}")))
    }
}

#[cfg(test)]
mod tests {
    use serde::{Deserialize, Serialize};

    use super::*;

    #[derive(Serialize, Deserialize, Debug, PartialEq, Clone)]
    #[serde(untagged)]
    enum Either {
        Num(i64),
        Text(String),
    }

    #[derive(Serialize, Deserialize, Debug, PartialEq, Clone)]
    struct ApiValue {
        id: u64,
        #[serde(skip_serializing_if = "Option::is_none")]
        note: Option<String>,
        either: Either,
        extra: serde_json::Value,
    }

    fn sample() -> Vec<ApiValue> {
        vec![
            ApiValue {
                id: 1,
                note: None,
                either: Either::Num(-3),
                extra: serde_json::json!({"a": [1, 2.5, null, "x"], "b": {"c": true}}),
            },
            ApiValue {
                id: 2,
                note: Some("n".into()),
                either: Either::Text("t".into()),
                extra: serde_json::Value::Null,
            },
        ]
    }

    #[test]
    fn msgpack_round_trips_common_api_shapes() {
        let v = sample();
        let bytes = MessagePack.encode(&v).expect("encode");
        assert_eq!(MessagePack.encoded_len(&v).expect("len"), bytes.len());
        let back: Vec<ApiValue> = MessagePack.decode(&bytes).expect("decode");
        assert_eq!(back, v);
    }

    #[test]
    fn foreign_bytes_are_errors_not_panics() {
        let good = MessagePack.encode(&sample()).expect("encode");
        // Every truncation and a spread of corruptions: always Ok or Err, never a panic.
        for cut in 0..good.len() {
            let _ = MessagePack.decode::<Vec<ApiValue>>(&good[..cut]);
        }
        let mut rng = fastrand::Rng::with_seed(7);
        for _ in 0..2000 {
            let mut bad = good.clone();
            let i = rng.usize(..bad.len());
            bad[i] = rng.u8(..);
            let _ = MessagePack.decode::<Vec<ApiValue>>(&bad);
        }
        // Another type under the same bytes is an error.
        assert!(MessagePack.decode::<u64>(&good).is_err());
        let huge = vec![0u8; MAX_DECODE_BYTES + 1];
        assert!(MessagePack.decode::<Vec<u8>>(&huge).is_err());
    }

    #[cfg(feature = "postcard")]
    #[test]
    fn postcard_cannot_decode_self_describing_shapes() {
        // The documented caveat, demonstrated: postcard round-trips plain data...
        let plain = (1u64, "x".to_string(), vec![1u8, 2]);
        let back: (u64, String, Vec<u8>) = Postcard
            .decode(&Postcard.encode(&plain).expect("encode"))
            .expect("decode");
        assert_eq!(back, plain);
        // ...but not a skipped field.
        let bytes = Postcard
            .encode(&sample())
            .map(|b| Postcard.decode::<Vec<ApiValue>>(&b));
        assert!(!matches!(bytes, Ok(Ok(ref v)) if *v == sample()));
    }
}
