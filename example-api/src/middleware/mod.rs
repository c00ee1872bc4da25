//! Middleware: request ids and tracing, JSON for every error, a bound on requests in
//! flight, limits on the request line and headers, trusted hosts, CORS, per-client budgets
//! (computations of the expensive routes, requests of the writes), a request timeout,
//! gzip for large bodies, and HTTP caching from the cache runtime ([`HttpCache`]:
//! `X-Cache`/`X-Cache-Tier` from the per-request outcomes; ETag, 304, stored gzip/brotli
//! variants and `Cache-Control` for cached bodies).

mod client;
mod errors;
mod hosts;
mod rate_limit;

pub use client::{X_FORWARDED_FOR, client_addr};
pub use errors::{MAX_HEADER_BYTES, MAX_HEADER_COUNT, MAX_URI_BYTES};
pub use hosts::AllowedHosts;
pub use rate_limit::{
    Admission, EXPENSIVE_PREFIXES, RateLimit, WRITE_PREFIXES, client_key, is_expensive, is_limited,
    is_write,
};

use std::num::NonZeroU32;
use std::sync::Arc;
use std::time::Duration;

use axum::BoxError;
use axum::Router;
use axum::error_handling::HandleErrorLayer;
use axum::extract::{Request, State};
use axum::http::{HeaderName, HeaderValue, Method, header};
use axum::middleware::{Next, from_fn, from_fn_with_state};
use axum::response::{IntoResponse, Response};
use cache_runtime::http::{HttpCache, X_CACHE, X_CACHE_TIER};
use tower::ServiceBuilder;
use tower::limit::GlobalConcurrencyLimitLayer;
use tower::load_shed::LoadShedLayer;
use tower_http::compression::CompressionLayer;
use tower_http::compression::predicate::{NotForContentType, Predicate, SizeAbove};
use tower_http::cors::{AllowOrigin, CorsLayer};
use tower_http::request_id::{MakeRequestUuid, PropagateRequestIdLayer, SetRequestIdLayer};
use tower_http::trace::{DefaultOnResponse, TraceLayer};
use tracing::Level;

use crate::config::Config;
use crate::error::ApiError;
use crate::net::TrustedProxies;

/// Bodies smaller than this are sent uncompressed: gzip would cost more than it saves.
pub const COMPRESSION_MIN_BYTES: u16 = 1000;

/// The request-id header, set on requests that lack one and echoed on responses.
pub const REQUEST_ID: HeaderName = HeaderName::from_static("x-request-id");

/// Wraps `router` in the service's middleware, outermost first: JSON errors (around the
/// whole router, so that a `405` already has its `Allow` header), request id, tracing,
/// the in-flight bound, request line and header limits, trusted hosts, CORS, rate
/// limiting, timeout, compression, HTTP caching (`X-Cache`, ETag/304, stored variants).
pub fn apply(router: Router, config: &Config) -> Router {
    let hosts = Arc::new(AllowedHosts::new(&config.allowed_hosts));
    let timeout = config.request_timeout;
    let max_in_flight = config.server.max_in_flight as usize;
    let rate_limit = NonZeroU32::new(config.server.rate_limit).map(|rate| {
        let burst = NonZeroU32::new(config.server.rate_limit_burst).unwrap_or(rate);
        Arc::new(Admission {
            limit: RateLimit::new(rate, burst),
            proxies: TrustedProxies::new(config.server.trusted_proxies.clone()),
        })
    });
    let router = router.layer(
        ServiceBuilder::new()
            .layer(from_fn_with_state(timeout, request_timeout))
            .layer(compression())
            .layer(HttpCache::new().honour_client_directives(config.honour_client_cache_control)),
    );
    let router = match rate_limit {
        Some(limit) => router.layer(from_fn_with_state(limit, rate_limit::rate_limit)),
        None => router,
    };
    let router = router.layer(
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
            .layer(HandleErrorLayer::new(move |_: BoxError| async move {
                ApiError::Overloaded(format!(
                    "the server is handling {max_in_flight} requests, its limit; retry shortly"
                ))
            }))
            .layer(LoadShedLayer::new())
            .layer(GlobalConcurrencyLimitLayer::new(max_in_flight))
            .layer(from_fn(errors::request_limits))
            .layer(from_fn_with_state(hosts, hosts::trusted_host))
            .layer(cors(&config.cors_origins)),
    );
    Router::new()
        .fallback_service(router)
        .layer(from_fn(errors::json_errors))
}

/// Gzip, only for bodies of at least [`COMPRESSION_MIN_BYTES`] (and never for images,
/// gRPC or event streams). Responses with an `ETag` are left alone: a cached body is
/// already sent in the stored variant the client prefers (or plain, by its choice), and
/// compressing it again would make its strong validator wrong.
pub fn compression() -> CompressionLayer<impl Predicate> {
    CompressionLayer::new().gzip(true).compress_when(
        SizeAbove::new(COMPRESSION_MIN_BYTES)
            .and(NotForContentType::GRPC)
            .and(NotForContentType::IMAGES)
            .and(NotForContentType::SSE)
            .and(
                |_, _, headers: &axum::http::HeaderMap, _: &axum::http::Extensions| {
                    !headers.contains_key(header::ETAG)
                },
            ),
    )
}

/// CORS for the configured origins (`*` for any). No origins: no cross-origin access.
pub fn cors(origins: &[String]) -> CorsLayer {
    let layer = CorsLayer::new()
        .allow_methods([Method::GET, Method::POST, Method::PATCH, Method::OPTIONS])
        .allow_headers([header::AUTHORIZATION, header::CONTENT_TYPE])
        .expose_headers([REQUEST_ID, X_CACHE, X_CACHE_TIER, header::ETAG, header::AGE])
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

/// Answers 503 with a JSON error when the handler takes longer than the timeout.
async fn request_timeout(State(limit): State<Duration>, req: Request, next: Next) -> Response {
    match tokio::time::timeout(limit, next.run(req)).await {
        Ok(response) => response,
        Err(_) => ApiError::Timeout(limit).into_response(),
    }
}
