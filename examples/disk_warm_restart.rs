//! A warm restart on the disk tier (feature `disk`): this program runs itself three times
//! on one directory, as a service would across deploys.
//!
//! 1. `cold`: a fresh directory; computes `N` entries (each a small "query"), flushes, exits.
//! 2. `warm`: the same directory; reads the `N` keys again: every one from disk, none
//!    computed, with the time per call (p50, p99) and in all.
//! 3. `none`: no disk tier, the same `N` computations: what a miss costs without the disk
//!    write, against `cold` (the write is queued, the caller does not wait for the disk).
//!
//! 4. `raw` then `rawwarm`: foyer's engine alone, with the disk tier's settings (block,
//!    buffer, memory part, psync IO, its own one-worker runtime), `N` values as long as
//!    the tier's records, written, then read back after a restart: the engine's own get
//!    (p50, p99), against the tier's hit of `warm` (which adds the hop to foyer's runtime,
//!    the record's checks, decoding and the fill of the process tier).
//! 5. `sizes`: bytes on disk per entry of the raw engine for values of 100 B to 3 KiB,
//!    with and without foyer's LZ4 compression (10,000 entries each).
//!
//! It prints the bytes on disk per entry of the tier too.
//!
//! `cargo run --release -p examples --features disk --example disk_warm_restart [N]`

use std::process::Command;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use cache_runtime::{CacheRuntime, Scope, ServedFrom, cache_result};

static COMPUTED: AtomicU64 = AtomicU64::new(0);

/// A stand-in for a database query: about 200 bytes of JSON-like text.
#[cache_result("disk_demo_report", ttl = "1h")]
async fn report(id: u64) -> String {
    COMPUTED.fetch_add(1, Ordering::Relaxed);
    format!(
        "{{\"id\":{id},\"name\":\"channel {id}\",\"posts\":{},\"views\":{},\"best_hour\":{},\"tags\":[\"news\",\"daily\",\"long-form\"],\"note\":\"computed before the restart\"}}",
        id * 7 % 113,
        id * 7919 % 100_003,
        id % 24
    )
}

/// `total` over the calls timed in `times`, and their median and 99th percentile.
fn timings(total: Duration, times: &mut [Duration]) -> String {
    times.sort();
    let at = |p: f64| times[((times.len() as f64 - 1.0) * p) as usize];
    format!(
        "{:.2?} each; p50 {:.2?}, p99 {:.2?}",
        total / times.len().max(1) as u32,
        at(0.5),
        at(0.99)
    )
}

fn bytes_on_disk(dir: &std::path::Path) -> u64 {
    use std::os::unix::fs::MetadataExt;
    let mut total = 0;
    for e in std::fs::read_dir(dir).into_iter().flatten().flatten() {
        let p = e.path();
        total += if p.is_dir() {
            bytes_on_disk(&p)
        } else {
            std::fs::metadata(&p).map_or(0, |m| m.blocks() * 512)
        };
    }
    total
}

async fn phase(phase: &str, dir: &std::path::Path, n: u64) {
    let mut builder = CacheRuntime::builder()
        .namespace("disk_demo")
        .max_bytes(1 << 30);
    if phase != "none" {
        builder = builder.disk(dir, 1 << 30);
    }
    let rt = builder.install().expect("the only runtime");
    let began = Instant::now();
    let mut times = Vec::with_capacity(n as usize);
    let mut from_disk = 0;
    for id in 0..n {
        let t = Instant::now();
        let (_, o) = Scope::observe().run(report(id)).await;
        times.push(t.elapsed());
        from_disk += u64::from(o.served_from() == Some(ServedFrom::Disk));
    }
    let total = began.elapsed();
    let flush = Instant::now();
    let _ = rt.flush(Duration::from_secs(60)).await;
    let flushed = flush.elapsed();
    println!(
        "{phase:>4}: {n} calls in {total:.2?} ({}), {} computed, {from_disk} from disk; flush {flushed:.2?}",
        timings(total, &mut times),
        COMPUTED.load(Ordering::Relaxed),
    );
    if phase == "cold" {
        let bytes = bytes_on_disk(dir);
        println!(
            "      {bytes} bytes on disk for {n} entries: {} per entry",
            bytes / n.max(1)
        );
    }
}

/// The disk tier's engine settings for `max_bytes` (`tier/disk/store.rs`).
fn block_size(max_bytes: u64) -> usize {
    let b = (max_bytes / 16).clamp(64 << 10, 16 << 20) as usize;
    b.div_ceil(4096) * 4096
}

type Raw = foyer::HybridCache<Vec<u8>, Vec<u8>>;

async fn open_raw(
    dir: &std::path::Path,
    max_bytes: u64,
    compression: foyer::Compression,
    spawner: foyer::Spawner,
) -> Raw {
    use foyer::{
        BlockEngineConfig, DeviceBuilder, FsDeviceBuilder, HybridCacheBuilder, HybridCachePolicy,
        PsyncIoEngineConfig, RecoverMode,
    };
    let block = block_size(max_bytes);
    let device = FsDeviceBuilder::new(dir)
        .with_capacity(max_bytes as usize)
        .build()
        .expect("device");
    HybridCacheBuilder::new()
        .with_policy(HybridCachePolicy::WriteOnInsertion)
        .memory(256 << 10)
        .with_weighter(|k: &Vec<u8>, v: &Vec<u8>| k.len() + v.len())
        .storage()
        .with_io_engine_config(PsyncIoEngineConfig::new())
        .with_engine_config(
            BlockEngineConfig::new(device)
                .with_block_size(block)
                .with_buffer_pool_size((2 * block).max(1 << 20))
                .with_submit_queue_size_threshold(4 * block)
                .with_tombstone_log(true),
        )
        .with_compression(compression)
        .with_recover_mode(RecoverMode::Quiet)
        .with_spawner(spawner)
        .build()
        .await
        .expect("foyer opens")
}

fn raw_key(id: u64) -> Vec<u8> {
    let mut k = vec![0; 32];
    k[..8].copy_from_slice(&id.to_le_bytes());
    k[8..16].copy_from_slice(&id.wrapping_mul(0x9e37_79b9_7f4a_7c15).to_le_bytes());
    k
}

/// A value of `len` bytes, compressible like the example's JSON.
fn raw_value(id: u64, len: usize) -> Vec<u8> {
    let text = format!("{{\"id\":{id},\"name\":\"channel {id}\",\"tags\":[\"news\",\"daily\"]}}");
    text.bytes().cycle().take(len).collect()
}

/// The raw engine's phases, on a runtime of its own as the tier's: `raw` writes `n`
/// values of `len` bytes, `rawwarm` reads them back, `sizes` measures bytes per entry.
fn raw_phase(phase: &str, dir: &std::path::Path, n: u64, len: usize) {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .expect("tokio");
    let spawner = foyer::Spawner::from(rt.handle().clone());
    rt.block_on(async {
        match phase {
            "raw" => {
                let cache = open_raw(dir, 1 << 30, foyer::Compression::None, spawner).await;
                let began = Instant::now();
                for id in 0..n {
                    cache.insert(raw_key(id), raw_value(id, len));
                    if id % 1000 == 999 {
                        // The tier's writes come one per miss; a burst of 100,000 would
                        // overflow foyer's write buffer (it drops what does not fit).
                        cache.storage().wait().await;
                    }
                }
                cache.close().await.expect("closed");
                let bytes = bytes_on_disk(dir);
                println!(
                    " raw: {n} values of {len} B written in {:.2?}; {bytes} bytes on disk: {} per entry",
                    began.elapsed(),
                    bytes / n.max(1)
                );
            }
            "rawwarm" => {
                let cache = open_raw(dir, 1 << 30, foyer::Compression::None, spawner).await;
                let mut times = Vec::with_capacity(n as usize);
                let mut found = 0;
                let began = Instant::now();
                for id in 0..n {
                    let t = Instant::now();
                    let got = cache.get(&raw_key(id)).await.expect("read");
                    times.push(t.elapsed());
                    found += u64::from(got.is_some_and(|e| e.value().len() == len));
                }
                let total = began.elapsed();
                println!(
                    "rawwarm: {n} gets in {total:.2?} ({}), {found} found",
                    timings(total, &mut times),
                );
            }
            _ => {
                println!(
                    "sizes: bytes on disk per entry, 10,000 entries, foyer block engine (4 KiB pages)"
                );
                for len in [100, 300, 1000, 3000] {
                    let mut line = format!("  value {len:>4} B:");
                    for (name, c) in [
                        ("none", foyer::Compression::None),
                        ("lz4", foyer::Compression::Lz4),
                    ] {
                        let d = dir.join(format!("sizes-{len}-{name}"));
                        let cache = open_raw(&d, 256 << 20, c, spawner.clone()).await;
                        for id in 0..10_000 {
                            cache.insert(raw_key(id), raw_value(id, len));
                            if id % 500 == 499 {
                                cache.storage().wait().await;
                            }
                        }
                        cache.close().await.expect("closed");
                        line += &format!(" {name} {}", bytes_on_disk(&d) / 10_000);
                        let _ = std::fs::remove_dir_all(&d);
                    }
                    println!("{line}");
                }
            }
        }
    });
    rt.shutdown_background();
}

#[tokio::main(flavor = "current_thread")]
async fn main() {
    if let (Some(p), Some(dir), Some(n)) = (
        std::env::var_os("DISK_DEMO_PHASE"),
        std::env::var_os("DISK_DEMO_DIR"),
        std::env::var_os("DISK_DEMO_N"),
    ) {
        let n = n.to_string_lossy().parse().expect("N");
        let (p, dir) = (p.to_string_lossy(), std::path::Path::new(&dir));
        if p.starts_with("raw") || p == "sizes" {
            let len = std::env::var("DISK_DEMO_LEN").map_or(400, |l| l.parse().expect("len"));
            // On a thread of its own: a runtime cannot start inside `#[tokio::main]`.
            std::thread::scope(|s| {
                s.spawn(|| raw_phase(&p, dir, n, len));
            });
        } else {
            phase(&p, dir, n).await;
        }
        return;
    }
    let n: u64 = std::env::args()
        .nth(1)
        .map_or(100_000, |a| a.parse().expect("N, a number"));
    let dir = std::env::temp_dir().join(format!("disk_warm_restart-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let raw = dir.with_extension("raw");
    let _ = std::fs::remove_dir_all(&raw);
    let only = std::env::var("DISK_DEMO_ONLY").ok();
    for (p, d) in [
        ("cold", &dir),
        ("warm", &dir),
        ("none", &dir),
        ("raw", &raw),
        ("rawwarm", &raw),
        ("sizes", &raw),
    ] {
        if only
            .as_deref()
            .is_some_and(|o| !o.split(',').any(|x| x == p))
        {
            continue;
        }
        let status = Command::new(std::env::current_exe().expect("this program"))
            .env("DISK_DEMO_PHASE", p)
            .env("DISK_DEMO_DIR", d)
            .env("DISK_DEMO_N", n.to_string())
            .status()
            .expect("runs");
        assert!(status.success(), "phase {p}: {status:?}");
    }
    let _ = std::fs::remove_dir_all(&dir);
    let _ = std::fs::remove_dir_all(&raw);
}
