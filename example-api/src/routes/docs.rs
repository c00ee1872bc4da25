//! `GET /openapi.json` and `GET /docs`: the OpenAPI 3.1 description of the service and
//! a self-contained page that renders it (no CDN, works offline).

use std::sync::LazyLock;

use axum::Json;
use axum::response::Html;
use serde_json::{Value, json};

use crate::services::analytics::{HOURLY_UP_TO, MAX_HOURS, WINDOWS};

pub(super) async fn openapi() -> Json<Value> {
    Json(SPEC.clone())
}

pub(super) async fn page() -> Html<&'static str> {
    Html(DOCS_PAGE)
}

/// The OpenAPI description served at `/openapi.json`.
pub fn openapi_spec() -> &'static Value {
    &SPEC
}

static SPEC: LazyLock<Value> = LazyLock::new(build_spec);

fn query(name: &str, schema: &Value, description: &str) -> Value {
    json!({ "name": name, "in": "query", "required": false, "schema": schema, "description": description })
}

fn error_response(description: &str) -> Value {
    json!({ "description": description, "content": { "application/json": { "schema": { "$ref": "#/components/schemas/Error" } } } })
}

fn ok(description: &str, example: &Value) -> Value {
    json!({ "description": description, "content": { "application/json": { "example": example } } })
}

fn cached(name: &str, ttl: u64) -> String {
    format!("Cached in `{name}` for {ttl} s (`X-Cache: HIT|MISS`).")
}

/// The `429` of the rate-limited routes.
fn rate_limited() -> Value {
    json!({ "description": "This client's rate limit on /analytics/* and /ai/* is exceeded; wait `Retry-After` seconds",
        "headers": { "Retry-After": { "schema": { "type": "integer" }, "description": "Seconds until the next request is admitted" } },
        "content": { "application/json": { "schema": { "$ref": "#/components/schemas/Error" },
            "example": { "error": "rate_limited", "message": "too many requests from this client; retry after 1 s" } } } })
}

/// The schema of a window in hours: any hour up to a week, whole days up to 90.
fn window_schema() -> Value {
    json!({ "anyOf": [
        { "type": "integer", "minimum": 1, "maximum": HOURLY_UP_TO },
        { "type": "integer", "minimum": HOURLY_UP_TO + 24, "maximum": MAX_HOURS, "multipleOf": 24 } ],
        "default": 24 })
}

fn build_spec() -> Value {
    let bearer = json!([{ "bearer": [] }]);
    let text_body = |extra: Value| {
        let mut properties =
            json!({ "text": { "type": "string", "minLength": 1, "maxLength": 65536 } });
        if let (Some(p), Some(e)) = (properties.as_object_mut(), extra.as_object()) {
            p.extend(e.clone());
        }
        json!({ "required": true, "content": { "application/json": { "schema": {
            "type": "object", "required": ["text"], "properties": properties } } } })
    };
    json!({
        "openapi": "3.1.0",
        "info": {
            "title": "example-api",
            "version": env!("CARGO_PKG_VERSION"),
            "description": format!("Reference service of the cache toolkit: analytics over seeded channel data, \
                AI content analysis, and the cache and timer figures behind them. The service layer \
                carries #[cache_result] and #[performance_timer].\n\n\
                Every error, whatever produced it, is JSON of the `Error` schema: 400, 401, 404, 405 (with `Allow`), \
                413, 414, 415, 422, 429 (with `Retry-After`), 431, 500 and 503 (`overloaded`, with `Retry-After`, when \
                the server is at its connection or in-flight request limit; `timeout` when a request took too long).\n\n\
                Admission control: each client (IP address; IPv6: its /64) may make a limited number of requests a \
                second to /analytics/* and /ai/* (`--rate-limit`, `--rate-limit-burst`), beyond which it gets 429. \
                Parameters that select a cache entry are bounded to what the service serves: a window (`hours`, \
                `period`) is any whole number of hours up to {HOURLY_UP_TO}, then whole days up to {MAX_HOURS} hours \
                ({WINDOWS} windows in all), so varying it cannot make a new expensive computation per request.")
        },
        "components": {
            "securitySchemes": { "bearer": { "type": "http", "scheme": "bearer" } },
            "schemas": { "Error": { "type": "object", "required": ["error", "message"], "properties": {
                "error": { "type": "string", "example": "not_found", "description": "bad_request, unauthorized, not_found, method_not_allowed, payload_too_large, uri_too_long, unsupported_media_type, unprocessable_entity, rate_limited, header_fields_too_large, overloaded, timeout, database_error, internal_error (client_error or server_error for any other status)" },
                "message": { "type": "string" } } } }
        },
        "paths": {
            "/health": { "get": { "summary": "Liveness",
                "description": "Always 200 while the process serves. `redis`: `not configured`, `connected` or `unavailable` (with `redis_circuit` when configured).",
                "tags": ["service"],
                "responses": { "200": ok("Alive", &json!({ "status": "ok", "redis": "connected", "redis_circuit": "closed" })) } } },
            "/analytics/demo/post-dynamics": { "get": { "summary": "Views over time",
                "description": cached("demo_post_dynamics", 300), "tags": ["analytics"],
                "parameters": [query("hours", &window_schema(), &format!("Window in hours: 1 to {HOURLY_UP_TO}, or whole days (a multiple of 24) up to {MAX_HOURS}"))],
                "responses": { "200": ok("Hourly views", &json!({ "hours": 24, "total_views": 12345, "points": [] })),
                    "400": error_response("Bad `hours`: out of range, or above 168 and not a multiple of 24"),
                    "429": rate_limited() } } },
            "/analytics/demo/top-posts": { "get": { "summary": "Most viewed posts",
                "description": cached("demo_top_posts", 600), "tags": ["analytics"],
                "parameters": [
                    query("period", &json!({ "type": "string", "default": "7d", "examples": ["24h", "36h", "7d", "30d"],
                        "pattern": "^[0-9]+[hd]$" }), "Window: whole hours up to 7d (`1h` to `168h`), then whole days up to 90d"),
                    query("limit", &json!({ "type": "integer", "minimum": 1, "maximum": 100, "default": 10 }), "How many posts")],
                "responses": { "200": ok("Ranked posts", &json!({ "period": "7d", "posts": [] })),
                    "400": error_response("Bad `period` or `limit`"), "429": rate_limited() } } },
            "/analytics/demo/best-times": { "get": { "summary": "Best hours and weekdays to post (UTC)",
                "description": cached("demo_best_times", 1800), "tags": ["analytics"],
                "responses": { "200": ok("Best slots", &json!({ "timezone": "UTC", "best_hours": [], "best_weekdays": [] })),
                    "429": rate_limited() } } },
            "/analytics/channels/{id}/metrics": { "get": { "summary": "A channel's summary",
                "description": cached("analytics_summary", 180) + " Timed as `analytics_metrics_retrieval`.",
                "tags": ["analytics"],
                "parameters": [{ "name": "id", "in": "path", "required": true, "schema": { "type": "integer" } }],
                "responses": { "200": ok("Summary", &json!({ "channel": {}, "total_views": 0 })),
                    "400": error_response("Bad id"), "404": error_response("Unknown channel"), "429": rate_limited() } } },
            "/channels": { "get": { "summary": "The calling user's channels",
                "description": cached("user_channels", 300) + " Keyed by user. Demo tokens are printed at start-up.",
                "tags": ["channels"], "security": bearer,
                "responses": { "200": ok("Channels", &json!({ "user": "alice", "channels": [] })),
                    "401": error_response("Missing or bad token") } } },
            "/ai/analyze": { "post": { "summary": "Analyse a post",
                "description": cached("ai_content_analysis", 900) + " Timed as `ai_content_optimization`.",
                "tags": ["ai"], "requestBody": text_body(json!({})),
                "responses": { "200": ok("Analysis", &json!({ "score": 80, "readability": {}, "sentiment": {} })),
                    "400": error_response("Empty text or malformed JSON"),
                    "413": error_response("Text over 64 KiB"),
                    "415": error_response("Not JSON"),
                    "422": error_response("Wrong JSON shape"), "429": rate_limited() } } },
            "/ai/optimize": { "post": { "summary": "Suggestions to improve a post",
                "description": "Built on the cached analysis and best posting times.", "tags": ["ai"],
                "requestBody": text_body(json!({ "goal": { "type": "string", "enum": ["engagement", "reach", "clarity"], "default": "engagement" } })),
                "responses": { "200": ok("Suggestions", &json!({ "suggestions": [], "optimized_text": "" })),
                    "400": error_response("Empty text or malformed JSON"),
                    "413": error_response("Text over 64 KiB"),
                    "422": error_response("Wrong JSON shape"), "429": rate_limited() } } },
            "/performance": { "get": { "summary": "Cache, timer and pool figures", "tags": ["service"],
                "responses": { "200": ok("Report", &json!({ "api_performance": {}, "system_stats": {},
                    "optimization_features": [], "caches": [], "timers": [], "bottlenecks": [] })) } } },
            "/metrics": { "get": { "summary": "Prometheus metrics", "tags": ["service"],
                "responses": { "200": { "description": "Prometheus text format",
                    "content": { "text/plain": { "schema": { "type": "string" } } } } } } },
            "/admin/cache/invalidate": { "post": { "summary": "Invalidate a cache or a tag", "tags": ["admin"],
                "security": bearer,
                "requestBody": { "required": true, "content": { "application/json": { "schema": { "oneOf": [
                    { "type": "object", "required": ["cache"], "properties": { "cache": { "type": "string", "example": "demo_top_posts" } } },
                    { "type": "object", "required": ["tag"], "properties": { "tag": { "type": "string", "example": "channel:1" } } } ] } } } },
                "responses": { "200": ok("Invalidated", &json!({ "invalidated": { "cache": "demo_top_posts" } })),
                    "401": error_response("Missing or bad admin token"), "404": error_response("Unknown cache"),
                    "422": error_response("Neither or both of cache and tag") } } },
            "/admin/cache/warm": { "post": { "summary": "Refill caches", "tags": ["admin"], "security": bearer,
                "requestBody": { "required": false, "content": { "application/json": { "schema": {
                    "type": "object", "properties": { "caches": { "type": "array", "items": { "type": "string" },
                    "example": ["demo_best_times", "demo_top_posts", "demo_post_dynamics"] } } } } } },
                "responses": { "200": ok("Warmed", &json!({ "warmed": [{ "cache": "demo_best_times", "duration_ms": 12.5 }] })),
                    "400": error_response("Cache cannot be warmed"), "401": error_response("Missing or bad admin token"),
                    "413": error_response("Body over 2 MB"), "422": error_response("Not {\"caches\": [NAME, ...]}") } } },
            "/openapi.json": { "get": { "summary": "This description", "tags": ["docs"],
                "responses": { "200": { "description": "OpenAPI 3.1" } } } },
            "/docs": { "get": { "summary": "API docs page", "tags": ["docs"],
                "responses": { "200": { "description": "HTML" } } } }
        }
    })
}

/// A small page that fetches `/openapi.json`, lists the operations, and can send a
/// request for each. Everything is inline.
const DOCS_PAGE: &str = r#"<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>example-api docs</title>
<style>
  body { font: 15px/1.5 system-ui, sans-serif; margin: 0 auto; max-width: 960px; padding: 1rem 1.5rem; color: #1d2430; }
  h1 { margin-bottom: .2rem; } .muted { color: #667; }
  details { border: 1px solid #d8dde6; border-radius: 6px; margin: .5rem 0; background: #fafbfc; }
  summary { cursor: pointer; padding: .5rem .75rem; font-family: ui-monospace, monospace; }
  .m { display: inline-block; min-width: 4.2rem; font-weight: 700; border-radius: 4px; text-align: center; color: #fff; margin-right: .5rem; }
  .get { background: #2f7d32; } .post { background: #1d5fb4; }
  .body { padding: .25rem .75rem .75rem; }
  label { display: block; margin-top: .4rem; font-size: .9rem; }
  input, textarea { width: 100%; box-sizing: border-box; font-family: ui-monospace, monospace; }
  pre { background: #111822; color: #e4e8ef; padding: .6rem; border-radius: 4px; overflow: auto; max-height: 24rem; }
  button { margin-top: .5rem; padding: .3rem 1rem; }
  h2 { margin-top: 1.5rem; text-transform: capitalize; }
</style>
</head>
<body>
<h1 id="title">example-api</h1>
<p id="desc" class="muted"></p>
<p>Bearer token (demo users' and the admin token are printed at start-up):
  <input id="token" placeholder="token for /channels and /admin/*"></p>
<div id="ops">Loading <a href="/openapi.json">/openapi.json</a>...</div>
<script>
"use strict";
const esc = s => String(s).replace(/[&<>"]/g, c => ({ "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;" }[c]));
fetch("/openapi.json").then(r => r.json()).then(spec => {
  document.getElementById("title").textContent = spec.info.title + " " + spec.info.version;
  document.getElementById("desc").textContent = spec.info.description;
  const groups = {};
  for (const [path, item] of Object.entries(spec.paths))
    for (const [method, op] of Object.entries(item))
      (groups[(op.tags || ["other"])[0]] ||= []).push({ path, method, op });
  const root = document.getElementById("ops");
  root.innerHTML = "";
  let n = 0;
  for (const [tag, ops] of Object.entries(groups)) {
    root.insertAdjacentHTML("beforeend", `<h2>${esc(tag)}</h2>`);
    for (const { path, method, op } of ops) {
      const id = "op" + (n++);
      const params = (op.parameters || []).map(p =>
        `<label>${esc(p.name)} (${esc(p.in)}) <span class="muted">${esc(p.description || "")}</span>
         <input data-in="${esc(p.in)}" data-name="${esc(p.name)}" value="${esc(p.schema && p.schema.default !== undefined ? p.schema.default : (p.in === "path" ? 1 : ""))}"></label>`).join("");
      let body = "";
      if (op.requestBody) {
        const schema = op.requestBody.content["application/json"].schema;
        const sample = schema.oneOf ? { cache: "demo_top_posts" }
          : schema.properties && schema.properties.text ? { text: "Big news today: our new release is faster! What do you think? #rust" }
          : { caches: ["demo_best_times"] };
        body = `<label>JSON body<textarea rows="4">${esc(JSON.stringify(sample, null, 2))}</textarea></label>`;
      }
      const responses = Object.entries(op.responses || {}).map(([code, r]) => `${esc(code)} ${esc(r.description)}`).join("; ");
      root.insertAdjacentHTML("beforeend", `<details id="${id}"><summary><span class="m ${method}">${method.toUpperCase()}</span>${esc(path)}
        <span class="muted"> ${esc(op.summary || "")}</span></summary><div class="body">
        <p>${esc(op.description || "")}</p><p class="muted">Responses: ${responses}</p>
        ${params}${body}<button>Send</button><pre hidden></pre></div></details>`);
      const el = document.getElementById(id);
      el.querySelector("button").onclick = async () => {
        let url = path, qs = new URLSearchParams();
        for (const input of el.querySelectorAll("input[data-in]")) {
          if (input.dataset.in === "path") url = url.replace("{" + input.dataset.name + "}", encodeURIComponent(input.value));
          else if (input.value !== "") qs.set(input.dataset.name, input.value);
        }
        if ([...qs].length) url += "?" + qs;
        const headers = {};
        const token = document.getElementById("token").value.trim();
        if (token) headers["Authorization"] = "Bearer " + token;
        const init = { method: method.toUpperCase(), headers };
        const ta = el.querySelector("textarea");
        if (ta) { headers["Content-Type"] = "application/json"; init.body = ta.value; }
        const out = el.querySelector("pre");
        out.hidden = false; out.textContent = "...";
        const started = performance.now();
        try {
          const r = await fetch(url, init);
          const text = await r.text();
          let shown = text; try { shown = JSON.stringify(JSON.parse(text), null, 2); } catch (_) {}
          out.textContent = `${r.status} ${r.statusText}  X-Cache: ${r.headers.get("x-cache") || "-"}  ` +
            `${(performance.now() - started).toFixed(1)} ms\n\n${shown}`;
        } catch (e) { out.textContent = String(e); }
      };
    }
  }
}).catch(e => { document.getElementById("ops").textContent = "Could not load /openapi.json: " + e; });
</script>
</body>
</html>
"#;
