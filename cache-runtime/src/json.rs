//! A JSON response body serialized once, when it is computed, and shared by every hit.
//!
//! A cached `Json<T>` is cloned out of the cache and serialized again on every hit; for an
//! API answer of a few kilobytes that is most of the cost of a cached request. Return
//! [`CachedJson<T>`] instead and a hit costs a reference-count increment: the bytes are
//! made once, stored, and written to the response as they are.
//!
//! The body also carries a strong ETag and, from 1000 bytes on, its gzip and brotli
//! variants, made when it is computed; the [`HttpCache`](crate::http::HttpCache) layer
//! serves them (see [`crate::http`]).

use std::fmt;
use std::marker::PhantomData;
use std::sync::Arc;

use axum::body::Bytes;
use axum::http::{HeaderValue, header};
use axum::response::{IntoResponse, Response};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::http::{ContentCoding, Representation, StoredBody};

/// The JSON encoding of a `T`, made once and shared: cheap to clone, written to the
/// response as it is.
///
/// ```
/// use cache_runtime::{CachedJson, cache_result};
///
/// #[derive(serde::Serialize, serde::Deserialize, PartialEq, Debug)]
/// struct Top { posts: Vec<String> }
///
/// #[cache_result("doc_cached_json", ttl = 60)]
/// async fn top_posts(limit: usize) -> Result<CachedJson<Top>, String> {
///     let top = Top { posts: (0..limit).map(|i| format!("post {i}")).collect() };
///     CachedJson::new(&top).map_err(|e| e.to_string())
/// }
///
/// # #[tokio::main(flavor = "current_thread")] async fn main() {
/// let body = top_posts(2).await.unwrap();       // serialized once, here
/// let again = top_posts(2).await.unwrap();      // a hit: the same bytes, not re-encoded
/// assert_eq!(body.as_bytes(), again.as_bytes());
/// assert_eq!(body.as_bytes(), br#"{"posts":["post 0","post 1"]}"#);
/// assert_eq!(again.decode().unwrap(), Top { posts: vec!["post 0".into(), "post 1".into()] });
/// # }
/// ```
pub struct CachedJson<T> {
    body: Arc<StoredBody>,
    _value: PhantomData<fn() -> T>,
}

impl<T: Serialize> CachedJson<T> {
    /// Serializes `value` to JSON, and makes its ETag and (from
    /// [`MIN_COMPRESS_BYTES`](crate::http::MIN_COMPRESS_BYTES) on) its gzip and brotli
    /// variants: the cost of a miss, paid once per stored value.
    ///
    /// ```
    /// let j = cache_runtime::CachedJson::new(&[1, 2]).unwrap();
    /// assert_eq!(j.as_bytes(), b"[1,2]");
    /// ```
    pub fn new(value: &T) -> Result<Self, serde_json::Error> {
        Ok(Self::wrap(StoredBody::computed(Bytes::from(
            serde_json::to_vec(value)?,
        ))))
    }
}

impl<T> CachedJson<T> {
    fn wrap(body: StoredBody) -> Self {
        Self {
            body: Arc::new(body),
            _value: PhantomData,
        }
    }

    /// The JSON text.
    ///
    /// ```
    /// let j = cache_runtime::CachedJson::new(&"hi").unwrap();
    /// assert_eq!(j.as_bytes(), br#""hi""#);
    /// ```
    pub fn as_bytes(&self) -> &[u8] {
        self.body.plain()
    }

    /// The strong entity tag of the JSON text (quoted, from its BLAKE3 digest).
    ///
    /// ```
    /// let a = cache_runtime::CachedJson::new(&1).unwrap();
    /// let b = cache_runtime::CachedJson::new(&1).unwrap();
    /// assert_eq!(a.etag(), b.etag());
    /// assert!(a.etag().starts_with('"') && a.etag().ends_with('"'));
    /// ```
    pub fn etag(&self) -> &str {
        self.body.etag().to_str().unwrap_or_default()
    }

    /// The body in `coding`, as a hit sends it; `None` when the body is too short to be
    /// worth compressing (it is then always sent plain).
    ///
    /// ```
    /// use cache_runtime::{CachedJson, http::ContentCoding};
    /// let big = CachedJson::new(&vec!["some words"; 200]).unwrap();
    /// assert!(big.encoded(ContentCoding::Gzip).unwrap().len() < big.as_bytes().len());
    /// let small = CachedJson::new(&1).unwrap();
    /// assert_eq!(small.encoded(ContentCoding::Brotli), None);
    /// ```
    pub fn encoded(&self, coding: ContentCoding) -> Option<&[u8]> {
        self.body.variant(coding).map(|b| &b[..])
    }
}

impl<T: DeserializeOwned> CachedJson<T> {
    /// Parses the JSON back into a `T`.
    ///
    /// ```
    /// let j = cache_runtime::CachedJson::new(&vec![3u8]).unwrap();
    /// assert_eq!(j.decode().unwrap(), vec![3u8]);
    /// ```
    pub fn decode(&self) -> Result<T, serde_json::Error> {
        serde_json::from_slice(self.body.plain())
    }
}

impl<T> Clone for CachedJson<T> {
    fn clone(&self) -> Self {
        Self {
            body: Arc::clone(&self.body),
            _value: PhantomData,
        }
    }
}

impl<T> fmt::Debug for CachedJson<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("CachedJson")
            .field(&String::from_utf8_lossy(self.body.plain()))
            .finish()
    }
}

/// The plain JSON with its `ETag`; behind the [`HttpCache`](crate::http::HttpCache) layer
/// a hit also gets `304`s, the stored compressed variants and `Cache-Control`.
impl<T> IntoResponse for CachedJson<T> {
    fn into_response(self) -> Response {
        let mut response = (
            [
                (
                    header::CONTENT_TYPE,
                    HeaderValue::from_static("application/json"),
                ),
                (header::ETAG, self.body.etag().clone()),
            ],
            self.body.plain().clone(),
        )
            .into_response();
        response.extensions_mut().insert(Representation(self.body));
        response
    }
}

/// Stored (in a remote tier) as the JSON bytes themselves: not the compressed variants,
/// which a reading instance makes again the first time a client asks for each (Redis
/// holds and sends a third of the bytes; the cost, ~0.1 ms per variant, is paid once per
/// entry and instance).
impl<T> Serialize for CachedJson<T> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_bytes(self.body.plain())
    }
}

/// Read back from a remote tier; bytes that are not valid JSON are refused, so a corrupt
/// entry is a miss, never a broken response.
impl<'de, T> Deserialize<'de> for CachedJson<T> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let bytes = serde_bytes_buf(deserializer)?;
        serde_json::from_slice::<serde::de::IgnoredAny>(&bytes)
            .map_err(|e| serde::de::Error::custom(format!("not JSON: {e}")))?;
        Ok(Self::wrap(StoredBody::decoded(Bytes::from(bytes))))
    }
}

fn serde_bytes_buf<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Vec<u8>, D::Error> {
    struct Visitor;
    impl<'de> serde::de::Visitor<'de> for Visitor {
        type Value = Vec<u8>;
        fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.write_str("JSON bytes")
        }
        fn visit_bytes<E: serde::de::Error>(self, v: &[u8]) -> Result<Vec<u8>, E> {
            Ok(v.to_vec())
        }
        fn visit_byte_buf<E: serde::de::Error>(self, v: Vec<u8>) -> Result<Vec<u8>, E> {
            Ok(v)
        }
        fn visit_seq<A: serde::de::SeqAccess<'de>>(self, mut seq: A) -> Result<Vec<u8>, A::Error> {
            let mut out = Vec::with_capacity(seq.size_hint().unwrap_or(0).min(1 << 20));
            while let Some(b) = seq.next_element()? {
                out.push(b);
            }
            Ok(out)
        }
    }
    deserializer.deserialize_byte_buf(Visitor)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::codec::{Codec, MessagePack};

    #[test]
    fn round_trips_through_the_codec_and_refuses_non_json() {
        let j = CachedJson::new(&serde_json::json!({"a": [1, 2]})).expect("json");
        let bytes = MessagePack.encode(&j).expect("encode");
        let back: CachedJson<serde_json::Value> = MessagePack.decode(&bytes).expect("decode");
        assert_eq!(back.as_bytes(), j.as_bytes());
        let junk = MessagePack
            .encode(&serde_bytes_like(b"{not json"))
            .expect("encode");
        assert!(
            MessagePack
                .decode::<CachedJson<serde_json::Value>>(&junk)
                .is_err()
        );
    }

    fn serde_bytes_like(b: &[u8]) -> impl Serialize + '_ {
        struct B<'a>(&'a [u8]);
        impl Serialize for B<'_> {
            fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                s.serialize_bytes(self.0)
            }
        }
        B(b)
    }

    #[tokio::test]
    async fn responds_with_the_bytes_as_json() {
        use axum::body::to_bytes;
        let resp = CachedJson::new(&vec!["x"]).expect("json").into_response();
        assert_eq!(resp.headers()[header::CONTENT_TYPE], "application/json");
        let body = to_bytes(resp.into_body(), 1024).await.expect("body");
        assert_eq!(&body[..], br#"["x"]"#);
    }
}
