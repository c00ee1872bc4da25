//! Headless Chromium for the page tests, driven over WebDriver: Debian's `chromium` and
//! `chromium-driver` packages (`scripts/test.sh` installs them when missing;
//! `CHROMEDRIVER=/path` and `CHROMIUM=/path` use other binaries).
//!
//! Each [`Browser`] starts its own chromedriver on a free loopback port with a fresh
//! profile directory, and stops it when dropped. Chromium runs with the flags that keep it
//! off the network (no background networking, component updates or sync), so a page that
//! needs anything but the server under test fails to load it.

use std::net::TcpListener;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use super::process::TempDir;

/// A running chromedriver and one WebDriver session in headless Chromium.
pub struct Browser {
    /// The WebDriver session: navigate, find elements, run scripts.
    pub client: fantoccini::Client,
    driver: Child,
    _profile: TempDir,
}

impl Browser {
    /// Starts chromedriver and opens a 1280x900 headless window.
    pub async fn start() -> Browser {
        let port = {
            let listener = TcpListener::bind("127.0.0.1:0").expect("a free port");
            listener.local_addr().expect("its address").port()
        };
        let chromedriver = std::env::var("CHROMEDRIVER").unwrap_or_else(|_| "chromedriver".into());
        let chromium = std::env::var("CHROMIUM").unwrap_or_else(|_| "/usr/bin/chromium".into());
        let driver = Command::new(&chromedriver)
            .arg(format!("--port={port}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap_or_else(|e| {
                panic!("cannot start {chromedriver} (package chromium-driver): {e}")
            });
        static PROFILES: AtomicUsize = AtomicUsize::new(0);
        let profile = TempDir::new(&format!(
            "chromium-profile-{}",
            PROFILES.fetch_add(1, Ordering::Relaxed)
        ));
        let capabilities = serde_json::json!({
            "goog:chromeOptions": {
                "binary": chromium,
                "args": [
                    "--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                    "--disable-quic", "--no-first-run", "--disable-background-networking",
                    "--disable-component-update", "--disable-sync", "--window-size=1280,900",
                    format!("--user-data-dir={}", profile.path().display()),
                ],
            }
        });
        let serde_json::Value::Object(capabilities) = capabilities else {
            unreachable!("an object literal")
        };
        let url = format!("http://127.0.0.1:{port}");
        let started = Instant::now();
        let client = loop {
            let connector = hyper_util::client::legacy::connect::HttpConnector::new();
            match fantoccini::ClientBuilder::new(connector)
                .capabilities(capabilities.clone())
                .connect(&url)
                .await
            {
                Ok(client) => break client,
                Err(_) if started.elapsed() < Duration::from_secs(20) => {
                    tokio::time::sleep(Duration::from_millis(100)).await;
                }
                Err(e) => panic!("no WebDriver session from {chromedriver} in 20 s: {e}"),
            }
        };
        Browser {
            client,
            driver,
            _profile: profile,
        }
    }

    /// Saves a PNG of the window as `target/screenshots/<name>.png` and returns its path.
    pub async fn screenshot(&self, name: &str) -> PathBuf {
        let png = self.client.screenshot().await.expect("a screenshot");
        let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../target/screenshots");
        std::fs::create_dir_all(&dir).expect("the screenshot directory");
        let path = dir.join(format!("{name}.png"));
        std::fs::write(&path, png).expect("the screenshot written");
        path
    }

    /// Waits until `script` (a JavaScript function body that returns a value) returns
    /// something other than `null`, `false` or `undefined`, and yields that value.
    pub async fn wait_for(&self, script: &str, limit: Duration) -> serde_json::Value {
        let started = Instant::now();
        loop {
            let value = self
                .client
                .execute(script, vec![])
                .await
                .expect("the script ran");
            if !matches!(
                value,
                serde_json::Value::Null | serde_json::Value::Bool(false)
            ) {
                return value;
            }
            assert!(
                started.elapsed() < limit,
                "timed out after {limit:?} waiting for: {script}"
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// Ends the session and stops chromedriver.
    pub async fn close(mut self) {
        let _ = self.client.clone().close().await;
        let _ = self.driver.kill();
        let _ = self.driver.wait();
    }
}

impl Drop for Browser {
    fn drop(&mut self) {
        let _ = self.driver.kill();
        let _ = self.driver.wait();
    }
}
