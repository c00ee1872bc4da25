//! Middleware: request ids and tracing, trusted hosts, CORS, a request timeout, gzip for
//! large bodies, and the `X-Cache` header from the cache runtime's per-request outcomes.

use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::extract::{Request, State};
use axum::http::{HeaderName, HeaderValue, Method, header};
use axum::middleware::{Next, from_fn, from_fn_with_state};
use axum::response::{IntoResponse, Response};
use cache_runtime::Scope;
use tower::ServiceBuilder;
use tower_http::compression::CompressionLayer;
use tower_http::compression::predicate::{NotForContentType, Predicate, SizeAbove};
use tower_http::cors::{AllowOrigin, CorsLayer};
use tower_http::request_id::{MakeRequestUuid, PropagateRequestIdLayer, SetRequestIdLayer};
use tower_http::trace::{DefaultOnResponse, TraceLayer};
use tracing::Level;

use crate::config::Config;
use crate::error::ApiError;

/// Bodies smaller than this are sent uncompressed: gzip would cost more than it saves.
pub const COMPRESSION_MIN_BYTES: u16 = 1000;

/// The request-id header, set on requests that lack one and echoed on responses.
pub const REQUEST_ID: HeaderName = HeaderName::from_static("x-request-id");

/// Wraps `router` in the service's middleware, outermost first: request id, tracing,
/// trusted hosts, CORS, timeout, compression, `X-Cache`.
pub fn apply(router: Router, config: &Config) -> Router {
    let hosts = Arc::new(AllowedHosts::new(&config.allowed_hosts));
    let timeout = config.request_timeout;
    router.layer(
        ServiceBuilder::new()
            .layer(SetRequestIdLayer::new(REQUEST_ID, MakeRequestUuid))
            .layer(
                TraceLayer::new_for_http()
                    .make_span_with(|req: &Request| {
                        let id = req
                            .headers()
                            .get(REQUEST_ID)
                            .and_then(|v| v.to_str().ok())
                            .unwrap_or("-");
                        tracing::info_span!("request", method = %req.method(), uri = %req.uri(), request_id = %id)
                    })
                    .on_response(DefaultOnResponse::new().level(Level::INFO)),
            )
            .layer(PropagateRequestIdLayer::new(REQUEST_ID))
            .layer(from_fn_with_state(hosts, trusted_host))
            .layer(cors(&config.cors_origins))
            .layer(from_fn_with_state(timeout, request_timeout))
            .layer(compression())
            .layer(from_fn(cache_status)),
    )
}

/// Gzip, only for bodies of at least [`COMPRESSION_MIN_BYTES`] (and never for images,
/// gRPC or event streams).
pub fn compression() -> CompressionLayer<impl Predicate> {
    CompressionLayer::new().gzip(true).compress_when(
        SizeAbove::new(COMPRESSION_MIN_BYTES)
            .and(NotForContentType::GRPC)
            .and(NotForContentType::IMAGES)
            .and(NotForContentType::SSE),
    )
}

/// CORS for the configured origins (`*` for any). No origins: no cross-origin access.
pub fn cors(origins: &[String]) -> CorsLayer {
    let layer = CorsLayer::new()
        .allow_methods([Method::GET, Method::POST, Method::OPTIONS])
        .allow_headers([header::AUTHORIZATION, header::CONTENT_TYPE])
        .expose_headers([REQUEST_ID, HeaderName::from_static("x-cache")])
        .max_age(Duration::from_secs(600));
    if origins.iter().any(|o| o == "*") {
        return layer.allow_origin(AllowOrigin::any());
    }
    let list: Vec<HeaderValue> = origins
        .iter()
        .filter_map(|o| HeaderValue::from_str(o.trim().trim_end_matches('/')).ok())
        .collect();
    layer.allow_origin(AllowOrigin::list(list))
}

/// The host names the service answers to.
#[derive(Debug, Clone, Default)]
pub struct AllowedHosts {
    any: bool,
    exact: Vec<String>,
    /// `*.example.com` is kept as `.example.com`.
    suffixes: Vec<String>,
}

impl AllowedHosts {
    /// From patterns: `name`, `*.domain` (any subdomain) or `*` (anything).
    pub fn new(patterns: &[String]) -> Self {
        let mut hosts = Self::default();
        for p in patterns
            .iter()
            .map(|p| normalize(p))
            .filter(|p| !p.is_empty())
        {
            if p == "*" {
                hosts.any = true;
            } else if let Some(domain) = p.strip_prefix("*.") {
                hosts.suffixes.push(format!(".{domain}"));
            } else {
                hosts.exact.push(p);
            }
        }
        hosts
    }

    /// Whether a `Host` header value is allowed: its port is ignored and the match is
    /// case-insensitive.
    pub fn allows(&self, host: &str) -> bool {
        let name = normalize(strip_port(host));
        if name.is_empty() {
            return false;
        }
        self.any
            || self.exact.contains(&name)
            || self
                .suffixes
                .iter()
                .any(|s| name.len() > s.len() && name.ends_with(s.as_str()))
    }
}

fn normalize(host: &str) -> String {
    host.trim().trim_end_matches('.').to_ascii_lowercase()
}

fn strip_port(host: &str) -> &str {
    let host = host.trim();
    if host.starts_with('[') {
        // [::1]:8080 -> [::1]
        return host.find(']').map_or(host, |end| &host[..=end]);
    }
    match host.rsplit_once(':') {
        Some((name, port)) if !name.contains(':') && port.bytes().all(|b| b.is_ascii_digit()) => {
            name
        }
        _ => host,
    }
}

/// Rejects requests whose `Host` (or HTTP/2 authority) is not allowed, with a 400.
async fn trusted_host(
    State(hosts): State<Arc<AllowedHosts>>,
    req: Request,
    next: Next,
) -> Response {
    let host = req
        .headers()
        .get(header::HOST)
        .and_then(|h| h.to_str().ok())
        .or_else(|| req.uri().authority().map(|a| a.as_str()));
    match host {
        Some(h) if hosts.allows(h) => next.run(req).await,
        _ => ApiError::BadRequest("invalid host header".into()).into_response(),
    }
}

/// Answers 503 with a JSON error when the handler takes longer than the timeout.
async fn request_timeout(State(limit): State<Duration>, req: Request, next: Next) -> Response {
    match tokio::time::timeout(limit, next.run(req)).await {
        Ok(response) => response,
        Err(_) => ApiError::Timeout(limit).into_response(),
    }
}

/// Observes the cached calls a request makes and reports them in `X-Cache`: `HIT` when
/// every one was answered from the cache, `MISS` when one computed, and so on.
async fn cache_status(req: Request, next: Next) -> Response {
    let (mut response, outcomes) = Scope::observe().run(next.run(req)).await;
    let status = outcomes.x_cache();
    if status != "NONE" {
        response
            .headers_mut()
            .insert("x-cache", HeaderValue::from_static(status));
    }
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hosts(list: &[&str]) -> AllowedHosts {
        AllowedHosts::new(&list.iter().map(|s| (*s).to_owned()).collect::<Vec<_>>())
    }

    #[test]
    fn hosts_ignore_port_and_case() {
        let h = hosts(&["localhost", "127.0.0.1", "*.Example.com", "[::1]"]);
        assert!(h.allows("localhost"));
        assert!(h.allows("LOCALHOST:8080"));
        assert!(h.allows("127.0.0.1:1"));
        assert!(h.allows("api.example.com"));
        assert!(h.allows("a.b.EXAMPLE.com:443"));
        assert!(h.allows("[::1]:8080"));
        assert!(h.allows("localhost."));
        assert!(
            !h.allows("example.com"),
            "a wildcard matches subdomains only"
        );
        assert!(!h.allows("evilexample.com"));
        assert!(!h.allows("localhost.evil.com"));
        assert!(!h.allows(""));
        assert!(!h.allows(":80"));
    }

    #[test]
    fn star_allows_everything() {
        assert!(hosts(&["*"]).allows("anything.test:1"));
        assert!(!hosts(&[]).allows("localhost"));
    }
}
