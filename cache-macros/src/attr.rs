//! Stage 1, parse: the attribute's arguments into plain structs, and each option's value
//! into what it means (a duration in milliseconds, an integer, a tier, a flag).
//!
//! Parsing sorts the arguments by option name and reads each value, keeping the token it
//! was read from, so that the validation stage can report each problem on the token the
//! user wrote. Nothing here judges a value: `ttl = 0` parses fine and is rejected later,
//! together with every other problem of the same attribute. A value that cannot be read
//! at all (`ttl = "soon"`) is an error here, returned for validation to collect.

use std::fmt::Display;
use std::str::FromStr;

use quote::ToTokens;
use syn::parse::{Parse, ParseStream};
use syn::punctuated::Punctuated;
use syn::{Expr, ExprLit, ExprUnary, Ident, Lit, LitStr, Token, UnOp, token};

use crate::errors::code_list;

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
    "cache_err",
    "err_ttl",
    "tier",
    "lock",
    "max_concurrent",
    "unless",
    "only_if_slower",
    "ttl_from",
    "hard_timeout",
    "soft_timeout",
    "fail_throttle",
    "local_ttl",
    "tti",
    "capacity",
    "entry",
    "span",
    "disk",
];

/// The values of `tier`, in the order of their numbers in `SiteSpec::tier`.
pub(crate) const TIERS: &[&str] = &["both", "local", "remote"];

/// Options of `#[performance_timer]`.
pub(crate) const TIMER_OPTIONS: &[&str] = &["slow", "span"];

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

/// Arguments of an attribute, `("name", option = value, ...)`; `O` holds the options
/// it knows.
///
/// Each option keeps every occurrence, so that duplicates are reported by validation.
#[derive(Default)]
pub(crate) struct Args<O> {
    /// The first argument when it is not an option (expected: the name).
    pub(crate) name: Option<Expr>,
    /// The first option, when it came where the name was expected.
    pub(crate) first_option: Option<Ident>,
    /// The options the attribute knows.
    pub(crate) options: O,
    /// Options with a name that is not in `O::NAMES`.
    pub(crate) unknown: Vec<Opt>,
    /// Arguments without an option name after the first one.
    pub(crate) stray: Vec<Expr>,
}

/// The options one attribute knows, each with every occurrence.
pub(crate) trait Options: Default {
    /// Their names, in the order the docs list them.
    const NAMES: &'static [&'static str];

    /// Where the occurrences of option `name` go; `None` for a name it does not know.
    fn slot(&mut self, name: &str) -> Option<&mut Vec<Opt>>;
}

/// Arguments of `#[cache_result("name", options...)]`.
pub(crate) type CacheArgs = Args<CacheOptions>;

/// Arguments of `#[performance_timer]`, `#[performance_timer("name", slow = "250ms")]`.
pub(crate) type TimerArgs = Args<TimerOptions>;

/// Options of `#[cache_result]`, one field each, as [`CACHE_OPTIONS`] lists them.
#[derive(Default)]
pub(crate) struct CacheOptions {
    pub(crate) ttl: Vec<Opt>,
    pub(crate) key: Vec<Opt>,
    pub(crate) skip: Vec<Opt>,
    pub(crate) version: Vec<Opt>,
    pub(crate) stale_if_error: Vec<Opt>,
    pub(crate) refresh_ahead: Vec<Opt>,
    pub(crate) tags: Vec<Opt>,
    pub(crate) max_bytes: Vec<Opt>,
    pub(crate) cache_none: Vec<Opt>,
    pub(crate) cache_err: Vec<Opt>,
    pub(crate) err_ttl: Vec<Opt>,
    pub(crate) tier: Vec<Opt>,
    pub(crate) lock: Vec<Opt>,
    pub(crate) max_concurrent: Vec<Opt>,
    pub(crate) unless: Vec<Opt>,
    pub(crate) only_if_slower: Vec<Opt>,
    pub(crate) ttl_from: Vec<Opt>,
    pub(crate) hard_timeout: Vec<Opt>,
    pub(crate) soft_timeout: Vec<Opt>,
    pub(crate) fail_throttle: Vec<Opt>,
    pub(crate) local_ttl: Vec<Opt>,
    pub(crate) tti: Vec<Opt>,
    pub(crate) capacity: Vec<Opt>,
    pub(crate) entry: Vec<Opt>,
    pub(crate) span: Vec<Opt>,
    pub(crate) disk: Vec<Opt>,
}

impl Options for CacheOptions {
    const NAMES: &'static [&'static str] = CACHE_OPTIONS;

    fn slot(&mut self, name: &str) -> Option<&mut Vec<Opt>> {
        Some(match name {
            "ttl" => &mut self.ttl,
            "key" => &mut self.key,
            "skip" => &mut self.skip,
            "version" => &mut self.version,
            "stale_if_error" => &mut self.stale_if_error,
            "refresh_ahead" => &mut self.refresh_ahead,
            "tags" => &mut self.tags,
            "max_bytes" => &mut self.max_bytes,
            "cache_none" => &mut self.cache_none,
            "cache_err" => &mut self.cache_err,
            "err_ttl" => &mut self.err_ttl,
            "tier" => &mut self.tier,
            "lock" => &mut self.lock,
            "max_concurrent" => &mut self.max_concurrent,
            "unless" => &mut self.unless,
            "only_if_slower" => &mut self.only_if_slower,
            "ttl_from" => &mut self.ttl_from,
            "hard_timeout" => &mut self.hard_timeout,
            "soft_timeout" => &mut self.soft_timeout,
            "fail_throttle" => &mut self.fail_throttle,
            "local_ttl" => &mut self.local_ttl,
            "tti" => &mut self.tti,
            "capacity" => &mut self.capacity,
            "entry" => &mut self.entry,
            "span" => &mut self.span,
            "disk" => &mut self.disk,
            _ => return None,
        })
    }
}

/// Options of `#[performance_timer]`.
#[derive(Default)]
pub(crate) struct TimerOptions {
    pub(crate) slow: Vec<Opt>,
    pub(crate) span: Vec<Opt>,
}

impl Options for TimerOptions {
    const NAMES: &'static [&'static str] = TIMER_OPTIONS;

    fn slot(&mut self, name: &str) -> Option<&mut Vec<Opt>> {
        match name {
            "slow" => Some(&mut self.slow),
            "span" => Some(&mut self.span),
            _ => None,
        }
    }
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

impl<O: Options> Parse for Args<O> {
    fn parse(input: ParseStream<'_>) -> syn::Result<Self> {
        let (name, rest) = parse_args(input)?;
        let mut args: Args<O> = Args {
            first_option: match (&name, rest.first()) {
                (None, Some(Arg::Option(opt))) => Some(opt.key.clone()),
                _ => None,
            },
            name,
            ..Args::default()
        };
        for arg in rest {
            match arg {
                Arg::Positional(expr) => args.stray.push(expr),
                Arg::Option(opt) => match args.options.slot(&opt.key.to_string()) {
                    Some(slot) => slot.push(opt),
                    None => args.unknown.push(opt),
                },
            }
        }
        Ok(args)
    }
}

/// A value read from an option, with the expression it was read from: where an error
/// about the value belongs.
#[derive(Clone, Copy)]
pub(crate) struct Parsed<'a, T> {
    /// What the expression means.
    pub(crate) value: T,
    /// The expression as written (looked through `macro_rules!` groups).
    pub(crate) expr: &'a Expr,
}

/// Whether a duration option also accepts whole seconds as an integer.
#[derive(Clone, Copy, PartialEq)]
pub(crate) enum Seconds {
    Allowed,
    Refused,
}

/// An error on the tokens the user wrote.
fn error(tokens: impl ToTokens, message: impl Display) -> syn::Error {
    syn::Error::new_spanned(tokens, message)
}

impl Opt {
    /// The value of `option = value`; `option(..)` is an error that shows `example`.
    pub(crate) fn eq_value(&self, example: &str) -> syn::Result<&Expr> {
        match &self.value {
            OptValue::Eq(expr) => Ok(ungroup(expr)),
            OptValue::List(_) => Err(error(
                &self.key,
                format!("`{}` takes a value: write `{example}`", self.key),
            )),
        }
    }

    /// The expressions of `option(a, b)`; `option = value` is an error saying `message`.
    pub(crate) fn list(&self, message: &str) -> syn::Result<&Punctuated<Expr, Token![,]>> {
        match &self.value {
            OptValue::List(list) => Ok(list),
            OptValue::Eq(_) => Err(error(&self.key, message)),
        }
    }

    /// A duration in milliseconds: `"250ms"`, `"90s"`, `"5m"`, `"1h"`, `"1d"`, or (when
    /// allowed) an integer number of seconds. Zero reads as 0.
    pub(crate) fn duration(&self, seconds: Seconds) -> syn::Result<Parsed<'_, u64>> {
        let key = &self.key;
        let forms = match seconds {
            Seconds::Allowed => {
                format!("whole seconds (`{key} = 300`) or a duration string (`{key} = \"5m\"`)")
            }
            Seconds::Refused => format!("a duration string such as `{key} = \"250ms\"`"),
        };
        let expr = self.eq_value(&format!("{key} = \"5m\""))?;
        let value = match expr {
            Expr::Lit(ExprLit {
                lit: Lit::Str(lit), ..
            }) => parse_duration(&lit.value())
                .map_err(|problem| error(lit, format!("invalid `{key}`: {problem}")))?,
            Expr::Lit(ExprLit {
                lit: Lit::Int(lit), ..
            }) if seconds == Seconds::Allowed => {
                if !lit.suffix().is_empty() {
                    return Err(error(
                        lit,
                        format!(
                            "write the duration as a string, `{key} = \"{}{}\"`, or as whole seconds",
                            lit.base10_digits(),
                            lit.suffix()
                        ),
                    ));
                }
                lit.base10_parse::<u64>()
                    .ok()
                    .and_then(|s| s.checked_mul(1000))
                    .ok_or_else(|| error(lit, format!("`{key}` is too large")))?
            }
            Expr::Unary(ExprUnary {
                op: UnOp::Neg(_), ..
            }) => {
                return Err(error(
                    expr,
                    format!("`{key}` cannot be negative; write {forms}"),
                ));
            }
            other => return Err(error(other, format!("`{key}` takes {forms}"))),
        };
        Ok(Parsed { value, expr })
    }

    /// A whole number that fits `T`: `form` is the error for a value that is no integer
    /// literal, `range` for one that does not fit.
    pub(crate) fn integer<T: FromStr>(
        &self,
        example: &str,
        form: &str,
        range: &str,
    ) -> syn::Result<Parsed<'_, T>>
    where
        T::Err: Display,
    {
        match self.eq_value(example)? {
            expr @ Expr::Lit(ExprLit {
                lit: Lit::Int(lit), ..
            }) => match lit.base10_parse::<T>() {
                Ok(value) => Ok(Parsed { value, expr }),
                Err(_) => Err(error(lit, range)),
            },
            other => Err(error(other, form)),
        }
    }

    /// A size in bytes: a whole number of bytes, or a string with a unit (`"512KiB"`,
    /// `"16MiB"`, `"1GiB"`, `"100kB"`, `"10MB"`). Zero reads as 0.
    pub(crate) fn bytes(&self) -> syn::Result<Parsed<'_, u64>> {
        let key = &self.key;
        let forms = format!("a size such as `{key} = \"16MiB\"` or whole bytes (`{key} = 65536`)");
        let expr = self.eq_value(&format!("{key} = \"16MiB\""))?;
        let value = match expr {
            Expr::Lit(ExprLit {
                lit: Lit::Str(lit), ..
            }) => parse_bytes(&lit.value())
                .map_err(|problem| error(lit, format!("invalid `{key}`: {problem}")))?,
            Expr::Lit(ExprLit {
                lit: Lit::Int(lit), ..
            }) => lit.base10_parse::<u64>().map_err(|_| {
                error(
                    lit,
                    format!("`{key}` must be a whole number of bytes that fits in u64"),
                )
            })?,
            other => return Err(error(other, format!("`{key}` takes {forms}"))),
        };
        Ok(Parsed { value, expr })
    }

    /// A decimal number: a float literal, or any negated expression, which reads as
    /// negative infinity (below every range, whatever it negates). `form` is the error for
    /// anything else.
    pub(crate) fn decimal(&self, example: &str, form: &str) -> syn::Result<Parsed<'_, f64>> {
        let expr = self.eq_value(example)?;
        let value = match expr {
            Expr::Lit(ExprLit {
                lit: Lit::Float(lit),
                ..
            }) => lit.base10_parse::<f64>().unwrap_or(f64::NAN),
            Expr::Unary(ExprUnary {
                op: UnOp::Neg(_), ..
            }) => f64::NEG_INFINITY,
            other => return Err(error(other, form)),
        };
        Ok(Parsed { value, expr })
    }

    /// `option = true | false`.
    pub(crate) fn flag(&self) -> syn::Result<bool> {
        let key = &self.key;
        match self.eq_value(&format!("{key} = true"))? {
            Expr::Lit(ExprLit {
                lit: Lit::Bool(lit),
                ..
            }) => Ok(lit.value),
            other => Err(error(other, format!("`{key}` takes `true` or `false`"))),
        }
    }

    /// `tier = "both" | "local" | "remote"`, as its number in [`TIERS`].
    pub(crate) fn tier(&self) -> syn::Result<Parsed<'_, u8>> {
        let list = code_list(TIERS.iter().map(|t| format!("\"{t}\"")));
        match self.eq_value("tier = \"local\"")? {
            expr @ Expr::Lit(ExprLit {
                lit: Lit::Str(lit), ..
            }) => {
                let value = lit.value();
                TIERS
                    .iter()
                    .position(|t| *t == value)
                    .and_then(|i| u8::try_from(i).ok())
                    .map(|value| Parsed { value, expr })
                    .ok_or_else(|| {
                        error(
                            lit,
                            format!("unknown tier \"{value}\"; valid tiers are {list}"),
                        )
                    })
            }
            other => Err(error(
                other,
                format!("`tier` takes a string literal, one of {list}"),
            )),
        }
    }

    /// `option = [expr, ...]`, possibly empty; `form` is the error for anything else.
    pub(crate) fn array(&self, example: &str, form: &str) -> syn::Result<&syn::ExprArray> {
        match self.eq_value(example)? {
            Expr::Array(array) => Ok(array),
            other => Err(error(other, form)),
        }
    }

    /// `option = |v| ..`: a closure of one parameter, the value (a path to a function is
    /// accepted too).
    pub(crate) fn closure(&self, example: &str) -> syn::Result<&Expr> {
        let key = &self.key;
        match self.eq_value(example)? {
            Expr::Closure(c) if c.inputs.len() != 1 => Err(error(
                &c.inputs,
                format!("`{key}` takes a closure of one parameter, the value: `{example}`"),
            )),
            expr @ (Expr::Closure(_) | Expr::Path(_)) => Ok(expr),
            other => Err(error(
                other,
                format!("`{key}` takes a closure over the value, e.g. `{example}`"),
            )),
        }
    }
}

/// A string literal; `message` is the error for anything else.
pub(crate) fn string(expr: &Expr, message: impl Display) -> syn::Result<&LitStr> {
    match ungroup(expr) {
        Expr::Lit(ExprLit {
            lit: Lit::Str(lit), ..
        }) => Ok(lit),
        other => Err(error(other, message)),
    }
}

/// Parses `"<whole number><unit>"`, unit one of ms, s, m, h, d, into milliseconds.
/// A size string: a whole number and a unit, binary (`KiB`, `MiB`, `GiB`) or decimal (`B`,
/// `kB`, `MB`, `GB`).
pub(crate) fn parse_bytes(text: &str) -> Result<u64, String> {
    const FORMS: &str = "write a whole number and a unit: \"65536B\", \"512KiB\", \"16MiB\", \"1GiB\", \"100kB\", \"10MB\" or \"1GB\"";
    let digits = text.len() - text.trim_start_matches(|c: char| c.is_ascii_digit()).len();
    let (number, unit) = text.split_at(digits);
    if number.is_empty() {
        return Err(format!("cannot read \"{text}\" as a size; {FORMS}"));
    }
    let per_unit: u64 = match unit.trim_start() {
        "B" => 1,
        "KiB" => 1 << 10,
        "MiB" => 1 << 20,
        "GiB" => 1 << 30,
        "kB" | "KB" => 1_000,
        "MB" => 1_000_000,
        "GB" => 1_000_000_000,
        "" => return Err(format!("\"{text}\" has no unit; {FORMS}")),
        other => return Err(format!("unknown unit `{other}` in \"{text}\"; {FORMS}")),
    };
    number
        .parse::<u64>()
        .ok()
        .and_then(|n| n.checked_mul(per_unit))
        .ok_or_else(|| format!("\"{text}\" is too large"))
}

pub(crate) fn parse_duration(text: &str) -> Result<u64, String> {
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

/// Looks through the invisible groups that `macro_rules!` wraps around fragments.
pub(crate) fn ungroup(expr: &Expr) -> &Expr {
    match expr {
        Expr::Group(group) => ungroup(&group.expr),
        other => other,
    }
}

#[cfg(test)]
mod tests {
    use proc_macro2::TokenStream;
    use quote::quote;

    use super::{CacheArgs, Seconds, TimerArgs, parse_duration};

    fn cache_args(tokens: TokenStream) -> CacheArgs {
        syn::parse2(tokens).expect("the arguments parse")
    }

    #[test]
    fn options_are_sorted_by_name_with_every_occurrence() {
        let args = cache_args(quote!("users", ttl = 5, ttl = "5m", colour = "red", stray));
        assert!(args.name.is_some());
        assert_eq!(args.options.ttl.len(), 2, "a repeat is kept for validation");
        assert_eq!(args.unknown.len(), 1);
        assert_eq!(args.stray.len(), 1);
        let args: TimerArgs =
            syn::parse2(quote!(slow = "1s", fast = "1s")).expect("the arguments parse");
        assert!(args.name.is_none());
        assert_eq!(
            args.first_option.map(|key| key.to_string()).as_deref(),
            Some("slow")
        );
        assert_eq!((args.options.slow.len(), args.unknown.len()), (1, 1));
    }

    #[test]
    fn values_read_as_what_they_mean() {
        let args = cache_args(quote!(
            "users",
            ttl = 5,
            stale_if_error = "10m",
            version = 3,
            max_bytes = 0,
            tier = "remote",
            lock = true,
            refresh_ahead = 0.5
        ));
        let o = &args.options;
        let ms = |seconds| o.ttl[0].duration(seconds).map(|p| p.value).ok();
        assert_eq!(ms(Seconds::Allowed), Some(5_000));
        assert_eq!(
            ms(Seconds::Refused),
            None,
            "whole seconds only where allowed"
        );
        let stale = o.stale_if_error[0].duration(Seconds::Refused);
        assert_eq!(stale.map(|p| p.value).ok(), Some(600_000));
        let version = o.version[0].integer::<u32>("", "", "").map(|p| p.value);
        assert_eq!(version.ok(), Some(3));
        let max_bytes = o.max_bytes[0].integer::<u64>("", "", "").map(|p| p.value);
        assert_eq!(max_bytes.ok(), Some(0), "zero is left to validation");
        assert_eq!(o.tier[0].tier().map(|p| p.value).ok(), Some(2));
        assert_eq!(o.lock[0].flag().ok(), Some(true));
        let fraction = o.refresh_ahead[0].decimal("", "").map(|p| p.value);
        assert_eq!(fraction.ok(), Some(0.5));
    }

    #[test]
    fn unreadable_values_are_errors() {
        let args = cache_args(quote!(
            "users",
            ttl = "soon",
            version = -1,
            tier = "disk",
            lock = 1,
            stale_if_error(5),
            max_concurrent = 4294967296
        ));
        let o = &args.options;
        let message = |result: syn::Result<()>| result.err().map(|e| e.to_string());
        let ttl = message(o.ttl[0].duration(Seconds::Allowed).map(drop));
        assert!(ttl.is_some_and(|m| m.starts_with("invalid `ttl`: cannot read \"soon\"")));
        let version = message(o.version[0].integer::<u32>("", "form", "range").map(drop));
        assert_eq!(version.as_deref(), Some("form"));
        let bound = o.max_concurrent[0].integer::<u32>("", "form", "range");
        assert_eq!(message(bound.map(drop)).as_deref(), Some("range"));
        let tier = message(o.tier[0].tier().map(drop));
        assert!(tier.is_some_and(|m| m.starts_with("unknown tier \"disk\"")));
        let lock = message(o.lock[0].flag().map(drop));
        assert_eq!(lock.as_deref(), Some("`lock` takes `true` or `false`"));
        let stale = message(o.stale_if_error[0].duration(Seconds::Allowed).map(drop));
        assert_eq!(
            stale.as_deref(),
            Some("`stale_if_error` takes a value: write `stale_if_error = \"5m\"`")
        );
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
            "zero is rejected by validation"
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
#[path = "attr_fuzz.rs"]
mod fuzz;
