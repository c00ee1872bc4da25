//! Host names and IP networks as the configuration and the middleware read them: one
//! place for both, so that the configuration can check its values without importing the
//! middleware that uses them.

use std::net::IpAddr;

use ipnet::IpNet;

/// Lowercases a host name and removes one trailing dot; `None` unless it is an IPv6
/// literal or dot-separated non-empty labels of letters, digits, `-` and `_`.
pub(crate) fn normalize_name(name: &str) -> Option<String> {
    if let Some(inner) = name.strip_prefix('[') {
        let inner = inner.strip_suffix(']')?;
        inner.parse::<std::net::Ipv6Addr>().ok()?;
        return Some(name.to_ascii_lowercase());
    }
    let name = name.strip_suffix('.').unwrap_or(name);
    let well_formed = !name.is_empty()
        && name.len() <= 253
        && name.split('.').all(|label| {
            !label.is_empty()
                && label.len() <= 63
                && label
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
        });
    well_formed.then(|| name.to_ascii_lowercase())
}

/// Checks one `--allowed-hosts` pattern: `*`, `*.domain` or a host name (one trailing
/// dot allowed, as in requests; a port is refused: ports are ignored). Returns it
/// normalised.
///
/// ```
/// use example_api::net::parse_host_pattern;
/// assert_eq!(parse_host_pattern(" *.Example.com. ").unwrap(), "*.example.com");
/// assert!(parse_host_pattern("localhost..").unwrap_err().contains("localhost.."));
/// ```
pub fn parse_host_pattern(pattern: &str) -> Result<String, String> {
    let p = pattern.trim();
    if p == "*" || p.is_empty() {
        return Ok(p.to_owned());
    }
    let (prefix, name) = match p.strip_prefix("*.") {
        Some(domain) => ("*.", domain),
        None => ("", p),
    };
    match normalize_name(name) {
        Some(n) => Ok(format!("{prefix}{n}")),
        None => Err(format!(
            "`{pattern}` is not a host name pattern (expected `name`, `*.domain` or `*`, \
             without a port; one trailing dot at most)"
        )),
    }
}

/// Parses one `--trusted-proxies` entry: a network in CIDR notation (`10.0.0.0/8`,
/// `fd00::/8`) or a single address (`192.0.2.1`, `::1`), which stands for itself alone.
///
/// ```
/// use example_api::net::parse_proxy_network;
/// assert_eq!(parse_proxy_network("10.0.0.0/8").unwrap().to_string(), "10.0.0.0/8");
/// assert_eq!(parse_proxy_network(" ::1 ").unwrap().to_string(), "::1/128");
/// assert!(parse_proxy_network("10.0.0.0/33").unwrap_err().contains("10.0.0.0/33"));
/// ```
pub fn parse_proxy_network(s: &str) -> Result<IpNet, String> {
    let s = s.trim();
    if let Ok(net) = s.parse::<IpNet>() {
        return Ok(net.trunc());
    }
    s.parse::<IpAddr>().map(IpNet::from).map_err(|_| {
        format!(
            "`{s}` is not an IP network (expected CIDR such as 10.0.0.0/8 or fd00::/8, or \
             one address)"
        )
    })
}

/// The reverse proxies whose forwarding headers are believed (`--trusted-proxies`).
///
/// ```
/// use example_api::net::{TrustedProxies, parse_proxy_network};
/// let proxies = TrustedProxies::new(vec![parse_proxy_network("10.0.0.0/8").unwrap()]);
/// assert!(proxies.contains("10.1.2.3".parse().unwrap()));
/// assert!(proxies.contains("::ffff:10.1.2.3".parse().unwrap()), "IPv4-mapped");
/// assert!(!proxies.contains("192.0.2.1".parse().unwrap()));
/// assert!(TrustedProxies::default().is_empty());
/// ```
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TrustedProxies(Vec<IpNet>);

impl TrustedProxies {
    /// These networks.
    pub fn new(networks: Vec<IpNet>) -> Self {
        Self(networks)
    }

    /// Whether no proxy is trusted (forwarding headers are never read).
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// Whether `addr` (an IPv4-mapped IPv6 address as its IPv4 address) is in one of the
    /// networks.
    pub fn contains(&self, addr: IpAddr) -> bool {
        let addr = canonical(addr);
        self.0.iter().any(|net| net.contains(&addr))
    }
}

/// An IPv4-mapped IPv6 address as the IPv4 address it is; any other as it is.
pub fn canonical(addr: IpAddr) -> IpAddr {
    match addr {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(addr, IpAddr::V4),
        IpAddr::V4(_) => addr,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn patterns_are_checked() {
        assert_eq!(parse_host_pattern("LocalHost.").as_deref(), Ok("localhost"));
        assert_eq!(parse_host_pattern("*").as_deref(), Ok("*"));
        for bad in ["localhost..", "local host", "localhost:8080", "*.", "a*.b"] {
            let err = parse_host_pattern(bad).expect_err(bad);
            assert!(err.contains(bad), "{err}");
        }
    }

    #[test]
    fn proxy_networks_parse() {
        let net = |s: &str| parse_proxy_network(s).expect(s).to_string();
        assert_eq!(net("10.1.2.3/8"), "10.0.0.0/8", "host bits are dropped");
        assert_eq!(net("192.0.2.1"), "192.0.2.1/32");
        assert_eq!(net("2001:db8::/32"), "2001:db8::/32");
        for bad in [
            "",
            "10.0.0.0/",
            "10.0.0/8",
            "fd00::/129",
            "localhost",
            "10.0.0.0/8/8",
        ] {
            assert!(parse_proxy_network(bad).is_err(), "{bad:?}");
        }
        let proxies = TrustedProxies::new(vec![
            parse_proxy_network("10.0.0.0/8").expect("v4"),
            parse_proxy_network("fd00::/8").expect("v6"),
        ]);
        assert!(proxies.contains("fd12::1".parse().expect("v6")));
        assert!(!proxies.contains("fe80::1".parse().expect("v6")));
        assert!(!proxies.contains("11.0.0.1".parse().expect("v4")));
    }
}
