//! The service through a real listening server: every endpoint's status and JSON shape,
//! caching (through `/performance` statistics and `X-Cache`), user isolation, middleware
//! and error handling.

mod common;

use std::io::Read as _;

use common::{
    ADMIN, CACHE_LOCK, ORIGIN, Server, assert_error, cache_stats, client, counter, get, send,
};
use serde_json::{Value, json};

/// Rate limiting is off here (these tests send far more than a client may); it is
/// tested in `admission.rs`.
fn server() -> &'static Server {
    common::server_with(&["--rate-limit", "0"])
}

/// Calls `path` twice and checks that the second call is a hit, through the cache's
/// counters (exact deltas: the caller holds `CACHE_LOCK`) and `X-Cache`, and that both
/// answers are identical. Returns the answer.
async fn miss_then_hit(path: &str, cache: &str) -> Value {
    let s = server();
    let before = cache_stats(s, cache).await;
    let first = get(s, path).await;
    assert_eq!(first.status, 200, "{path}: {}", first.json);
    assert_eq!(first.x_cache.as_deref(), Some("MISS"), "{path}");
    let middle = cache_stats(s, cache).await;
    let second = get(s, path).await;
    assert_eq!(second.status, 200);
    assert_eq!(second.x_cache.as_deref(), Some("HIT"), "{path}");
    let after = cache_stats(s, cache).await;

    assert_eq!(
        counter(&middle, "misses") - counter(&before, "misses"),
        1,
        "{path}"
    );
    assert_eq!(counter(&middle, "hits"), counter(&before, "hits"), "{path}");
    assert_eq!(
        counter(&after, "hits") - counter(&middle, "hits"),
        1,
        "{path}"
    );
    assert_eq!(
        counter(&after, "misses"),
        counter(&middle, "misses"),
        "{path}"
    );
    assert_eq!(
        first.json, second.json,
        "cached and computed answers differ for {path}"
    );
    second.json
}

async fn admin_post(path: &str, body: Option<Value>, token: Option<&str>) -> common::Reply {
    let mut req = client().post(server().url(path));
    if let Some(t) = token {
        req = req.bearer_auth(t);
    }
    if let Some(b) = body {
        req = req.json(&b);
    }
    send(req).await
}

#[tokio::test]
async fn health_is_live_without_redis() {
    let r = get(server(), "/health").await;
    assert_eq!(r.status, 200);
    assert_eq!(r.json["status"], "ok");
    assert_eq!(r.json["redis"], "not configured");
    assert_eq!(r.json["cache"], "in-process");
    assert!(r.json.get("redis_circuit").is_none(), "{}", r.json);
    let backend = if std::env::var("EXAMPLE_API_TEST_DATABASE_URL")
        .is_ok_and(|u| u.starts_with("postgres"))
    {
        "postgres"
    } else {
        "sqlite"
    };
    assert_eq!(r.json["database"], backend);
    assert!(r.x_cache.is_none(), "health touches no cache");
}

#[tokio::test]
async fn post_dynamics_has_hourly_points_and_caches() {
    let _guard = CACHE_LOCK.lock().await;
    let body = miss_then_hit(
        "/analytics/demo/post-dynamics?hours=6",
        "demo_post_dynamics",
    )
    .await;
    assert_eq!(body["hours"], 6);
    let points = body["points"].as_array().expect("points");
    assert_eq!(points.len(), 6, "{body}");
    let total: i64 = points
        .iter()
        .map(|p| p["views"].as_i64().expect("views"))
        .sum();
    assert_eq!(body["total_views"], total);
    assert!(total > 0);
    assert!(
        points[0]["time"]
            .as_str()
            .is_some_and(|t| t.ends_with(":00:00Z"))
    );
    assert!(body["peak"]["views"].is_i64());
    for key in ["from", "to", "total_reactions", "trend_pct"] {
        assert!(body.get(key).is_some(), "{key} in {body}");
    }
}

#[tokio::test]
async fn post_dynamics_rejects_bad_hours() {
    for q in ["hours=0", "hours=100000", "hours=abc", "hours=-1"] {
        let r = get(server(), &format!("/analytics/demo/post-dynamics?{q}")).await;
        assert_error(&r, 400, "bad_request");
    }
}

#[tokio::test]
async fn top_posts_are_ranked_and_cached() {
    let _guard = CACHE_LOCK.lock().await;
    let body = miss_then_hit(
        "/analytics/demo/top-posts?period=3d&limit=4",
        "demo_top_posts",
    )
    .await;
    assert_eq!(body["period"], "3d");
    let posts = body["posts"].as_array().expect("posts");
    assert_eq!(posts.len(), 4);
    let views: Vec<i64> = posts
        .iter()
        .map(|p| p["views"].as_i64().expect("views"))
        .collect();
    assert!(
        views.windows(2).all(|w| w[0] >= w[1]),
        "sorted by views: {views:?}"
    );
    for (i, p) in posts.iter().enumerate() {
        assert_eq!(p["rank"], i + 1);
        for key in [
            "id",
            "channel_id",
            "channel_title",
            "published_at",
            "kind",
            "text",
            "engagement_rate_pct",
        ] {
            assert!(p.get(key).is_some(), "{key} in {p}");
        }
    }
}

#[tokio::test]
async fn top_posts_rejects_bad_parameters() {
    for q in [
        "period=soon",
        "period=0h",
        "period=100d",
        "limit=0",
        "limit=101",
        "limit=x",
    ] {
        let r = get(server(), &format!("/analytics/demo/top-posts?{q}")).await;
        assert_error(&r, 400, "bad_request");
    }
}

#[tokio::test]
async fn critical_caches_are_warm_before_the_first_request() {
    let _guard = CACHE_LOCK.lock().await;
    // Nothing in these tests invalidates these two defaults, so their first request is
    // answered from what start-up warming stored.
    let best = get(server(), "/analytics/demo/best-times").await;
    assert_eq!(best.status, 200);
    assert_eq!(best.x_cache.as_deref(), Some("HIT"));
    let top = get(server(), "/analytics/demo/top-posts").await;
    assert_eq!(top.x_cache.as_deref(), Some("HIT"));
    assert_eq!(top.json["period"], "7d");
    assert!(
        top.json["posts"]
            .as_array()
            .is_some_and(|p| !p.is_empty() && p.len() <= 10)
    );

    let b = &best.json;
    assert_eq!(b["timezone"], "UTC");
    assert_eq!(b["by_hour"].as_array().map(Vec::len), Some(24));
    assert_eq!(b["by_weekday"].as_array().map(Vec::len), Some(7));
    assert!(
        b["best_hours"]
            .as_array()
            .is_some_and(|h| !h.is_empty() && h.len() <= 3)
    );
    assert!(
        b["best_weekdays"]
            .as_array()
            .is_some_and(|h| !h.is_empty() && h.len() <= 3)
    );
    assert_eq!(b["posts_analyzed"], 6 * 8);
}

#[tokio::test]
async fn channel_metrics_are_cached_and_invalidated_by_tag() {
    let _guard = CACHE_LOCK.lock().await;
    let body = miss_then_hit("/analytics/channels/2/metrics", "analytics_summary").await;
    assert_eq!(body["channel"]["id"], 2);
    assert_eq!(body["channel"]["posts"], 8);
    for key in [
        "total_views",
        "total_reactions",
        "avg_views_per_post",
        "engagement_rate_pct",
        "views_last_24h",
        "top_post",
        "as_of",
    ] {
        assert!(body.get(key).is_some(), "{key} in {body}");
    }

    // Another channel's tag leaves it cached; its own tag drops it.
    let r = admin_post(
        "/admin/cache/invalidate",
        Some(json!({ "tag": "channel:3" })),
        Some(ADMIN),
    )
    .await;
    assert_eq!(r.status, 200);
    let still = get(server(), "/analytics/channels/2/metrics").await;
    assert_eq!(still.x_cache.as_deref(), Some("HIT"));
    let r = admin_post(
        "/admin/cache/invalidate",
        Some(json!({ "tag": "channel:2" })),
        Some(ADMIN),
    )
    .await;
    assert_eq!(r.status, 200);
    assert_eq!(r.json["invalidated"]["tag"], "channel:2");
    let again = get(server(), "/analytics/channels/2/metrics").await;
    assert_eq!(again.x_cache.as_deref(), Some("MISS"));
    assert_eq!(again.json, body, "recomputed answer equals the cached one");
}

#[tokio::test]
async fn unknown_channel_is_a_404_that_is_not_cached() {
    let _guard = CACHE_LOCK.lock().await;
    let before = cache_stats(server(), "analytics_summary").await;
    for _ in 0..2 {
        let r = get(server(), "/analytics/channels/999999/metrics").await;
        assert_error(&r, 404, "not_found");
        assert_eq!(
            r.x_cache.as_deref(),
            Some("MISS"),
            "errors are never cached"
        );
    }
    let after = cache_stats(server(), "analytics_summary").await;
    assert_eq!(
        counter(&after, "errors_not_cached") - counter(&before, "errors_not_cached"),
        2
    );
    assert_eq!(counter(&after, "hits"), counter(&before, "hits"));

    let r = get(server(), "/analytics/channels/abc/metrics").await;
    assert_error(&r, 400, "bad_request");
}

#[tokio::test]
async fn channels_need_a_valid_token() {
    let s = server();
    let none = get(s, "/channels").await;
    assert_error(&none, 401, "unauthorized");
    assert_eq!(
        none.headers.get("www-authenticate").map(|v| v.as_bytes()),
        Some(&b"Bearer"[..])
    );
    for auth in ["Bearer nope", "Bearer ", "Basic YWxpY2U6eA==", "garbage"] {
        let r = send(
            client()
                .get(s.url("/channels"))
                .header("authorization", auth),
        )
        .await;
        assert_error(&r, 401, "unauthorized");
    }
    let alice = s.token("alice");
    let wrong_scheme = send(
        client()
            .get(s.url("/channels"))
            .header("authorization", format!("Token {alice}")),
    )
    .await;
    assert_error(&wrong_scheme, 401, "unauthorized");
}

#[tokio::test]
async fn each_user_only_ever_sees_their_own_channels() {
    let _guard = CACHE_LOCK.lock().await;
    let s = server();
    let mut seen = Vec::new();
    // Twice round: the second answers come from the cache and must still be per user.
    for round in 0..2 {
        for (user, id) in [("alice", 1), ("bob", 2), ("carol", 3), ("dave", 4)] {
            let r = send(client().get(s.url("/channels")).bearer_auth(s.token(user))).await;
            assert_eq!(r.status, 200, "{}", r.json);
            assert_eq!(
                r.x_cache.as_deref(),
                Some(if round == 0 { "MISS" } else { "HIT" }),
                "{user}"
            );
            assert_eq!(r.json["user"], user);
            assert_eq!(r.json["user_id"], id);
            let channels = r.json["channels"].as_array().expect("channels");
            assert!(
                channels.iter().all(|c| c["owner_id"] == id),
                "{user}: {channels:?}"
            );
            if user == "dave" {
                assert!(channels.is_empty());
            } else {
                assert_eq!(channels.len(), 2, "6 channels over 3 owners");
            }
            if round == 0 {
                seen.push(r.json);
            } else {
                assert_eq!(seen[id as usize - 1], r.json);
            }
        }
    }
}

#[tokio::test]
async fn ai_analysis_is_deterministic_and_cached() {
    let _guard = CACHE_LOCK.lock().await;
    let text = "Big news today: our new release is faster and simpler! 🚀 Tell us what you think? #rust #opensource";
    let s = server();
    let before = cache_stats(s, "ai_content_analysis").await;
    let first = send(
        client()
            .post(s.url("/ai/analyze"))
            .json(&json!({ "text": text })),
    )
    .await;
    let second = send(
        client()
            .post(s.url("/ai/analyze"))
            .json(&json!({ "text": text })),
    )
    .await;
    let after = cache_stats(s, "ai_content_analysis").await;
    assert_eq!(first.status, 200, "{}", first.json);
    assert_eq!(
        (first.x_cache.as_deref(), second.x_cache.as_deref()),
        (Some("MISS"), Some("HIT"))
    );
    assert_eq!(counter(&after, "hits") - counter(&before, "hits"), 1);
    assert_eq!(first.json, second.json);

    let a = &first.json;
    assert_eq!(a["hashtags"], json!(["#rust", "#opensource"]));
    assert_eq!(a["emoji"]["count"], 1);
    assert_eq!(a["sentiment"]["label"], "positive");
    assert_eq!(a["stats"]["sentences"], 2);
    assert!(a["readability"]["flesch_reading_ease"].is_f64());
    assert!(a["length"]["category"].is_string());
    assert!(a["advice"].is_array());
    assert!(a["score"].as_u64().is_some_and(|s| s <= 100));
}

#[tokio::test]
async fn ai_analysis_rejects_bad_input() {
    let s = server();
    let post = |body: reqwest::Body, content_type: &'static str| {
        send(
            client()
                .post(s.url("/ai/analyze"))
                .header("content-type", content_type)
                .body(body),
        )
    };
    assert_error(
        &post(r#"{"text": ""}"#.into(), "application/json").await,
        400,
        "bad_request",
    );
    assert_error(
        &post(r#"{"text": "  \n "}"#.into(), "application/json").await,
        400,
        "bad_request",
    );
    assert_error(
        &post(r#"{"text": "#.into(), "application/json").await,
        400,
        "bad_request",
    );
    assert_error(
        &post(r#"{"body": "x"}"#.into(), "application/json").await,
        422,
        "unprocessable_entity",
    );
    assert_error(
        &post(r#"{"text": 5}"#.into(), "application/json").await,
        422,
        "unprocessable_entity",
    );
    assert_error(
        &post("text".into(), "text/plain").await,
        415,
        "unsupported_media_type",
    );
    let big = json!({ "text": "a".repeat(64 * 1024 + 1) }).to_string();
    assert_error(
        &post(big.into(), "application/json").await,
        413,
        "payload_too_large",
    );
    // Exactly at the limit is fine.
    let max = json!({ "text": "word ".repeat(64 * 1024 / 5) }).to_string();
    assert_eq!(post(max.into(), "application/json").await.status, 200);
}

#[tokio::test]
async fn ai_optimize_builds_on_the_analysis() {
    let _guard = CACHE_LOCK.lock().await;
    let s = server();
    let r = send(
        client()
            .post(s.url("/ai/optimize"))
            .json(&json!({ "text": "Rust code is   simply good", "goal": "reach" })),
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.json);
    let o = &r.json;
    assert_eq!(o["goal"], "reach");
    assert!(o["suggestions"].as_array().is_some_and(|l| !l.is_empty()));
    assert!(
        o["suggested_hashtags"]
            .as_array()
            .is_some_and(|l| l.contains(&json!("#rust")))
    );
    assert!(
        o["optimized_text"]
            .as_str()
            .is_some_and(|t| t.starts_with("Rust code is simply good"))
    );
    assert!(
        o["score_after"].as_u64() > o["score_before"].as_u64(),
        "{o}"
    );
    assert!(
        o["best_posting_times"]
            .as_array()
            .is_some_and(|l| !l.is_empty())
    );
    assert!(o["analysis"]["readability"].is_object());

    let bad_goal = send(
        client()
            .post(s.url("/ai/optimize"))
            .json(&json!({ "text": "x", "goal": "fame" })),
    )
    .await;
    assert_error(&bad_goal, 422, "unprocessable_entity");
    let empty = send(
        client()
            .post(s.url("/ai/optimize"))
            .json(&json!({ "text": "" })),
    )
    .await;
    assert_error(&empty, 400, "bad_request");
}

#[tokio::test]
async fn performance_reports_caches_timers_and_pool() {
    let _guard = CACHE_LOCK.lock().await;
    let s = server();
    // Make sure some timers and caches have figures.
    assert_eq!(get(s, "/analytics/demo/best-times").await.status, 200);
    assert_eq!(get(s, "/analytics/channels/1/metrics").await.status, 200);
    let r = get(s, "/performance").await;
    assert_eq!(r.status, 200);
    let p = &r.json;
    assert_eq!(p["api_performance"]["status"], "healthy");
    assert_eq!(p["api_performance"]["cache_enabled"], true);
    assert_eq!(p["api_performance"]["compression_enabled"], true);
    let security = p["api_performance"]["security_middleware"]
        .as_array()
        .expect("list");
    for m in [
        "trusted_hosts",
        "cors",
        "request_timeout",
        "connection_limit",
        "in_flight_limit",
    ] {
        assert!(security.contains(&json!(m)), "{m}");
    }
    assert!(
        !security.contains(&json!("rate_limit")),
        "off in this server: {security:?}"
    );
    assert_eq!(p["system_stats"]["cache_connected"], true);
    // Without --redis-url: one tier, and no Redis figures anywhere.
    assert_eq!(p["system_stats"]["redis"], "not configured");
    assert_eq!(p["system_stats"]["cache_tiers"], json!(["in_process"]));
    assert!(p["system_stats"].get("l2").is_none());
    assert!(
        p["system_stats"]["pool_size"]
            .as_u64()
            .is_some_and(|n| (1..=4).contains(&n))
    );
    let avg_ms = p["system_stats"]["avg_query_time_ms"]
        .as_f64()
        .expect("avg_query_time_ms");
    assert!(avg_ms > 0.0);
    // The design's field, in seconds, beside it.
    let avg_s = p["system_stats"]["avg_query_time"]
        .as_f64()
        .expect("avg_query_time");
    assert!(
        (avg_s * 1000.0 - avg_ms).abs() < 0.002,
        "{avg_s} s vs {avg_ms} ms"
    );
    let features = p["optimization_features"].as_array().expect("features");
    assert!(features.contains(&json!("in_process_cache")));
    assert!(features.contains(&json!("cache_warming")));
    assert!(
        !features
            .iter()
            .any(|f| f.as_str().is_some_and(|f| f.starts_with("redis"))),
        "{features:?}"
    );

    let caches = p["caches"].as_array().expect("caches");
    let best = caches
        .iter()
        .find(|c| c["name"] == "demo_best_times")
        .expect("demo_best_times");
    assert!(best["hits"].as_u64() > Some(0));
    assert!(best.get("l2").is_none(), "no Redis figures without Redis");
    assert!(
        best["hit_ratio"]
            .as_f64()
            .is_some_and(|r| r > 0.0 && r <= 1.0)
    );

    let timers = p["timers"].as_array().expect("timers");
    let metrics = timers
        .iter()
        .find(|t| t["name"] == "analytics_metrics_retrieval")
        .expect("analytics_metrics_retrieval timer");
    for q in ["p50_ms", "p95_ms", "p99_ms", "mean_ms"] {
        assert!(metrics[q].is_f64(), "{q}");
    }
    assert_eq!(metrics["slow_ms"], 250.0);
    assert!(timers.iter().any(|t| t["name"] == "db.publication_slots"));
    // Bottlenecks: ranked by share of their group's time, each with a sentence to act on;
    // the best-times query runs under the endpoint whose cache is in front of it.
    let bottlenecks = p["bottlenecks"].as_array().expect("bottlenecks");
    assert!(!bottlenecks.is_empty() && bottlenecks.len() <= 10);
    for b in bottlenecks {
        let share = b["share"].as_f64().expect("share");
        assert!((0.0..=1.0).contains(&share), "{b}");
        let name = b["name"].as_str().expect("name");
        assert!(
            b["advice"].as_str().is_some_and(|a| a.contains(name)),
            "{b}"
        );
    }
    let slots = timers
        .iter()
        .find(|t| t["name"] == "db.publication_slots")
        .expect("db.publication_slots");
    if let Some(b) = bottlenecks
        .iter()
        .find(|b| b["name"] == "db.publication_slots")
    {
        assert_eq!(b["group"], "db");
        assert_eq!(b["cache"]["name"], "demo_best_times", "{b}");
        assert!(slots["count"].as_u64() >= b["calls"].as_u64());
    }
    // Trends: one per timer and per cache, each classified.
    let trends = &p["trends"];
    let timer_trends = trends["timers"].as_array().expect("timer trends");
    assert_eq!(timer_trends.len(), timers.len());
    for t in timer_trends {
        assert!(
            ["regressed", "improved", "steady"].contains(&t["direction"].as_str().unwrap_or("")),
            "{t}"
        );
    }
    assert!(
        trends["caches"]
            .as_array()
            .is_some_and(|c| c.iter().any(|c| c["name"] == "demo_best_times"))
    );
}

#[tokio::test]
async fn metrics_are_prometheus_text() {
    let s = server();
    assert_eq!(get(s, "/analytics/demo/best-times").await.status, 200);
    let resp = client().get(s.url("/metrics")).send().await.expect("sent");
    assert_eq!(resp.status(), 200);
    assert!(
        resp.headers()["content-type"]
            .to_str()
            .is_ok_and(|t| t.starts_with("text/plain"))
    );
    let text = resp.text().await.expect("text");
    for needle in [
        "# TYPE cache_hits_total counter",
        "cache_hits_total{namespace=\"example-api\",cache=\"demo_best_times\"}",
        "function_duration_seconds",
        "db_pool_connections ",
    ] {
        assert!(text.contains(needle), "{needle}");
    }
}

#[tokio::test]
async fn admin_endpoints_need_the_admin_token() {
    let body = Some(json!({ "cache": "demo_post_dynamics" }));
    assert_error(
        &admin_post("/admin/cache/invalidate", body.clone(), None).await,
        401,
        "unauthorized",
    );
    assert_error(
        &admin_post("/admin/cache/invalidate", body.clone(), Some("wrong")).await,
        401,
        "unauthorized",
    );
    let alice = server().token("alice").to_owned();
    assert_error(
        &admin_post("/admin/cache/invalidate", body, Some(&alice)).await,
        401,
        "unauthorized",
    );
    assert_error(
        &admin_post("/admin/cache/warm", None, None).await,
        401,
        "unauthorized",
    );
    assert_error(
        &admin_post("/admin/cache/warm", None, Some("wrong")).await,
        401,
        "unauthorized",
    );
}

#[tokio::test]
async fn admin_invalidates_a_cache_by_name() {
    let _guard = CACHE_LOCK.lock().await;
    miss_then_hit(
        "/analytics/demo/post-dynamics?hours=9",
        "demo_post_dynamics",
    )
    .await;
    let r = admin_post(
        "/admin/cache/invalidate",
        Some(json!({ "cache": "demo_post_dynamics" })),
        Some(ADMIN),
    )
    .await;
    assert_eq!(r.status, 200);
    assert_eq!(
        r.json,
        json!({ "invalidated": { "cache": "demo_post_dynamics" } })
    );
    let after = get(server(), "/analytics/demo/post-dynamics?hours=9").await;
    assert_eq!(after.x_cache.as_deref(), Some("MISS"));

    let unknown = admin_post(
        "/admin/cache/invalidate",
        Some(json!({ "cache": "nope" })),
        Some(ADMIN),
    )
    .await;
    assert_error(&unknown, 404, "not_found");
    let both = admin_post(
        "/admin/cache/invalidate",
        Some(json!({ "cache": "demo_top_posts", "tag": "x" })),
        Some(ADMIN),
    )
    .await;
    assert_error(&both, 422, "unprocessable_entity");
    let neither = admin_post("/admin/cache/invalidate", Some(json!({})), Some(ADMIN)).await;
    assert_error(&neither, 422, "unprocessable_entity");
}

#[tokio::test]
async fn admin_warms_caches() {
    let _guard = CACHE_LOCK.lock().await;
    let r = admin_post("/admin/cache/warm", None, Some(ADMIN)).await;
    assert_eq!(r.status, 200, "{}", r.json);
    let warmed: Vec<&str> = r.json["warmed"]
        .as_array()
        .expect("warmed")
        .iter()
        .filter_map(|w| w["cache"].as_str())
        .collect();
    assert_eq!(warmed, ["demo_best_times", "demo_top_posts"]);

    let r = admin_post(
        "/admin/cache/warm",
        Some(json!({ "caches": ["demo_post_dynamics"] })),
        Some(ADMIN),
    )
    .await;
    assert_eq!(r.status, 200);
    let hit = get(server(), "/analytics/demo/post-dynamics").await;
    assert_eq!(
        hit.x_cache.as_deref(),
        Some("HIT"),
        "warming fills the default entry"
    );

    let r = admin_post(
        "/admin/cache/warm",
        Some(json!({ "caches": ["user_channels"] })),
        Some(ADMIN),
    )
    .await;
    assert_error(&r, 400, "bad_request");
    let r = admin_post(
        "/admin/cache/warm",
        Some(json!({ "caches": "demo_top_posts" })),
        Some(ADMIN),
    )
    .await;
    assert_error(&r, 422, "unprocessable_entity");
}

#[tokio::test]
async fn large_bodies_are_gzipped_and_small_ones_are_not() {
    let s = server();
    let plain = client()
        .get(s.url("/analytics/demo/best-times"))
        .send()
        .await
        .expect("sent");
    assert!(plain.headers().get("content-encoding").is_none());
    let plain = plain.bytes().await.expect("body");
    assert!(
        plain.len() >= 1000,
        "best-times is a large body ({} bytes)",
        plain.len()
    );

    let gz = client()
        .get(s.url("/analytics/demo/best-times"))
        .header("accept-encoding", "gzip")
        .send()
        .await
        .expect("sent");
    assert_eq!(gz.headers()["content-encoding"], "gzip");
    let compressed = gz.bytes().await.expect("body");
    assert!(compressed.len() < plain.len());
    let mut decoded = Vec::new();
    flate2::read::GzDecoder::new(&compressed[..])
        .read_to_end(&mut decoded)
        .expect("valid gzip");
    assert_eq!(decoded, plain);

    let small = client()
        .get(s.url("/health"))
        .header("accept-encoding", "gzip")
        .send()
        .await
        .expect("sent");
    assert!(small.headers().get("content-encoding").is_none());
    assert!(small.bytes().await.expect("body").len() < 1000);
}

#[tokio::test]
async fn only_allowed_hosts_are_served() {
    let s = server();
    for host in [
        "evil.com",
        "localhost.evil.com",
        "example.test",
        "127.0.0.2:80",
    ] {
        let r = send(client().get(s.url("/health")).header("host", host)).await;
        assert_error(&r, 400, "bad_request");
    }
    for host in [
        "localhost",
        "LocalHost:1234",
        "api.example.test",
        "A.B.Example.Test:8443",
    ] {
        let r = send(client().get(s.url("/health")).header("host", host)).await;
        assert_eq!(r.status, 200, "{host}");
    }
}

#[tokio::test]
async fn cors_preflight_allows_only_configured_origins() {
    let s = server();
    let preflight = |origin: &'static str| {
        client()
            .request(reqwest::Method::OPTIONS, s.url("/channels"))
            .header("origin", origin)
            .header("access-control-request-method", "GET")
            .header("access-control-request-headers", "authorization")
            .send()
    };
    let ok = preflight(ORIGIN).await.expect("sent");
    assert_eq!(ok.status(), 200);
    assert_eq!(ok.headers()["access-control-allow-origin"], ORIGIN);
    let methods = ok.headers()["access-control-allow-methods"]
        .to_str()
        .expect("ascii");
    assert!(
        methods.contains("GET") && methods.contains("POST"),
        "{methods}"
    );
    let headers = ok.headers()["access-control-allow-headers"]
        .to_str()
        .expect("ascii");
    assert!(headers.contains("authorization"), "{headers}");

    let denied = preflight("https://evil.example.org").await.expect("sent");
    assert!(
        denied
            .headers()
            .get("access-control-allow-origin")
            .is_none()
    );

    let simple = client()
        .get(s.url("/health"))
        .header("origin", ORIGIN)
        .send()
        .await
        .expect("sent");
    assert_eq!(simple.headers()["access-control-allow-origin"], ORIGIN);
}

#[tokio::test]
async fn request_ids_are_set_and_propagated() {
    let s = server();
    let r = get(s, "/health").await;
    let id = r
        .headers
        .get("x-request-id")
        .expect("generated")
        .to_str()
        .expect("ascii");
    assert_eq!(id.len(), 36, "a UUID: {id}");
    let mine = send(
        client()
            .get(s.url("/health"))
            .header("x-request-id", "abc-123"),
    )
    .await;
    assert_eq!(mine.headers["x-request-id"], "abc-123");
}

#[tokio::test]
async fn unknown_routes_are_json_404s() {
    assert_error(&get(server(), "/nope").await, 404, "not_found");
}

#[tokio::test]
async fn wrong_methods_are_json_405s_with_allow() {
    let s = server();
    for (method, path, allowed) in [
        (reqwest::Method::PUT, "/health", "GET"),
        (reqwest::Method::DELETE, "/analytics/demo/best-times", "GET"),
        (reqwest::Method::GET, "/ai/analyze", "POST"),
        (reqwest::Method::PATCH, "/admin/cache/warm", "POST"),
    ] {
        let r = send(client().request(method.clone(), s.url(path))).await;
        assert_error(&r, 405, "method_not_allowed");
        let allow = r.headers["allow"].to_str().expect("ascii");
        assert!(allow.contains(allowed), "{method} {path}: Allow: {allow}");
        assert!(
            r.json["message"]
                .as_str()
                .is_some_and(|m| m.contains(method.as_str())),
            "{}",
            r.json
        );
        assert!(r.headers.contains_key("x-request-id"), "headers kept");
    }
}

#[tokio::test]
async fn a_body_over_the_global_limit_is_a_json_413() {
    // `/admin/cache/warm` reads its body with axum's default limit (2 MB).
    let big = vec![b' '; 3 << 20];
    let r = send(
        client()
            .post(server().url("/admin/cache/warm"))
            .bearer_auth(ADMIN)
            .body(big),
    )
    .await;
    assert_error(&r, 413, "payload_too_large");
}

#[tokio::test]
async fn a_long_target_is_a_json_414_and_large_headers_a_json_431() {
    let s = server();
    let long = format!(
        "/health?pad={}",
        "x".repeat(example_api::middleware::MAX_URI_BYTES)
    );
    assert_error(&get(s, &long).await, 414, "uri_too_long");
    let fine = format!("/health?pad={}", "x".repeat(1000));
    assert_eq!(get(s, &fine).await.status, 200);

    let mut many = client().get(s.url("/health"));
    for i in 0..=example_api::middleware::MAX_HEADER_COUNT {
        many = many.header(format!("x-pad-{i}"), "1");
    }
    assert_error(&send(many).await, 431, "header_fields_too_large");
    let huge = client().get(s.url("/health")).header(
        "x-pad",
        "y".repeat(example_api::middleware::MAX_HEADER_BYTES),
    );
    assert_error(&send(huge).await, 431, "header_fields_too_large");
}

#[tokio::test]
async fn host_checks_read_every_source_strictly() {
    use common::raw;
    let addr = raw::addr(&server().base);
    // (request, expected status)
    let cases: [(&str, u16); 12] = [
        (
            "GET http://evil.com/health HTTP/1.1\r\nHost: localhost\r\n\r\n",
            400,
        ),
        (
            "GET http://localhost/health HTTP/1.1\r\nHost: evil.com\r\n\r\n",
            400,
        ),
        (
            "GET http://localhost:1/health HTTP/1.1\r\nHost: localhost\r\n\r\n",
            200,
        ),
        (
            "GET /health HTTP/1.1\r\nHost: localhost\r\nHost: evil.com\r\n\r\n",
            400,
        ),
        (
            "GET /health HTTP/1.1\r\nHost: localhost\r\nHost: localhost\r\n\r\n",
            400,
        ),
        ("GET /health HTTP/1.1\r\nHost: localhost.\r\n\r\n", 200),
        ("GET /health HTTP/1.1\r\nHost: localhost..\r\n\r\n", 400),
        ("GET /health HTTP/1.1\r\nHost: localhost...:80\r\n\r\n", 400),
        ("GET /health HTTP/1.1\r\nHost: user@localhost\r\n\r\n", 400),
        (
            "GET /health HTTP/1.1\r\nHost: api.example.test.\r\n\r\n",
            200,
        ),
        ("GET /health HTTP/1.0\r\n\r\n", 400),
        ("GET /health HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n", 200),
    ];
    for (request, status) in cases {
        let r = raw::exchange(addr, request).await;
        if status == 200 {
            assert_eq!(r.status, 200, "{request:?}: {r:?}");
        } else {
            r.assert_error(status, "bad_request");
        }
    }
    let r = raw::exchange(addr, cases[0].0).await;
    let message = r.json()["message"].as_str().unwrap_or_default().to_owned();
    assert!(
        message.contains("evil.com") && message.contains("request target"),
        "{message}"
    );
    let r = raw::exchange(addr, cases[3].0).await;
    assert!(
        r.json()["message"]
            .as_str()
            .is_some_and(|m| m.contains("more than one Host"))
    );
}

#[tokio::test]
async fn windows_above_a_week_must_be_whole_days() {
    let _guard = CACHE_LOCK.lock().await;
    let s = server();
    let r = get(s, "/analytics/demo/post-dynamics?hours=200").await;
    assert_error(&r, 400, "bad_request");
    let message = r.json["message"].as_str().unwrap_or_default();
    assert!(message.contains("192 or 216"), "{message}");
    for ok in ["hours=167", "hours=168", "hours=240", "hours=2160"] {
        let r = get(s, &format!("/analytics/demo/post-dynamics?{ok}")).await;
        assert_eq!(r.status, 200, "{ok}: {}", r.json);
    }
    assert_error(
        &get(s, "/analytics/demo/top-posts?period=170h").await,
        400,
        "bad_request",
    );
    assert_eq!(
        get(s, "/analytics/demo/top-posts?period=169h").await.status,
        400
    );
    assert_eq!(
        get(s, "/analytics/demo/top-posts?period=8d").await.status,
        200
    );

    // The description says so.
    let spec = get(s, "/openapi.json").await.json;
    let op = &spec["paths"]["/analytics/demo/post-dynamics"]["get"];
    let schema = &op["parameters"][0]["schema"];
    assert_eq!(schema["anyOf"][0]["maximum"], 168, "{schema}");
    assert_eq!(schema["anyOf"][1]["multipleOf"], 24, "{schema}");
    assert_eq!(schema["anyOf"][1]["maximum"], 2160, "{schema}");
    assert!(
        op["responses"]["429"]["headers"]
            .get("Retry-After")
            .is_some()
    );
    let description = spec["info"]["description"].as_str().unwrap_or_default();
    assert!(description.contains("251 windows"), "{description}");
}

/// `GET /analytics/channels/metrics?ids=..`: one record per channel (`#[cache_batch]`), so
/// a request computes only the channels no earlier request brought in, and answers
/// `X-Cache: HIT` only when every channel was held; unknown ids are listed as missing
/// (and remembered); bad lists are a 400.
#[tokio::test]
async fn channel_metrics_batch_computes_only_the_channels_not_held() {
    let _guard = CACHE_LOCK.lock().await;
    let s = server();
    let stats = || cache_stats(s, "channel_metrics");
    let delta = |a: &Value, b: &Value, f| counter(b, f) - counter(a, f);
    let before = stats().await;
    let first = get(s, "/analytics/channels/metrics?ids=1,2,999999").await;
    assert_eq!(first.status, 200, "{}", first.json);
    let ids: Vec<i64> = first.json["channels"]
        .as_array()
        .expect("channels")
        .iter()
        .map(|c| c["channel_id"].as_i64().expect("id"))
        .collect();
    assert_eq!(ids, vec![1, 2]);
    assert_eq!(first.json["missing"], json!([999999]));
    assert_eq!(first.x_cache.as_deref(), Some("MISS"));
    let middle = stats().await;
    assert_eq!(delta(&before, &middle, "misses"), 3, "three records");

    // 1 and 2 are held, 3 is computed: one miss, two hits, and still a MISS.
    let second = get(s, "/analytics/channels/metrics?ids=2,1,3").await;
    assert_eq!(second.status, 200);
    assert_eq!(second.x_cache.as_deref(), Some("MISS"));
    assert_eq!(second.json["channels"][1], first.json["channels"][0]);
    let after = stats().await;
    assert_eq!(delta(&middle, &after, "misses"), 1);
    assert_eq!(delta(&middle, &after, "hits"), 2);

    // Every record held (the unknown id remembered as missing): a HIT.
    let third = get(s, "/analytics/channels/metrics?ids=3,999999").await;
    assert_eq!(third.x_cache.as_deref(), Some("HIT"));
    assert_eq!(third.json["missing"], json!([999999]));

    for bad in [
        "",
        "ids=",
        "ids=1,x",
        "ids=0",
        &format!("ids={}", vec!["1"; 101].join(",")),
    ] {
        let r = get(s, &format!("/analytics/channels/metrics?{bad}")).await;
        assert_error(&r, 400, "bad_request");
    }
}
