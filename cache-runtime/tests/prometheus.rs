//! The whole Prometheus text of a runtime with caches and timers, read line by line against
//! the text exposition format (version 0.0.4), as a scraper would read it.

use std::collections::{HashMap, HashSet};

use cache_runtime::{cache_result, global, performance_timer};

/// A cache whose name needs every escape a label value has.
#[cache_result("prom \"odd\" \\ cache\nline", ttl = 60)]
async fn odd(id: u64) -> Result<String, String> {
    Ok(format!("odd {id}"))
}

#[cache_result("prom_plain", ttl = 60)]
async fn plain(id: u64) -> Result<String, String> {
    if id == 0 {
        Err("zero".into())
    } else {
        Ok(format!("plain {id}"))
    }
}

#[performance_timer("prom.timer \"odd\" \\ name\nline")]
async fn timed_odd() -> u64 {
    tokio::time::sleep(std::time::Duration::from_millis(1)).await;
    7
}

#[performance_timer("prom.timer.plain")]
#[cache_result("prom_timed_cache", ttl = 60)]
fn timed_plain(id: u64) -> Result<u64, String> {
    if id == 0 { Err("zero".into()) } else { Ok(id) }
}

/// A family as its header lines declared it.
struct Family {
    kind: String,
    help_seen: bool,
    type_seen: bool,
}

/// A sample line: the metric name, its labels in order, its value as written.
#[derive(Debug)]
struct Sample {
    metric: String,
    labels: Vec<(String, String)>,
    value: String,
}

fn is_metric_name(s: &str) -> bool {
    let mut chars = s.chars();
    chars
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_' || c == ':')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_' || c == ':')
}

fn is_label_name(s: &str) -> bool {
    let mut chars = s.chars();
    chars
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
        && !s.starts_with("__")
}

/// Reads `name="value",...}` (after the `{`), unescaping `\\`, `\"` and `\n`, the only
/// escapes the format has; returns the labels and the rest of the line.
fn parse_labels(mut rest: &str, line: &str) -> (Vec<(String, String)>, String) {
    let mut labels = Vec::new();
    loop {
        if let Some(after) = rest.strip_prefix('}') {
            return (labels, after.to_owned());
        }
        if !labels.is_empty() {
            rest = rest
                .strip_prefix(',')
                .unwrap_or_else(|| panic!("labels not separated by a comma: {line:?}"));
        }
        let (name, after) = rest
            .split_once("=\"")
            .unwrap_or_else(|| panic!("a label without =\": {line:?}"));
        assert!(is_label_name(name), "label name {name:?} in {line:?}");
        let mut value = String::new();
        let mut chars = after.char_indices();
        let end = loop {
            match chars.next() {
                Some((_, '\\')) => match chars.next() {
                    Some((_, '\\')) => value.push('\\'),
                    Some((_, '"')) => value.push('"'),
                    Some((_, 'n')) => value.push('\n'),
                    other => panic!("invalid escape {other:?} in {line:?}"),
                },
                Some((i, '"')) => break i,
                Some((_, c)) => value.push(c),
                None => panic!("unterminated label value in {line:?}"),
            }
        };
        labels.push((name.to_owned(), value));
        rest = &after[end + 1..];
    }
}

/// A value as the format writes one, from a writer that promises no arithmetic noise:
/// `NaN`, `+Inf`, `-Inf`, an integer, or a decimal or exponent form of at most 15
/// significant digits that parses as a float.
fn check_value(value: &str, line: &str) {
    if matches!(value, "NaN" | "+Inf" | "-Inf") {
        return;
    }
    let (mantissa, exponent) = match value.split_once('e') {
        Some((m, e)) => (m, Some(e)),
        None => (value, None),
    };
    if let Some(e) = exponent {
        let digits = e.strip_prefix('-').unwrap_or(e);
        assert!(
            !digits.is_empty() && digits.chars().all(|c| c.is_ascii_digit()),
            "exponent of {value:?} in {line:?}"
        );
    }
    let unsigned = mantissa.strip_prefix('-').unwrap_or(mantissa);
    let (int, frac) = unsigned.split_once('.').unwrap_or((unsigned, ""));
    assert!(
        !int.is_empty()
            && int.chars().all(|c| c.is_ascii_digit())
            && frac.chars().all(|c| c.is_ascii_digit())
            && !unsigned.ends_with('.'),
        "malformed number {value:?} in {line:?}"
    );
    if exponent.is_some() || !frac.is_empty() {
        let significant: String = format!("{int}{frac}").trim_start_matches('0').to_owned();
        let significant = significant.trim_end_matches('0');
        assert!(
            significant.len() <= 15,
            "{value:?} carries noise ({} significant digits) in {line:?}",
            significant.len()
        );
        assert!(
            !frac.ends_with('0'),
            "trailing zeros in {value:?} in {line:?}"
        );
    }
    value
        .parse::<f64>()
        .unwrap_or_else(|_| panic!("{value:?} is not a number in {line:?}"));
}

/// Reads the whole text; panics at the first line that breaks the format. Returns the
/// families by name and the samples in order.
fn parse(text: &str) -> (HashMap<String, Family>, Vec<Sample>) {
    assert!(text.ends_with('\n'), "the text ends with a line feed");
    let mut families: HashMap<String, Family> = HashMap::new();
    let mut samples = Vec::new();
    // The family whose samples may follow; a family once left may not come back.
    let mut current: Option<String> = None;
    let mut closed: HashSet<String> = HashSet::new();
    let mut series: HashSet<(String, Vec<(String, String)>)> = HashSet::new();
    for line in text.lines() {
        assert!(!line.is_empty(), "an empty line");
        if let Some(comment) = line.strip_prefix("# ") {
            let (keyword, rest) = comment.split_once(' ').expect("a keyword and a name");
            let (name, tail) = rest.split_once(' ').expect("a name and a text");
            assert!(is_metric_name(name), "family name {name:?}");
            if current.as_deref() != Some(name) {
                if let Some(previous) = current.take() {
                    closed.insert(previous);
                }
                assert!(!closed.contains(name), "family {name} comes back: {line:?}");
                current = Some(name.to_owned());
            }
            let family = families.entry(name.to_owned()).or_insert(Family {
                kind: String::new(),
                help_seen: false,
                type_seen: false,
            });
            match keyword {
                "HELP" => {
                    assert!(!family.help_seen, "HELP twice for {name}");
                    assert!(!family.type_seen, "HELP after TYPE for {name}");
                    family.help_seen = true;
                    let mut chars = tail.chars();
                    while let Some(c) = chars.next() {
                        if c == '\\' {
                            let next = chars.next();
                            assert!(
                                matches!(next, Some('\\' | 'n')),
                                "invalid escape in help: {line:?}"
                            );
                        }
                    }
                }
                "TYPE" => {
                    assert!(!family.type_seen, "TYPE twice for {name}");
                    assert!(
                        matches!(
                            tail,
                            "counter" | "gauge" | "summary" | "histogram" | "untyped"
                        ),
                        "type {tail:?}"
                    );
                    family.type_seen = true;
                    family.kind = tail.to_owned();
                }
                other => panic!("unknown comment keyword {other:?}"),
            }
            continue;
        }
        assert!(
            !line.starts_with('#'),
            "a comment without a space: {line:?}"
        );
        let (metric, labels, rest) = match line.split_once('{') {
            Some((metric, after)) => {
                let (labels, rest) = parse_labels(after, line);
                (metric, labels, rest)
            }
            None => {
                let (metric, value) = line.split_once(' ').expect("a value");
                (metric, Vec::new(), format!(" {value}"))
            }
        };
        assert!(is_metric_name(metric), "metric name {metric:?}");
        let value = rest
            .strip_prefix(' ')
            .unwrap_or_else(|| panic!("no space before the value: {line:?}"));
        assert!(!value.contains(' '), "more than a value: {line:?}");
        check_value(value, line);
        let family_name = current.as_deref().expect("a sample before any TYPE line");
        let family = &families[family_name];
        assert!(family.type_seen, "a sample before its TYPE line: {line:?}");
        let allowed = match family.kind.as_str() {
            "summary" => [
                family_name.to_owned(),
                format!("{family_name}_sum"),
                format!("{family_name}_count"),
            ]
            .contains(&metric.to_owned()),
            "histogram" => [
                format!("{family_name}_bucket"),
                format!("{family_name}_sum"),
                format!("{family_name}_count"),
            ]
            .contains(&metric.to_owned()),
            _ => metric == family_name,
        };
        assert!(allowed, "{metric} outside its family {family_name}");
        let has_le = labels.iter().any(|(n, _)| n == "le");
        assert_eq!(has_le, metric.ends_with("_bucket"), "le label on {line:?}");
        let has_quantile = labels.iter().any(|(n, _)| n == "quantile");
        assert_eq!(
            has_quantile,
            family.kind == "summary" && metric == family_name,
            "quantile label on {line:?}"
        );
        assert!(
            series.insert((metric.to_owned(), labels.clone())),
            "series written twice: {line:?}"
        );
        samples.push(Sample {
            metric: metric.to_owned(),
            labels,
            value: value.to_owned(),
        });
    }
    for (name, family) in &families {
        assert!(
            family.help_seen && family.type_seen,
            "{name}: HELP and TYPE"
        );
    }
    (families, samples)
}

fn value_of<'a>(samples: &'a [Sample], metric: &str, labels: &[(&str, &str)]) -> &'a str {
    samples
        .iter()
        .find(|s| {
            s.metric == metric
                && s.labels.len() == labels.len()
                && s.labels
                    .iter()
                    .zip(labels)
                    .all(|((n, v), (en, ev))| n == en && v == ev)
        })
        .map(|s| s.value.as_str())
        .unwrap_or_else(|| panic!("no sample {metric} {labels:?}"))
}

#[tokio::test]
async fn the_whole_text_follows_the_exposition_format() {
    for _ in 0..2 {
        assert_eq!(odd(1).await, Ok("odd 1".into()));
        assert_eq!(plain(2).await, Ok("plain 2".into()));
    }
    assert!(plain(0).await.is_err());
    assert_eq!(timed_odd().await, 7);
    for id in [0, 3, 3] {
        assert_eq!(timed_plain(id).is_ok(), id != 0);
    }

    let text = global().prometheus();
    let (families, samples) = parse(&text);

    for (name, kind) in [
        ("cache_hits_total", "counter"),
        ("cache_entries", "gauge"),
        ("cache_compute_seconds_mean", "gauge"),
        ("cache_hit_ratio", "gauge"),
        ("cache_l1_capacity_bytes", "gauge"),
        ("function_duration_seconds", "histogram"),
        ("function_errors_total", "counter"),
        ("function_in_flight", "gauge"),
    ] {
        assert_eq!(families[name].kind, kind, "{name}");
    }

    let odd_cache = [
        ("namespace", "app"),
        ("cache", "prom \"odd\" \\ cache\nline"),
    ];
    assert_eq!(value_of(&samples, "cache_hits_total", &odd_cache), "1");
    assert_eq!(value_of(&samples, "cache_misses_total", &odd_cache), "1");
    assert_eq!(
        value_of(&samples, "cache_computations_total", &odd_cache),
        "1"
    );
    assert_eq!(value_of(&samples, "cache_hit_ratio", &odd_cache), "0.5");
    let plain_cache = [("namespace", "app"), ("cache", "prom_plain")];
    assert_eq!(
        value_of(&samples, "cache_errors_not_cached_total", &plain_cache),
        "1"
    );
    // One hit in three lookups, rounded to 15 significant digits.
    let timed_cache = [("namespace", "app"), ("cache", "prom_timed_cache")];
    assert_eq!(
        value_of(&samples, "cache_hit_ratio", &timed_cache),
        "0.333333333333333"
    );

    let odd_timer = [("function", "prom.timer \"odd\" \\ name\nline")];
    assert_eq!(
        value_of(&samples, "function_duration_seconds_count", &odd_timer),
        "1"
    );
    let plain_timer = [("function", "prom.timer.plain")];
    assert_eq!(
        value_of(&samples, "function_duration_seconds_count", &plain_timer),
        "3"
    );
    assert_eq!(
        value_of(&samples, "function_errors_total", &plain_timer),
        "1"
    );
    // The histogram's buckets grow with their bound, and `+Inf` is the count.
    let buckets: Vec<(&str, u64)> = samples
        .iter()
        .filter(|s| s.metric == "function_duration_seconds_bucket")
        .filter(|s| s.labels[0] == ("function".to_owned(), "prom.timer.plain".to_owned()))
        .map(|s| (s.labels[1].1.as_str(), s.value.parse().expect("a count")))
        .collect();
    assert_eq!(buckets.len(), 15, "{buckets:?}");
    assert!(buckets.windows(2).all(|w| w[0].1 <= w[1].1), "{buckets:?}");
    assert_eq!(buckets[14], ("+Inf", 3));
    let seconds: f64 = value_of(&samples, "function_duration_seconds_sum", &odd_timer)
        .parse()
        .expect("a number");
    assert!(seconds >= 0.001, "{seconds}");
}
