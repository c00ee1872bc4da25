//! The miss storm: many simultaneous requests of one key right after its cache is
//! invalidated, and how many times the body ran across the instances.

use std::sync::Arc;
use std::time::{Duration, Instant};

use hdrhistogram::Histogram;
use reqwest::StatusCode;
use serde_json::{Value, json};

use super::call::{Call, send};
use super::ctx::Ctx;

/// The result of a miss storm.
#[derive(Debug)]
pub(crate) struct Storm {
    /// Requests sent.
    pub(crate) requests: usize,
    /// Answers equal to the reference's.
    pub(crate) right: usize,
    /// Answers with another status or body, or no answer.
    pub(crate) failed: usize,
    /// Runs of the body, over the instances (from their `computes` counters).
    pub(crate) computes: u64,
    /// Per instance: body runs, lock waits answered by another instance's value, Redis
    /// timeouts, errors, reads skipped (circuit open, invalidation on its way) and hits of
    /// the cache during the storm.
    pub(crate) per_instance: Vec<[u64; 6]>,
    /// How long the storm took.
    pub(crate) took: Duration,
    /// Latency of the answers.
    pub(crate) latency: Histogram<u64>,
}

/// `concurrency` simultaneous requests of `path` spread over the instances in rotation,
/// right after its cache is invalidated; counts the body runs with `computes`, which
/// reads the instances' counters.
pub(crate) async fn miss_storm(
    ctx: &Arc<Ctx>,
    concurrency: usize,
    cache: &str,
    path: &str,
) -> Storm {
    let reference = send(&ctx.http, &ctx.reference, &Call::get(path.into()))
        .await
        .map(|r| r.json)
        .unwrap_or(Value::Null);
    let admin = Call {
        bearer: Some(ctx.admin_token.clone()),
        ..Call::post("/admin/cache/invalidate", json!({ "cache": cache }))
    };
    let serving = ctx.serving();
    if let Some(&first) = serving.first() {
        let _ = send(&ctx.http, &ctx.fleet[first], &admin).await;
    }
    // Let the announcement reach the other instances.
    tokio::time::sleep(Duration::from_millis(300)).await;
    let before = computes(ctx, cache).await;
    let barrier = Arc::new(tokio::sync::Barrier::new(concurrency));
    let started = Instant::now();
    let tasks: Vec<_> = (0..concurrency)
        .map(|k| {
            let ctx = Arc::clone(ctx);
            let barrier = Arc::clone(&barrier);
            let base = ctx.fleet[serving[k % serving.len()]].clone();
            let path = path.to_owned();
            tokio::spawn(async move {
                barrier.wait().await;
                let t = Instant::now();
                let r = send(&ctx.http, &base, &Call::get(path)).await;
                (r.ok().map(|r| (r.status, r.json)), t.elapsed())
            })
        })
        .collect();
    let mut latency = Histogram::new_with_bounds(1, 120_000_000, 3).expect("valid bounds");
    let (mut right, mut failed) = (0, 0);
    for t in tasks {
        match t.await {
            Ok((Some((StatusCode::OK, body)), took)) if body == reference => {
                right += 1;
                let _ = latency.record(took.as_micros().max(1) as u64);
            }
            _ => failed += 1,
        }
    }
    let took = started.elapsed();
    let after = computes(ctx, cache).await;
    let per_instance: Vec<[u64; 6]> = before
        .iter()
        .zip(&after)
        .map(|(b, a)| std::array::from_fn(|k| a[k].saturating_sub(b[k])))
        .collect();
    Storm {
        requests: concurrency,
        right,
        failed,
        computes: per_instance.iter().map(|r| r[0]).sum(),
        per_instance,
        took,
        latency,
    }
}

/// `[computes, l2.lock_waits, l2.timeouts, l2.errors, l2.skipped, l2.hits]` of `cache` on
/// each instance.
async fn computes(ctx: &Ctx, cache: &str) -> Vec<[u64; 6]> {
    let mut out = Vec::new();
    for base in &ctx.fleet {
        let mut row = [0; 6];
        if let Ok(r) = send(&ctx.http, base, &Call::get("/performance".into())).await
            && let Some(c) = r.json["caches"]
                .as_array()
                .and_then(|cs| cs.iter().find(|c| c["name"] == cache))
        {
            let counters = [
                "/computes",
                "/l2/lock_waits",
                "/l2/timeouts",
                "/l2/errors",
                "/l2/skipped",
                "/l2/hits",
            ];
            for (k, pointer) in counters.iter().enumerate() {
                row[k] = c.pointer(pointer).and_then(Value::as_u64).unwrap_or(0);
            }
        }
        out.push(row);
    }
    out
}
