//! Stage 2, model: what the annotated function looks like.
//!
//! [`Function`] borrows the parsed item and records what the later stages ask about:
//! whether it is async, its receiver, the identifiers each parameter's pattern binds
//! (axum's `Path(id): Path<u64>` binds `id`), its generic parameters and its return type.
//! Every piece is a reference into the item, so errors can point at it.

use syn::visit::Visit;
use syn::{
    AttrStyle, Attribute, ConstParam, FnArg, GenericParam, Ident, ItemFn, Pat, PatIdent, Receiver,
    ReturnType, Type, TypeImplTrait, TypeReference,
};

/// The annotated function.
pub(crate) struct Function<'a> {
    /// The whole item, for its visibility, signature and body.
    pub(crate) item: &'a ItemFn,
    /// `#[...]` attributes, kept on the generated function.
    pub(crate) outer_attrs: Vec<&'a Attribute>,
    /// `#![...]` attributes, kept at the top of the generated body.
    pub(crate) inner_attrs: Vec<&'a Attribute>,
    /// `self`, `&self`, `&mut self` or `self: Type`.
    pub(crate) receiver: Option<&'a Receiver>,
    /// The typed parameters, in order.
    pub(crate) params: Vec<Param<'a>>,
    /// Generic type parameters: each one is part of the cache key through its type name.
    pub(crate) type_params: Vec<&'a Ident>,
    /// Const generic parameters (not supported by `#[cache_result]`).
    pub(crate) const_params: Vec<&'a ConstParam>,
    /// The declared return type; `None` for a function that returns `()`.
    pub(crate) output: Option<&'a Type>,
    /// The first `impl Trait` in the return type, which no generated code can name.
    pub(crate) output_impl_trait: Option<&'a TypeImplTrait>,
}

/// One typed parameter `pattern: Type`.
pub(crate) struct Param<'a> {
    /// The parameter's type.
    pub(crate) ty: &'a Type,
    /// The identifiers the pattern binds, in order (`(a, _, b)` binds `a` and `b`).
    pub(crate) bindings: Vec<&'a PatIdent>,
    /// True for a plain `name: Type` parameter, whose type is the binding's type.
    pub(crate) simple: bool,
    /// `State` or `Extension` when the type's last path segment is one of those axum
    /// extractors; such parameters are never part of the key.
    pub(crate) extractor: Option<&'a Ident>,
    /// The reference type when the parameter's type is `&T` or `&mut T`.
    pub(crate) reference: Option<&'a TypeReference>,
    /// The first `impl Trait` in the parameter's type.
    pub(crate) impl_trait: Option<&'a TypeImplTrait>,
}

impl<'a> Function<'a> {
    /// Reads the model out of a parsed function.
    pub(crate) fn from_item(item: &'a ItemFn) -> Self {
        let sig = &item.sig;
        let (outer_attrs, inner_attrs) = item
            .attrs
            .iter()
            .partition(|attr| matches!(attr.style, AttrStyle::Outer));
        let mut receiver = None;
        let mut params = Vec::new();
        for input in &sig.inputs {
            match input {
                FnArg::Receiver(recv) => receiver = Some(recv),
                FnArg::Typed(typed) => params.push(Param::new(&typed.pat, &typed.ty)),
            }
        }
        let mut type_params = Vec::new();
        let mut const_params = Vec::new();
        for param in &sig.generics.params {
            match param {
                GenericParam::Type(ty) => type_params.push(&ty.ident),
                GenericParam::Const(c) => const_params.push(c),
                GenericParam::Lifetime(_) => {}
            }
        }
        let output = match &sig.output {
            ReturnType::Default => None,
            ReturnType::Type(_, ty) => Some(&**ty),
        };
        Function {
            item,
            outer_attrs,
            inner_attrs,
            receiver,
            params,
            type_params,
            const_params,
            output,
            output_impl_trait: output.and_then(first_impl_trait),
        }
    }

    /// The function's name.
    pub(crate) fn ident(&self) -> &'a Ident {
        &self.item.sig.ident
    }

    /// True for `async fn`.
    pub(crate) fn is_async(&self) -> bool {
        self.item.sig.asyncness.is_some()
    }
}

impl<'a> Param<'a> {
    fn new(pat: &'a Pat, ty: &'a Type) -> Self {
        let mut bindings = Vec::new();
        collect_bindings(pat, &mut bindings);
        Param {
            ty,
            simple: matches!(pat, Pat::Ident(p) if p.subpat.is_none()),
            bindings,
            extractor: extractor(ty),
            reference: match ty {
                Type::Reference(r) => Some(r),
                _ => None,
            },
            impl_trait: first_impl_trait(ty),
        }
    }
}

/// Pushes every identifier that `pat` binds, left to right.
fn collect_bindings<'a>(pat: &'a Pat, out: &mut Vec<&'a PatIdent>) {
    match pat {
        Pat::Ident(p) => {
            out.push(p);
            if let Some((_, sub)) = &p.subpat {
                collect_bindings(sub, out);
            }
        }
        Pat::Tuple(p) => p.elems.iter().for_each(|e| collect_bindings(e, out)),
        Pat::TupleStruct(p) => p.elems.iter().for_each(|e| collect_bindings(e, out)),
        Pat::Struct(p) => p.fields.iter().for_each(|f| collect_bindings(&f.pat, out)),
        Pat::Slice(p) => p.elems.iter().for_each(|e| collect_bindings(e, out)),
        Pat::Reference(p) => collect_bindings(&p.pat, out),
        Pat::Paren(p) => collect_bindings(&p.pat, out),
        Pat::Type(p) => collect_bindings(&p.pat, out),
        // Every alternative binds the same names; the first one lists them.
        Pat::Or(p) => {
            if let Some(first) = p.cases.first() {
                collect_bindings(first, out);
            }
        }
        // `_`, `..`, literals, ranges, paths and macros bind nothing we can see.
        _ => {}
    }
}

/// `State` or `Extension` when that is the last path segment of `ty`.
fn extractor(ty: &Type) -> Option<&Ident> {
    let Type::Path(path) = ty else { return None };
    let last = &path.path.segments.last()?.ident;
    (last == "State" || last == "Extension").then_some(last)
}

/// The first `impl Trait` anywhere inside `ty`.
fn first_impl_trait(ty: &Type) -> Option<&TypeImplTrait> {
    struct Find<'a>(Option<&'a TypeImplTrait>);
    impl<'a> Visit<'a> for Find<'a> {
        fn visit_type_impl_trait(&mut self, node: &'a TypeImplTrait) {
            self.0.get_or_insert(node);
        }
    }
    let mut find = Find(None);
    find.visit_type(ty);
    find.0
}
