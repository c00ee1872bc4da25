//! Stage 4 for the companion of `#[cache_result]`: `<fn>_entry(<key args by reference>)`,
//! the typed handle to one entry of the cache (`cache_runtime::CacheEntry<V>`), which
//! `#[cache_invalidate]` and `#[cache_put]` go through.
//!
//! It is generated beside the function, with the same visibility and generics, so that in
//! an `impl` block it is an associated function (`Self::load_entry(&id)`) and elsewhere a
//! free one (`load_entry(&id)`). It writes the same site static as the function, which
//! resolves to the same cache, and the same key code without its checks: a key that
//! cannot be encoded is reported once, on the function.

use proc_macro2::{Span, TokenStream, TokenTree};
use quote::{ToTokens, format_ident, quote};
use syn::visit_mut::VisitMut;
use syn::{Pat, Type};

use super::body::{local, return_type};
use super::key::{generics, key_input};
use super::site::{site_static, store_rules};
use super::value::{checked_adapter, kind_adapter};
use crate::ast::{CacheSpec, Function, Param, Shape};
use crate::private::Private;

// Input:
//     #[cache_result("users", ttl = "5m")]
//     pub async fn load(&self, id: u64, Path(name): Path<String>) -> Result<User, ApiError> { .. }
//
// Output (beside the function):
//     /// The cache entry of [`load`] for these arguments: .. In a trait impl, .. write `entry = false`.
//     #[allow(dead_code, ..)]
//     pub fn load_entry(id: &u64, Path(name): &Path<String>) -> __private::CacheEntry<User> {
//         static __CACHE_SITE: __private::CacheSite = /* as in `load` */;
//         let __cache_key = /* as in `load`, without the checks */;
//         __private::CacheEntry::new(
//             &__CACHE_SITE,
//             __cache_key,
//             |e, v| e.put(/* adapter of R */, Ok(v), /* ttl_from */),
//             |e, v| e.put_async(/* adapter of R */, Ok(v), /* ttl_from */),
//             |e| e.peek(/* adapter of R */).and_then(|r| r.ok()),
//         )
//     }
//
// The value type is the part of `R` that is cached, as the syntax shows it (`User` of
// `Result<User, E>`, `Option<User>`, `Json<User>`, `Result<Json<User>, E>`), or `R` whole
// (a plain type, an alias, `cache_none = true`), converted to and from `R` so that the
// function's own adapter stores and rebuilds it.
pub(crate) fn entry_fn(spec: &CacheSpec<'_>, func: &Function<'_>) -> TokenStream {
    let p = Private::new();
    let fn_name = func.ident().to_string();
    let fn_name = fn_name.strip_prefix("r#").unwrap_or(&fn_name).to_owned();
    let name = format_ident!("{}_entry", fn_name, span = func.ident().span());
    let vis = &func.item.vis;
    let sig_generics = &func.item.sig.generics;
    let where_clause = &sig_generics.where_clause;
    let params = entry_params(spec, func);
    let ret = return_type(func);
    let (value, to_r, from_r) = conversion(spec, func);
    let site = site_static(spec, func);
    let key = key_plain(spec, func);
    let select = select(spec, func);
    let rules = store_rules(None, spec.ttl_from);
    let cfgs = func
        .outer_attrs
        .iter()
        .filter(|attr| attr.path().is_ident("cfg"));
    let (e, v, r) = (local("__cache_e"), local("__cache_v"), local("__cache_r"));
    // Read where the compiler reports this item: a trait impl cannot hold it ("method
    // `x_entry` is not a member of trait"), and the attribute cannot see that it is in one.
    let doc = format!(
        " The cache entry of `{fn_name}` for these arguments: invalidate, overwrite or peek \
         at it (the `#[cache_result]` companion). In a trait impl, which cannot hold this \
         function, write `entry = false`."
    );
    quote! {
        #(#cfgs)*
        #[doc = #doc]
        #[allow(dead_code, unused_variables, clippy::ptr_arg, clippy::needless_lifetimes, clippy::trivially_copy_pass_by_ref)]
        #vis fn #name #sig_generics (#(#params),*) -> #p::CacheEntry<#value> #where_clause {
            #site
            let __cache_key = #key;
            #p::CacheEntry::new(
                &__CACHE_SITE,
                __cache_key,
                |#e: &#p::EntryKey, #v: #value| #e.put::<#ret, _>(#select, #to_r, #rules),
                |#e: &#p::EntryKey, #v: #value| #e.put_async::<#ret, _>(#select, #to_r, #rules),
                |#e: &#p::EntryKey| {
                    let #r: ::core::option::Option<#ret> = #e.peek(#select);
                    #r.and_then(|#r| #from_r)
                },
            )
        }
    }
}

/// The parameters of the companion: each parameter that holds part of the key, with its
/// pattern and its type by reference (a reference type is kept as it is).
pub(super) fn entry_params(spec: &CacheSpec<'_>, func: &Function<'_>) -> Vec<TokenStream> {
    let key_tokens: Vec<String> = match spec.key {
        Some(expr) => idents(expr.to_token_stream()),
        None => Vec::new(),
    };
    let in_key = |param: &Param<'_>| {
        param.bindings.iter().any(|b| match spec.key {
            Some(_) => key_tokens.contains(&b.ident.to_string()),
            None => spec.inputs.iter().any(|input| *input.ident == b.ident),
        })
    };
    func.params
        .iter()
        .filter(|param| param.extractor.is_none() && in_key(param))
        .map(|param| {
            let mut pat: Pat = param.pat.clone();
            StripBindingMode.visit_pat_mut(&mut pat);
            let ty = param.ty;
            match ty {
                Type::Reference(_) => quote!(#pat: #ty),
                _ => quote!(#pat: &#ty),
            }
        })
        .collect()
}

/// Every identifier in `tokens`.
fn idents(tokens: TokenStream) -> Vec<String> {
    let mut out = Vec::new();
    for tree in tokens {
        match tree {
            TokenTree::Ident(ident) => out.push(ident.to_string()),
            TokenTree::Group(group) => out.extend(idents(group.stream())),
            _ => {}
        }
    }
    out
}

/// The key as the function computes it, without the checks the function already makes.
fn key_plain(spec: &CacheSpec<'_>, func: &Function<'_>) -> TokenStream {
    let p = Private::new();
    let generics = generics(func);
    if let Some(expr) = spec.key {
        let input = local("__cache_key_input");
        let encodable = key_input(Span::call_site(), &quote!(#input));
        // The expression sees each binding as the function does, by value when it can
        // be cloned: `key = UserId(id)` needs the `u64`, not the `&u64` received here.
        let names = idents(expr.to_token_stream());
        let rebind = func
            .params
            .iter()
            .flat_map(|param| &param.bindings)
            .filter(|b| names.contains(&b.ident.to_string()))
            .map(|b| {
                let ident = &b.ident;
                quote! {
                    let #ident = {
                        use #p::owned::*;
                        (&#p::Owned(#ident)).owned()
                    };
                }
            });
        return quote! {{
            #(#rebind)*
            let #input = &(#expr);
            #p::key(#encodable, #generics)
        }};
    }
    if spec.inputs.is_empty() {
        return quote!(#p::key(&(), #generics));
    }
    let builder = local("__cache_key_args");
    let args = spec.inputs.iter().map(|input| {
        let ident = input.ident;
        let encodable = key_input(Span::call_site(), &quote!(&#ident));
        quote!(#builder.arg(#encodable);)
    });
    quote! {{
        let mut #builder = #p::key_args();
        #(#args)*
        #builder.finish(#generics)
    }}
}

/// The function's adapter, chosen as the function chooses it, without its checks.
fn select(spec: &CacheSpec<'_>, func: &Function<'_>) -> TokenStream {
    let p = Private::new();
    let ret = return_type(func);
    let raw = match (spec.cache_none, spec.cache_err) {
        (Some(_), _) => quote!(#p::whole::<#ret>()),
        (None, Some(choose)) => quote!(#p::chosen_errors::<#ret>(#choose)),
        (None, None) => kind_adapter(&ret),
    };
    checked_adapter(&ret, &raw)
}

/// The value type of the entry, and the conversions `__cache_v -> R` and
/// `__cache_r -> Option<V>`.
fn conversion(
    spec: &CacheSpec<'_>,
    func: &Function<'_>,
) -> (TokenStream, TokenStream, TokenStream) {
    let (v, r) = (local("__cache_v"), local("__cache_r"));
    let whole = || {
        (
            return_type(func),
            quote!(#v),
            quote!(::core::option::Option::Some(#r)),
        )
    };
    if spec.cache_none.is_some() || spec.cache_err.is_some() {
        return whole();
    }
    let Some(cached) = func.cached_type() else {
        return whole();
    };
    let value = cached.to_token_stream();
    let ok = quote!(::core::result::Result::Ok);
    match func.shape() {
        Shape::Whole => whole(),
        Shape::Result => (
            value,
            quote!(#ok(#v)),
            quote!(::core::result::Result::ok(#r)),
        ),
        Shape::Option => (value, quote!(::core::option::Option::Some(#v)), quote!(#r)),
        Shape::Json(json) => (
            value,
            quote!(#json(#v)),
            quote!({ let #json(#v) = #r; ::core::option::Option::Some(#v) }),
        ),
        Shape::ResultJson(json) => (
            value,
            quote!(#ok(#json(#v))),
            quote!(match #r {
                #ok(#json(#v)) => ::core::option::Option::Some(#v),
                _ => ::core::option::Option::None,
            }),
        ),
    }
}

/// Removes `mut` (and `ref`) from bindings: the companion binds references.
struct StripBindingMode;

impl VisitMut for StripBindingMode {
    fn visit_pat_ident_mut(&mut self, pat: &mut syn::PatIdent) {
        pat.mutability = None;
        pat.by_ref = None;
        syn::visit_mut::visit_pat_ident_mut(self, pat);
    }
}
