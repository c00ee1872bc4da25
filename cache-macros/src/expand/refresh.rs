//! The wrapper of a `#[cache_result]` function whose body may run after the call has
//! returned (`refresh_ahead`, `soft_timeout`): on clones of its arguments and of `self`.

use proc_macro2::{Group, TokenStream, TokenTree};
use quote::{format_ident, quote, quote_spanned};
use syn::spanned::Spanned;
use syn::visit_mut::VisitMut;
use syn::{ExprPath, Ident, Item, Macro, Pat, Type};

use super::body::{compute, function, local};
use super::cached::{
    at_value, cache_head, method, value_span, with_overload, with_rules, with_tags,
};
use crate::ast::{CacheSpec, Function};
use crate::private::Private;

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
    let extra = with_rules(spec, func);
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
