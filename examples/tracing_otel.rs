//! Spans: each `#[performance_timer]` call in a span named after the timer, each cached call
//! in a `cache` span with its outcome, each computation in a `cache.compute` span under
//! which the queries it makes nest. Printed here by `tracing-subscriber`'s fmt layer when
//! each span closes; an OpenTelemetry exporter sees the same tree (see the guide's
//! "Traces and dashboards" chapter, and `example-api --otlp-endpoint`).
//!
//! `cargo run -p examples --example tracing_otel`

use std::time::Duration;

use cache_runtime::{cache_result, performance_timer};
use tracing_subscriber::fmt::format::FmtSpan;

/// A query: its span nests under the computation that runs it.
#[performance_timer("db.load_user")]
async fn load_user(id: u64) -> Result<String, String> {
    tokio::time::sleep(Duration::from_millis(5)).await;
    if id == 0 {
        return Err("no user 0".to_owned());
    }
    Ok(format!("user {id}"))
}

/// The handler's timer, the cache inside it.
#[performance_timer("api.profile")]
#[cache_result("profile", ttl = 60)]
async fn profile(id: u64) -> Result<String, String> {
    load_user(id).await.map(|u| format!("profile of {u}"))
}

/// A hot function that wants no span: the timer's figures stay, the span goes.
#[performance_timer("hot.checksum", span = false)]
fn checksum(data: &[u8]) -> u64 {
    data.iter().map(|&b| u64::from(b)).sum()
}

#[tokio::main]
async fn main() {
    tracing_subscriber::fmt()
        .with_span_events(FmtSpan::CLOSE)
        .with_target(false)
        .init();
    let request = tracing::info_span!("request", uri = "/profile/7");
    let _ = tracing::Instrument::instrument(profile(7), request.clone()).await; // miss: computes
    let _ = tracing::Instrument::instrument(profile(7), request).await; // hit: no computation
    let _ = profile(0).await; // an error: `error.type` on the timer's span
    println!("checksum {}", checksum(b"no span for me"));
}
