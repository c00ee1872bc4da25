//! A response body as it is stored with a cache entry: the plain bytes, a strong ETag from
//! their digest, and the compressed variants a hit writes as they are.
//!
//! The variants of a freshly computed body are made once, when it is built (that is, when
//! the value is computed and stored); a body read back from the remote tier carries only
//! its plain bytes (Redis keeps the JSON, not three copies of it) and makes each variant the
//! first time a client asks for it, once per entry and process.

use std::io::Write;
use std::sync::OnceLock;

use axum::body::Bytes;
use axum::http::HeaderValue;

/// Bodies shorter than this are sent as they are: compression would cost more than it saves
/// (the same threshold as the example service's compression layer).
pub const MIN_COMPRESS_BYTES: usize = 1000;

/// gzip level: the zlib default, the best bytes per microsecond on JSON of a few KiB.
const GZIP_LEVEL: u32 = 6;
/// brotli quality and window: 5 gives about 10% fewer bytes than gzip for ~100 µs per KiB-
/// sized body; 11 would save 15% more but cost 5-10 ms on every miss.
const BROTLI_QUALITY: u32 = 5;
const BROTLI_WINDOW: u32 = 20;

/// A content coding a stored body can be sent in.
///
/// ```
/// use cache_runtime::http::ContentCoding;
/// assert_eq!(ContentCoding::Gzip.as_str(), "gzip");
/// assert_eq!(ContentCoding::Brotli.as_str(), "br");
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum ContentCoding {
    /// No coding: the plain bytes.
    Identity,
    /// gzip (RFC 1952).
    Gzip,
    /// brotli (RFC 7932).
    Brotli,
}

impl ContentCoding {
    /// The coding's name in `Accept-Encoding` and `Content-Encoding`.
    ///
    /// ```
    /// assert_eq!(cache_runtime::http::ContentCoding::Identity.as_str(), "identity");
    /// ```
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Identity => "identity",
            Self::Gzip => "gzip",
            Self::Brotli => "br",
        }
    }
}

/// The plain bytes, their ETags, and the compressed variants (made at most once each).
pub(crate) struct StoredBody {
    plain: Bytes,
    /// One strong tag per coding: a content coding makes another representation (RFC 9110,
    /// 8.8.3), so the gzip bytes cannot share the plain bytes' strong validator.
    etag: [HeaderValue; 3],
    gzip: OnceLock<Option<Bytes>>,
    brotli: OnceLock<Option<Bytes>>,
}

impl StoredBody {
    /// A freshly computed body: its variants are made now.
    pub(crate) fn computed(plain: Bytes) -> Self {
        let body = Self::decoded(plain);
        body.variant(ContentCoding::Gzip);
        body.variant(ContentCoding::Brotli);
        body
    }

    /// A body read back from a remote tier: variants on first use.
    pub(crate) fn decoded(plain: Bytes) -> Self {
        let etag = etag_of(&plain);
        Self {
            plain,
            etag,
            gzip: OnceLock::new(),
            brotli: OnceLock::new(),
        }
    }

    pub(crate) fn plain(&self) -> &Bytes {
        &self.plain
    }

    /// The plain bytes' tag.
    pub(crate) fn etag(&self) -> &HeaderValue {
        &self.etag[0]
    }

    /// The tag of the bytes sent in `coding`.
    pub(crate) fn etag_in(&self, coding: ContentCoding) -> &HeaderValue {
        &self.etag[coding as usize]
    }

    /// The bytes in `coding`; `None` for a body too short to compress (or one compression
    /// did not make shorter): send the plain bytes.
    pub(crate) fn variant(&self, coding: ContentCoding) -> Option<&Bytes> {
        let cell = match coding {
            ContentCoding::Identity => return Some(&self.plain),
            ContentCoding::Gzip => &self.gzip,
            ContentCoding::Brotli => &self.brotli,
        };
        if self.plain.len() < MIN_COMPRESS_BYTES {
            return None;
        }
        cell.get_or_init(|| {
            let packed = compress(&self.plain, coding)?;
            (packed.len() < self.plain.len()).then(|| Bytes::from(packed))
        })
        .as_ref()
    }
}

/// Strong validators from the body's digest: `"` + 128 bits of BLAKE3 in hex + `"`, and
/// the same with `-gz` / `-br` for the compressed variants.
fn etag_of(plain: &[u8]) -> [HeaderValue; 3] {
    let hex = blake3::hash(plain).to_hex();
    let tag = |suffix: &str| {
        let text = format!("\"{}{suffix}\"", &hex.as_str()[..32]);
        // Hex digits, a suffix and quotes: always a valid header value.
        HeaderValue::from_str(&text).unwrap_or(HeaderValue::from_static("\"\""))
    };
    [tag(""), tag("-gz"), tag("-br")]
}

fn compress(plain: &[u8], coding: ContentCoding) -> Option<Vec<u8>> {
    let mut out = Vec::with_capacity(plain.len() / 3);
    match coding {
        ContentCoding::Identity => return None,
        ContentCoding::Gzip => {
            let mut e = flate2::write::GzEncoder::new(out, flate2::Compression::new(GZIP_LEVEL));
            e.write_all(plain).ok()?;
            out = e.finish().ok()?;
        }
        ContentCoding::Brotli => {
            let mut e =
                brotli::CompressorWriter::new(&mut out, 4096, BROTLI_QUALITY, BROTLI_WINDOW);
            e.write_all(plain).ok()?;
            e.flush().ok()?;
            drop(e);
        }
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use std::io::Read;

    use super::*;

    fn big() -> Bytes {
        let items: Vec<String> = (0..200).map(|i| format!("{{\"post\":{i}}}")).collect();
        Bytes::from(format!("[{}]", items.join(",")))
    }

    #[test]
    fn variants_decode_to_the_plain_bytes() {
        let body = StoredBody::computed(big());
        let gz = body.variant(ContentCoding::Gzip).expect("gzip variant");
        let mut back = Vec::new();
        flate2::read::GzDecoder::new(&gz[..])
            .read_to_end(&mut back)
            .expect("gunzip");
        assert_eq!(back, body.plain()[..]);
        let br = body.variant(ContentCoding::Brotli).expect("brotli variant");
        let mut back = Vec::new();
        brotli::Decompressor::new(&br[..], 4096)
            .read_to_end(&mut back)
            .expect("unbrotli");
        assert_eq!(back, body.plain()[..]);
        assert!(br.len() < gz.len() && gz.len() < body.plain().len());
    }

    #[test]
    fn short_bodies_have_no_variants_and_etags_follow_the_bytes() {
        let small = StoredBody::computed(Bytes::from_static(b"{\"a\":1}"));
        assert!(small.variant(ContentCoding::Gzip).is_none());
        assert_eq!(small.variant(ContentCoding::Identity), Some(small.plain()));
        let again = StoredBody::decoded(Bytes::from_static(b"{\"a\":1}"));
        let other = StoredBody::decoded(Bytes::from_static(b"{\"a\":2}"));
        assert_eq!(small.etag(), again.etag());
        assert_ne!(small.etag(), other.etag());
        assert_eq!(small.etag().len(), 34);
        assert_eq!(small.etag_in(ContentCoding::Identity), small.etag());
        let gz = small.etag_in(ContentCoding::Gzip).to_str().expect("ascii");
        assert!(
            gz.ends_with("-gz\"") && gz.starts_with(&small.etag().to_str().expect("ascii")[..33])
        );
    }
}
