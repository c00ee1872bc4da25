//! The wrapper of a `#[performance_timer]` function.

use proc_macro2::{Literal, Span, TokenStream};
use quote::{ToTokens, quote};
use syn::LitStr;

use super::body::{async_block, function, location, return_type, sync_closure};
use crate::ast::{Function, TimerSpec};
use crate::private::Private;

// Input:
//     #[performance_timer("load", slow = "250ms")]
//     async fn load(id: u64) -> R { body }
//
// Output:
//     async fn load(id: u64) -> R {
//         static __TIMER_SITE: __private::TimerSite = __private::TimerSite::new("load", 250);
//         let __timer_span = if __private::tracing::dispatcher::has_been_set() {
//             __private::CallSpan::new(
//                 __private::tracing::info_span!("load", code.function = "load",
//                     code.namespace = module_path!(), error.type = __private::tracing::field::Empty),
//                 { use __private::err_kind::*; (&&__private::ErrKind::<R>::new()).error_type_fn() },
//             )
//         } else {
//             __private::CallSpan::NONE
//         };
//         __private::time_async_in(
//             &__TIMER_SITE,
//             { use __private::err_kind::*; (&&__private::ErrKind::<R>::new()).is_error_fn() },
//             __timer_span,
//             async move { body },
//         )
//         .await
//     }
//
// A sync fn gets `__private::time_sync_in(&__TIMER_SITE, is_error, __timer_span,
// move || -> R { body })`. Without a name the timer is named
// `concat!(module_path!(), "::", "load")`. `span = false` passes `__private::CallSpan::NONE`:
// no callsite at all.
pub(crate) fn timer(spec: &TimerSpec<'_>, func: &Function<'_>) -> TokenStream {
    let p = Private::new();
    let name = match spec.name {
        Some(name) => name.to_token_stream(),
        None => location(func),
    };
    let slow_ms = Literal::u64_unsuffixed(spec.slow_ms);
    let (is_error, error_type) = match func.output_impl_trait {
        // An `impl Trait` value cannot be named, so it is never counted as an error.
        Some(_) => (quote!(|_| false), quote!(|| "_OTHER")),
        None => {
            let ret = return_type(func);
            let kind = quote!((&&#p::ErrKind::<#ret>::new()));
            (
                quote!({ use #p::err_kind::*; #kind.is_error_fn() }),
                quote!({ use #p::err_kind::*; #kind.error_type_fn() }),
            )
        }
    };
    let span = if spec.span {
        let function = LitStr::new(&func.item.sig.ident.to_string(), Span::call_site());
        // `has_been_set` first: one relaxed load, false until a subscriber was ever set
        // (globally or scoped), so that without one nothing of `span!` runs (with
        // `tracing`'s `log` feature its disabled branch still builds the fields for `log`).
        quote! {
            if #p::tracing::dispatcher::has_been_set() {
                #p::CallSpan::new(
                    #p::tracing::info_span!(
                        #name,
                        code.function = #function,
                        code.namespace = ::core::module_path!(),
                        error.type = #p::tracing::field::Empty,
                    ),
                    #error_type,
                )
            } else {
                #p::CallSpan::NONE
            }
        }
    } else {
        quote!(#p::CallSpan::NONE)
    };
    let timed = if func.is_async() {
        let future = async_block(func, func.item.block.as_ref());
        quote!(#p::time_async_in(&__TIMER_SITE, #is_error, __timer_span, #future).await)
    } else {
        let closure = sync_closure(func, func.item.block.as_ref());
        quote!(#p::time_sync_in(&__TIMER_SITE, #is_error, __timer_span, #closure))
    };
    let body = quote! {
        static __TIMER_SITE: #p::TimerSite = #p::TimerSite::new(#name, #slow_ms);
        let __timer_span = #span;
        #timed
    };
    function(func, &func.item.sig, &body)
}
