//! The cached value: which part of the return type is cached (the adapter), and the
//! bound check that reports a value that cannot be cached on the user's type.

use proc_macro2::{Delimiter, Group, Span, TokenStream};
use quote::{ToTokens, quote, quote_spanned};
use syn::spanned::Spanned;

use super::body::{local, return_type};
use crate::ast::{CacheSpec, Function, span_range};
use crate::private::Private;

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
// `assert_option::<R>()`), which caches `R` whole; with `cache_err = choose` it is
// `__private::chosen_errors::<R>(choose)`, which caches `R` whole when it is `Ok` or an
// error `choose` picks (a non-`Result` `R` is reported at `cache_err`).
pub(super) fn adapter(spec: &CacheSpec<'_>, func: &Function<'_>) -> TokenStream {
    let p = Private::new();
    let ret = return_type(func);
    let raw = local("__cache_raw_adapter");
    let select = raw_adapter(spec, &ret);
    let cached = if spec.cache_none.is_some() || spec.cache_err.is_some() {
        func.output
    } else {
        func.cached_type()
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
    let checked = checked_adapter(&ret, &raw.to_token_stream());
    quote! {{
        let #raw = #select;
        fn cache_result<R, A: #p::CachedPart<R>>(_: &#p::Checked<R, A>)
        where
            <A as #p::CachedPart<R>>::Value: #p::CacheValue,
        {
        }
        let _ = || #check;
        #checked
    }}
}

/// The adapter as the options choose it, before the check of what it caches: `R` whole
/// with `cache_none`, `R` when `Ok` or a chosen error with `cache_err`, else the part of
/// `R` its type says.
fn raw_adapter(spec: &CacheSpec<'_>, ret: &TokenStream) -> TokenStream {
    let p = Private::new();
    if let Some(token) = spec.cache_none {
        let at = Private::at(token.span());
        return quote_spanned! {token.span()=> {
            #at::assert_option::<#ret>();
            #p::whole::<#ret>()
        }};
    }
    if let Some(choose) = spec.cache_err {
        let at = Private::at(choose.span());
        return quote_spanned! {choose.span()=>
            #at::chosen_errors::<#ret>(#choose)
        };
    }
    kind_adapter(ret)
}

/// `{ use __private::kind::*; (&&&&__private::Kind::<R>::new()).adapter() }`: the adapter
/// for the part of `R` that its type says is cached (`Ok`, `Some`, `Json` or the whole).
pub(crate) fn kind_adapter(ret: &TokenStream) -> TokenStream {
    let p = Private::new();
    quote! {{
        use #p::kind::*;
        (&&&&#p::Kind::<#ret>::new()).adapter()
    }}
}

/// `{ use __private::checked::*; (&__private::Checked::<R, _>::new(raw)).adapter() }`:
/// `raw` when the value it caches can be cached, else `Uncacheable`, with which the rest of
/// the expansion type-checks after the one error of the check.
pub(crate) fn checked_adapter(ret: &TokenStream, raw: &TokenStream) -> TokenStream {
    let p = Private::new();
    quote! {{
        use #p::checked::*;
        (&#p::Checked::<#ret, _>::new(#raw)).adapter()
    }}
}
