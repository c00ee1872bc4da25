//! The Redis outage's changes and the check that every instance converges on them once
//! Redis answers again.
//!
//! Before the outage, [`Ctx::outage_plan`] picks a few channels and the answers that show
//! them (their summaries, their owners' channel lists, three top-posts windows), asks the
//! `--no-cache` reference for each and has every instance cache it. While Redis is
//! down, [`Ctx::outage_writes`] changes those channels through the API of one instance
//! after another and records, after each change, the reference's answer of every watched
//! URL (the latest value). Once every master answers PING again, [`Ctx::converge_after`]
//! polls every changed URL on every instance until it serves the latest value. Then
//! [`Ctx::ask_fresh`] asks a restarted instance (nothing in process: what it does not
//! compute it reads from Redis), which finds out whether Redis itself converged or still
//! holds a value from before the changes that the others no longer read.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use reqwest::StatusCode;
use serde_json::{Value, json};

use super::call::{Call, send};
use super::ctx::Ctx;
use super::load::first_difference;
use crate::targets::{CONVERGE_GIVE_UP, CONVERGE_GRACE};

/// Polls of a key an instance does not serve the latest value of yet.
const POLL_EVERY: Duration = Duration::from_millis(50);
/// Polls of a key once the instance served its latest value (watching for old ones).
const CONFIRM_EVERY: Duration = Duration::from_millis(200);

/// What a watched answer shows, so which changes may move it.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Shows {
    /// A channel's summary.
    Channel(i64),
    /// A user's channel list.
    Owner(i64),
    /// Top posts (with channel titles).
    TopPosts,
}

/// One answer the outage's changes may move.
#[derive(Debug)]
struct Watched {
    call: Call,
    shows: Shows,
    /// The URL in the report (`/channels as user N` for a bearer's list).
    label: String,
    /// The reference's answer before the outage.
    before: Value,
    /// The reference's answer after the last change that moved it.
    latest: Option<Value>,
    /// The reference stayed busy when last asked (after the last change): the latest
    /// value is not known, so the answer is left out of the check.
    unknown: bool,
}

/// The channels the outage changes and the answers that show them.
#[derive(Debug)]
pub(crate) struct OutagePlan {
    /// `(channel, owner id, owner's token)`.
    channels: Vec<(i64, i64, String)>,
    watched: Vec<Watched>,
}

/// One change made while Redis was down.
#[derive(Debug)]
pub(crate) struct Change {
    /// Since Redis went down.
    pub(crate) at: Duration,
    /// The instance it went through.
    pub(crate) via: usize,
    /// In words.
    pub(crate) what: String,
    /// The watched answers it moved (per the reference, whose answer after it is the
    /// new latest value of each).
    pub(crate) moved: Vec<String>,
}

/// How often [`Ctx::ask_fresh`] asks a restarted instance for each changed answer.
const FRESH_ASKS: u32 = 3;

/// What the check saw of one instance.
#[derive(Debug, Default)]
pub(crate) struct Converged {
    /// Changed answers it served an old value of just before Redis came back (what it had
    /// to recover from).
    pub(crate) old_before: usize,
    /// Per changed URL: the time from Redis answering to the start of the first request
    /// that got the latest value; `None` if none did before the check gave up.
    pub(crate) keys: Vec<(String, Option<Duration>)>,
    /// Old values served after the instance had served the key's latest value, or
    /// [`CONVERGE_GRACE`] after Redis answered.
    pub(crate) wrong: u64,
    /// Requests the check sent.
    pub(crate) polls: u64,
    /// For the keys never converged: what the last answer had instead.
    pub(crate) still_old: Vec<String>,
    /// The first wrong answers, for the report.
    pub(crate) examples: Vec<String>,
}

/// The outage phase's own figures (its traffic's are in its [`crate::report::PhaseResult`]).
#[derive(Debug)]
pub(crate) struct Outage {
    /// What was done to Redis, in words.
    pub(crate) fault: String,
    /// The changes, in order.
    pub(crate) changes: Vec<Change>,
    /// The changes planned (fewer are made when they take longer than the outage).
    pub(crate) planned: usize,
    /// Answers watched, and of those, changed (the latest differs from the one before),
    /// and left out (the reference stayed busy after a change).
    pub(crate) watched: usize,
    pub(crate) changed: usize,
    pub(crate) unknown: usize,
    /// Per instance.
    pub(crate) instances: Vec<Converged>,
    /// The instance restarted after the check, and what it served (every answer other
    /// than the latest value is wrong: it can only come from Redis).
    pub(crate) restarted: Option<(usize, Converged)>,
    /// How long the check polled after Redis answered.
    pub(crate) checked_for: Duration,
}

impl OutagePlan {
    /// Answers watched.
    pub(crate) fn watched(&self) -> usize {
        self.watched.len()
    }

    /// Answers left out because the reference stayed busy after a change.
    pub(crate) fn unknown(&self) -> usize {
        self.watched.iter().filter(|w| w.unknown).count()
    }

    /// Answers whose latest value differs from the one before the outage (and is known).
    pub(crate) fn changed(&self) -> usize {
        self.watched.iter().filter(|w| w.is_changed()).count()
    }
}

impl Converged {
    /// Adds what was seen of more keys of the same instance (at most 6 examples).
    fn absorb(&mut self, more: Converged) {
        self.keys.extend(more.keys);
        self.wrong += more.wrong;
        self.polls += more.polls;
        self.still_old.extend(more.still_old);
        let room = 6usize.saturating_sub(self.examples.len());
        self.examples.extend(more.examples.into_iter().take(room));
    }
}

impl Watched {
    fn is_changed(&self) -> bool {
        !self.unknown && self.latest.as_ref().is_some_and(|l| *l != self.before)
    }
}

impl Ctx {
    /// Picks `n` channels, the answers that show them, and their reference answers;
    /// every instance is asked for each (so each holds the old value in process and in
    /// Redis), and the load stops comparing them with the reference (the check does).
    pub(crate) async fn outage_plan(&self, n: usize) -> Result<OutagePlan, String> {
        let mut rng = fastrand::Rng::with_seed(22);
        let mut ids: Vec<i64> = (1..=self.channels).collect();
        rng.shuffle(&mut ids);
        ids.truncate(n.max(1));
        let mut channels = Vec::new();
        let mut watched = Vec::new();
        let mut unchecked = vec![("/analytics/demo/top-posts".to_owned(), None)];
        for id in ids {
            let (owner, token) = self.owner_of(id).await?;
            let path = format!("/analytics/channels/{id}/metrics");
            unchecked.push((path.clone(), None));
            watched.push((Call::get(path.clone()), path, Shows::Channel(id)));
            if channels.iter().all(|(_, o, _)| *o != owner) {
                unchecked.push(("/channels".into(), Some(token.clone())));
                let call = Call {
                    bearer: Some(token.clone()),
                    ..Call::get("/channels".into())
                };
                let label = format!("/channels as user {owner}");
                watched.push((call, label, Shows::Owner(owner)));
            }
            channels.push((id, owner, token));
        }
        for period in ["1d", "7d", "30d"] {
            let path = format!("/analytics/demo/top-posts?period={period}&limit=10");
            watched.push((Call::get(path.clone()), path, Shows::TopPosts));
        }
        *self.unchecked.lock().unwrap_or_else(|e| e.into_inner()) = unchecked;
        let mut plan = OutagePlan {
            channels,
            watched: Vec::new(),
        };
        for (call, label, shows) in watched {
            let Some(before) = self.reference(&call).await else {
                self.stats().reference_unavailable += 1;
                continue;
            };
            let before = before.json;
            for i in 0..self.fleet.len() {
                self.fleet_call(i, "outage warm-up", &call).await;
            }
            plan.watched.push(Watched {
                call,
                shows,
                label,
                before,
                latest: None,
                unknown: false,
            });
        }
        Ok(plan)
    }

    /// Per instance, how many changed answers it serves an old value of now (asked once
    /// each, just before Redis comes back).
    pub(crate) async fn old_now(&self, plan: &OutagePlan) -> Vec<usize> {
        let changed: Vec<&Watched> = plan.watched.iter().filter(|w| w.is_changed()).collect();
        let asks = (0..self.fleet.len())
            .flat_map(|i| changed.iter().map(move |w| (i, *w)))
            .map(|(i, w)| async move {
                let reply = send(&self.http, &self.fleet[i], &w.call).await;
                let latest = reply.is_ok_and(|r| {
                    r.status == StatusCode::OK && Some(&r.json) == w.latest.as_ref()
                });
                (i, !latest)
            });
        let mut old = vec![0; self.fleet.len()];
        for (i, is_old) in futures_util::future::join_all(asks).await {
            old[i] += usize::from(is_old);
        }
        old
    }

    /// The load compares every answer again.
    pub(crate) fn check_everything(&self) {
        self.unchecked
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clear();
    }

    /// Three changes per planned channel, spread over `window` from `down`, each through
    /// another instance than the last: a new title through `PATCH /channels/{id}`
    /// (`#[cache_invalidate]` of two keys and of `demo_top_posts`), a subscriber more in
    /// the database then an admin invalidation of the tags `channel:N` and `user:OWNER`,
    /// or a subscriber more then an admin invalidation of the caches `analytics_summary`
    /// and `user_channels`. After each, the reference's answer of every watched URL the
    /// change may move; after the last, of every watched URL (the latest values).
    pub(crate) async fn outage_writes(
        &self,
        plan: &mut OutagePlan,
        down: Instant,
        window: Duration,
    ) -> Vec<Change> {
        let count = 3 * plan.channels.len();
        let every = window / (count as u32 + 1);
        let mut changes = Vec::new();
        for n in 0..count {
            let at = down + every * (n as u32 + 1);
            if Instant::now() > down + window {
                break;
            }
            tokio::time::sleep_until(at.into()).await;
            let (channel, owner, token) = plan.channels[n % plan.channels.len()].clone();
            let via = (n + n / 3) % self.fleet.len();
            let at = down.elapsed();
            let done = match n % 3 {
                0 => self.retitle(via, channel, &token, n).await,
                1 => {
                    let tags = [format!("channel:{channel}"), format!("user:{owner}")];
                    self.add_subscriber(via, channel, "tag", tags).await
                }
                _ => {
                    let caches = ["analytics_summary".into(), "user_channels".into()];
                    self.add_subscriber(via, channel, "cache", caches).await
                }
            };
            let what = match done {
                Ok(what) => what,
                Err(e) => {
                    self.stats().example(format!("outage change: {e}"));
                    continue;
                }
            };
            let renamed = n % 3 == 0;
            let moved = self
                .record_latest(plan.watched.iter_mut().filter(|w| match w.shows {
                    Shows::Channel(c) => c == channel,
                    Shows::Owner(o) => o == owner,
                    Shows::TopPosts => renamed,
                }))
                .await;
            changes.push(Change {
                at,
                via,
                what,
                moved,
            });
        }
        self.record_latest(plan.watched.iter_mut()).await;
        changes
    }

    /// Asks the reference for each of `watched` and records its answer as the latest
    /// value; the labels of those it moved. One the reference stays busy for is unknown
    /// until it answers again.
    async fn record_latest(&self, watched: impl Iterator<Item = &mut Watched>) -> Vec<String> {
        let watched: Vec<&mut Watched> = watched.collect();
        let now = watched.iter().map(|w| self.reference(&w.call));
        let now = futures_util::future::join_all(now).await;
        let mut moved = Vec::new();
        for (w, now) in watched.into_iter().zip(now) {
            let Some(now) = now else {
                self.stats().reference_unavailable += 1;
                w.unknown = true;
                continue;
            };
            // Asked after every change so far: the latest value is known again.
            w.unknown = false;
            if now.json != *w.latest.as_ref().unwrap_or(&w.before) {
                moved.push(w.label.clone());
                w.latest = Some(now.json);
            }
        }
        moved
    }

    async fn retitle(
        &self,
        via: usize,
        channel: i64,
        token: &str,
        n: usize,
    ) -> Result<String, String> {
        let title = format!("Outage title {n}");
        let call = Call::retitle(channel, token, &title);
        self.expect_ok(via, "outage rename", &call).await?;
        Ok(format!("PATCH /channels/{channel} title {title:?}"))
    }

    async fn add_subscriber(
        &self,
        via: usize,
        channel: i64,
        kind: &str,
        names: [String; 2],
    ) -> Result<String, String> {
        let subscribers = self.one_more_subscriber(channel).await?;
        for name in &names {
            let call = Call {
                bearer: Some(self.admin_token.clone()),
                ..Call::post("/admin/cache/invalidate", json!({ kind: name }))
            };
            self.expect_ok(via, "outage invalidate", &call).await?;
        }
        Ok(format!(
            "channel {channel} to {subscribers} subscribers, invalidate {kind} {} and {}",
            names[0], names[1]
        ))
    }

    /// Polls every changed URL of `plan` on every instance from `back` (when every master
    /// answered again) until each instance served the latest value of each, then for
    /// `confirm` more (or until [`CONVERGE_GIVE_UP`]); counts old values served after an
    /// instance had served a key's latest value, or after [`CONVERGE_GRACE`], as wrong.
    pub(crate) async fn converge_after(
        self: Arc<Self>,
        plan: Arc<OutagePlan>,
        back: Instant,
        confirm: Duration,
    ) -> Vec<Converged> {
        let changed: Vec<&Watched> = plan.watched.iter().filter(|w| w.is_changed()).collect();
        let remaining = AtomicUsize::new(changed.len() * self.fleet.len());
        let all_done: Mutex<Option<Instant>> = Mutex::new(None);
        let end = || match *all_done.lock().unwrap_or_else(|e| e.into_inner()) {
            Some(t) => t + confirm,
            None => back + CONVERGE_GIVE_UP,
        };
        let (this, remaining, all_done, end) = (&self, &remaining, &all_done, &end);
        let polls = (0..self.fleet.len())
            .flat_map(|i| changed.iter().map(move |w| (i, *w)))
            .map(|(i, w)| async move {
                let latest = w.latest.as_ref().unwrap_or(&w.before);
                let mut got = Converged::default();
                let mut converged = None;
                let mut last_old = None;
                while Instant::now() < end() {
                    let sent = back.elapsed();
                    let reply = send(&this.http, &this.fleet[i], &w.call).await;
                    got.polls += 1;
                    let old = match &reply {
                        Ok(r) if r.status == StatusCode::OK && r.json == *latest => None,
                        Ok(r) if r.status == StatusCode::OK => {
                            Some(first_difference(&r.json, latest, ""))
                        }
                        Ok(r) => Some(format!("status {}", r.status)),
                        Err(e) => Some(format!("socket error: {e}")),
                    };
                    match old {
                        None if converged.is_none() => {
                            converged = Some(sent);
                            if remaining.fetch_sub(1, Ordering::AcqRel) == 1 {
                                *all_done.lock().unwrap_or_else(|e| e.into_inner()) =
                                    Some(Instant::now());
                            }
                        }
                        None => {}
                        Some(old) => {
                            if converged.is_some() || sent > CONVERGE_GRACE {
                                got.wrong += 1;
                                if got.examples.len() < 3 {
                                    got.examples.push(format!(
                                        "WRONG api-{} {} {:.2} s after Redis answered{}: {old}",
                                        i + 1,
                                        w.label,
                                        sent.as_secs_f64(),
                                        if converged.is_some() {
                                            " (had converged)"
                                        } else {
                                            ""
                                        }
                                    ));
                                }
                            }
                            last_old = Some(old);
                        }
                    }
                    let pause = if converged.is_some() || sent > CONVERGE_GRACE {
                        CONFIRM_EVERY
                    } else {
                        POLL_EVERY
                    };
                    tokio::time::sleep(pause).await;
                }
                got.keys.push((w.label.clone(), converged));
                if converged.is_none() {
                    got.still_old.push(format!(
                        "{}: {}",
                        w.label,
                        last_old.unwrap_or_else(|| "never asked".into())
                    ));
                }
                (i, got)
            });
        let results = futures_util::future::join_all(polls).await;
        let mut out: Vec<Converged> = (0..self.fleet.len())
            .map(|_| Converged::default())
            .collect();
        for (i, got) in results {
            out[i].absorb(got);
        }
        out
    }

    /// Asks instance `i`, just restarted, for every changed answer of `plan`
    /// [`FRESH_ASKS`] times, 100 ms apart; every answer other than the latest value is
    /// wrong. A key's delay is from the first ask until the latest value (`None`: never).
    pub(crate) async fn ask_fresh(&self, plan: &OutagePlan, i: usize) -> Converged {
        let started = Instant::now();
        let asks = plan
            .watched
            .iter()
            .filter(|w| w.is_changed())
            .map(|w| async move {
                let mut got = Converged::default();
                let mut converged = None;
                let mut last_old = None;
                for _ in 0..FRESH_ASKS {
                    let sent = started.elapsed();
                    let reply = send(&self.http, &self.fleet[i], &w.call).await;
                    got.polls += 1;
                    match &reply {
                        Ok(r)
                            if r.status == StatusCode::OK && Some(&r.json) == w.latest.as_ref() =>
                        {
                            converged = converged.or(Some(sent));
                        }
                        other => {
                            let old = match other {
                                Ok(r) if r.status == StatusCode::OK => first_difference(
                                    &r.json,
                                    w.latest.as_ref().unwrap_or(&w.before),
                                    "",
                                ),
                                Ok(r) => format!("status {}", r.status),
                                Err(e) => format!("socket error: {e}"),
                            };
                            got.wrong += 1;
                            if got.examples.is_empty() {
                                got.examples.push(format!(
                                "WRONG api-{} (restarted) {} {:.2} s after its first ask: {old}",
                                i + 1,
                                w.label,
                                sent.as_secs_f64()
                            ));
                            }
                            last_old = Some(old);
                        }
                    }
                    tokio::time::sleep(Duration::from_millis(100)).await;
                }
                got.keys.push((w.label.clone(), converged));
                if let Some(old) = last_old {
                    got.still_old.push(format!("{}: {old}", w.label));
                }
                got
            });
        let mut out = Converged::default();
        for got in futures_util::future::join_all(asks).await {
            out.absorb(got);
        }
        out
    }
}
