//! Trusted hosts: a request is served only if every host it names is allowed.
//!
//! A request can name its host twice: in the `Host` header and, in absolute form
//! (`GET http://example.com/path HTTP/1.1`) or in HTTP/2, in the request target's
//! authority. Both must be allowed, a request with more than one `Host` header is refused,
//! and a host is read strictly: one trailing dot (`localhost.`) is the same name, two
//! (`localhost..`), an empty label, a user-info part or any character outside a host name
//! is a `400`.

use std::sync::Arc;

use axum::extract::{Request, State};
use axum::http::header;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

use crate::error::ApiError;
use crate::net::{normalize_name, parse_host_pattern};

/// The host names the service answers to.
///
/// ```
/// use example_api::middleware::AllowedHosts;
/// let hosts = AllowedHosts::new(&["localhost".into(), "*.example.com".into()]);
/// assert!(hosts.allows("LocalHost:8080"));
/// assert!(hosts.allows("localhost."));
/// assert!(hosts.allows("api.example.com"));
/// assert!(!hosts.allows("localhost.."));
/// assert!(!hosts.allows("example.com"));
/// ```
#[derive(Debug, Clone, Default)]
pub struct AllowedHosts {
    any: bool,
    exact: Vec<String>,
    /// `*.example.com` is kept as `.example.com`.
    suffixes: Vec<String>,
}

impl AllowedHosts {
    /// From patterns: `name`, `*.domain` (any subdomain) or `*` (anything). Patterns
    /// that [`parse_host_pattern`](crate::net::parse_host_pattern) refuses are ignored (the configuration refuses them
    /// before they get here).
    pub fn new(patterns: &[String]) -> Self {
        let mut hosts = Self::default();
        for p in patterns.iter().filter_map(|p| parse_host_pattern(p).ok()) {
            if p == "*" {
                hosts.any = true;
            } else if let Some(domain) = p.strip_prefix("*.") {
                hosts.suffixes.push(format!(".{domain}"));
            } else if !p.is_empty() {
                hosts.exact.push(p);
            }
        }
        hosts
    }

    /// Whether a `Host` header value (or a request target's authority) is allowed: its
    /// port is ignored, the match is case-insensitive, and the name must be a well-formed
    /// host (see the module documentation).
    pub fn allows(&self, host: &str) -> bool {
        let Some(name) = host_name(host) else {
            return false;
        };
        self.any
            || self.exact.contains(&name)
            || self
                .suffixes
                .iter()
                .any(|s| name.len() > s.len() && name.ends_with(s.as_str()))
    }
}

/// The normalised name of a `host[:port]`, or `None` if it is not a well-formed host:
/// lowercase, one trailing dot removed.
fn host_name(host: &str) -> Option<String> {
    let name = strip_port(host)?;
    normalize_name(name)
}

/// `host[:port]` without the port; `None` for a malformed port.
fn strip_port(host: &str) -> Option<&str> {
    if host.starts_with('[') {
        // [::1]:8080 -> [::1]
        let end = host.find(']')?;
        let rest = &host[end + 1..];
        let port_ok = rest.is_empty() || rest.strip_prefix(':').is_some_and(valid_port);
        return port_ok.then(|| &host[..=end]);
    }
    match host.split_once(':') {
        Some((name, port)) if valid_port(port) => Some(name),
        Some(_) => None,
        None => Some(host),
    }
}

fn valid_port(port: &str) -> bool {
    port.len() <= 5 && port.bytes().all(|b| b.is_ascii_digit())
}

/// At most 100 characters of `s`, for an error message.
fn shown(s: &str) -> String {
    let mut out: String = s.chars().take(100).collect();
    if out.len() < s.len() {
        out.push('…');
    }
    out
}

/// Rejects, with a `400`, a request with more than one `Host` header, without any host,
/// or naming a host (in `Host` or in the request target) that is not allowed.
pub(super) async fn trusted_host(
    State(hosts): State<Arc<AllowedHosts>>,
    req: Request,
    next: Next,
) -> Response {
    match check(&hosts, &req) {
        Ok(()) => next.run(req).await,
        Err(message) => ApiError::BadRequest(message).into_response(),
    }
}

fn check(hosts: &AllowedHosts, req: &Request) -> Result<(), String> {
    let mut values = req.headers().get_all(header::HOST).iter();
    let header = values.next();
    if values.next().is_some() {
        return Err("more than one Host header".into());
    }
    let header = header
        .map(|v| {
            v.to_str()
                .map_err(|_| "the Host header is not ASCII".to_owned())
        })
        .transpose()?;
    let target = req.uri().authority().map(|a| a.as_str());
    if header.is_none() && target.is_none() {
        return Err("missing Host header".into());
    }
    for (host, source) in [(header, "Host header"), (target, "request target")] {
        if let Some(host) = host
            && !hosts.allows(host)
        {
            return Err(format!("host `{}` ({source}) is not allowed", shown(host)));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hosts(list: &[&str]) -> AllowedHosts {
        AllowedHosts::new(&list.iter().map(|s| (*s).to_owned()).collect::<Vec<_>>())
    }

    #[test]
    fn hosts_ignore_port_and_case() {
        let h = hosts(&["localhost", "127.0.0.1", "*.Example.com", "[::1]"]);
        assert!(h.allows("localhost"));
        assert!(h.allows("LOCALHOST:8080"));
        assert!(h.allows("localhost:"));
        assert!(h.allows("127.0.0.1:1"));
        assert!(h.allows("api.example.com"));
        assert!(h.allows("a.b.EXAMPLE.com:443"));
        assert!(h.allows("api.example.com.:443"));
        assert!(h.allows("[::1]:8080"));
        assert!(h.allows("[::1]"));
        assert!(
            !h.allows("example.com"),
            "a wildcard matches subdomains only"
        );
        assert!(!h.allows("evilexample.com"));
        assert!(!h.allows("localhost.evil.com"));
        assert!(!h.allows(""));
        assert!(!h.allows(":80"));
    }

    #[test]
    fn malformed_hosts_are_refused() {
        let h = hosts(&["localhost", "*.example.com", "[::1]"]);
        assert!(h.allows("localhost."), "one trailing dot is the same name");
        for bad in [
            "localhost..",
            "localhost...",
            ".localhost",
            "local..host",
            "user@localhost",
            "localhost:80:80",
            "localhost:http",
            "localhost:123456",
            "localhost/x",
            "local host",
            "api..example.com",
            "[::1",
            "[::1]x",
            "[not-ip]",
            ".",
        ] {
            assert!(!h.allows(bad), "{bad:?}");
        }
        assert!(!hosts(&["*"]).allows("localhost.."), "even with `*`");
    }

    #[test]
    fn star_allows_every_well_formed_host() {
        assert!(hosts(&["*"]).allows("anything.test:1"));
        assert!(!hosts(&[]).allows("localhost"));
    }
}
