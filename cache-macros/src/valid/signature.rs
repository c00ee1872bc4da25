//! The rules a function's signature must follow: for `#[cache_result]` (and what
//! `refresh_ahead` adds, since its refresh outlives the call) and `#[performance_timer]`.

use crate::ast::Function;
use crate::attr::Opt;
use crate::errors::Errors;

/// Signature rules of `#[cache_result]`.
pub(super) fn cache_signature(func: &Function<'_>, errors: &mut Errors) {
    let sig = &func.item.sig;
    if let Some(token) = &sig.constness {
        errors.add(
            token,
            "`#[cache_result]` cannot cache a `const fn`: a const fn can run at compile time, \
             where there is no cache; remove `const`",
        );
    }
    if let Some(token) = &sig.unsafety {
        errors.add(
            token,
            "`#[cache_result]` does not cache an `unsafe fn`: a cache hit would skip the body \
             whose safety contract callers rely on; cache a safe function that wraps it instead",
        );
    }
    if let Some(abi) = &sig.abi {
        errors.add(
            abi,
            "`#[cache_result]` does not cache an `extern` function: cache a Rust function and \
             call it from the `extern` one instead",
        );
    }
    if let Some(variadic) = &sig.variadic {
        errors.add(variadic, "`#[cache_result]` cannot cache a variadic function: variadic arguments cannot be part of a key");
    }
    if let Some(impl_trait) = func.output_impl_trait {
        errors.add(
            impl_trait,
            "`#[cache_result]` cannot cache an `impl Trait` return type: the cache must name the \
             type it stores; return the concrete type instead",
        );
    }
    for param in &func.params {
        if let Some(impl_trait) = param.impl_trait {
            errors.add(
                impl_trait,
                "`impl Trait` arguments are not supported by `#[cache_result]`: the key records \
                 each argument type's name; declare a generic parameter instead, \
                 `fn f<T: Trait>(x: T)`",
            );
        }
    }
    for param in &func.const_params {
        errors.add(
            param,
            format!(
                "const generic parameters are not supported by `#[cache_result]`: pass `{}` as \
                 an ordinary argument so that it becomes part of the key",
                param.ident
            ),
        );
    }
}

/// Extra signature rules when `refresh_ahead` is set: the refresh runs after the call
/// has returned, on clones of the arguments.
pub(super) fn refresh_signature(opt: &Opt, func: &Function<'_>, errors: &mut Errors) {
    if let Some(recv) = func.receiver
        && let Some(mutability) = &recv.mutability
        && recv.reference.is_some()
    {
        errors.add(
            mutability,
            format!(
                "`{}` refreshes in the background on a clone of `self`, so the method cannot \
                 take `&mut self`; take `&self` or remove `refresh_ahead`",
                opt.key
            ),
        );
    }
    for param in &func.params {
        if let Some(reference) = param.reference {
            errors.add(
                reference.and_token,
                format!(
                    "`{}` recomputes in the background after the call has returned, so \
                     arguments must be owned: take `String` instead of `&str`, `Vec<T>` \
                     instead of `&[T]`, `T` instead of `&T`",
                    opt.key
                ),
            );
        }
    }
}

/// Signature rules of `#[performance_timer]`.
pub(super) fn timer_signature(func: &Function<'_>, errors: &mut Errors) {
    let sig = &func.item.sig;
    if let Some(token) = &sig.constness {
        errors.add(
            token,
            "`#[performance_timer]` cannot time a `const fn`: timing runs code that is not \
             const; remove `const` or time the functions that call it",
        );
    }
    if let Some(variadic) = &sig.variadic {
        errors.add(
            variadic,
            "`#[performance_timer]` cannot time a variadic function",
        );
    }
}
