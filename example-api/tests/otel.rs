//! A request's OpenTelemetry trace, end to end: `tracing-opentelemetry` over the SDK's
//! in-memory exporter, real requests through the listening service, and the exported
//! spans checked by name, attribute and parent id.
//!
//! A miss of `GET /analytics/demo/top-posts` is, from the root down:
//! `request` (the HTTP layer) > `analytics_top_posts` (its `#[performance_timer]`) >
//! `cache` (`cache.name = demo_top_posts`, `cache.outcome = miss`) > `cache.compute` >
//! `db.top_posts` (the query's `#[performance_timer]`). A hit of the same URL has the
//! `cache` span with `cache.outcome = hit`, `cache.tier = local`, and no computation.

mod common;

use opentelemetry::trace::{SpanId, TraceId, TracerProvider as _};
use opentelemetry::{KeyValue, Value};
use opentelemetry_sdk::trace::{InMemorySpanExporter, SdkTracerProvider, SpanData};
use tracing_subscriber::layer::SubscriberExt as _;

/// Installs the exporter as the process's subscriber (once: this binary has one test).
fn install() -> (InMemorySpanExporter, SdkTracerProvider) {
    let exporter = InMemorySpanExporter::default();
    let provider = SdkTracerProvider::builder()
        .with_simple_exporter(exporter.clone())
        .build();
    let tracer = provider.tracer("example-api-test");
    let subscriber =
        tracing_subscriber::registry().with(tracing_opentelemetry::layer().with_tracer(tracer));
    tracing::subscriber::set_global_default(subscriber).expect("the only subscriber");
    (exporter, provider)
}

fn attr<'a>(span: &'a SpanData, key: &str) -> Option<&'a Value> {
    span.attributes
        .iter()
        .find(|KeyValue { key: k, .. }| k.as_str() == key)
        .map(|kv| &kv.value)
}

fn attr_str(span: &SpanData, key: &str) -> Option<String> {
    attr(span, key).map(|v| v.as_str().into_owned())
}

/// The spans of one trace.
fn trace_of(spans: &[SpanData], trace: TraceId) -> Vec<&SpanData> {
    spans
        .iter()
        .filter(|s| s.span_context.trace_id() == trace)
        .collect()
}

/// The one span named `name` in `spans`.
fn one<'a>(spans: &[&'a SpanData], name: &str) -> &'a SpanData {
    let found: Vec<_> = spans.iter().filter(|s| s.name == name).collect();
    assert_eq!(
        found.len(),
        1,
        "one `{name}` span expected in {:#?}",
        spans.iter().map(|s| &s.name).collect::<Vec<_>>()
    );
    found[0]
}

fn assert_child(child: &SpanData, parent: &SpanData) {
    assert_eq!(
        child.parent_span_id,
        parent.span_context.span_id(),
        "`{}` should be a child of `{}`",
        child.name,
        parent.name
    );
    assert_eq!(
        child.span_context.trace_id(),
        parent.span_context.trace_id()
    );
}

/// The cache span of the trace of `request`, whose `cache.name` is `name`.
fn cache_span<'a>(spans: &[&'a SpanData], name: &str) -> &'a SpanData {
    let found: Vec<_> = spans
        .iter()
        .filter(|s| s.name == "cache" && attr_str(s, "cache.name").as_deref() == Some(name))
        .collect();
    assert_eq!(found.len(), 1, "one `cache` span of {name}");
    found[0]
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_request_is_one_trace_with_its_cache_outcome_and_queries_under_the_computation() {
    let (exporter, provider) = install();
    let server = common::server_with(&["--rate-limit", "0", "--no-warm"]);
    let path = "/analytics/demo/top-posts?period=2d&limit=7";

    let miss = common::get(server, path).await;
    assert_eq!(miss.status, 200, "{}", miss.json);
    assert_eq!(miss.x_cache.as_deref(), Some("MISS"));
    provider.force_flush().expect("flush");
    let spans = exporter.get_finished_spans().expect("spans");

    let request = spans
        .iter()
        .find(|s| s.name == "request" && attr_str(s, "uri").as_deref() == Some(path))
        .expect("the HTTP layer's `request` span");
    assert_eq!(request.parent_span_id, SpanId::INVALID, "a root span");
    let trace = trace_of(&spans, request.span_context.trace_id());
    let timer = one(&trace, "analytics_top_posts");
    assert_child(timer, request);
    assert_eq!(
        attr_str(timer, "code.function").as_deref(),
        Some("top_posts")
    );
    assert!(
        attr_str(timer, "code.namespace").is_some_and(|n| n.ends_with("services::analytics")),
        "{:?}",
        timer.attributes
    );
    assert!(attr(timer, "error.type").is_none(), "not an error");
    let cache = cache_span(&trace, "demo_top_posts");
    assert_child(cache, timer);
    assert_eq!(attr_str(cache, "cache.outcome").as_deref(), Some("miss"));
    let compute = one(&trace, "cache.compute");
    assert_child(compute, cache);
    let query = one(&trace, "db.top_posts");
    assert_child(query, compute);
    assert_eq!(
        attr_str(query, "code.function").as_deref(),
        Some("top_posts")
    );

    exporter.reset();
    let hit = common::get(server, path).await;
    assert_eq!(hit.status, 200);
    assert_eq!(hit.x_cache.as_deref(), Some("HIT"));
    provider.force_flush().expect("flush");
    let spans = exporter.get_finished_spans().expect("spans");
    let request = spans
        .iter()
        .find(|s| s.name == "request" && attr_str(s, "uri").as_deref() == Some(path))
        .expect("the hit's `request` span");
    let trace = trace_of(&spans, request.span_context.trace_id());
    let timer = one(&trace, "analytics_top_posts");
    assert_child(timer, request);
    let cache = cache_span(&trace, "demo_top_posts");
    assert_child(cache, timer);
    assert_eq!(attr_str(cache, "cache.outcome").as_deref(), Some("hit"));
    assert_eq!(attr_str(cache, "cache.tier").as_deref(), Some("local"));
    assert!(
        trace
            .iter()
            .all(|s| s.name != "cache.compute" && s.name != "db.top_posts"),
        "a hit computes nothing: {:#?}",
        trace.iter().map(|s| &s.name).collect::<Vec<_>>()
    );
}
