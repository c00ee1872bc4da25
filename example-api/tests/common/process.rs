//! The service as a real process (the built `example-api` binary), for tests that need
//! more than one instance: each has its own process-global cache runtime. Killed when
//! dropped; its output is kept and printed if the test panics.

use std::io::{BufRead, BufReader, Read};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex, mpsc};
use std::time::Duration;

/// One running `example-api` process.
pub struct Instance {
    pub name: &'static str,
    /// `http://127.0.0.1:PORT`.
    pub base: String,
    child: Child,
    log: Arc<Mutex<Vec<String>>>,
}

/// A started process whose `ready` line has not been seen yet.
pub struct Starting {
    name: &'static str,
    child: Option<Child>,
    log: Arc<Mutex<Vec<String>>>,
    ready: mpsc::Receiver<String>,
}

impl Starting {
    /// Waits for the `ready: listening on http://ADDR` line (the port is chosen by the OS:
    /// pass `--bind 127.0.0.1:0`).
    pub fn wait_ready(mut self, limit: Duration) -> Instance {
        let mut child = self.child.take().expect("started once");
        match self.ready.recv_timeout(limit) {
            Ok(base) => Instance {
                name: self.name,
                base,
                child,
                log: Arc::clone(&self.log),
            },
            Err(_) => {
                let _ = child.kill();
                let status = child.wait();
                panic!(
                    "instance {} not ready within {limit:?} ({status:?}):\n{}",
                    self.name,
                    self.log.lock().expect("log").join("\n")
                );
            }
        }
    }
}

impl Drop for Starting {
    fn drop(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

/// Starts the binary with `args` (and a clean environment, so variables of the calling
/// shell such as `REDIS_URL` or `NO_CACHE` cannot change the test).
pub fn spawn(name: &'static str, args: &[String]) -> Starting {
    let mut child = Command::new(env!("CARGO_BIN_EXE_example-api"))
        .args(args)
        .env_clear()
        .env("RUST_LOG", "info,sqlx=warn")
        .env("NO_COLOR", "1")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("the example-api binary runs");
    let log = Arc::new(Mutex::new(Vec::new()));
    let (tx, ready) = mpsc::channel();
    let stdout = child.stdout.take().expect("piped stdout");
    let stderr = child.stderr.take().expect("piped stderr");
    drain(stdout, Arc::clone(&log), Some(tx));
    drain(stderr, Arc::clone(&log), None);
    Starting {
        name,
        child: Some(child),
        log,
        ready,
    }
}

/// Reads a pipe to its end (so the child never blocks on a full pipe), keeping the lines
/// and reporting the address of the `ready` line.
fn drain(
    pipe: impl Read + Send + 'static,
    log: Arc<Mutex<Vec<String>>>,
    ready: Option<mpsc::Sender<String>>,
) {
    std::thread::spawn(move || {
        for line in BufReader::new(pipe).lines() {
            let Ok(line) = line else { break };
            let line = strip_ansi(&line);
            if let Some(tx) = &ready
                && let Some(at) = line.find("listening on http://")
            {
                let url = line[at + "listening on ".len()..]
                    .split_whitespace()
                    .next()
                    .unwrap_or_default()
                    .to_owned();
                let _ = tx.send(url);
            }
            log.lock().expect("log").push(line);
        }
    });
}

/// `s` without terminal colour sequences (`ESC [ ... letter`).
fn strip_ansi(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut chars = s.chars();
    while let Some(c) = chars.next() {
        if c == '\u{1b}' {
            for c in chars.by_ref() {
                if c.is_ascii_alphabetic() {
                    break;
                }
            }
        } else {
            out.push(c);
        }
    }
    out
}

impl Instance {
    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    /// The process's output so far.
    pub fn log(&self) -> String {
        self.log.lock().expect("log").join("\n")
    }

    /// Whether a line containing `needle` is logged within `limit` (output is read by a
    /// background thread, so a line written a moment ago may not be there yet).
    pub async fn logged(&self, needle: &str, limit: Duration) -> bool {
        let until = std::time::Instant::now() + limit;
        loop {
            if self.log().contains(needle) {
                return true;
            }
            if std::time::Instant::now() >= until {
                return false;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }

    /// Sends SIGTERM (through `kill(1)`, as an orchestrator would).
    pub fn terminate(&self) {
        let status = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status()
            .expect("kill runs");
        assert!(status.success(), "kill -TERM {}", self.child.id());
    }

    /// Waits up to `limit` for the process to exit; its status, or `None` if it still runs.
    pub async fn wait_exit(&mut self, limit: Duration) -> Option<std::process::ExitStatus> {
        let until = std::time::Instant::now() + limit;
        loop {
            if let Some(status) = self.child.try_wait().expect("try_wait") {
                return Some(status);
            }
            if std::time::Instant::now() >= until {
                return None;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }
}

impl Drop for Instance {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        if std::thread::panicking() {
            eprintln!("---- output of instance {} ----\n{}", self.name, self.log());
        }
    }
}

/// A directory removed when dropped.
pub struct TempDir(PathBuf);

impl TempDir {
    /// `target/tmp/<name>/<pid>`, emptied first.
    pub fn new(name: &str) -> Self {
        let dir = Path::new(env!("CARGO_TARGET_TMPDIR"))
            .join(name)
            .join(std::process::id().to_string());
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).expect("test directory");
        Self(dir)
    }

    pub fn path(&self) -> &Path {
        &self.0
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// The small seed of the two-process tests: both instances must agree on it.
pub const SEED: example_api::config::SeedConfig = example_api::config::SeedConfig {
    channels: 6,
    posts_per_channel: 8,
    days: 5,
    track_hours: 72,
};

/// Arguments of an instance on `database_url` (seeded with [`SEED`]) sharing `redis_url`,
/// with the admin token of the tests and rate limiting off (these tests send more than one
/// client may; rate limiting is tested in hostile.rs).
pub fn redis_instance_args(database_url: &str, redis_url: &str) -> Vec<String> {
    [
        "--bind",
        "127.0.0.1:0",
        "--database-url",
        database_url,
        "--db-pool-size",
        "2",
        "--seed-channels",
        &SEED.channels.to_string(),
        "--seed-posts",
        &SEED.posts_per_channel.to_string(),
        "--seed-days",
        &SEED.days.to_string(),
        "--seed-track-hours",
        &SEED.track_hours.to_string(),
        "--admin-token",
        super::ADMIN,
        "--redis-url",
        redis_url,
        "--rate-limit",
        "0",
    ]
    .iter()
    .map(|s| (*s).to_owned())
    .collect()
}

/// Arguments of a single instance on a SQLite file in `dir`, with a tiny seed (3
/// channels, 4 posts, 2 days, 24 tracked hours), the admin token of the tests and rate
/// limiting off; a test appends its own flags.
pub fn sqlite_instance_args(dir: &Path) -> Vec<String> {
    let url = format!("sqlite://{}/db.sqlite?mode=rwc", dir.display());
    [
        "--bind",
        "127.0.0.1:0",
        "--database-url",
        &url,
        "--db-pool-size",
        "2",
        "--seed-channels",
        "3",
        "--seed-posts",
        "4",
        "--seed-days",
        "2",
        "--seed-track-hours",
        "24",
        "--admin-token",
        super::ADMIN,
        "--rate-limit",
        "0",
    ]
    .iter()
    .map(|s| (*s).to_owned())
    .collect()
}

/// Polls `check` every 20 ms until it returns `Some`, at most `limit`.
pub async fn poll<T, F, Fut>(limit: Duration, what: &str, mut check: F) -> T
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Option<T>>,
{
    let until = std::time::Instant::now() + limit;
    loop {
        if let Some(v) = check().await {
            return v;
        }
        assert!(
            std::time::Instant::now() < until,
            "not within {limit:?}: {what}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}
