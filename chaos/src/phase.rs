//! One phase of the run: its traffic (the load, the staleness check's changes, the L2
//! probe) for the phase's duration, and the fault injected at its start.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use crate::fleet::{Api, Cluster};
use crate::report::PhaseResult;
use crate::traffic::{self, Ctx};

/// The hash tag of the cache the L2 probe uses: its master is the one the faults hit.
const PROBE_TAG: &str = "{example-api:ai_content_analysis}";

/// What the phases need to run their faults.
pub(crate) struct Fleet {
    pub(crate) cluster: Cluster,
    pub(crate) apis: Vec<Api>,
    /// The node killed in the second phase, restarted in the fifth.
    pub(crate) killed: Option<usize>,
}

/// The fault a phase injects at its start.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) enum Fault {
    None,
    KillMaster,
    StallMaster,
    RestartInstance,
    RestartNode,
}

/// How long, how hard, how often.
pub(crate) struct Settings {
    /// Whether the mix includes the rows marked `long_only`.
    pub(crate) full_mix: bool,
    pub(crate) phase: Duration,
    pub(crate) workers: usize,
    pub(crate) stall: Duration,
    pub(crate) invalidate_every: Duration,
    pub(crate) probe_every: Duration,
    /// How long every Redis node is down in the outage phase.
    pub(crate) outage: Duration,
    /// Channels the outage phase changes (three changes each).
    pub(crate) outage_channels: usize,
    /// How long the outage phase keeps checking after every instance converged.
    pub(crate) confirm: Duration,
}

/// The traffic of a phase: the load, (optionally) the staleness check's changes, and the
/// L2 probe, running until [`Traffic::finish`].
pub(crate) struct Traffic {
    stop: Arc<AtomicBool>,
    tasks: Vec<tokio::task::JoinHandle<()>>,
    l2_before: Vec<(u64, u64)>,
    started: Instant,
}

impl Traffic {
    /// Starts a new phase's figures and its traffic; `invalidations`: with the staleness
    /// check's changes.
    pub(crate) async fn start(
        ctx: &Arc<Ctx>,
        settings: &Settings,
        run_id: u64,
        invalidations: bool,
    ) -> Self {
        let _ = ctx.take_stats();
        let l2_before = traffic::l2_counters(ctx).await;
        let stop = Arc::new(AtomicBool::new(false));
        let mut tasks = vec![tokio::spawn({
            let (ctx, stop, workers) = (Arc::clone(ctx), Arc::clone(&stop), settings.workers);
            let full = settings.full_mix;
            async move { ctx.load(workers, 4, full, stop).await }
        })];
        if invalidations {
            tasks.push(tokio::spawn({
                let (ctx, stop, every) = (
                    Arc::clone(ctx),
                    Arc::clone(&stop),
                    settings.invalidate_every,
                );
                async move { ctx.invalidations(every, stop).await }
            }));
        }
        tasks.push(tokio::spawn({
            let (ctx, stop, every) = (Arc::clone(ctx), Arc::clone(&stop), settings.probe_every);
            async move { ctx.l2_probe(run_id, every, stop).await }
        }));
        Self {
            stop,
            tasks,
            l2_before,
            started: Instant::now(),
        }
    }

    /// Stops the traffic and returns the phase's figures; L2 recovery is measured from
    /// `recover_from`.
    pub(crate) async fn finish(
        self,
        ctx: &Ctx,
        name: &'static str,
        fault: String,
        recover_from: Option<Instant>,
    ) -> PhaseResult {
        self.stop.store(true, Ordering::Release);
        for t in self.tasks {
            let _ = t.await;
        }
        let duration = self.started.elapsed();
        let stats = ctx.take_stats();
        let l2_after = traffic::l2_counters(ctx).await;
        let (mut hits, mut misses) = (0, 0);
        for (b, a) in self.l2_before.iter().zip(&l2_after) {
            // A restarted instance counts from 0 again.
            let (h0, m0) = if a.0 < b.0 || a.1 < b.1 { (0, 0) } else { *b };
            hits += a.0 - h0;
            misses += a.1 - m0;
        }
        let l2_hit_ratio = (hits + misses > 0).then(|| hits as f64 / (hits + misses) as f64);
        let recovery = recover_from.map(|from| {
            stats
                .l2_probe_hits
                .iter()
                .find(|&&t| t >= from)
                .map(|&t| t - from)
        });
        PhaseResult {
            name,
            fault,
            duration,
            stats,
            l2_hit_ratio,
            recovery,
        }
    }
}

/// Runs one phase: traffic, invalidations and the L2 probe for the phase's duration, with
/// `fault` injected at its start.
pub(crate) async fn phase(
    ctx: &Arc<Ctx>,
    fleet: &mut Fleet,
    settings: &Settings,
    run_id: u64,
    name: &'static str,
    fault: Fault,
) -> Result<PhaseResult, String> {
    let traffic = Traffic::start(ctx, settings, run_id, true).await;
    let (description, recover_from) = inject(ctx, fleet, settings, fault).await;
    let description = description?;
    tokio::time::sleep_until((traffic.started + settings.phase).into()).await;
    Ok(traffic.finish(ctx, name, description, recover_from).await)
}

/// Injects `fault`; returns its description and the moment from which L2 recovery is
/// measured (none for the steady phase).
async fn inject(
    ctx: &Ctx,
    fleet: &mut Fleet,
    settings: &Settings,
    fault: Fault,
) -> (Result<String, String>, Option<Instant>) {
    match fault {
        Fault::None => (Ok("none".into()), None),
        Fault::KillMaster => {
            let idx = match fleet.cluster.master_of(PROBE_TAG) {
                Ok(i) => i,
                Err(e) => return (Err(e), None),
            };
            let port = fleet.cluster.nodes[idx].port;
            fleet.cluster.nodes[idx].kill();
            fleet.killed = Some(idx);
            let at = Instant::now();
            // The dead master is listed (not yet `fail`) until the node timeout: wait for
            // another node to own the slot.
            let promoted = tokio::task::block_in_place(|| {
                while at.elapsed() < Duration::from_secs(60) {
                    if fleet.cluster.master_of(PROBE_TAG).is_ok_and(|m| m != idx) {
                        return Some(at.elapsed());
                    }
                    std::thread::sleep(Duration::from_millis(50));
                }
                None
            });
            let text = match promoted {
                Some(d) => format!(
                    "SIGKILL master redis-{port}; its replica owned the slot after {:.1} s",
                    d.as_secs_f64()
                ),
                None => format!("SIGKILL master redis-{port}; no replica took over in 60 s"),
            };
            (Ok(text), Some(at))
        }
        Fault::StallMaster => {
            let idx = match fleet.cluster.master_of(PROBE_TAG) {
                Ok(i) => i,
                Err(e) => return (Err(e), None),
            };
            let node = &fleet.cluster.nodes[idx];
            if let Err(e) = node.signal("STOP") {
                return (Err(e), None);
            }
            tokio::time::sleep(settings.stall).await;
            if let Err(e) = node.signal("CONT") {
                return (Err(e), None);
            }
            (
                Ok(format!(
                    "SIGSTOP master redis-{} for {:.1} s (deadline 50 ms), then SIGCONT",
                    node.port,
                    settings.stall.as_secs_f64()
                )),
                Some(Instant::now()),
            )
        }
        Fault::RestartInstance => {
            let i = 1;
            let (pid, down) = match restart_instance(ctx, fleet, i).await {
                Ok(r) => r,
                Err(e) => return (Err(e), None),
            };
            let back = Instant::now();
            (
                Ok(format!(
                    "drain, SIGKILL {} (pid {pid:?}), restart: back in rotation after {:.1} s",
                    fleet.apis[i].name,
                    (back - down).as_secs_f64()
                )),
                Some(back),
            )
        }
        Fault::RestartNode => {
            let Some(idx) = fleet.killed else {
                return (Err("no node was killed".into()), None);
            };
            let node = &mut fleet.cluster.nodes[idx];
            let port = node.port;
            if let Err(e) = tokio::task::block_in_place(|| node.start()) {
                return (Err(e), None);
            }
            let at = Instant::now();
            let text = settled(
                &fleet.cluster,
                &format!("restart redis-{port}"),
                "rejoined (as a replica)",
            );
            (Ok(text), Some(at))
        }
    }
}

/// Takes instance `i` out of rotation, drains it, kills it (SIGKILL), starts it again
/// and puts it back in rotation; returns its pid before and when it went down.
pub(crate) async fn restart_instance(
    ctx: &Ctx,
    fleet: &mut Fleet,
    i: usize,
) -> Result<(Option<u32>, Instant), String> {
    ctx.in_rotation[i].store(false, Ordering::Release);
    let drain_until = Instant::now() + Duration::from_secs(5);
    while ctx.in_flight[i].load(Ordering::Acquire) > 0 && Instant::now() < drain_until {
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    let api = &mut fleet.apis[i];
    let pid = api.pid();
    api.kill();
    let down = Instant::now();
    tokio::time::sleep(Duration::from_millis(500)).await;
    api.start(&ctx.http, Duration::from_secs(60)).await?;
    ctx.in_rotation[i].store(true, Ordering::Release);
    Ok((pid, down))
}

/// `what` and how long the cluster took to be whole again (`done` after N s).
fn settled(cluster: &Cluster, what: &str, done: &str) -> String {
    match tokio::task::block_in_place(|| cluster.wait_ok(Duration::from_secs(30))) {
        Ok(d) => format!("{what}; {done} after {:.1} s", d.as_secs_f64()),
        Err(e) => format!("{what}; {e}"),
    }
}
