//! The traffic: a weighted mix of requests sent to the instances in rotation (as a load
//! balancer would), a checker that compares a sample of answers with the `--no-cache`
//! reference, changes (to the database, then an admin invalidation, or through the write
//! API) and the time until every instance serves them (staleness), a probe of
//! the Redis tier (L2 hits), and the miss storm.

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use hdrhistogram::Histogram;
use reqwest::{Client, Method, StatusCode};
use serde_json::{Value, json};
use tokio::sync::RwLock;

/// One request to make.
#[derive(Debug)]
pub(crate) struct Call {
    method: Method,
    path: String,
    body: Option<Value>,
    bearer: Option<String>,
}

impl Call {
    fn get(path: String) -> Self {
        Self {
            method: Method::GET,
            path,
            body: None,
            bearer: None,
        }
    }

    fn post(path: &str, body: Value) -> Self {
        Self {
            method: Method::POST,
            path: path.to_owned(),
            body: Some(body),
            bearer: None,
        }
    }
}

/// A row of the traffic mix: how often, what, which status is right, and whether the
/// answer is compared with the reference instance.
#[derive(Debug)]
pub(crate) struct Route {
    /// Shown in failures.
    pub(crate) name: &'static str,
    /// Relative frequency (the rows add up to about 1,000).
    pub(crate) weight: u32,
    /// Builds one request.
    pub(crate) build: fn(&mut fastrand::Rng, &Ctx) -> Call,
    /// The status the request asks for (a 4xx for the bad-input rows).
    pub(crate) expect: StatusCode,
    /// Whether the answer must equal the `--no-cache` instance's.
    pub(crate) compare: bool,
    /// Left out of the short (CI) run: a load test rather than a correctness check.
    pub(crate) long_only: bool,
}

/// The traffic mix. A new route (say `PATCH /channels/{id}`) is one more row; a write
/// that changes the database must then go through [`Ctx::mutate`]'s lock, as the
/// staleness check's does, so that the checker does not compare across it.
pub(crate) const MIX: &[Route] = &[
    Route {
        name: "best_times",
        weight: 100,
        build: |_, _| Call::get("/analytics/demo/best-times".into()),
        expect: StatusCode::OK,
        compare: true,
        long_only: false,
    },
    Route {
        name: "top_posts",
        weight: 150,
        build: |rng, _| {
            let period = ["1d", "2d", "7d", "30d"][rng.usize(..4)];
            Call::get(format!(
                "/analytics/demo/top-posts?period={period}&limit={}",
                rng.u32(1..=10)
            ))
        },
        expect: StatusCode::OK,
        compare: true,
        long_only: false,
    },
    Route {
        name: "post_dynamics",
        weight: 150,
        build: |rng, _| {
            Call::get(format!(
                "/analytics/demo/post-dynamics?hours={}",
                rng.u32(1..=48)
            ))
        },
        expect: StatusCode::OK,
        compare: true,
        long_only: false,
    },
    Route {
        name: "channel_metrics",
        weight: 200,
        build: |rng, ctx| {
            Call::get(format!(
                "/analytics/channels/{}/metrics",
                rng.i64(1..=ctx.channels)
            ))
        },
        expect: StatusCode::OK,
        compare: true,
        long_only: false,
    },
    Route {
        name: "user_channels",
        weight: 100,
        build: |rng, ctx| Call {
            bearer: Some(ctx.tokens[rng.usize(..ctx.tokens.len())].clone()),
            ..Call::get("/channels".into())
        },
        expect: StatusCode::OK,
        compare: true,
        long_only: false,
    },
    Route {
        name: "ai_analyze",
        weight: 150,
        build: |rng, _| Call::post("/ai/analyze", json!({ "text": text(rng.u32(..200)) })),
        expect: StatusCode::OK,
        compare: true,
        long_only: false,
    },
    Route {
        name: "health (uncached)",
        weight: 50,
        build: |_, _| Call::get("/health".into()),
        expect: StatusCode::OK,
        compare: false,
        long_only: false,
    },
    Route {
        name: "invalidate top_posts",
        weight: 1,
        build: |_, ctx| Call {
            bearer: Some(ctx.admin_token.clone()),
            ..Call::post(
                "/admin/cache/invalidate",
                json!({ "cache": "demo_top_posts" }),
            )
        },
        expect: StatusCode::OK,
        compare: false,
        // Under full load the 40 keys recomputed at once overflow the cache's bulkhead
        // (`503 overloaded`): measured by the long run, kept out of CI's pass/fail.
        long_only: true,
    },
    Route {
        name: "missing channel (404)",
        weight: 30,
        build: |_, _| Call::get("/analytics/channels/999999/metrics".into()),
        expect: StatusCode::NOT_FOUND,
        compare: true,
        long_only: false,
    },
    Route {
        name: "bad window (400)",
        weight: 20,
        build: |_, _| Call::get("/analytics/demo/post-dynamics?hours=0".into()),
        expect: StatusCode::BAD_REQUEST,
        compare: false,
        long_only: false,
    },
];

/// Text number `n` of the analysed pool.
fn text(n: u32) -> String {
    format!(
        "Post {n}: our channel grows! Morning numbers are up {}% and #growth looks good. \
         What do you think?",
        n % 37
    )
}

/// Everything the traffic needs, shared by its tasks.
#[derive(Debug)]
pub(crate) struct Ctx {
    /// The cached instances' base URLs.
    pub(crate) fleet: Vec<String>,
    /// Which of them the load balancer sends to.
    pub(crate) in_rotation: Vec<AtomicBool>,
    /// Requests in flight per instance (to drain one before it is killed).
    pub(crate) in_flight: Vec<AtomicUsize>,
    /// The `--no-cache` instance.
    pub(crate) reference: String,
    /// Demo users' bearer tokens.
    pub(crate) tokens: Vec<String>,
    /// The admin bearer token.
    pub(crate) admin_token: String,
    /// Channels in the database (ids 1..=channels).
    pub(crate) channels: i64,
    /// The shared database, for the changes that precede an invalidation.
    pub(crate) db: sqlx::SqlitePool,
    /// Held (shared) by a compared request, (exclusively) while the database changes and
    /// the fleet converges, so the checker never compares across a change.
    pub(crate) mutate: RwLock<()>,
    /// The HTTP client (a pool per instance).
    pub(crate) http: Client,
    /// The figures of the phase running now.
    pub(crate) stats: Mutex<PhaseStats>,
    /// Round robin over the instances in rotation.
    next: AtomicUsize,
}

/// What one phase measured from the client side.
#[derive(Debug)]
pub(crate) struct PhaseStats {
    /// Requests sent to the fleet.
    pub(crate) requests: u64,
    /// Answers with another status than the one asked for (5xx included).
    pub(crate) unexpected: u64,
    /// Of those, 5xx.
    pub(crate) server_errors: u64,
    /// Requests that got no answer (connection refused or reset, timeout).
    pub(crate) socket_errors: u64,
    /// Answers compared with the reference.
    pub(crate) checked: u64,
    /// Compared answers that differed, or instances that never served a new value.
    pub(crate) wrong: u64,
    /// Checks skipped because the reference stayed overloaded or unreachable for 5 s.
    pub(crate) reference_unavailable: u64,
    /// Latency of answered requests, in microseconds.
    pub(crate) latency: Histogram<u64>,
    /// Delay from an invalidation's answer until a request sent to an instance gets the
    /// new value, in microseconds (one sample per invalidation and instance; the
    /// instances are polled every 2 ms, and the delay is to the start of the first
    /// request that got it, so a slow answer does not count as staleness).
    pub(crate) staleness: Histogram<u64>,
    /// Instances that did not serve the new value within the convergence limit.
    pub(crate) not_converged: u64,
    /// When the Redis probe saw a value computed by another instance (an L2 hit).
    pub l2_probe_hits: Vec<Instant>,
    /// The first few failures, for the report.
    pub(crate) examples: Vec<String>,
}

impl PhaseStats {
    /// Empty figures.
    pub(crate) fn new() -> Self {
        let hist = || Histogram::new_with_bounds(1, 120_000_000, 3).expect("valid bounds");
        Self {
            requests: 0,
            unexpected: 0,
            server_errors: 0,
            socket_errors: 0,
            checked: 0,
            wrong: 0,
            reference_unavailable: 0,
            latency: hist(),
            staleness: hist(),
            not_converged: 0,
            l2_probe_hits: Vec::new(),
            examples: Vec::new(),
        }
    }

    fn example(&mut self, what: String) {
        if self.examples.len() < 8 {
            self.examples.push(what);
        }
    }
}

/// An answer: status, `X-Cache`, parsed body (`Null` if not JSON).
#[derive(Debug)]
pub(crate) struct Reply {
    /// The status.
    pub(crate) status: StatusCode,
    /// The `X-Cache` header.
    pub(crate) x_cache: String,
    /// The body as JSON.
    pub(crate) json: Value,
}

/// Sends `call` to `base`.
pub(crate) async fn send(http: &Client, base: &str, call: &Call) -> Result<Reply, reqwest::Error> {
    let mut req = http.request(call.method.clone(), format!("{base}{}", call.path));
    if let Some(body) = &call.body {
        req = req.json(body);
    }
    if let Some(token) = &call.bearer {
        req = req.bearer_auth(token);
    }
    let resp = req.send().await?;
    let status = resp.status();
    let x_cache = resp
        .headers()
        .get("x-cache")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("-")
        .to_owned();
    let bytes = resp.bytes().await?;
    Ok(Reply {
        status,
        x_cache,
        json: serde_json::from_slice(&bytes).unwrap_or(Value::Null),
    })
}

impl Ctx {
    /// The shared context.
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn new(
        fleet: Vec<String>,
        reference: String,
        tokens: Vec<String>,
        admin_token: String,
        channels: i64,
        db: sqlx::SqlitePool,
        http: Client,
    ) -> Self {
        let n = fleet.len();
        Self {
            in_rotation: (0..n).map(|_| AtomicBool::new(true)).collect(),
            in_flight: (0..n).map(|_| AtomicUsize::new(0)).collect(),
            fleet,
            reference,
            tokens,
            admin_token,
            channels,
            db,
            mutate: RwLock::new(()),
            http,
            stats: Mutex::new(PhaseStats::new()),
            next: AtomicUsize::new(0),
        }
    }

    fn stats(&self) -> std::sync::MutexGuard<'_, PhaseStats> {
        // A panic while holding the lock only loses a figure; keep counting.
        self.stats.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Starts a new phase's figures and returns the previous phase's.
    pub(crate) fn take_stats(&self) -> PhaseStats {
        std::mem::replace(&mut *self.stats(), PhaseStats::new())
    }

    /// The next instance in rotation (round robin), if any.
    pub(crate) fn pick(&self) -> Option<usize> {
        let n = self.fleet.len();
        let start = self.next.fetch_add(1, Ordering::Relaxed);
        (0..n)
            .map(|k| (start + k) % n)
            .find(|&i| self.in_rotation[i].load(Ordering::Acquire))
    }

    /// Instances in rotation now.
    pub(crate) fn serving(&self) -> Vec<usize> {
        (0..self.fleet.len())
            .filter(|&i| self.in_rotation[i].load(Ordering::Acquire))
            .collect()
    }

    /// Sends `call` to instance `i`, counting it; `None` on a socket error.
    async fn fleet_call(&self, i: usize, route: &str, call: &Call) -> Option<Reply> {
        self.in_flight[i].fetch_add(1, Ordering::AcqRel);
        let started = Instant::now();
        let result = send(&self.http, &self.fleet[i], call).await;
        let took = started.elapsed();
        self.in_flight[i].fetch_sub(1, Ordering::AcqRel);
        let mut stats = self.stats();
        stats.requests += 1;
        match result {
            Ok(reply) => {
                let _ = stats.latency.record(took.as_micros().max(1) as u64);
                Some(reply)
            }
            Err(e) => {
                stats.socket_errors += 1;
                stats.example(format!(
                    "socket error: api-{} {route} {}: {e}",
                    i + 1,
                    call.path
                ));
                None
            }
        }
    }

    /// One request of `route` to the next instance, checked against the expected status
    /// and, when compared, the reference's answer.
    async fn one(&self, route: &Route, call: Call, compare: bool) {
        let Some(i) = self.pick() else {
            tokio::time::sleep(Duration::from_millis(10)).await;
            return;
        };
        let _guard = if compare {
            Some(self.mutate.read().await)
        } else {
            None
        };
        let Some(reply) = self.fleet_call(i, route.name, &call).await else {
            return;
        };
        if reply.status != route.expect {
            let mut stats = self.stats();
            stats.unexpected += 1;
            if reply.status.is_server_error() {
                stats.server_errors += 1;
            }
            stats.example(format!(
                "api-{} {} {}: {} (expected {}): {}",
                i + 1,
                route.name,
                call.path,
                reply.status,
                route.expect,
                reply.json
            ));
            return;
        }
        if !compare {
            return;
        }
        let Some(reference) = self.reference(&call).await else {
            self.stats().reference_unavailable += 1;
            return;
        };
        let mut stats = self.stats();
        stats.checked += 1;
        if reference.status != reply.status || reference.json != reply.json {
            stats.wrong += 1;
            stats.example(format!(
                "WRONG api-{} {} {} (X-Cache {}): {} vs reference {}: {}",
                i + 1,
                route.name,
                call.path,
                reply.x_cache,
                reply.status,
                reference.status,
                first_difference(&reply.json, &reference.json, "")
            ));
        }
    }

    /// The reference's answer to `call`. The reference computes every answer, so its
    /// bulkheads answer `503 overloaded` when the checker asks a lot at once: that is the
    /// oracle being busy, not an answer, so it is asked again (for up to 5 s).
    async fn reference(&self, call: &Call) -> Option<Reply> {
        let until = Instant::now() + Duration::from_secs(5);
        loop {
            if let Ok(r) = send(&self.http, &self.reference, call).await
                && !r.status.is_server_error()
            {
                return Some(r);
            }
            if Instant::now() >= until {
                return None;
            }
            tokio::time::sleep(Duration::from_millis(20 + fastrand::u64(..30))).await;
        }
    }

    /// Runs `workers` load tasks until `stop` is set. One answer in `check_every` is
    /// compared with the reference.
    pub(crate) async fn load(
        self: &Arc<Self>,
        workers: usize,
        check_every: u32,
        full: bool,
        stop: Arc<AtomicBool>,
    ) {
        let mix: Arc<[&'static Route]> = MIX.iter().filter(|r| full || !r.long_only).collect();
        let total: u32 = mix.iter().map(|r| r.weight).sum();
        let mut tasks = Vec::new();
        for w in 0..workers {
            let ctx = Arc::clone(self);
            let stop = Arc::clone(&stop);
            let mix = Arc::clone(&mix);
            tasks.push(tokio::spawn(async move {
                let mut rng = fastrand::Rng::with_seed(w as u64 + 1);
                while !stop.load(Ordering::Acquire) {
                    let mut pick = rng.u32(..total);
                    let route = mix
                        .iter()
                        .copied()
                        .find(|r| {
                            if pick < r.weight {
                                true
                            } else {
                                pick -= r.weight;
                                false
                            }
                        })
                        .unwrap_or(mix[0]);
                    let call = (route.build)(&mut rng, &ctx);
                    let compare = route.compare && rng.u32(..check_every) == 0;
                    ctx.one(route, call, compare).await;
                }
            }));
        }
        for t in tasks {
            let _ = t.await;
        }
    }

    /// Every `every` until `stop`: adds a subscriber to a random channel in the database
    /// and invalidates the channel's tags through the admin API of one instance, or (every
    /// third time) retitles it through `PATCH /channels/{id}`, and measures how long each
    /// instance in rotation takes to serve the change.
    pub(crate) async fn invalidations(self: &Arc<Self>, every: Duration, stop: Arc<AtomicBool>) {
        let mut rng = fastrand::Rng::with_seed(7);
        let mut n = 0usize;
        while !stop.load(Ordering::Acquire) {
            tokio::time::sleep(every).await;
            n += 1;
            let channel = rng.i64(1..=self.channels);
            // Every third change is a write through the API (`PATCH /channels/{id}`, whose
            // service invalidates what it changes); the others change the database behind
            // the fleet's back and invalidate through the admin API.
            let done = if n.is_multiple_of(3) {
                self.rename_through_api(channel, n).await
            } else {
                self.change_and_invalidate(channel, n).await
            };
            if let Err(e) = done {
                self.stats().example(format!("invalidation: {e}"));
            }
        }
    }

    async fn change_and_invalidate(&self, channel: i64, n: usize) -> Result<(), String> {
        let _write = self.mutate.write().await;
        let serving = self.serving();
        let Some(&via) = serving.get(n % serving.len().max(1)) else {
            return Ok(());
        };
        let subscribers: i64 = sqlx::query_scalar(
            "UPDATE channels SET subscribers = subscribers + 1 WHERE id = $1 RETURNING subscribers",
        )
        .bind(channel)
        .fetch_one(&self.db)
        .await
        .map_err(|e| format!("UPDATE channel {channel}: {e}"))?;
        let (owner, token) = self.owner_of(channel).await?;
        for tag in [format!("channel:{channel}"), format!("user:{owner}")] {
            let call = Call {
                bearer: Some(self.admin_token.clone()),
                ..Call::post("/admin/cache/invalidate", json!({ "tag": tag }))
            };
            self.expect_ok(via, "admin invalidate", &call).await?;
        }
        let invalidated = Instant::now();
        let shows =
            move |channel_json: &Value| channel_json["subscribers"].as_i64() == Some(subscribers);
        self.converge(
            &serving,
            channel,
            token,
            invalidated,
            &format!("{subscribers} subscribers"),
            shows,
        )
        .await;
        Ok(())
    }

    /// The id and bearer token of `channel`'s owner.
    async fn owner_of(&self, channel: i64) -> Result<(i64, String), String> {
        sqlx::query_as(
            "SELECT u.id, u.token FROM channels c JOIN users u ON u.id = c.owner_id WHERE c.id = $1",
        )
        .bind(channel)
        .fetch_one(&self.db)
        .await
        .map_err(|e| format!("owner of channel {channel}: {e}"))
    }

    /// Sends a change to instance `via`; anything but `200 OK` is counted as a status not
    /// asked for (a 5xx also as a server error) and returned as the error.
    async fn expect_ok(&self, via: usize, route: &str, call: &Call) -> Result<(), String> {
        let reply = self.fleet_call(via, route, call).await;
        if reply.as_ref().is_some_and(|r| r.status == StatusCode::OK) {
            return Ok(());
        }
        let mut stats = self.stats();
        stats.unexpected += 1;
        if reply.as_ref().is_some_and(|r| r.status.is_server_error()) {
            stats.server_errors += 1;
        }
        Err(format!(
            "{route} {} on api-{}: {reply:?}",
            call.path,
            via + 1
        ))
    }

    /// A new title for `channel` through `PATCH /channels/{id}` on one instance in
    /// rotation, with its owner's token, then the time until each instance serves it.
    async fn rename_through_api(&self, channel: i64, n: usize) -> Result<(), String> {
        let _write = self.mutate.write().await;
        let serving = self.serving();
        let Some(&via) = serving.get(n % serving.len().max(1)) else {
            return Ok(());
        };
        let (_, token) = self.owner_of(channel).await?;
        let title = format!("Chaos title {n}");
        let call = Call {
            method: Method::PATCH,
            bearer: Some(token.clone()),
            ..Call::post(&format!("/channels/{channel}"), json!({ "title": title }))
        };
        self.expect_ok(via, "rename", &call).await?;
        let written = Instant::now();
        let wanted = title.clone();
        let shows =
            move |channel_json: &Value| channel_json["title"].as_str() == Some(wanted.as_str());
        self.converge(
            &serving,
            channel,
            token,
            written,
            &format!("title {title:?}"),
            shows,
        )
        .await;
        Ok(())
    }

    /// Polls every instance in `serving` for both cached answers that show `channel` (its
    /// summary, tag `channel:N`, and its owner's channel list, tag `user:OWNER`) until
    /// `shows` accepts the channel in it, and records the delays since `invalidated` as
    /// staleness (a stale answer after [`CONVERGE_LIMIT`] as a wrong one).
    async fn converge(
        &self,
        serving: &[usize],
        channel: i64,
        token: String,
        invalidated: Instant,
        what: &str,
        shows: impl Fn(&Value) -> bool,
    ) {
        let summary = Call::get(format!("/analytics/channels/{channel}/metrics"));
        let list = Call {
            bearer: Some(token),
            ..Call::get("/channels".into())
        };
        let shows = move |path: &str, body: &Value| -> bool {
            if path == "/channels" {
                body["channels"].as_array().is_some_and(|cs| {
                    cs.iter()
                        .any(|c| c["id"].as_i64() == Some(channel) && shows(c))
                })
            } else {
                shows(&body["channel"])
            }
        };
        let shows = &shows;
        let polls = serving
            .iter()
            .flat_map(|&i| [(i, &summary), (i, &list)])
            .map(|(i, call)| async move {
                let until = invalidated + CONVERGE_LIMIT;
                loop {
                    let sent = invalidated.elapsed();
                    let r = send(&self.http, &self.fleet[i], call).await;
                    if let Ok(r) = &r
                        && shows(&call.path, &r.json)
                    {
                        return (i, &call.path, Some(sent));
                    }
                    if Instant::now() >= until {
                        return (i, &call.path, None);
                    }
                    tokio::time::sleep(Duration::from_millis(2)).await;
                }
            });
        let results = futures_util::future::join_all(polls).await;
        let mut stats = self.stats();
        for (i, path, took) in results {
            match took {
                Some(d) => {
                    let _ = stats.staleness.record(d.as_micros().max(1) as u64);
                    if d > crate::report::STALE_MAX {
                        stats.example(format!(
                            "SLOW api-{} {path}: channel {channel} served with {what} only {d:?} after the change",
                            i + 1
                        ));
                    }
                }
                None => {
                    stats.not_converged += 1;
                    stats.wrong += 1;
                    stats.example(format!(
                        "STALE api-{} {path}: channel {channel} still not with {what} {CONVERGE_LIMIT:?} after the change",
                        i + 1
                    ));
                }
            }
        }
    }

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

/// How long the staleness check waits for an instance before it counts a stale answer.
pub(crate) const CONVERGE_LIMIT: Duration = Duration::from_secs(5);

/// Where `a` and `b` first differ, as a JSON pointer with both values.
fn first_difference(a: &Value, b: &Value, at: &str) -> String {
    match (a, b) {
        (Value::Object(x), Value::Object(y)) => {
            for (k, v) in x {
                match y.get(k) {
                    Some(w) if v == w => {}
                    Some(w) => return first_difference(v, w, &format!("{at}/{k}")),
                    None => return format!("{at}/{k}: only in the instance's answer"),
                }
            }
            match y.keys().find(|k| !x.contains_key(*k)) {
                Some(k) => format!("{at}/{k}: only in the reference's answer"),
                None => format!("{at}: equal"),
            }
        }
        (Value::Array(x), Value::Array(y)) if x.len() == y.len() => x
            .iter()
            .zip(y)
            .enumerate()
            .find(|(_, (v, w))| v != w)
            .map_or(format!("{at}: equal"), |(k, (v, w))| {
                first_difference(v, w, &format!("{at}/{k}"))
            }),
        _ => format!("{at}: {} vs {}", clip(a), clip(b)),
    }
}

/// A JSON value cut to 160 characters for the report.
fn clip(v: &Value) -> String {
    let s = v.to_string();
    match s.char_indices().nth(160) {
        Some((at, _)) => format!("{}...", &s[..at]),
        None => s,
    }
}

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
