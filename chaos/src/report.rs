//! The Markdown report: one row per phase, the miss storm, and the targets met or not.

use std::fmt::Write as _;
use std::time::Duration;

use hdrhistogram::Histogram;

use crate::targets::{RECOVERY_MAX, STALE_MAX, STALE_STEADY_P99, STORM_MAX_COMPUTES};
use crate::traffic::{PhaseStats, Storm};

/// What one phase did and measured.
#[derive(Debug)]
pub(crate) struct PhaseResult {
    /// The phase's name.
    pub(crate) name: &'static str,
    /// The fault injected, in words.
    pub(crate) fault: String,
    /// How long the phase ran.
    pub(crate) duration: Duration,
    /// The client-side figures.
    pub(crate) stats: PhaseStats,
    /// Redis hits over Redis reads, summed over the instances' caches.
    pub l2_hit_ratio: Option<f64>,
    /// For a fault: the time from the fault (its end, for a stall or a restart) until the
    /// Redis probe saw an L2 hit again; `Some(None)` if it never did in the phase.
    pub(crate) recovery: Option<Option<Duration>>,
}

fn ms(micros: u64) -> String {
    let ms = micros as f64 / 1000.0;
    if ms >= 100.0 {
        format!("{ms:.0}")
    } else {
        format!("{ms:.1}")
    }
}

fn percentiles(h: &Histogram<u64>) -> String {
    if h.is_empty() {
        return "-".into();
    }
    format!(
        "{} / {} / {}",
        ms(h.value_at_quantile(0.5)),
        ms(h.value_at_quantile(0.99)),
        ms(h.max())
    )
}

/// Whether a phase breaks a correctness rule (wrong answers, unexpected statuses, 5xx,
/// socket errors): these fail the run.
pub(crate) fn phase_failures(p: &PhaseResult) -> Vec<String> {
    let s = &p.stats;
    let mut out = Vec::new();
    for (n, what) in [
        (s.wrong, "wrong answers"),
        (s.unexpected, "unexpected statuses"),
        (s.server_errors, "5xx"),
        (s.socket_errors, "socket errors"),
    ] {
        if n > 0 {
            out.push(format!("{}: {n} {what}", p.name));
        }
    }
    if s.requests == 0 {
        out.push(format!("{}: no request was answered", p.name));
    }
    out
}

/// Whether a phase misses a latency target (staleness, recovery).
pub(crate) fn phase_target_misses(p: &PhaseResult, steady: bool) -> Vec<String> {
    let s = &p.stats;
    let mut out = Vec::new();
    if !s.staleness.is_empty() {
        let p99 = Duration::from_micros(s.staleness.value_at_quantile(0.99));
        let max = Duration::from_micros(s.staleness.max());
        if steady && p99 > STALE_STEADY_P99 {
            out.push(format!(
                "{}: staleness p99 {p99:?} > {STALE_STEADY_P99:?}",
                p.name
            ));
        }
        if max > STALE_MAX {
            out.push(format!("{}: staleness max {max:?} > {STALE_MAX:?}", p.name));
        }
    }
    match p.recovery {
        Some(Some(d)) if d > RECOVERY_MAX => {
            out.push(format!(
                "{}: L2 hits resumed after {d:?} > {RECOVERY_MAX:?}",
                p.name
            ));
        }
        Some(None) => out.push(format!("{}: L2 hits did not resume in the phase", p.name)),
        _ => {}
    }
    out
}

/// Failures of the storm (wrong or missing answers, too many body runs).
pub(crate) fn storm_failures(s: &Storm) -> Vec<String> {
    let mut out = Vec::new();
    if s.failed > 0 {
        out.push(format!(
            "miss storm: {} of {} answers wrong or missing",
            s.failed, s.requests
        ));
    }
    if s.computes > STORM_MAX_COMPUTES {
        out.push(format!(
            "miss storm: the body ran {} times (at most {STORM_MAX_COMPUTES})",
            s.computes
        ));
    }
    out
}

/// The report as Markdown.
pub(crate) fn markdown(
    header: &str,
    phases: &[PhaseResult],
    storm: &Storm,
    verdict: &[String],
) -> String {
    let mut md = String::new();
    let _ = writeln!(md, "{header}");
    let _ = writeln!(
        md,
        "| Phase | Fault | Requests | Non-2xx (not asked for) | 5xx | Socket errors | \
         Latency p50 / p99 / max (ms) | L2 hit ratio | Checked | Wrong | Invalidations \
         (samples) | Staleness p50 / p99 / max (ms) | L2 hits resumed after | Reference \
         busy |"
    );
    let _ = writeln!(
        md,
        "|---|---|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|"
    );
    for p in phases {
        let s = &p.stats;
        let recovery = match p.recovery {
            None => "-".into(),
            Some(None) => "**not in the phase**".into(),
            Some(Some(d)) => format!("{:.2} s", d.as_secs_f64()),
        };
        let _ = writeln!(
            md,
            "| {} ({:.0} s) | {} | {} | {} | {} | {} | {} | {} | {} | {} | {} | {} | {} | {} |",
            p.name,
            p.duration.as_secs_f64(),
            p.fault,
            s.requests,
            s.unexpected,
            s.server_errors,
            s.socket_errors,
            percentiles(&s.latency),
            p.l2_hit_ratio
                .map_or("-".into(), |r| format!("{:.1} %", r * 100.0)),
            s.checked,
            s.wrong,
            s.staleness.len() + s.not_converged,
            percentiles(&s.staleness),
            recovery,
            s.reference_unavailable
        );
    }
    let _ = writeln!(
        md,
        "\n**Miss storm** (`lock = true` on `demo_best_times`): {} concurrent requests of \
         `/analytics/demo/best-times` over the instances right after `demo_best_times` was \
         invalidated: {} right, {} wrong or missing, **the body ran {} time(s)** (target: at \
         most {STORM_MAX_COMPUTES}, aim 1), in {:.0} ms (latency p50 / p99 / max {} ms).",
        storm.requests,
        storm.right,
        storm.failed,
        storm.computes,
        storm.took.as_secs_f64() * 1000.0,
        percentiles(&storm.latency)
    );
    let per: Vec<String> = storm
        .per_instance
        .iter()
        .enumerate()
        .map(|(i, [c, w, t, e, k, h])| {
            format!(
                "api-{}: {c} run(s), {w} lock wait(s), {h} Redis hit(s), {t} Redis timeout(s), \
                 {e} error(s), {k} read(s) skipped",
                i + 1
            )
        })
        .collect();
    let _ = writeln!(md, "Per instance: {}.", per.join("; "));
    let examples: Vec<&String> = phases.iter().flat_map(|p| &p.stats.examples).collect();
    if !examples.is_empty() {
        let _ = writeln!(md, "\nFirst failures seen:\n");
        for e in examples.iter().take(20) {
            let _ = writeln!(md, "- `{}`", e.replace('`', "'"));
        }
    }
    let _ = writeln!(md);
    if verdict.is_empty() {
        let _ = writeln!(md, "**Verdict: every target met.**");
    } else {
        let _ = writeln!(md, "**Verdict: targets missed:**\n");
        for v in verdict {
            let _ = writeln!(md, "- {v}");
        }
    }
    md
}
