//! `/openapi.json` (derived from the handlers) validates as OpenAPI 3.1, every `$ref`
//! resolves, and it lists every route the router serves; `/docs` (Swagger UI from bytes in
//! the binary) renders the operations in headless Chromium with no network.

mod common;

use std::time::Duration;

use common::{Server, client};

fn server() -> &'static Server {
    common::server_with(&["--rate-limit", "0"])
}

/// The public contract: every route of the router.
const ROUTES: &[(&str, &str)] = &[
    ("get", "/health"),
    ("get", "/analytics/demo/post-dynamics"),
    ("get", "/analytics/demo/top-posts"),
    ("get", "/analytics/demo/best-times"),
    ("get", "/analytics/channels/{id}/metrics"),
    ("get", "/analytics/channels/metrics"),
    ("get", "/channels"),
    ("patch", "/channels/{id}"),
    ("post", "/channels/{id}/posts"),
    ("post", "/ai/analyze"),
    ("post", "/ai/optimize"),
    ("get", "/performance"),
    ("get", "/metrics"),
    ("post", "/admin/cache/invalidate"),
    ("post", "/admin/cache/warm"),
    ("get", "/openapi.json"),
    ("get", "/docs"),
    ("get", "/docs/assets/{file}"),
];

async fn spec_text() -> String {
    let r = client()
        .get(server().url("/openapi.json"))
        .send()
        .await
        .expect("sent");
    assert_eq!(r.status(), 200);
    r.text().await.expect("text")
}

#[tokio::test]
async fn openapi_validates_as_3_1_and_every_ref_resolves() {
    let text = spec_text().await;
    let spec = oas3::from_json(&text).expect("a valid OpenAPI 3.1 document");
    let version = spec.validate_version().expect("a supported version");
    assert_eq!((version.major, version.minor), (3, 1), "{version}");
    assert_eq!(spec.info.title, "example-api");
    let description = spec.info.description.as_deref().unwrap_or_default();
    assert!(description.contains("251 windows"), "{description}");

    let mut operations = 0;
    for (path, method, op) in spec.operations() {
        operations += 1;
        assert!(
            op.summary.is_some() || op.description.is_some(),
            "{method} {path}"
        );
        for p in &op.parameters {
            p.resolve(&spec)
                .unwrap_or_else(|e| panic!("{method} {path}: parameter: {e}"));
        }
        if let Some(body) = &op.request_body {
            let body = body
                .resolve(&spec)
                .unwrap_or_else(|e| panic!("{method} {path}: request body: {e}"));
            for media in body.content.values() {
                media
                    .schema(&spec)
                    .unwrap_or_else(|e| panic!("{method} {path}: request schema: {e}"));
            }
        }
        let responses = op.responses.as_ref().expect("responses");
        assert!(
            responses.keys().any(|code| code.starts_with('2')),
            "{method} {path}: no success response"
        );
        for (code, r) in responses {
            let r = r
                .resolve(&spec)
                .unwrap_or_else(|e| panic!("{method} {path} {code}: {e}"));
            for media in r.content.values() {
                media
                    .schema(&spec)
                    .unwrap_or_else(|e| panic!("{method} {path} {code}: schema: {e}"));
            }
        }
    }
    assert_eq!(operations, ROUTES.len());

    // Derived from the types: the fields of the answers are described.
    let json: serde_json::Value = serde_json::from_str(&text).expect("json");
    let schemas = &json["components"]["schemas"];
    for name in [
        "BestTimes",
        "TopPosts",
        "RankedPost",
        "ErrorBody",
        "UserChannels",
        "AnalyzeRequest",
        "RenameChannelRequest",
        "PublishPostRequest",
        "Post",
    ] {
        assert!(schemas[name].is_object(), "schema {name}");
    }
    assert!(schemas["TopPosts"]["properties"]["posts"].is_object());
    let op = &json["paths"]["/analytics/demo/post-dynamics"]["get"];
    let hours = &op["parameters"][0]["schema"];
    assert_eq!(hours["anyOf"][1]["multipleOf"], 24, "{hours}");
    assert!(op["responses"]["429"]["headers"]["Retry-After"].is_object());
    assert!(json["components"]["securitySchemes"]["bearer"].is_object());
}

#[tokio::test]
async fn openapi_lists_exactly_the_routes_the_router_serves() {
    let json: serde_json::Value = serde_json::from_str(&spec_text().await).expect("json");
    let mut listed: Vec<(String, String)> = Vec::new();
    for (path, item) in json["paths"].as_object().expect("paths") {
        for method in item.as_object().expect("path item").keys() {
            listed.push((method.clone(), path.clone()));
        }
    }
    listed.sort();
    let mut want: Vec<(String, String)> = ROUTES
        .iter()
        .map(|(m, p)| ((*m).to_owned(), (*p).to_owned()))
        .collect();
    want.sort();
    assert_eq!(listed, want);

    // Each listed operation is served: neither the router's 404 nor a 405.
    for (method, path) in &listed {
        let url = server().url(
            &path
                .replace("{id}", "1")
                .replace("{file}", "swagger-ui.css"),
        );
        let req = match method.as_str() {
            "get" => client().get(url),
            "post" => client()
                .post(url)
                .header("content-type", "application/json")
                .body("{}"),
            "patch" => client()
                .patch(url)
                .header("content-type", "application/json")
                .body("{}"),
            other => panic!("unexpected method {other}"),
        };
        let r = req.send().await.expect("sent");
        let status = r.status().as_u16();
        let body = r.text().await.unwrap_or_default();
        assert!(
            status != 405 && !body.contains("no such route"),
            "{method} {path}: {status} {body}"
        );
    }
    // And an unlisted one is not.
    let r = client()
        .get(server().url("/nope"))
        .send()
        .await
        .expect("sent");
    assert_eq!(r.status(), 404);
}

#[tokio::test]
async fn docs_page_renders_the_operations_offline_in_chromium() {
    let s = server();
    let html = client()
        .get(s.url("/docs"))
        .send()
        .await
        .expect("sent")
        .text()
        .await
        .expect("html");
    assert!(
        !html.contains("https://") && !html.contains("http://"),
        "no external assets"
    );

    let browser = common::browser::Browser::start().await;
    browser
        .client
        .goto(&s.url("/docs"))
        .await
        .expect("navigate");
    let count = browser
        .wait_for(
            "const n = document.querySelectorAll('.opblock').length; return n >= 15 ? n : null;",
            Duration::from_secs(30),
        )
        .await;
    assert_eq!(count, ROUTES.len() as u64);
    let text = browser
        .client
        .execute("return document.body.innerText", vec![])
        .await
        .expect("text");
    let text = text.as_str().unwrap_or_default();
    for needle in [
        "/analytics/demo/top-posts",
        "/channels",
        "Most viewed posts",
        "OAS 3.1",
    ] {
        assert!(text.contains(needle), "{needle} on the page");
    }
    // Everything the page loaded came from the server under test.
    let foreign = browser
        .client
        .execute(
            "return performance.getEntriesByType('resource').map(e => e.name)
                .filter(n => !n.startsWith(location.origin))",
            vec![],
        )
        .await
        .expect("resources");
    assert_eq!(foreign, serde_json::json!([]), "requests off the server");
    let shot = browser.screenshot("docs-swagger-ui").await;
    assert!(std::fs::metadata(&shot).expect("screenshot").len() > 10_000);
    browser.close().await;
}
