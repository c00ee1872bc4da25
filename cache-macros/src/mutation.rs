//! `#[cache_invalidate(..)]` and `#[cache_put(..)]`, the attributes of functions that
//! change data: the same four stages as `#[cache_result]`, small enough for one file.
//!
//! A target `user_channels(user_id)` names an entry of a cached function by its
//! arguments; it becomes a call of the companion `user_channels_entry(&user_id)`, so the
//! compiler checks the arguments' number and types against the cached function's key.

use proc_macro2::{Span, TokenStream};
use quote::{format_ident, quote, quote_spanned};
use syn::punctuated::Punctuated;
use syn::spanned::Spanned;
use syn::{Expr, ExprCall, ExprPath, Lit, Token};

use crate::ast::Function;
use crate::errors::{Errors, fallback, parse_fn, repeated};
use crate::expand::{async_block, function, kind_adapter, local, return_type, sync_closure};
use crate::private::Private;

/// Which of the two attributes.
#[derive(Clone, Copy, PartialEq)]
enum Which {
    Invalidate,
    Put,
}

impl Which {
    fn name(self) -> &'static str {
        match self {
            Which::Invalidate => "cache_invalidate",
            Which::Put => "cache_put",
        }
    }
}

/// Stage 1 and 3 together: what the attribute asks for, checked.
struct Spec<'a> {
    /// `user_channels(user_id)`: the companion's path and the arguments.
    entries: Vec<(ExprPath, Vec<&'a Expr>, Span)>,
    /// `cache = "name"` (or `cache = ["a", "b"]`): whole caches to drop.
    caches: Vec<&'a Expr>,
    /// `tags = [..]`.
    tags: Vec<&'a Expr>,
    /// `before = true`: drop before the body runs, whatever it returns.
    before: bool,
    /// `expire = true`: expire instead of drop (soft invalidation: `expire`, `expire_all`,
    /// `expire_tag`), so each entry stays as its fail-safe copy.
    expire: bool,
}

/// Entry point of `#[cache_invalidate]`.
pub(crate) fn cache_invalidate(args: TokenStream, input: TokenStream) -> TokenStream {
    expand(Which::Invalidate, args, input)
}

/// Entry point of `#[cache_put]`.
pub(crate) fn cache_put(args: TokenStream, input: TokenStream) -> TokenStream {
    expand(Which::Put, args, input)
}

fn expand(which: Which, args: TokenStream, input: TokenStream) -> TokenStream {
    let result = (|| {
        let example = "async fn rename(id: u64) -> Result<(), E> { .. }";
        let item = parse_fn(&input, which.name(), example)?;
        let parser = Punctuated::<Expr, Token![,]>::parse_terminated;
        let args = syn::parse::Parser::parse2(parser, args)?;
        let spec = validate(which, &args)?;
        let func = Function::from_item(&item);
        Ok(match which {
            Which::Invalidate => invalidate(&spec, &func),
            Which::Put => put(&spec, &func),
        })
    })();
    result.unwrap_or_else(|error| fallback(input, &error))
}

fn validate<'a>(which: Which, args: &'a Punctuated<Expr, Token![,]>) -> syn::Result<Spec<'a>> {
    let mut errors = Errors::default();
    let mut spec = Spec {
        entries: Vec::new(),
        caches: Vec::new(),
        tags: Vec::new(),
        before: false,
        expire: false,
    };
    let mut seen: Vec<String> = Vec::new();
    for arg in args {
        match arg {
            Expr::Call(ExprCall { func, args, .. }) if matches!(&**func, Expr::Path(_)) => {
                let Expr::Path(path) = &**func else {
                    continue;
                };
                let mut companion = path.clone();
                if let Some(last) = companion.path.segments.last_mut() {
                    let name = last.ident.to_string();
                    let name = name.strip_prefix("r#").unwrap_or(&name).to_owned();
                    last.ident = format_ident!("{}_entry", name, span = last.ident.span());
                }
                spec.entries
                    .push((companion, args.iter().collect(), arg.span()));
            }
            Expr::Assign(assign) if which == Which::Invalidate => {
                let Expr::Path(key) = &*assign.left else {
                    errors.add(&assign.left, "expected an option name: `cache`, `tags`, `before` or `expire`");
                    continue;
                };
                let name = key
                    .path
                    .get_ident()
                    .map(ToString::to_string)
                    .unwrap_or_default();
                if seen.contains(&name) {
                    repeated(key, &name, &mut errors);
                    continue;
                }
                seen.push(name.clone());
                let value = &*assign.right;
                match name.as_str() {
                    "cache" => match value {
                        Expr::Array(array) if !array.elems.is_empty() => {
                            spec.caches.extend(array.elems.iter());
                        }
                        Expr::Lit(lit) if matches!(lit.lit, Lit::Str(_)) => spec.caches.push(value),
                        other => errors.add(other,
                            "`cache` takes a cache name, `cache = \"top_posts\"`, or several, `cache = [\"a\", \"b\"]`",
                        ),
                    },
                    "tags" => match value {
                        Expr::Array(array) if !array.elems.is_empty() => {
                            spec.tags.extend(array.elems.iter());
                        }
                        other => errors.add(other,
                            "`tags` takes an array of expressions, e.g. `tags = [format!(\"user:{id}\")]`",
                        ),
                    },
                    "before" => match value {
                        Expr::Lit(lit) if matches!(lit.lit, Lit::Bool(_)) => {
                            spec.before = matches!(&lit.lit, Lit::Bool(b) if b.value);
                        }
                        other => errors.add(other, "`before` takes `true` or `false`"),
                    },
                    "expire" => match value {
                        Expr::Lit(lit) if matches!(lit.lit, Lit::Bool(_)) => {
                            spec.expire = matches!(&lit.lit, Lit::Bool(b) if b.value);
                        }
                        other => errors.add(other,
                            "`expire` takes `true` (expire the entries, keeping each as its fail-safe copy) or `false`",
                        ),
                    },
                    _ => errors.add(key,
                        format!("unknown option `{name}`; `#[cache_invalidate]` takes entries such as `user_channels(user_id)`, `cache = \"name\"`, `tags = [..]`, `before = true` and `expire = true`"),
                    ),
                }
            }
            other => errors.add(other,
                match which {
                    Which::Invalidate => "expected an entry of a cached function, such as `user_channels(user_id)` or `Self::load(id)`, or `cache = \"name\"`, `tags = [..]`, `before = true`, `expire = true`",
                    Which::Put => "expected the entry to store the result as, such as `user_channels(user_id)` or `Self::load(id)`",
                },
            ),
        }
    }
    let span = Span::call_site();
    match which {
        Which::Invalidate
            if spec.entries.is_empty()
                && spec.caches.is_empty()
                && spec.tags.is_empty()
                && errors.is_empty() =>
        {
            errors.add(quote_spanned!(span=> cache_invalidate),
                "`#[cache_invalidate]` needs something to drop (or with `expire = true`, to expire): an entry such as `user_channels(user_id)`, `cache = \"name\"` or `tags = [..]`",
            );
        }
        Which::Put if spec.entries.len() != 1 => {
            let message = "`#[cache_put]` takes exactly one entry to store the result as, such as `#[cache_put(user_channels(user_id))]`";
            match spec.entries.get(1) {
                Some((path, _, _)) => errors.add(path, message),
                None => errors.add(quote_spanned!(span=> cache_put), message),
            }
        }
        _ => {}
    }
    errors.finish(Some(spec))
}

/// `name_entry(&a, &b)`, spanned on the target the user wrote.
fn entry_call((path, args, span): &(ExprPath, Vec<&Expr>, Span)) -> TokenStream {
    let args = args.iter().map(|arg| quote_spanned!(arg.span()=> &(#arg)));
    quote_spanned!(*span=> #path(#(#args),*))
}

/// The body as a value: `async move { body }.await` or `(move || -> R { body })()`.
fn run_body(func: &Function<'_>) -> TokenStream {
    if func.is_async() {
        let block = async_block(func, &func.item.block);
        quote!(#block.await)
    } else {
        let closure = sync_closure(func, &func.item.block);
        quote!((#closure)())
    }
}

// Input:
//     #[cache_invalidate(user_channels(user.id), cache = "top_posts", tags = [format!("user:{}", user.id)])]
//     async fn rename(db: &Db, user: &User, name: String) -> Result<Channel, ApiError> { body }
//
// Output:
//     async fn rename(db: &Db, user: &User, name: String) -> Result<Channel, ApiError> {
//         let __cache_entries = (user_channels_entry(&(user.id)),);  // before the body moves anything
//         let __cache_tags = [__private::tag(format!("user:{}", user.id))];
//         let __cache_drop = move || { __cache_entries.0.invalidate();
//             __private::global().invalidate_all("top_posts");
//             for t in &__cache_tags { __private::global().invalidate_tag(t); } };
//         let __cache_result: Result<Channel, ApiError> = async move { body }.await;
//         if { use __private::success::*; (&&__private::SuccessKind::<R>::new()).succeeded_fn() }(&__cache_result) {
//             __cache_drop();
//         }
//         __cache_result
//     }
//
// With `before = true` the drop runs first, and always. With `expire = true` the drop
// calls `expire()`, `expire_all` and `expire_tag` instead. A sync fn runs the body as
// `(move || -> R { body })()`.
fn invalidate(spec: &Spec<'_>, func: &Function<'_>) -> TokenStream {
    let p = Private::new();
    let ret = return_type(func);
    let (entries, tags, drop, result, ok) = (
        local("__cache_entries"),
        local("__cache_tags"),
        local("__cache_drop"),
        local("__cache_result"),
        local("__cache_ok"),
    );
    let calls = spec.entries.iter().map(entry_call);
    let indices = (0..spec.entries.len()).map(syn::Index::from);
    let tag_values = spec.tags.iter().map(|expr| {
        let at = Private::at(expr.span());
        quote_spanned!(expr.span()=> #at::tag(#expr))
    });
    let caches = &spec.caches;
    let t = local("__cache_tag");
    let (one, all, tag) = if spec.expire {
        (quote!(expire), quote!(expire_all), quote!(expire_tag))
    } else {
        (
            quote!(invalidate),
            quote!(invalidate_all),
            quote!(invalidate_tag),
        )
    };
    let prepare = quote! {
        let #entries = (#(#calls,)*);
        let #tags: ::std::vec::Vec<::std::string::String> = ::std::vec![#(#tag_values),*];
        let #drop = move || {
            #(let _ = #entries.#indices.#one();)*
            #(#p::global().#all(#caches);)*
            for #t in &#tags {
                #p::global().#tag(#t);
            }
        };
    };
    let body = run_body(func);
    let block = if spec.before {
        quote! {
            #prepare
            #drop();
            #body
        }
    } else {
        quote! {
            #prepare
            let #result: #ret = #body;
            let #ok = {
                use #p::success::*;
                (&&#p::SuccessKind::<#ret>::new()).succeeded_fn()
            };
            if #ok(&#result) {
                #drop();
            }
            #result
        }
    };
    function(func, &func.item.sig, &block)
}

// Input:
//     #[cache_put(user_channels(user.id))]
//     async fn add_channel(db: &Db, user: &User, new: NewChannel) -> Result<UserChannels, ApiError> { body }
//
// Output:
//     async fn add_channel(..) -> Result<UserChannels, ApiError> {
//         let __cache_entry = user_channels_entry(&(user.id));
//         let __cache_result: Result<UserChannels, ApiError> = async move { body }.await;
//         match Adapter::split(/* adapter of R */, __cache_result) {
//             Ok(v) => { __cache_entry.put_async(v.clone()).await; Adapter::rebuild(a, v) }
//             Err(r) => r,
//         }
//     }
//
// `put` takes the entry's `V`, so a cached part of `R` of another type is a type error on
// the target. A sync fn uses `put`.
fn put(spec: &Spec<'_>, func: &Function<'_>) -> TokenStream {
    let p = Private::new();
    let ret = return_type(func);
    let target = &spec.entries[0];
    let call = entry_call(target);
    let (entry, result) = (local("__cache_entry"), local("__cache_result"));
    let body = run_body(func);
    let adapter = local("__cache_adapter");
    // Located at the target, so that a value of the wrong type is reported there.
    let value = proc_macro2::Ident::new("__cache_value", Span::mixed_site().located_at(target.2));
    let select = kind_adapter(&ret);
    // Spanned on the target: a value type that is not the entry's is reported there.
    let put = if func.is_async() {
        quote_spanned!(target.2=> #entry.put_async(#value.clone()).await)
    } else {
        quote_spanned!(target.2=> #entry.put(#value.clone()))
    };
    let store = quote! {{
        let #adapter = #select;
        match #p::Adapter::split(#adapter, #result) {
            ::core::result::Result::Ok(#value) => {
                #put;
                #p::Adapter::rebuild(#adapter, #value)
            }
            ::core::result::Result::Err(#result) => #result,
        }
    }};
    let block = quote! {
        let #entry = #call;
        let #result: #ret = #body;
        #store
    };
    function(func, &func.item.sig, &block)
}
