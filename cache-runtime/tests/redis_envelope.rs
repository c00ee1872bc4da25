//! What the remote tier accepts from Redis, against a real redis-server: entries name
//! their key (copies are rejected), signed runtimes refuse foreign envelopes, keys rotate,
//! large values are compressed (and read back in another process), corrupt compressed
//! payloads and inflation bombs are counted misses, encrypted values are opaque, and the
//! previous envelope format is a counted miss that gets overwritten.

#![cfg(feature = "redis")]

mod common;

use std::time::Duration;

use cache_runtime::__private::{CacheSite, seal_envelope};
use cache_runtime::codec::{Codec, MessagePack};
use cache_runtime::{CacheRuntime, CacheRuntimeBuilder, L2Stats};
use common::remote::*;
use common::{call_in, spec};
use test_support::RedisServer;

/// Where the declared value length sits in a format-2 envelope without tags.
const VALUE_LEN_AT: usize = 36;
/// Where the payload begins in an unsigned format-2 envelope without tags.
const PAYLOAD_AT: usize = VALUE_LEN_AT + 4 + 16;

async fn start(b: CacheRuntimeBuilder, server: &RedisServer, ns: &str) -> CacheRuntime {
    let rt = b.namespace(ns).redis(server.url()).build();
    connected(&rt).await;
    rt
}

fn l2(rt: &CacheRuntime) -> L2Stats {
    rt.stats().l2.expect("remote tier on")
}

fn get(server: &RedisServer, key: &str) -> Vec<u8> {
    server.cmd(&[b"GET", key.as_bytes()])
}

fn set(server: &RedisServer, key: &str, bytes: &[u8]) {
    server.cmd::<()>(&[b"SET", key.as_bytes(), bytes, b"PX", b"60000"]);
}

fn msgpack(s: &str) -> Vec<u8> {
    MessagePack.encode(&s.to_string()).expect("encode")
}

/// A value large enough to be compressed (4 KB, like an analytics page).
fn large(user: &str) -> String {
    (0..120)
        .map(|i| format!("{{\"user\":\"{user}\",\"day\":{i},\"views\":{}}}", i * 7))
        .collect::<Vec<_>>()
        .join(",")
}

/// Waits until `key` holds something other than `old`.
async fn overwritten(server: &RedisServer, key: &str, old: &[u8]) {
    let ok = eventually(Duration::from_secs(2), || get(server, key) != old).await;
    assert!(ok, "{key} was not overwritten");
}

#[tokio::test]
async fn bytes_copied_to_another_key_are_rejected_and_overwritten() {
    static SITE: CacheSite = CacheSite::new(spec("env_copy", 60_000));
    let server = RedisServer::start();
    let a = start(CacheRuntime::builder(), &server, "copy").await;
    let (alice, bob) = (
        redis_key("copy", "env_copy", 1),
        redis_key("copy", "env_copy", 2),
    );
    call_in(&a, &SITE, 1, || async {
        Ok("alice's channels".to_string())
    })
    .await
    .expect("computed");
    call_in(&a, &SITE, 2, || async { Ok("bob's channels".to_string()) })
        .await
        .expect("computed");
    written(&server, &alice).await;
    written(&server, &bob).await;
    // Someone with write access to Redis copies bob's entry under alice's key.
    let stolen = get(&server, &bob);
    set(&server, &alice, &stolen);

    let b = start(CacheRuntime::builder(), &server, "copy").await;
    let v = call_in(&b, &SITE, 1, || async {
        Ok("alice's channels".to_string())
    })
    .await;
    assert_eq!(v, Ok("alice's channels".into()), "never bob's value");
    let s = stats_of(&b, "env_copy");
    assert_eq!((s.l2.hits, s.l2.decode_failures, s.computes), (0, 1, 1));
    assert_eq!(l2(&b).rejected, 1);
    let text = b.prometheus();
    assert!(
        text.lines()
            .any(|l| l.starts_with("cache_l2_rejected_total") && l.ends_with(" 1")),
        "{text}"
    );
    // Overwritten with alice's own value: the next instance reads it as a hit.
    overwritten(&server, &alice, &stolen).await;
    let c = start(CacheRuntime::builder(), &server, "copy").await;
    let v = call_in(&c, &SITE, 1, || async { Ok("recomputed".to_string()) }).await;
    assert_eq!(v, Ok("alice's channels".into()));
    assert_eq!((stats_of(&c, "env_copy").l2.hits, l2(&c).rejected), (1, 0));
}

#[tokio::test]
async fn a_signed_runtime_rejects_envelopes_written_without_its_key() {
    static SITE: CacheSite = CacheSite::new(spec("env_forged", 60_000));
    let server = RedisServer::start();
    let key = redis_key("forged", "env_forged", 1);
    let forged: [(&str, Vec<u8>); 3] = [
        // A valid header naming the right key, but no MAC.
        (
            "unsigned",
            seal_envelope(&key, &msgpack("evil"), &[], 0, false).expect("sealed"),
        ),
        // Signed, with a key the runtime does not hold.
        (
            "another key",
            seal_envelope(&key, &msgpack("evil"), &[b"guessed"], 0, false).expect("sealed"),
        ),
        // Encrypted with another key.
        (
            "encrypted elsewhere",
            seal_envelope(&key, &msgpack("evil"), &[b"guessed"], 0, true).expect("sealed"),
        ),
    ];
    for (i, (what, bytes)) in forged.into_iter().enumerate() {
        set(&server, &key, &bytes);
        let rt = start(
            CacheRuntime::builder().signing_key("s3cret"),
            &server,
            "forged",
        )
        .await;
        let v = call_in(&rt, &SITE, 1, || async { Ok("genuine".to_string()) }).await;
        assert_eq!(v, Ok("genuine".into()), "{what}");
        assert_eq!(l2(&rt).rejected, 1, "{what}");
        assert_eq!(stats_of(&rt, "env_forged").l2.hits, 0, "{what}");
        overwritten(&server, &key, &bytes).await;
        // What it wrote is signed with its key: a runtime holding the key reads it.
        let other = start(
            CacheRuntime::builder().signing_key("s3cret"),
            &server,
            "forged",
        )
        .await;
        let v = call_in(&other, &SITE, 1, || async { Ok("again".to_string()) }).await;
        assert_eq!(v, Ok("genuine".into()), "{what} (case {i})");
        assert_eq!(stats_of(&other, "env_forged").l2.hits, 1, "{what}");
    }
}

#[tokio::test]
async fn rotation_reads_the_old_key_and_writes_the_new_one() {
    static SITE: CacheSite = CacheSite::new(spec("env_rotate", 60_000));
    let server = RedisServer::start();
    let old = || CacheRuntime::builder().signing_key("key-2026-11");
    let rotated = || CacheRuntime::builder().signing_keys(["key-2026-12", "key-2026-11"]);
    let before = start(old(), &server, "rot").await;
    call_in(&before, &SITE, 1, || async { Ok("by old".to_string()) })
        .await
        .expect("computed");
    written(&server, &redis_key("rot", "env_rotate", 1)).await;

    // A rotated instance still reads what the old key signed...
    let after = start(rotated(), &server, "rot").await;
    let v = call_in(&after, &SITE, 1, || async { Ok("recomputed".to_string()) }).await;
    assert_eq!(v, Ok("by old".into()));
    assert_eq!(stats_of(&after, "env_rotate").l2.hits, 1);
    // ...and signs with the new one: an instance that holds only the old key rejects it,
    // one that holds only the new key reads it.
    call_in(&after, &SITE, 2, || async { Ok("by new".to_string()) })
        .await
        .expect("computed");
    written(&server, &redis_key("rot", "env_rotate", 2)).await;
    let stale_instance = start(old(), &server, "rot").await;
    let v = call_in(&stale_instance, &SITE, 2, || async {
        Ok("own".to_string())
    })
    .await;
    assert_eq!(v, Ok("own".into()));
    assert_eq!(l2(&stale_instance).rejected, 1);
    let newest = start(
        CacheRuntime::builder().signing_key("key-2026-12"),
        &server,
        "rot",
    )
    .await;
    // The old-only instance overwrote key 2 with its own (old-key) value meanwhile:
    // wait for that, then write key 3 with the rotated instance and read it.
    call_in(&after, &SITE, 3, || async { Ok("by new 3".to_string()) })
        .await
        .expect("computed");
    written(&server, &redis_key("rot", "env_rotate", 3)).await;
    let v = call_in(&newest, &SITE, 3, || async { Ok("recomputed".to_string()) }).await;
    assert_eq!(v, Ok("by new 3".into()));
    assert_eq!(l2(&newest).rejected, 0);
}

/// Run by itself, a test that a large value goes to Redis compressed (its stored size
/// is well under its encoded size); run as the child of
/// `a_compressed_value_round_trips_through_two_processes`, the writing process.
#[tokio::test]
async fn a_large_value_is_stored_compressed() {
    static SITE: CacheSite = CacheSite::new(spec("env_zstd", 60_000));
    let own;
    let (url, ns) = match std::env::var("ENVELOPE_CHILD_REDIS") {
        Ok(url) => (url, "twoproc".to_string()),
        Err(_) => {
            own = RedisServer::start();
            (own.url(), "zstd".to_string())
        }
    };
    let rt = CacheRuntime::builder()
        .namespace(ns.as_str())
        .redis(url.as_str())
        .signing_key("shared secret")
        .build();
    connected(&rt).await;
    let value = large("alice");
    call_in(&rt, &SITE, 1, || {
        let v = value.clone();
        async move { Ok(v) }
    })
    .await
    .expect("computed");
    let key = redis_key(&ns, "env_zstd", 1);
    let client = ::redis::Client::open(url.as_str()).expect("url");
    let mut conn = client.get_connection().expect("connect");
    let mut stored: Vec<u8> = Vec::new();
    for _ in 0..200 {
        stored = ::redis::cmd("GET")
            .arg(&key)
            .query(&mut conn)
            .unwrap_or_default();
        if !stored.is_empty() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let encoded = msgpack(&value).len();
    assert!(encoded > 4000, "{encoded}");
    assert!(
        !stored.is_empty() && stored.len() * 3 < encoded,
        "stored {} bytes for {encoded} encoded",
        stored.len()
    );
    assert_eq!(stored[1] & 1, 1, "flagged as compressed");
}

#[tokio::test]
async fn a_compressed_value_round_trips_through_two_processes() {
    static SITE: CacheSite = CacheSite::new(spec("env_zstd", 60_000));
    let server = RedisServer::start();
    let status = std::process::Command::new(std::env::current_exe().expect("test binary"))
        .args([
            "--exact",
            "a_large_value_is_stored_compressed",
            "--test-threads=1",
        ])
        .env("ENVELOPE_CHILD_REDIS", server.url())
        .status()
        .expect("child process runs");
    assert!(status.success(), "the writing process failed");
    // This process never computed the value: it reads, inflates and verifies it.
    let reader = start(
        CacheRuntime::builder().signing_key("shared secret"),
        &server,
        "twoproc",
    )
    .await;
    let v = call_in(&reader, &SITE, 1, || async { Ok("recomputed".to_string()) }).await;
    assert_eq!(v, Ok(large("alice")));
    let s = stats_of(&reader, "env_zstd");
    assert_eq!((s.l2.hits, s.computes, s.l2.decode_failures), (1, 0, 0));
}

#[tokio::test]
async fn corrupt_compressed_payloads_and_inflation_bombs_are_counted_misses() {
    static SITE: CacheSite = CacheSite::new(spec("env_bomb", 60_000));
    let server = RedisServer::start();
    let key = |k: u64| redis_key("bomb", "env_bomb", k);
    let good =
        |k: u64| seal_envelope(&key(k), &msgpack(&large("x")), &[], 1, false).expect("sealed");
    let patch_len = |mut b: Vec<u8>, len: u32| {
        b[VALUE_LEN_AT..VALUE_LEN_AT + 4].copy_from_slice(&len.to_le_bytes());
        b
    };
    // 80 MiB of zeros: a few KB compressed.
    let zeros = vec![0u8; 80 << 20];
    let bomb = |k: u64, declared: u32| {
        let b = seal_envelope(&key(k), &zeros, &[], 1, false).expect("sealed");
        assert!(b.len() < 64 << 10, "{}", b.len());
        patch_len(b, declared)
    };
    let cases: Vec<(&str, Vec<u8>)> = vec![
        ("truncated payload", {
            let b = good(0);
            b[..b.len() - 20].to_vec()
        }),
        ("payload that is not zstd", {
            let mut b = good(1);
            b.truncate(PAYLOAD_AT);
            b.extend_from_slice(&[0x5a; 300]);
            b
        }),
        ("declared shorter than it inflates", patch_len(good(2), 100)),
        ("declared longer than it inflates", patch_len(good(3), 9000)),
        ("bomb declaring its size", bomb(4, 80 << 20)),
        ("bomb declaring a small size", bomb(5, 1000)),
    ];
    for (i, (what, bytes)) in cases.into_iter().enumerate() {
        let k = i as u64;
        set(&server, &key(k), &bytes);
        let rt = start(CacheRuntime::builder(), &server, "bomb").await;
        let v = call_in(&rt, &SITE, k, || async move { Ok(format!("fresh {k}")) }).await;
        assert_eq!(v, Ok(format!("fresh {k}")), "{what}");
        let s = stats_of(&rt, "env_bomb");
        assert_eq!(
            (s.l2.decode_failures, s.l2.hits, s.computes),
            (1, 0, 1),
            "{what}"
        );
        overwritten(&server, &key(k), &bytes).await;
    }
}

#[tokio::test]
async fn encrypted_values_are_opaque_in_redis_and_read_back_with_the_key() {
    static SITE: CacheSite = CacheSite::new(spec("env_secret", 60_000));
    let server = RedisServer::start();
    let keyed = || {
        CacheRuntime::builder()
            .signing_key("k")
            .cache_encrypt("env_secret", true)
    };
    let a = start(keyed(), &server, "enc").await;
    let secret = large("alice@example.com");
    let s2 = secret.clone();
    call_in(&a, &SITE, 1, || async move { Ok(s2) })
        .await
        .expect("computed");
    let key = redis_key("enc", "env_secret", 1);
    written(&server, &key).await;
    let stored = get(&server, &key);
    assert_eq!(stored[1] & 4, 4, "flagged as encrypted");
    assert!(
        !stored.windows(7).any(|w| w == b"example"),
        "plaintext visible in redis"
    );
    let b = start(keyed(), &server, "enc").await;
    let v = call_in(&b, &SITE, 1, || async { Ok("recomputed".to_string()) }).await;
    assert_eq!(v, Ok(secret));
    // Without the key: rejected, recomputed.
    let c = start(CacheRuntime::builder(), &server, "enc").await;
    let v = call_in(&c, &SITE, 1, || async { Ok("own".to_string()) }).await;
    assert_eq!(v, Ok("own".into()));
    assert_eq!(l2(&c).rejected, 1);
}

#[tokio::test]
async fn encryption_without_a_key_keeps_values_out_of_redis() {
    static SITE: CacheSite = CacheSite::new(spec("env_nokey", 60_000));
    let server = RedisServer::start();
    let rt = start(CacheRuntime::builder().encrypt(true), &server, "nokey").await;
    let v = call_in(&rt, &SITE, 1, || async { Ok("personal".to_string()) }).await;
    assert_eq!(v, Ok("personal".into()));
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert!(server.keys("nokey:env_nokey*").is_empty());
    assert_eq!(stats_of(&rt, "env_nokey").l2.writes, 0);
    // Still cached in process.
    assert!(l1_has(&rt, &SITE, 1));
}

#[tokio::test]
async fn entries_of_the_previous_format_are_a_counted_miss_and_overwritten() {
    static SITE: CacheSite = CacheSite::new(spec("env_v1", 60_000));
    let server = RedisServer::start();
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("clock")
        .as_millis() as u64;
    // Format 1: no flags, no value length, no key digest.
    let mut v1 = vec![1u8];
    for v in [now, 60_000, now + 60_000, 0] {
        v1.extend_from_slice(&v.to_le_bytes());
    }
    v1.extend_from_slice(&0u16.to_le_bytes());
    v1.extend_from_slice(&msgpack("from the old build"));
    let keys: Vec<String> = (0..20).map(|k| redis_key("v1", "env_v1", k)).collect();
    for key in &keys {
        set(&server, key, &v1);
    }
    let rt = start(CacheRuntime::builder(), &server, "v1").await;
    for k in 0..20u64 {
        let v = call_in(&rt, &SITE, k, || async move { Ok(format!("new {k}")) }).await;
        assert_eq!(v, Ok(format!("new {k}")));
    }
    let s = stats_of(&rt, "env_v1");
    assert_eq!((s.l2.decode_failures, s.l2.hits, s.l2.errors), (20, 0, 0));
    // Not an error storm: Redis stays trusted, and old entries are not "rejected".
    let l = l2(&rt);
    assert_eq!(
        (l.errors, l.rejected, l.circuit),
        (0, 0, cache_runtime::CircuitState::Closed)
    );
    for key in &keys {
        overwritten(&server, key, &v1).await;
    }
    let other = start(CacheRuntime::builder(), &server, "v1").await;
    let v = call_in(&other, &SITE, 7, || async { Ok("recomputed".to_string()) }).await;
    assert_eq!(v, Ok("new 7".into()));
}
