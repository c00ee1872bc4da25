//! The write endpoints through a real listening server: `PATCH /channels/{id}` and
//! `POST /channels/{id}/posts`. A write is visible in the next read of the cached
//! endpoints it affects (`X-Cache: MISS` with the new value) while other users' and other
//! channels' entries stay hits; only the owner may write; bad input gets a clear 4xx and
//! changes nothing; writes spend the rate limit of the expensive reads; with Redis, a
//! write on one instance is served by the other.
//!
//! The seed's owners: alice has channels 1 and 4, bob 2 and 5, carol 3 and 6, dave none.

mod common;

use std::time::{Duration, Instant};

use common::process::{self, Instance, TempDir, poll};
use common::{ADMIN, CACHE_LOCK, Reply, Server, assert_error, client, send};
use example_api::config::SeedConfig;
use serde_json::{Value, json};
use test_support::RedisServer;

/// Rate limiting is off here (one test sends many writes); the limit on writes is tested
/// in its own process below.
fn server() -> &'static Server {
    common::server_with(&["--rate-limit", "0"])
}

async fn get_as(user: Option<&str>, path: &str) -> Reply {
    let s = server();
    let mut req = client().get(s.url(path));
    if let Some(user) = user {
        req = req.bearer_auth(s.token(user));
    }
    send(req).await
}

/// `path` as `user`, read twice so that the second answer is a hit; that answer.
async fn cached(user: Option<&str>, path: &str) -> Value {
    let first = get_as(user, path).await;
    assert_eq!(first.status, 200, "{path}: {}", first.json);
    let second = get_as(user, path).await;
    assert_eq!(second.x_cache.as_deref(), Some("HIT"), "{path}");
    assert_eq!(second.json, first.json, "{path}");
    second.json
}

/// `path` as `user`, which must be recomputed now (the write dropped it) and then be a
/// hit again; the new answer.
async fn recomputed(user: Option<&str>, path: &str) -> Value {
    let r = get_as(user, path).await;
    assert_eq!(r.status, 200, "{path}: {}", r.json);
    assert_eq!(
        r.x_cache.as_deref(),
        Some("MISS"),
        "{path}: dropped by the write"
    );
    let again = get_as(user, path).await;
    assert_eq!(
        again.x_cache.as_deref(),
        Some("HIT"),
        "{path}: cached again"
    );
    assert_eq!(again.json, r.json);
    r.json
}

/// `path` as `user`, still a hit with the answer it had before the write.
async fn untouched(user: Option<&str>, path: &str, before: &Value) {
    let r = get_as(user, path).await;
    assert_eq!(r.x_cache.as_deref(), Some("HIT"), "{path}: not dropped");
    assert_eq!(&r.json, before, "{path}");
}

fn write(method: reqwest::Method, path: &str, user: Option<&str>) -> reqwest::RequestBuilder {
    let s = server();
    let req = client().request(method, s.url(path));
    match user {
        Some(user) => req.bearer_auth(s.token(user)),
        None => req,
    }
}

async fn rename(user: Option<&str>, channel: i64, body: Value) -> Reply {
    send(
        write(
            reqwest::Method::PATCH,
            &format!("/channels/{channel}"),
            user,
        )
        .json(&body),
    )
    .await
}

async fn publish(user: Option<&str>, channel: i64, body: Value) -> Reply {
    send(
        write(
            reqwest::Method::POST,
            &format!("/channels/{channel}/posts"),
            user,
        )
        .json(&body),
    )
    .await
}

/// The channel `id` in a `/channels` answer.
fn channel(list: &Value, id: i64) -> &Value {
    list["channels"]
        .as_array()
        .and_then(|cs| cs.iter().find(|c| c["id"] == id))
        .unwrap_or_else(|| panic!("channel {id} in {list}"))
}

fn num(v: &Value, pointer: &str) -> i64 {
    v.pointer(pointer)
        .and_then(Value::as_i64)
        .unwrap_or_else(|| panic!("`{pointer}` in {v}"))
}

const TOP_POSTS: &str = "/analytics/demo/top-posts?period=7d&limit=100";
const BEST_TIMES: &str = "/analytics/demo/best-times";
const DYNAMICS: &str = "/analytics/demo/post-dynamics?hours=24";

#[tokio::test]
async fn a_rename_is_read_at_once_and_other_entries_stay_cached() {
    let _guard = CACHE_LOCK.lock().await;
    let alice = Some("alice");
    let metrics_1 = "/analytics/channels/1/metrics";
    let metrics_2 = "/analytics/channels/2/metrics";
    let before = cached(alice, "/channels").await;
    let bob_before = cached(Some("bob"), "/channels").await;
    cached(None, metrics_1).await;
    let metrics_2_before = cached(None, metrics_2).await;
    cached(None, TOP_POSTS).await;
    let best_before = cached(None, BEST_TIMES).await;

    let r = rename(
        alice,
        1,
        json!({ "name": "rust_weekly", "title": "  Rust Weekly  " }),
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.json);
    assert_eq!(r.json["id"], 1);
    assert_eq!(r.json["name"], "rust_weekly");
    assert_eq!(r.json["title"], "Rust Weekly", "surrounding blanks dropped");
    assert_eq!(r.x_cache, None, "a write makes no cached call");
    let old = channel(&before, 1);
    assert_eq!(r.json["posts"], old["posts"]);
    assert_eq!(r.json["subscribers"], old["subscribers"]);

    // The owner's channel list, the channel's metrics and the top posts (which show the
    // channel's title) are recomputed with the new name.
    let after = recomputed(alice, "/channels").await;
    assert_eq!(channel(&after, 1)["name"], "rust_weekly");
    assert_eq!(channel(&after, 1)["title"], "Rust Weekly");
    assert_eq!(channel(&after, 4), channel(&before, 4), "her other channel");
    let metrics = recomputed(None, metrics_1).await;
    assert_eq!(metrics["channel"]["name"], "rust_weekly");
    let top = recomputed(None, TOP_POSTS).await;
    let titles: Vec<&Value> = top["posts"]
        .as_array()
        .expect("posts")
        .iter()
        .filter(|p| p["channel_id"] == 1)
        .map(|p| &p["channel_title"])
        .collect();
    assert!(!titles.is_empty(), "channel 1 has posts in 7 days: {top}");
    assert!(titles.iter().all(|t| *t == "Rust Weekly"), "{titles:?}");

    // Another user's list, another channel's metrics, the best times: untouched.
    untouched(Some("bob"), "/channels", &bob_before).await;
    untouched(None, metrics_2, &metrics_2_before).await;
    untouched(None, BEST_TIMES, &best_before).await;

    // Only the title: the name stays.
    let r = rename(alice, 1, json!({ "title": "Rust Weekly II" })).await;
    assert_eq!(r.status, 200, "{}", r.json);
    assert_eq!(
        (&r.json["name"], &r.json["title"]),
        (&json!("rust_weekly"), &json!("Rust Weekly II"))
    );
    let after = recomputed(alice, "/channels").await;
    assert_eq!(channel(&after, 1)["title"], "Rust Weekly II");
}

#[tokio::test]
async fn a_new_post_is_counted_at_once_by_channels_metrics_and_demo_analytics() {
    let _guard = CACHE_LOCK.lock().await;
    let alice = Some("alice");
    let metrics_4 = "/analytics/channels/4/metrics";
    let metrics_5 = "/analytics/channels/5/metrics";
    let before = cached(alice, "/channels").await;
    let bob_before = cached(Some("bob"), "/channels").await;
    let metrics_before = cached(None, metrics_4).await;
    let metrics_5_before = cached(None, metrics_5).await;
    let top_before = cached(None, TOP_POSTS).await;
    let best_before = cached(None, BEST_TIMES).await;
    let dynamics_before = cached(None, DYNAMICS).await;

    let text = "Release notes: what changed in 2.0 #rust";
    let r = publish(alice, 4, json!({ "text": text, "kind": "photo" })).await;
    assert_eq!(r.status, 201, "{}", r.json);
    assert_eq!(r.json["channel_id"], 4);
    assert_eq!(r.json["text"], text);
    assert_eq!(r.json["kind"], "photo");
    let id = num(&r.json, "/id");
    let published = r.json["published_at"].as_str().expect("published_at");
    assert!(
        published.ends_with('Z') && published.len() == 20,
        "{published}"
    );

    let after = recomputed(alice, "/channels").await;
    assert_eq!(
        num(channel(&after, 4), "/posts"),
        num(channel(&before, 4), "/posts") + 1
    );
    let metrics = recomputed(None, metrics_4).await;
    assert_eq!(
        num(&metrics, "/channel/posts"),
        num(&metrics_before, "/channel/posts") + 1
    );
    assert_eq!(
        metrics["total_views"], metrics_before["total_views"],
        "no views yet"
    );
    let best = recomputed(None, BEST_TIMES).await;
    assert_eq!(
        num(&best, "/posts_analyzed"),
        num(&best_before, "/posts_analyzed") + 1
    );
    let top = recomputed(None, TOP_POSTS).await;
    let listed = top["posts"]
        .as_array()
        .expect("posts")
        .iter()
        .find(|p| p["id"] == id)
        .unwrap_or_else(|| panic!("post {id} in {top}"));
    assert_eq!(
        (&listed["text"], &listed["views"]),
        (&json!(text), &json!(0))
    );
    assert_eq!(
        top["posts"].as_array().map(Vec::len),
        top_before["posts"].as_array().map(|p| p.len() + 1)
    );

    // Other users, other channels, and the views over time (a new post has none): hits.
    untouched(Some("bob"), "/channels", &bob_before).await;
    untouched(None, metrics_5, &metrics_5_before).await;
    untouched(None, DYNAMICS, &dynamics_before).await;

    // An explicit time (an hour ago) and the default kind.
    let an_hour_ago = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("after 1970")
        .as_secs() as i64
        - 3600;
    let at = example_api::services::rfc3339(an_hour_ago);
    let r = publish(alice, 4, json!({ "text": "Backdated", "published_at": at })).await;
    assert_eq!(r.status, 201, "{}", r.json);
    assert_eq!(
        (&r.json["published_at"], &r.json["kind"]),
        (&json!(at), &json!("text"))
    );
    let best = recomputed(None, BEST_TIMES).await;
    assert_eq!(
        num(&best, "/posts_analyzed"),
        num(&best_before, "/posts_analyzed") + 2
    );
}

#[tokio::test]
async fn concurrent_posts_get_distinct_ids() {
    let _guard = CACHE_LOCK.lock().await;
    let before = cached(Some("carol"), "/channels").await;
    let mut posts = tokio::task::JoinSet::new();
    for n in 0..8 {
        posts.spawn(publish(
            Some("carol"),
            3,
            json!({ "text": format!("post {n}") }),
        ));
    }
    let mut ids = Vec::new();
    for r in posts.join_all().await {
        assert_eq!(r.status, 201, "{}", r.json);
        ids.push(num(&r.json, "/id"));
    }
    ids.sort_unstable();
    ids.dedup();
    assert_eq!(ids.len(), 8, "{ids:?}");
    let after = recomputed(Some("carol"), "/channels").await;
    assert_eq!(
        num(channel(&after, 3), "/posts"),
        num(channel(&before, 3), "/posts") + 8
    );
}

#[tokio::test]
async fn only_the_owner_may_write() {
    let _guard = CACHE_LOCK.lock().await;
    let before = cached(Some("alice"), "/channels").await;
    let body = json!({ "name": "taken_over" });
    let post = json!({ "text": "not mine" });

    assert_error(&rename(None, 1, body.clone()).await, 401, "unauthorized");
    assert_error(&publish(None, 1, post.clone()).await, 401, "unauthorized");
    let forged = send(
        client()
            .patch(server().url("/channels/1"))
            .bearer_auth("demo-alice-0000")
            .json(&body),
    )
    .await;
    assert_error(&forged, 401, "unauthorized");
    assert_eq!(forged.headers["www-authenticate"], "Bearer");

    for user in ["bob", "dave"] {
        assert_error(&rename(Some(user), 1, body.clone()).await, 403, "forbidden");
        assert_error(
            &publish(Some(user), 1, post.clone()).await,
            403,
            "forbidden",
        );
    }
    assert_error(
        &rename(Some("alice"), 9999, body.clone()).await,
        404,
        "not_found",
    );
    assert_error(
        &publish(Some("alice"), 9999, post.clone()).await,
        404,
        "not_found",
    );
    let bad_id =
        send(write(reqwest::Method::PATCH, "/channels/one", Some("alice")).json(&body)).await;
    assert_error(&bad_id, 400, "bad_request");
    let wrong_method = get_as(Some("alice"), "/channels/1").await;
    assert_error(&wrong_method, 405, "method_not_allowed");
    assert_eq!(wrong_method.headers["allow"], "PATCH");

    // Nothing changed, and nothing was dropped.
    untouched(Some("alice"), "/channels", &before).await;
}

#[tokio::test]
async fn bad_input_gets_a_clear_error_and_changes_nothing() {
    let _guard = CACHE_LOCK.lock().await;
    // Bob's channel 2: the other tests write to alice's channels.
    let bob = Some("bob");
    let before = cached(bob, "/channels").await;

    for (body, status, code) in [
        (json!({ "name": "a".repeat(33) }), 413, "payload_too_large"),
        (json!({ "name": "ab" }), 400, "bad_request"),
        (json!({ "name": "Has Spaces" }), 400, "bad_request"),
        (json!({ "name": "\u{0}abc" }), 400, "bad_request"),
        (json!({ "title": "   " }), 400, "bad_request"),
        (
            json!({ "title": "x".repeat(129) }),
            413,
            "payload_too_large",
        ),
        (json!({ "title": "bell\u{7}" }), 400, "bad_request"),
        (json!({}), 422, "unprocessable_entity"),
        (json!({ "name": null }), 422, "unprocessable_entity"),
        (json!({ "name": 5 }), 422, "unprocessable_entity"),
        (
            json!({ "name": "fine_name", "owner_id": 1 }),
            422,
            "unprocessable_entity",
        ),
        (json!(["fine_name"]), 422, "unprocessable_entity"),
    ] {
        let r = rename(bob, 2, body.clone()).await;
        assert_eq!(r.status, status, "{body}: {}", r.json);
        assert_error(&r, status, code);
    }
    for (body, status, code) in [
        (json!({ "text": "" }), 400, "bad_request"),
        (json!({ "text": " \n\t" }), 400, "bad_request"),
        (json!({ "text": "a\u{0}b" }), 400, "bad_request"),
        (
            json!({ "text": "x".repeat(64 * 1024 + 1) }),
            413,
            "payload_too_large",
        ),
        (json!({}), 422, "unprocessable_entity"),
        (
            json!({ "text": "hi", "kind": "poll" }),
            422,
            "unprocessable_entity",
        ),
        (
            json!({ "text": "hi", "views": 100 }),
            422,
            "unprocessable_entity",
        ),
        (
            json!({ "text": "hi", "published_at": "yesterday" }),
            400,
            "bad_request",
        ),
        (
            json!({ "text": "hi", "published_at": 1714568400 }),
            422,
            "unprocessable_entity",
        ),
        (
            json!({ "text": "hi", "published_at": "1970-01-01T00:00:00Z" }),
            409,
            "conflict",
        ),
        (
            json!({ "text": "hi", "published_at": "2999-01-01T00:00:00Z" }),
            409,
            "conflict",
        ),
    ] {
        let r = publish(bob, 2, body.clone()).await;
        assert_error(&r, status, code);
    }

    let patch = |body: &'static str, content_type: Option<&'static str>| {
        let mut req = write(reqwest::Method::PATCH, "/channels/2", bob).body(body);
        if let Some(ct) = content_type {
            req = req.header("content-type", ct);
        }
        send(req)
    };
    assert_error(
        &patch(r#"{"name": "#, Some("application/json")).await,
        400,
        "bad_request",
    );
    assert_error(
        &patch(r#"{"name": "fine_name"}"#, None).await,
        415,
        "unsupported_media_type",
    );
    let huge = format!(r#"{{"title": "{}"}}"#, "x".repeat(8 * 1024));
    let r = send(
        write(reqwest::Method::PATCH, "/channels/2", bob)
            .header("content-type", "application/json")
            .body(huge),
    )
    .await;
    assert_error(&r, 413, "payload_too_large");

    // Every request above was refused before the database: bob's list is still a hit,
    // with the same channels and post counts.
    untouched(bob, "/channels", &before).await;
}

/// The small seed of the other tests.
const SEED: SeedConfig = SeedConfig {
    channels: 6,
    posts_per_channel: 8,
    days: 5,
    track_hours: 72,
};

fn instance_args(database_url: &str, extra: &[&str]) -> Vec<String> {
    let seed = [
        SEED.channels.to_string(),
        SEED.posts_per_channel.to_string(),
        SEED.days.to_string(),
        SEED.track_hours.to_string(),
    ];
    [
        "--bind",
        "127.0.0.1:0",
        "--database-url",
        database_url,
        "--db-pool-size",
        "2",
        "--seed-channels",
        &seed[0],
        "--seed-posts",
        &seed[1],
        "--seed-days",
        &seed[2],
        "--seed-track-hours",
        &seed[3],
        "--admin-token",
        ADMIN,
    ]
    .iter()
    .chain(extra)
    .map(|s| (*s).to_owned())
    .collect()
}

/// A SQLite database seeded once, for instances that share it.
async fn seeded_database(dir: &TempDir) -> String {
    let url = format!(
        "sqlite://{}?mode=rwc",
        dir.path().join("shared.db").display()
    );
    example_api::Db::open(&url, 1, &SEED)
        .await
        .expect("seeds the database")
        .close()
        .await;
    url
}

/// The bearer token of `user` in `db_url`.
async fn token_of(db_url: &str, user: &str) -> String {
    let db = example_api::Db::open(db_url, 1, &SEED)
        .await
        .expect("opens");
    let users = db.users().await.expect("users");
    db.close().await;
    users
        .into_iter()
        .find(|u| u.name == user)
        .map(|u| u.token)
        .expect("demo user")
}

async fn instance_get(i: &Instance, token: &str, path: &str) -> Reply {
    send(
        client()
            .get(i.url(path))
            .bearer_auth(token)
            .timeout(Duration::from_secs(5)),
    )
    .await
}

#[tokio::test]
async fn writes_spend_the_rate_limit_of_the_expensive_reads() {
    let dir = TempDir::new("example-api-writes-rate");
    let db = seeded_database(&dir).await;
    let token = token_of(&db, "alice").await;
    let limited = process::spawn(
        "limited",
        &instance_args(&db, &["--rate-limit", "1", "--rate-limit-burst", "2"]),
    )
    .wait_ready(Duration::from_secs(15));
    let patch = || {
        send(
            client()
                .patch(limited.url("/channels/1"))
                .bearer_auth(&token)
                .json(&json!({ "title": "Limited" })),
        )
    };
    // One computation of the expensive routes (a window not cached yet) and one write
    // spend the burst of two.
    let read = instance_get(
        &limited,
        &token,
        "/analytics/demo/top-posts?period=5h&limit=3",
    )
    .await;
    assert_eq!(read.status, 200, "{}", read.json);
    assert_eq!(patch().await.status, 200);
    let over = patch().await;
    assert_error(&over, 429, "rate_limited");
    assert!(over.headers.contains_key("retry-after"));
    let publish_over = send(
        client()
            .post(limited.url("/channels/1/posts"))
            .bearer_auth(&token)
            .json(&json!({ "text": "one too many" })),
    )
    .await;
    assert_error(&publish_over, 429, "rate_limited");
    // The cheap reads are not limited.
    assert_eq!(
        instance_get(&limited, &token, "/channels").await.status,
        200
    );
}

#[tokio::test]
async fn with_redis_a_write_on_one_instance_is_served_by_the_other() {
    let redis = RedisServer::start();
    let dir = TempDir::new("example-api-writes-redis");
    let db = seeded_database(&dir).await;
    let token = token_of(&db, "alice").await;
    let bob = token_of(&db, "bob").await;
    let extra = ["--redis-url", &redis.url(), "--rate-limit", "0"];
    let a = process::spawn("A", &instance_args(&db, &extra));
    let b = process::spawn("B", &instance_args(&db, &extra));
    let a = a.wait_ready(Duration::from_secs(15));
    let b = b.wait_ready(Duration::from_secs(15));
    for i in [&a, &b] {
        poll(Duration::from_secs(5), "redis connected", || async {
            let h = send(client().get(i.url("/health"))).await;
            (h.json["redis"] == "connected").then_some(())
        })
        .await;
    }

    // B computes alice's list and channel 1's metrics; A serves them from Redis.
    let metrics = "/analytics/channels/1/metrics";
    for path in ["/channels", metrics] {
        assert_eq!(
            instance_get(&b, &token, path).await.x_cache.as_deref(),
            Some("MISS")
        );
        poll(
            Duration::from_secs(2),
            "B's entry reaches redis",
            || async {
                let r = instance_get(&a, &token, path).await;
                assert_eq!(r.status, 200, "{path}: {}", r.json);
                (r.x_cache.as_deref() == Some("HIT")).then_some(())
            },
        )
        .await;
    }
    let bob_before = instance_get(&b, &bob, "/channels").await;

    let r = send(
        client()
            .patch(a.url("/channels/1"))
            .bearer_auth(&token)
            .json(&json!({ "name": "shared_name" })),
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.json);
    let post = send(
        client()
            .post(a.url("/channels/1/posts"))
            .bearer_auth(&token)
            .json(&json!({ "text": "seen everywhere" })),
    )
    .await;
    assert_eq!(post.status, 201, "{}", post.json);

    // A, which wrote, reads its write at once.
    let on_a = instance_get(&a, &token, "/channels").await;
    assert_eq!(on_a.x_cache.as_deref(), Some("MISS"));
    assert_eq!(channel(&on_a.json, 1)["name"], "shared_name");
    let on_a_metrics = instance_get(&a, &token, metrics).await;
    assert_eq!(on_a_metrics.json["channel"]["name"], "shared_name");

    // B serves the new values once the announcement has reached it.
    let started = Instant::now();
    let on_b = poll(Duration::from_secs(2), "B drops its copy", || async {
        let r = instance_get(&b, &token, "/channels").await;
        (channel(&r.json, 1)["name"] == "shared_name").then_some(r.json)
    })
    .await;
    assert_eq!(channel(&on_b, 1)["posts"], channel(&on_a.json, 1)["posts"]);
    let on_b_metrics = poll(Duration::from_secs(2), "B drops its metrics", || async {
        let r = instance_get(&b, &token, metrics).await;
        (r.json["channel"]["name"] == "shared_name").then_some(r.json)
    })
    .await;
    assert_eq!(on_b_metrics, on_a_metrics.json);
    eprintln!("write on A served by B after {:?}", started.elapsed());

    // Bob's entry was not dropped on either instance.
    let bob_after = instance_get(&b, &bob, "/channels").await;
    assert_eq!(bob_after.x_cache.as_deref(), Some("HIT"));
    assert_eq!(bob_after.json, bob_before.json);
}

#[tokio::test]
async fn a_browser_on_an_allowed_origin_may_send_a_patch() {
    let preflight = client()
        .request(reqwest::Method::OPTIONS, server().url("/channels/1"))
        .header("origin", common::ORIGIN)
        .header("access-control-request-method", "PATCH")
        .header(
            "access-control-request-headers",
            "authorization, content-type",
        )
        .send()
        .await
        .expect("sent");
    assert_eq!(preflight.status(), 200);
    assert_eq!(
        preflight.headers()["access-control-allow-origin"],
        common::ORIGIN
    );
    let methods = preflight.headers()["access-control-allow-methods"]
        .to_str()
        .expect("ascii");
    assert!(methods.contains("PATCH"), "{methods}");
}
