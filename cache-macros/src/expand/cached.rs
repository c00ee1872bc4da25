//! The wrapper of a `#[cache_result]` function without background work: look the key
//! up, answer a hit, run the body on a miss; and the pieces both cache wrappers share
//! (the prelude up to the lookup, the ticket's options, spans at the return type).

use proc_macro2::{Span, TokenStream};
use quote::{quote, quote_spanned};
use syn::Ident;
use syn::spanned::Spanned;

use super::body::{compute, function, local, return_type};
use super::key::{generics, key};
use super::site::{site_static, store_rules};
use super::value::adapter;
use crate::ast::{CacheSpec, Function};
use crate::private::Private;

// Input:
//     #[cache_result("users", ttl = "5m", tags = [format!("user:{id}")])]
//     async fn load(&self, Path(id): Path<u64>, State(db): State<Db>) -> R { body }
//
// Output:
//     async fn load(&self, Path(id): Path<u64>, State(db): State<Db>) -> R {
//         let __cache_pending = {
//             static __CACHE_SITE: __private::CacheSite = __private::CacheSite::new(__private::SiteSpec {
//                 name: "users", location: concat!(module_path!(), "::", "load"), ttl_ms: 300000,
//                 tier: __private::Tier::Both, lock: false, ..
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
    let extra = with_rules(spec, func);
    let name = spec.name;
    let span = local("__cache_span");
    let body = match (func.is_async(), spec.span) {
        (true, false) => {
            let run = method(func, "run_async");
            let pending = local("__cache_pending");
            // The lookup, its key and its ticket end with the block, before the await: only
            // the boxed computation is held across it, so the function's future stays small
            // (a hit moves it, into a task or a caller's future, without the ticket's bytes).
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
        }
        // The call's span (`cache`) is entered around the lookup, which records a hit on
        // it, and moves into the boxed computation, so the future does not grow.
        (true, true) => {
            let run = method(func, "run_async_in");
            let pending = local("__cache_pending");
            let found = local("__cache_found");
            quote! {
                let #pending = {
                    #head
                    let #span = #p::cache_span(#name);
                    // Without a span (no subscriber) the lookup is called as with `span =
                    // false`: `in_scope` on a none span still checks it twice for `log`.
                    let #found = if #span.is_none() {
                        #lookup::lookup(&__CACHE_SITE, #key, #adapter)
                    } else {
                        #span.in_scope(|| #lookup::lookup(&__CACHE_SITE, #key, #adapter))
                    };
                    match #found {
                        #p::Lookup::Hit(#value) | #p::Lookup::Refresh(#value, _) => return #value,
                        #p::Lookup::Miss(#ticket) => {
                            #ticket #tags #overload #extra.#run(#span, #compute)
                        }
                    }
                };
                #pending.await
            }
        }
        (false, false) => {
            let run = method(func, "run_sync");
            quote! {
                #head
                match #lookup::lookup(&__CACHE_SITE, #key, #adapter) {
                    #p::Lookup::Hit(#value) | #p::Lookup::Refresh(#value, _) => #value,
                    #p::Lookup::Miss(#ticket) => #ticket #tags #overload #extra.#run(#compute),
                }
            }
        }
        (false, true) => {
            let run = method(func, "run_sync_in");
            let entered = local("__cache_entered");
            quote! {
                #head
                let #span = #p::cache_span(#name);
                let #entered = (!#span.is_none()).then(|| #span.enter());
                match #lookup::lookup(&__CACHE_SITE, #key, #adapter) {
                    #p::Lookup::Hit(#value) | #p::Lookup::Refresh(#value, _) => #value,
                    #p::Lookup::Miss(#ticket) => #ticket #tags #overload #extra.#run(&#span, #compute),
                }
            }
        }
    };
    function(func, &func.item.sig, &body)
}

/// The part shared by both cache expansions: the site, the key and the adapter, bound
/// to `__CACHE_SITE` and the mixed-site locals `__cache_key` and `__cache_adapter`.
pub(super) fn cache_head(spec: &CacheSpec<'_>, func: &Function<'_>) -> TokenStream {
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

// Input:  the return type `R` of a cached function.
// Output: `.with_overload({ use __private::overload::*;
//             (&__private::OverloadKind::<R>::new()).on_overload() })`: what the call
//         returns when its cache's bulkhead stays full (the function's own error, when it
//         converts from `Overloaded`), or `None` to wait; and `.with_throttle(..)` the
//         same way for a spent computation budget (`From<Throttled>`, or `None` to
//         compute anyway).
pub(super) fn with_overload(func: &Function<'_>) -> TokenStream {
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

// Input:  `unless = |v| ..`, `ttl_from = |v| ..`, `hard_timeout = "2s"` and
//         `cache_none = "30s"` on a function returning `R`.
// Output: `.with_rules(__private::StoreRules { unless: Some(|v| ..), ttl_from: None })`,
//         `.with_hard_timeout(__private::timed_out)`, the latter spanned on
//         `hard_timeout` so that an `R` that cannot answer a timeout is reported there,
//         and `.with_short_ttl({ use __private::success::*;
//         (&&__private::SuccessKind::<R>::new()).succeeded_fn() })`, which tells `Some`
//         from `None` (`cache_none = "30s"`) and `Ok` from `Err` (`cache_err` with
//         `err_ttl`).
pub(super) fn with_rules(spec: &CacheSpec<'_>, func: &Function<'_>) -> TokenStream {
    let mut out = TokenStream::new();
    if spec.none_ttl_ms > 0 || spec.err_ttl_ms > 0 {
        let p = Private::new();
        let ret = return_type(func);
        out.extend(quote! {
            .with_short_ttl({
                use #p::success::*;
                (&&#p::SuccessKind::<#ret>::new()).succeeded_fn()
            })
        });
    }
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

/// `.with_tags(..)` when tags are given, each tag spanned on the user's expression.
pub(super) fn with_tags(spec: &CacheSpec<'_>) -> TokenStream {
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

/// Where errors about the cached value belong: the declared return type.
pub(super) fn value_span(func: &Function<'_>) -> Span {
    func.output.map_or_else(Span::call_site, Spanned::span)
}

/// A local like [`local`] whose errors are reported at the return type.
pub(super) fn at_value(func: &Function<'_>, name: &str) -> Ident {
    Ident::new(name, Span::mixed_site().located_at(value_span(func)))
}

/// A runtime method name whose errors are reported at the return type. A value that
/// cannot be cached is reported by the check in [`adapter`] and selects an adapter with
/// which these calls type-check; the span keeps anything else about the value there.
pub(super) fn method(func: &Function<'_>, name: &str) -> Ident {
    Ident::new(name, value_span(func))
}
