//! Stage 3, validate: check the parsed arguments against the rules and the function, and
//! gather what passes into the specs that expansion reads.
//!
//! Every problem becomes a `syn::Error` on the token the user wrote, with a message that
//! says what to write instead. Problems are collected, not returned at the first one, so
//! one compile shows all of them (serde_derive's `Ctxt` works the same way). Each rule is
//! one function; [`cache`] and [`timer`] run them in the order their errors are reported.

use std::fmt::Display;
use std::str::FromStr;

use proc_macro2::Span;
use quote::ToTokens;
use syn::{Expr, Ident, LitStr};

use crate::ast::{CacheSpec, Function, TimerSpec};
use crate::attr::{self, Args, CacheArgs, Opt, Options, Parsed, Seconds, TimerArgs, ungroup};
use crate::errors::{Errors, code_list, repeated};

mod signature;
mod ttls;

use signature::{cache_signature, refresh_signature, timer_signature};

/// Checks `#[cache_result(...)]` against its rules and the function it is on.
pub(crate) fn cache<'a>(args: &'a CacheArgs, func: &Function<'a>) -> syn::Result<CacheSpec<'a>> {
    let mut errors = Errors::default();
    let e = &mut errors;
    let o = &args.options;
    let name = cache_name(args, e);
    let ttl_ms = duration(
        &o.ttl,
        Seconds::Allowed,
        "remove `ttl` to use the runtime's default TTL",
        e,
    );
    let stale_if_error_ms = duration(
        &o.stale_if_error,
        Seconds::Allowed,
        "remove `stale_if_error` to turn it off",
        e,
    );
    let version = version(&o.version, e);
    let refresh_opt = once(&o.refresh_ahead, e);
    let refresh_ahead = refresh_opt.and_then(|opt| refresh_ahead(opt, e));
    let max_bytes = max_bytes(&o.max_bytes, e);
    let (cache_none, none_ttl_ms) = ttls::cache_none(&o.cache_none, ttl_ms, e);
    let (cache_err, err_ttl_ms) = ttls::cache_err(o, ttl_ms, cache_none, func, e);
    let tier = once(&o.tier, e).and_then(|opt| e.ok(opt.tier()));
    let lock = once(&o.lock, e).filter(|opt| flag(opt, e));
    let max_concurrent = max_concurrent(&o.max_concurrent, e);
    let tags = once(&o.tags, e).map_or_else(Vec::new, |opt| tags(opt, e));
    let unless = once(&o.unless, e).and_then(|opt| e.ok(opt.closure("unless = |v| v.is_empty()")));
    let ttl_from = once(&o.ttl_from, e)
        .and_then(|opt| e.ok(opt.closure("ttl_from = |token| token.expires_in")));
    let only_if_slower_ms = duration(
        &o.only_if_slower,
        Seconds::Refused,
        "remove `only_if_slower` to store every value",
        e,
    );
    let hard_timeout = hard_timeout(&o.hard_timeout, func, e);
    let soft = timed_option(
        &o.soft_timeout,
        Seconds::Refused,
        "remove `soft_timeout` to wait for the body as long as it takes",
        e,
    );
    if let Some((opt, _)) = soft {
        soft_timeout_rules(opt, func, stale_if_error_ms, refresh_opt.is_some(), e);
    }
    let tier_value = tier.map_or(0, |tier| tier.value);
    let fail_throttle_ms = ttls::fail_throttle(&o.fail_throttle, stale_if_error_ms, tier_value, e);
    let one_tier = tier.filter(|tier| tier.value != 0).map(|tier| tier.expr);
    let local_ttl_ms = ttls::local_ttl(&o.local_ttl, ttl_ms, one_tier, func, e);
    let remote_only = tier.filter(|tier| tier.value == 2).map(|tier| tier.expr);
    let tti_ms = ttls::tti(&o.tti, remote_only, e);
    let capacity_bytes = capacity(&o.capacity, remote_only, e);
    let entry = once(&o.entry, e).is_none_or(|opt| flag(opt, e));
    let span = once(&o.span, e).is_none_or(|opt| flag(opt, e));
    let disk = once(&o.disk, e).is_none_or(|opt| flag(opt, e));
    let key = once(&o.key, e).and_then(|opt| e.ok(opt.eq_value("key = (a, b)")));
    let skip = once(&o.skip, e);
    skip_with_key(skip, key, e);
    let skipped = skip.map_or_else(Vec::new, |opt| skip_names(opt, func, e));
    stray_and_unknown(args, e);
    cache_signature(func, e);
    let remote = tier.filter(|tier| tier.value == 2).map(|tier| tier.expr);
    let tier = tier.map_or(0, |tier| tier.value);
    remote_rules(remote, lock, tier, func, e);
    if let Some(opt) = refresh_opt {
        refresh_signature(opt, func, e);
    }

    errors.finish(name.map(|name| CacheSpec {
        name,
        ttl_ms,
        version,
        stale_if_error_ms,
        refresh_ahead,
        max_bytes,
        key,
        inputs: func.key_inputs(&skipped),
        tags,
        cache_none,
        none_ttl_ms,
        cache_err,
        err_ttl_ms,
        fail_throttle_ms,
        local_ttl_ms,
        tti_ms,
        capacity_bytes,
        tier,
        lock: lock.is_some(),
        max_concurrent,
        unless,
        only_if_slower_ms,
        ttl_from,
        hard_timeout,
        soft_timeout_ms: soft.map_or(0, |(_, ms)| ms),
        entry,
        span,
        disk,
    }))
}

/// Checks `#[performance_timer(...)]`.
pub(crate) fn timer<'a>(args: &'a TimerArgs, func: &Function<'a>) -> syn::Result<TimerSpec<'a>> {
    let mut errors = Errors::default();
    let example =
        "e.g. `#[performance_timer(\"load_user\")]`, or no name to use the function's path";
    let name = args
        .name
        .as_ref()
        .and_then(|expr| name(expr, "timer", example, &mut errors));
    stray_and_unknown(args, &mut errors);
    let slow_ms = duration(
        &args.options.slow,
        Seconds::Refused,
        "remove `slow` to log no call as slow",
        &mut errors,
    );
    let span = once(&args.options.span, &mut errors).is_none_or(|opt| flag(opt, &mut errors));
    timer_signature(func, &mut errors);
    errors.finish(Some(TimerSpec {
        name,
        slow_ms,
        span,
    }))
}

/// The one duplicate check: reports every repeat of an option and returns the first.
fn once<'a>(opts: &'a [Opt], errors: &mut Errors) -> Option<&'a Opt> {
    for repeat in opts.iter().skip(1) {
        repeated(&repeat.key, &repeat.key, errors);
    }
    opts.first()
}

/// The cache name, which must come first.
fn cache_name<'a>(args: &'a CacheArgs, errors: &mut Errors) -> Option<&'a LitStr> {
    let example = "e.g. `#[cache_result(\"users\", ttl = \"5m\")]`";
    if let Some(expr) = &args.name {
        return name(expr, "cache", example, errors);
    }
    let message = format!("missing cache name: put a string literal first, {example}");
    match &args.first_option {
        Some(first) => errors.add(first, message),
        None => errors.add_at(Span::call_site(), message),
    }
    None
}

/// A name argument: a non-empty string literal.
fn name<'a>(expr: &'a Expr, what: &str, example: &str, errors: &mut Errors) -> Option<&'a LitStr> {
    let message = format!("the {what} name must be a string literal, {example}");
    let lit = errors.ok(attr::string(expr, message))?;
    if lit.value().is_empty() {
        errors.add(lit, format!("the {what} name must not be empty, {example}"));
        return None;
    }
    Some(lit)
}

/// A duration option in milliseconds, 0 when it is not given or wrong.
fn duration(opts: &[Opt], seconds: Seconds, zero_hint: &str, errors: &mut Errors) -> u64 {
    timed_option(opts, seconds, zero_hint, errors).map_or(0, |(_, ms)| ms)
}

/// A duration option, given once, and its milliseconds, more than zero.
fn timed_option<'a>(
    opts: &'a [Opt],
    seconds: Seconds,
    zero_hint: &str,
    errors: &mut Errors,
) -> Option<(&'a Opt, u64)> {
    let opt = once(opts, errors)?;
    let parsed = errors.ok(opt.duration(seconds))?;
    let key = &opt.key;
    let message = format!("`{key}` must be greater than zero; {zero_hint}");
    not_zero(parsed, &message, errors).map(|ms| (opt, ms))
}

/// The rule of counts and durations: zero is an error with `message`.
fn not_zero<T: Default + PartialEq>(
    parsed: Parsed<'_, T>,
    message: &str,
    errors: &mut Errors,
) -> Option<T> {
    if parsed.value == T::default() {
        errors.add(parsed.expr, message);
        return None;
    }
    Some(parsed.value)
}

/// An integer option given once: `[example, form, range]` are what to write, the error
/// for a value that is no integer and the error for one that does not fit `T`.
fn integer<'a, T: FromStr>(
    opts: &'a [Opt],
    [example, form, range]: [&str; 3],
    errors: &mut Errors,
) -> Option<Parsed<'a, T>>
where
    T::Err: Display,
{
    let opt = once(opts, errors)?;
    errors.ok(opt.integer(example, form, range))
}

/// `version = N` with N a `u32`.
fn version(opts: &[Opt], errors: &mut Errors) -> u32 {
    let texts = [
        "version = 2",
        "`version` takes a whole number, e.g. `version = 2`; bump it when the cached value's meaning changes",
        "`version` must be a whole number from 0 to 4294967295",
    ];
    integer(opts, texts, errors).map_or(0, |parsed| parsed.value)
}

/// `max_bytes = N` with N > 0; 0 when not given.
fn max_bytes(opts: &[Opt], errors: &mut Errors) -> u64 {
    let texts = [
        "max_bytes = 65536",
        "`max_bytes` takes a whole number of bytes, e.g. `max_bytes = 65536`",
        "`max_bytes` must be a whole number of bytes that fits in u64",
    ];
    let zero = "`max_bytes` must be greater than zero; remove it to store values of any size";
    integer(opts, texts, errors)
        .and_then(|parsed| not_zero(parsed, zero, errors))
        .unwrap_or(0)
}

/// `capacity = "16MiB"` (or whole bytes): more than zero, and a cache with an in-process
/// copy (not `tier = "remote"`). 0 when not given or wrong.
fn capacity(opts: &[Opt], remote: Option<&Expr>, errors: &mut Errors) -> u64 {
    let Some(opt) = once(opts, errors) else {
        return 0;
    };
    let zero = "`capacity` must be greater than zero; remove it to share the runtime's \
                `max_bytes` with the other caches";
    let Some(bytes) = errors
        .ok(opt.bytes())
        .and_then(|parsed| not_zero(parsed, zero, errors))
    else {
        return 0;
    };
    if let Some(tier) = remote {
        errors.add(
            tier,
            "`capacity` bounds the cache's in-process copies, which a `tier = \"remote\"` \
             cache never keeps; remove `capacity` or the `tier`",
        );
    }
    bytes
}

/// `max_concurrent = N` with N from 1 to `u32::MAX`; 0 when not given.
fn max_concurrent(opts: &[Opt], errors: &mut Errors) -> u32 {
    let texts = [
        "max_concurrent = 4",
        "`max_concurrent` takes a whole number of computations, e.g. `max_concurrent = 4`",
        "`max_concurrent` must be a whole number from 1 to 4294967295",
    ];
    let zero =
        "`max_concurrent` must be at least 1; remove it to let any number of computations run";
    integer(opts, texts, errors)
        .and_then(|parsed| not_zero(parsed, zero, errors))
        .unwrap_or(0)
}

/// `refresh_ahead = F` with 0 < F < 1.
fn refresh_ahead(opt: &Opt, errors: &mut Errors) -> Option<f64> {
    const MEANING: &str = "it is the fraction of the TTL after which a hit starts a background \
                           refresh, e.g. `refresh_ahead = 0.8`";
    let form = format!("`refresh_ahead` takes a decimal number between 0 and 1; {MEANING}");
    let parsed = errors.ok(opt.decimal("refresh_ahead = 0.8", &form))?;
    if parsed.value > 0.0 && parsed.value < 1.0 {
        return Some(parsed.value);
    }
    errors.add(
        parsed.expr,
        format!("`refresh_ahead` must be between 0 and 1 (exclusive); {MEANING}"),
    );
    None
}

/// `option = true | false`; false when it is neither.
fn flag(opt: &Opt, errors: &mut Errors) -> bool {
    errors.ok(opt.flag()).unwrap_or(false)
}

/// `tags = [expr, ...]`, at least one.
fn tags<'a>(opt: &'a Opt, errors: &mut Errors) -> Vec<&'a Expr> {
    let array = errors.ok(opt.array(
        "tags = [\"users\"]",
        "`tags` takes an array of expressions, e.g. `tags = [\"users\", format!(\"user:{id}\")]`",
    ));
    let Some(array) = array else {
        return Vec::new();
    };
    if array.elems.is_empty() {
        errors.add(
            array,
            "`tags` needs at least one tag, e.g. `tags = [\"users\"]`; or remove it",
        );
    }
    array.elems.iter().collect()
}

/// `hard_timeout = "2s"`, which needs an `async fn`.
fn hard_timeout<'a>(
    opts: &'a [Opt],
    func: &Function<'_>,
    errors: &mut Errors,
) -> Option<(&'a Ident, u64)> {
    let (opt, ms) = timed_option(
        opts,
        Seconds::Refused,
        "remove `hard_timeout` to wait for the body as long as it takes",
        errors,
    )?;
    let message = "`hard_timeout` needs an `async fn`: a synchronous body cannot be stopped \
                   waiting for; make the function async or remove `hard_timeout`";
    needs_async(opt, func, message, errors).then_some((&opt.key, ms))
}

/// Rule: `opt` needs an `async fn`; `message`, on the option's name, says why.
fn needs_async(opt: &Opt, func: &Function<'_>, message: &str, errors: &mut Errors) -> bool {
    if !func.is_async() {
        errors.add(&opt.key, message);
    }
    func.is_async()
}

/// Rules of `soft_timeout`: an `async fn`, a fail-safe copy to answer with, and the
/// signature rules of a computation that outlives the call.
fn soft_timeout_rules(
    opt: &Opt,
    func: &Function<'_>,
    stale_if_error_ms: u64,
    refresh_ahead: bool,
    errors: &mut Errors,
) {
    let message = "`soft_timeout` needs an `async fn`: the body goes on in the background \
                   as a task; make the function async or remove `soft_timeout`";
    if !needs_async(opt, func, message, errors) {
        return;
    }
    if stale_if_error_ms == 0 {
        errors.add(
            &opt.key,
            "`soft_timeout` answers with the fail-safe copy, which only \
             `stale_if_error` keeps: add `stale_if_error = \"10m\"` or remove \
             `soft_timeout`",
        );
    } else if !refresh_ahead {
        // The same rules as `refresh_ahead` (reported once when both are given).
        refresh_signature(opt, func, errors);
    }
}

/// Rule: `skip` and `key` do not go together.
fn skip_with_key(skip: Option<&Opt>, key: Option<&Expr>, errors: &mut Errors) {
    if let (Some(skip), Some(_)) = (skip, key) {
        errors.add(
            &skip.key,
            "`skip` has no effect together with `key`: the key expression alone decides what \
             the key holds; remove `skip`",
        );
    }
}
/// Positional arguments after the name, and options that do not exist.
fn stray_and_unknown<O: Options>(args: &Args<O>, errors: &mut Errors) {
    let valid = O::NAMES;
    let list = code_list(valid);
    for expr in &args.stray {
        match ungroup(expr) {
            Expr::Path(path) if valid.iter().any(|name| path.path.is_ident(name)) => errors.add(
                path,
                format!(
                    "`{}` needs a value: write `{} = ...`",
                    path.to_token_stream(),
                    path.to_token_stream()
                ),
            ),
            other => errors.add(
                other,
                format!("unexpected argument: options are written `option = value`; valid options are {list}"),
            ),
        }
    }
    for opt in &args.unknown {
        let message = match closest(&opt.key, valid) {
            Some(name) => format!("unknown option `{}`; did you mean `{name}`?", opt.key),
            None => format!("unknown option `{}`; valid options are {list}", opt.key),
        };
        errors.add(&opt.key, message);
    }
}

/// The valid option closest to `name`, when it is close enough to be a typo of it: at
/// most one edit (insertion, deletion, substitution or swap of neighbours) per three
/// characters, and at least one.
fn closest<'v>(name: &Ident, valid: &[&'v str]) -> Option<&'v str> {
    let name = name.to_string();
    let name = name.strip_prefix("r#").unwrap_or(&name).to_lowercase();
    valid
        .iter()
        .map(|option| (strsim::damerau_levenshtein(&name, option), *option))
        .filter(|(distance, option)| *distance <= (name.len().max(option.len()) / 3).max(1))
        .min_by_key(|(distance, _)| *distance)
        .map(|(_, option)| option)
}

/// `skip(a, b)`: each a parameter binding. Returns the known names.
fn skip_names<'a>(opt: &'a Opt, func: &Function<'_>, errors: &mut Errors) -> Vec<&'a Ident> {
    let Some(names) =
        errors.ok(
            opt.list("write `skip(a, b)` with the names of the parameters to leave out of the key")
        )
    else {
        return Vec::new();
    };
    let bound: Vec<&Ident> = func
        .params
        .iter()
        .flat_map(|param| param.bindings.iter().map(|b| &b.ident))
        .collect();
    let list = code_list(&bound);
    let mut known = Vec::new();
    for name in names {
        match ungroup(name) {
            Expr::Path(path) if path.path.is_ident("self") => {
                errors.add(path, "`self` is never part of the key; remove it from `skip`");
            }
            Expr::Path(path) => match path.path.get_ident() {
                Some(ident) if bound.contains(&ident) => known.push(ident),
                Some(ident) if bound.is_empty() => {
                    errors.add(ident, format!("`{ident}` is not a parameter of this function, which has none; remove `skip`"));
                }
                Some(ident) => errors.add(
                    ident,
                    format!("`{ident}` is not a parameter of this function; `skip` takes parameter names: {list}"),
                ),
                None => errors.add(path, "`skip` takes parameter names, e.g. `skip(db)`"),
            },
            other => errors.add(other, "`skip` takes parameter names, e.g. `skip(db)`"),
        }
    }
    known
}

fn remote_rules(
    remote: Option<&Expr>,
    lock: Option<&Opt>,
    tier: u8,
    func: &Function<'_>,
    errors: &mut Errors,
) {
    if !func.is_async() {
        if let Some(value) = remote {
            errors.add(
                value,
                "`tier = \"remote\"` needs an `async fn`: synchronous functions are cached in \
                 process only, so nothing would be cached; make the function async or remove \
                 `tier`",
            );
        }
        if let Some(opt) = lock {
            errors.add(
                &opt.key,
                "`lock` needs an `async fn`: synchronous functions are cached in process only \
                 and never wait on Redis; make the function async or remove `lock`",
            );
        }
    } else if let (Some(opt), 1) = (lock, tier) {
        errors.add(
            &opt.key,
            "`lock` coordinates instances through Redis, which a `tier = \"local\"` cache \
             never uses; remove one of them",
        );
    }
}

#[cfg(test)]
mod tests {
    use proc_macro2::Span;
    use syn::Ident;

    use super::closest;
    use crate::attr::{CACHE_OPTIONS, TIMER_OPTIONS};

    #[test]
    fn misspelled_options_suggest_the_closest_one() {
        let suggest = |name: &str, valid| closest(&Ident::new(name, Span::call_site()), valid);
        for (typo, option) in [
            ("tll", "ttl"),
            ("TTL", "ttl"),
            ("tl", "ttl"),
            ("kye", "key"),
            ("skp", "skip"),
            ("verison", "version"),
            ("stale_if_eror", "stale_if_error"),
            ("refreshahead", "refresh_ahead"),
            ("tag", "tags"),
            ("max_byte", "max_bytes"),
            ("cache_nones", "cache_none"),
            ("teir", "tier"),
            ("locks", "lock"),
            ("max_concurent", "max_concurrent"),
        ] {
            assert_eq!(suggest(typo, CACHE_OPTIONS), Some(option), "{typo}");
        }
        assert_eq!(suggest("slwo", TIMER_OPTIONS), Some("slow"));
    }

    #[test]
    fn distant_names_suggest_nothing() {
        let suggest = |name: &str, valid| closest(&Ident::new(name, Span::call_site()), valid);
        for name in ["time_to_live", "expire", "name", "x", "ttlx_ms", "lockout"] {
            assert_eq!(suggest(name, CACHE_OPTIONS), None, "{name}");
        }
        assert_eq!(suggest("threshold", TIMER_OPTIONS), None);
        assert_eq!(suggest("ttl", TIMER_OPTIONS), None);
    }
}
