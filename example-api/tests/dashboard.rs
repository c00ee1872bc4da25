//! `/dashboard` in headless Chromium, against the real service under light load: the
//! charts have one series per cache and per timer, their values move between two polls,
//! the tables fill, and nothing on the page comes from another origin.

mod common;

use std::time::Duration;

use common::browser::Browser;
use common::{ADMIN, Server, client};
use serde_json::{Value, json};

fn server() -> &'static Server {
    common::server_with(&["--rate-limit", "0"])
}

/// A few requests every 100 ms over the demo endpoints and channel metrics, and a tag
/// invalidation now and then so the hit ratios are not all 100%.
fn light_load(s: &'static Server) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        let http = client();
        let token = s.token("alice").to_owned();
        for round in 0u64.. {
            for path in [
                "/analytics/demo/best-times",
                "/analytics/demo/top-posts",
                "/analytics/demo/post-dynamics",
            ] {
                let _ = http.get(s.url(path)).send().await;
            }
            let id = round % 6 + 1;
            let metrics = format!("/analytics/channels/{id}/metrics");
            let _ = http.get(s.url(&metrics)).send().await;
            let _ = http
                .get(s.url("/channels"))
                .bearer_auth(&token)
                .send()
                .await;
            if round % 10 == 9 {
                let _ = http
                    .post(s.url("/admin/cache/invalidate"))
                    .bearer_auth(ADMIN)
                    .json(&json!({ "tag": format!("channel:{id}") }))
                    .send()
                    .await;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    })
}

async fn run(browser: &Browser, script: &str) -> Value {
    browser
        .client
        .execute(script, vec![])
        .await
        .unwrap_or_else(|e| panic!("{script}: {e}"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_dashboard_draws_live_charts_from_the_service_alone() {
    let s = server();
    let load = light_load(s);
    // Let every cache and timer see calls before the page's first poll.
    tokio::time::sleep(Duration::from_millis(800)).await;

    let browser = Browser::start().await;
    browser
        .client
        .goto(&s.url("/dashboard"))
        .await
        .expect("the page loads");
    browser
        .wait_for(
            "const d = window.dashboard; \
             return d && d.polls >= 1 && Object.keys(d.charts).length === 4",
            Duration::from_secs(20),
        )
        .await;

    // One series per cache in the hit-ratio chart and per timer in the three timer charts,
    // named as the service's own report names them.
    let shape = run(
        &browser,
        "const d = window.dashboard; const labels = (c) => c.series.slice(1).map((s) => s.label); \
         return { hit: labels(d.charts.hit), rate: labels(d.charts.rate), \
                  p50: labels(d.charts.p50), p95: labels(d.charts.p95), \
                  canvases: document.querySelectorAll('.uplot canvas').length };",
    )
    .await;
    let report: Value = client()
        .get(s.url("/performance"))
        .send()
        .await
        .expect("sent")
        .json()
        .await
        .expect("json");
    let names = |list: &Value| -> Vec<String> {
        let mut v: Vec<String> = list
            .as_array()
            .expect("a list")
            .iter()
            .filter_map(|x| x["name"].as_str().map(str::to_owned))
            .collect();
        v.sort();
        v
    };
    let sorted = |v: &Value| -> Vec<String> {
        let mut v: Vec<String> = serde_json::from_value(v.clone()).expect("labels");
        v.sort();
        v
    };
    let caches = names(&report["caches"]);
    let timers = names(&report["timers"]);
    assert!(caches.len() >= 4, "{caches:?}");
    assert!(
        timers.iter().any(|t| t == "db.publication_slots"),
        "{timers:?}"
    );
    assert_eq!(sorted(&shape["hit"]), caches);
    for chart in ["rate", "p50", "p95"] {
        assert_eq!(sorted(&shape[chart]), timers, "{chart}");
    }
    assert_eq!(shape["canvases"], 4, "four charts drawn");

    // The figures move between two refreshes: the minute in progress keeps counting.
    let before = run(
        &browser,
        "return [window.dashboard.polls, JSON.stringify(window.dashboard.charts.rate.data)];",
    )
    .await;
    let polls = before[0].as_u64().expect("polls");
    let data = before[1].as_str().expect("data");
    let changed = browser
        .wait_for(
            &format!(
                "const d = window.dashboard; \
                 return d.polls >= {} && JSON.stringify(d.charts.rate.data) !== {} && d.polls;",
                polls + 2,
                serde_json::to_string(data).expect("a JS string")
            ),
            Duration::from_secs(15),
        )
        .await;
    assert!(changed.as_u64() >= Some(polls + 2));

    // The tables: bottlenecks with their sentence, a trend per timer and per cache.
    let tables = run(
        &browser,
        "const rows = (id) => [...document.querySelectorAll('#' + id + ' tbody tr')]; \
         return { bottlenecks: rows('bottlenecks').map((r) => r.lastChild.textContent), \
                  timer_trends: rows('timer-trends').length, \
                  cache_trends: rows('cache-trends').length, \
                  rps: Number(document.getElementById('rps').textContent), \
                  errors: window.dashboard.errors };",
    )
    .await;
    let advice = tables["bottlenecks"].as_array().expect("rows");
    assert!(!advice.is_empty());
    assert!(
        advice.iter().all(|a| a
            .as_str()
            .is_some_and(|a| a.contains(" of ") && a.ends_with('.'))),
        "{advice:?}"
    );
    assert_eq!(tables["timer_trends"].as_u64(), Some(timers.len() as u64));
    assert_eq!(tables["cache_trends"].as_u64(), Some(caches.len() as u64));
    assert!(tables["rps"].as_f64() > Some(0.0), "{tables}");
    assert_eq!(tables["errors"], 0, "no failed poll");

    // Nothing came from, or points to, another origin: every URL in the DOM, and every
    // resource the page loaded.
    let foreign = run(
        &browser,
        "const urls = []; \
         for (const el of document.querySelectorAll('*')) \
           for (const a of ['src', 'href', 'action', 'srcset', 'poster', 'data']) \
             if (el.hasAttribute(a)) urls.push(new URL(el.getAttribute(a), document.baseURI).href); \
         for (const r of performance.getEntriesByType('resource')) urls.push(r.name); \
         const html = document.documentElement.outerHTML; \
         return { urls, foreign: urls.filter((u) => new URL(u).origin !== location.origin), \
                  literal: (html.match(/(https?:)?\\/\\/[a-z0-9.-]+\\.[a-z]{2,}/gi) || []) };",
    )
    .await;
    assert!(
        foreign["urls"].as_array().is_some_and(|u| u.len() >= 5),
        "{foreign}"
    );
    assert_eq!(foreign["foreign"], json!([]), "{foreign}");
    assert_eq!(foreign["literal"], json!([]), "{foreign}");

    let path = browser.screenshot("dashboard").await;
    assert!(
        std::fs::metadata(&path).is_ok_and(|m| m.len() > 10_000),
        "{path:?}"
    );
    browser.close().await;
    load.abort();
}
