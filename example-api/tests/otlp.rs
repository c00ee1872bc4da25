//! `--otlp-endpoint` end to end (feature `otlp`): the real binary exports its spans over
//! OTLP/HTTP to a collector on loopback, a tiny HTTP listener here that takes
//! `POST /v1/traces` and keeps the bodies.
//!
//! The bodies are protobuf `ExportTraceServiceRequest`s; span names are length-prefixed
//! strings in them, so the test looks for each expected name's bytes (the parent ids
//! are checked by `tests/otel.rs` over the SDK's in-memory exporter).
//!
//! `cargo test -p example-api --features otlp --test otlp`

#![cfg(feature = "otlp")]

use std::io::{BufRead as _, BufReader, Read as _, Write as _};
use std::net::{TcpListener, TcpStream};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// What the collector received: (request line, body) per request.
type Received = Arc<Mutex<Vec<(String, Vec<u8>)>>>;

/// A collector on 127.0.0.1 that answers every request `200` with an empty protobuf
/// body (an `ExportTraceServiceResponse` with no partial success) and keeps it.
fn collector() -> (u16, Received) {
    let listener = TcpListener::bind("127.0.0.1:0").expect("collector binds");
    let port = listener.local_addr().expect("address").port();
    let received: Received = Arc::default();
    let keep = Arc::clone(&received);
    std::thread::spawn(move || {
        for stream in listener.incoming().flatten() {
            let keep = Arc::clone(&keep);
            std::thread::spawn(move || serve(stream, &keep));
        }
    });
    (port, received)
}

/// Reads requests from one connection (kept alive) until it closes.
fn serve(stream: TcpStream, keep: &Received) {
    let mut reader = BufReader::new(stream.try_clone().expect("clone"));
    let mut out = stream;
    loop {
        let mut request_line = String::new();
        if reader.read_line(&mut request_line).unwrap_or(0) == 0 {
            return;
        }
        let mut length = 0usize;
        loop {
            let mut line = String::new();
            if reader.read_line(&mut line).unwrap_or(0) == 0 {
                return;
            }
            let line = line.trim_end();
            if line.is_empty() {
                break;
            }
            if let Some((name, value)) = line.split_once(':')
                && name.eq_ignore_ascii_case("content-length")
            {
                length = value.trim().parse().expect("a Content-Length");
            }
        }
        let mut body = vec![0; length];
        if reader.read_exact(&mut body).is_err() {
            return;
        }
        keep.lock()
            .expect("lock")
            .push((request_line.trim_end().to_owned(), body));
        let answer =
            "HTTP/1.1 200 OK\r\ncontent-type: application/x-protobuf\r\ncontent-length: 0\r\n\r\n";
        if out.write_all(answer.as_bytes()).is_err() {
            return;
        }
    }
}

/// The service, killed if the test fails before it stops it.
struct Service(Child);

impl Drop for Service {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// A plain HTTP/1.1 GET on a fresh connection; the whole response.
fn get(addr: &str, path: &str) -> String {
    let mut s = TcpStream::connect(addr).expect("the service accepts");
    write!(
        s,
        "GET {path} HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n"
    )
    .expect("request sent");
    let mut response = String::new();
    s.read_to_string(&mut response).expect("response read");
    response
}

#[test]
fn the_binary_exports_a_requests_spans_to_an_otlp_collector() {
    let (port, received) = collector();
    let dir = std::env::temp_dir().join(format!("example-api-otlp-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("test dir");
    let db = format!("sqlite://{}/test.db?mode=rwc", dir.display());
    let mut child = Command::new(env!("CARGO_BIN_EXE_example-api"))
        .args([
            "--bind",
            "127.0.0.1:0",
            "--database-url",
            &db,
            // The small seed of `tests/common` (the default one takes minutes in debug).
            "--seed-channels",
            "6",
            "--seed-posts",
            "8",
            "--seed-days",
            "5",
            "--seed-track-hours",
            "72",
            "--rate-limit",
            "0",
            "--no-warm",
            "--allowed-hosts",
            "localhost",
            "--otlp-endpoint",
            &format!("http://127.0.0.1:{port}"),
        ])
        .env_clear()
        .env("RUST_LOG", "info")
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("the binary starts");
    let logs = child.stdout.take().expect("stdout");
    let service = Service(child);

    // The ready line names the address; the rest of the log is drained in the background.
    let (tx, rx) = std::sync::mpsc::channel();
    let log: Arc<Mutex<Vec<String>>> = Arc::default();
    let lines = Arc::clone(&log);
    std::thread::spawn(move || {
        for line in BufReader::new(logs).lines().map_while(Result::ok) {
            lines.lock().expect("lock").push(line.clone());
            if let Some(rest) = line.split("listening on http://").nth(1) {
                let addr: String = rest.chars().take_while(|c| !c.is_whitespace()).collect();
                let _ = tx.send(addr);
            }
        }
    });
    let addr = rx
        .recv_timeout(Duration::from_secs(60))
        .unwrap_or_else(|e| panic!("the service is ready ({e}): {:?}", log.lock()));

    let response = get(&addr, "/analytics/demo/top-posts?period=2d&limit=7");
    assert!(response.starts_with("HTTP/1.1 200"), "{response}");
    assert!(
        response.to_ascii_lowercase().contains("x-cache: miss"),
        "{response}"
    );

    // SIGTERM: a graceful stop, whose last step flushes the batch of spans.
    let pid = service.0.id().to_string();
    let killed = Command::new("kill")
        .args(["-TERM", &pid])
        .status()
        .expect("kill runs");
    assert!(killed.success());
    let mut service = service;
    let deadline = Instant::now() + Duration::from_secs(30);
    let status = loop {
        if let Some(status) = service.0.try_wait().expect("wait") {
            break status;
        }
        assert!(Instant::now() < deadline, "the service stops on SIGTERM");
        std::thread::sleep(Duration::from_millis(50));
    };
    assert!(status.success(), "{status:?}");
    let _ = std::fs::remove_dir_all(&dir);

    let received = received.lock().expect("lock");
    assert!(!received.is_empty(), "no export reached the collector");
    for (line, body) in received.iter() {
        assert!(line.starts_with("POST /v1/traces "), "{line}");
        assert!(!body.is_empty(), "an empty export");
    }
    let all: Vec<u8> = received.iter().flat_map(|(_, b)| b.clone()).collect();
    let has = |s: &str| all.windows(s.len()).any(|w| w == s.as_bytes());
    for name in [
        "request",
        "analytics_top_posts",
        "cache",
        "cache.compute",
        "db.top_posts",
        "demo_top_posts",
        "example-api",
    ] {
        assert!(has(name), "{name} is in no export");
    }
    assert!(has("miss"), "the cache outcome");
}
