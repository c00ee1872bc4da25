//! Stage 4 for `#[cache_batch]`: the wrapper (look every id up, compute the missing ones
//! with the body, once) and the companion `<fn>_entry(&other_args.., &id)`, the typed
//! handle to one record.

use proc_macro2::TokenStream;
use quote::{ToTokens, format_ident, quote, quote_spanned};
use syn::spanned::Spanned;
use syn::{Block, Type};

use super::body::{async_block, function, local, return_type, sync_closure};
use super::entry::entry_params;
use super::key::{generics, key_input};
use super::site::site_static;
use crate::ast::Function;
use crate::batch::BatchSpec;
use crate::private::Private;

// Input:
//     #[cache_batch("metrics", ttl = "5m", tags = |id, m| [format!("channel:{id}")])]
//     async fn metrics(db: &Db, ids: &[u64]) -> Result<HashMap<u64, Metrics>, DbError> { body }
//
// Output:
//     async fn metrics(db: &Db, ids: &[u64]) -> Result<HashMap<u64, Metrics>, DbError> {
//         let __cache_batch = {
//             static __CACHE_SITE: __private::CacheSite = /* as #[cache_result] writes it */;
//             let __cache_key = |__cache_id: &u64| { /* key_args: db, then the id */ };
//             __private::batch::<R, __private::Present>(&__CACHE_SITE, __private::Present,
//                 ids.iter(), __cache_key, Some(|id, v| /* the tags */))
//         };
//         __cache_batch.run_async(|__cache_ids: Vec<u64>| {
//             let db = Clone::clone(&db);
//             async move { let __cache_owned: Vec<u64> = __cache_ids; let ids: &[u64] = &__cache_owned; body }
//         }).await
//     }
//
// With `refresh_ahead`, before `run_async`: `if __cache_batch.needs_refresh() {
// /* assert_refresh_arg and a clone of each other argument */ __cache_batch
// .refresh_async(move |__cache_ids: Vec<u64>| async move { /* ids */ body }); }`, the
// records past their refresh point refreshed by one background body call.
//
// A sync fn gets `.run_sync(|__cache_ids| -> R { /* clones, ids */ body })`. The other
// arguments are cloned for each body call (a reference is copied): the body runs again
// only for records another call was computing and failed to.
pub(crate) fn batch(spec: &BatchSpec<'_>, func: &Function<'_>) -> TokenStream {
    let p = Private::new();
    let site = site_static(&spec.cache, func);
    let ret = return_type(func);
    let (id, value) = (spec.id, spec.value);
    let kind = kind(spec);
    let key_fn = record_key(spec, func, false);
    let cid = local("__cache_id");
    let ids_name = &spec.ids.bindings[0].ident;
    let tags = match spec.tags {
        Some(closure) => {
            let v = local("__cache_v");
            quote! {
                ::core::option::Option::Some(|#cid: &#id, #v: &#value| -> ::std::vec::Vec<::std::string::String> {
                    ::core::iter::Iterator::collect(::core::iter::Iterator::map(
                        ::core::iter::IntoIterator::into_iter((#closure)(#cid, #v)),
                        #p::tag,
                    ))
                })
            }
        }
        None => quote!(::core::option::Option::None),
    };
    let (pending, cids) = (local("__cache_batch"), local("__cache_ids"));
    let clones = clones(spec, func);
    let bind = bind_ids(spec);
    let mut block: Block = func.item.block.as_ref().clone();
    let bind: Block = syn::parse_quote!({ #bind });
    block.stmts.splice(0..0, bind.stmts);
    let refresh = spec.cache.refresh_ahead.is_some();
    let mutability = refresh.then(|| quote!(mut));
    let lookup = quote! {
        let #mutability #pending = {
            #site
            let __cache_key = |#cid: &#id| #key_fn;
            #p::batch::<#ret, #kind>(&__CACHE_SITE, #kind, #ids_name.iter(), __cache_key, #tags)
        };
    };
    let body = if func.is_async() {
        let future = async_block(func, &block);
        let refresh = refresh.then(|| {
            let asserts = refresh_asserts(spec, func);
            quote! {
                if #pending.needs_refresh() {
                    #asserts
                    #clones
                    #pending.refresh_async(move |#cids: ::std::vec::Vec<#id>| #future);
                }
            }
        });
        quote! {
            #lookup
            #refresh
            #pending.run_async(|#cids: ::std::vec::Vec<#id>| {
                #clones
                #future
            }).await
        }
    } else {
        let closure = sync_closure(func, &block);
        let refresh = refresh.then(|| {
            let asserts = refresh_asserts(spec, func);
            quote! {
                if #pending.needs_refresh() {
                    #asserts
                    #clones
                    #pending.refresh_sync(move |#cids: ::std::vec::Vec<#id>| (#closure)());
                }
            }
        });
        quote! {
            #lookup
            #refresh
            #pending.run_sync(|#cids: ::std::vec::Vec<#id>| {
                #clones
                (#closure)()
            })
        }
    };
    function(func, &func.item.sig, &body)
}

/// `__private::Present`, or `__private::Remembered` with `missing_ttl`.
fn kind(spec: &BatchSpec<'_>) -> TokenStream {
    let p = Private::new();
    if spec.missing {
        quote!(#p::Remembered)
    } else {
        quote!(#p::Present)
    }
}

/// The key of the record of `__cache_id`: the other key inputs, then the id, as
/// `#[cache_result]` encodes the arguments `(other.., id)`. In the companion (`by_ref`)
/// every input is already a reference.
fn record_key(spec: &BatchSpec<'_>, func: &Function<'_>, by_ref: bool) -> TokenStream {
    let p = Private::new();
    let builder = local("__cache_key_args");
    let cid = local("__cache_id");
    let args = spec.cache.inputs.iter().map(|input| {
        let ident = input.ident;
        let value = if by_ref {
            quote!(#ident)
        } else {
            quote!(&#ident)
        };
        let encodable = key_input(input.span, &value);
        quote!(#builder.arg(#encodable);)
    });
    let id = key_input(spec.id_span(), &quote!(#cid));
    let generics = generics(func);
    quote! {{
        let mut #builder = #p::key_args();
        #(#args)*
        #builder.arg(#id);
        #builder.finish(#generics)
    }}
}

/// `let x = Clone::clone(&x);` for every binding of the other parameters, so that each
/// body call owns what it moves.
fn clones(spec: &BatchSpec<'_>, func: &Function<'_>) -> TokenStream {
    let stmts = func
        .params
        .iter()
        .filter(|param| !std::ptr::eq(*param, spec.ids))
        .flat_map(|param| &param.bindings)
        .map(|b| {
            let ident = &b.ident;
            let mutability = &b.mutability;
            quote! {
                #[allow(unused_variables, unused_mut, clippy::redundant_clone)]
                let #mutability #ident = ::core::clone::Clone::clone(&#ident);
            }
        });
    quote!(#(#stmts)*)
}

/// With `refresh_ahead`: `assert_refresh_arg(&x);` for every binding of the other
/// parameters, spanned on its type (the background refresh owns clones of them).
fn refresh_asserts(spec: &BatchSpec<'_>, func: &Function<'_>) -> TokenStream {
    let stmts = func
        .params
        .iter()
        .filter(|param| !std::ptr::eq(*param, spec.ids))
        .flat_map(|param| {
            let at = Private::at(param.ty.span());
            param.bindings.iter().map(move |b| {
                let ident = &b.ident;
                quote_spanned! {param.ty.span()=> #at::assert_refresh_arg(&#ident); }
            })
        });
    quote!(#(#stmts)*)
}

/// The ids parameter again, from the `Vec<K>` of ids the body computes: `let ids: T =
/// FromIterator::from_iter(__cache_ids);`, or for a reference `&T` the owned `T` (a
/// `Vec` for a slice) and a reference to it.
fn bind_ids(spec: &BatchSpec<'_>) -> TokenStream {
    let (pat, ty) = (spec.ids.pat, spec.ids.ty);
    let (cids, owned) = (local("__cache_ids"), local("__cache_owned"));
    let id = spec.id;
    match ty {
        Type::Reference(r) => {
            let owned_ty = match &*r.elem {
                Type::Slice(_) => quote!(::std::vec::Vec<#id>),
                other => other.to_token_stream(),
            };
            quote! {
                let #owned: #owned_ty = ::core::iter::FromIterator::from_iter(#cids);
                let #pat: #ty = &#owned;
            }
        }
        _ => quote!(let #pat: #ty = ::core::iter::FromIterator::from_iter(#cids);),
    }
}

// Input:  the batch function above.
// Output (beside it):
//     pub fn metrics_entry(db: &Db, __cache_id: &u64) -> __private::CacheEntry<Metrics> {
//         static __CACHE_SITE: __private::CacheSite = /* as in `metrics` */;
//         let __cache_key = /* as the batch builds a record's key */;
//         __private::CacheEntry::new(&__CACHE_SITE, __cache_key,
//             |e, v| e.put::<S, _>(__private::PlainAdapter, /* v as stored */, StoreRules::NONE),
//             |e, v| e.put_async::<S, _>(..), |e| /* peek, a record remembered missing is None */)
//     }
// with `S` the record's type: `V`, or `Option<V>` with `missing_ttl`.
pub(crate) fn batch_entry(spec: &BatchSpec<'_>, func: &Function<'_>) -> TokenStream {
    let p = Private::new();
    let fn_name = func.ident().to_string();
    let fn_name = fn_name.strip_prefix("r#").unwrap_or(&fn_name).to_owned();
    let name = format_ident!("{}_entry", fn_name, span = func.ident().span());
    let vis = &func.item.vis;
    let sig_generics = &func.item.sig.generics;
    let where_clause = &sig_generics.where_clause;
    let mut params = entry_params(&spec.cache, func);
    let (id, value) = (spec.id, spec.value);
    let cid = local("__cache_id");
    params.push(quote!(#cid: &#id));
    let site = site_static(&spec.cache, func);
    let key = record_key(spec, func, true);
    let (e, v, r) = (local("__cache_e"), local("__cache_v"), local("__cache_r"));
    let (stored, wrap, unwrap) = if spec.missing {
        (
            quote!(::core::option::Option<#value>),
            quote!(::core::option::Option::Some(#v)),
            quote!(::core::option::Option::flatten(#r)),
        )
    } else {
        (value.to_token_stream(), quote!(#v), quote!(#r))
    };
    let plain = quote!(#p::PlainAdapter);
    let rules = quote!(#p::StoreRules::NONE);
    let doc = format!(
        " The cache entry of one record of `{fn_name}`: invalidate, expire, overwrite or \
         peek at it (the `#[cache_batch]` companion)."
    );
    quote! {
        #[doc = #doc]
        #[allow(dead_code, unused_variables, clippy::ptr_arg, clippy::needless_lifetimes, clippy::trivially_copy_pass_by_ref)]
        #vis fn #name #sig_generics (#(#params),*) -> #p::CacheEntry<#value> #where_clause {
            #site
            let __cache_key = #key;
            #p::CacheEntry::new(
                &__CACHE_SITE,
                __cache_key,
                |#e: &#p::EntryKey, #v: #value| #e.put::<#stored, _>(#plain, #wrap, #rules),
                |#e: &#p::EntryKey, #v: #value| #e.put_async::<#stored, _>(#plain, #wrap, #rules),
                |#e: &#p::EntryKey| {
                    let #r: ::core::option::Option<#stored> = #e.peek(#plain);
                    #unwrap
                },
            )
        }
    }
}
