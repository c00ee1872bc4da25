//! `GET /openapi.json` and `GET /docs`: the OpenAPI 3.1 description derived from the
//! handlers' `#[utoipa::path]` attributes and the types' `ToSchema` derives (collected by
//! the router in `routes/mod.rs`), and Swagger UI to read it, served from bytes inside
//! the binary (`assets/swagger-ui/`, from the npm package `swagger-ui-dist`): no CDN, no
//! network.

use std::sync::LazyLock;

use axum::extract::Path;
use axum::http::{HeaderValue, header};
use axum::response::{Html, IntoResponse, Response};
use cache_runtime::CachedJson;
use serde_json::Value;
use utoipa::openapi::security::{Http, HttpAuthScheme, SecurityScheme};
use utoipa::openapi::{ObjectBuilder, RefOr, Schema, Type};
use utoipa::{Modify, OpenApi};

use crate::error::{ApiError, ErrorBody};
use crate::services::analytics::{HOURLY_UP_TO, MAX_HOURS, WINDOWS};

/// The parts of the description no handler owns: title, version, the error schema and
/// the bearer scheme. The paths come from the router.
#[derive(OpenApi)]
#[openapi(
    info(title = "example-api"),
    components(schemas(ErrorBody)),
    modifiers(&Bearer),
    tags(
        (name = "service", description = "Liveness and figures"),
        (name = "analytics", description = "Cached analytics over the seeded channels"),
        (name = "channels", description = "The calling user's channels"),
        (name = "ai", description = "Content analysis"),
        (name = "admin", description = "Cache administration"),
        (name = "docs", description = "This description and its UI"),
    )
)]
pub(super) struct ApiDoc;

struct Bearer;

impl Modify for Bearer {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(Http::new(HttpAuthScheme::Bearer)),
        );
    }
}

/// The service-wide part of `info.description`.
pub(super) fn description() -> String {
    format!(
        "Reference service of the cache toolkit: analytics over seeded channel data, \
         AI content analysis, and the cache and timer figures behind them. The service layer \
         carries #[cache_result] and #[performance_timer].\n\n\
         Every error, whatever produced it, is JSON of the `ErrorBody` schema: 400, 401, 404, 405 \
         (with `Allow`), 413, 414, 415, 422, 429 (with `Retry-After`), 431, 500 and 503 \
         (`overloaded`, with `Retry-After`, when the server is at its connection or in-flight \
         request limit; `timeout` when a request took too long).\n\n\
         HTTP caching: cached answers carry a strong `ETag` (one per content coding) and answer \
         `If-None-Match` with 304; `Cache-Control: max-age` is what is left of the entry's TTL \
         (`private` with `Vary: Authorization` for a user's answers), `Age` its age; bodies of \
         1000 bytes or more are sent in their stored gzip or brotli variant. `X-Cache` says \
         HIT/MISS/..., `X-Cache-Tier` L1 (in-process) or L2 (Redis) on a hit.\n\n\
         Admission control: each client (IP address; IPv6: its /64) may make a limited number of \
         requests a second to /analytics/* and /ai/* (`--rate-limit`, `--rate-limit-burst`), \
         beyond which it gets 429. Parameters that select a cache entry are bounded to what the \
         service serves: a window (`hours`, `period`) is any whole number of hours up to \
         {HOURLY_UP_TO}, then whole days up to {MAX_HOURS} hours ({WINDOWS} windows in all), so \
         varying it cannot make a new expensive computation per request."
    )
}

/// The schema of a window in hours: any hour up to a week, whole days up to 90.
pub(super) fn window_schema() -> impl Into<RefOr<Schema>> {
    utoipa::openapi::schema::AnyOfBuilder::new()
        .item(
            ObjectBuilder::new()
                .schema_type(Type::Integer)
                .minimum(Some(1))
                .maximum(Some(HOURLY_UP_TO)),
        )
        .item(
            ObjectBuilder::new()
                .schema_type(Type::Integer)
                .minimum(Some(HOURLY_UP_TO + 24))
                .maximum(Some(MAX_HOURS))
                .multiple_of(Some(24)),
        )
        .default(Some(Value::from(24)))
}

/// The description served at `/openapi.json`, built once from the router.
pub fn openapi_spec() -> &'static Value {
    &SPEC_VALUE
}

static SPEC_VALUE: LazyLock<Value> =
    LazyLock::new(|| serde_json::to_value(super::openapi()).unwrap_or(Value::Null));

/// Serialized once; served with an ETag, 304s and its stored gzip/brotli variants.
static SPEC_BODY: LazyLock<Result<CachedJson<Value>, String>> =
    LazyLock::new(|| CachedJson::new(openapi_spec()).map_err(|e| e.to_string()));

/// The OpenAPI 3.1 description of this service.
#[utoipa::path(get, path = "/openapi.json", tag = "docs",
    responses((status = 200, description = "OpenAPI 3.1, derived from the handlers", content_type = "application/json")))]
pub(super) async fn openapi() -> Result<CachedJson<Value>, ApiError> {
    SPEC_BODY.clone().map_err(ApiError::Internal)
}

/// Swagger UI over `/openapi.json`, from assets inside the binary.
#[utoipa::path(get, path = "/docs", tag = "docs",
    responses((status = 200, description = "Swagger UI (HTML)", content_type = "text/html")))]
pub(super) async fn page() -> Html<&'static str> {
    Html(DOCS_PAGE)
}

/// The Swagger UI script and stylesheet the `/docs` page loads.
#[utoipa::path(get, path = "/docs/assets/{file}", tag = "docs",
    params(("file" = String, Path, description = "`swagger-ui-bundle.js` or `swagger-ui.css`")),
    responses((status = 200, description = "The asset"), (status = 404, description = "No such asset", body = ErrorBody)))]
pub(super) async fn asset(Path(file): Path<String>) -> Response {
    let (bytes, content_type): (&'static [u8], &str) = match file.as_str() {
        "swagger-ui-bundle.js" => (SWAGGER_JS, "text/javascript; charset=utf-8"),
        "swagger-ui.css" => (SWAGGER_CSS, "text/css; charset=utf-8"),
        _ => return ApiError::NotFound(format!("no docs asset `{file}`")).into_response(),
    };
    (
        [
            (header::CONTENT_TYPE, HeaderValue::from_static(content_type)),
            (
                header::CACHE_CONTROL,
                HeaderValue::from_static("public, max-age=86400"),
            ),
        ],
        bytes,
    )
        .into_response()
}

static SWAGGER_JS: &[u8] = include_bytes!("../../assets/swagger-ui/swagger-ui-bundle.js");
static SWAGGER_CSS: &[u8] = include_bytes!("../../assets/swagger-ui/swagger-ui.css");

/// Swagger UI, pointed at `/openapi.json`; the validator badge (which would call
/// validator.swagger.io) is off.
const DOCS_PAGE: &str = r##"<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>example-api docs</title>
<link rel="stylesheet" href="/docs/assets/swagger-ui.css">
</head>
<body>
<div id="swagger-ui"></div>
<script src="/docs/assets/swagger-ui-bundle.js"></script>
<script>
window.ui = SwaggerUIBundle({
  url: "/openapi.json",
  dom_id: "#swagger-ui",
  validatorUrl: null,
  deepLinking: true,
  docExpansion: "list",
  tryItOutEnabled: true,
});
</script>
</body>
</html>
"##;
