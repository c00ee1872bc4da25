//! The user's function around its new body, and the original body as a value the
//! runtime can run: the pieces every expansion of this crate is made of.

use proc_macro2::{Span, TokenStream};
use quote::{ToTokens, quote};
use syn::{Block, Ident, Signature};

use crate::ast::Function;

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
pub(super) fn compute(func: &Function<'_>, block: &Block) -> TokenStream {
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
