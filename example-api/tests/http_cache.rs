//! HTTP-level caching through the real server: stored gzip/brotli variants decoded by real
//! clients (curl, and flate2/brotli on the raw bytes), `Accept-Encoding` q-values, ETag and
//! 304, `Cache-Control` from the entry's remaining TTL, `private` for user-scoped answers,
//! `X-Cache-Tier`.

mod common;

use std::io::Read as _;
use std::process::Command;

use common::{Server, client};
use reqwest::header::HeaderMap;

fn server() -> &'static Server {
    common::server_with(&["--rate-limit", "0"])
}

/// A large cached answer (about 4 KiB), and a small one.
const LARGE: &str = "/analytics/demo/best-times";
const SMALL: &str = "/analytics/channels/1/metrics";

struct Wire {
    status: u16,
    headers: HeaderMap,
    body: Vec<u8>,
}

impl Wire {
    fn header(&self, name: &str) -> &str {
        self.headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
    }

    fn vary(&self) -> Vec<String> {
        self.headers
            .get_all("vary")
            .iter()
            .filter_map(|v| v.to_str().ok())
            .flat_map(|v| v.split(','))
            .map(|v| v.trim().to_ascii_lowercase())
            .collect()
    }

    fn max_age(&self) -> u64 {
        let cc = self.header("cache-control");
        cc.split(',')
            .find_map(|d| d.trim().strip_prefix("max-age="))
            .and_then(|n| n.parse().ok())
            .unwrap_or_else(|| panic!("no max-age in {cc:?}"))
    }
}

/// The bytes as sent (this client decompresses nothing).
async fn fetch(path: &str, headers: &[(&str, &str)]) -> Wire {
    let mut req = client().get(server().url(path));
    for (k, v) in headers {
        req = req.header(*k, *v);
    }
    let resp = req.send().await.expect("sent");
    Wire {
        status: resp.status().as_u16(),
        headers: resp.headers().clone(),
        body: resp.bytes().await.expect("body").to_vec(),
    }
}

fn gunzip(bytes: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    flate2::read::GzDecoder::new(bytes)
        .read_to_end(&mut out)
        .expect("valid gzip");
    out
}

fn unbrotli(bytes: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    brotli::Decompressor::new(bytes, 4096)
        .read_to_end(&mut out)
        .expect("valid brotli");
    out
}

/// curl, a real client: `--compressed` asks for every coding it decodes and decodes it.
fn curl(path: &str, accept: Option<&str>) -> (String, Vec<u8>) {
    let dir = std::env::temp_dir().join(format!("http-cache-curl-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    let headers = dir.join(format!("h{}", fastrand::u32(..)));
    let mut cmd = Command::new("curl");
    cmd.args(["-s", "--compressed", "-D"]).arg(&headers);
    if let Some(a) = accept {
        cmd.args(["-H", &format!("Accept-Encoding: {a}")]);
    }
    let out = cmd.arg(server().url(path)).output().expect("curl runs");
    assert!(out.status.success(), "curl failed: {out:?}");
    let head = std::fs::read_to_string(&headers).expect("headers written");
    let _ = std::fs::remove_file(&headers);
    let encoding = head
        .lines()
        .find_map(|l| {
            let (k, v) = l.split_once(':')?;
            k.eq_ignore_ascii_case("content-encoding")
                .then(|| v.trim().to_owned())
        })
        .unwrap_or_default();
    (encoding, out.stdout)
}

#[tokio::test]
async fn stored_variants_decode_to_the_plain_body_in_real_clients() {
    let plain = fetch(LARGE, &[]).await;
    assert_eq!(plain.status, 200);
    assert_eq!(plain.header("content-encoding"), "");
    assert!(plain.body.len() >= 1000, "{} bytes", plain.body.len());

    let gz = fetch(LARGE, &[("accept-encoding", "gzip")]).await;
    assert_eq!(gz.header("content-encoding"), "gzip");
    assert!(gz.body.len() < plain.body.len() / 2, "{}", gz.body.len());
    assert_eq!(
        gunzip(&gz.body),
        plain.body,
        "decoded once: not compressed twice"
    );
    assert!(gz.vary().contains(&"accept-encoding".to_owned()));

    let br = fetch(LARGE, &[("accept-encoding", "br")]).await;
    assert_eq!(br.header("content-encoding"), "br");
    assert_eq!(unbrotli(&br.body), plain.body);
    assert!(
        br.body.len() < gz.body.len(),
        "brotli is the smaller variant"
    );

    // Three representations, three strong validators.
    let tags = [plain.header("etag"), gz.header("etag"), br.header("etag")];
    assert!(tags.iter().all(|t| t.starts_with('"') && t.ends_with('"')));
    assert!(tags[0] != tags[1] && tags[1] != tags[2] && tags[0] != tags[2]);

    let (coding, body) = curl(LARGE, None);
    assert_eq!(coding, "br", "curl offers br; we store no zstd");
    assert_eq!(body, plain.body);
    let (coding, body) = curl(LARGE, Some("gzip"));
    assert_eq!((coding.as_str(), body), ("gzip", plain.body.clone()));
    let (coding, body) = curl(LARGE, Some("identity"));
    assert_eq!((coding.as_str(), body), ("", plain.body.clone()));
}

#[tokio::test]
async fn accept_encoding_q_values_choose_the_variant() {
    let cases = [
        ("gzip;q=0.9, br;q=0.5", "gzip"),
        ("br;q=0.8, gzip;q=0.8", "br"),
        ("gzip, deflate, br, zstd", "br"),
        ("identity;q=0", ""),
        ("identity;q=0, gzip;q=0.1", "gzip"),
        ("gzip;q=0", ""),
        ("gzip;q=0, *", "br"),
        ("*;q=0", ""),
        ("br;q=0, *;q=0.5", "gzip"),
        ("identity, gzip;q=0.5", ""),
        ("zstd", ""),
        ("gzip;q=2", ""),
    ];
    let plain = fetch(LARGE, &[]).await.body;
    for (accept, want) in cases {
        let r = fetch(LARGE, &[("accept-encoding", accept)]).await;
        assert_eq!(r.status, 200, "{accept}");
        assert_eq!(
            r.header("content-encoding"),
            want,
            "Accept-Encoding: {accept}"
        );
        let decoded = match want {
            "gzip" => gunzip(&r.body),
            "br" => unbrotli(&r.body),
            _ => r.body.clone(),
        };
        assert_eq!(decoded, plain, "Accept-Encoding: {accept}");
    }
    // Under 1000 bytes there are no variants: plain, whatever is asked.
    let small = fetch(SMALL, &[("accept-encoding", "br, gzip")]).await;
    assert_eq!(small.status, 200);
    assert!(small.body.len() < 1000);
    assert_eq!(small.header("content-encoding"), "");
}

#[tokio::test]
async fn if_none_match_answers_304_with_the_same_validators() {
    let first = fetch(LARGE, &[("accept-encoding", "gzip")]).await;
    let etag = first.header("etag").to_owned();
    for inm in [
        etag.clone(),
        format!("W/{etag}"),
        format!("\"nope\", {etag}"),
        "*".to_owned(),
    ] {
        let r = fetch(
            LARGE,
            &[("accept-encoding", "gzip"), ("if-none-match", &inm)],
        )
        .await;
        assert_eq!(r.status, 304, "If-None-Match: {inm}");
        assert!(r.body.is_empty(), "no body");
        assert_eq!(r.header("etag"), etag);
        assert_eq!(r.vary(), first.vary());
        assert!(r.max_age().abs_diff(first.max_age()) <= 1);
        assert!(r.header("cache-control").starts_with("public, "));
        assert_eq!(r.header("content-encoding"), "");
    }
    let other = fetch(
        LARGE,
        &[("accept-encoding", "gzip"), ("if-none-match", "\"nope\"")],
    )
    .await;
    assert_eq!(other.status, 200);
    assert_eq!(gunzip(&other.body), fetch(LARGE, &[]).await.body);
    // The gzip tag names the gzip bytes, not the plain ones.
    let plain = fetch(LARGE, &[("if-none-match", &etag)]).await;
    assert_eq!(plain.status, 200);
}

#[tokio::test]
async fn cache_control_follows_the_remaining_ttl() {
    // demo_best_times lives 1800 s.
    let first = fetch(LARGE, &[]).await;
    assert!(
        first
            .header("cache-control")
            .starts_with("public, max-age="),
        "{}",
        first.header("cache-control")
    );
    let max_age = first.max_age();
    let age: u64 = first.header("age").parse().expect("Age");
    assert!(
        max_age <= 1800 && max_age + age >= 1799,
        "{max_age} + {age}"
    );
    tokio::time::sleep(std::time::Duration::from_millis(1100)).await;
    let later = fetch(LARGE, &[]).await;
    assert_eq!(later.header("x-cache"), "HIT");
    assert_eq!(later.header("x-cache-tier"), "L1");
    assert!(later.max_age() < max_age, "{} < {max_age}", later.max_age());
    let later_age: u64 = later.header("age").parse().expect("Age");
    assert!(later_age > age, "{later_age} > {age}");

    // Answers that are not cached carry no cache headers of ours.
    let health = fetch("/health", &[]).await;
    assert_eq!(health.header("etag"), "");
    assert_eq!(health.header("cache-control"), "");
}

#[tokio::test]
async fn user_scoped_answers_are_private_and_vary_on_authorization() {
    let s = server();
    let alice = format!("Bearer {}", s.token("alice"));
    let bob = format!("Bearer {}", s.token("bob"));
    let a = fetch("/channels", &[("authorization", &alice)]).await;
    let b = fetch("/channels", &[("authorization", &bob)]).await;
    assert_eq!((a.status, b.status), (200, 200));
    for r in [&a, &b] {
        assert!(
            r.header("cache-control").starts_with("private, max-age="),
            "{}",
            r.header("cache-control")
        );
        assert!(
            r.vary().contains(&"authorization".to_owned()),
            "{:?}",
            r.vary()
        );
    }
    assert_ne!(a.body, b.body);
    assert_ne!(a.header("etag"), b.header("etag"));
    // Bob's validator is not Alice's: she gets her own answer, not a 304.
    let cross = fetch(
        "/channels",
        &[
            ("authorization", &alice),
            ("if-none-match", b.header("etag")),
        ],
    )
    .await;
    assert_eq!(cross.status, 200);
    assert_eq!(cross.body, a.body);
    let own = fetch(
        "/channels",
        &[
            ("authorization", &alice),
            ("if-none-match", a.header("etag")),
        ],
    )
    .await;
    assert_eq!(own.status, 304);
}

#[tokio::test]
async fn client_no_cache_does_not_recompute_by_default() {
    let _ = fetch(SMALL, &[]).await;
    let r = fetch(
        SMALL,
        &[("cache-control", "no-cache"), ("pragma", "no-cache")],
    )
    .await;
    assert_eq!(r.status, 200);
    assert_eq!(
        r.header("x-cache"),
        "HIT",
        "off by default: an abuse vector"
    );
    assert_eq!(r.header("x-cache-tier"), "L1");
}
