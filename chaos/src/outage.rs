//! The Redis outage phase: every node of the cluster saves its data and is killed while
//! the traffic goes on and changes go through the API of the instances in turn, then
//! every node is started again with its data; from the moment every master answers PING
//! again, every changed answer is polled on every instance until it serves the latest
//! value (see `traffic::converge`).
//!
//! Why kill and restart rather than pause (SIGSTOP): a paused node keeps its client
//! connections open, so what the instances send while it is paused (deletes,
//! announcements) waits in the socket buffers, although the client gave up on it after
//! its 50 ms deadline, and runs as soon as the node resumes: the fleet then converges
//! within milliseconds without recovering anything (measured: p99 under 32 ms on
//! today's main). A killed node refuses connections, so nothing sent during the outage
//! reaches Redis, as with a crash or a network partition. Every node comes back at once
//! with the data it saved just before (`SAVE`) and its `nodes-PORT.conf`, so the same
//! three masters own the same slots (no failover: no master is left to vote for one)
//! and Redis still holds the values from before the changes.
//!
//! What it finds on the tree it was written on (before the recovery queue of issue 22):
//! after a 10 s outage every instance converges within about 1 s (the backplane clears
//! the in-process tier when it resubscribes, and the deletes are retried for 30 s). With
//! `--outage-secs 45` (the changes are all made in the first 10 s) the running instances
//! still converge, by computing again, but Redis keeps the values from before the
//! changes (the retries gave up): the instance restarted after the check serves them,
//! and the run fails.

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use tokio::io::{AsyncReadExt, AsyncWriteExt};

use crate::phase::{Fleet, Settings, Traffic, restart_instance};
use crate::report::PhaseResult;
use crate::traffic::{Ctx, Outage};

/// The phase's name in the report.
pub(crate) const NAME: &str = "redis outage";

/// Runs the outage phase: its traffic's figures and its own.
pub(crate) async fn phase(
    ctx: &Arc<Ctx>,
    fleet: &mut Fleet,
    settings: &Settings,
    run_id: u64,
) -> Result<(PhaseResult, Outage), String> {
    let traffic = Traffic::start(ctx, settings, run_id, false).await;
    let mut plan = ctx.outage_plan(settings.outage_channels).await?;
    // The warm-up's values reach Redis in the background.
    tokio::time::sleep(Duration::from_millis(300)).await;
    let masters = tokio::task::block_in_place(|| fleet.cluster.master_ports())?;
    let killed = tokio::task::block_in_place(|| fleet.cluster.save_and_kill_all())?;
    let down = Instant::now();
    // The last change is answered before Redis comes back. In a longer outage than the
    // default (`--outage-secs`), the changes are all made in its first 10 s: they then
    // wait longer than the 30 s an invalidation used to be retried for.
    let window = settings
        .outage
        .min(Duration::from_secs(10))
        .saturating_sub(Duration::from_millis(300));
    let changes = ctx.outage_writes(&mut plan, down, window).await;
    let old_before = ctx.old_now(&plan).await;
    tokio::time::sleep_until((down + settings.outage).into()).await;
    fleet.cluster.launch_stopped()?;
    let resumed = Instant::now();
    let back = answered(&masters).await?;
    let (watched, changed, unknown) = (plan.watched(), plan.changed(), plan.unknown());
    let plan = Arc::new(plan);
    let check = Arc::clone(ctx).converge_after(Arc::clone(&plan), back, settings.confirm);
    let check = tokio::spawn(check);
    let settled = tokio::task::block_in_place(|| fleet.cluster.wait_ok(Duration::from_secs(30)));
    let masters_after = tokio::task::block_in_place(|| fleet.cluster.master_ports());
    let mut instances = check.await.map_err(|e| format!("convergence check: {e}"))?;
    for (c, old) in instances.iter_mut().zip(old_before) {
        c.old_before = old;
    }
    let checked_for = back.elapsed();
    // A new process has nothing in process: what it serves comes from Redis or from a
    // computation, so an old value shows that Redis still holds one.
    let fresh = fleet.apis.len() - 1;
    // Out of rotation a while before the drain: the L2 probe asks its second instance
    // 30 ms after the first, so a pair begun just before could reach it while it is down.
    ctx.in_rotation[fresh].store(false, Ordering::Release);
    tokio::time::sleep(Duration::from_millis(200)).await;
    restart_instance(ctx, fleet, fresh).await?;
    let restarted = Some((fresh, ctx.ask_fresh(&plan, fresh).await));
    ctx.check_everything();
    let (mut before, mut after) = (masters.clone(), masters_after.unwrap_or_default());
    before.sort_unstable();
    after.sort_unstable();
    let fault = format!(
        "`SAVE` then SIGKILL every Redis node ({} nodes, masters {before:?}); all started \
         again with their data {:.1} s later: every master answered PING {:.0} ms after the \
         start; cluster_state:ok {} after that; masters after: {}",
        killed.len(),
        (resumed - down).as_secs_f64(),
        (back - resumed).as_secs_f64() * 1000.0,
        match settled {
            Ok(d) => format!("{:.1} s", d.as_secs_f64()),
            Err(e) => format!("not reached ({e})"),
        },
        if after == before {
            "the same".to_owned()
        } else {
            format!("{after:?} (a failover)")
        }
    );
    let outage = Outage {
        fault: fault.clone(),
        changes,
        planned: 3 * settings.outage_channels,
        watched,
        changed,
        unknown,
        instances,
        restarted,
        checked_for,
    };
    let result = traffic.finish(ctx, NAME, fault, Some(back)).await;
    Ok((result, outage))
}

/// When every port in `masters` has answered `PING` (polled every 2 ms, for up to 30 s
/// after the start).
async fn answered(masters: &[u16]) -> Result<Instant, String> {
    let until = Instant::now() + Duration::from_secs(30);
    let each = masters.iter().map(|&port| async move {
        while Instant::now() < until {
            if pong(port).await {
                return Ok(Instant::now());
            }
            tokio::time::sleep(Duration::from_millis(2)).await;
        }
        Err(format!(
            "redis-{port} did not answer PING within 30 s of its start"
        ))
    });
    let answered = futures_util::future::join_all(each).await;
    let mut last = None;
    for at in answered {
        let at = at?;
        last = Some(last.map_or(at, |l: Instant| l.max(at)));
    }
    last.ok_or_else(|| "no master to wait for".to_owned())
}

/// Whether `127.0.0.1:port` answers an inline `PING` with `+PONG` within 200 ms.
async fn pong(port: u16) -> bool {
    let exchange = async {
        let mut s = tokio::net::TcpStream::connect(("127.0.0.1", port)).await?;
        s.write_all(b"PING\r\n").await?;
        let mut buf = [0u8; 7];
        s.read_exact(&mut buf).await?;
        Ok::<bool, std::io::Error>(&buf == b"+PONG\r\n")
    };
    matches!(
        tokio::time::timeout(Duration::from_millis(200), exchange).await,
        Ok(Ok(true))
    )
}
