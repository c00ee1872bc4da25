//! The wrapper of a `#[performance_timer]` function.

use proc_macro2::{Literal, TokenStream};
use quote::{ToTokens, quote};

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
