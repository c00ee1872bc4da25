//! The backplane's subscription (feature `redis`): one pub/sub connection per runtime,
//! resubscribed after any gap, pinged every second; see `message.rs` for what travels on it.

use std::sync::{Arc, Weak};
use std::time::Duration;

use futures_util::StreamExt;

use super::conn::Shared;
use super::message::{Message, Subscriber};

/// How often an idle subscription is pinged.
const PING_EVERY: Duration = Duration::from_secs(1);
/// How long a ping (or a subscription attempt) may take.
const PING_TIMEOUT: Duration = Duration::from_secs(1);

/// Subscribes to the namespace's channel and applies other instances' messages, for as
/// long as the Redis thread runs; resubscribes after a disconnection.
pub(crate) async fn listen(shared: Arc<Shared>, subscriber: Weak<dyn Subscriber>) {
    let channel = shared.keys.channel();
    let mut backoff = Duration::from_millis(50);
    let mut attempts = 0u64;
    loop {
        attempts += 1;
        let subscribed = tokio::time::timeout(PING_TIMEOUT, async {
            let mut pubsub = shared.target.pubsub(attempts).get_async_pubsub().await?;
            pubsub.subscribe(&channel).await?;
            Ok::<_, redis::RedisError>(pubsub)
        })
        .await;
        let pubsub = match subscribed {
            Ok(Ok(p)) => p,
            Ok(Err(e)) => {
                tracing::debug!(error = %e, "backplane: cannot subscribe yet");
                tokio::time::sleep(backoff).await;
                backoff = (backoff * 2).min(Duration::from_secs(1));
                continue;
            }
            Err(_) => {
                tracing::debug!("backplane: subscription timed out");
                tokio::time::sleep(backoff).await;
                backoff = (backoff * 2).min(Duration::from_secs(1));
                continue;
            }
        };
        backoff = Duration::from_millis(50);
        if attempts > 1 {
            // Messages may have been lost since the last subscription (or since start-up).
            shared
                .totals
                .resubscribed
                .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            tracing::info!("backplane resubscribed: clearing the in-process tier");
            shared.probe_now();
            if let Some(s) = subscriber.upgrade() {
                s.on_resubscribed();
            }
        }
        shared.set_live(true);
        let (mut sink, mut stream) = pubsub.split();
        let mut ping = tokio::time::interval(PING_EVERY);
        ping.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        ping.tick().await;
        loop {
            tokio::select! {
                msg = stream.next() => {
                    let Some(msg) = msg else { break };
                    let Some((from, msg)) = Message::decode(msg.get_payload_bytes()) else {
                        tracing::debug!("backplane: ignoring a foreign message");
                        continue;
                    };
                    if from == shared.instance {
                        continue;
                    }
                    shared.totals.received.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                    if matches!(msg, Message::Write { .. }) {
                        // Callers waiting on a `lock = true` lock re-read Redis.
                        shared.written.notify(usize::MAX);
                    }
                    if let Some(s) = subscriber.upgrade() {
                        s.on_message(msg);
                    }
                }
                _ = ping.tick() => {
                    // A subscribed connection answers PING with `["pong", ""]`, not
                    // `PONG`: any answer will do.
                    let alive = tokio::time::timeout(PING_TIMEOUT, sink.ping::<redis::Value>()).await;
                    if !matches!(alive, Ok(Ok(_))) {
                        tracing::debug!("backplane: ping failed, resubscribing");
                        break;
                    }
                    shared.set_live(true);
                }
            }
        }
        shared.set_live(false);
        tracing::warn!("backplane disconnected: resubscribing");
    }
}
