//! The real service restarted on its disk cache (`--disk-cache`): answers computed before
//! a graceful stop (SIGTERM) or a SIGKILL come back from disk (`X-Cache: HIT`,
//! `X-Cache-Tier: disk`) without touching the database, and damaged files give right
//! answers.

mod common;

use std::path::Path;
use std::time::Duration;

use common::process::{self, Instance, TempDir};
use common::{Reply, client};
use test_support::files;

const PATHS: [&str; 3] = [
    "/analytics/channels/1/metrics",
    "/analytics/channels/2/metrics",
    "/analytics/demo/post-dynamics?hours=6",
];

fn start(name: &'static str, dir: &Path) -> Instance {
    let cache = dir.join("cache");
    let mut args = process::sqlite_instance_args(dir);
    args.extend(["--disk-cache".to_owned(), cache.display().to_string()]);
    process::spawn(name, &args).wait_ready(Duration::from_secs(60))
}

async fn get(i: &Instance, path: &str) -> Reply {
    common::send(client().get(i.url(path)).timeout(Duration::from_secs(10))).await
}

/// Every path computed (a miss) on a fresh instance; the answers.
async fn compute_all(i: &Instance) -> Vec<serde_json::Value> {
    let mut answers = Vec::new();
    for path in PATHS {
        let r = get(i, path).await;
        assert_eq!(r.status, 200, "{path}: {}", r.json);
        assert_eq!(r.x_cache.as_deref(), Some("MISS"), "{path}");
        answers.push(r.json);
    }
    answers
}

async fn stop(mut i: Instance) {
    i.terminate();
    let status = i.wait_exit(Duration::from_secs(10)).await;
    assert!(
        status.is_some_and(|s| s.success()),
        "{status:?}\n{}",
        i.log()
    );
}

#[tokio::test]
async fn a_restarted_service_answers_from_its_disk_cache() {
    let dir = TempDir::new("example-api-disk-restart");
    let a = start("a", dir.path());
    let answers = compute_all(&a).await;
    stop(a).await;

    let b = start("b", dir.path());
    for (path, answer) in PATHS.iter().zip(&answers) {
        let r = get(&b, path).await;
        assert_eq!(r.status, 200, "{path}");
        assert_eq!(r.x_cache.as_deref(), Some("HIT"), "{path}: {}", b.log());
        assert_eq!(r.tier.as_deref(), Some("disk"), "{path}");
        assert_eq!(&r.json, answer, "{path}: the answer before the restart");
        let again = get(&b, path).await;
        assert_eq!(again.tier.as_deref(), Some("L1"), "{path}: kept in process");
    }
    stop(b).await;

    // Damaged files: every engine file's middle third flipped. Right answers, a start.
    for f in files(&dir.path().join("cache").join("engine")) {
        let mut bytes = std::fs::read(&f).expect("read");
        let n = bytes.len();
        for b in &mut bytes[n / 3..2 * n / 3] {
            *b ^= 0x5a;
        }
        std::fs::write(&f, bytes).expect("write");
    }
    let c = start("c", dir.path());
    for (path, answer) in PATHS.iter().zip(&answers) {
        let r = get(&c, path).await;
        assert_eq!(r.status, 200, "{path}");
        assert_eq!(&r.json, answer, "{path}: right after damage");
    }
    stop(c).await;
}

#[tokio::test]
async fn after_sigkill_what_was_written_is_served_and_nothing_is_wrong() {
    let dir = TempDir::new("example-api-disk-kill");
    let a = start("a", dir.path());
    let answers = compute_all(&a).await;
    // The writes are in the background; give them time to land, then kill.
    tokio::time::sleep(Duration::from_millis(1500)).await;
    drop(a); // SIGKILL (Instance's drop)
    let b = start("b", dir.path());
    for (path, answer) in PATHS.iter().zip(&answers) {
        let r = get(&b, path).await;
        assert_eq!(r.status, 200, "{path}");
        assert_eq!(&r.json, answer, "{path}: never a wrong answer");
    }
    stop(b).await;
}
