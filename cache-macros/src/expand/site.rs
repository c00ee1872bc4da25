//! What the runtime is told about a cache: the static `SiteSpec` of the call site, and
//! the store rules (`unless`, `ttl_from`) a value is kept by.

use proc_macro2::{Literal, TokenStream};
use quote::{format_ident, quote, quote_spanned};
use syn::spanned::Spanned;

use super::body::location;
use crate::ast::{CacheSpec, Function};
use crate::private::Private;

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
    let tier = format_ident!("{}", ["Both", "Local", "Remote"][usize::from(spec.tier)]);
    let lock = spec.lock;
    let disk = spec.disk;
    let max_concurrent = Literal::u32_unsuffixed(spec.max_concurrent);
    let only_if_slower_ms = Literal::u64_unsuffixed(spec.only_if_slower_ms);
    let hard_timeout_ms = Literal::u64_unsuffixed(spec.hard_timeout.map_or(0, |(_, ms)| ms));
    let soft_timeout_ms = Literal::u64_unsuffixed(spec.soft_timeout_ms);
    let fail_throttle_ms = Literal::u64_unsuffixed(spec.fail_throttle_ms);
    let local_ttl_ms = Literal::u64_unsuffixed(spec.local_ttl_ms);
    let tti_ms = Literal::u64_unsuffixed(spec.tti_ms);
    let capacity_bytes = Literal::u64_unsuffixed(spec.capacity_bytes);
    // A `None` and an error are never both cached: at most one is given.
    let short_ttl_ms = Literal::u64_unsuffixed(spec.none_ttl_ms.max(spec.err_ttl_ms));
    quote! {
        static __CACHE_SITE: #p::CacheSite = #p::CacheSite::new(#p::SiteSpec {
            name: #name,
            location: #location,
            ttl_ms: #ttl_ms,
            version: #version,
            stale_if_error_ms: #stale_if_error_ms,
            refresh_ahead: #refresh_ahead,
            max_bytes: #max_bytes,
            tier: #p::Tier::#tier,
            lock: #lock,
            max_concurrent: #max_concurrent,
            only_if_slower_ms: #only_if_slower_ms,
            hard_timeout_ms: #hard_timeout_ms,
            soft_timeout_ms: #soft_timeout_ms,
            fail_throttle_ms: #fail_throttle_ms,
            local_ttl_ms: #local_ttl_ms,
            short_ttl_ms: #short_ttl_ms,
            disk: #disk,
            tti_ms: #tti_ms,
            capacity_bytes: #capacity_bytes,
        });
    }
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
