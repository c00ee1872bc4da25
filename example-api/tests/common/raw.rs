//! HTTP/1.1 over a bare TCP socket, for what HTTP clients would normalise away (absolute
//! request targets, repeated `Host` headers, trailing dots) and for connections that
//! misbehave (silent, half-sent, idle). Only loopback addresses are used.

use std::net::SocketAddr;
use std::time::Duration;

use serde_json::Value;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpSocket, TcpStream};

/// One parsed response.
#[derive(Debug)]
pub struct RawResponse {
    pub status: u16,
    /// Header names lowercased, in order.
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl RawResponse {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }

    pub fn json(&self) -> Value {
        serde_json::from_slice(&self.body).unwrap_or_else(|_| {
            panic!(
                "{} with a body that is not JSON: {:?}",
                self.status,
                String::from_utf8_lossy(&self.body)
            )
        })
    }

    /// Asserts a JSON error of the service's shape with this status and code.
    pub fn assert_error(&self, status: u16, code: &str) {
        assert_eq!(self.status, status, "{self:?}");
        assert!(
            self.header("content-type")
                .is_some_and(|t| t.starts_with("application/json")),
            "{self:?}"
        );
        let json = self.json();
        assert_eq!(json["error"], code, "{json}");
        assert!(
            json["message"].as_str().is_some_and(|m| !m.is_empty()),
            "{json}"
        );
    }

    /// Whether the server said it will close the connection after this response.
    pub fn closes(&self) -> bool {
        self.header("connection")
            .is_some_and(|v| v.eq_ignore_ascii_case("close"))
    }
}

/// `http://127.0.0.1:PORT` -> the socket address.
pub fn addr(base: &str) -> SocketAddr {
    base.trim_start_matches("http://")
        .parse()
        .expect("base is http://IP:PORT")
}

pub async fn connect(addr: SocketAddr) -> TcpStream {
    TcpStream::connect(addr).await.expect("connect")
}

/// Connects from another loopback address (another client, as the server sees it).
pub async fn connect_from(source: &str, addr: SocketAddr) -> TcpStream {
    let socket = TcpSocket::new_v4().expect("socket");
    socket
        .bind(format!("{source}:0").parse().expect("source address"))
        .expect("bind the source address");
    socket.connect(addr).await.expect("connect")
}

/// Sends `request` on a new connection and reads one response.
pub async fn exchange(addr: SocketAddr, request: &str) -> RawResponse {
    let mut stream = connect(addr).await;
    stream
        .write_all(request.as_bytes())
        .await
        .expect("request written");
    read_response(&mut stream)
        .await
        .expect("a complete response")
}

/// `GET path` with these extra header lines (each without CRLF).
pub fn get(path: &str, headers: &[&str]) -> String {
    let mut request = format!("GET {path} HTTP/1.1\r\n");
    for h in headers {
        request.push_str(h);
        request.push_str("\r\n");
    }
    request.push_str("\r\n");
    request
}

/// Why no complete response could be read.
#[derive(Debug, PartialEq, Eq)]
pub enum ReadError {
    /// The connection ended before any byte of a response.
    Eof,
    /// The connection ended, or broke, inside a response.
    Truncated(String),
    /// Nothing arrived in time.
    TimedOut,
}

/// Reads one response (its body by `Content-Length`), within 10 s.
pub async fn read_response(stream: &mut TcpStream) -> Result<RawResponse, ReadError> {
    tokio::time::timeout(Duration::from_secs(10), read_response_inner(stream))
        .await
        .unwrap_or(Err(ReadError::TimedOut))
}

async fn read_response_inner(stream: &mut TcpStream) -> Result<RawResponse, ReadError> {
    let mut buf = Vec::new();
    let head_end = loop {
        if let Some(at) = find(&buf, b"\r\n\r\n") {
            break at;
        }
        let mut chunk = [0u8; 4096];
        match stream.read(&mut chunk).await {
            Ok(0) if buf.is_empty() => return Err(ReadError::Eof),
            Ok(0) => return Err(ReadError::Truncated(lossy(&buf))),
            Ok(n) => buf.extend_from_slice(&chunk[..n]),
            // A reset between responses is an end of the connection too.
            Err(_) if buf.is_empty() => return Err(ReadError::Eof),
            Err(e) => return Err(ReadError::Truncated(format!("{e}: {}", lossy(&buf)))),
        }
    };
    let head = String::from_utf8_lossy(&buf[..head_end]).into_owned();
    let mut lines = head.split("\r\n");
    let status_line = lines.next().unwrap_or_default();
    let status = status_line
        .split(' ')
        .nth(1)
        .and_then(|s| s.parse().ok())
        .ok_or_else(|| ReadError::Truncated(format!("bad status line {status_line:?}")))?;
    let headers: Vec<(String, String)> = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(n, v)| (n.trim().to_ascii_lowercase(), v.trim().to_owned()))
        .collect();
    let length: usize = headers
        .iter()
        .find(|(n, _)| n == "content-length")
        .and_then(|(_, v)| v.parse().ok())
        .unwrap_or(0);
    let mut body = buf[head_end + 4..].to_vec();
    while body.len() < length {
        let mut chunk = vec![0u8; (length - body.len()).min(65536)];
        match stream.read(&mut chunk).await {
            Ok(0) | Err(_) => {
                return Err(ReadError::Truncated(format!(
                    "{status}: {} of {length} body bytes",
                    body.len()
                )));
            }
            Ok(n) => body.extend_from_slice(&chunk[..n]),
        }
    }
    body.truncate(length);
    Ok(RawResponse {
        status,
        headers,
        body,
    })
}

/// Waits up to `limit` for the server to close `stream`; returns how long it took, or
/// `None` if it was still open. Bytes the server sends meanwhile are discarded.
pub async fn closed_within(stream: &mut TcpStream, limit: Duration) -> Option<Duration> {
    let started = std::time::Instant::now();
    let mut sink = [0u8; 4096];
    let wait = async {
        loop {
            match stream.read(&mut sink).await {
                Ok(0) | Err(_) => return,
                Ok(_) => {}
            }
        }
    };
    tokio::time::timeout(limit, wait)
        .await
        .ok()
        .map(|()| started.elapsed())
}

/// Whether the server has not closed `stream` yet (nothing to read, no end of stream).
pub fn is_open(stream: &TcpStream) -> bool {
    let mut byte = [0u8; 1];
    matches!(stream.try_read(&mut byte), Err(e) if e.kind() == std::io::ErrorKind::WouldBlock)
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).position(|w| w == needle)
}

fn lossy(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}
