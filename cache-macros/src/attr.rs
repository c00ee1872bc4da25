//! Stage 1, parse: the attribute's arguments into plain structs.
//!
//! Parsing only sorts the arguments by option name and keeps every token, so that the
//! validation stage can report each problem on the token the user wrote. Nothing here
//! judges a value: `ttl = 0` parses fine and is rejected later, together with every
//! other problem of the same attribute.

use syn::parse::{Parse, ParseStream};
use syn::punctuated::Punctuated;
use syn::{Expr, Ident, Token, token};

/// Options of `#[cache_result]`, in the order the docs list them.
pub(crate) const CACHE_OPTIONS: &[&str] = &[
    "ttl",
    "key",
    "skip",
    "version",
    "stale_if_error",
    "refresh_ahead",
    "tags",
    "max_bytes",
    "cache_none",
    "tier",
    "lock",
    "max_concurrent",
    "unless",
    "only_if_slower",
    "ttl_from",
    "hard_timeout",
    "soft_timeout",
    "entry",
];

/// Options of `#[performance_timer]`.
pub(crate) const TIMER_OPTIONS: &[&str] = &["slow"];

/// One `option = value` or `option(a, b)` argument.
pub(crate) struct Opt {
    /// The option's name as written.
    pub(crate) key: Ident,
    /// What follows the name.
    pub(crate) value: OptValue,
}

/// The value part of an [`Opt`].
pub(crate) enum OptValue {
    /// `option = expr`.
    Eq(Expr),
    /// `option(expr, ...)`.
    List(Punctuated<Expr, Token![,]>),
}

/// Arguments of `#[cache_result("name", options...)]`.
///
/// Each option keeps every occurrence, so that duplicates are reported by validation.
#[derive(Default)]
pub(crate) struct CacheArgs {
    /// The first argument when it is not an option (expected: the cache name).
    pub(crate) name: Option<Expr>,
    /// The first option, when it came where the name was expected.
    pub(crate) first_option: Option<Ident>,
    pub(crate) ttl: Vec<Opt>,
    pub(crate) key: Vec<Opt>,
    pub(crate) skip: Vec<Opt>,
    pub(crate) version: Vec<Opt>,
    pub(crate) stale_if_error: Vec<Opt>,
    pub(crate) refresh_ahead: Vec<Opt>,
    pub(crate) tags: Vec<Opt>,
    pub(crate) max_bytes: Vec<Opt>,
    pub(crate) cache_none: Vec<Opt>,
    pub(crate) tier: Vec<Opt>,
    pub(crate) lock: Vec<Opt>,
    pub(crate) max_concurrent: Vec<Opt>,
    pub(crate) unless: Vec<Opt>,
    pub(crate) only_if_slower: Vec<Opt>,
    pub(crate) ttl_from: Vec<Opt>,
    pub(crate) hard_timeout: Vec<Opt>,
    pub(crate) soft_timeout: Vec<Opt>,
    pub(crate) entry: Vec<Opt>,
    /// Options with a name that is not in [`CACHE_OPTIONS`].
    pub(crate) unknown: Vec<Opt>,
    /// Arguments without an option name after the first one.
    pub(crate) stray: Vec<Expr>,
}

/// Arguments of `#[performance_timer]`, `#[performance_timer("name", slow = "250ms")]`.
#[derive(Default)]
pub(crate) struct TimerArgs {
    /// The first argument when it is not an option (expected: the timer name).
    pub(crate) name: Option<Expr>,
    pub(crate) slow: Vec<Opt>,
    /// Options with a name that is not in [`TIMER_OPTIONS`].
    pub(crate) unknown: Vec<Opt>,
    /// Arguments without an option name after the first one.
    pub(crate) stray: Vec<Expr>,
}

/// One comma-separated argument, before it is sorted by name.
enum Arg {
    Positional(Expr),
    Option(Opt),
}

impl Parse for Arg {
    fn parse(input: ParseStream<'_>) -> syn::Result<Self> {
        // `name = ...` and `name(...)` are options; anything else is positional.
        let is_option = input.peek(Ident) && (input.peek2(Token![=]) || input.peek2(token::Paren));
        if !is_option {
            return input.parse().map(Arg::Positional);
        }
        let key: Ident = input.parse()?;
        let value = if input.peek(Token![=]) {
            let eq: Token![=] = input.parse()?;
            if input.is_empty() || input.peek(Token![,]) {
                let message = format!("`{key}` needs a value after `=`");
                return Err(syn::Error::new_spanned(eq, message));
            }
            OptValue::Eq(input.parse()?)
        } else {
            let content;
            syn::parenthesized!(content in input);
            OptValue::List(content.parse_terminated(Expr::parse, Token![,])?)
        };
        Ok(Arg::Option(Opt { key, value }))
    }
}

/// Splits the arguments into the leading positional one and the rest.
fn parse_args(input: ParseStream<'_>) -> syn::Result<(Option<Expr>, Vec<Arg>)> {
    let mut args: Vec<Arg> = Punctuated::<Arg, Token![,]>::parse_terminated(input)?
        .into_iter()
        .collect();
    let first = match args.first() {
        Some(Arg::Positional(_)) => match args.remove(0) {
            Arg::Positional(expr) => Some(expr),
            Arg::Option(_) => None,
        },
        _ => None,
    };
    Ok((first, args))
}

impl Parse for CacheArgs {
    fn parse(input: ParseStream<'_>) -> syn::Result<Self> {
        let (name, rest) = parse_args(input)?;
        let mut args = CacheArgs {
            first_option: match (&name, rest.first()) {
                (None, Some(Arg::Option(opt))) => Some(opt.key.clone()),
                _ => None,
            },
            name,
            ..CacheArgs::default()
        };
        for arg in rest {
            let opt = match arg {
                Arg::Positional(expr) => {
                    args.stray.push(expr);
                    continue;
                }
                Arg::Option(opt) => opt,
            };
            let slot = match opt.key.to_string().as_str() {
                "ttl" => &mut args.ttl,
                "key" => &mut args.key,
                "skip" => &mut args.skip,
                "version" => &mut args.version,
                "stale_if_error" => &mut args.stale_if_error,
                "refresh_ahead" => &mut args.refresh_ahead,
                "tags" => &mut args.tags,
                "max_bytes" => &mut args.max_bytes,
                "cache_none" => &mut args.cache_none,
                "tier" => &mut args.tier,
                "lock" => &mut args.lock,
                "max_concurrent" => &mut args.max_concurrent,
                "unless" => &mut args.unless,
                "only_if_slower" => &mut args.only_if_slower,
                "ttl_from" => &mut args.ttl_from,
                "hard_timeout" => &mut args.hard_timeout,
                "soft_timeout" => &mut args.soft_timeout,
                "entry" => &mut args.entry,
                _ => &mut args.unknown,
            };
            slot.push(opt);
        }
        Ok(args)
    }
}

impl Parse for TimerArgs {
    fn parse(input: ParseStream<'_>) -> syn::Result<Self> {
        let (name, rest) = parse_args(input)?;
        let mut args = TimerArgs {
            name,
            ..TimerArgs::default()
        };
        for arg in rest {
            match arg {
                Arg::Positional(expr) => args.stray.push(expr),
                Arg::Option(opt) if opt.key == "slow" => args.slow.push(opt),
                Arg::Option(opt) => args.unknown.push(opt),
            }
        }
        Ok(args)
    }
}
