//! What a request asks for: which content coding (`Accept-Encoding` with q-values), whether
//! it already holds the representation (`If-None-Match`), and its `Cache-Control`
//! directives. Parsers of header text: bad bytes make a field count as absent, never panic.

use axum::http::HeaderMap;
use axum::http::header::{ACCEPT_ENCODING, CACHE_CONTROL, IF_NONE_MATCH};

use super::body::ContentCoding;

/// The coding to answer with, from `Accept-Encoding`, as tower-http's compression layer
/// negotiates (RFC 9110, 12.5.3):
///
/// - each listed coding has its `q` (default 1; an invalid q-value drops the item);
///   unknown codings are ignored;
/// - `*` gives its q to the codings not listed (tower-http ignores `*`; we honour it);
/// - `identity` is acceptable unless it (or `*`) is given `q=0`; when not listed it ranks
///   below every listed coding;
/// - the highest q wins, ties going to brotli, then gzip, then identity;
/// - no header, or nothing acceptable: identity (the plain bytes, which every client reads).
///
/// ```
/// use axum::http::{HeaderMap, HeaderValue, header::ACCEPT_ENCODING};
/// use cache_runtime::http::{ContentCoding, preferred_coding};
///
/// let mut h = HeaderMap::new();
/// h.insert(ACCEPT_ENCODING, HeaderValue::from_static("gzip, br;q=0.8"));
/// assert_eq!(preferred_coding(&h), ContentCoding::Gzip);
/// h.insert(ACCEPT_ENCODING, HeaderValue::from_static("gzip;q=0, *"));
/// assert_eq!(preferred_coding(&h), ContentCoding::Brotli);
/// ```
pub fn preferred_coding(headers: &HeaderMap) -> ContentCoding {
    let mut gzip = None;
    let mut brotli = None;
    let mut identity = None;
    let mut any = None;
    let mut present = false;
    for value in headers.get_all(ACCEPT_ENCODING) {
        let Ok(text) = value.to_str() else { continue };
        present = true;
        for item in text.split(',') {
            let mut parts = item.split(';');
            let name = parts.next().unwrap_or("").trim();
            let q = match parts.map(str::trim).find(|p| !p.is_empty()) {
                None => Some(1000),
                Some(param) => qvalue(param),
            };
            let Some(q) = q else { continue };
            let slot = if name.eq_ignore_ascii_case("gzip") || name.eq_ignore_ascii_case("x-gzip") {
                &mut gzip
            } else if name.eq_ignore_ascii_case("br") {
                &mut brotli
            } else if name.eq_ignore_ascii_case("identity") {
                &mut identity
            } else if name == "*" {
                &mut any
            } else {
                continue;
            };
            *slot = Some(q);
        }
    }
    if !present {
        return ContentCoding::Identity;
    }
    let gzip = gzip.or(any).unwrap_or(0);
    let brotli = brotli.or(any).unwrap_or(0);
    // Not listed: acceptable, but below any coding the client did list (as tower-http).
    let identity = identity.or(any).unwrap_or(1);
    // Ties: the later (more preferred) entry wins with `max_by_key`.
    [
        (identity, ContentCoding::Identity),
        (gzip, ContentCoding::Gzip),
        (brotli, ContentCoding::Brotli),
    ]
    .into_iter()
    .filter(|(q, _)| *q > 0)
    .max_by_key(|(q, _)| *q)
    .map_or(ContentCoding::Identity, |(_, c)| c)
}

/// A q-value (`q=0.5`) in thousandths; `None` when it is not one (RFC 9110, 12.4.2).
fn qvalue(param: &str) -> Option<u16> {
    let rest = param
        .strip_prefix("q=")
        .or_else(|| param.strip_prefix("Q="))?;
    let (int, frac) = rest.split_once('.').unwrap_or((rest, ""));
    if frac.len() > 3 || !frac.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let mut value: u16 = match int {
        "0" => 0,
        "1" => 1000,
        _ => return None,
    };
    for (digit, scale) in frac.bytes().zip([100u16, 10, 1]) {
        value += u16::from(digit - b'0') * scale;
    }
    (value <= 1000).then_some(value)
}

/// Whether `If-None-Match` names `etag` (or is `*`), with the weak comparison RFC 9110
/// (13.1.2) prescribes for it: `W/"x"` matches `"x"`. A malformed list matches nothing
/// from the first bad tag on.
///
/// ```
/// use axum::http::{HeaderMap, HeaderValue, header::IF_NONE_MATCH};
/// let mut h = HeaderMap::new();
/// h.insert(IF_NONE_MATCH, HeaderValue::from_static(r#""a", W/"b""#));
/// assert!(cache_runtime::http::none_match_hits(&h, br#""b""#));
/// assert!(!cache_runtime::http::none_match_hits(&h, br#""c""#));
/// ```
pub fn none_match_hits(headers: &HeaderMap, etag: &[u8]) -> bool {
    let ours = opaque(etag);
    headers
        .get_all(IF_NONE_MATCH)
        .iter()
        .any(|v| list_matches(v.as_bytes(), ours))
}

/// The quoted part of an entity tag, without a `W/` prefix.
fn opaque(tag: &[u8]) -> &[u8] {
    tag.strip_prefix(b"W/").unwrap_or(tag)
}

fn list_matches(mut list: &[u8], ours: &[u8]) -> bool {
    if list.trim_ascii() == b"*" {
        return true;
    }
    loop {
        list = list.trim_ascii_start();
        while let Some(rest) = list.strip_prefix(b",") {
            list = rest.trim_ascii_start();
        }
        if list.is_empty() {
            return false;
        }
        let rest = list.strip_prefix(b"W/").unwrap_or(list);
        let Some(inner) = rest.strip_prefix(b"\"") else {
            return false;
        };
        let Some(end) = inner.iter().position(|&b| b == b'"') else {
            return false;
        };
        if &rest[..end + 2] == ours {
            return true;
        }
        list = &inner[end + 1..];
    }
}

/// The request's `Cache-Control` directives that matter here.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) struct RequestDirectives {
    /// `no-cache`: the client wants a response validated at the origin.
    pub(crate) no_cache: bool,
    /// `no-store`: nothing of this exchange may be stored.
    pub(crate) no_store: bool,
}

impl RequestDirectives {
    pub(crate) fn of(headers: &HeaderMap) -> Self {
        let mut d = Self::default();
        for value in headers.get_all(CACHE_CONTROL) {
            let Ok(text) = value.to_str() else { continue };
            for directive in text.split(',') {
                let name = directive.split('=').next().unwrap_or("").trim();
                d.no_cache |= name.eq_ignore_ascii_case("no-cache");
                d.no_store |= name.eq_ignore_ascii_case("no-store");
            }
        }
        d
    }
}

#[cfg(test)]
mod tests {
    use axum::http::HeaderValue;

    use super::*;

    fn accept(values: &[&'static str]) -> ContentCoding {
        let mut h = HeaderMap::new();
        for v in values {
            h.append(ACCEPT_ENCODING, HeaderValue::from_static(v));
        }
        preferred_coding(&h)
    }

    #[test]
    fn q_values_pick_the_coding() {
        use ContentCoding::*;
        assert_eq!(accept(&[]), Identity);
        assert_eq!(accept(&[""]), Identity);
        assert_eq!(accept(&["gzip"]), Gzip);
        assert_eq!(accept(&["GZIP"]), Gzip);
        assert_eq!(accept(&["x-gzip"]), Gzip);
        assert_eq!(accept(&["gzip, deflate, br, zstd"]), Brotli);
        assert_eq!(accept(&["br;q=0.5, gzip;q=0.9"]), Gzip);
        assert_eq!(accept(&["br;q=0.9", "gzip;q=0.9"]), Brotli, "tie: brotli");
        assert_eq!(accept(&["gzip;q=0"]), Identity);
        assert_eq!(accept(&["gzip;q=0, br;q=0"]), Identity);
        assert_eq!(accept(&["identity;q=0"]), Identity, "nothing else: plain");
        assert_eq!(accept(&["identity;q=0, gzip;q=0.1"]), Gzip);
        assert_eq!(accept(&["identity, gzip;q=0.5"]), Identity);
        assert_eq!(accept(&["*"]), Brotli);
        assert_eq!(accept(&["*;q=0"]), Identity);
        assert_eq!(accept(&["*;q=0, gzip"]), Gzip);
        assert_eq!(accept(&["br;q=0, *;q=0.3"]), Gzip);
        assert_eq!(
            accept(&["gzip;q=1.5, br;q=x"]),
            Identity,
            "bad q drops items"
        );
        assert_eq!(accept(&["gzip;q=0.0001"]), Identity, "four decimals");
        assert_eq!(accept(&["gzip; q=0.001"]), Gzip);
        assert_eq!(accept(&["zstd, deflate"]), Identity, "unknown codings");
    }

    fn inm(value: &'static str, tag: &[u8]) -> bool {
        let mut h = HeaderMap::new();
        h.insert(IF_NONE_MATCH, HeaderValue::from_static(value));
        none_match_hits(&h, tag)
    }

    #[test]
    fn if_none_match_lists_star_and_weak_tags() {
        let tag = br#""abc""#;
        assert!(inm(r#""abc""#, tag));
        assert!(inm(r#"W/"abc""#, tag), "weak comparison");
        assert!(inm(r#""x", "y" ,W/"abc""#, tag));
        assert!(inm("*", tag));
        assert!(inm(r#""a,b", "abc""#, tag), "commas inside a tag");
        assert!(!inm(r#""abcd""#, tag));
        assert!(!inm(r#"abc"#, tag), "unquoted");
        assert!(!inm(r#""abc"#, tag), "unterminated");
        assert!(!inm(r#"junk, "abc""#, tag), "malformed before the tag");
        assert!(!inm("", tag));
        assert!(!none_match_hits(&HeaderMap::new(), tag));
    }

    #[test]
    fn request_directives() {
        let mut h = HeaderMap::new();
        h.insert(
            CACHE_CONTROL,
            HeaderValue::from_static("max-age=0, No-Cache"),
        );
        let d = RequestDirectives::of(&h);
        assert!(d.no_cache && !d.no_store);
        h.insert(CACHE_CONTROL, HeaderValue::from_static("no-store"));
        assert!(RequestDirectives::of(&h).no_store);
    }
}
