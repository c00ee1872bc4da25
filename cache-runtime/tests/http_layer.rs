//! The `HttpCache` layer over a real axum router: client directives (off by default, and
//! honoured when allowed), `no-store` responses, credentials, `HEAD`.
#![cfg(feature = "axum")]

use std::sync::atomic::{AtomicU32, Ordering};

use axum::Router;
use axum::body::{Body, to_bytes};
use axum::http::{Request, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use cache_runtime::http::HttpCache;
use cache_runtime::{CachedJson, cache_result};
use tower::ServiceExt as _;

/// Computations per day (each test uses its own days: tests run concurrently).
static RUNS: [AtomicU32; 10] = [const { AtomicU32::new(0) }; 10];

#[cache_result("http_layer_report", ttl = 120)]
async fn report(day: u32) -> Result<CachedJson<Vec<String>>, String> {
    RUNS[day as usize % 10].fetch_add(1, Ordering::SeqCst);
    let rows: Vec<String> = (0..100).map(|i| format!("day {day} row {i}")).collect();
    CachedJson::new(&rows).map_err(|e| e.to_string())
}

fn app(layer: HttpCache) -> Router {
    Router::new()
        .route(
            "/report/{day}",
            get(|axum::extract::Path(day): axum::extract::Path<u32>| async move { report(day).await }),
        )
        .route(
            "/secret/{day}",
            get(|axum::extract::Path(day): axum::extract::Path<u32>| async move {
                let mut r: Response = report(day).await.into_response();
                r.headers_mut()
                    .insert(header::CACHE_CONTROL, "no-store".parse().expect("value"));
                r
            }),
        )
        .layer(layer)
}

async fn call(app: &Router, method: &str, path: &str, headers: &[(&str, &str)]) -> Response {
    let mut req = Request::builder().method(method).uri(path);
    for (k, v) in headers {
        req = req.header(*k, *v);
    }
    app.clone()
        .oneshot(req.body(Body::empty()).expect("request"))
        .await
        .expect("infallible")
}

fn header<'a>(r: &'a Response, name: &str) -> &'a str {
    r.headers()
        .get(name)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
}

#[tokio::test]
async fn client_directives_are_ignored_unless_allowed() {
    let strict = app(HttpCache::new());
    let lenient = app(HttpCache::new().honour_client_directives(true));
    assert_eq!(
        header(&call(&strict, "GET", "/report/1", &[]).await, "x-cache"),
        "MISS"
    );
    let before = RUNS[1].load(Ordering::SeqCst);
    let ignored = call(
        &strict,
        "GET",
        "/report/1",
        &[("cache-control", "no-cache")],
    )
    .await;
    assert_eq!(header(&ignored, "x-cache"), "HIT");
    assert_eq!(header(&ignored, "x-cache-tier"), "L1");
    assert_eq!(RUNS[1].load(Ordering::SeqCst), before, "no recomputation");

    let refreshed = call(
        &lenient,
        "GET",
        "/report/1",
        &[("cache-control", "no-cache")],
    )
    .await;
    assert_eq!(header(&refreshed, "x-cache"), "MISS");
    assert_eq!(RUNS[1].load(Ordering::SeqCst), before + 1, "recomputed");
    assert_eq!(
        header(&call(&strict, "GET", "/report/1", &[]).await, "x-cache"),
        "HIT"
    );

    let bypassed = call(
        &lenient,
        "GET",
        "/report/9",
        &[("cache-control", "no-store")],
    )
    .await;
    assert_eq!(header(&bypassed, "x-cache"), "BYPASS");
    assert_eq!(
        header(&bypassed, "cache-control"),
        "no-cache",
        "nothing backs it"
    );
    let next = call(&strict, "GET", "/report/9", &[]).await;
    assert_eq!(header(&next, "x-cache"), "MISS", "no-store stored nothing");
}

#[tokio::test]
async fn no_store_responses_get_no_validator_and_credentials_make_it_private() {
    let app = app(HttpCache::new());
    let secret = call(&app, "GET", "/secret/2", &[]).await;
    assert_eq!(header(&secret, "cache-control"), "no-store");
    assert!(secret.headers().get(header::ETAG).is_none());

    let private = call(&app, "GET", "/report/2", &[("authorization", "Bearer x")]).await;
    let cc = header(&private, "cache-control");
    assert!(cc.starts_with("private, max-age="), "{cc}");
    let vary: Vec<_> = private.headers().get_all(header::VARY).iter().collect();
    assert_eq!(vary, ["accept-encoding", "authorization"]);
    let public = call(&app, "GET", "/report/2", &[]).await;
    assert!(header(&public, "cache-control").starts_with("public, max-age="));
}

#[tokio::test]
async fn head_and_304_answer_for_the_representation_of_the_coding() {
    let app = app(HttpCache::new());
    let get = call(&app, "GET", "/report/3", &[("accept-encoding", "br")]).await;
    let etag = header(&get, "etag").to_owned();
    assert!(etag.ends_with("-br\""), "{etag}");
    let head = call(&app, "HEAD", "/report/3", &[("accept-encoding", "br")]).await;
    assert_eq!(head.status(), StatusCode::OK);
    assert_eq!(header(&head, "etag"), etag);
    let not_modified = call(
        &app,
        "GET",
        "/report/3",
        &[("accept-encoding", "br"), ("if-none-match", &etag)],
    )
    .await;
    assert_eq!(not_modified.status(), StatusCode::NOT_MODIFIED);
    assert_eq!(header(&not_modified, "etag"), etag);
    let max_age = |r: &Response| -> u64 {
        let cc = header(r, "cache-control");
        cc.strip_prefix("public, max-age=")
            .and_then(|n| n.parse().ok())
            .unwrap_or_else(|| panic!("{cc}"))
    };
    assert!(
        max_age(&get).abs_diff(max_age(&not_modified)) <= 1,
        "same Cache-Control"
    );
    assert_eq!(header(&not_modified, "vary"), "accept-encoding");
    assert!(header(&not_modified, "content-type").is_empty());
    let body = to_bytes(not_modified.into_body(), 1 << 20)
        .await
        .expect("body");
    assert!(body.is_empty());
    // Another coding is another representation: the brotli tag does not match it.
    let plain = call(&app, "GET", "/report/3", &[("if-none-match", &etag)]).await;
    assert_eq!(plain.status(), StatusCode::OK);
}
