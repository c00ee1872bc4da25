//! A live performance dashboard as an axum [`Router`] any service can nest (feature `axum`).
//!
//! The page shows, over the last hour and per minute, the hit ratio of every cache and the
//! calls per second, p50 and p95 of every timer as line charts, with the bottleneck table
//! and the trends of [`performance_snapshot`](crate::performance_snapshot); it polls its own
//! `data.json` every 2 seconds. The charts are drawn by [uPlot](https://github.com/leeoniya/uPlot)
//! 1.6.32 (MIT), vendored from the npm registry into the binary: the page loads nothing
//! from any other origin, and its `Content-Security-Policy` forbids it to.
//!
//! The router is **read-only and unauthenticated**: it shows figures (names of timers and
//! caches, latencies, hit ratios), never keys or values, and changes nothing. Put it behind
//! the service's own authentication layer when its timer names are private.
//!
//! Routes, relative to where it is nested:
//!
//! - `/`: the page;
//! - `/data.json`: [`PerformanceSnapshot`](crate::PerformanceSnapshot) of the last hour;
//! - `/day.json`: the same with five-minute buckets over 24 hours;
//! - `/assets/...`: uPlot, its stylesheet and licence, the page's script and styles.

use axum::Router;
use axum::extract::NestedPath;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;

const PAGE: &str = include_str!("page.html");
const UPLOT_JS: &[u8] = include_bytes!("../../assets/uplot/uPlot.iife.min.js");
const UPLOT_CSS: &[u8] = include_bytes!("../../assets/uplot/uPlot.min.css");
const UPLOT_LICENSE: &[u8] = include_bytes!("../../assets/uplot/LICENSE");
const APP_JS: &[u8] = include_bytes!("dashboard.js");
const APP_CSS: &[u8] = include_bytes!("dashboard.css");

/// Same origin only; uPlot sets element styles from script.
const CSP: &str = "default-src 'none'; script-src 'self'; style-src 'self' 'unsafe-inline'; \
                   connect-src 'self'; img-src 'self' data:; base-uri 'self'; \
                   form-action 'none'; frame-ancestors 'none'";

/// The dashboard's routes, to nest under any path (or serve at the root).
///
/// # Example
///
/// ```rust
/// use axum::Router;
///
/// let app: Router = Router::new().nest("/dashboard", cache_runtime::dashboard::router());
/// # let _ = app;
/// ```
#[cfg_attr(docsrs, doc(cfg(feature = "axum")))]
pub fn router<S: Clone + Send + Sync + 'static>() -> Router<S> {
    Router::new()
        .route("/", get(page))
        .route("/data.json", get(data))
        .route("/day.json", get(day))
        .route(
            "/assets/uPlot.iife.min.js",
            get(|| asset("text/javascript; charset=utf-8", UPLOT_JS)),
        )
        .route(
            "/assets/uPlot.min.css",
            get(|| asset("text/css; charset=utf-8", UPLOT_CSS)),
        )
        .route(
            "/assets/uPlot.LICENSE.txt",
            get(|| asset("text/plain; charset=utf-8", UPLOT_LICENSE)),
        )
        .route(
            "/assets/dashboard.js",
            get(|| asset("text/javascript; charset=utf-8", APP_JS)),
        )
        .route(
            "/assets/dashboard.css",
            get(|| asset("text/css; charset=utf-8", APP_CSS)),
        )
}

/// The page, its relative URLs based at the path it is nested under.
async fn page(
    nested: Result<NestedPath, axum::extract::rejection::NestedPathRejection>,
) -> Response {
    let prefix = nested.as_ref().map_or("", |n| n.as_str());
    let base = format!("{}/", prefix.trim_end_matches('/'));
    let html = PAGE.replace("{{BASE}}", &escape(&base));
    let mut response = (
        [
            (header::CONTENT_TYPE, "text/html; charset=utf-8"),
            (header::CACHE_CONTROL, "no-store"),
        ],
        html,
    )
        .into_response();
    response.headers_mut().insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(CSP),
    );
    response
}

/// Escapes text for an HTML attribute value.
fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '"' => out.push_str("&quot;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

fn json(snapshot: &crate::PerformanceSnapshot) -> Response {
    match serde_json::to_vec(snapshot) {
        Ok(body) => (
            [
                (header::CONTENT_TYPE, "application/json"),
                (header::CACHE_CONTROL, "no-store"),
            ],
            body,
        )
            .into_response(),
        Err(e) => (StatusCode::INTERNAL_SERVER_ERROR, e.to_string()).into_response(),
    }
}

async fn data() -> Response {
    json(&crate::performance_snapshot())
}

async fn day() -> Response {
    json(&crate::performance_snapshot_day())
}

async fn asset(content_type: &'static str, body: &'static [u8]) -> Response {
    (
        [
            (header::CONTENT_TYPE, content_type),
            (header::CACHE_CONTROL, "public, max-age=3600"),
        ],
        body,
    )
        .into_response()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_page_and_its_assets_name_no_other_origin() {
        for (name, text) in [
            ("page.html", PAGE.as_bytes()),
            ("dashboard.js", APP_JS),
            ("dashboard.css", APP_CSS),
            ("uPlot.min.css", UPLOT_CSS),
        ] {
            let text = String::from_utf8_lossy(text);
            assert!(
                !text.contains("http://") && !text.contains("https://") && !text.contains("//cdn"),
                "{name} names another origin"
            );
        }
        assert!(escape("/a\"<b>").contains("&quot;&lt;b&gt;"));
    }
}
