//! The rules of the options that give one copy of a value a time of its own, shorter than
//! `ttl`: `local_ttl` (the in-process copy), `cache_none = "30s"` (a cached `None`) and
//! `fail_throttle` (the fail-safe copy after a failed recomputation); and `tti`, the time
//! an entry lives unread.

use syn::{Expr, ExprLit, Ident, Lit};

use super::{flag, not_zero, once, timed_option};
use crate::ast::{Function, Shape};
use crate::attr::{CacheOptions, Opt, Seconds};
use crate::errors::Errors;

/// A duration as the messages write it, in its largest whole unit: `"5m"`, `"250ms"`.
fn shown(ms: u64) -> String {
    let units = [
        (86_400_000, "d"),
        (3_600_000, "h"),
        (60_000, "m"),
        (1_000, "s"),
    ];
    let (per, unit) = units
        .into_iter()
        .find(|(per, _)| ms.is_multiple_of(*per))
        .unwrap_or((1, "ms"));
    format!("\"{}{unit}\"", ms / per)
}

/// The value of an option given as `option = value` (its errors are reported elsewhere).
fn value(opt: &Opt) -> Option<&Expr> {
    opt.eq_value("").ok()
}

/// `fail_throttle = "5s"`: needs `stale_if_error` (the copy it serves), and a copy in
/// process (not `tier = "remote"`). Its milliseconds, 0 when not given or wrong.
pub(super) fn fail_throttle(
    opts: &[Opt],
    stale_if_error_ms: u64,
    tier: u8,
    errors: &mut Errors,
) -> u64 {
    let Some((opt, ms)) = timed_option(
        opts,
        Seconds::Refused,
        "remove `fail_throttle` to let every call after a failure try the body again",
        errors,
    ) else {
        return 0;
    };
    if stale_if_error_ms == 0 {
        errors.add(
            &opt.key,
            "`fail_throttle` answers with the fail-safe copy, which only `stale_if_error` \
             keeps: add `stale_if_error = \"10m\"` or remove `fail_throttle`",
        );
    }
    if tier == 2 {
        errors.add(
            &opt.key,
            "`fail_throttle` keeps the fail-safe copy in process, which a \
             `tier = \"remote\"` cache never uses; remove `fail_throttle` or the `tier`",
        );
    }
    ms
}

/// `local_ttl = "10s"`: an `async fn` on both tiers, not longer than `ttl`. Its
/// milliseconds, 0 when not given or wrong.
pub(super) fn local_ttl(
    opts: &[Opt],
    ttl_ms: u64,
    tier: Option<&Expr>,
    func: &Function<'_>,
    errors: &mut Errors,
) -> u64 {
    let Some((opt, ms)) = timed_option(
        opts,
        Seconds::Allowed,
        "remove `local_ttl` to keep the in-process copy as long as `ttl`",
        errors,
    ) else {
        return 0;
    };
    if ttl_ms > 0
        && ms > ttl_ms
        && let Some(expr) = value(opt)
    {
        errors.add(
            expr,
            format!(
                "`local_ttl` ({}) is longer than `ttl` ({}): the in-process copy never \
                 outlives the entry; write a `local_ttl` shorter than `ttl`, or remove it",
                shown(ms),
                shown(ttl_ms)
            ),
        );
    }
    if let Some(tier) = tier {
        errors.add(
            tier,
            "`local_ttl` bounds the in-process copy below the Redis copy's `ttl`, and this \
             tier keeps one copy only, which lives `ttl`: remove `local_ttl`, or the `tier` \
             to keep both copies",
        );
    } else if !func.is_async() {
        errors.add(
            &opt.key,
            "`local_ttl` needs an `async fn`: synchronous functions are cached in process \
             only, for `ttl`; make the function async or remove `local_ttl`",
        );
    }
    ms
}

/// `tti = "5m"`: more than zero, and a cache with an in-process copy (not
/// `tier = "remote"`). Its milliseconds, 0 when not given or wrong.
pub(super) fn tti(opts: &[Opt], remote: Option<&Expr>, errors: &mut Errors) -> u64 {
    let Some((_, ms)) = timed_option(
        opts,
        Seconds::Allowed,
        "remove `tti` to keep entries however rarely they are read",
        errors,
    ) else {
        return 0;
    };
    if let Some(tier) = remote {
        errors.add(
            tier,
            "`tti` expires the in-process copy of an entry nobody reads, and a \
             `tier = \"remote\"` cache keeps none; remove `tti` or the `tier`",
        );
    }
    ms
}

/// `cache_none = true | false | "30s"`: the option's name when `None` is cached, and the
/// TTL of a cached `None` in milliseconds (0: `ttl`), not longer than `ttl`.
pub(super) fn cache_none<'a>(
    opts: &'a [Opt],
    ttl_ms: u64,
    errors: &mut Errors,
) -> (Option<&'a Ident>, u64) {
    let Some(opt) = once(opts, errors) else {
        return (None, 0);
    };
    match value(opt) {
        Some(Expr::Lit(ExprLit {
            lit: Lit::Str(_), ..
        })) => {}
        Some(Expr::Lit(ExprLit {
            lit: Lit::Bool(lit),
            ..
        })) => return (lit.value.then_some(&opt.key), 0),
        Some(other) => {
            errors.add(
                other,
                "`cache_none` takes `true`, `false`, or a duration string that a cached \
                 `None` lives, such as `cache_none = \"30s\"`",
            );
            return (None, 0);
        }
        // `cache_none(..)`: the error that says to write a value.
        None => return (flag(opt, errors).then_some(&opt.key), 0),
    }
    let zero = "`cache_none` must be greater than zero; write `cache_none = false` to cache \
                no `None`, or `true` to keep it for `ttl`";
    let read = opt.duration(Seconds::Refused).map_err(|error| {
        let hint = "or `cache_none = true` to keep a `None` as long as any value";
        syn::Error::new(error.span(), format!("{error}; {hint}"))
    });
    let Some(parsed) = errors.ok(read) else {
        return (None, 0);
    };
    let expr = parsed.expr;
    let Some(ms) = not_zero(parsed, zero, errors) else {
        return (None, 0);
    };
    if ttl_ms > 0 && ms > ttl_ms {
        errors.add(
            expr,
            format!(
                "`cache_none` ({}) is longer than `ttl` ({}): a `None` is kept at most as \
                 long as any value; write a shorter duration, or `cache_none = true` to keep \
                 it for `ttl`",
                shown(ms),
                shown(ttl_ms)
            ),
        );
    }
    (Some(&opt.key), ms)
}

/// `cache_err = choose` with `err_ttl = "5s"`: both or neither, `err_ttl` not longer
/// than `ttl`, not with `cache_none` (a function returns a `Result` or an `Option`). The
/// chooser and the TTL of a cached error in milliseconds.
pub(super) fn cache_err<'a>(
    o: &'a CacheOptions,
    ttl_ms: u64,
    cache_none: Option<&Ident>,
    func: &Function<'_>,
    errors: &mut Errors,
) -> (Option<&'a Expr>, u64) {
    let choose = once(&o.cache_err, errors);
    let err_ttl = timed_option(
        &o.err_ttl,
        Seconds::Refused,
        "remove `cache_err` and `err_ttl` to cache no error",
        errors,
    );
    let (choose, ms) = match (choose, err_ttl) {
        (None, None) => return (None, 0),
        (None, Some((ttl, _))) => {
            errors.add(
                &ttl.key,
                "`err_ttl` is how long the errors `cache_err` picks are cached: add \
                 `cache_err = is_not_found` (a function over `&E` returning `bool`) or remove \
                 `err_ttl`",
            );
            return (None, 0);
        }
        (Some(opt), ttl) => {
            let example = "cache_err = |e| matches!(e, ApiError::NotFound)";
            let Some(choose) = errors.ok(opt.closure(example)) else {
                return (None, 0);
            };
            // A return type that is visibly no `Result` is reported here, once; an alias
            // is left to the type check (`IsResult`).
            if matches!(func.shape(), Shape::Option | Shape::Json(_)) || func.output.is_none() {
                errors.add(
                    choose,
                    "`cache_err` picks errors of a function returning `Result<_, E>`, which \
                     this one does not; remove `cache_err` and `err_ttl` (for an `Option`, \
                     `cache_none = \"30s\"` caches `None`)",
                );
                return (None, 0);
            }
            let Some((_, ms)) = ttl else {
                errors.add(
                    &opt.key,
                    "`cache_err` caches the errors it picks for their own time: add \
                     `err_ttl = \"5s\"` (at most `ttl`)",
                );
                return (None, 0);
            };
            (choose, ms)
        }
    };
    if let Some(none) = cache_none {
        errors.add(
            none,
            "`cache_none` and `cache_err` do not go together: a function returns an \
             `Option` (`cache_none`) or a `Result` (`cache_err`); remove one of them",
        );
    }
    if ttl_ms > 0
        && ms > ttl_ms
        && let Some(expr) = o.err_ttl.first().and_then(value)
    {
        errors.add(
            expr,
            format!(
                "`err_ttl` ({}) is longer than `ttl` ({}): an error is kept at most as long \
                 as any value; write a shorter duration",
                shown(ms),
                shown(ttl_ms)
            ),
        );
    }
    (Some(choose), ms)
}

#[cfg(test)]
mod tests {
    use super::shown;

    #[test]
    fn durations_are_shown_in_their_largest_whole_unit() {
        assert_eq!(shown(250), "\"250ms\"");
        assert_eq!(shown(1_500), "\"1500ms\"");
        assert_eq!(shown(90_000), "\"90s\"");
        assert_eq!(shown(600_000), "\"10m\"");
        assert_eq!(shown(7_200_000), "\"2h\"");
        assert_eq!(shown(86_400_000), "\"1d\"");
    }
}
