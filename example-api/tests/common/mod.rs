//! A real listening server for the integration tests: one per test binary (the cache
//! runtime is process-global), on 127.0.0.1:0, over a small SQLite database seeded into
//! a fresh temporary directory.
//!
//! `EXAMPLE_API_TEST_DATABASE_URL=postgres://...` runs the same tests on PostgreSQL; the
//! database must be empty (the tests expect their own small seed).

#![allow(dead_code, unreachable_pub)]

pub mod browser;
pub mod process;
pub mod raw;

use std::collections::HashMap;
use std::sync::OnceLock;

use clap::Parser;
use example_api::Config;
use serde_json::Value;

pub const ADMIN: &str = "test-admin-token";
pub const ORIGIN: &str = "https://app.example.com";

pub struct Server {
    pub base: String,
    /// Demo user name -> bearer token.
    pub tokens: HashMap<String, String>,
    /// Ends the server (graceful shutdown) when sent.
    shutdown: std::sync::Mutex<Option<tokio::sync::oneshot::Sender<()>>>,
    /// Joins the server's thread; yields `run`'s result.
    thread: std::sync::Mutex<Option<std::thread::JoinHandle<Result<(), String>>>>,
}

static SERVER: OnceLock<Server> = OnceLock::new();

/// Serializes tests that assert on cache counters or on cache state (`X-Cache`), so that
/// one test's calls or invalidations cannot change what another one sees.
pub static CACHE_LOCK: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

/// The server of this test binary, started on first use with `extra` arguments.
pub fn server_with(extra: &[&str]) -> &'static Server {
    SERVER.get_or_init(|| start(extra))
}

fn start(extra: &[&str]) -> Server {
    let dir = test_dir();
    let url = std::env::var("EXAMPLE_API_TEST_DATABASE_URL")
        .unwrap_or_else(|_| format!("sqlite://{}/test.db?mode=rwc", dir.display()));
    let mut args: Vec<String> = [
        "example-api",
        "--bind",
        "127.0.0.1:0",
        "--database-url",
        &url,
        "--db-pool-size",
        "4",
        "--seed-channels",
        "6",
        "--seed-posts",
        "8",
        "--seed-days",
        "5",
        "--seed-track-hours",
        "72",
        "--admin-token",
        ADMIN,
        "--cors-origins",
        ORIGIN,
        "--allowed-hosts",
        "localhost,127.0.0.1,*.example.test",
    ]
    .iter()
    .map(|s| (*s).to_owned())
    .collect();
    args.extend(extra.iter().map(|s| (*s).to_owned()));
    let config = Config::try_parse_from(args).expect("test configuration parses");

    let (ready_tx, ready_rx) = std::sync::mpsc::channel();
    let (shutdown_tx, shutdown_rx) = tokio::sync::oneshot::channel::<()>();
    let thread = std::thread::spawn(move || {
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .expect("runtime");
        rt.block_on(async move {
            let listener = example_api::server::bind(config.bind).map_err(|e| e.to_string())?;
            let addr = listener.local_addr().map_err(|e| e.to_string())?;
            let state = example_api::prepare(config)
                .await
                .map_err(|e| e.to_string())?;
            let users = state.db.users().await.map_err(|e| e.to_string())?;
            let tokens = users.into_iter().map(|u| (u.name, u.token)).collect();
            ready_tx.send((addr, tokens)).map_err(|e| e.to_string())?;
            let result = example_api::run(listener, state, async {
                let _ = shutdown_rx.await;
            })
            .await
            .map_err(|e| e.to_string());
            let _ = std::fs::remove_dir_all(&dir);
            result
        })
    });
    let Ok((addr, tokens)) = ready_rx.recv() else {
        panic!("server failed to start: {:?}", thread.join())
    };
    Server {
        base: format!("http://{addr}"),
        tokens,
        shutdown: std::sync::Mutex::new(Some(shutdown_tx)),
        thread: std::sync::Mutex::new(Some(thread)),
    }
}

/// `target/tmp/example-api-tests/<pid>`, after removing the directories of test processes
/// that are gone (the server of a test binary is never stopped, so nothing else does).
fn test_dir() -> std::path::PathBuf {
    let parent = std::path::Path::new(env!("CARGO_TARGET_TMPDIR")).join("example-api-tests");
    let me = std::process::id();
    if cfg!(target_os = "linux") {
        for entry in std::fs::read_dir(&parent).into_iter().flatten().flatten() {
            let name = entry.file_name();
            let gone = name
                .to_str()
                .and_then(|n| n.parse::<u32>().ok())
                .is_some_and(|pid| {
                    pid != me && !std::path::Path::new(&format!("/proc/{pid}")).exists()
                });
            if gone {
                let _ = std::fs::remove_dir_all(entry.path());
            }
        }
    }
    let dir = parent.join(me.to_string());
    let _ = std::fs::remove_dir_all(&dir);
    dir
}

impl Server {
    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    pub fn token(&self, user: &str) -> &str {
        self.tokens
            .get(user)
            .map(String::as_str)
            .expect("demo user")
    }

    /// Sends the shutdown signal and waits for `run` to return.
    pub fn stop(&self) -> Result<(), String> {
        if let Some(tx) = self.shutdown.lock().expect("lock").take() {
            let _ = tx.send(());
        }
        let handle = self
            .thread
            .lock()
            .expect("lock")
            .take()
            .expect("stopped once");
        handle.join().expect("server thread")
    }
}

/// A client that neither decompresses nor follows redirects, so tests see the wire.
pub fn client() -> reqwest::Client {
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .expect("client")
}

/// A response's status, `X-Cache` and `X-Cache-Tier` headers and JSON body (a body that
/// is not JSON as a JSON string).
pub struct Reply {
    pub status: u16,
    pub x_cache: Option<String>,
    pub tier: Option<String>,
    pub headers: reqwest::header::HeaderMap,
    pub json: Value,
}

pub async fn send(req: reqwest::RequestBuilder) -> Reply {
    let resp = req.send().await.expect("request sent");
    let status = resp.status().as_u16();
    let headers = resp.headers().clone();
    let header = |name: &str| {
        headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned)
    };
    let (x_cache, tier) = (header("x-cache"), header("x-cache-tier"));
    let bytes = resp.bytes().await.expect("body");
    let json = serde_json::from_slice(&bytes)
        .unwrap_or_else(|_| Value::String(String::from_utf8_lossy(&bytes).into_owned()));
    Reply {
        status,
        x_cache,
        tier,
        headers,
        json,
    }
}

pub async fn get(server: &Server, path: &str) -> Reply {
    send(client().get(server.url(path))).await
}

/// The figures of one cache from `/performance` (zeros if it was never used).
pub async fn cache_stats(server: &Server, name: &str) -> Value {
    let report = get(server, "/performance").await.json;
    report["caches"]
        .as_array()
        .and_then(|caches| caches.iter().find(|c| c["name"] == name).cloned())
        .unwrap_or_else(
            || serde_json::json!({ "name": name, "hits": 0, "misses": 0, "errors_not_cached": 0 }),
        )
}

pub fn counter(stats: &Value, field: &str) -> u64 {
    stats[field]
        .as_u64()
        .unwrap_or_else(|| panic!("`{field}` in {stats}"))
}

/// Asserts an error response: the status and the JSON `{error, message}` shape.
pub fn assert_error(reply: &Reply, status: u16, code: &str) {
    assert_eq!(reply.status, status, "body: {}", reply.json);
    assert_eq!(reply.json["error"], code, "body: {}", reply.json);
    assert!(
        reply.json["message"]
            .as_str()
            .is_some_and(|m| !m.is_empty()),
        "body: {}",
        reply.json
    );
}
