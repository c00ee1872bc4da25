//! Command-line and environment configuration.
//!
//! Every option has an environment fallback (shown by `--help`), so the service can be
//! configured either way; the command line wins.

use std::net::SocketAddr;
use std::str::FromStr;
use std::time::Duration;

use clap::Parser;

/// The service's configuration.
#[derive(Debug, Clone, Parser)]
#[command(
    name = "example-api",
    version,
    about = "Reference service for cache-runtime: analytics, AI content analysis and \
             channels over an embedded SQLite database, with #[cache_result] and \
             #[performance_timer] on the service layer."
)]
pub struct Config {
    /// Address to listen on (use port 0 for any free port).
    #[arg(long, env = "BIND", default_value = "127.0.0.1:8080")]
    pub bind: SocketAddr,

    /// Database URL: `sqlite://PATH?mode=rwc` (created and seeded on first start) or
    /// `postgres://USER:PASS@HOST/DB`.
    #[arg(long, env = "DATABASE_URL", default_value = DEFAULT_DATABASE_URL)]
    pub database_url: String,

    /// Maximum number of pooled database connections.
    #[arg(long, env = "DB_POOL_SIZE", default_value_t = 8)]
    pub db_pool_size: u32,

    /// Host names the service answers to (comma separated). The port is ignored, the
    /// match is case-insensitive, one trailing dot is ignored, and `*.example.com`
    /// matches any subdomain. Both the `Host` header and the authority of an absolute
    /// request target must match; `*` allows any well-formed host.
    #[arg(
        long,
        env = "ALLOWED_HOSTS",
        value_delimiter = ',',
        default_value = "localhost,127.0.0.1",
        value_parser = crate::net::parse_host_pattern
    )]
    pub allowed_hosts: Vec<String>,

    /// Origins allowed by CORS (comma separated, e.g. `https://app.example.com`);
    /// `*` allows any origin. Empty: no cross-origin access.
    #[arg(long, env = "CORS_ORIGINS", value_delimiter = ',')]
    pub cors_origins: Vec<String>,

    /// Bearer token for `/admin/*`: visible ASCII, no spaces (a token with leading or
    /// trailing whitespace is refused: the presented one is trimmed, so it could never
    /// match). If unset or empty, a random token is generated and printed at start-up.
    #[arg(long, env = "ADMIN_TOKEN", hide_env_values = true, value_parser = parse_admin_token)]
    pub admin_token: Option<String>,

    /// Override one cache's TTL: `NAME=DURATION` (e.g. `demo_top_posts=30s`, `5m`, or plain
    /// seconds). Repeatable; the environment variable takes a comma separated list. Caches:
    /// demo_post_dynamics, demo_top_posts, demo_best_times, analytics_summary,
    /// user_channels, ai_content_analysis.
    #[arg(
        long = "cache-ttl",
        env = "CACHE_TTL",
        value_delimiter = ',',
        value_name = "NAME=DURATION"
    )]
    pub cache_ttls: Vec<CacheTtl>,

    /// Disable one cache by name (its function always computes). Repeatable; the
    /// environment variable takes a comma separated list.
    #[arg(
        long = "cache-disable",
        env = "CACHE_DISABLE",
        value_delimiter = ',',
        value_name = "NAME"
    )]
    pub cache_disabled: Vec<String>,

    /// Disable every cache (used by the load benchmark to measure uncached answers).
    #[arg(long, env = "NO_CACHE")]
    pub no_cache: bool,

    /// Let a request's `Cache-Control: no-cache` recompute the cached answers it reads
    /// (and `no-store` bypass the cache). Off by default: any client could force the
    /// expensive path.
    #[arg(long, env = "HONOUR_CLIENT_CACHE_CONTROL")]
    pub honour_client_cache_control: bool,

    /// Redis as a second cache tier shared by every instance with the same URL, e.g.
    /// `redis://127.0.0.1:6379` or `redis://:PASSWORD@HOST:PORT/DB` (no TLS: `rediss://`
    /// is not supported by the runtime's Redis client).
    /// Invalidations reach the other instances through Redis pub/sub. Unset: in-process
    /// cache only. The service starts, and keeps answering, while Redis is down.
    #[arg(long, env = "REDIS_URL", hide_env_values = true, value_name = "URL")]
    pub redis_url: Option<String>,

    /// Deadline of every Redis operation: a late read is a miss, a late write is dropped.
    /// Only used with `--redis-url`.
    #[arg(long, env = "REDIS_TIMEOUT", default_value = "50ms", value_parser = parse_duration)]
    pub redis_timeout: Duration,

    /// A disk cache tier in this directory (created if needed): cached answers survive a
    /// restart, and a restarted service answers its first requests from disk
    /// (`X-Cache-Tier: disk`) instead of the database. One process per directory. Unset:
    /// no disk tier.
    #[arg(long, env = "DISK_CACHE", value_name = "DIR")]
    pub disk_cache: Option<std::path::PathBuf>,

    /// Most bytes the disk cache keeps on disk (only used with `--disk-cache`).
    #[arg(long, env = "DISK_CACHE_BYTES", default_value_t = 256 << 20)]
    pub disk_cache_bytes: u64,

    /// Memory budget of the in-process cache, in bytes.
    #[arg(long, env = "CACHE_MAX_BYTES", default_value_t = 64 << 20)]
    pub cache_max_bytes: u64,

    /// Requests taking longer than this are answered with 503 and a JSON error.
    #[arg(long, env = "REQUEST_TIMEOUT", default_value = "30s", value_parser = parse_duration)]
    pub request_timeout: Duration,

    /// Skip filling the critical caches before the server reports ready.
    #[arg(long, env = "NO_WARM")]
    pub no_warm: bool,

    /// Export traces (a span per request, its timers, cache outcomes and queries) to an
    /// OpenTelemetry collector over OTLP/HTTP with protobuf, e.g. `http://localhost:4318`
    /// (`/v1/traces` is added unless given). Off when not set. Needs the `otlp` feature.
    #[arg(long, env = "OTLP_ENDPOINT")]
    pub otlp_endpoint: Option<String>,

    /// Connection limits, timeouts, shutdown and admission control.
    #[command(flatten)]
    pub server: ServerConfig,

    /// Size of the dataset seeded into an empty database.
    #[command(flatten)]
    pub seed: SeedConfig,
}

/// How the server treats connections and admits requests.
///
/// ```
/// use clap::Parser;
/// let config = example_api::Config::try_parse_from(["example-api", "--max-connections", "64"])?;
/// assert_eq!(config.server.max_connections, 64);
/// assert_eq!(config.server.shutdown_timeout, std::time::Duration::from_secs(10));
/// # Ok::<(), clap::Error>(())
/// ```
#[derive(Debug, Clone, clap::Args)]
#[command(next_help_heading = "Connections and admission control")]
pub struct ServerConfig {
    /// Open connections at most. Beyond it a new connection is answered `503` with a JSON
    /// error and closed. Lowered at start-up to fit the open-file limit.
    #[arg(long, env = "MAX_CONNECTIONS", default_value_t = 4096, value_parser = clap::value_parser!(u32).range(1..))]
    pub max_connections: u32,

    /// Requests being handled at once, over all connections. Beyond it a request is
    /// answered `503` with a JSON error and `Retry-After: 1`.
    #[arg(long, env = "MAX_IN_FLIGHT", default_value_t = 512, value_parser = clap::value_parser!(u32).range(1..))]
    pub max_in_flight: u32,

    /// A request head must arrive complete within this time of its first byte, and a new
    /// connection must send its first complete head within this time; otherwise the
    /// connection is closed.
    #[arg(long, env = "HEADER_READ_TIMEOUT", default_value = "10s", value_parser = parse_positive_duration)]
    pub header_read_timeout: Duration,

    /// A kept-alive connection that starts no new request within this time is closed.
    /// `0` turns keep-alive off (every response closes its connection).
    #[arg(long, env = "KEEP_ALIVE_TIMEOUT", default_value = "75s", value_parser = parse_duration)]
    pub keep_alive_timeout: Duration,

    /// On SIGTERM or SIGINT: stop accepting, answer with `Connection: close`, let requests
    /// in flight finish for up to this long, then close what is left and exit.
    #[arg(long, env = "SHUTDOWN_TIMEOUT", default_value = "10s", value_parser = parse_duration)]
    pub shutdown_timeout: Duration,

    /// Computations per second one client (IP address; IPv6: its /64) may cause on the
    /// expensive routes (`/analytics/*`, `/ai/*`: a request whose answer is not cached
    /// yet, or is refreshed) plus writes it may make (`PATCH`/`POST` under `/channels/`),
    /// from one budget; beyond it `429` with `Retry-After`. Answers from the cache, `304`s
    /// and fail-safe copies are never counted nor refused, so browsers, dashboards, load
    /// tests of warm endpoints and revalidating clients never see a `429`, while a client
    /// asking a new window on every request is refused within a second or two (see
    /// `bench/bust.sh`). `0` turns the budgets off.
    #[arg(long, env = "RATE_LIMIT", default_value_t = 2)]
    pub rate_limit: u32,

    /// How many computations and writes above the rate one client may cause in a burst
    /// (a page that loads several analytics not cached yet fits in it).
    #[arg(long, env = "RATE_LIMIT_BURST", default_value_t = 10, value_parser = clap::value_parser!(u32).range(1..))]
    pub rate_limit_burst: u32,

    /// Reverse proxies in front of the service (comma separated CIDR networks or single
    /// addresses, e.g. `10.0.0.0/8,fd00::/8`). Only a request whose socket peer is in this
    /// list is attributed to the client its `Forwarded` / `X-Forwarded-For` header names
    /// (the right-most address that is not a trusted proxy); from any other peer those
    /// headers are ignored. Empty (the default): the peer is the client.
    #[arg(
        long,
        env = "TRUSTED_PROXIES",
        value_delimiter = ',',
        value_name = "CIDR",
        value_parser = crate::net::parse_proxy_network
    )]
    pub trusted_proxies: Vec<ipnet::IpNet>,
}

impl Default for ServerConfig {
    fn default() -> Self {
        Self {
            max_connections: 4096,
            max_in_flight: 512,
            header_read_timeout: Duration::from_secs(10),
            keep_alive_timeout: Duration::from_secs(75),
            shutdown_timeout: Duration::from_secs(10),
            rate_limit: 2,
            rate_limit_burst: 10,
            trusted_proxies: Vec::new(),
        }
    }
}

/// The default database: a SQLite file under `./data/`, created if missing.
pub const DEFAULT_DATABASE_URL: &str = "sqlite://data/example-api.db?mode=rwc";

/// Size of the demonstration dataset. Only used when the database is empty.
#[derive(Debug, Clone, clap::Args)]
#[command(next_help_heading = "Seed data (used only when the database is empty)")]
pub struct SeedConfig {
    /// Channels to seed.
    #[arg(long = "seed-channels", env = "SEED_CHANNELS", default_value_t = 24)]
    pub channels: u32,

    /// Posts to seed per channel.
    #[arg(long = "seed-posts", env = "SEED_POSTS", default_value_t = 40)]
    pub posts_per_channel: u32,

    /// Days of history: posts are spread over this many days before the dataset's end.
    #[arg(long = "seed-days", env = "SEED_DAYS", default_value_t = 30)]
    pub days: u32,

    /// Hours after publication for which hourly view snapshots are recorded.
    #[arg(
        long = "seed-track-hours",
        env = "SEED_TRACK_HOURS",
        default_value_t = 336
    )]
    pub track_hours: u32,
}

impl Default for SeedConfig {
    fn default() -> Self {
        Self {
            channels: 24,
            posts_per_channel: 40,
            days: 30,
            track_hours: 336,
        }
    }
}

/// One `--cache-ttl NAME=DURATION` override.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CacheTtl {
    /// The cache's name, as given to `#[cache_result]`.
    pub name: String,
    /// Its time to live.
    pub ttl: Duration,
}

impl FromStr for CacheTtl {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let (name, ttl) = s.split_once('=').ok_or_else(|| {
            format!("expected NAME=DURATION (e.g. demo_top_posts=30s), got `{s}`")
        })?;
        let name = name.trim();
        if name.is_empty() {
            return Err(format!("missing cache name in `{s}`"));
        }
        Ok(Self {
            name: name.to_owned(),
            ttl: parse_duration(ttl.trim())?,
        })
    }
}

/// Parses `30s`, `5m`, `1h 30m` (humantime) or a plain number of seconds.
pub fn parse_duration(s: &str) -> Result<Duration, String> {
    if let Ok(secs) = s.parse::<u64>() {
        return Ok(Duration::from_secs(secs));
    }
    humantime::parse_duration(s).map_err(|e| format!("invalid duration `{s}`: {e}"))
}

/// Like [`parse_duration`], but zero is refused.
pub fn parse_positive_duration(s: &str) -> Result<Duration, String> {
    let d = parse_duration(s)?;
    if d.is_zero() {
        return Err(format!("`{s}`: the duration must be greater than zero"));
    }
    Ok(d)
}

/// Accepts an admin token made of visible ASCII characters; refuses one with spaces or
/// control characters, naming the first. An empty value means "generate one".
pub fn parse_admin_token(s: &str) -> Result<String, String> {
    if let Some((at, c)) = s.char_indices().find(|(_, c)| !c.is_ascii_graphic()) {
        let what = if c.is_whitespace() {
            if at == 0 || s[at..].trim().is_empty() {
                "leading or trailing whitespace (a presented bearer token is trimmed, so this one could never match)"
            } else {
                "a space inside (a bearer token is one word)"
            }
        } else {
            "a character that is not visible ASCII"
        };
        return Err(format!(
            "the admin token has {what}: {c:?} at byte {at}; use visible ASCII without spaces"
        ));
    }
    Ok(s.to_owned())
}

impl Config {
    /// Whether the named cache is enabled by this configuration.
    pub fn cache_enabled(&self, name: &str) -> bool {
        !self.no_cache && !self.cache_disabled.iter().any(|n| n == name)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_match_the_documentation() {
        let c = Config::try_parse_from(["example-api"]).expect("defaults parse");
        assert_eq!(c.bind.to_string(), "127.0.0.1:8080");
        assert_eq!(c.database_url, DEFAULT_DATABASE_URL);
        assert_eq!(c.allowed_hosts, ["localhost", "127.0.0.1"]);
        assert!(c.cors_origins.is_empty());
        assert!(!c.no_cache);
        assert_eq!(c.request_timeout, Duration::from_secs(30));
        assert_eq!(c.redis_url, None);
        assert_eq!(c.redis_timeout, Duration::from_millis(50));
        assert_eq!(c.server.max_connections, 4096);
        assert_eq!(c.server.max_in_flight, 512);
        assert_eq!(c.server.header_read_timeout, Duration::from_secs(10));
        assert_eq!(c.server.keep_alive_timeout, Duration::from_secs(75));
        assert_eq!(c.server.shutdown_timeout, Duration::from_secs(10));
        assert_eq!((c.server.rate_limit, c.server.rate_limit_burst), (2, 10));
        let d = ServerConfig::default();
        assert_eq!(
            (
                d.max_connections,
                d.max_in_flight,
                d.header_read_timeout,
                d.keep_alive_timeout
            ),
            (4096, 512, Duration::from_secs(10), Duration::from_secs(75))
        );
        assert_eq!(
            (d.shutdown_timeout, d.rate_limit, d.rate_limit_burst),
            (Duration::from_secs(10), 2, 10)
        );
    }

    #[test]
    fn padded_admin_tokens_are_refused_with_the_reason() {
        for (token, reason) in [
            (" x ", "leading or trailing whitespace"),
            ("x\n", "leading or trailing whitespace"),
            ("a b", "a space inside"),
            ("caf\u{e9}", "not visible ASCII"),
        ] {
            let err =
                Config::try_parse_from(["example-api", "--admin-token", token]).expect_err(token);
            assert!(err.to_string().contains(reason), "{token:?}: {err}");
        }
        let c = Config::try_parse_from(["example-api", "--admin-token", "s3cret-token_1"])
            .expect("a plain token parses");
        assert_eq!(c.admin_token.as_deref(), Some("s3cret-token_1"));
        let empty = Config::try_parse_from(["example-api", "--admin-token", ""]).expect("empty");
        assert_eq!(empty.admin_token.as_deref(), Some(""), "empty: generated");
    }

    #[test]
    fn server_limits_parse_and_refuse_zero() {
        let c = Config::try_parse_from([
            "example-api",
            "--header-read-timeout",
            "2s",
            "--keep-alive-timeout",
            "0",
            "--shutdown-timeout",
            "500ms",
            "--rate-limit",
            "0",
        ])
        .expect("parses");
        assert_eq!(c.server.header_read_timeout, Duration::from_secs(2));
        assert!(c.server.keep_alive_timeout.is_zero());
        assert_eq!(c.server.shutdown_timeout, Duration::from_millis(500));
        assert_eq!(c.server.rate_limit, 0);
        for (flag, value) in [
            ("--header-read-timeout", "0"),
            ("--max-connections", "0"),
            ("--max-in-flight", "0"),
            ("--rate-limit-burst", "0"),
        ] {
            let err = Config::try_parse_from(["example-api", flag, value]).expect_err(flag);
            assert!(err.to_string().contains(flag), "{flag}: {err}");
        }
    }

    #[test]
    fn redis_url_and_timeout_parse() {
        let c = Config::try_parse_from([
            "example-api",
            "--redis-url",
            "redis://127.0.0.1:6379/2",
            "--redis-timeout",
            "20ms",
        ])
        .expect("parses");
        assert_eq!(c.redis_url.as_deref(), Some("redis://127.0.0.1:6379/2"));
        assert_eq!(c.redis_timeout, Duration::from_millis(20));
    }

    #[test]
    fn help_documents_redis() {
        use clap::CommandFactory;
        let help = Config::command().render_long_help().to_string();
        for needle in [
            "--redis-url <URL>",
            "REDIS_URL",
            "--redis-timeout",
            "REDIS_TIMEOUT",
        ] {
            assert!(help.contains(needle), "{needle} in\n{help}");
        }
    }

    #[test]
    fn trusted_proxies_parse_from_the_flag_and_the_environment() {
        let c = Config::try_parse_from(["example-api"]).expect("defaults");
        assert!(
            c.server.trusted_proxies.is_empty(),
            "no proxy is trusted by default"
        );
        let c = Config::try_parse_from([
            "example-api",
            "--trusted-proxies",
            "10.0.0.0/8, 192.0.2.1,fd00::/8",
        ])
        .expect("parses");
        let nets: Vec<String> = c
            .server
            .trusted_proxies
            .iter()
            .map(ToString::to_string)
            .collect();
        assert_eq!(nets, ["10.0.0.0/8", "192.0.2.1/32", "fd00::/8"]);
        let err = Config::try_parse_from(["example-api", "--trusted-proxies", "10.0.0.0/40"])
            .expect_err("a bad prefix");
        assert!(err.to_string().contains("10.0.0.0/40"), "{err}");
        let help = <Config as clap::CommandFactory>::command()
            .render_long_help()
            .to_string();
        assert!(help.contains("TRUSTED_PROXIES"), "{help}");
    }

    #[test]
    fn cache_overrides_repeat() {
        let c = Config::try_parse_from([
            "example-api",
            "--cache-ttl",
            "demo_top_posts=30s",
            "--cache-ttl",
            "demo_best_times=90",
            "--cache-disable",
            "ai_content_analysis",
        ])
        .expect("parses");
        assert_eq!(
            c.cache_ttls,
            [
                CacheTtl {
                    name: "demo_top_posts".into(),
                    ttl: Duration::from_secs(30)
                },
                CacheTtl {
                    name: "demo_best_times".into(),
                    ttl: Duration::from_secs(90)
                },
            ]
        );
        assert!(!c.cache_enabled("ai_content_analysis"));
        assert!(c.cache_enabled("demo_top_posts"));
    }

    #[test]
    fn bad_ttl_is_rejected_with_a_hint() {
        let err = Config::try_parse_from(["example-api", "--cache-ttl", "demo_top_posts"])
            .expect_err("no duration");
        assert!(err.to_string().contains("NAME=DURATION"), "{err}");
        assert!("x=soon".parse::<CacheTtl>().is_err());
        assert!("=5s".parse::<CacheTtl>().is_err());
    }
}
