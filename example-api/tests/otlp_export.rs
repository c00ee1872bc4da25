//! `--otlp-endpoint` end to end: the real service, started with the flag pointing at a
//! collector listening on loopback (a small HTTP server in this test, speaking what an
//! OpenTelemetry collector takes on port 4318), sends its spans there as OTLP/HTTP with
//! protobuf: `POST /v1/traces`, `Content-Type: application/x-protobuf`, the spans of a
//! miss and a hit in the bodies. A graceful stop (SIGTERM) flushes what the batch
//! exporter still holds.
//!
//! The bodies are not decoded (that would add the protocol's types to every test build);
//! protobuf keeps strings as their bytes, so span names and attribute keys and values are
//! found in them as they are. The trace's shape (parents, attributes per span) is
//! checked by `otel.rs` through the SDK's in-memory exporter.
#![cfg(feature = "otlp")]

mod common;

use std::io::{BufRead as _, BufReader, Read as _, Write as _};
use std::net::{TcpListener, TcpStream};
use std::sync::mpsc;
use std::time::Duration;

use common::process::{self, Instance, TempDir};

/// One request the collector received.
struct Export {
    method: String,
    path: String,
    content_type: String,
    body: Vec<u8>,
}

/// Serves one connection's requests (the exporter's client keeps connections alive),
/// answering each with an empty OTLP success.
fn serve(stream: TcpStream, sink: &mpsc::Sender<Export>) -> std::io::Result<()> {
    let mut reader = BufReader::new(stream.try_clone()?);
    let mut out = stream;
    loop {
        let mut line = String::new();
        if reader.read_line(&mut line)? == 0 {
            return Ok(());
        }
        let mut parts = line.split_whitespace();
        let method = parts.next().unwrap_or_default().to_owned();
        let path = parts.next().unwrap_or_default().to_owned();
        let (mut length, mut content_type) = (0, String::new());
        loop {
            let mut header = String::new();
            reader.read_line(&mut header)?;
            let header = header.trim_end();
            if header.is_empty() {
                break;
            }
            if let Some((name, value)) = header.split_once(':') {
                match name.trim().to_ascii_lowercase().as_str() {
                    "content-length" => length = value.trim().parse().unwrap_or(0),
                    "content-type" => value.trim().clone_into(&mut content_type),
                    _ => {}
                }
            }
        }
        let mut body = vec![0; length];
        reader.read_exact(&mut body)?;
        let _ = sink.send(Export {
            method,
            path,
            content_type,
            body,
        });
        out.write_all(
            b"HTTP/1.1 200 OK\r\ncontent-type: application/x-protobuf\r\ncontent-length: 0\r\n\r\n",
        )?;
    }
}

/// A collector on a loopback port: its base URL and what it receives.
fn collector() -> (String, mpsc::Receiver<Export>) {
    let listener = TcpListener::bind("127.0.0.1:0").expect("a loopback port");
    let url = format!("http://{}", listener.local_addr().expect("its address"));
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        for stream in listener.incoming().flatten() {
            let tx = tx.clone();
            std::thread::spawn(move || serve(stream, &tx));
        }
    });
    (url, rx)
}

fn start(dir: &TempDir, otlp: &str) -> Instance {
    let mut args = process::sqlite_instance_args(dir.path());
    args.extend(["--no-warm", "--otlp-endpoint", otlp].map(str::to_owned));
    process::spawn("otlp", &args).wait_ready(Duration::from_secs(60))
}

fn contains(haystack: &[u8], needle: &str) -> bool {
    haystack
        .windows(needle.len())
        .any(|w| w == needle.as_bytes())
}

#[tokio::test]
async fn the_service_exports_its_spans_to_an_otlp_collector() {
    let (endpoint, received) = collector();
    let dir = TempDir::new("example-api-otlp");
    let mut api = start(&dir, &endpoint);
    let path = "/analytics/demo/top-posts";
    for expected in ["MISS", "HIT"] {
        let r = common::send(common::client().get(api.url(path))).await;
        assert_eq!(r.status, 200, "{}", r.json);
        assert_eq!(r.x_cache.as_deref(), Some(expected));
    }
    // A graceful stop flushes the batch exporter.
    api.terminate();
    let status = api.wait_exit(Duration::from_secs(20)).await;
    assert!(status.is_some_and(|s| s.success()), "{}", api.log());

    let exports: Vec<Export> = received.try_iter().collect();
    assert!(
        !exports.is_empty(),
        "nothing reached the collector\n{}",
        api.log()
    );
    for e in &exports {
        assert_eq!((e.method.as_str(), e.path.as_str()), ("POST", "/v1/traces"));
        assert_eq!(e.content_type, "application/x-protobuf");
    }
    let all: Vec<u8> = exports.iter().flat_map(|e| e.body.clone()).collect();
    for needle in [
        // The HTTP layer's span, the handler's timer, the cached call, its computation
        // and the query's timer under it.
        "request",
        "analytics_top_posts",
        "cache.compute",
        "db.top_posts",
        // The cached call's attributes, with both outcomes.
        "cache.name",
        "demo_top_posts",
        "cache.outcome",
        "miss",
        "hit",
        "cache.tier",
        "local",
        // The timer's fields, in OpenTelemetry's conventions.
        "code.function",
    ] {
        assert!(
            contains(&all, needle),
            "`{needle}` not in the {} exported bodies",
            exports.len()
        );
    }
}
