//! Stage 4, expand: generate the wrapper around the function's body.
//!
//! The generated code holds no caching or timing logic. It builds a static description
//! of the call site, hands the runtime the key and a closure that runs the original
//! body, and returns what the runtime returns. It names the runtime only through
//! [`Private`], and its own locals use mixed-site spans so that they can never shadow or
//! be shadowed by the user's names.

use proc_macro2::{Delimiter, Group, Literal, Span, TokenStream, TokenTree};
use quote::{ToTokens, format_ident, quote, quote_spanned};
use syn::spanned::Spanned;
use syn::visit_mut::VisitMut;
use syn::{Block, ExprPath, Ident, Item, Macro, Pat, Signature, Type};

use crate::ast::{Function, span_range};
use crate::private::Private;
use crate::valid::{CacheSpec, TimerSpec};

// Input:
//     #[cache_result("users", ttl = "5m", tags = [format!("user:{id}")])]
//     async fn load(&self, Path(id): Path<u64>, State(db): State<Db>) -> R { body }
//
// Output:
//     async fn load(&self, Path(id): Path<u64>, State(db): State<Db>) -> R {
//         let __cache_pending = {
//             static __CACHE_SITE: __private::CacheSite = __private::CacheSite::new(__private::SiteSpec {
//                 name: "users", location: concat!(module_path!(), "::", "load"), ttl_ms: 300000,
//                 tier: 0, lock: false, ..
//             });
//             let __cache_key = { /* checks */ let mut k = __private::key_args();
//                 k.arg(/* &id, or &() if it cannot be encoded */); k.finish(&[type_name::<Self>()]) };
//             let __cache_adapter = { /* the adapter for R, checked: see `adapter` */ };
//             match __private::lookup(&__CACHE_SITE, __cache_key, __cache_adapter) {
//                 __private::Lookup::Hit(v) | __private::Lookup::Refresh(v, _) => return v,
//                 __private::Lookup::Miss(t) => t
//                     .with_tags(collect([__private::tag(format!("user:{id}"))]))
//                     .run_async(move || async move { body }),
//             }
//         };
//         __cache_pending.await
//     }
//
// The block ends the key, the lookup and the ticket before the await, so that the future
// holds only the boxed computation across it (336 bytes -> 80 for `async fn(u64, String)
// -> String`). A sync fn gets the `match` alone, with `.run_sync(move || -> R { body })`.
pub(crate) fn cache_plain(spec: &CacheSpec<'_>, func: &Function<'_>) -> TokenStream {
    let p = Private::new();
    let head = cache_head(spec, func);
    let compute = compute(func, &func.item.block);
    let (key, adapter, value, ticket) = (
        local("__cache_key"),
        at_value(func, "__cache_adapter"),
        local("__cache_value"),
        local("__cache_ticket"),
    );
    let lookup = Private::at(value_span(func));
    let tags = with_tags(spec);
    let overload = with_overload(func);
    let extra = with_rules(spec);
    let body = if func.is_async() {
        let run = method(func, "run_async");
        let pending = local("__cache_pending");
        // The lookup, its key and its ticket end with the block, before the await: only the
        // boxed computation is held across it, so the function's future stays small (a
        // hit moves it, into a task or a caller's future, without the ticket's bytes).
        quote! {
            let #pending = {
                #head
                match #lookup::lookup(&__CACHE_SITE, #key, #adapter) {
                    #p::Lookup::Hit(#value) | #p::Lookup::Refresh(#value, _) => return #value,
                    #p::Lookup::Miss(#ticket) => #ticket #tags #overload #extra.#run(#compute),
                }
            };
            #pending.await
        }
    } else {
        let run = method(func, "run_sync");
        quote! {
            #head
            match #lookup::lookup(&__CACHE_SITE, #key, #adapter) {
                #p::Lookup::Hit(#value) | #p::Lookup::Refresh(#value, _) => #value,
                #p::Lookup::Miss(#ticket) => #ticket #tags #overload #extra.#run(#compute),
            }
        }
    };
    function(func, &func.item.sig, &body)
}

// Input:
//     #[cache_result("users", refresh_ahead = 0.8)]
//     async fn load(&self, mut id: u64) -> R { body using self and id }
//
// Output (the prelude up to `lookup` as in `cache_plain`):
//     async fn load(&self, id: u64) -> R {
//         ..
//         let __cache_make = || {
//             __private::assert_refresh_arg(self); // spanned on `self`
//             __private::assert_refresh_arg(&id); // spanned on `u64`
//             let __self = Clone::clone(self);
//             let mut id = Clone::clone(&id);
//             move || async move { body using __self and id }
//         };
//         match __private::lookup(&__CACHE_SITE, __cache_key, __cache_adapter) {
//             __private::Lookup::Hit(v) => v,
//             __private::Lookup::Refresh(v, t) => { t.refresh_async(__cache_make()); v }
//             __private::Lookup::Miss(t) => t.run_async(__cache_make()).await,
//         }
//     }
//
// (For an async fn, in a block that ends before the await, as in `cache_plain`.)
//
// The refresh runs after this call has returned, so the closure owns clones of every
// argument and of `self`, and the body's `self` becomes `__self`. `mut` moves from the
// parameters, which are now only cloned, to the clones that the body mutates.
pub(crate) fn cache_refresh_ahead(spec: &CacheSpec<'_>, func: &Function<'_>) -> TokenStream {
    let p = Private::new();
    let head = cache_head(spec, func);
    let lookup = Private::at(value_span(func));
    let (key, adapter, make, value, ticket) = (
        local("__cache_key"),
        at_value(func, "__cache_adapter"),
        local("__cache_make"),
        local("__cache_value"),
        local("__cache_ticket"),
    );

    let mut setup = TokenStream::new();
    if let Some(recv) = func.receiver {
        let at = Private::at(recv.self_token.span());
        let this = format_ident!("__self");
        let mutability = recv.mutability.filter(|_| recv.reference.is_none());
        // `&self` and `self: &Self` are references already; `self` and `self: Arc<Self>`
        // are values, cloned through a borrow.
        let borrow = match &*recv.ty {
            Type::Reference(_) => quote!(),
            _ => quote!(&),
        };
        let self_token = recv.self_token;
        setup.extend(quote_spanned! {recv.self_token.span()=>
            #at::assert_refresh_arg(#borrow #self_token);
        });
        setup.extend(quote! {
            let #mutability #this = ::core::clone::Clone::clone(#borrow #self_token);
        });
    }
    for param in &func.params {
        let at = Private::at(param.ty.span());
        for binding in &param.bindings {
            let ident = &binding.ident;
            let mutability = binding.mutability;
            setup.extend(quote_spanned! {param.ty.span()=>
                #at::assert_refresh_arg(&#ident);
            });
            setup.extend(quote_spanned! {param.ty.span()=>
                let #mutability #ident = ::core::clone::Clone::clone(&#ident);
            });
        }
    }

    let mut block = func.item.block.as_ref().clone();
    ReplaceSelf.visit_block_mut(&mut block);
    let compute = compute(func, &block);
    let tags = with_tags(spec);
    let overload = with_overload(func);
    let extra = with_rules(spec);
    let (refresh, run) = if func.is_async() {
        // With `soft_timeout` the computation may outlive the call, as a refresh does.
        let run = match spec.soft_timeout_ms {
            0 => "run_async",
            _ => "run_async_soft",
        };
        let (refresh, run) = (method(func, "refresh_async"), method(func, run));
        (
            quote!(#ticket #tags #extra.#refresh(#make())),
            quote!(#ticket #tags #overload #extra.#run(#make())),
        )
    } else {
        let (refresh, run) = (method(func, "refresh_sync"), method(func, "run_sync"));
        (
            quote!(#ticket #tags #extra.#refresh(#make())),
            quote!(#ticket #tags #overload #extra.#run(#make())),
        )
    };
    let lookup = quote! {
        #head
        let #make = || {
            #setup
            #compute
        };
        match #lookup::lookup(&__CACHE_SITE, #key, #adapter)
    };
    let body = if func.is_async() {
        // As in `cache_plain`: nothing but the computation is held across the await.
        let pending = local("__cache_pending");
        quote! {
            let #pending = {
                #lookup {
                    #p::Lookup::Hit(#value) => return #value,
                    #p::Lookup::Refresh(#value, #ticket) => {
                        #refresh;
                        return #value;
                    }
                    #p::Lookup::Miss(#ticket) => #run,
                }
            };
            #pending.await
        }
    } else {
        quote! {
            #lookup {
                #p::Lookup::Hit(#value) => #value,
                #p::Lookup::Refresh(#value, #ticket) => {
                    #refresh;
                    #value
                }
                #p::Lookup::Miss(#ticket) => #run,
            }
        }
    };

    let mut sig = func.item.sig.clone();
    StripMut.visit_signature_mut(&mut sig);
    function(func, &sig, &body)
}

/// The part shared by both cache expansions: the site, the key and the adapter, bound
/// to `__CACHE_SITE` and the mixed-site locals `__cache_key` and `__cache_adapter`.
fn cache_head(spec: &CacheSpec<'_>, func: &Function<'_>) -> TokenStream {
    let (key_var, adapter_var) = (local("__cache_key"), at_value(func, "__cache_adapter"));
    let site = site_static(spec, func);
    let key = key(spec, func, &generics(func));
    let adapter = adapter(spec, func);
    quote! {
        #site
        let #key_var = #key;
        let #adapter_var = #adapter;
    }
}

/// `static __CACHE_SITE: CacheSite = ..;`, the static description of the cache. The
/// companion `<fn>_entry` writes the same one, which resolves to the same cache.
pub(crate) fn site_static(spec: &CacheSpec<'_>, func: &Function<'_>) -> TokenStream {
    let p = Private::new();
    let name = spec.name;
    let location = location(func);
    let ttl_ms = Literal::u64_unsuffixed(spec.ttl_ms);
    let version = Literal::u32_unsuffixed(spec.version);
    let stale_if_error_ms = Literal::u64_unsuffixed(spec.stale_if_error_ms);
    let refresh_ahead = Literal::f64_unsuffixed(spec.refresh_ahead.unwrap_or(0.0));
    let max_bytes = Literal::u64_unsuffixed(spec.max_bytes);
    let tier = Literal::u8_unsuffixed(spec.tier);
    let lock = spec.lock;
    let max_concurrent = Literal::u32_unsuffixed(spec.max_concurrent);
    let only_if_slower_ms = Literal::u64_unsuffixed(spec.only_if_slower_ms);
    let hard_timeout_ms = Literal::u64_unsuffixed(spec.hard_timeout.map_or(0, |(_, ms)| ms));
    let soft_timeout_ms = Literal::u64_unsuffixed(spec.soft_timeout_ms);
    quote! {
        static __CACHE_SITE: #p::CacheSite = #p::CacheSite::new(#p::SiteSpec {
            name: #name,
            location: #location,
            ttl_ms: #ttl_ms,
            version: #version,
            stale_if_error_ms: #stale_if_error_ms,
            refresh_ahead: #refresh_ahead,
            max_bytes: #max_bytes,
            tier: #tier,
            lock: #lock,
            max_concurrent: #max_concurrent,
            only_if_slower_ms: #only_if_slower_ms,
            hard_timeout_ms: #hard_timeout_ms,
            soft_timeout_ms: #soft_timeout_ms,
        });
    }
}

/// `&[type_name::<Self>(), type_name::<T>(), ..]`: one static serves every instantiation
/// of a generic function, so the names of the type parameters (and of `Self` in a method)
/// are part of the key.
pub(crate) fn generics(func: &Function<'_>) -> TokenStream {
    let this = func.receiver.map(|_| quote!(Self));
    let type_params = func.type_params.iter().map(|ident| ident.to_token_stream());
    let generics: Vec<_> = this.into_iter().chain(type_params).collect();
    quote!(&[#(::core::any::type_name::<#generics>()),*])
}

/// True when `key = ..` reads `self`: the companion, which has no receiver, cannot
/// compute such a key, so there is none.
pub(crate) fn key_uses_self(spec: &CacheSpec<'_>) -> bool {
    fn has_self(tokens: TokenStream) -> bool {
        tokens.into_iter().any(|tree| match tree {
            TokenTree::Ident(ident) => ident == "self",
            TokenTree::Group(group) => has_self(group.stream()),
            _ => false,
        })
    }
    spec.key
        .is_some_and(|expr| has_self(expr.to_token_stream()))
}

// Input:
//     #[cache_result("users")] fn load(id: UserId, Path(name): Path<String>) -> R { .. }
//
// Output:
//     {
//         { /* key_checks */ }
//         let mut __cache_key_args = __private::key_args();
//         __cache_key_args.arg({ use __private::checked::*;
//             (&__private::KeyInput(&id)).key_input() }); // spanned on `UserId`
//         __cache_key_args.arg(..&name..); // spanned on `name`
//         __cache_key_args.finish(&[..])
//     }
//
// With `key = expr`: `{ let __cache_key_input = &(expr); /* key_checks */
// __private::key(..__cache_key_input.., &[..]) }`. An input that cannot be encoded is
// reported by its check, and `key_input()` then hands `arg` a `&()`, so that the check's
// error is the only one.
pub(crate) fn key(
    spec: &CacheSpec<'_>,
    func: &Function<'_>,
    generics: &TokenStream,
) -> TokenStream {
    let p = Private::new();
    if let Some(expr) = spec.key {
        let at = Private::at(expr.span());
        let input = local("__cache_key_input");
        let (start, end) = span_range(expr);
        let mut value = Group::new(Delimiter::Parenthesis, input.to_token_stream());
        value.set_span(end);
        let checks = key_checks([KeyCheck {
            span: start,
            value: value.into_token_stream(),
            // The expression's type is unknown here: with type parameters in scope it
            // may name one.
            generic: !func.type_params.is_empty(),
        }]);
        let encodable = key_input(expr.span(), &quote!(#input));
        return quote! {{
            let #input = &(#expr);
            #checks
            #at::key(#encodable, #generics)
        }};
    }
    if spec.inputs.is_empty() {
        return quote!(#p::key(&(), #generics));
    }
    let builder = local("__cache_key_args");
    let checks = key_checks(spec.inputs.iter().map(|input| {
        // `&` on the first token of the user's type and the binding on its last, so that
        // the error covers the whole type.
        let ident = input.ident;
        let mut value = Group::new(Delimiter::Parenthesis, quote_spanned!(input.span=> &#ident));
        value.set_span(input.span_end);
        KeyCheck {
            span: input.span,
            value: value.into_token_stream(),
            generic: input.generic,
        }
    }));
    let args = spec.inputs.iter().map(|input| {
        let ident = input.ident;
        let encodable = key_input(input.span, &quote!(&#ident));
        quote_spanned!(input.span=> #builder.arg(#encodable);)
    });
    quote! {{
        #checks
        let mut #builder = #p::key_args();
        #(#args)*
        #builder.finish(#generics)
    }}
}

/// `value` (a reference to a key input) when it can be encoded, else `&()`.
pub(crate) fn key_input(span: Span, value: &TokenStream) -> TokenStream {
    let p = Private::at(span);
    quote_spanned! {span=> {
        use #p::checked::*;
        (&#p::KeyInput(#value)).key_input()
    }}
}

/// One key input to check.
struct KeyCheck {
    /// Where its error belongs.
    span: Span,
    /// A reference to its value, spanned there.
    value: TokenStream,
    /// True when its type may name a type parameter of the function.
    generic: bool,
}

// Input: the key inputs, each with a reference to its value and where its error belongs.
//
// Output:
//     {
//         #[diagnostic::on_unimplemented(message = "`{Self}` cannot be part of a cache key", ..)]
//         trait CacheKeyInput {}
//         #[diagnostic::do_not_recommend]
//         impl<K: ?Sized + __private::KeyArg> CacheKeyInput for K {}
//         fn cache_result<K: ?Sized + CacheKeyInput>(_: &K) {}
//         let _ = || {
//             cache_result(&id); // spanned on `UserId`
//             let _ = __private::CacheKey::new::<(), _>("", "", 0, &value); // `value: T`
//         };
//     }
//
// One error per input that cannot be encoded, on that input. A concrete type gets the
// message of the local trait, which names every fix: a trait of the runtime would be
// named by its private path in the error, and `do_not_recommend` keeps the compiler from
// reporting the runtime's `KeyArg` below it. A type that names a type parameter is
// checked against the public `CacheKey::new` instead, so that the compiler suggests the
// bound to add, `T: Serialize` (for the local trait it would suggest that trait, which
// no signature can name). The closure is never called, so no check costs anything at run
// time.
fn key_checks(inputs: impl IntoIterator<Item = KeyCheck>) -> TokenStream {
    let p = Private::new();
    let callee = quote!(cache_result);
    let (mut concrete, mut generic) = (Vec::new(), Vec::new());
    for KeyCheck {
        span,
        value,
        generic: is_generic,
    } in inputs
    {
        if is_generic {
            let at = Private::at(span);
            generic.push(quote_spanned! {span=>
                let _ = #at::CacheKey::new::<(), _>("", "", 0, #at::KeyInput #value.0);
            });
        } else {
            let at = Private::at(span);
            concrete.push(quote_spanned!(span=> #callee(&#at::KeyInput #value);));
        }
    }
    let local_check = (!concrete.is_empty()).then(|| {
        quote! {
            #[diagnostic::on_unimplemented(
                message = "`{Self}` cannot be part of a cache key",
                label = "this is part of the cache key",
                note = "key inputs must implement `serde::Serialize`: derive it, leave the argument out with `skip(...)`, or choose the key with `key = ...`"
            )]
            trait CacheKeyInput {}
            #[diagnostic::do_not_recommend]
            impl<K: ?::core::marker::Sized + #p::KeyArg> CacheKeyInput for K {}
            fn #callee<K: ?::core::marker::Sized + CacheKeyInput>(_: &#p::KeyInput<'_, K>) {}
        }
    });
    quote! {{
        #local_check
        let _ = || {
            #(#concrete)*
            #(#generic)*
        };
    }}
}

// Input:
//     #[cache_result("users")] async fn load(id: u64) -> Result<User, ApiError> { .. }
//
// Output:
//     {
//         let __cache_raw_adapter = { use __private::kind::*;
//             (&&&&__private::Kind::<Result<User, ApiError>>::new()).adapter() };
//         fn cache_result<R, A: __private::CachedPart<R>>(_: &A)
//         where <A as __private::CachedPart<R>>::Value: __private::CacheValue {}
//         let _ = || cache_result::<Result<User, ApiError>, _>(&__cache_raw_adapter); // on `User`
//         { use __private::checked::*;
//           (&__private::Checked::<Result<User, ApiError>, _>::new(__cache_raw_adapter)).adapter() }
//     }
//
// The check gives one error per rule of `CacheValue` that the cached part breaks, on the
// user's type and in `CacheValue`'s words; the adapter is then `Uncacheable`, with which
// the rest of the expansion type-checks, so that nothing else is reported. With
// `cache_none = true` the raw adapter is `__private::whole::<R>()` (after
// `assert_option::<R>()`), which caches `R` whole.
fn adapter(spec: &CacheSpec<'_>, func: &Function<'_>) -> TokenStream {
    let p = Private::new();
    let ret = return_type(func);
    let raw = local("__cache_raw_adapter");
    let (select, cached) = match spec.cache_none {
        Some(token) => {
            let at = Private::at(token.span());
            let select = quote_spanned! {token.span()=> {
                #at::assert_option::<#ret>();
                #p::whole::<#ret>()
            }};
            (select, func.output)
        }
        None => {
            let select = quote! {{
                use #p::kind::*;
                (&&&&#p::Kind::<#ret>::new()).adapter()
            }};
            (select, func.cached_type())
        }
    };
    let (span, span_end) = match cached {
        Some(ty) => span_range(ty),
        None => (Span::call_site(), Span::call_site()),
    };
    let callee = quote!(cache_result);
    let at = Private::at(span);
    // `&` on the first token of the user's type and the checked value on its last, so
    // that the error covers the whole type.
    let mut args = Group::new(Delimiter::Parenthesis, raw.to_token_stream());
    args.set_span(span_end);
    let check = quote_spanned! {span=>
        #callee(&#at::Checked::<#ret, _>::new #args)
    };
    quote! {{
        let #raw = #select;
        fn cache_result<R, A: #p::CachedPart<R>>(_: &#p::Checked<R, A>)
        where
            <A as #p::CachedPart<R>>::Value: #p::CacheValue,
        {
        }
        let _ = || #check;
        {
            use #p::checked::*;
            (&#p::Checked::<#ret, _>::new(#raw)).adapter()
        }
    }}
}

// Input:  the return type `R` of a cached function.
// Output: `.with_overload({ use __private::overload::*;
//             (&__private::OverloadKind::<R>::new()).on_overload() })`: what the call
//         returns when its cache's bulkhead stays full (the function's own error, when it
//         converts from `Overloaded`), or `None` to wait; and `.with_throttle(..)` the
//         same way for a spent computation budget (`From<Throttled>`, or `None` to
//         compute anyway).
fn with_overload(func: &Function<'_>) -> TokenStream {
    let p = Private::new();
    let ret = return_type(func);
    quote! {
        .with_overload({
            use #p::overload::*;
            (&#p::OverloadKind::<#ret>::new()).on_overload()
        })
        .with_throttle({
            use #p::throttle::*;
            (&#p::ThrottleKind::<#ret>::new()).on_throttle()
        })
    }
}

// Input:  `unless = |v| ..`, `ttl_from = |v| ..` and `hard_timeout = "2s"` on a function
//         returning `R`.
// Output: `.with_rules(__private::StoreRules { unless: Some(|v| ..), ttl_from: None })`
//         and `.with_hard_timeout(__private::timed_out)`, the latter spanned on
//         `hard_timeout` so that an `R` that cannot answer a timeout is reported there.
fn with_rules(spec: &CacheSpec<'_>) -> TokenStream {
    let mut out = TokenStream::new();
    if spec.unless.is_some() || spec.ttl_from.is_some() {
        let rules = store_rules(spec.unless, spec.ttl_from);
        out.extend(quote!(.with_rules(#rules)));
    }
    if let Some((token, _)) = spec.hard_timeout {
        // `R` is inferred, so that the bound is checked, and reported, at the option.
        let at = Private::at(token.span());
        out.extend(quote_spanned!(token.span()=> .with_hard_timeout(#at::timed_out)));
    }
    out
}

/// `__private::StoreRules { unless: .., ttl_from: .. }`.
pub(crate) fn store_rules(unless: Option<&syn::Expr>, ttl_from: Option<&syn::Expr>) -> TokenStream {
    let p = Private::new();
    let some = |expr: Option<&syn::Expr>| match expr {
        Some(expr) => quote_spanned!(expr.span()=> ::core::option::Option::Some(#expr)),
        None => quote!(::core::option::Option::None),
    };
    let (unless, ttl_from) = (some(unless), some(ttl_from));
    quote!(#p::StoreRules { unless: #unless, ttl_from: #ttl_from })
}

/// `.with_tags(..)` when tags are given, each tag spanned on the user's expression.
fn with_tags(spec: &CacheSpec<'_>) -> TokenStream {
    if spec.tags.is_empty() {
        return TokenStream::new();
    }
    let tags = spec.tags.iter().map(|expr| {
        let at = Private::at(expr.span());
        quote_spanned!(expr.span()=> #at::tag(#expr))
    });
    quote! {
        .with_tags(::core::iter::Iterator::collect(::core::iter::IntoIterator::into_iter([#(#tags),*])))
    }
}

// Input:
//     #[performance_timer("load", slow = "250ms")]
//     async fn load(id: u64) -> R { body }
//
// Output:
//     async fn load(id: u64) -> R {
//         static __TIMER_SITE: __private::TimerSite = __private::TimerSite::new("load", 250);
//         __private::time_async(
//             &__TIMER_SITE,
//             { use __private::err_kind::*; (&&__private::ErrKind::<R>::new()).is_error_fn() },
//             async move { body },
//         )
//         .await
//     }
//
// A sync fn gets `__private::time_sync(&__TIMER_SITE, is_error, move || -> R { body })`.
// Without a name the timer is named `concat!(module_path!(), "::", "load")`.
pub(crate) fn timer(spec: &TimerSpec<'_>, func: &Function<'_>) -> TokenStream {
    let p = Private::new();
    let name = match spec.name {
        Some(name) => name.to_token_stream(),
        None => location(func),
    };
    let slow_ms = Literal::u64_unsuffixed(spec.slow_ms);
    let is_error = match func.output_impl_trait {
        // An `impl Trait` value cannot be named, so it is never counted as an error.
        Some(_) => quote!(|_| false),
        None => {
            let ret = return_type(func);
            quote! {{
                use #p::err_kind::*;
                (&&#p::ErrKind::<#ret>::new()).is_error_fn()
            }}
        }
    };
    let timed = if func.is_async() {
        let future = async_block(func, func.item.block.as_ref());
        quote!(#p::time_async(&__TIMER_SITE, #is_error, #future).await)
    } else {
        let closure = sync_closure(func, func.item.block.as_ref());
        quote!(#p::time_sync(&__TIMER_SITE, #is_error, #closure))
    };
    let body = quote! {
        static __TIMER_SITE: #p::TimerSite = #p::TimerSite::new(#name, #slow_ms);
        #timed
    };
    function(func, &func.item.sig, &body)
}

/// The function again, with its attributes and the new body.
pub(crate) fn function(func: &Function<'_>, sig: &Signature, body: &TokenStream) -> TokenStream {
    let outer = &func.outer_attrs;
    let inner = &func.inner_attrs;
    let vis = &func.item.vis;
    quote! {
        #(#outer)*
        #vis #sig {
            #(#inner)*
            #body
        }
    }
}

/// The closure that runs the original body: `move || async move { body }` for an async
/// fn, `move || -> R { body }` for a sync one.
fn compute(func: &Function<'_>, block: &Block) -> TokenStream {
    if func.is_async() {
        let future = async_block(func, block);
        quote!(move || #future)
    } else {
        sync_closure(func, block)
    }
}

/// `async move { body }`, told its output type first so that `?` and `return` in the
/// body infer as they do in the function (the trick of tracing-attributes).
pub(crate) fn async_block(func: &Function<'_>, block: &Block) -> TokenStream {
    let stmts = &block.stmts;
    let hint = match (func.output, func.output_impl_trait) {
        (Some(ret), None) => {
            let fake = local("__cache_fake_return");
            quote! {
                #[allow(
                    unknown_lints,
                    unreachable_code,
                    clippy::diverging_sub_expression,
                    clippy::let_unit_value,
                    clippy::unreachable,
                    clippy::empty_loop
                )]
                if false {
                    let #fake: #ret = loop {};
                    return #fake;
                }
            }
        }
        _ => TokenStream::new(),
    };
    quote!(async move { #hint #(#stmts)* })
}

/// `move || -> R { body }`.
pub(crate) fn sync_closure(func: &Function<'_>, block: &Block) -> TokenStream {
    match (func.output, func.output_impl_trait) {
        (Some(ret), None) => quote!(move || -> #ret #block),
        _ => quote!(move || #block),
    }
}

/// `concat!(module_path!(), "::", "name")`.
pub(crate) fn location(func: &Function<'_>) -> TokenStream {
    let name = func.ident().to_string();
    let name = name.strip_prefix("r#").unwrap_or(&name);
    quote!(::core::concat!(::core::module_path!(), "::", #name))
}

/// The declared return type, or `()`.
pub(crate) fn return_type(func: &Function<'_>) -> TokenStream {
    match func.output {
        Some(ty) => ty.to_token_stream(),
        None => quote!(()),
    }
}

/// An identifier for a local of the generated code, invisible to the user's code.
pub(crate) fn local(name: &str) -> Ident {
    Ident::new(name, Span::mixed_site())
}

/// Where errors about the cached value belong: the declared return type.
fn value_span(func: &Function<'_>) -> Span {
    func.output.map_or_else(Span::call_site, Spanned::span)
}

/// A local like [`local`] whose errors are reported at the return type.
fn at_value(func: &Function<'_>, name: &str) -> Ident {
    Ident::new(name, Span::mixed_site().located_at(value_span(func)))
}

/// A runtime method name whose errors are reported at the return type. A value that
/// cannot be cached is reported by the check in [`adapter`] and selects an adapter with
/// which these calls type-check; the span keeps anything else about the value there.
fn method(func: &Function<'_>, name: &str) -> Ident {
    Ident::new(name, value_span(func))
}

/// Rewrites the body's `self` to `__self`, as async-trait does, for a body that runs on
/// a clone of `self`. Nested items keep their own `self`; macro invocations are
/// rewritten token by token, except in `self::` paths.
struct ReplaceSelf;

impl VisitMut for ReplaceSelf {
    fn visit_expr_path_mut(&mut self, node: &mut ExprPath) {
        if node.qself.is_none()
            && node.path.is_ident("self")
            && let Some(segment) = node.path.segments.first_mut()
        {
            segment.ident = Ident::new("__self", segment.ident.span());
        }
    }

    fn visit_item_mut(&mut self, item: &mut Item) {
        // A `macro_rules!` defined in the body may expand to our `self`.
        if let Item::Macro(item) = item
            && item.mac.path.is_ident("macro_rules")
        {
            self.visit_macro_mut(&mut item.mac);
        }
    }

    fn visit_macro_mut(&mut self, mac: &mut Macro) {
        mac.tokens = replace_self_tokens(std::mem::take(&mut mac.tokens));
    }
}

fn replace_self_tokens(tokens: TokenStream) -> TokenStream {
    let trees: Vec<TokenTree> = tokens.into_iter().collect();
    let mut out = TokenStream::new();
    for (i, tree) in trees.iter().enumerate() {
        let replaced = match tree {
            TokenTree::Ident(ident) if ident == "self" && !starts_path(trees.get(i + 1)) => {
                TokenTree::Ident(Ident::new("__self", ident.span()))
            }
            TokenTree::Group(group) => {
                let mut new = Group::new(group.delimiter(), replace_self_tokens(group.stream()));
                new.set_span(group.span());
                TokenTree::Group(new)
            }
            other => other.clone(),
        };
        out.extend([replaced]);
    }
    out
}

/// True when the next token is the `:` of a `::` path separator.
fn starts_path(next: Option<&TokenTree>) -> bool {
    matches!(next, Some(TokenTree::Punct(p)) if p.as_char() == ':' && p.spacing() == proc_macro2::Spacing::Joint)
}

/// Removes `mut` from the parameters' bindings (and a by-value `mut self`).
struct StripMut;

impl VisitMut for StripMut {
    fn visit_pat_mut(&mut self, pat: &mut Pat) {
        if let Pat::Ident(ident) = pat {
            ident.mutability = None;
        }
        syn::visit_mut::visit_pat_mut(self, pat);
    }

    fn visit_receiver_mut(&mut self, recv: &mut syn::Receiver) {
        if recv.reference.is_none() {
            recv.mutability = None;
        }
    }

    fn visit_type_mut(&mut self, _: &mut Type) {}
}
