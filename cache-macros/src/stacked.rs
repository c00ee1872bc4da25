//! The two attributes' entry points, and one stacked on the other: parse the function,
//! expand the inner attribute first when both are present, validate, then hand over to
//! [`expand`] for the wrapper and the companion `<fn>_entry`.

use proc_macro2::TokenStream;
use quote::ToTokens;
use syn::{AttrStyle, ItemFn, Meta};

use crate::ast::Function;
use crate::attr::{CacheArgs, TimerArgs};
use crate::errors::{self, fallback};
use crate::{expand, valid};

/// Entry point of `#[cache_result]`.
pub(crate) fn cache_result(args: TokenStream, mut input: TokenStream) -> TokenStream {
    try_cache_result(args, &mut input).unwrap_or_else(|error| fallback(input, &error))
}

/// Entry point of `#[performance_timer]`.
pub(crate) fn performance_timer(args: TokenStream, mut input: TokenStream) -> TokenStream {
    try_performance_timer(args, &mut input).unwrap_or_else(|error| fallback(input, &error))
}

/// One of the two attributes of this crate.
#[derive(Clone, Copy)]
enum Attribute {
    Cache,
    Timer,
}

impl Attribute {
    fn name(self) -> &'static str {
        match self {
            Attribute::Cache => "cache_result",
            Attribute::Timer => "performance_timer",
        }
    }

    /// The attribute that can be stacked on this one.
    fn other(self) -> Self {
        match self {
            Attribute::Cache => Attribute::Timer,
            Attribute::Timer => Attribute::Cache,
        }
    }
}

/// Parse, validate, expand. `input` is left as the item to emit if this fails.
fn try_cache_result(args: TokenStream, input: &mut TokenStream) -> syn::Result<TokenStream> {
    stacked(input, Attribute::Cache, |item| {
        let args: CacheArgs = syn::parse2(args)?;
        let func = Function::from_item(item);
        let spec = valid::cache(&args, &func)?;
        let mut out = if spec.refresh_ahead.is_some() || spec.soft_timeout_ms > 0 {
            expand::cache_refresh_ahead(&spec, &func)
        } else {
            expand::cache_plain(&spec, &func)
        };
        if spec.entry && !expand::key_uses_self(&spec) {
            out.extend(expand::entry_fn(&spec, &func));
        }
        Ok(out)
    })
}

/// Parse, validate, expand. `input` is left as the item to emit if this fails.
fn try_performance_timer(args: TokenStream, input: &mut TokenStream) -> syn::Result<TokenStream> {
    stacked(input, Attribute::Timer, |item| {
        let args: TimerArgs = syn::parse2(args)?;
        let func = Function::from_item(item);
        let spec = valid::timer(&args, &func)?;
        Ok(expand::timer(&spec, &func))
    })
}

/// Runs `expand` on the function after the other attribute's expansion, when it is
/// written below `this` one, followed by the items that one generated; the errors of both
/// together.
fn stacked(
    input: &mut TokenStream,
    this: Attribute,
    expand: impl FnOnce(&ItemFn) -> syn::Result<TokenStream>,
) -> syn::Result<TokenStream> {
    let (item, inner, extra) = parse_and_expand_inner(input, this)?;
    let expanded = expand(&item).map(|mut out| {
        out.extend(extra);
        out
    });
    combine(inner, expanded)
}

/// Parses the function and, when the other attribute of this crate is written below
/// this one, expands that one first, so that the attribute written first wraps the
/// other, as decorators read: `#[performance_timer] #[cache_result(..)]` times every
/// call, hits included, and `#[cache_result(..)] #[performance_timer]` times the calls
/// that run the body. (Left to the compiler, the attribute written last would wrap.)
///
/// Returns the function to expand, the inner attribute's errors, if any, and the items
/// the inner attribute generated beside the function (the companion `<fn>_entry`); on
/// error `input` becomes the function without the inner attribute, so that its errors
/// are not reported twice.
fn parse_and_expand_inner(
    input: &mut TokenStream,
    this: Attribute,
) -> syn::Result<(ItemFn, Option<syn::Error>, TokenStream)> {
    let other = this.other();
    let mut item = parse_fn(input, this)?;
    let position = item.attrs.iter().position(|attr| {
        matches!(attr.style, AttrStyle::Outer)
            && attr
                .path()
                .segments
                .last()
                .is_some_and(|s| s.ident == other.name())
    });
    let Some(position) = position else {
        return Ok((item, None, TokenStream::new()));
    };
    let attr = item.attrs.remove(position);
    *input = item.to_token_stream();
    let args = match &attr.meta {
        Meta::Path(_) => TokenStream::new(),
        Meta::List(list) => list.tokens.clone(),
        Meta::NameValue(meta) => {
            let message = format!("write `#[{}(...)]`", other.name());
            let error = syn::Error::new_spanned(meta, message);
            return Ok((item, Some(error), TokenStream::new()));
        }
    };
    let mut inner_input = input.clone();
    let expanded = match other {
        Attribute::Cache => try_cache_result(args, &mut inner_input),
        Attribute::Timer => try_performance_timer(args, &mut inner_input),
    };
    match expanded.and_then(|tokens| parse_fn_and_rest(&tokens, other)) {
        Ok((mut expanded, extra)) => {
            // The compiler never resolves the inner attribute's path now, so the user's
            // `use cache_runtime::performance_timer;` would be reported unused: resolve it
            // here. Written with the user's tokens, it resolves where they wrote it.
            let path = attr.path();
            expanded.block.stmts.insert(
                0,
                syn::parse_quote!(#[allow(unused_imports)] use #path as _;),
            );
            Ok((expanded, None, extra))
        }
        Err(error) => Ok((item, Some(error), TokenStream::new())),
    }
}

/// The function an expansion begins with, and the items after it.
fn parse_fn_and_rest(tokens: &TokenStream, attr: Attribute) -> syn::Result<(ItemFn, TokenStream)> {
    let parser = |input: syn::parse::ParseStream<'_>| {
        let first: ItemFn = input.parse()?;
        let rest: TokenStream = input.parse()?;
        Ok((first, rest))
    };
    syn::parse::Parser::parse2(parser, tokens.clone())
        .or_else(|_| parse_fn(tokens, attr).map(|item| (item, TokenStream::new())))
}

/// The errors of both attributes together, or the expansion.
fn combine(
    inner: Option<syn::Error>,
    expanded: syn::Result<TokenStream>,
) -> syn::Result<TokenStream> {
    match (inner, expanded) {
        (None, expanded) => expanded,
        (Some(inner), Ok(_)) => Err(inner),
        (Some(mut inner), Err(error)) => {
            inner.combine(error);
            Err(inner)
        }
    }
}

fn parse_fn(input: &TokenStream, attr: Attribute) -> syn::Result<ItemFn> {
    errors::parse_fn(input, attr.name(), "async fn load(id: u64) -> User { .. }")
}
