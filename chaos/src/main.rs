//! `chaos`: a fleet of three example-api instances on a Redis Cluster of three masters
//! with one replica each, driven with mixed traffic through faults, on loopback.
//!
//! ```text
//! cargo run --release -p chaos -- --report chaos-report.md   # the long run (~3.5 min)
//! cargo run -p chaos -- --short                              # the CI run (~1 min)
//! ```
//!
//! Phases: steady; kill the master of the probed slot (its replica takes over); SIGSTOP
//! the new master for longer than the Redis deadline, then SIGCONT; drain, kill and
//! restart one instance; restart the killed node (it rejoins as a replica); a Redis
//! outage (every node down for 10 s, then restarted with its data, while changes go
//! through the API of every instance; see `outage`); a miss storm of 1,000 requests on
//! one `lock = true` key. Per phase: requests, statuses not asked for, 5xx, socket errors,
//! latency, L2 hit ratio, answers checked against a `--no-cache` instance on the same
//! SQLite file, staleness after admin invalidations, time until L2 hits resume; for the
//! outage, per instance, the time from Redis answering again until it serves the latest
//! value of every changed answer, and old values served after that. The report is
//! Markdown; the exit status is 1 when an answer was wrong (an old one after the outage
//! included), a status unexpected (5xx included), a socket failed, an instance never
//! served a change made during the outage, or the storm ran the body more than 3 times
//! (`--strict`: also when a latency target is missed).
//!
//! Everything started is owned by a `fleet::Proc` and killed by pid when the run ends,
//! fails or is interrupted (Ctrl-C).
//!
//! `chaos serve ARGS` runs the example-api service itself (the instances are this binary,
//! unless `--api-bin` names another build of `example-api`).

use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use clap::Parser;

mod fleet;
mod outage;
mod phase;
mod report;
mod targets;
mod traffic;

use fleet::{Api, Cluster};
use phase::{Fault, Fleet, Settings};
use traffic::Ctx;

/// Fleet chaos test on a Redis Cluster.
#[derive(Debug, Parser)]
#[command(name = "chaos")]
struct Opts {
    /// The CI version: each phase a few seconds.
    #[arg(long)]
    short: bool,
    /// Seconds per phase (default: 30, or 5 with `--short`).
    #[arg(long)]
    phase_secs: Option<u64>,
    /// Concurrent load tasks (default: 32, or 8 with `--short`).
    #[arg(long)]
    workers: Option<usize>,
    /// Requests of the miss storm.
    #[arg(long, default_value_t = 1000)]
    storm: usize,
    /// Where to write the Markdown report (it is printed as well).
    #[arg(long)]
    report: Option<PathBuf>,
    /// An example-api binary to run as the instances (default: this binary's `serve`).
    #[arg(long)]
    api_bin: Option<PathBuf>,
    /// Directory for the database, the cluster's files and the logs (default: a new one
    /// under the system's temporary directory, removed at the end unless `--keep`).
    #[arg(long)]
    work_dir: Option<PathBuf>,
    /// Keep the work directory (logs) after the run.
    #[arg(long)]
    keep: bool,
    /// Seconds every Redis node is down in the outage phase.
    #[arg(long, default_value_t = 10)]
    outage_secs: u64,
    /// Also fail when a latency target (staleness, L2 recovery) is missed.
    #[arg(long)]
    strict: bool,
}

/// Admin token of the fleet.
const ADMIN_TOKEN: &str = "chaos-admin-token";

fn main() -> std::process::ExitCode {
    if std::env::args().nth(1).as_deref() == Some("serve") {
        return serve(std::env::args().skip(2));
    }
    let opts = Opts::parse();
    let rt = match tokio::runtime::Builder::new_multi_thread()
        .worker_threads(4)
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("chaos: tokio runtime: {e}");
            return std::process::ExitCode::FAILURE;
        }
    };
    let result = rt.block_on(async {
        tokio::select! {
            r = run(&opts) => r,
            _ = tokio::signal::ctrl_c() => Err("interrupted: everything started was stopped".to_owned()),
        }
    });
    match result {
        Ok(true) => std::process::ExitCode::SUCCESS,
        Ok(false) => std::process::ExitCode::FAILURE,
        Err(e) => {
            eprintln!("chaos: {e}");
            std::process::ExitCode::FAILURE
        }
    }
}

/// `chaos serve ARGS`: the example-api service, as its own binary runs it.
fn serve(args: impl Iterator<Item = String>) -> std::process::ExitCode {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info,sqlx=warn")),
        )
        .init();
    let config = example_api::Config::parse_from(std::iter::once("example-api".into()).chain(args));
    let rt = match tokio::runtime::Runtime::new() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("tokio runtime: {e}");
            return std::process::ExitCode::FAILURE;
        }
    };
    match rt.block_on(example_api::serve(config)) {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("example-api: {e}");
            std::process::ExitCode::FAILURE
        }
    }
}

/// A directory removed when dropped (unless kept).
struct WorkDir {
    path: PathBuf,
    keep: bool,
}

impl Drop for WorkDir {
    fn drop(&mut self) {
        if !self.keep {
            let _ = std::fs::remove_dir_all(&self.path);
        }
    }
}

async fn run(opts: &Opts) -> Result<bool, String> {
    #[cfg(unix)]
    let _ = rlimit::increase_nofile_limit(16_384);
    let settings = Settings {
        full_mix: !opts.short,
        phase: Duration::from_secs(opts.phase_secs.unwrap_or(if opts.short { 5 } else { 30 })),
        workers: opts.workers.unwrap_or(if opts.short { 8 } else { 32 }),
        stall: Duration::from_millis(1000),
        invalidate_every: Duration::from_millis(if opts.short { 400 } else { 700 }),
        probe_every: Duration::from_millis(100),
        outage: Duration::from_secs(opts.outage_secs.max(1)),
        outage_channels: if opts.short { 4 } else { 6 },
        confirm: Duration::from_secs(if opts.short { 3 } else { 10 }),
    };
    // Longer than the stall, so that it does not cause a failover; short enough that a
    // killed master is replaced within the phase (Redis' default is 15 s).
    let node_timeout = Duration::from_millis(2000);
    let run_id = std::process::id() as u64 * 1_000
        + (std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_secs())
            % 1000);
    let work = WorkDir {
        path: opts
            .work_dir
            .clone()
            .unwrap_or_else(|| std::env::temp_dir().join(format!("chaos-{run_id}"))),
        keep: opts.keep || opts.work_dir.is_some(),
    };
    std::fs::create_dir_all(&work.path)
        .map_err(|e| format!("work dir {}: {e}", work.path.display()))?;
    let dir = work.path.clone();
    eprintln!("chaos: work dir {}", dir.display());

    let started = Instant::now();
    let cluster = tokio::task::block_in_place(|| Cluster::start(&dir, node_timeout))?;
    eprintln!(
        "chaos: cluster up in {:.1} s: {}",
        started.elapsed().as_secs_f64(),
        cluster.url()
    );
    let (program, self_serve) = match &opts.api_bin {
        Some(p) => (p.clone(), false),
        None => (
            std::env::current_exe().map_err(|e| format!("own binary: {e}"))?,
            true,
        ),
    };
    let db_path = dir.join("chaos.db");
    let db_url = format!("sqlite://{}?mode=rwc", db_path.display());
    let mut common = vec![
        "--database-url".to_owned(),
        db_url.clone(),
        "--admin-token".into(),
        ADMIN_TOKEN.into(),
        "--rate-limit".into(),
        "0".into(),
    ];
    if opts.short {
        // A smaller dataset seeds faster in a debug build; the traffic is the same.
        common.extend(["--seed-track-hours".into(), "72".into()]);
    }
    let mut cached = common.clone();
    cached.extend([
        "--redis-url".into(),
        cluster.url(),
        "--redis-timeout".into(),
        "50ms".into(),
    ]);
    let mut reference_args = common.clone();
    reference_args.push("--no-cache".into());

    let http = reqwest::Client::builder()
        .timeout(Duration::from_secs(10))
        .connect_timeout(Duration::from_secs(2))
        .pool_max_idle_per_host(1024)
        .build()
        .map_err(|e| format!("http client: {e}"))?;
    let mut apis = Vec::new();
    for n in 1..=3 {
        apis.push(Api::new(
            &format!("api-{n}"),
            &program,
            self_serve,
            &cached,
            &dir,
        )?);
    }
    let mut reference = Api::new("reference", &program, self_serve, &reference_args, &dir)?;
    // The first start seeds the database; the others open it.
    apis[0].start(&http, Duration::from_secs(180)).await?;
    for api in apis.iter_mut().skip(1) {
        api.start(&http, Duration::from_secs(60)).await?;
    }
    reference.start(&http, Duration::from_secs(60)).await?;
    eprintln!(
        "chaos: fleet up in {:.1} s (api pids {:?}, reference {:?}, redis pids {:?})",
        started.elapsed().as_secs_f64(),
        apis.iter().map(Api::pid).collect::<Vec<_>>(),
        reference.pid(),
        cluster.nodes.iter().map(|n| n.pid()).collect::<Vec<_>>()
    );

    let db = sqlx::sqlite::SqlitePoolOptions::new()
        .max_connections(2)
        .connect(&format!("sqlite://{}", db_path.display()))
        .await
        .map_err(|e| format!("database: {e}"))?;
    let tokens: Vec<String> = sqlx::query_scalar("SELECT token FROM users ORDER BY id")
        .fetch_all(&db)
        .await
        .map_err(|e| format!("users: {e}"))?;
    let channels: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM channels")
        .fetch_one(&db)
        .await
        .map_err(|e| format!("channels: {e}"))?;
    if tokens.is_empty() || channels == 0 {
        return Err("the seeded database has no users or channels".into());
    }
    let ctx = Arc::new(Ctx::new(
        apis.iter().map(|a| a.base.clone()).collect(),
        reference.base.clone(),
        tokens,
        ADMIN_TOKEN.into(),
        channels,
        db,
        http.clone(),
    ));
    let mut fleet = Fleet {
        cluster,
        apis,
        killed: None,
    };

    let plan = [
        ("steady", Fault::None),
        ("kill a master", Fault::KillMaster),
        ("stall a master", Fault::StallMaster),
        ("restart an instance", Fault::RestartInstance),
        ("restart the node", Fault::RestartNode),
    ];
    let mut phases = Vec::new();
    for (name, fault) in plan {
        eprintln!("chaos: phase `{name}`");
        let result = phase::phase(&ctx, &mut fleet, &settings, run_id, name, fault).await?;
        eprintln!(
            "chaos:   {} requests, {} wrong, {} unexpected, {} socket errors",
            result.stats.requests,
            result.stats.wrong,
            result.stats.unexpected,
            result.stats.socket_errors
        );
        phases.push(result);
    }
    eprintln!("chaos: phase `{}`", outage::NAME);
    let (result, outage) = outage::phase(&ctx, &mut fleet, &settings, run_id).await?;
    eprintln!(
        "chaos:   {} requests, {} changes, {} wrong after Redis answered, {} answers never converged",
        result.stats.requests,
        outage.changes.len(),
        outage.instances.iter().map(|c| c.wrong).sum::<u64>(),
        outage
            .instances
            .iter()
            .map(|c| c.still_old.len())
            .sum::<usize>()
    );
    phases.push(result);
    eprintln!("chaos: miss storm");
    let storm = traffic::miss_storm(
        &ctx,
        opts.storm,
        "demo_best_times",
        "/analytics/demo/best-times",
    )
    .await;

    let mut failures: Vec<String> = phases.iter().flat_map(report::phase_failures).collect();
    failures.extend(report::outage_failures(&outage));
    failures.extend(report::storm_failures(&storm));
    let mut misses: Vec<String> = phases
        .iter()
        .flat_map(|p| report::phase_target_misses(p, p.name == "steady"))
        .collect();
    misses.extend(report::outage_target_misses(&outage));
    let mut verdict = failures.clone();
    verdict.extend(misses.iter().cloned());
    let header = header(opts, &settings, node_timeout, self_serve, &program);
    let md = report::markdown(&header, &phases, &outage, &storm, &verdict);
    println!("{md}");
    if let Some(path) = &opts.report {
        std::fs::write(path, &md).map_err(|e| format!("report {}: {e}", path.display()))?;
    }
    drop(fleet);
    drop(reference);
    Ok(failures.is_empty() && (!opts.strict || misses.is_empty()))
}

/// The report's heading: command, machine, settings.
fn header(
    opts: &Opts,
    settings: &Settings,
    node_timeout: Duration,
    self_serve: bool,
    program: &std::path::Path,
) -> String {
    let cpu = std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|c| {
            c.lines()
                .find(|l| l.starts_with("model name"))
                .and_then(|l| l.split(':').nth(1))
                .map(|s| s.trim().to_owned())
        })
        .unwrap_or_else(|| "unknown CPU".into());
    let cores = std::thread::available_parallelism().map_or(0, |n| n.get());
    let build = if cfg!(debug_assertions) {
        "debug"
    } else {
        "release"
    };
    let instances = if self_serve {
        format!("`chaos serve` ({build} build of example-api)")
    } else {
        format!("`{}`", program.display())
    };
    let args: Vec<String> = std::env::args().skip(1).collect();
    format!(
        "# Fleet chaos report\n\n\
         - Command: `chaos {}`{}\n\
         - Machine: {cpu}, {cores} cores, loopback only\n\
         - Fleet: Redis Cluster 3 masters + 3 replicas (`cluster-node-timeout` {} ms), 3 \
         instances {instances} with `--redis-timeout 50ms`, `lock = true` on \
         `demo_best_times`, one `--no-cache` reference on the same SQLite file\n\
         - Traffic: {} load tasks, one answer in 4 compared with the reference; an admin \
         invalidation after a database change every {} ms; an L2 probe every {} ms; {} s per \
         phase; Redis outage: every node down {} s, {} changes\n",
        args.join(" "),
        if opts.short { " (short, CI)" } else { "" },
        node_timeout.as_millis(),
        settings.workers,
        settings.invalidate_every.as_millis(),
        settings.probe_every.as_millis(),
        settings.phase.as_secs(),
        settings.outage.as_secs(),
        3 * settings.outage_channels
    )
}
