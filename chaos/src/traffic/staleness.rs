//! Changes (to the database, then an admin invalidation, or through the write API) and
//! the time until every instance serves them (staleness).

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use reqwest::StatusCode;
use serde_json::{Value, json};

use super::call::{Call, send};
use super::ctx::Ctx;
use crate::targets::STALE_MAX;

/// How long the staleness check waits for an instance before it counts a stale answer.
pub(crate) const CONVERGE_LIMIT: Duration = Duration::from_secs(5);

impl Ctx {
    /// Every `every` until `stop`: adds a subscriber to a random channel in the database
    /// and invalidates the channel's tags through the admin API of one instance, or (every
    /// third time) retitles it through `PATCH /channels/{id}`, and measures how long each
    /// instance in rotation takes to serve the change.
    pub(crate) async fn invalidations(self: &Arc<Self>, every: Duration, stop: Arc<AtomicBool>) {
        let mut rng = fastrand::Rng::with_seed(7);
        let mut n = 0usize;
        while !stop.load(Ordering::Acquire) {
            tokio::time::sleep(every).await;
            n += 1;
            let channel = rng.i64(1..=self.channels);
            // Every third change is a write through the API (`PATCH /channels/{id}`, whose
            // service invalidates what it changes); the others change the database behind
            // the fleet's back and invalidate through the admin API.
            let done = if n.is_multiple_of(3) {
                self.rename_through_api(channel, n).await
            } else {
                self.change_and_invalidate(channel, n).await
            };
            if let Err(e) = done {
                self.stats().example(format!("invalidation: {e}"));
            }
        }
    }

    async fn change_and_invalidate(&self, channel: i64, n: usize) -> Result<(), String> {
        let _write = self.mutate.write().await;
        let serving = self.serving();
        let Some(&via) = serving.get(n % serving.len().max(1)) else {
            return Ok(());
        };
        let subscribers = self.one_more_subscriber(channel).await?;
        let (owner, token) = self.owner_of(channel).await?;
        for tag in [format!("channel:{channel}"), format!("user:{owner}")] {
            let call = Call {
                bearer: Some(self.admin_token.clone()),
                ..Call::post("/admin/cache/invalidate", json!({ "tag": tag }))
            };
            self.expect_ok(via, "admin invalidate", &call).await?;
        }
        let invalidated = Instant::now();
        let shows =
            move |channel_json: &Value| channel_json["subscribers"].as_i64() == Some(subscribers);
        self.converge(
            &serving,
            channel,
            token,
            invalidated,
            &format!("{subscribers} subscribers"),
            shows,
        )
        .await;
        Ok(())
    }

    /// Adds a subscriber to `channel` in the database (behind the fleet's back); the new
    /// count.
    pub(super) async fn one_more_subscriber(&self, channel: i64) -> Result<i64, String> {
        sqlx::query_scalar(
            "UPDATE channels SET subscribers = subscribers + 1 WHERE id = $1 RETURNING subscribers",
        )
        .bind(channel)
        .fetch_one(&self.db)
        .await
        .map_err(|e| format!("UPDATE channel {channel}: {e}"))
    }

    /// The id and bearer token of `channel`'s owner.
    pub(super) async fn owner_of(&self, channel: i64) -> Result<(i64, String), String> {
        sqlx::query_as(
            "SELECT u.id, u.token FROM channels c JOIN users u ON u.id = c.owner_id WHERE c.id = $1",
        )
        .bind(channel)
        .fetch_one(&self.db)
        .await
        .map_err(|e| format!("owner of channel {channel}: {e}"))
    }

    /// Sends a change to instance `via`; anything but `200 OK` is counted as a status not
    /// asked for (a 5xx also as a server error) and returned as the error.
    pub(super) async fn expect_ok(
        &self,
        via: usize,
        route: &str,
        call: &Call,
    ) -> Result<(), String> {
        let reply = self.fleet_call(via, route, call).await;
        if reply.as_ref().is_some_and(|r| r.status == StatusCode::OK) {
            return Ok(());
        }
        let mut stats = self.stats();
        stats.unexpected += 1;
        if reply.as_ref().is_some_and(|r| r.status.is_server_error()) {
            stats.server_errors += 1;
        }
        Err(format!(
            "{route} {} on api-{}: {reply:?}",
            call.path,
            via + 1
        ))
    }

    /// A new title for `channel` through `PATCH /channels/{id}` on one instance in
    /// rotation, with its owner's token, then the time until each instance serves it.
    async fn rename_through_api(&self, channel: i64, n: usize) -> Result<(), String> {
        let _write = self.mutate.write().await;
        let serving = self.serving();
        let Some(&via) = serving.get(n % serving.len().max(1)) else {
            return Ok(());
        };
        let (_, token) = self.owner_of(channel).await?;
        let title = format!("Chaos title {n}");
        let call = Call::retitle(channel, &token, &title);
        self.expect_ok(via, "rename", &call).await?;
        let written = Instant::now();
        let wanted = title.clone();
        let shows =
            move |channel_json: &Value| channel_json["title"].as_str() == Some(wanted.as_str());
        self.converge(
            &serving,
            channel,
            token,
            written,
            &format!("title {title:?}"),
            shows,
        )
        .await;
        Ok(())
    }

    /// Polls every instance in `serving` for both cached answers that show `channel` (its
    /// summary, tag `channel:N`, and its owner's channel list, tag `user:OWNER`) until
    /// `shows` accepts the channel in it, and records the delays since `invalidated` as
    /// staleness (a stale answer after [`CONVERGE_LIMIT`] as a wrong one).
    async fn converge(
        &self,
        serving: &[usize],
        channel: i64,
        token: String,
        invalidated: Instant,
        what: &str,
        shows: impl Fn(&Value) -> bool,
    ) {
        let summary = Call::get(format!("/analytics/channels/{channel}/metrics"));
        let list = Call {
            bearer: Some(token),
            ..Call::get("/channels".into())
        };
        let shows = move |path: &str, body: &Value| -> bool {
            if path == "/channels" {
                body["channels"].as_array().is_some_and(|cs| {
                    cs.iter()
                        .any(|c| c["id"].as_i64() == Some(channel) && shows(c))
                })
            } else {
                shows(&body["channel"])
            }
        };
        let shows = &shows;
        let polls = serving
            .iter()
            .flat_map(|&i| [(i, &summary), (i, &list)])
            .map(|(i, call)| async move {
                let until = invalidated + CONVERGE_LIMIT;
                loop {
                    let sent = invalidated.elapsed();
                    let r = send(&self.http, &self.fleet[i], call).await;
                    if let Ok(r) = &r
                        && shows(&call.path, &r.json)
                    {
                        return (i, &call.path, Some(sent));
                    }
                    if Instant::now() >= until {
                        return (i, &call.path, None);
                    }
                    tokio::time::sleep(Duration::from_millis(2)).await;
                }
            });
        let results = futures_util::future::join_all(polls).await;
        let mut stats = self.stats();
        for (i, path, took) in results {
            match took {
                Some(d) => {
                    let _ = stats.staleness.record(d.as_micros().max(1) as u64);
                    if d > STALE_MAX {
                        stats.example(format!(
                            "SLOW api-{} {path}: channel {channel} served with {what} only {d:?} after the change",
                            i + 1
                        ));
                    }
                }
                None => {
                    stats.not_converged += 1;
                    stats.wrong += 1;
                    stats.example(format!(
                        "STALE api-{} {path}: channel {channel} still not with {what} {CONVERGE_LIMIT:?} after the change",
                        i + 1
                    ));
                }
            }
        }
    }
}
