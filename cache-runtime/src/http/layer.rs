//! The middleware that couples the cache to HTTP: it observes the cached calls a request
//! makes (`X-Cache`, `X-Cache-Tier`) and, for a response built from a stored body
//! ([`CachedJson`](crate::CachedJson)), answers `If-None-Match` with 304, writes the stored
//! variant the client prefers, and states how long the answer may be kept.

use std::convert::Infallible;
use std::fmt::Write as _;
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use axum::body::Body;
use axum::extract::Request;
use axum::http::header::{
    AGE, AUTHORIZATION, CACHE_CONTROL, CONTENT_ENCODING, CONTENT_LENGTH, CONTENT_TYPE, ETAG, VARY,
};
use axum::http::{HeaderMap, HeaderName, HeaderValue, Method, StatusCode};
use axum::response::Response;

use super::body::{ContentCoding, StoredBody};
use super::negotiate::{RequestDirectives, none_match_hits, preferred_coding};
use crate::cache::{Outcomes, Scope, ServedFrom};

/// `X-Cache`: what the cached calls of the request did (`HIT`, `MISS`, ...).
pub const X_CACHE: HeaderName = HeaderName::from_static("x-cache");
/// `X-Cache-Tier`: on a `HIT`, `L1` when every call was answered in-process, `L2` when one
/// came from the remote tier.
pub const X_CACHE_TIER: HeaderName = HeaderName::from_static("x-cache-tier");

/// The stored body behind a response, put there by `CachedJson::into_response`.
#[derive(Clone)]
pub(crate) struct Representation(pub(crate) std::sync::Arc<StoredBody>);

/// HTTP caching for an axum router: a [`tower_layer::Layer`] built from these settings.
///
/// For every request it runs the handler in an observing [`Scope`] and sets `X-Cache`
/// (and `X-Cache-Tier: L1|L2` on a hit). For a `GET`/`HEAD` answered `200` with a
/// [`CachedJson`](crate::CachedJson) body it also:
///
/// - sets the strong `ETag` of the bytes sent (one per content coding), and answers a matching `If-None-Match` (a list, `*`,
///   weak comparison) with `304 Not Modified`, no body, and the same `ETag`,
///   `Cache-Control`, `Vary` and `Age`;
/// - writes the gzip or brotli variant stored with the entry, as `Accept-Encoding` prefers
///   (see [`preferred_coding`](super::preferred_coding)), with `Content-Encoding` and
///   `Vary: Accept-Encoding`; a compression layer outside leaves such a response alone;
/// - sets `Cache-Control: public, max-age=<seconds the entry stays fresh>` and `Age`, or
///   `private` and `Vary: Authorization` when the request carried credentials, so a shared
///   cache never hands one user's answer to another; `no-cache` when no cached call backs
///   the answer (the cache is off, or bypassed). A response whose handler set
///   `Cache-Control: no-store` keeps it and gets no validator.
///
/// A request's `Cache-Control: no-cache` recomputes (a refresh scope) and `no-store`
/// bypasses the cache only with [`HttpCache::honour_client_directives`]: off by default,
/// since it lets any client force the expensive path.
///
/// ```
/// use axum::{Router, routing::get, body::Body, http::Request};
/// use cache_runtime::{CachedJson, cache_result, http::HttpCache};
/// use tower::ServiceExt as _;
///
/// #[cache_result("doc_http_cache", ttl = 60)]
/// async fn report() -> Result<CachedJson<Vec<u32>>, String> {
///     CachedJson::new(&(0..400).collect()).map_err(|e| e.to_string())
/// }
///
/// # #[tokio::main(flavor = "current_thread")] async fn main() {
/// let app = Router::new()
///     .route("/report", get(|| async { report().await.map_err(|e| e) }))
///     .layer(HttpCache::new());
/// let req = |h: &[(&str, &str)]| {
///     let mut r = Request::get("/report");
///     for (k, v) in h { r = r.header(*k, *v); }
///     r.body(Body::empty()).unwrap()
/// };
/// let first = app.clone().oneshot(req(&[("accept-encoding", "gzip")])).await.unwrap();
/// assert_eq!(first.headers()["content-encoding"], "gzip");
/// assert_eq!(first.headers()["x-cache"], "MISS");
/// assert!(first.headers()["cache-control"].to_str().unwrap().starts_with("public, max-age="));
/// let etag = first.headers()["etag"].to_str().unwrap().to_owned();
/// let again = app.oneshot(req(&[("accept-encoding", "gzip"), ("if-none-match", &etag)])).await.unwrap();
/// assert_eq!(again.status(), 304);
/// assert_eq!(again.headers()["x-cache-tier"], "L1");
/// # }
/// ```
#[derive(Clone, Copy, Debug, Default)]
pub struct HttpCache {
    client_directives: bool,
}

impl HttpCache {
    /// The default: client `Cache-Control` request directives are ignored.
    ///
    /// ```
    /// let layer = cache_runtime::http::HttpCache::new();
    /// # let _ = layer;
    /// ```
    pub fn new() -> Self {
        Self::default()
    }

    /// Lets a request's `Cache-Control: no-cache` recompute its cached calls (and store the
    /// fresh values) and `no-store` bypass the cache. An abuse vector on a public service:
    /// every such request reaches the expensive path.
    ///
    /// ```
    /// let layer = cache_runtime::http::HttpCache::new().honour_client_directives(true);
    /// # let _ = layer;
    /// ```
    pub fn honour_client_directives(mut self, yes: bool) -> Self {
        self.client_directives = yes;
        self
    }
}

impl<S> tower_layer::Layer<S> for HttpCache {
    type Service = HttpCacheService<S>;

    fn layer(&self, inner: S) -> Self::Service {
        HttpCacheService {
            inner,
            config: *self,
        }
    }
}

/// The service [`HttpCache`] wraps a router's routes in.
///
/// ```
/// use tower_layer::Layer as _;
/// let svc: cache_runtime::http::HttpCacheService<()> =
///     cache_runtime::http::HttpCache::new().layer(());
/// # let _ = svc;
/// ```
#[derive(Clone, Debug)]
pub struct HttpCacheService<S> {
    inner: S,
    config: HttpCache,
}

impl<S> tower_service::Service<Request> for HttpCacheService<S>
where
    S: tower_service::Service<Request, Response = Response, Error = Infallible>
        + Clone
        + Send
        + 'static,
    S::Future: Send + 'static,
{
    type Response = Response;
    type Error = Infallible;
    type Future = Pin<Box<dyn Future<Output = Result<Response, Infallible>> + Send>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, req: Request) -> Self::Future {
        // The clone that was polled ready serves this request.
        let clone = self.inner.clone();
        let mut inner = std::mem::replace(&mut self.inner, clone);
        let ask = Asked::of(&req, self.config);
        Box::pin(async move {
            let (response, outcomes) = ask.scope.run(inner.call(req)).await;
            Ok(respond(response?, &outcomes, &ask))
        })
    }
}

/// What the request asked, read before it is handed on.
struct Asked {
    scope: Scope,
    cacheable: bool,
    private: bool,
    headers: Option<HeaderMap>,
}

impl Asked {
    fn of(req: &Request, config: HttpCache) -> Self {
        let cacheable = matches!(*req.method(), Method::GET | Method::HEAD);
        let directives = RequestDirectives::of(req.headers());
        let scope = match (config.client_directives && cacheable, directives) {
            (true, d) if d.no_store => Scope::bypass(),
            (true, d) if d.no_cache => Scope::refresh(),
            _ => Scope::observe(),
        };
        Self {
            scope,
            cacheable,
            private: req.headers().contains_key(AUTHORIZATION),
            // Only the two fields negotiation reads, not the whole map.
            headers: cacheable.then(|| conditional_headers(req.headers())),
        }
    }
}

fn conditional_headers(from: &HeaderMap) -> HeaderMap {
    let mut h = HeaderMap::new();
    for name in [
        axum::http::header::ACCEPT_ENCODING,
        axum::http::header::IF_NONE_MATCH,
    ] {
        for v in from.get_all(&name) {
            h.append(name.clone(), v.clone());
        }
    }
    h
}

fn respond(mut response: Response, outcomes: &Outcomes, ask: &Asked) -> Response {
    let status = outcomes.x_cache();
    if status != "NONE" {
        let h = response.headers_mut();
        h.insert(X_CACHE, HeaderValue::from_static(status));
        if let Some(from) = outcomes.served_from() {
            let tier = match from {
                ServedFrom::Local => "L1",
                ServedFrom::Remote => "L2",
                ServedFrom::Disk => "disk",
            };
            h.insert(X_CACHE_TIER, HeaderValue::from_static(tier));
        }
    }
    let stored = response.extensions_mut().remove::<Representation>();
    let (Some(Representation(stored)), Some(asked)) = (stored, ask.headers.as_ref()) else {
        return response;
    };
    if !ask.cacheable || response.status() != StatusCode::OK {
        return response;
    }
    if says_no_store(&response) {
        response.headers_mut().remove(ETAG);
        return response;
    }
    // The coding actually sent: a body too short for variants goes plain.
    let coding = match preferred_coding(asked) {
        c if stored.variant(c).is_some() => c,
        _ => ContentCoding::Identity,
    };
    let etag = stored.etag_in(coding);
    let headers = response.headers_mut();
    headers.insert(ETAG, etag.clone());
    headers.append(VARY, HeaderValue::from_static("accept-encoding"));
    if ask.private {
        headers.append(VARY, HeaderValue::from_static("authorization"));
    }
    headers.insert(
        CACHE_CONTROL,
        cache_control(ask.private, outcomes.fresh_for()),
    );
    if outcomes.fresh_for().is_some() {
        headers.insert(AGE, HeaderValue::from(outcomes.age().as_secs()));
    }
    if none_match_hits(asked, etag.as_bytes()) {
        *response.status_mut() = StatusCode::NOT_MODIFIED;
        let headers = response.headers_mut();
        headers.remove(CONTENT_TYPE);
        headers.remove(CONTENT_LENGTH);
        *response.body_mut() = Body::empty();
        return response;
    }
    if let Some(bytes) = stored
        .variant(coding)
        .filter(|_| coding != ContentCoding::Identity)
    {
        let headers = response.headers_mut();
        headers.insert(CONTENT_ENCODING, HeaderValue::from_static(coding.as_str()));
        headers.remove(CONTENT_LENGTH);
        *response.body_mut() = Body::from(bytes.clone());
    }
    response
}

fn says_no_store(response: &Response) -> bool {
    response.headers().get_all(CACHE_CONTROL).iter().any(|v| {
        v.to_str().is_ok_and(|s| {
            s.split(',')
                .any(|d| d.trim().eq_ignore_ascii_case("no-store"))
        })
    })
}

/// `public, max-age=N` / `private, max-age=N`; `no-cache` (store, but revalidate every
/// time) when no cache entry backs the answer.
fn cache_control(private: bool, fresh_for: Option<Duration>) -> HeaderValue {
    let scope = if private { "private" } else { "public" };
    let Some(fresh) = fresh_for else {
        return HeaderValue::from_static(if private {
            "private, no-cache"
        } else {
            "no-cache"
        });
    };
    let mut text = String::with_capacity(32);
    let _ = write!(text, "{scope}, max-age={}", fresh.as_secs());
    HeaderValue::from_str(&text).unwrap_or(HeaderValue::from_static("no-cache"))
}
