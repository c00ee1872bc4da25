//! The errors of one attribute: collected, so that one compile reports all of them
//! (serde_derive's `Ctxt`), and emitted after the user's item, so that one mistake does not
//! cascade into unresolved names where the function is called (thiserror's `fallback`).
//!
//! Every attribute of this crate reports through here: [`Errors`] to collect, [`repeated`]
//! for an option written twice, [`fallback`] to emit.

use std::fmt::Display;

use proc_macro2::{Span, TokenStream};
use quote::ToTokens;

/// Errors collected so far.
#[derive(Default)]
pub(crate) struct Errors(Option<syn::Error>);

impl Errors {
    /// An error on the tokens the user wrote.
    pub(crate) fn add(&mut self, tokens: impl ToTokens, message: impl Display) {
        self.push(syn::Error::new_spanned(tokens, message));
    }

    /// An error at a span, for a problem no token shows (a missing argument).
    pub(crate) fn add_at(&mut self, span: Span, message: impl Display) {
        self.push(syn::Error::new(span, message));
    }

    /// Adds one error.
    pub(crate) fn push(&mut self, error: syn::Error) {
        match &mut self.0 {
            Some(first) => first.combine(error),
            None => self.0 = Some(error),
        }
    }

    /// The value of a read that succeeded; the error of one that failed is kept.
    pub(crate) fn ok<T>(&mut self, result: syn::Result<T>) -> Option<T> {
        result.map_err(|error| self.push(error)).ok()
    }

    /// True when nothing was reported.
    pub(crate) fn is_empty(&self) -> bool {
        self.0.is_none()
    }

    /// Every error together, or `value` when there was none.
    pub(crate) fn finish<T>(self, value: Option<T>) -> syn::Result<T> {
        match (self.0, value) {
            (Some(error), _) => Err(error),
            (None, Some(value)) => Ok(value),
            (None, None) => Err(syn::Error::new(
                Span::call_site(),
                "invalid attribute arguments",
            )),
        }
    }
}

/// The one duplicate-option message, on the second occurrence of `key`.
pub(crate) fn repeated(key: impl ToTokens, name: impl Display, errors: &mut Errors) {
    errors.add(
        key,
        format!("`{name}` specified more than once; keep one of them"),
    );
}

/// Names as a message lists them: "`a`, `b`, `c`".
pub(crate) fn code_list(names: impl IntoIterator<Item = impl Display>) -> String {
    names
        .into_iter()
        .map(|name| format!("`{name}`"))
        .collect::<Vec<_>>()
        .join(", ")
}

/// The user's item unchanged, followed by the errors: one mistake then produces one
/// error instead of a cascade of unresolved names where the function is called.
pub(crate) fn fallback(mut input: TokenStream, error: &syn::Error) -> TokenStream {
    input.extend(error.to_compile_error());
    input
}

/// The function an attribute of this crate is on, or the error that says it must be one:
/// "`#[name]` goes on a function with a body, such as `example`".
pub(crate) fn parse_fn(input: &TokenStream, name: &str, example: &str) -> syn::Result<syn::ItemFn> {
    syn::parse2(input.clone()).map_err(|_| {
        syn::Error::new_spanned(
            input,
            format!("`#[{name}]` goes on a function with a body, such as `{example}`"),
        )
    })
}
