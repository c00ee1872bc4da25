//! The Markdown report: one row per phase, the miss storm, and the targets met or not.

use std::fmt::Write as _;
use std::time::Duration;

use hdrhistogram::Histogram;

use crate::targets::{
    CONVERGE_GIVE_UP, CONVERGE_GRACE, CONVERGE_P99, RECOVERY_MAX, STALE_MAX, STALE_STEADY_P99,
    STORM_MAX_COMPUTES,
};
use crate::traffic::{Converged, Outage, PhaseStats, Storm};

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

/// The `q` quantile of an instance's convergence delays (a key never converged counts
/// as longer than any); `None` for "never".
fn convergence_at(c: &Converged, q: f64) -> Option<Duration> {
    let mut delays: Vec<Option<Duration>> = c.keys.iter().map(|(_, d)| *d).collect();
    delays.sort_by_key(|d| d.unwrap_or(Duration::MAX));
    let at = ((q * delays.len() as f64).ceil() as usize).clamp(1, delays.len().max(1)) - 1;
    delays.get(at).copied().flatten()
}

/// Failures of the Redis outage: keys an instance never served the latest value of,
/// wrong answers after Redis answered, nothing changed to check.
pub(crate) fn outage_failures(o: &Outage) -> Vec<String> {
    let mut out = Vec::new();
    if o.changed == 0 {
        out.push("redis outage: no change moved a watched answer (nothing was checked)".into());
    }
    for (i, c) in o.instances.iter().enumerate() {
        let old: Vec<&str> = c
            .keys
            .iter()
            .filter(|(_, d)| d.is_none())
            .map(|(k, _)| k.as_str())
            .collect();
        if !old.is_empty() {
            out.push(format!(
                "redis outage: api-{} still served an old value of {} of {} changed answers \
                 {CONVERGE_GIVE_UP:?} after Redis answered: {}",
                i + 1,
                old.len(),
                c.keys.len(),
                old.join(", ")
            ));
        }
        if c.wrong > 0 {
            out.push(format!(
                "redis outage: api-{}: {} wrong answers after Redis answered",
                i + 1,
                c.wrong
            ));
        }
    }
    if let Some((i, c)) = &o.restarted
        && c.wrong > 0
    {
        let old: Vec<&str> = c
            .still_old
            .iter()
            .filter_map(|k| k.split(": ").next())
            .collect();
        out.push(format!(
            "redis outage: api-{}, restarted once the fleet had converged, served {} old \
             answers (Redis still held them): {}",
            i + 1,
            c.wrong,
            old.join(", ")
        ));
    }
    out
}

/// Whether an instance that converged took longer than the target (p99 over the keys).
pub(crate) fn outage_target_misses(o: &Outage) -> Vec<String> {
    let mut out = Vec::new();
    for (i, c) in o.instances.iter().enumerate() {
        if let Some(p99) = convergence_at(c, 0.99)
            && p99 > CONVERGE_P99
        {
            out.push(format!(
                "redis outage: api-{} convergence p99 {p99:?} > {CONVERGE_P99:?}",
                i + 1
            ));
        }
    }
    out
}

/// The Redis outage's section.
fn outage_markdown(md: &mut String, o: &Outage) {
    let secs = |d: Option<Duration>| d.map_or("**never**".into(), |d| ms(d.as_micros() as u64));
    let mut via = vec![0; o.instances.len()];
    for c in &o.changes {
        via[c.via] += 1;
    }
    let via: Vec<String> = via
        .iter()
        .enumerate()
        .map(|(i, n)| format!("api-{}: {n}", i + 1))
        .collect();
    let _ = writeln!(
        md,
        "\n**Redis outage**: {}. {} of {} changes made while Redis was down, through the API of \
         every instance ({}): new titles through `PATCH /channels/{{id}}`, and a subscriber \
         more in the database followed by an admin invalidation of two tags or of two whole \
         caches. {} answers watched, {} changed (the reference's answer after the last \
         change differs from the one before), {} left out (the reference stayed busy when \
         asked after the last change: their latest value is not known). *Convergence*: from the moment every master \
         answered PING again to the start of the first request that got the latest value of \
         a changed answer, polled on every instance every 50 ms; the figures are over the \
         changed answers. *Wrong*: an answer other than the latest value after that instance \
         had served the latest value of that answer, or later than {CONVERGE_GRACE:?} after \
         Redis answered. The check gives up {CONVERGE_GIVE_UP:?} after Redis answered, and \
         otherwise ends a few seconds after every instance converged (it polled for {:.1} s). \
         Then one instance is restarted and asked for every changed answer three times, \
         100 ms apart: it has nothing in process, so an old value can only come from Redis \
         (every one is wrong; its delays are from its first ask). Targets: p99 at most \
         {CONVERGE_P99:?}, no wrong answer.\n",
        o.fault,
        o.changes.len(),
        o.planned,
        via.join(", "),
        o.watched,
        o.changed,
        o.unknown,
        o.checked_for.as_secs_f64()
    );
    let _ = writeln!(
        md,
        "| Instance | Changed answers | Old just before Redis came back | Converged | \
         Convergence p50 / p99 / max (ms) | Wrong answers | Polls |"
    );
    let _ = writeln!(md, "|---|--:|--:|--:|--:|--:|--:|");
    let rows = o
        .instances
        .iter()
        .enumerate()
        .map(|(i, c)| (format!("api-{}", i + 1), c, c.old_before.to_string()));
    let restarted = o.restarted.iter().map(|(i, c)| {
        let name = format!("api-{}, restarted after the check", i + 1);
        (name, c, "-".to_owned())
    });
    for (name, c, old_before) in rows.chain(restarted) {
        let converged = c.keys.iter().filter(|(_, d)| d.is_some()).count();
        let _ = writeln!(
            md,
            "| {name} | {} | {old_before} | {converged} | {} / {} / {} | {} | {} |",
            c.keys.len(),
            secs(convergence_at(c, 0.5)),
            secs(convergence_at(c, 0.99)),
            secs(convergence_at(c, 1.0)),
            c.wrong,
            c.polls
        );
    }
    let rows = o
        .instances
        .iter()
        .enumerate()
        .chain(o.restarted.iter().map(|(i, c)| (*i, c)));
    for (i, c) in rows {
        if !c.still_old.is_empty() {
            let _ = writeln!(md, "\napi-{} still served old values of:\n", i + 1);
            for k in &c.still_old {
                let _ = writeln!(md, "- `{}`", k.replace('`', "'"));
            }
        }
        if !c.examples.is_empty() {
            let _ = writeln!(md, "\napi-{}, first wrong answers:\n", i + 1);
        }
        for e in &c.examples {
            let _ = writeln!(md, "- `{}`", e.replace('`', "'"));
        }
    }
    let _ = writeln!(
        md,
        "\nThe changes (time since Redis went down, instance):\n"
    );
    for c in &o.changes {
        let _ = writeln!(
            md,
            "- {:.2} s, api-{}: {}; moved: {}",
            c.at.as_secs_f64(),
            c.via + 1,
            c.what,
            c.moved.join(", ")
        );
    }
}

/// The report as Markdown.
pub(crate) fn markdown(
    header: &str,
    phases: &[PhaseResult],
    outage: &Outage,
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
    outage_markdown(&mut md, outage);
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

#[cfg(test)]
mod tests {
    use super::*;

    fn instance(delays_ms: &[Option<u64>]) -> Converged {
        Converged {
            keys: delays_ms
                .iter()
                .enumerate()
                .map(|(k, d)| (format!("/key/{k}"), d.map(Duration::from_millis)))
                .collect(),
            ..Converged::default()
        }
    }

    fn outage(instances: Vec<Converged>) -> Outage {
        Outage {
            fault: "test".into(),
            changes: Vec::new(),
            planned: 0,
            watched: 3,
            changed: 3,
            unknown: 0,
            instances,
            restarted: None,
            checked_for: Duration::ZERO,
        }
    }

    #[test]
    fn a_key_never_converged_counts_as_longer_than_any() {
        let c = instance(&[Some(30), Some(10), Some(20), None]);
        assert_eq!(convergence_at(&c, 0.5), Some(Duration::from_millis(20)));
        assert_eq!(convergence_at(&c, 0.99), None);
        let c = instance(&[Some(30), Some(10), Some(20)]);
        assert_eq!(convergence_at(&c, 0.99), Some(Duration::from_millis(30)));
        assert_eq!(convergence_at(&instance(&[]), 0.5), None);
    }

    #[test]
    fn an_instance_still_old_fails_the_run_with_its_keys_and_a_slow_one_misses_the_target() {
        let mut wrong = instance(&[Some(5), Some(6), Some(7)]);
        wrong.wrong = 2;
        let o = outage(vec![
            instance(&[Some(5), None, Some(2500)]),
            instance(&[Some(5), Some(6), Some(2500)]),
            wrong,
        ]);
        let failures = outage_failures(&o);
        assert_eq!(failures.len(), 2, "{failures:?}");
        assert!(failures[0].contains("api-1") && failures[0].contains("/key/1"));
        assert!(!failures[0].contains("/key/0"), "{failures:?}");
        assert!(
            failures[1].contains("api-3: 2 wrong answers"),
            "{failures:?}"
        );
        let misses = outage_target_misses(&o);
        assert_eq!(misses.len(), 1, "api-1 already fails: {misses:?}");
        assert!(misses[0].contains("api-2"), "{misses:?}");
    }
}
