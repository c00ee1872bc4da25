//! A warm restart on the disk tier (feature `disk`): this program runs itself three times
//! on one directory, as a service would across deploys.
//!
//! 1. `cold`: a fresh directory; computes `N` entries (each a small "query"), flushes, exits.
//! 2. `warm`: the same directory; reads the `N` keys again: every one from disk, none
//!    computed, with the time per call (p50, p99) and in all.
//! 3. `none`: no disk tier, the same `N` computations: what a miss costs without the disk
//!    write, against `cold` (the write is queued, the caller does not wait for the disk).
//!
//! It prints the bytes on disk per entry too.
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

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    sorted[((sorted.len() as f64 - 1.0) * p) as usize]
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
    times.sort();
    println!(
        "{phase:>4}: {n} calls in {total:.2?} ({:.2?}/call; p50 {:.2?}, p99 {:.2?}), {} computed, {from_disk} from disk; flush {flushed:.2?}",
        total / n as u32,
        percentile(&times, 0.5),
        percentile(&times, 0.99),
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

#[tokio::main(flavor = "current_thread")]
async fn main() {
    if let (Some(p), Some(dir), Some(n)) = (
        std::env::var_os("DISK_DEMO_PHASE"),
        std::env::var_os("DISK_DEMO_DIR"),
        std::env::var_os("DISK_DEMO_N"),
    ) {
        let n = n.to_string_lossy().parse().expect("N");
        phase(&p.to_string_lossy(), std::path::Path::new(&dir), n).await;
        return;
    }
    let n: u64 = std::env::args()
        .nth(1)
        .map_or(100_000, |a| a.parse().expect("N, a number"));
    let dir = std::env::temp_dir().join(format!("disk_warm_restart-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    for p in ["cold", "warm", "none"] {
        let status = Command::new(std::env::current_exe().expect("this program"))
            .env("DISK_DEMO_PHASE", p)
            .env("DISK_DEMO_DIR", &dir)
            .env("DISK_DEMO_N", n.to_string())
            .status()
            .expect("runs");
        assert!(status.success(), "phase {p}: {status:?}");
    }
    let _ = std::fs::remove_dir_all(&dir);
}
