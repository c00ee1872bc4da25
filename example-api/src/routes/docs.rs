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
use utoipa::openapi::schema::{
    AdditionalProperties, ArrayBuilder, KnownFormat, Object, OneOfBuilder, SchemaFormat,
};
use utoipa::openapi::security::{Http, HttpAuthScheme, SecurityScheme};
use utoipa::openapi::{ObjectBuilder, RefOr, Schema, Type};
use utoipa::{Modify, OpenApi};

use crate::error::{ApiError, ErrorBody};
use crate::services::CACHES;
use crate::services::ai::MAX_TEXT_CHARS;
use crate::services::analytics::{
    DEFAULT_PERIOD, HOURLY_UP_TO, MAX_HOURS, PERIOD_PATTERN, WINDOWS,
};
use crate::services::warming::WARMABLE;
use crate::services::writes::{
    MAX_NAME_CHARS, MAX_TITLE_CHARS, MIN_NAME_CHARS, PUBLISHED_AT_PATTERN,
};

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
         Admission control: each client (IP address; IPv6: its /64; behind a proxy listed in \
         `--trusted-proxies`, the address its `Forwarded` / `X-Forwarded-For` names) has a \
         budget of computations a second (`--rate-limit`, `--rate-limit-burst`): a request to \
         /analytics/* or /ai/* whose answer is not cached yet spends one, and so does every \
         write under /channels/; beyond it, 429. Answers from the cache, 304s and fail-safe \
         copies are never refused. Parameters that select a cache entry are bounded to what the \
         service serves: a window (`hours`, `period`) is any whole number of hours up to \
         {HOURLY_UP_TO}, then whole days up to {MAX_HOURS} hours ({WINDOWS} windows in all), so \
         varying it cannot make a new expensive computation per request."
    )
}

/// The characters Rust's `str::trim` removes (`char::is_whitespace`, Unicode `White_Space`),
/// as the inside of a regular-expression class: "blank" means made of these only.
const WHITESPACE: &str =
    "\\t-\\r \\u0085\\u00a0\\u1680\\u2000-\\u200a\\u2028\\u2029\\u202f\\u205f\\u3000";

/// Control characters (`char::is_control`, Unicode `Cc`), as the inside of a class.
const CONTROL: &str = "\\u0000-\\u001f\\u007f-\\u009f";

/// NUL, as the inside of a class.
const NUL: &str = "\\u0000";

/// A string of `min..=max` characters (Unicode scalar values, as the handlers count them)
/// that is not blank and has none of the characters of `excluded` (a class body; may be
/// empty).
fn text(min: usize, max: usize, excluded: &str, description: &str) -> Object {
    let pattern = if excluded.is_empty() {
        format!("[^{WHITESPACE}]")
    } else {
        format!("^[^{excluded}]*[^{excluded}{WHITESPACE}][^{excluded}]*$")
    };
    ObjectBuilder::new()
        .schema_type(Type::String)
        .min_length(Some(min))
        .max_length(Some(max))
        .pattern(Some(pattern))
        .description(Some(description))
        .build()
}

/// A string that is one of `values`.
fn one_of_names(values: &[&str], description: &str) -> Object {
    ObjectBuilder::new()
        .schema_type(Type::String)
        .enum_values(Some(values.iter().copied()))
        .description(Some(description))
        .build()
}

/// `text` of `/ai/analyze` and `/ai/optimize`.
pub(super) fn analysis_text_schema() -> impl Into<RefOr<Schema>> {
    text(
        1,
        MAX_TEXT_CHARS,
        "",
        &format!(
            "The post's text: not blank (not only whitespace), at most {MAX_TEXT_CHARS} \
             characters (Unicode scalar values; over it: 413)."
        ),
    )
}

/// `text` of `POST /channels/{id}/posts`.
pub(super) fn post_text_schema() -> impl Into<RefOr<Schema>> {
    text(
        1,
        MAX_TEXT_CHARS,
        NUL,
        &format!(
            "The post's text: not blank, no NUL character, at most {MAX_TEXT_CHARS} \
             characters (Unicode scalar values; over it: 413)."
        ),
    )
}

/// `title` of `PATCH /channels/{id}`.
pub(super) fn title_schema() -> impl Into<RefOr<Schema>> {
    text(
        1,
        MAX_TITLE_CHARS,
        CONTROL,
        &format!(
            "The new display title: not blank, no control characters, at most \
             {MAX_TITLE_CHARS} characters as sent (over it: 413); surrounding whitespace is \
             dropped."
        ),
    )
}

/// `name` of `PATCH /channels/{id}`.
pub(super) fn channel_name_schema() -> impl Into<RefOr<Schema>> {
    let most = MAX_NAME_CHARS - 1;
    ObjectBuilder::new()
        .schema_type(Type::String)
        .min_length(Some(MIN_NAME_CHARS))
        .max_length(Some(MAX_NAME_CHARS))
        .pattern(Some(format!(
            "^[a-z][a-z0-9_]{{{},{most}}}$",
            MIN_NAME_CHARS - 1
        )))
        .description(Some(format!(
            "The new handle: {MIN_NAME_CHARS} to {MAX_NAME_CHARS} lowercase ASCII letters, \
             digits and `_`, starting with a letter (longer: 413), e.g. `rust_weekly`."
        )))
        .examples(["rust_weekly"])
        .build()
}

/// `published_at` of `POST /channels/{id}/posts`.
pub(super) fn published_at_schema() -> impl Into<RefOr<Schema>> {
    ObjectBuilder::new()
        .schema_type(Type::String)
        .format(Some(SchemaFormat::KnownFormat(KnownFormat::DateTime)))
        .pattern(Some(PUBLISHED_AT_PATTERN))
        .description(Some(
            "RFC 3339 in UTC (`T` and `Z` upper-case), e.g. `2024-05-01T13:00:00Z`; default: \
             now. Before the channel was created or in the future: 409.",
        ))
        .examples(["2024-05-01T13:00:00Z"])
        .build()
}

/// `period` of `/analytics/demo/top-posts`.
pub(super) fn period_schema() -> impl Into<RefOr<Schema>> {
    ObjectBuilder::new()
        .schema_type(Type::String)
        .pattern(Some(PERIOD_PATTERN))
        .description(Some(
            "Whole hours up to a week (`1h` to `168h`), or whole days up to 90 (`1d` to `90d`); \
             no leading zero.",
        ))
        .default(Some(Value::from(DEFAULT_PERIOD)))
}

/// The body of `POST /admin/cache/invalidate`: exactly one of `{"cache": NAME}` (a cache
/// of the service) or `{"tag": TAG}` (not empty).
pub(super) fn invalidate_schema() -> RefOr<Schema> {
    let only = |field: &str, schema: Object| {
        ObjectBuilder::new()
            .property(field, schema)
            .required(field)
            .additional_properties(Some(AdditionalProperties::FreeForm(false)))
            .build()
    };
    let cache = only(
        "cache",
        one_of_names(CACHES, "A cache of the service: every entry is dropped."),
    );
    let tag = only(
        "tag",
        ObjectBuilder::new()
            .schema_type(Type::String)
            .min_length(Some(1))
            .description(Some(
                "Every entry stored with this tag is dropped (e.g. `channel:42`, `user:1`).",
            ))
            .build(),
    );
    OneOfBuilder::new()
        .item(cache)
        .item(tag)
        .description(Some("Exactly one of `cache` or `tag`."))
        .into()
}

/// Says in the description what the handlers check but the derives cannot: a rename
/// names at least one field (`minProperties: 1`; utoipa's own `min_properties` attribute
/// sets `maxProperties`).
pub(super) fn finish(spec: &mut utoipa::openapi::OpenApi) {
    let schemas = spec.components.as_mut().map(|c| &mut c.schemas);
    if let Some(RefOr::T(Schema::Object(rename))) =
        schemas.and_then(|s| s.get_mut("RenameChannelRequest"))
    {
        rename.min_properties = Some(1);
    }
}

/// `caches` of `POST /admin/cache/warm`.
pub(super) fn warmable_schema() -> impl Into<RefOr<Schema>> {
    ArrayBuilder::new()
        .items(one_of_names(&WARMABLE, "A cache that can be warmed."))
        .description(Some("The caches to refill, each with its default request."))
        .build()
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
