//! What part of a function's return value is cached, decided by its type.
//!
//! `Result<T, E>` caches `T` and never `E`; `Option<T>` caches `T` and never `None` (unless
//! `cache_none = true`); axum's `Json<T>` caches `T`; anything else is cached whole. The
//! choice is made by the compiler from the return *type* (autoref specialization on
//! [`Kind`]), so a type alias such as `type ApiResult<T> = Result<T, ApiError>` is still a
//! `Result` and its errors are still never cached.

use std::marker::PhantomData;

use serde::Serialize;
use serde::de::DeserializeOwned;

/// Values a cache can hold: cloned out on every hit, shared across threads, encodable for
/// the byte budget and remote tiers.
///
/// Implemented for every type with those properties; derive `Clone`, `Serialize` and
/// `Deserialize` on your own types.
///
/// ```
/// #[derive(Clone, serde::Serialize, serde::Deserialize)]
/// struct Summary { views: u64 }
/// fn assert_cacheable<T: cache_runtime::CacheValue>() {}
/// assert_cacheable::<Summary>();
/// assert_cacheable::<Vec<String>>();
/// ```
#[diagnostic::on_unimplemented(
    message = "`{Self}` cannot be stored in a cache",
    label = "this type is returned by a #[cache_result] function",
    note = "cached values must be `Clone + Send + Sync + 'static` and implement `serde::Serialize` and `serde::de::DeserializeOwned`: add `#[derive(Clone, Serialize, Deserialize)]` to the type"
)]
pub trait CacheValue: Clone + Send + Sync + Serialize + DeserializeOwned + 'static {}

impl<T: Clone + Send + Sync + Serialize + DeserializeOwned + 'static> CacheValue for T {}

/// Splits a return value into the part that is cached and rebuilds it from a cached value.
pub trait Adapter<R>: Copy + Send + Sync + 'static {
    /// The cached part.
    type Value: CacheValue;
    /// `Ok(value)` when the result is cached, `Err(result)` when it is not (an error).
    fn split(self, result: R) -> Result<Self::Value, R>;
    /// The function's result for a cached value.
    fn rebuild(self, value: Self::Value) -> R;
}

/// Caches `T` of `Ok(T)`.
#[derive(Clone, Copy, Debug)]
pub struct ResultAdapter;
/// Caches `T` of `Some(T)`.
#[derive(Clone, Copy, Debug)]
pub struct OptionAdapter;
/// Caches the whole value.
#[derive(Clone, Copy, Debug)]
pub struct PlainAdapter;

impl<T: CacheValue, E> Adapter<Result<T, E>> for ResultAdapter {
    type Value = T;
    #[inline]
    fn split(self, result: Result<T, E>) -> Result<T, Result<T, E>> {
        match result {
            Ok(v) => Ok(v),
            Err(e) => Err(Err(e)),
        }
    }
    #[inline]
    fn rebuild(self, value: T) -> Result<T, E> {
        Ok(value)
    }
}

impl<T: CacheValue> Adapter<Option<T>> for OptionAdapter {
    type Value = T;
    #[inline]
    fn split(self, result: Option<T>) -> Result<T, Option<T>> {
        result.ok_or(None)
    }
    #[inline]
    fn rebuild(self, value: T) -> Option<T> {
        Some(value)
    }
}

impl<T: CacheValue> Adapter<T> for PlainAdapter {
    type Value = T;
    #[inline]
    fn split(self, result: T) -> Result<T, T> {
        Ok(result)
    }
    #[inline]
    fn rebuild(self, value: T) -> T {
        value
    }
}

#[cfg(feature = "axum")]
mod json {
    use axum::Json;

    use super::{Adapter, CacheValue};

    /// Caches `T` of `Json(T)`.
    #[derive(Clone, Copy, Debug)]
    pub struct JsonAdapter;
    /// Caches `T` of `Ok(Json(T))`.
    #[derive(Clone, Copy, Debug)]
    pub struct ResultJsonAdapter;

    impl<T: CacheValue> Adapter<Json<T>> for JsonAdapter {
        type Value = T;
        #[inline]
        fn split(self, result: Json<T>) -> Result<T, Json<T>> {
            Ok(result.0)
        }
        #[inline]
        fn rebuild(self, value: T) -> Json<T> {
            Json(value)
        }
    }

    impl<T: CacheValue, E> Adapter<Result<Json<T>, E>> for ResultJsonAdapter {
        type Value = T;
        #[inline]
        fn split(self, result: Result<Json<T>, E>) -> Result<T, Result<Json<T>, E>> {
            match result {
                Ok(Json(v)) => Ok(v),
                Err(e) => Err(Err(e)),
            }
        }
        #[inline]
        fn rebuild(self, value: T) -> Result<Json<T>, E> {
            Ok(Json(value))
        }
    }
}
#[cfg(feature = "axum")]
pub(crate) use json::{JsonAdapter, ResultJsonAdapter};

/// The type-directed choice of adapter: `(&&&&Kind::<R>::new()).adapter()` with the
/// traits of [`kind`] in scope picks the most specific impl that matches `R`.
pub struct Kind<R>(PhantomData<fn() -> R>);

impl<R> Clone for Kind<R> {
    fn clone(&self) -> Self {
        *self
    }
}

impl<R> Copy for Kind<R> {}

impl<R> Kind<R> {
    /// The selector for return type `R`.
    #[allow(clippy::new_without_default)]
    pub const fn new() -> Self {
        Self(PhantomData)
    }
}

/// The autoref-specialization traits; each level has one more `&` than the next, and
/// methods take `self` by value so the most-referenced impl is probed first.
pub mod kind {
    use super::{Kind, OptionAdapter, PlainAdapter, ResultAdapter};

    /// `Result<Json<T>, E>`.
    pub trait ResultJsonKind: Sized {
        /// The adapter.
        type A;
        /// The adapter.
        fn adapter(self) -> Self::A;
    }
    /// `Result<T, E>`.
    pub trait ResultKind: Sized {
        /// The adapter.
        fn adapter(self) -> ResultAdapter {
            ResultAdapter
        }
    }
    /// `Option<T>`.
    pub trait OptionKind: Sized {
        /// The adapter.
        fn adapter(self) -> OptionAdapter {
            OptionAdapter
        }
    }
    /// `Json<T>`.
    pub trait JsonKind: Sized {
        /// The adapter.
        type A;
        /// The adapter.
        fn adapter(self) -> Self::A;
    }
    /// Anything else.
    pub trait PlainKind: Sized {
        /// The adapter.
        fn adapter(self) -> PlainAdapter {
            PlainAdapter
        }
    }

    #[cfg(feature = "axum")]
    impl<T, E> ResultJsonKind for &&&&Kind<Result<axum::Json<T>, E>> {
        type A = super::ResultJsonAdapter;
        fn adapter(self) -> super::ResultJsonAdapter {
            super::ResultJsonAdapter
        }
    }
    impl<T, E> ResultKind for &&&Kind<Result<T, E>> {}
    impl<T> OptionKind for &&Kind<Option<T>> {}
    #[cfg(feature = "axum")]
    impl<T> JsonKind for &Kind<axum::Json<T>> {
        type A = super::JsonAdapter;
        fn adapter(self) -> super::JsonAdapter {
            super::JsonAdapter
        }
    }
    impl<T> PlainKind for Kind<T> {}
}

/// Whether a return value is an error, for `#[performance_timer]`: `Err` of a `Result`
/// (by type, as for caching); nothing else is.
pub struct ErrKind<R>(PhantomData<fn() -> R>);

impl<R> Clone for ErrKind<R> {
    fn clone(&self) -> Self {
        *self
    }
}

impl<R> Copy for ErrKind<R> {}

impl<R> ErrKind<R> {
    /// The selector for return type `R`.
    #[allow(clippy::new_without_default)]
    pub const fn new() -> Self {
        Self(PhantomData)
    }
}

/// The autoref-specialization traits for [`ErrKind`].
// By-value `self` is what makes the autoref dispatch pick the most specific impl.
#[allow(clippy::wrong_self_convention)]
pub mod err_kind {
    use super::ErrKind;

    /// `Result<T, E>`: `Err` is an error.
    pub trait ResultErr<R>: Sized {
        /// The classifier.
        fn is_error_fn(self) -> fn(&R) -> bool;
        /// The error's type name, recorded as a span's `error.type`.
        fn error_type_fn(self) -> fn() -> &'static str;
    }
    /// Anything else is never an error.
    pub trait NeverErr<R>: Sized {
        /// The classifier.
        fn is_error_fn(self) -> fn(&R) -> bool {
            |_| false
        }
        /// OpenTelemetry's fallback name (never used: nothing here is an error).
        fn error_type_fn(self) -> fn() -> &'static str {
            || "_OTHER"
        }
    }
    impl<T, E> ResultErr<Result<T, E>> for &ErrKind<Result<T, E>> {
        fn is_error_fn(self) -> fn(&Result<T, E>) -> bool {
            Result::is_err
        }
        fn error_type_fn(self) -> fn() -> &'static str {
            core::any::type_name::<E>
        }
    }
    impl<R> NeverErr<R> for ErrKind<R> {}
}

/// The adapter for `cache_none = true`: `Option<T>` is cached whole, `None` included.
pub fn option_whole<T: CacheValue>() -> PlainAdapter {
    PlainAdapter
}

/// The adapter for `cache_err = choose`: `Result<T, E>` is cached whole when it is `Ok`
/// or an error that `choose` picks; any other error is returned and never cached.
pub struct ChosenErrors<E> {
    choose: fn(&E) -> bool,
}

impl<E> Clone for ChosenErrors<E> {
    fn clone(&self) -> Self {
        *self
    }
}

impl<E> Copy for ChosenErrors<E> {}

impl<T: CacheValue, E: CacheValue> Adapter<Result<T, E>> for ChosenErrors<E> {
    type Value = Result<T, E>;
    #[inline]
    fn split(self, result: Result<T, E>) -> Result<Result<T, E>, Result<T, E>> {
        match &result {
            Err(e) if !(self.choose)(e) => Err(result),
            _ => Ok(result),
        }
    }
    #[inline]
    fn rebuild(self, value: Result<T, E>) -> Result<T, E> {
        value
    }
}

/// The adapter for `cache_err = choose` on a function returning `R = Result<T, E>`.
pub fn chosen_errors<R: IsResult>(choose: fn(&R::Error) -> bool) -> ChosenErrors<R::Error> {
    ChosenErrors { choose }
}

/// Implemented by `Result<T, E>` only; `cache_err` requires it.
#[diagnostic::on_unimplemented(
    message = "`cache_err` needs a function returning `Result<_, _>`, not `{Self}`",
    label = "`cache_err` is set here",
    note = "remove `cache_err`, or return a `Result`"
)]
pub trait IsResult {
    /// The error type.
    type Error;
}
impl<T, E> IsResult for Result<T, E> {
    type Error = E;
}

/// Implemented by `Option<T>` only; `cache_none` (`true` or a duration) requires it.
#[diagnostic::on_unimplemented(
    message = "`cache_none` needs a function returning `Option<_>`, not `{Self}`",
    label = "`cache_none` is set here",
    note = "remove `cache_none`, or return an `Option`"
)]
pub trait IsOption {}
impl<T> IsOption for Option<T> {}

/// Compile-time check for `cache_none = true`.
#[inline]
pub fn assert_option<R: IsOption>() {}

#[cfg(test)]
// The borrows are the autoref dispatch under test, not needless.
#[allow(clippy::needless_borrow)]
mod tests {
    use super::kind::*;
    use super::*;

    type ApiResult<T> = Result<T, String>;

    fn split<R, A: Adapter<R>>(a: A, r: R) -> bool {
        a.split(r).is_ok()
    }

    #[test]
    fn errors_are_never_cached_even_behind_an_alias() {
        let r: ApiResult<u32> = Err("boom".into());
        assert!(!split((&&&&Kind::<ApiResult<u32>>::new()).adapter(), r));
        let ok: ApiResult<u32> = Ok(1);
        assert!(split((&&&&Kind::<ApiResult<u32>>::new()).adapter(), ok));
        assert!(!split(
            (&&&&Kind::<Option<u8>>::new()).adapter(),
            None::<u8>
        ));
        assert!(split((&&&&Kind::<u8>::new()).adapter(), 3u8));
        // cache_none caches None whole.
        assert!(split(option_whole::<Option<u8>>(), None::<u8>));
        // cache_err caches Ok and the chosen errors, never the others.
        let not_found = chosen_errors::<Result<u8, String>>(|e| e == "not found");
        assert!(split(not_found, Ok::<u8, String>(1)));
        assert!(split(not_found, Err::<u8, String>("not found".into())));
        assert!(!split(not_found, Err::<u8, String>("timeout".into())));
    }

    #[test]
    fn timer_errors_by_type() {
        use super::err_kind::*;
        let f = (&&ErrKind::<ApiResult<u8>>::new()).is_error_fn();
        assert!(f(&Err("x".into())));
        assert!(!f(&Ok(1)));
        let g = (&&ErrKind::<Option<u8>>::new()).is_error_fn();
        assert!(!g(&None));
    }
}

/// The type-directed test of a successful result, for `#[cache_invalidate]` and
/// `#[cache_put]`: `(&&SuccessKind::<R>::new()).succeeded_fn()` with the traits of
/// [`success`] in scope gives `is_ok` for `Result`, `is_some` for `Option` and "always"
/// for anything else.
pub struct SuccessKind<R>(PhantomData<fn() -> R>);

impl<R> Clone for SuccessKind<R> {
    fn clone(&self) -> Self {
        *self
    }
}

impl<R> Copy for SuccessKind<R> {}

impl<R> SuccessKind<R> {
    /// The selector for return type `R`.
    #[allow(clippy::new_without_default)]
    pub const fn new() -> Self {
        Self(PhantomData)
    }
}

/// The autoref-specialization traits for [`SuccessKind`].
// By-value `self` is what makes the autoref dispatch pick the most specific impl.
#[allow(clippy::wrong_self_convention)]
pub mod success {
    use super::SuccessKind;

    /// `Result<T, E>`: `Ok` succeeded.
    pub trait ResultOk<R>: Sized {
        /// The test.
        fn succeeded_fn(self) -> fn(&R) -> bool;
    }
    /// `Option<T>`: `Some` succeeded.
    pub trait OptionSome<R>: Sized {
        /// The test.
        fn succeeded_fn(self) -> fn(&R) -> bool;
    }
    /// Anything else always succeeded.
    pub trait Always<R>: Sized {
        /// The test.
        fn succeeded_fn(self) -> fn(&R) -> bool {
            |_| true
        }
    }
    impl<T, E> ResultOk<Result<T, E>> for &&SuccessKind<Result<T, E>> {
        fn succeeded_fn(self) -> fn(&Result<T, E>) -> bool {
            Result::is_ok
        }
    }
    impl<T> OptionSome<Option<T>> for &SuccessKind<Option<T>> {
        fn succeeded_fn(self) -> fn(&Option<T>) -> bool {
            Option::is_some
        }
    }
    impl<R> Always<R> for SuccessKind<R> {}
}
