//! Stage 2, model: what the annotated function looks like, and what each attribute
//! expands from.
//!
//! [`Function`] borrows the parsed item and records what the later stages ask about:
//! whether it is async, its receiver, the identifiers each parameter's pattern binds
//! (axum's `Path(id): Path<u64>` binds `id`), its generic parameters and its return type.
//! Every piece is a reference into the item, so errors can point at it. [`KeyInput`]s are
//! the default key it gives; [`CacheSpec`] and [`TimerSpec`] are the attributes' options,
//! read and checked, as expansion takes them.

use proc_macro2::{Span, TokenTree};
use quote::ToTokens;
use syn::visit::Visit;
use syn::{
    AttrStyle, Attribute, ConstParam, Expr, FnArg, GenericArgument, GenericParam, Ident, ItemFn,
    LitStr, Pat, PatIdent, PathArguments, Receiver, ReturnType, Type, TypeImplTrait, TypeReference,
};

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
    /// The `cache_none` token when `cache_none = true` or `cache_none = "30s"`.
    pub(crate) cache_none: Option<&'a Ident>,
    /// `cache_none = "30s"`: the TTL of a cached `None` in milliseconds; 0 = `ttl`.
    pub(crate) none_ttl_ms: u64,
    /// `cache_err = choose`: a function (or closure) over `&E` that picks the errors to
    /// cache.
    pub(crate) cache_err: Option<&'a Expr>,
    /// `err_ttl = "5s"`: the TTL of a cached error in milliseconds (given with
    /// `cache_err`, else 0).
    pub(crate) err_ttl_ms: u64,
    /// `fail_throttle = "5s"`: how long the fail-safe copy answers after a failed
    /// recomputation without calling the body; 0 = off.
    pub(crate) fail_throttle_ms: u64,
    /// `local_ttl = "10s"`: how long the in-process copy lives (the Redis copy lives
    /// `ttl`); 0 = `ttl`.
    pub(crate) local_ttl_ms: u64,
    /// `tti = "5m"`: an entry not read for that long expires; 0 = off.
    pub(crate) tti_ms: u64,
    /// `capacity = "16MiB"`: the cache's own in-process byte budget; 0 = the runtime's.
    pub(crate) capacity_bytes: u64,
    /// `tier = "both" | "local" | "remote"`: 0, 1 or 2 (expanded as the runtime's
    /// `Tier::Both`, `Local` or `Remote`).
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
    /// `span = false` opens no `tracing` span for the call and its computation.
    pub(crate) span: bool,
    /// `disk = false` keeps the cache off the disk tier (default: on when the runtime
    /// has one).
    pub(crate) disk: bool,
}

/// What `#[performance_timer]` expands from.
pub(crate) struct TimerSpec<'a> {
    /// `None` names the timer after the function's path.
    pub(crate) name: Option<&'a LitStr>,
    /// Calls slower than this are logged; 0 is never.
    pub(crate) slow_ms: u64,
    /// `span = false` opens no `tracing` span around the call.
    pub(crate) span: bool,
}

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

/// The annotated function.
pub(crate) struct Function<'a> {
    /// The whole item, for its visibility, signature and body.
    pub(crate) item: &'a ItemFn,
    /// `#[...]` attributes, kept on the generated function.
    pub(crate) outer_attrs: Vec<&'a Attribute>,
    /// `#![...]` attributes, kept at the top of the generated body.
    pub(crate) inner_attrs: Vec<&'a Attribute>,
    /// `self`, `&self`, `&mut self` or `self: Type`.
    pub(crate) receiver: Option<&'a Receiver>,
    /// The typed parameters, in order.
    pub(crate) params: Vec<Param<'a>>,
    /// Generic type parameters: each one is part of the cache key through its type name.
    pub(crate) type_params: Vec<&'a Ident>,
    /// Const generic parameters (not supported by `#[cache_result]`).
    pub(crate) const_params: Vec<&'a ConstParam>,
    /// The declared return type; `None` for a function that returns `()`.
    pub(crate) output: Option<&'a Type>,
    /// The first `impl Trait` in the return type, which no generated code can name.
    pub(crate) output_impl_trait: Option<&'a TypeImplTrait>,
}

/// One typed parameter `pattern: Type`.
pub(crate) struct Param<'a> {
    /// The parameter's pattern.
    pub(crate) pat: &'a Pat,
    /// The parameter's type.
    pub(crate) ty: &'a Type,
    /// The identifiers the pattern binds, in order (`(a, _, b)` binds `a` and `b`).
    pub(crate) bindings: Vec<&'a PatIdent>,
    /// True for a plain `name: Type` parameter, whose type is the binding's type.
    pub(crate) simple: bool,
    /// `State` or `Extension` when the type's last path segment is one of those axum
    /// extractors; such parameters are never part of the key.
    pub(crate) extractor: Option<&'a Ident>,
    /// The reference type when the parameter's type is `&T` or `&mut T`.
    pub(crate) reference: Option<&'a TypeReference>,
    /// The first `impl Trait` in the parameter's type.
    pub(crate) impl_trait: Option<&'a TypeImplTrait>,
    /// True when the parameter's type names one of the function's type parameters.
    pub(crate) generic: bool,
}

impl<'a> Function<'a> {
    /// Reads the model out of a parsed function.
    pub(crate) fn from_item(item: &'a ItemFn) -> Self {
        let sig = &item.sig;
        let (outer_attrs, inner_attrs) = item
            .attrs
            .iter()
            .partition(|attr| matches!(attr.style, AttrStyle::Outer));
        let mut type_params = Vec::new();
        let mut const_params = Vec::new();
        for param in &sig.generics.params {
            match param {
                GenericParam::Type(ty) => type_params.push(&ty.ident),
                GenericParam::Const(c) => const_params.push(c),
                GenericParam::Lifetime(_) => {}
            }
        }
        let mut receiver = None;
        let mut params = Vec::new();
        for input in &sig.inputs {
            match input {
                FnArg::Receiver(recv) => receiver = Some(recv),
                FnArg::Typed(typed) => params.push(Param::new(&typed.pat, &typed.ty, &type_params)),
            }
        }
        let output = match &sig.output {
            ReturnType::Default => None,
            ReturnType::Type(_, ty) => Some(&**ty),
        };
        Function {
            item,
            outer_attrs,
            inner_attrs,
            receiver,
            params,
            type_params,
            const_params,
            output,
            output_impl_trait: output.and_then(first_impl_trait),
        }
    }

    /// The function's name.
    pub(crate) fn ident(&self) -> &'a Ident {
        &self.item.sig.ident
    }

    /// The default key: every identifier the parameters bind, in order, except those of
    /// `State<_>` and `Extension<_>` parameters and the `skipped` ones.
    pub(crate) fn key_inputs(&self, skipped: &[&Ident]) -> Vec<KeyInput<'a>> {
        self.params
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
            .collect()
    }

    /// True for `async fn`.
    pub(crate) fn is_async(&self) -> bool {
        self.item.sig.asyncness.is_some()
    }

    /// The part of the return type that is cached, as far as its syntax shows: `T` of
    /// `Result<T, E>`, `Option<T>`, `Json<T>` and `Result<Json<T>, E>`, else the whole
    /// type. An alias such as `ApiResult<T>` hides its shape, so it is returned whole;
    /// which part is cached is decided by the compiler from the type, this only says
    /// where an error about it belongs. `None` for a function that returns `()`.
    pub(crate) fn cached_type(&self) -> Option<&'a Type> {
        let output = self.output?;
        Some(match type_argument(output, &["Result"]) {
            Some(ok) => type_argument(ok, &["Json"]).unwrap_or(ok),
            None => type_argument(output, &["Option", "Json"]).unwrap_or(output),
        })
    }
}

/// How the cached part sits in the return type, as far as its syntax shows; see
/// [`Function::cached_type`].
pub(crate) enum Shape {
    /// Cached whole (also an alias that hides its shape).
    Whole,
    /// `Result<T, E>`.
    Result,
    /// `Option<T>`.
    Option,
    /// `Json<T>`, with the path of `Json` as written.
    Json(syn::Path),
    /// `Result<Json<T>, E>`, with the path of `Json` as written.
    ResultJson(syn::Path),
}

impl<'a> Function<'a> {
    /// The shape of the return type; see [`Shape`].
    pub(crate) fn shape(&self) -> Shape {
        let Some(output) = self.output else {
            return Shape::Whole;
        };
        match type_argument(output, &["Result"]) {
            Some(ok) => match json_path(ok) {
                Some(path) => Shape::ResultJson(path),
                None => Shape::Result,
            },
            None if type_argument(output, &["Option"]).is_some() => Shape::Option,
            None => match json_path(output) {
                Some(path) => Shape::Json(path),
                None => Shape::Whole,
            },
        }
    }
}

/// The path of `Json` without its type argument, when `ty` is `Json<T>`.
fn json_path(ty: &Type) -> Option<syn::Path> {
    type_argument(ty, &["Json"])?;
    let ty = match ty {
        Type::Group(group) => return json_path(&group.elem),
        Type::Paren(paren) => return json_path(&paren.elem),
        Type::Path(path) => path,
        _ => return None,
    };
    let mut path = ty.path.clone();
    if let Some(last) = path.segments.last_mut() {
        last.arguments = PathArguments::None;
    }
    Some(path)
}

/// The spans of the first and the last token of `tokens`. An expression that starts with
/// a token at the first and ends with one at the last is reported by the compiler over
/// all of `tokens`, which matters because a proc macro on stable Rust cannot join spans.
pub(crate) fn span_range(tokens: &dyn ToTokens) -> (Span, Span) {
    let mut trees = tokens.to_token_stream().into_iter();
    let Some(first) = trees.next() else {
        return (Span::call_site(), Span::call_site());
    };
    let start = match &first {
        TokenTree::Group(group) => group.span_open(),
        other => other.span(),
    };
    let end = match trees.last().as_ref().unwrap_or(&first) {
        TokenTree::Group(group) => group.span_close(),
        other => other.span(),
    };
    (start, end)
}

/// The first type argument of `ty` when its last path segment is one of `names`:
/// `User` for `Option<User>` and `std::option::Option<User>`.
fn type_argument<'a>(ty: &'a Type, names: &[&str]) -> Option<&'a Type> {
    let ty = match ty {
        Type::Group(group) => return type_argument(&group.elem, names),
        Type::Paren(paren) => return type_argument(&paren.elem, names),
        Type::Path(path) if path.qself.is_none() => path,
        _ => return None,
    };
    let last = ty.path.segments.last()?;
    if !names.iter().any(|name| last.ident == name) {
        return None;
    }
    let PathArguments::AngleBracketed(args) = &last.arguments else {
        return None;
    };
    args.args.iter().find_map(|arg| match arg {
        GenericArgument::Type(ty) => Some(ty),
        _ => None,
    })
}

impl<'a> Param<'a> {
    fn new(pat: &'a Pat, ty: &'a Type, type_params: &[&Ident]) -> Self {
        let mut bindings = Vec::new();
        collect_bindings(pat, &mut bindings);
        Param {
            pat,
            ty,
            simple: matches!(pat, Pat::Ident(p) if p.subpat.is_none()),
            bindings,
            extractor: extractor(ty),
            reference: match ty {
                Type::Reference(r) => Some(r),
                _ => None,
            },
            impl_trait: first_impl_trait(ty),
            generic: names_any(ty, type_params),
        }
    }
}

/// Pushes every identifier that `pat` binds, left to right.
fn collect_bindings<'a>(pat: &'a Pat, out: &mut Vec<&'a PatIdent>) {
    match pat {
        Pat::Ident(p) => {
            out.push(p);
            if let Some((_, sub)) = &p.subpat {
                collect_bindings(sub, out);
            }
        }
        Pat::Tuple(p) => p.elems.iter().for_each(|e| collect_bindings(e, out)),
        Pat::TupleStruct(p) => p.elems.iter().for_each(|e| collect_bindings(e, out)),
        Pat::Struct(p) => p.fields.iter().for_each(|f| collect_bindings(&f.pat, out)),
        Pat::Slice(p) => p.elems.iter().for_each(|e| collect_bindings(e, out)),
        Pat::Reference(p) => collect_bindings(&p.pat, out),
        Pat::Paren(p) => collect_bindings(&p.pat, out),
        Pat::Type(p) => collect_bindings(&p.pat, out),
        // Every alternative binds the same names; the first one lists them.
        Pat::Or(p) => {
            if let Some(first) = p.cases.first() {
                collect_bindings(first, out);
            }
        }
        // `_`, `..`, literals, ranges, paths and macros bind nothing we can see.
        _ => {}
    }
}

/// `State` or `Extension` when that is the last path segment of `ty`.
fn extractor(ty: &Type) -> Option<&Ident> {
    let Type::Path(path) = ty else { return None };
    let last = &path.path.segments.last()?.ident;
    (last == "State" || last == "Extension").then_some(last)
}

/// True when `ty` names one of `idents` as a type anywhere inside it.
fn names_any(ty: &Type, idents: &[&Ident]) -> bool {
    struct Find<'i> {
        idents: &'i [&'i Ident],
        found: bool,
    }
    impl<'a> Visit<'a> for Find<'_> {
        fn visit_type_path(&mut self, node: &'a syn::TypePath) {
            if node.qself.is_none()
                && let Some(first) = node.path.segments.first()
                && self.idents.contains(&&first.ident)
            {
                self.found = true;
            }
            syn::visit::visit_type_path(self, node);
        }
    }
    if idents.is_empty() {
        return false;
    }
    let mut find = Find {
        idents,
        found: false,
    };
    find.visit_type(ty);
    find.found
}

/// The first `impl Trait` anywhere inside `ty`.
fn first_impl_trait(ty: &Type) -> Option<&TypeImplTrait> {
    struct Find<'a>(Option<&'a TypeImplTrait>);
    impl<'a> Visit<'a> for Find<'a> {
        fn visit_type_impl_trait(&mut self, node: &'a TypeImplTrait) {
            self.0.get_or_insert(node);
        }
    }
    let mut find = Find(None);
    find.visit_type(ty);
    find.0
}
