//! HTTP caching for axum (feature `axum`): a cached [`CachedJson`](crate::CachedJson) body
//! keeps its gzip and brotli variants and a strong ETag, made once when it is stored, and
//! the [`HttpCache`] layer turns them into `304`s, pre-compressed answers and a
//! `Cache-Control` whose `max-age` is the entry's remaining TTL.
//!
//! ```text
//! request ─▶ HttpCache ─▶ Scope::observe (or refresh/bypass, when allowed)
//!                          └▶ handler ─▶ #[cache_result] fn ─▶ CachedJson (ETag, gz, br)
//! response ◀─ X-Cache, X-Cache-Tier, ETag, Vary, Cache-Control: max-age = TTL left, Age
//!          ◀─ 304 when If-None-Match matches; else the stored variant Accept-Encoding wants
//! ```

mod body;
mod layer;
mod negotiate;

pub use body::{ContentCoding, MIN_COMPRESS_BYTES};
pub use layer::{HttpCache, HttpCacheService, X_CACHE, X_CACHE_TIER};
pub use negotiate::{none_match_hits, preferred_coding};

pub(crate) use body::StoredBody;
pub(crate) use layer::Representation;
