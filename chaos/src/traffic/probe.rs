//! The Redis tier seen from outside: a probe that looks for L2 hits, and the instances'
//! Redis counters.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use reqwest::StatusCode;
use serde_json::json;

use super::call::{Call, send};
use super::ctx::Ctx;

impl Ctx {
    /// Every `every` until `stop`: a new text analysed by one instance, then by the next
    /// one; a `HIT` there can only come from Redis (the L2 tier).
    pub(crate) async fn l2_probe(
        self: &Arc<Self>,
        run: u64,
        every: Duration,
        stop: Arc<AtomicBool>,
    ) {
        let mut n = 0u64;
        while !stop.load(Ordering::Acquire) {
            tokio::time::sleep(every).await;
            n += 1;
            let serving = self.serving();
            if serving.len() < 2 {
                continue;
            }
            let a = serving[n as usize % serving.len()];
            let b = serving[(n as usize + 1) % serving.len()];
            let call = Call::post(
                "/ai/analyze",
                json!({ "text": format!("chaos probe {run}-{n}: is Redis shared? #l2") }),
            );
            let first = self.fleet_call(a, "l2 probe", &call).await;
            if first.is_none() {
                continue;
            }
            // The value is written to Redis in the background after it is computed.
            tokio::time::sleep(Duration::from_millis(30)).await;
            if let Some(second) = self.fleet_call(b, "l2 probe", &call).await
                && second.status == StatusCode::OK
                && second.x_cache == "HIT"
            {
                self.stats().l2_probe_hits.push(Instant::now());
            }
        }
    }
}

/// Sum over the instances of every cache's Redis `hits` and `misses`, per instance (a
/// restarted instance starts again from 0).
pub(crate) async fn l2_counters(ctx: &Ctx) -> Vec<(u64, u64)> {
    let mut out = Vec::new();
    for base in &ctx.fleet {
        let mut hm = (0, 0);
        if let Ok(r) = send(&ctx.http, base, &Call::get("/performance".into())).await
            && let Some(caches) = r.json["caches"].as_array()
        {
            for c in caches {
                hm.0 += c["l2"]["hits"].as_u64().unwrap_or(0);
                hm.1 += c["l2"]["misses"].as_u64().unwrap_or(0);
            }
        }
        out.push(hm);
    }
    out
}
