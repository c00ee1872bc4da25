//! The one place that names the runtime's private module.
//!
//! Generated code reaches the runtime only through `::cache_runtime::__private`, and
//! every expansion interpolates [`Private`] instead of spelling that path itself. The
//! runtime pins this crate's exact version, so the two always agree on what is there.

use proc_macro2::{Span, TokenStream};
use quote::{ToTokens, quote_spanned};

/// Expands to `::cache_runtime::__private`.
#[derive(Clone, Copy)]
pub(crate) struct Private {
    span: Span,
}

impl Private {
    /// The path with call-site spans, for code whose errors are not the user's to fix.
    pub(crate) fn new() -> Self {
        Self {
            span: Span::call_site(),
        }
    }

    /// The path spanned on a token the user wrote, so that a trait-bound error in the
    /// generated call is reported at that token.
    pub(crate) fn at(span: Span) -> Self {
        Self { span }
    }
}

impl ToTokens for Private {
    fn to_tokens(&self, tokens: &mut TokenStream) {
        tokens.extend(quote_spanned!(self.span=> ::cache_runtime::__private));
    }
}
