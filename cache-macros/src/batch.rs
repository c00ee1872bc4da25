//! `#[cache_batch]`: the stages of `#[cache_result]` for a function over many ids, one
//! cache entry per record. Parse with [`CacheArgs`] (the same options, read the same way),
//! take out what a batch reads differently (`tags` is a closure over the id and the
//! value, `missing_ttl` is its own) and what does not apply (one error on each such
//! option), check the rest with [`valid::cache`], and model the id collection and the
//! map returned; [`expand::batch`] writes the code.

use proc_macro2::TokenStream;
use syn::{Expr, GenericArgument, Ident, PathArguments, Type};

use crate::ast::{CacheSpec, Function, Param};
use crate::attr::{CacheArgs, Opt, Seconds};
use crate::errors::{Errors, fallback, parse_fn, repeated};
use crate::{expand, valid};

/// Options of `#[cache_result]` that a batch cannot honour, with what to do instead.
const NOT_FOR_BATCH: &[(&str, &str)] = &[
    (
        "key",
        "a record's key is the other arguments and the id; leave arguments out with `skip(..)`",
    ),
    (
        "cache_none",
        "a batch returns the ids that exist; remember the others with `missing_ttl = \"30s\"`",
    ),
    ("cache_err", "an `Err` of a batch is never stored"),
    ("err_ttl", "an `Err` of a batch is never stored"),
    (
        "max_concurrent",
        "a batch's body runs outside the cache's bulkhead; bound it inside the body",
    ),
    (
        "unless",
        "a batch stores every record returned; filter them in the body",
    ),
    ("only_if_slower", "a batch stores every record returned"),
    (
        "ttl_from",
        "records share the cache's `ttl` (and `missing_ttl` for ids not returned)",
    ),
    (
        "hard_timeout",
        "a batch waits for its body; put a timeout inside the body",
    ),
    (
        "soft_timeout",
        "a batch waits for its body; put a timeout inside the body",
    ),
    (
        "fail_throttle",
        "a batch calls its body for the missing ids every time",
    ),
    (
        "lock",
        "batches take no Redis lock per record yet; within one instance, concurrent \
         batches already compute each record once",
    ),
    (
        "local_ttl",
        "records live `ttl` in every tier; use `tier = \"local\"` or `\"remote\"` to keep them in one",
    ),
];

/// What `#[cache_batch]` expands from, once every rule holds.
pub(crate) struct BatchSpec<'a> {
    /// The options shared with `#[cache_result]`; `inputs` without the ids, and the TTL
    /// of a record remembered as missing in `none_ttl_ms`.
    pub(crate) cache: CacheSpec<'a>,
    /// The collection parameter.
    pub(crate) ids: &'a Param<'a>,
    /// The id type `K` (the map's key).
    pub(crate) id: &'a Type,
    /// The record type `V` (the map's value).
    pub(crate) value: &'a Type,
    /// `tags = |id, value| [..]`.
    pub(crate) tags: Option<&'a Expr>,
    /// `missing_ttl = "30s"`: ids the body does not return are remembered that long.
    pub(crate) missing: bool,
}

impl BatchSpec<'_> {
    /// Where an error about the id type belongs.
    pub(crate) fn id_span(&self) -> proc_macro2::Span {
        syn::spanned::Spanned::span(self.id)
    }
}

/// Entry point of `#[cache_batch]`.
pub(crate) fn cache_batch(args: TokenStream, input: TokenStream) -> TokenStream {
    try_cache_batch(args, &input).unwrap_or_else(|error| fallback(input, &error))
}

fn try_cache_batch(args: TokenStream, input: &TokenStream) -> syn::Result<TokenStream> {
    let item = parse_fn(
        input,
        "cache_batch",
        "async fn users(ids: Vec<u64>) -> HashMap<u64, User> { .. }",
    )?;
    let mut args: CacheArgs = syn::parse2(args)?;
    let func = Function::from_item(&item);
    let mut errors = Errors::default();
    let tags = std::mem::take(&mut args.options.tags);
    let missing: Vec<Opt> = {
        let (missing, unknown) = std::mem::take(&mut args.unknown)
            .into_iter()
            .partition(|opt| opt.key == "missing_ttl");
        args.unknown = unknown;
        missing
    };
    reject(&mut args, &mut errors);
    if func.receiver.is_some() {
        for opt in &args.options.refresh_ahead {
            errors.add(
                &opt.key,
                "`refresh_ahead` does not apply to a `#[cache_batch]` method yet: the \
                 background refresh would need a clone of `self`; use a free function",
            );
        }
    }
    let tags = closure(&tags, &mut errors);
    let missing_ms = match missing.as_slice() {
        [] => 0,
        [first, rest @ ..] => {
            rest.iter()
                .for_each(|o| repeated(&o.key, "missing_ttl", &mut errors));
            duration(first, &mut errors)
        }
    };
    let ids = collection(&func, &mut errors);
    let map = map_types(&func, &mut errors);
    // The ids may be borrowed even with `refresh_ahead`: the refresh owns the ids it
    // computes (the other arguments must still be owned).
    let mut checked = Function::from_item(&item);
    if !args.options.refresh_ahead.is_empty() {
        for param in &mut checked.params {
            if is_collection(param.ty) {
                param.reference = None;
            }
        }
    }
    let cache = errors.ok(valid::cache(&args, &checked));
    let spec = match (cache, ids, map) {
        (Some(mut cache), Some(ids), Some((id, value))) if errors.is_empty() => {
            let bound: Vec<&Ident> = ids.bindings.iter().map(|b| &b.ident).collect();
            cache.inputs.retain(|input| !bound.contains(&input.ident));
            cache.none_ttl_ms = missing_ms;
            Some(BatchSpec {
                cache,
                ids,
                id,
                value,
                tags,
                missing: missing_ms > 0,
            })
        }
        _ => None,
    };
    let spec = errors.finish(spec)?;
    let mut out = expand::batch(&spec, &func);
    if spec.cache.entry {
        out.extend(expand::batch_entry(&spec, &func));
    }
    Ok(out)
}

/// Takes every option that does not apply out of `args`, with an error on each.
fn reject(args: &mut CacheArgs, errors: &mut Errors) {
    let o = &mut args.options;
    let slots: [(&str, &mut Vec<Opt>); 13] = [
        ("key", &mut o.key),
        ("cache_none", &mut o.cache_none),
        ("cache_err", &mut o.cache_err),
        ("err_ttl", &mut o.err_ttl),
        ("max_concurrent", &mut o.max_concurrent),
        ("unless", &mut o.unless),
        ("only_if_slower", &mut o.only_if_slower),
        ("ttl_from", &mut o.ttl_from),
        ("hard_timeout", &mut o.hard_timeout),
        ("soft_timeout", &mut o.soft_timeout),
        ("fail_throttle", &mut o.fail_throttle),
        ("lock", &mut o.lock),
        ("local_ttl", &mut o.local_ttl),
    ];
    for (name, slot) in slots {
        let why = NOT_FOR_BATCH
            .iter()
            .find(|(n, _)| *n == name)
            .map_or("", |(_, why)| why);
        for opt in std::mem::take(slot) {
            errors.add(
                &opt.key,
                format!("`{name}` does not apply to `#[cache_batch]`: {why}"),
            );
        }
    }
}

/// `tags = |id, value| [..]`: a closure of two parameters.
fn closure<'a>(opts: &'a [Opt], errors: &mut Errors) -> Option<&'a Expr> {
    let (first, rest) = opts.split_first()?;
    rest.iter().for_each(|o| repeated(&o.key, "tags", errors));
    let example = "tags = |id, value| [format!(\"user:{id}\")]";
    match errors.ok(first.eq_value(example)) {
        Some(expr @ Expr::Closure(c)) if c.inputs.len() == 2 => Some(expr),
        Some(other) => {
            errors.add(
                other,
                format!("`tags` of a batch is a closure over a record's id and value: `{example}`"),
            );
            None
        }
        None => None,
    }
}

/// `missing_ttl = "30s"`, not zero.
fn duration(opt: &Opt, errors: &mut Errors) -> u64 {
    match errors.ok(opt.duration(Seconds::Allowed)) {
        Some(p) if p.value == 0 => {
            errors.add(
                p.expr,
                "`missing_ttl` must be longer than zero; remove it to not remember missing ids",
            );
            0
        }
        Some(p) => p.value,
        None => 0,
    }
}

/// The one parameter that holds the ids: `Vec<K>`, `&[K]`, `&Vec<K>`, a `HashSet<K>` or
/// a `BTreeSet<K>` (or a reference to one), bound to a plain name.
fn collection<'a>(func: &'a Function<'a>, errors: &mut Errors) -> Option<&'a Param<'a>> {
    let found: Vec<&Param<'_>> = func.params.iter().filter(|p| is_collection(p.ty)).collect();
    match found.as_slice() {
        [] => {
            errors.add(
                &func.item.sig.ident,
                "`#[cache_batch]` needs one parameter that holds the ids: `ids: Vec<K>`, \
                 `ids: &[K]`, `ids: HashSet<K>` or `ids: BTreeSet<K>`",
            );
            None
        }
        [one] if !one.simple => {
            errors.add(
                one.pat,
                "bind the ids to a plain name, e.g. `ids: Vec<u64>`",
            );
            None
        }
        [one] => Some(one),
        [_, more @ ..] => {
            for p in more {
                errors.add(
                    p.ty,
                    "`#[cache_batch]` takes one collection of ids; the other parameters are part \
                     of every record's key (wrap this one in a type of its own)",
                );
            }
            None
        }
    }
}

fn is_collection(ty: &Type) -> bool {
    match ty {
        Type::Reference(r) => matches!(&*r.elem, Type::Slice(_)) || is_collection(&r.elem),
        Type::Group(g) => is_collection(&g.elem),
        Type::Path(p) => p
            .path
            .segments
            .last()
            .is_some_and(|s| ["Vec", "HashSet", "BTreeSet"].iter().any(|n| s.ident == n)),
        _ => false,
    }
}

/// `K` and `V` of the `HashMap<K, V>` or `BTreeMap<K, V>` returned, bare or in a
/// `Result`.
fn map_types<'a>(func: &Function<'a>, errors: &mut Errors) -> Option<(&'a Type, &'a Type)> {
    let message = "`#[cache_batch]` returns the records found: `HashMap<K, V>` or \
                   `Result<HashMap<K, V>, E>` (or a `BTreeMap`), with `K` the id type";
    let Some(output) = func.output else {
        errors.add(&func.item.sig, message);
        return None;
    };
    let map = match args_of(output, &["Result"]) {
        Some(args) => args.first().copied()?,
        None => output,
    };
    match args_of(map, &["HashMap", "BTreeMap"]).as_deref() {
        Some([k, v, ..]) => Some((k, v)),
        _ => {
            errors.add(output, message);
            None
        }
    }
}

/// The type arguments of `ty` when its last path segment is one of `names`.
fn args_of<'a>(ty: &'a Type, names: &[&str]) -> Option<Vec<&'a Type>> {
    let Type::Path(path) = ty else {
        return match ty {
            Type::Group(g) => args_of(&g.elem, names),
            _ => None,
        };
    };
    let last = path.path.segments.last()?;
    if !names.iter().any(|n| last.ident == n) {
        return None;
    }
    let PathArguments::AngleBracketed(args) = &last.arguments else {
        return None;
    };
    Some(
        args.args
            .iter()
            .filter_map(|a| match a {
                GenericArgument::Type(t) => Some(t),
                _ => None,
            })
            .collect(),
    )
}
