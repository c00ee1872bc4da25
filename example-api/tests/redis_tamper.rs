//! The copy attack on a shared Redis, through two real service processes: whoever can
//! write to Redis copies the bytes of bob's `user_channels` entry under alice's key. An
//! entry names the key it was written for (a digest, even without a signing key), so the
//! other instance answers alice with alice's channels (a `MISS`, recomputed), counts the
//! copy in `l2.rejected` and overwrites it.
//!
//! Needs `redis-server` (`apt-get install redis-server`, or `REDIS_SERVER=/path`).

mod common;

use std::time::{Duration, Instant};

use common::client;
use common::process::{self, Instance, SEED, TempDir, redis_instance_args};
use serde_json::Value;
use test_support::RedisServer;

/// `GET /channels` as the holder of `token`: status, `X-Cache`, body.
async fn channels(i: &Instance, token: &str) -> (u16, Option<String>, Value) {
    let resp = client()
        .get(i.url("/channels"))
        .bearer_auth(token)
        .timeout(Duration::from_secs(5))
        .send()
        .await
        .expect("sent");
    let status = resp.status().as_u16();
    let x_cache = resp
        .headers()
        .get("x-cache")
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    (status, x_cache, resp.json().await.expect("JSON"))
}

async fn l2_rejected(i: &Instance) -> u64 {
    let p: Value = client()
        .get(i.url("/performance"))
        .send()
        .await
        .expect("sent")
        .json()
        .await
        .expect("JSON");
    p.pointer("/system_stats/l2/rejected")
        .and_then(Value::as_u64)
        .unwrap_or_else(|| panic!("no l2.rejected in {p}"))
}

/// Waits until `cond` holds, at most `limit`.
async fn until(limit: Duration, what: &str, mut cond: impl FnMut() -> bool) {
    let end = Instant::now() + limit;
    while !cond() {
        assert!(Instant::now() < end, "not within {limit:?}: {what}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test]
async fn bobs_entry_copied_under_alices_key_is_never_served_to_alice() {
    let redis = RedisServer::start();
    let dir = TempDir::new("example-api-tamper-tests");
    let url = |name: &str| format!("sqlite://{}?mode=rwc", dir.path().join(name).display());
    // Identical seeds (one database copied), so both instances know the same users.
    let db = example_api::Db::open(&url("a.db"), 1, &SEED)
        .await
        .expect("seeds a.db");
    let users = db.users().await.expect("users");
    db.close().await;
    for suffix in ["", "-wal", "-shm"] {
        let from = dir.path().join(format!("a.db{suffix}"));
        if from.exists() {
            std::fs::copy(&from, dir.path().join(format!("b.db{suffix}"))).expect("copies");
        }
    }
    let token = |name: &str| {
        users
            .iter()
            .find(|u| u.name == name)
            .map(|u| u.token.clone())
            .expect("demo user")
    };
    let (alice, bob) = (token("alice"), token("bob"));
    let a = process::spawn("A", &redis_instance_args(&url("a.db"), &redis.url()));
    let b = process::spawn("B", &redis_instance_args(&url("b.db"), &redis.url()));
    let a = a.wait_ready(Duration::from_secs(15));
    let b = b.wait_ready(Duration::from_secs(15));

    // A computes alice's channels, then bob's; each lands in Redis under its own key.
    let keys = || redis.keys("*user_channels*");
    let (status, _, alices) = channels(&a, &alice).await;
    assert_eq!(status, 200, "{alices}");
    until(Duration::from_secs(3), "alice's entry in redis", || {
        keys().len() == 1
    })
    .await;
    let alice_key = keys().remove(0);
    let (status, _, bobs) = channels(&a, &bob).await;
    assert_eq!(status, 200, "{bobs}");
    until(Duration::from_secs(3), "bob's entry in redis", || {
        keys().len() == 2
    })
    .await;
    let bob_key = keys()
        .into_iter()
        .find(|k| *k != alice_key)
        .expect("bob's key");
    assert_ne!(alices, bobs, "the two users see different channels");

    // The attack: bob's bytes under alice's key.
    let stolen: Vec<u8> = redis.cmd(&[b"GET", bob_key.as_bytes()]);
    redis.cmd::<()>(&[b"SET", alice_key.as_bytes(), &stolen, b"PX", b"300000"]);

    // B has nothing in process: it reads Redis, finds an entry written for bob's key,
    // refuses it and recomputes alice's own channels.
    assert_eq!(l2_rejected(&b).await, 0);
    let (status, x_cache, seen) = channels(&b, &alice).await;
    assert_eq!(status, 200, "{seen}");
    assert_eq!(seen, alices, "alice is answered with her own channels");
    assert_ne!(seen, bobs);
    assert_eq!(x_cache.as_deref(), Some("MISS"), "the copy is not a hit");
    assert_eq!(l2_rejected(&b).await, 1);

    // The copy is overwritten by B's recomputation; bob is still served his own.
    until(Duration::from_secs(3), "the copy overwritten", || {
        redis.cmd::<Vec<u8>>(&[b"GET", alice_key.as_bytes()]) != stolen
    })
    .await;
    let (_, x_cache, seen) = channels(&b, &bob).await;
    assert_eq!(seen, bobs);
    assert_eq!(
        x_cache.as_deref(),
        Some("HIT"),
        "bob's genuine entry is a hit"
    );
    assert_eq!(l2_rejected(&b).await, 1);
}
