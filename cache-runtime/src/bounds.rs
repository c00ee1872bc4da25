//! What lets a `#[cache_result]` mistake give one error, on the user's type.
//!
//! The expansion checks the cached part of the return value against the public
//! [`CacheValue`](crate::CacheValue) and each key input against `serde::Serialize`, in
//! code spanned on the type the user wrote. Everything else it generates goes through
//! the selectors here, which fall back to something that always type-checks when a
//! check fails: the failed check is then the only error, instead of a cascade through
//! the runtime's internal types. The fallbacks are never reached at run time, because a
//! program that selects one does not compile.
//!
//! Both selectors use autoref specialization: with the traits of [`checked`] in scope,
//! `(&Checked::<R, _>::new(adapter)).adapter()` is `adapter` when it is an
//! `Adapter<R>` and [`Uncacheable`] otherwise, and `(&KeyInput(&value)).key_input()` is
//! `&value` when it can be encoded and `&()` otherwise.

use std::marker::PhantomData;

use serde::{Deserialize, Serialize};

use crate::value::{Adapter, ChosenErrors, OptionAdapter, PlainAdapter, ResultAdapter};
#[cfg(feature = "axum")]
use crate::value::{JsonAdapter, ResultJsonAdapter};

/// The public trait the expansion checks a cached value against: its diagnostic names
/// the fix, and the compiler prints it as `CacheValue`, a name users can look up.
pub use crate::value::CacheValue;

/// The public item the expansion checks a key input of a generic type against: the
/// compiler then suggests the bound to add to the type parameter, `Serialize`.
pub use crate::key::CacheKey;

/// The part of return type `R` that an adapter caches, without the bounds of
/// [`Adapter`], so that it can be named in a check that fails.
pub trait CachedPart<R> {
    /// The cached part: `T` of `Result<T, E>`, `Option<T>` and `Json<T>`, else `R`.
    type Value;
}

impl<T, E> CachedPart<Result<T, E>> for ResultAdapter {
    type Value = T;
}

impl<T, E> CachedPart<Result<T, E>> for ChosenErrors<E> {
    type Value = Result<T, E>;
}

impl<T> CachedPart<Option<T>> for OptionAdapter {
    type Value = T;
}

impl<T> CachedPart<T> for PlainAdapter {
    type Value = T;
}

#[cfg(feature = "axum")]
impl<T> CachedPart<axum::Json<T>> for JsonAdapter {
    type Value = T;
}

#[cfg(feature = "axum")]
impl<T, E> CachedPart<Result<axum::Json<T>, E>> for ResultJsonAdapter {
    type Value = T;
}

/// The adapter for `cache_none = true` (`R` cached whole, `None` included), without the
/// bound that [`option_whole`](crate::__private::option_whole) puts on `R`; the expansion
/// checks `R` itself.
#[inline]
pub const fn whole<R>() -> PlainAdapter {
    PlainAdapter
}

/// The adapter chosen when the return value cannot be cached: it never caches.
#[derive(Clone, Copy, Debug)]
pub struct Uncacheable;

/// A value that cannot exist: what [`Uncacheable`] "caches".
#[derive(Clone, Copy, Debug, Serialize, Deserialize)]
pub enum Never {}

impl<R> Adapter<R> for Uncacheable {
    type Value = Never;

    #[inline]
    fn split(self, result: R) -> Result<Never, R> {
        Err(result)
    }

    #[inline]
    fn rebuild(self, value: Never) -> R {
        match value {}
    }
}

/// An adapter for return type `R`, before it is known to be an `Adapter<R>`.
pub struct Checked<R, A>(A, PhantomData<fn() -> R>);

// Copy without `R: Copy`, so that either selector can take it out of the reference.
impl<R, A: Copy> Clone for Checked<R, A> {
    fn clone(&self) -> Self {
        *self
    }
}

impl<R, A: Copy> Copy for Checked<R, A> {}

impl<R, A> Checked<R, A> {
    /// Wraps the adapter chosen for `R`.
    #[inline]
    pub const fn new(adapter: A) -> Self {
        Self(adapter, PhantomData)
    }
}

/// A key input, before it is known to be encodable.
pub struct KeyInput<'a, K: ?Sized>(pub &'a K);

impl<K: ?Sized> Clone for KeyInput<'_, K> {
    fn clone(&self) -> Self {
        *self
    }
}

impl<K: ?Sized> Copy for KeyInput<'_, K> {}

/// The autoref-specialization traits of [`Checked`] and [`KeyInput`].
pub mod checked {
    use serde::Serialize;

    use super::{Adapter, Checked, KeyInput, Uncacheable};

    /// The adapter caches the return value.
    pub trait Cacheable<A> {
        /// The adapter.
        fn adapter(self) -> A;
    }

    impl<R, A: Adapter<R>> Cacheable<A> for &Checked<R, A> {
        #[inline]
        fn adapter(self) -> A {
            self.0
        }
    }

    /// The return value cannot be cached (a check in the expansion has already failed).
    pub trait NotCacheable {
        /// The fallback.
        fn adapter(self) -> Uncacheable;
    }

    impl<R, A: Copy> NotCacheable for Checked<R, A> {
        #[inline]
        fn adapter(self) -> Uncacheable {
            Uncacheable
        }
    }

    /// The key input can be encoded.
    pub trait Encodable<'a, K: ?Sized> {
        /// The input.
        fn key_input(self) -> &'a K;
    }

    impl<'a, K: ?Sized + Serialize> Encodable<'a, K> for &KeyInput<'a, K> {
        #[inline]
        fn key_input(self) -> &'a K {
            self.0
        }
    }

    /// The key input cannot be encoded (a check in the expansion has already failed).
    pub trait NotEncodable {
        /// The fallback.
        fn key_input(self) -> &'static ();
    }

    impl<K: ?Sized> NotEncodable for KeyInput<'_, K> {
        #[inline]
        fn key_input(self) -> &'static () {
            &()
        }
    }
}

#[cfg(test)]
// The borrows are the autoref dispatch under test, not needless.
#[allow(clippy::needless_borrow)]
mod tests {
    use super::checked::*;
    use super::*;

    struct NotClone;

    fn split<R, A: Adapter<R>>(a: A, r: R) -> bool {
        a.split(r).is_ok()
    }

    #[test]
    fn a_cacheable_value_keeps_its_adapter() {
        let adapter = (&Checked::<Result<u8, String>, _>::new(ResultAdapter)).adapter();
        assert!(split(adapter, Ok::<u8, String>(1)));
        assert!(!split(adapter, Err::<u8, String>("e".into())));
    }

    #[test]
    fn an_uncacheable_value_falls_back_to_never_caching() {
        let adapter = (&Checked::<Result<NotClone, ()>, _>::new(ResultAdapter)).adapter();
        let _: Uncacheable = adapter;
        assert!(!split(adapter, Ok::<NotClone, ()>(NotClone)));
    }

    #[test]
    fn key_inputs_are_passed_through_or_replaced() {
        let id = 7u64;
        let input: &u64 = (&KeyInput(&id)).key_input();
        assert_eq!(*input, 7);
        let fallback: &() = (&KeyInput(&NotClone)).key_input();
        assert_eq!(*fallback, ());
        let text: &str = (&KeyInput("abc")).key_input();
        assert_eq!(text, "abc");
    }

    #[test]
    fn never_cannot_be_decoded() {
        assert!(serde_json::from_str::<Never>("null").is_err());
    }
}
