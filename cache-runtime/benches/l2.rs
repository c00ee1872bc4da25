//! The remote tier against a redis-server this bench starts on a free loopback port:
//!
//! - `l2_hit`: one caller, an L2 hit of a 4 KB value through the cached entry point (a
//!   `tier = "remote"` cache, so nothing is kept in process and every call reads Redis),
//!   stored zstd-compressed and signed (the runtime has a signing key), against a raw
//!   redis-rs `GET` of the uncompressed MessagePack bytes plus their decode (target: at
//!   most 1.15x); the stored and the uncompressed sizes are printed (`L2_BENCH_PLAIN=1`
//!   stores them uncompressed and unsigned instead, to compare);
//! - `l2_hit_64_tasks`: 64 concurrent tasks of each, one key per task (target: at least
//!   85% of the raw throughput);
//! - `codec`: encode and decode of a realistic API payload (20 posts with strings,
//!   options and a nested vector, about 4 KB) with MessagePack and, with the `postcard`
//!   feature, postcard; the encoded sizes are printed.
//!
//! `cargo bench -p cache-runtime --features redis,postcard --bench l2`
//! (needs `redis-server` on the PATH, or its path in `REDIS_SERVER`).

use std::hint::black_box;
use std::time::Duration;

use cache_runtime::__private::{open_envelope, seal_envelope};
use cache_runtime::codec::{Codec, MessagePack};
use cache_runtime::{CacheRuntime, cache_result};
use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use serde::{Deserialize, Serialize};

/// One post of a channel's analytics page: the shape of the reference API's payloads.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
struct Post {
    id: u64,
    channel_id: i64,
    title: String,
    url: String,
    published_at: String,
    views: u64,
    likes: u32,
    engagement_rate: f64,
    thumbnail: Option<String>,
    summary: Option<String>,
    tags: Vec<String>,
}

fn posts(channel: u64) -> Vec<Post> {
    (0..20)
        .map(|i| Post {
            id: channel * 1000 + i,
            channel_id: channel as i64,
            title: format!("Two-tier caching, part {i}"),
            url: format!("https://example.invalid/p/{i}"),
            published_at: format!("2026-11-{:02}", 1 + i % 28),
            views: 10_000 + i * 137,
            likes: 300 + i as u32,
            engagement_rate: 0.0421 + i as f64 / 1000.0,
            thumbnail: (i % 3 != 0).then(|| format!("https://cdn.example.invalid/{i}.jpg")),
            summary: (i % 4 == 0).then(|| "A one-line summary.".into()),
            tags: vec!["rust".into(), format!("series-{}", i % 4)],
        })
        .collect()
}

#[cache_result("bench_l2_remote", ttl = 3600, tier = "remote")]
async fn remote_posts(channel: u64) -> Vec<Post> {
    posts(channel)
}

/// The raw copy of a channel's posts: plain MessagePack, what the baseline reads.
fn raw_key(channel: u64) -> String {
    format!("bench:raw:{channel}")
}

fn l2(c: &mut Criterion) {
    let server = test_support::RedisServer::start();
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("tokio");
    // `L2_BENCH_PLAIN=1`: entries neither compressed nor signed, to compare with.
    let plain = std::env::var_os("L2_BENCH_PLAIN").is_some();
    let builder = CacheRuntime::builder()
        .namespace("bench")
        .redis(server.url())
        .redis_timeout(Duration::from_millis(250));
    let builder = if plain {
        builder.compress_threshold(0)
    } else {
        builder.signing_key("bench signing key: compressed and signed entries")
    };
    builder
        .install()
        .expect("the first runtime of this process");
    let global = cache_runtime::global();

    const TASKS: u64 = 64;
    // Connect, fill Redis with one entry per task, and find the entries' keys.
    let keys = rt.block_on(async {
        for _ in 0..200 {
            if global.stats().l2.is_some_and(|l2| l2.connected) {
                break;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        for channel in 0..TASKS {
            remote_posts(channel).await;
        }
        for _ in 0..200 {
            let written = global
                .stats()
                .cache("bench_l2_remote")
                .is_some_and(|c| c.l2.writes == TASKS);
            if written {
                break;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        // The baseline's copies: the uncompressed, unsigned bytes of each value.
        let mut conn = server.conn();
        for channel in 0..TASKS {
            let bytes = MessagePack.encode(&posts(channel)).expect("encode");
            let _: () = redis::cmd("SET")
                .arg(raw_key(channel))
                .arg(bytes)
                .query(&mut conn)
                .expect("set");
        }
        let entries = server.keys("bench:bench_l2_remote:*");
        assert_eq!(entries.len(), TASKS as usize, "one entry per channel");
        let stored: Vec<u8> = redis::cmd("GET")
            .arg(&entries[0])
            .query(&mut conn)
            .expect("get");
        let plain = MessagePack.encode(&posts(0)).expect("encode").len();
        eprintln!(
            "4 KB value: {plain} bytes encoded, {} bytes stored in redis (envelope, zstd, MAC)",
            stored.len()
        );
        (0..TASKS).map(raw_key).collect::<Vec<_>>()
    });
    let key = keys[7].clone();
    let mut raw = rt.block_on(async {
        redis::Client::open(server.url())
            .expect("url")
            .get_multiplexed_async_connection()
            .await
            .expect("connects")
    });
    let raw_get = |mut conn: redis::aio::MultiplexedConnection, key: String| async move {
        let bytes: Vec<u8> = redis::cmd("GET")
            .arg(&key)
            .query_async(&mut conn)
            .await
            .expect("get");
        let value: Vec<Post> = MessagePack.decode(&bytes).expect("decodes");
        value
    };
    assert_eq!(rt.block_on(raw_get(raw.clone(), key.clone())), posts(7));
    assert_eq!(rt.block_on(remote_posts(7)), posts(7));

    let mut g = c.benchmark_group("l2_hit");
    g.bench_function("cached_entry_point", |b| {
        b.to_async(&rt)
            .iter(|| async { black_box(remote_posts(black_box(7)).await) });
    });
    g.bench_function("raw_get_and_decode", |b| {
        b.to_async(&rt)
            .iter(|| async { black_box(raw_get(raw.clone(), key.clone()).await) });
    });
    g.finish();

    // Distinct keys: concurrent calls of one key would coalesce into one read.
    let mut g = c.benchmark_group("l2_hit_64_tasks");
    g.throughput(Throughput::Elements(TASKS));
    g.bench_function("cached_entry_point", |b| {
        b.to_async(&rt).iter(|| async {
            let tasks: Vec<_> = (0..TASKS)
                .map(|channel| tokio::spawn(async move { remote_posts(channel).await.len() }))
                .collect();
            for t in tasks {
                black_box(t.await.expect("task"));
            }
        });
    });
    g.bench_function("raw_get_and_decode", |b| {
        b.to_async(&rt).iter(|| async {
            let tasks: Vec<_> = keys
                .iter()
                .map(|key| tokio::spawn(raw_get(raw.clone(), key.clone())))
                .collect();
            for t in tasks {
                black_box(t.await.expect("task").len());
            }
        });
    });
    g.finish();

    let stats = global.stats();
    let cache = stats.cache("bench_l2_remote").expect("used");
    eprintln!(
        "bench_l2_remote: {} L2 hits, {} misses, {} timeouts, {} errors, {} computes",
        cache.l2.hits, cache.l2.misses, cache.l2.timeouts, cache.l2.errors, cache.computes
    );
    assert_eq!(cache.computes, TASKS, "every measured call was an L2 hit");
    rt.block_on(async {
        let pong: String = redis::cmd("PING")
            .query_async(&mut raw)
            .await
            .expect("redis still answers");
        assert_eq!(pong, "PONG");
    });
}

fn codec(c: &mut Criterion) {
    let value = posts(7);
    let mut g = c.benchmark_group("codec");
    let msgpack = MessagePack.encode(&value).expect("encodes");
    eprintln!("payload: MessagePack {} bytes", msgpack.len());
    g.bench_function("messagepack_encode", |b| {
        b.iter(|| MessagePack.encode(black_box(&value)).expect("encodes"));
    });
    g.bench_function("messagepack_decode", |b| {
        b.iter(|| {
            MessagePack
                .decode::<Vec<Post>>(black_box(&msgpack))
                .expect("decodes")
        });
    });
    // What a hit adds to GET + decode: verifying the MAC and inflating (the envelope as
    // the Redis thread opens it, keys derived per call here).
    let key = "bench:bench_l2_remote:v0:00";
    let secret: &[u8] = b"bench signing key";
    let sealed = seal_envelope(key, &msgpack, &[secret], 1024, false).expect("sealed");
    g.bench_function("envelope_open_signed_zstd", |b| {
        b.iter(|| open_envelope(key, black_box(&sealed), &[secret]).expect("opens"));
    });
    g.bench_function("envelope_seal_signed_zstd", |b| {
        b.iter(|| seal_envelope(key, black_box(&msgpack), &[secret], 1024, false).expect("sealed"));
    });
    #[cfg(feature = "postcard")]
    {
        use cache_runtime::codec::Postcard;
        let compact = Postcard.encode(&value).expect("encodes");
        eprintln!("payload: postcard {} bytes", compact.len());
        g.bench_function("postcard_encode", |b| {
            b.iter(|| Postcard.encode(black_box(&value)).expect("encodes"));
        });
        g.bench_function("postcard_decode", |b| {
            b.iter(|| {
                Postcard
                    .decode::<Vec<Post>>(black_box(&compact))
                    .expect("decodes")
            });
        });
    }
    g.finish();
}

criterion_group! {
    name = benches;
    config = Criterion::default()
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(3))
        .sample_size(40);
    targets = l2, codec
}
criterion_main!(benches);
