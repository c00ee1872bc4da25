//! Stage 3, validate: check the arguments against the rules and the function, and turn
//! them into the specs that expansion reads.
//!
//! Every problem becomes a `syn::Error` on the token the user wrote, with a message that
//! says what to write instead. Problems are collected, not returned at the first one, so
//! one compile shows all of them (serde_derive's `Ctxt` works the same way).

use std::fmt::Display;

use proc_macro2::Span;
use quote::ToTokens;
use syn::{Expr, ExprLit, ExprUnary, Ident, Lit, LitStr, UnOp};

use crate::ast::{Function, span_range};
use crate::attr::{CACHE_OPTIONS, CacheArgs, Opt, OptValue, TIMER_OPTIONS, TimerArgs};

/// What `#[cache_result]` expands from, once every rule holds.
pub(crate) struct CacheSpec<'a> {
    /// The cache name: the first argument.
    pub(crate) name: &'a LitStr,
    /// Time to live in milliseconds; 0 leaves it to the runtime's default.
    pub(crate) ttl_ms: u64,
    /// `version = N`, 0 when not given.
    pub(crate) version: u32,
    /// How long an expired value may be served when recomputing fails; 0 is off.
    pub(crate) stale_if_error_ms: u64,
    /// Fraction of the TTL after which a hit refreshes in the background.
    pub(crate) refresh_ahead: Option<f64>,
    /// Largest encoded value to store; 0 is no limit.
    pub(crate) max_bytes: u64,
    /// `key = expr`, replacing the default key.
    pub(crate) key: Option<&'a Expr>,
    /// The identifiers of the default key, in parameter order.
    pub(crate) inputs: Vec<KeyInput<'a>>,
    /// `tags = [..]`, evaluated on a miss.
    pub(crate) tags: Vec<&'a Expr>,
    /// The `cache_none` token when `cache_none = true`.
    pub(crate) cache_none: Option<&'a Ident>,
    /// `tier = "both" | "local" | "remote"`: 0, 1 or 2 (the runtime's `SiteSpec::tier`).
    pub(crate) tier: u8,
    /// `lock = true`: single-flight across instances through a Redis lock.
    pub(crate) lock: bool,
    /// `max_concurrent = N`: computations of the cache that may run at once; 0 = no bound.
    pub(crate) max_concurrent: u32,
    /// `unless = |v| ..`: a closure over `&V`; true means "do not store".
    pub(crate) unless: Option<&'a Expr>,
    /// `only_if_slower = "50ms"`: values computed faster are not stored; 0 = off.
    pub(crate) only_if_slower_ms: u64,
    /// `ttl_from = |v| ..`: a closure over `&V` giving the value's TTL.
    pub(crate) ttl_from: Option<&'a Expr>,
    /// `hard_timeout = "2s"`: the option's name (where a missing `From<Timeout>` is
    /// reported) and the duration in milliseconds.
    pub(crate) hard_timeout: Option<(&'a Ident, u64)>,
    /// `soft_timeout = "100ms"`: how long a call with a fail-safe copy waits; 0 = off.
    pub(crate) soft_timeout_ms: u64,
    /// `entry = false` turns the companion `<fn>_entry` off (needed in trait impls).
    pub(crate) entry: bool,
}

/// The values of `tier`, in the order of their numbers in `SiteSpec::tier`.
const TIERS: &[&str] = &["both", "local", "remote"];

/// One identifier in the default key.
pub(crate) struct KeyInput<'a> {
    /// The binding, as written in the parameter's pattern.
    pub(crate) ident: &'a Ident,
    /// Where a "cannot be part of a key" error should point: the parameter's type, or
    /// the binding itself inside a pattern such as `Path(id): Path<u64>`: the span of its
    /// first token.
    pub(crate) span: Span,
    /// The span of its last token.
    pub(crate) span_end: Span,
    /// True when the parameter's type names a type parameter of the function, whose
    /// bounds the user must extend if it cannot be encoded.
    pub(crate) generic: bool,
}

/// What `#[performance_timer]` expands from.
pub(crate) struct TimerSpec<'a> {
    /// `None` names the timer after the function's path.
    pub(crate) name: Option<&'a LitStr>,
    /// Calls slower than this are logged; 0 is never.
    pub(crate) slow_ms: u64,
}

/// Errors collected so far.
#[derive(Default)]
struct Errors(Option<syn::Error>);

impl Errors {
    fn add(&mut self, tokens: impl ToTokens, message: impl Display) {
        self.push(syn::Error::new_spanned(tokens, message));
    }

    fn add_at(&mut self, span: Span, message: impl Display) {
        self.push(syn::Error::new(span, message));
    }

    fn push(&mut self, error: syn::Error) {
        match &mut self.0 {
            Some(first) => first.combine(error),
            None => self.0 = Some(error),
        }
    }

    fn finish<T>(self, value: Option<T>) -> syn::Result<T> {
        match (self.0, value) {
            (Some(error), _) => Err(error),
            (None, Some(value)) => Ok(value),
            (None, None) => Err(syn::Error::new(
                Span::call_site(),
                "invalid attribute arguments",
            )),
        }
    }
}

/// Checks `#[cache_result(...)]` against its rules and the function it is on.
pub(crate) fn cache<'a>(args: &'a CacheArgs, func: &Function<'a>) -> syn::Result<CacheSpec<'a>> {
    let mut errors = Errors::default();
    let example = "e.g. `#[cache_result(\"users\", ttl = \"5m\")]`";
    let name = match &args.name {
        Some(expr) => name(expr, "cache", example, &mut errors),
        None => {
            let message = format!("missing cache name: put a string literal first, {example}");
            match &args.first_option {
                Some(first) => errors.add(first, message),
                None => errors.add_at(Span::call_site(), message),
            }
            None
        }
    };
    let ttl_ms = once(&args.ttl, &mut errors)
        .and_then(|opt| {
            duration(
                opt,
                Seconds::Allowed,
                "remove `ttl` to use the runtime's default TTL",
                &mut errors,
            )
        })
        .unwrap_or(0);
    let stale_if_error_ms = once(&args.stale_if_error, &mut errors)
        .and_then(|opt| {
            duration(
                opt,
                Seconds::Allowed,
                "remove `stale_if_error` to turn it off",
                &mut errors,
            )
        })
        .unwrap_or(0);
    let version = once(&args.version, &mut errors)
        .and_then(|opt| version(opt, &mut errors))
        .unwrap_or(0);
    let refresh_opt = once(&args.refresh_ahead, &mut errors);
    let refresh_ahead = refresh_opt.and_then(|opt| refresh_ahead(opt, &mut errors));
    let max_bytes = once(&args.max_bytes, &mut errors)
        .and_then(|opt| max_bytes(opt, &mut errors))
        .unwrap_or(0);
    let cache_none = once(&args.cache_none, &mut errors)
        .and_then(|opt| flag(opt, &mut errors).then_some(&opt.key));
    let tier_opt = once(&args.tier, &mut errors);
    let tier = tier_opt.and_then(|opt| tier(opt, &mut errors)).unwrap_or(0);
    let lock_opt = once(&args.lock, &mut errors).filter(|opt| flag(opt, &mut errors));
    let max_concurrent = once(&args.max_concurrent, &mut errors)
        .and_then(|opt| max_concurrent(opt, &mut errors))
        .unwrap_or(0);
    let tags = once(&args.tags, &mut errors)
        .map(|opt| tags(opt, &mut errors))
        .unwrap_or_default();
    let unless = once(&args.unless, &mut errors)
        .and_then(|opt| closure(opt, "unless = |v| v.is_empty()", &mut errors));
    let ttl_from = once(&args.ttl_from, &mut errors)
        .and_then(|opt| closure(opt, "ttl_from = |token| token.expires_in", &mut errors));
    let only_if_slower_ms = once(&args.only_if_slower, &mut errors)
        .and_then(|opt| {
            duration(
                opt,
                Seconds::Refused,
                "remove `only_if_slower` to store every value",
                &mut errors,
            )
        })
        .unwrap_or(0);
    let hard_timeout = once(&args.hard_timeout, &mut errors).and_then(|opt| {
        let ms = duration(
            opt,
            Seconds::Refused,
            "remove `hard_timeout` to wait for the body as long as it takes",
            &mut errors,
        )?;
        if !func.is_async() {
            errors.add(
                &opt.key,
                "`hard_timeout` needs an `async fn`: a synchronous body cannot be stopped \
                 waiting for; make the function async or remove `hard_timeout`",
            );
            return None;
        }
        Some((&opt.key, ms))
    });
    let soft_opt = once(&args.soft_timeout, &mut errors);
    let soft_timeout_ms = soft_opt
        .and_then(|opt| {
            let ms = duration(
                opt,
                Seconds::Refused,
                "remove `soft_timeout` to wait for the body as long as it takes",
                &mut errors,
            )?;
            if !func.is_async() {
                errors.add(
                    &opt.key,
                    "`soft_timeout` needs an `async fn`: the body goes on in the background \
                     as a task; make the function async or remove `soft_timeout`",
                );
            } else if stale_if_error_ms == 0 {
                errors.add(
                    &opt.key,
                    "`soft_timeout` answers with the fail-safe copy, which only \
                     `stale_if_error` keeps: add `stale_if_error = \"10m\"` or remove \
                     `soft_timeout`",
                );
            } else if refresh_opt.is_none() {
                // The same rules as `refresh_ahead` (reported once when both are given).
                refresh_signature(opt, func, &mut errors);
            }
            Some(ms)
        })
        .unwrap_or(0);
    let entry = match once(&args.entry, &mut errors) {
        Some(opt) => flag(opt, &mut errors),
        None => true,
    };
    let key =
        once(&args.key, &mut errors).and_then(|opt| eq_value(opt, "key = (a, b)", &mut errors));
    let skip = once(&args.skip, &mut errors);
    if let (Some(skip), Some(_)) = (skip, key) {
        errors.add(
            &skip.key,
            "`skip` has no effect together with `key`: the key expression alone decides what \
             the key holds; remove `skip`",
        );
    }
    let skipped = skip
        .map(|opt| skip_names(opt, func, &mut errors))
        .unwrap_or_default();
    stray_and_unknown(&args.stray, &args.unknown, CACHE_OPTIONS, &mut errors);

    cache_signature(func, &mut errors);
    remote_rules(
        tier_opt.filter(|_| tier == 2),
        lock_opt,
        tier,
        func,
        &mut errors,
    );
    if let Some(opt) = refresh_opt {
        refresh_signature(opt, func, &mut errors);
    }

    let inputs = func
        .params
        .iter()
        .filter(|param| param.extractor.is_none())
        .flat_map(|param| {
            param.bindings.iter().map(move |binding| {
                let (span, span_end) = if param.simple {
                    span_range(param.ty)
                } else {
                    span_range(&binding.ident)
                };
                KeyInput {
                    ident: &binding.ident,
                    span,
                    span_end,
                    generic: param.generic,
                }
            })
        })
        .filter(|input| !skipped.contains(&input.ident))
        .collect();

    errors.finish(name.map(|name| CacheSpec {
        name,
        ttl_ms,
        version,
        stale_if_error_ms,
        refresh_ahead,
        max_bytes,
        key,
        inputs,
        tags,
        cache_none,
        tier,
        lock: lock_opt.is_some(),
        max_concurrent,
        unless,
        only_if_slower_ms,
        ttl_from,
        hard_timeout,
        soft_timeout_ms,
        entry,
    }))
}

/// `option = |v| ..`: a closure of one parameter (a path to a function is accepted too).
fn closure<'a>(opt: &'a Opt, example: &str, errors: &mut Errors) -> Option<&'a Expr> {
    match eq_value(opt, example, errors)? {
        Expr::Closure(c) if c.inputs.len() != 1 => {
            errors.add(
                &c.inputs,
                format!(
                    "`{}` takes a closure of one parameter, the value: `{example}`",
                    opt.key
                ),
            );
            None
        }
        expr @ (Expr::Closure(_) | Expr::Path(_)) => Some(expr),
        other => {
            errors.add(
                other,
                format!(
                    "`{}` takes a closure over the value, e.g. `{example}`",
                    opt.key
                ),
            );
            None
        }
    }
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
    stray_and_unknown(&args.stray, &args.unknown, TIMER_OPTIONS, &mut errors);
    let slow_ms = once(&args.slow, &mut errors)
        .and_then(|opt| {
            duration(
                opt,
                Seconds::Refused,
                "remove `slow` to log no call as slow",
                &mut errors,
            )
        })
        .unwrap_or(0);
    let sig = &func.item.sig;
    if let Some(token) = &sig.constness {
        errors.add(
            token,
            "`#[performance_timer]` cannot time a `const fn`: timing runs code that is not \
             const; remove `const` or time the functions that call it",
        );
    }
    if let Some(variadic) = &sig.variadic {
        errors.add(
            variadic,
            "`#[performance_timer]` cannot time a variadic function",
        );
    }
    errors.finish(Some(TimerSpec { name, slow_ms }))
}

/// The one duplicate check: reports every repeat of an option and returns the first.
fn once<'a>(opts: &'a [Opt], errors: &mut Errors) -> Option<&'a Opt> {
    for repeat in opts.iter().skip(1) {
        errors.add(
            &repeat.key,
            format!(
                "`{}` specified more than once; keep one of them",
                repeat.key
            ),
        );
    }
    opts.first()
}

/// A name argument: a non-empty string literal.
fn name<'a>(expr: &'a Expr, what: &str, example: &str, errors: &mut Errors) -> Option<&'a LitStr> {
    match ungroup(expr) {
        Expr::Lit(ExprLit {
            lit: Lit::Str(lit), ..
        }) if lit.value().is_empty() => {
            errors.add(lit, format!("the {what} name must not be empty, {example}"));
            None
        }
        Expr::Lit(ExprLit {
            lit: Lit::Str(lit), ..
        }) => Some(lit),
        other => {
            errors.add(
                other,
                format!("the {what} name must be a string literal, {example}"),
            );
            None
        }
    }
}

/// Positional arguments after the name, and options that do not exist.
fn stray_and_unknown(stray: &[Expr], unknown: &[Opt], valid: &[&str], errors: &mut Errors) {
    let list = valid
        .iter()
        .map(|name| format!("`{name}`"))
        .collect::<Vec<_>>()
        .join(", ");
    for expr in stray {
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
    for opt in unknown {
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

/// The value of `option = value`; `option(..)` is an error.
fn eq_value<'a>(opt: &'a Opt, example: &str, errors: &mut Errors) -> Option<&'a Expr> {
    match &opt.value {
        OptValue::Eq(expr) => Some(ungroup(expr)),
        OptValue::List(_) => {
            errors.add(
                &opt.key,
                format!("`{}` takes a value: write `{example}`", opt.key),
            );
            None
        }
    }
}

/// Whether a duration option also accepts whole seconds as an integer.
#[derive(Clone, Copy, PartialEq)]
enum Seconds {
    Allowed,
    Refused,
}

/// A duration option in milliseconds: `"250ms"`, `"90s"`, `"5m"`, `"1h"`, `"1d"`, or
/// (when allowed) an integer number of seconds. Zero is an error; `zero_hint` says what
/// to do instead.
fn duration(opt: &Opt, seconds: Seconds, zero_hint: &str, errors: &mut Errors) -> Option<u64> {
    let key = &opt.key;
    let forms = match seconds {
        Seconds::Allowed => {
            format!("whole seconds (`{key} = 300`) or a duration string (`{key} = \"5m\"`)")
        }
        Seconds::Refused => format!("a duration string such as `{key} = \"250ms\"`"),
    };
    let expr = eq_value(opt, &format!("{key} = \"5m\""), errors)?;
    let ms = match expr {
        Expr::Lit(ExprLit {
            lit: Lit::Str(lit), ..
        }) => match parse_duration(&lit.value()) {
            Ok(ms) => ms,
            Err(problem) => {
                errors.add(lit, format!("invalid `{key}`: {problem}"));
                return None;
            }
        },
        Expr::Lit(ExprLit {
            lit: Lit::Int(lit), ..
        }) if seconds == Seconds::Allowed => {
            if !lit.suffix().is_empty() {
                errors.add(
                    lit,
                    format!(
                        "write the duration as a string, `{key} = \"{}{}\"`, or as whole seconds",
                        lit.base10_digits(),
                        lit.suffix()
                    ),
                );
                return None;
            }
            match lit
                .base10_parse::<u64>()
                .ok()
                .and_then(|s| s.checked_mul(1000))
            {
                Some(ms) => ms,
                None => {
                    errors.add(lit, format!("`{key}` is too large"));
                    return None;
                }
            }
        }
        Expr::Unary(ExprUnary {
            op: UnOp::Neg(_), ..
        }) => {
            errors.add(expr, format!("`{key}` cannot be negative; write {forms}"));
            return None;
        }
        other => {
            errors.add(other, format!("`{key}` takes {forms}"));
            return None;
        }
    };
    if ms == 0 {
        errors.add(
            expr,
            format!("`{key}` must be greater than zero; {zero_hint}"),
        );
        return None;
    }
    Some(ms)
}

/// Parses `"<whole number><unit>"`, unit one of ms, s, m, h, d, into milliseconds.
fn parse_duration(text: &str) -> Result<u64, String> {
    const FORMS: &str =
        "write a whole number and a unit: \"250ms\", \"90s\", \"5m\", \"1h\" or \"1d\"";
    let digits = text.len() - text.trim_start_matches(|c: char| c.is_ascii_digit()).len();
    let (number, unit) = text.split_at(digits);
    if number.is_empty() {
        return Err(format!("cannot read \"{text}\" as a duration; {FORMS}"));
    }
    let per_unit: u64 = match unit.trim_start() {
        "ms" => 1,
        "s" => 1_000,
        "m" => 60_000,
        "h" => 3_600_000,
        "d" => 86_400_000,
        "" => return Err(format!("\"{text}\" has no unit; {FORMS}")),
        other if other.chars().all(char::is_alphabetic) => {
            return Err(format!("unknown unit `{other}` in \"{text}\"; {FORMS}"));
        }
        _ => return Err(format!("cannot read \"{text}\" as a duration; {FORMS}")),
    };
    number
        .parse::<u64>()
        .ok()
        .and_then(|n| n.checked_mul(per_unit))
        .ok_or_else(|| format!("\"{text}\" is too large"))
}

/// `version = N` with N a `u32`.
fn version(opt: &Opt, errors: &mut Errors) -> Option<u32> {
    let expr = eq_value(opt, "version = 2", errors)?;
    match expr {
        Expr::Lit(ExprLit {
            lit: Lit::Int(lit), ..
        }) => {
            let parsed = lit.base10_parse::<u32>().ok();
            if parsed.is_none() {
                errors.add(lit, "`version` must be a whole number from 0 to 4294967295");
            }
            parsed
        }
        other => {
            errors.add(other, "`version` takes a whole number, e.g. `version = 2`; bump it when the cached value's meaning changes");
            None
        }
    }
}

/// `refresh_ahead = F` with 0 < F < 1.
fn refresh_ahead(opt: &Opt, errors: &mut Errors) -> Option<f64> {
    const MEANING: &str = "it is the fraction of the TTL after which a hit starts a background \
                           refresh, e.g. `refresh_ahead = 0.8`";
    let expr = eq_value(opt, "refresh_ahead = 0.8", errors)?;
    match expr {
        Expr::Lit(ExprLit {
            lit: Lit::Float(lit),
            ..
        }) => match lit.base10_parse::<f64>() {
            Ok(value) if value > 0.0 && value < 1.0 => Some(value),
            _ => {
                errors.add(
                    lit,
                    format!("`refresh_ahead` must be between 0 and 1 (exclusive); {MEANING}"),
                );
                None
            }
        },
        Expr::Unary(ExprUnary {
            op: UnOp::Neg(_), ..
        }) => {
            errors.add(
                expr,
                format!("`refresh_ahead` must be between 0 and 1 (exclusive); {MEANING}"),
            );
            None
        }
        other => {
            errors.add(
                other,
                format!("`refresh_ahead` takes a decimal number between 0 and 1; {MEANING}"),
            );
            None
        }
    }
}

/// `max_concurrent = N` with N from 1 to `u32::MAX`.
fn max_concurrent(opt: &Opt, errors: &mut Errors) -> Option<u32> {
    let expr = eq_value(opt, "max_concurrent = 4", errors)?;
    match expr {
        Expr::Lit(ExprLit {
            lit: Lit::Int(lit), ..
        }) => match lit.base10_parse::<u32>() {
            Ok(0) => {
                errors.add(
                    lit,
                    "`max_concurrent` must be at least 1; remove it to let any number of computations run",
                );
                None
            }
            Ok(n) => Some(n),
            Err(_) => {
                errors.add(
                    lit,
                    "`max_concurrent` must be a whole number from 1 to 4294967295",
                );
                None
            }
        },
        other => {
            errors.add(
                other,
                "`max_concurrent` takes a whole number of computations, e.g. `max_concurrent = 4`",
            );
            None
        }
    }
}

/// `max_bytes = N` with N > 0.
fn max_bytes(opt: &Opt, errors: &mut Errors) -> Option<u64> {
    let expr = eq_value(opt, "max_bytes = 65536", errors)?;
    match expr {
        Expr::Lit(ExprLit {
            lit: Lit::Int(lit), ..
        }) => {
            match lit.base10_parse::<u64>() {
                Ok(0) => {
                    errors.add(lit, "`max_bytes` must be greater than zero; remove it to store values of any size");
                    None
                }
                Ok(n) => Some(n),
                Err(_) => {
                    errors.add(
                        lit,
                        "`max_bytes` must be a whole number of bytes that fits in u64",
                    );
                    None
                }
            }
        }
        other => {
            errors.add(
                other,
                "`max_bytes` takes a whole number of bytes, e.g. `max_bytes = 65536`",
            );
            None
        }
    }
}

/// `option = true | false`, for `cache_none` and `lock`.
fn flag(opt: &Opt, errors: &mut Errors) -> bool {
    let key = &opt.key;
    match eq_value(opt, &format!("{key} = true"), errors) {
        Some(Expr::Lit(ExprLit {
            lit: Lit::Bool(lit),
            ..
        })) => lit.value,
        Some(other) => {
            errors.add(other, format!("`{key}` takes `true` or `false`"));
            false
        }
        None => false,
    }
}

/// `tier = "both" | "local" | "remote"`, as its number in [`TIERS`].
fn tier(opt: &Opt, errors: &mut Errors) -> Option<u8> {
    let list = TIERS
        .iter()
        .map(|t| format!("`\"{t}\"`"))
        .collect::<Vec<_>>()
        .join(", ");
    match eq_value(opt, "tier = \"local\"", errors)? {
        Expr::Lit(ExprLit {
            lit: Lit::Str(lit), ..
        }) => {
            let value = lit.value();
            let found = TIERS.iter().position(|t| *t == value);
            if found.is_none() {
                errors.add(
                    lit,
                    format!("unknown tier \"{value}\"; valid tiers are {list}"),
                );
            }
            found.and_then(|i| u8::try_from(i).ok())
        }
        other => {
            errors.add(
                other,
                format!("`tier` takes a string literal, one of {list}"),
            );
            None
        }
    }
}

/// Rules of the options that use Redis: it is only consulted by async functions, and
/// `lock` coordinates through it.
fn remote_rules(
    remote: Option<&Opt>,
    lock: Option<&Opt>,
    tier: u8,
    func: &Function<'_>,
    errors: &mut Errors,
) {
    if !func.is_async() {
        if let Some(opt) = remote {
            errors.add(
                opt_value(opt),
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

/// The value of `option = value`, or the option's name for `option(..)`.
fn opt_value(opt: &Opt) -> &dyn ToTokens {
    match &opt.value {
        OptValue::Eq(expr) => ungroup(expr),
        OptValue::List(_) => &opt.key,
    }
}

/// `tags = [expr, ...]`, at least one.
fn tags<'a>(opt: &'a Opt, errors: &mut Errors) -> Vec<&'a Expr> {
    match eq_value(opt, "tags = [\"users\"]", errors) {
        Some(Expr::Array(array)) if array.elems.is_empty() => {
            errors.add(
                array,
                "`tags` needs at least one tag, e.g. `tags = [\"users\"]`; or remove it",
            );
            Vec::new()
        }
        Some(Expr::Array(array)) => array.elems.iter().collect(),
        Some(other) => {
            errors.add(
                other,
                "`tags` takes an array of expressions, e.g. `tags = [\"users\", format!(\"user:{id}\")]`",
            );
            Vec::new()
        }
        None => Vec::new(),
    }
}

/// `skip(a, b)`: each a parameter binding. Returns the known names.
fn skip_names<'a>(opt: &'a Opt, func: &Function<'_>, errors: &mut Errors) -> Vec<&'a Ident> {
    let OptValue::List(names) = &opt.value else {
        errors.add(
            &opt.key,
            "write `skip(a, b)` with the names of the parameters to leave out of the key",
        );
        return Vec::new();
    };
    let bound: Vec<&Ident> = func
        .params
        .iter()
        .flat_map(|param| param.bindings.iter().map(|b| &b.ident))
        .collect();
    let list = bound
        .iter()
        .map(|ident| format!("`{ident}`"))
        .collect::<Vec<_>>()
        .join(", ");
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

/// Signature rules of `#[cache_result]`.
fn cache_signature(func: &Function<'_>, errors: &mut Errors) {
    let sig = &func.item.sig;
    if let Some(token) = &sig.constness {
        errors.add(
            token,
            "`#[cache_result]` cannot cache a `const fn`: a const fn can run at compile time, \
             where there is no cache; remove `const`",
        );
    }
    if let Some(token) = &sig.unsafety {
        errors.add(
            token,
            "`#[cache_result]` does not cache an `unsafe fn`: a cache hit would skip the body \
             whose safety contract callers rely on; cache a safe function that wraps it instead",
        );
    }
    if let Some(abi) = &sig.abi {
        errors.add(
            abi,
            "`#[cache_result]` does not cache an `extern` function: cache a Rust function and \
             call it from the `extern` one instead",
        );
    }
    if let Some(variadic) = &sig.variadic {
        errors.add(variadic, "`#[cache_result]` cannot cache a variadic function: variadic arguments cannot be part of a key");
    }
    if let Some(impl_trait) = func.output_impl_trait {
        errors.add(
            impl_trait,
            "`#[cache_result]` cannot cache an `impl Trait` return type: the cache must name the \
             type it stores; return the concrete type instead",
        );
    }
    for param in &func.params {
        if let Some(impl_trait) = param.impl_trait {
            errors.add(
                impl_trait,
                "`impl Trait` arguments are not supported by `#[cache_result]`: the key records \
                 each argument type's name; declare a generic parameter instead, \
                 `fn f<T: Trait>(x: T)`",
            );
        }
    }
    for param in &func.const_params {
        errors.add(
            param,
            format!(
                "const generic parameters are not supported by `#[cache_result]`: pass `{}` as \
                 an ordinary argument so that it becomes part of the key",
                param.ident
            ),
        );
    }
}

/// Extra signature rules when `refresh_ahead` is set: the refresh runs after the call
/// has returned, on clones of the arguments.
fn refresh_signature(opt: &Opt, func: &Function<'_>, errors: &mut Errors) {
    if let Some(recv) = func.receiver
        && let Some(mutability) = &recv.mutability
        && recv.reference.is_some()
    {
        errors.add(
            mutability,
            format!(
                "`{}` refreshes in the background on a clone of `self`, so the method cannot \
                 take `&mut self`; take `&self` or remove `refresh_ahead`",
                opt.key
            ),
        );
    }
    for param in &func.params {
        if let Some(reference) = param.reference {
            errors.add(
                reference.and_token,
                format!(
                    "`{}` recomputes in the background after the call has returned, so \
                     arguments must be owned: take `String` instead of `&str`, `Vec<T>` \
                     instead of `&[T]`, `T` instead of `&T`",
                    opt.key
                ),
            );
        }
    }
}

/// Looks through the invisible groups that `macro_rules!` wraps around fragments.
fn ungroup(expr: &Expr) -> &Expr {
    match expr {
        Expr::Group(group) => ungroup(&group.expr),
        other => other,
    }
}

#[cfg(test)]
mod tests {
    use proc_macro2::Span;
    use syn::Ident;

    use super::{closest, parse_duration};
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

    #[test]
    fn durations() {
        assert_eq!(parse_duration("250ms"), Ok(250));
        assert_eq!(parse_duration("90s"), Ok(90_000));
        assert_eq!(parse_duration("5m"), Ok(300_000));
        assert_eq!(parse_duration("1h"), Ok(3_600_000));
        assert_eq!(parse_duration("1d"), Ok(86_400_000));
        assert_eq!(parse_duration("2 s"), Ok(2_000));
        assert_eq!(
            parse_duration("0s"),
            Ok(0),
            "zero is rejected by the caller"
        );
    }

    #[test]
    fn bad_durations() {
        for (text, problem) in [
            ("", "cannot read"),
            ("s", "cannot read"),
            ("five minutes", "cannot read"),
            ("-5s", "cannot read"),
            ("90", "has no unit"),
            ("5y", "unknown unit `y`"),
            ("1.5h", "cannot read"),
            ("99999999999999999999d", "too large"),
            ("999999999999999d", "too large"),
        ] {
            let error = parse_duration(text).err().unwrap_or_default();
            assert!(error.contains(problem), "{text:?}: {error}");
        }
    }
}

#[cfg(test)]
#[path = "valid_fuzz.rs"]
mod fuzz;
