//! The shipped Grafana dashboard (`example-api/grafana/cache-dashboard.json`) against a real
//! Prometheus: one service process on a real `redis-server`, a `prometheus` on loopback
//! scraping its `/metrics` every second, some traffic (hits, misses, an error, an
//! invalidation); then every panel's query, with the template variables substituted as
//! Grafana would ("All" selected), must parse and return at least one series with a
//! number, and every variable's `label_values` must list at least one value. A scrape also
//! passes `promtool check metrics`.
//!
//! Needs `prometheus` and `promtool` (Debian's `prometheus` package, which
//! `scripts/test.sh` installs; `PROMETHEUS=/path` and `PROMTOOL=/path` use others) and
//! `redis-server`. Without a `prometheus` binary the test says so and passes.

mod common;

use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use common::process::{self, Instance, TempDir, poll, redis_instance_args};
use common::{ADMIN, client};
use serde_json::{Value, json};
use test_support::{RedisServer, free_port};

const DASHBOARD: &str = include_str!("../grafana/cache-dashboard.json");

/// What `$__rate_interval` becomes: the whole test fits in it.
const RATE_INTERVAL: &str = "1m";

fn binary(var: &str, default: &str) -> String {
    std::env::var(var).unwrap_or_else(|_| default.to_owned())
}

fn runs(bin: &str) -> bool {
    Command::new(bin)
        .arg("--version")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

/// A `prometheus` process, killed when dropped (its log printed if the test failed).
struct Prometheus {
    child: Child,
    base: String,
    log: std::path::PathBuf,
}

impl Prometheus {
    /// Starts `bin` scraping `target` (`HOST:PORT`) every second, storing under `dir`.
    fn start(bin: &str, dir: &Path, target: &str) -> Self {
        let config = dir.join("prometheus.yml");
        std::fs::write(
            &config,
            format!(
                "global:\n  scrape_interval: 1s\n  scrape_timeout: 900ms\n  \
                 evaluation_interval: 1s\nscrape_configs:\n  - job_name: example-api\n    \
                 static_configs:\n      - targets: ['{target}']\n"
            ),
        )
        .expect("prometheus.yml written");
        let port = free_port();
        let log = dir.join("prometheus.log");
        let child = Command::new(bin)
            .arg(format!("--config.file={}", config.display()))
            .arg(format!(
                "--storage.tsdb.path={}",
                dir.join("tsdb").display()
            ))
            .arg(format!("--web.listen-address=127.0.0.1:{port}"))
            .arg("--log.level=warn")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(&log).expect("log file"))
            .spawn()
            .expect("prometheus runs");
        Self {
            child,
            base: format!("http://127.0.0.1:{port}"),
            log,
        }
    }

    /// `GET /api/v1/<path>` with `params`: the JSON answer, whatever its status, or why
    /// there was none (not listening yet).
    async fn api(&self, path: &str, params: &[(&str, &str)]) -> Result<Value, String> {
        let resp = client()
            .get(format!("{}/api/v1/{path}", self.base))
            .query(params)
            .timeout(Duration::from_secs(10))
            .send()
            .await
            .map_err(|e| e.to_string())?;
        resp.json().await.map_err(|e| e.to_string())
    }

    /// The result of the instant query `expr`, or why it failed.
    async fn query(&self, expr: &str) -> Result<Vec<Value>, String> {
        let answer = self.api("query", &[("query", expr)]).await?;
        if answer["status"] != "success" {
            return Err(format!("{}: {}", answer["errorType"], answer["error"]));
        }
        Ok(answer["data"]["result"]
            .as_array()
            .cloned()
            .unwrap_or_default())
    }
}

impl Drop for Prometheus {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        if std::thread::panicking() {
            let log = std::fs::read_to_string(&self.log).unwrap_or_default();
            eprintln!("---- prometheus log ----\n{log}");
        }
    }
}

/// One round of traffic: misses then hits on every demo cache, a channel that does not
/// exist (an error, not cached), an analysis, and an admin invalidation.
async fn traffic(i: &Instance) {
    let ok = [
        "/analytics/demo/post-dynamics",
        "/analytics/demo/top-posts",
        "/analytics/demo/best-times",
        "/analytics/channels/1/metrics",
        "/analytics/channels/2/metrics",
    ];
    for path in ok.iter().chain(&ok) {
        let r = client().get(i.url(path)).send().await.expect("sent");
        assert_eq!(r.status(), 200, "{path}");
    }
    let missing = "/analytics/channels/999999/metrics";
    let r = client().get(i.url(missing)).send().await.expect("sent");
    assert_eq!(r.status(), 404, "{missing}");
    let analysis = json!({ "text": "Dashboards that work, proven against Prometheus." });
    let r = client().post(i.url("/ai/analyze")).json(&analysis).send();
    assert_eq!(r.await.expect("sent").status(), 200, "/ai/analyze");
    let r = client()
        .post(i.url("/admin/cache/invalidate"))
        .bearer_auth(ADMIN)
        .json(&json!({ "cache": "demo_best_times" }))
        .send();
    assert_eq!(r.await.expect("sent").status(), 200, "invalidate");
}

/// Every `expr` of every panel (rows' nested panels too), with its panel's title.
fn targets(dashboard: &Value) -> Vec<(String, String)> {
    fn walk(panels: &Value, out: &mut Vec<(String, String)>) {
        for panel in panels.as_array().into_iter().flatten() {
            let title = panel["title"].as_str().unwrap_or_default();
            for target in panel["targets"].as_array().into_iter().flatten() {
                if let Some(expr) = target["expr"].as_str() {
                    out.push((title.to_owned(), expr.to_owned()));
                }
            }
            walk(&panel["panels"], out);
        }
    }
    let mut out = Vec::new();
    walk(&dashboard["panels"], &mut out);
    out
}

/// `expr` as Grafana sends it with "All" selected in every variable (whose `allValue` is
/// `.*`, so selectors on them must match by regex).
fn substitute(expr: &str) -> String {
    assert!(
        !expr.contains("=\"$"),
        "a variable matched with `=` (multi-value variables need `=~`): {expr}"
    );
    let mut out = expr.replace("$__rate_interval", RATE_INTERVAL);
    for var in ["instance", "cache", "function"] {
        out = out
            .replace(&format!("${{{var}}}"), ".*")
            .replace(&format!("${var}"), ".*");
    }
    assert!(!out.contains('$'), "a variable left in {out}");
    out
}

/// Whether some series of an instant query holds a number (not `NaN`).
fn has_number(result: &[Value]) -> bool {
    result.iter().any(|s| {
        s["value"][1]
            .as_str()
            .and_then(|v| v.parse::<f64>().ok())
            .is_some_and(f64::is_finite)
    })
}

/// `promtool check metrics` on `text`: whether it passed, and what it printed.
fn promtool_check(bin: &str, text: &str) -> (bool, String) {
    use std::io::Write as _;
    let mut child = Command::new(bin)
        .args(["check", "metrics"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("promtool runs");
    child
        .stdin
        .take()
        .expect("piped stdin")
        .write_all(text.as_bytes())
        .expect("scrape written to promtool");
    let out = child.wait_with_output().expect("promtool finishes");
    let printed =
        String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr);
    (out.status.success(), printed)
}

#[tokio::test]
async fn every_dashboard_panel_returns_series_from_a_real_prometheus() {
    let prometheus = binary("PROMETHEUS", "prometheus");
    let promtool = binary("PROMTOOL", "promtool");
    if !runs(&prometheus) {
        eprintln!(
            "SKIPPED: no `{prometheus}` binary (apt-get install prometheus, as scripts/test.sh \
             does, or PROMETHEUS=/path): the Grafana dashboard was not checked"
        );
        return;
    }
    let dashboard: Value = serde_json::from_str(DASHBOARD).expect("the dashboard is JSON");
    assert!(
        dashboard["schemaVersion"].as_u64() >= Some(36),
        "schemaVersion"
    );

    let redis = RedisServer::start();
    let dir = TempDir::new("grafana");
    let database = format!("sqlite://{}?mode=rwc", dir.path().join("api.db").display());
    let api = process::spawn("api", &redis_instance_args(&database, &redis.url()))
        .wait_ready(Duration::from_secs(60));
    let target = api.base.trim_start_matches("http://").to_owned();

    // promtool on a scrape, after one round of traffic so that every family is there.
    traffic(&api).await;
    let scrape = client()
        .get(api.url("/metrics"))
        .send()
        .await
        .expect("sent");
    let scrape = scrape.text().await.expect("a text");
    let (passed, printed) = promtool_check(&promtool, &scrape);
    eprintln!("promtool check metrics printed: {printed:?}");
    assert!(passed, "promtool check metrics failed:\n{printed}");
    assert!(scrape.contains("# TYPE function_duration_seconds histogram"));

    let prom = Prometheus::start(&prometheus, dir.path(), &target);
    poll(
        Duration::from_secs(30),
        "prometheus scrapes the service",
        || {
            let prom = &prom;
            async move {
                let up = prom.query("up == 1").await.ok()?;
                (!up.is_empty()).then_some(())
            }
        },
    )
    .await;
    // Traffic across several scrapes, so that every rate has two samples that differ.
    let until = Instant::now() + Duration::from_secs(6);
    while Instant::now() < until {
        traffic(&api).await;
        tokio::time::sleep(Duration::from_millis(400)).await;
    }
    tokio::time::sleep(Duration::from_millis(2500)).await;

    let targets = targets(&dashboard);
    assert!(targets.len() >= 20, "{} targets", targets.len());
    let mut failures = Vec::new();
    for (title, expr) in &targets {
        let query = substitute(expr);
        match prom.query(&query).await {
            Err(e) => failures.push(format!("{title}: {query}: {e}")),
            Ok(result) if result.is_empty() => {
                failures.push(format!("{title}: {query}: no series"));
            }
            Ok(result) if !has_number(&result) => {
                failures.push(format!("{title}: {query}: only NaN in {result:?}"));
            }
            Ok(_) => {}
        }
    }
    for var in dashboard["templating"]["list"]
        .as_array()
        .expect("variables")
    {
        let Some(definition) = var["definition"].as_str() else {
            continue;
        };
        let inner = definition
            .strip_prefix("label_values(")
            .and_then(|d| d.strip_suffix(')'))
            .unwrap_or_else(|| panic!("a label_values query: {definition}"));
        let (selector, label) = inner
            .rsplit_once(", ")
            .expect("label_values(selector, label)");
        let selector = substitute(selector);
        let answer = prom
            .api(&format!("label/{label}/values"), &[("match[]", &selector)])
            .await
            .unwrap_or_else(|e| json!({ "error": e }));
        if answer["data"].as_array().is_none_or(Vec::is_empty) {
            failures.push(format!("variable {}: {definition}: {answer}", var["name"]));
        }
    }
    eprintln!(
        "{} panel queries and the variables checked against Prometheus",
        targets.len()
    );
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}
