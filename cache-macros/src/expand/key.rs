//! The cache key: the code that encodes it from the arguments (or from `key = ..`), and
//! the bound checks that report an input that cannot be encoded on the user's type.

use proc_macro2::{Delimiter, Group, Span, TokenStream, TokenTree};
use quote::{ToTokens, quote, quote_spanned};
use syn::spanned::Spanned;

use super::body::local;
use crate::ast::{CacheSpec, Function, span_range};
use crate::private::Private;

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
