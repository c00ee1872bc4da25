#![doc = "Procedural macros `#[cache_result]`, `#[cache_invalidate]`, `#[cache_put]` and `#[performance_timer]`."]
//!
//! Use them through `cache-runtime`, which re-exports both and documents them with
//! examples; the code they generate calls `::cache_runtime::__private` and nothing else.
//!
//! Each attribute runs four stages, one file each, as thiserror's derive does:
//! `attr` parses the arguments and reads their values, `ast` models the function and what
//! each attribute expands from, `valid` checks every rule and reports all problems at once
//! on the tokens at fault (collected in `errors`), and `expand` generates the code, one
//! file per job under `expand/`. `stacked` chains the stages of `#[cache_result]` and
//! `#[performance_timer]`, one on the other; `mutation` holds the small attributes
//! `#[cache_invalidate]` and `#[cache_put]`.

mod ast;
mod attr;
mod batch;
mod errors;
mod expand;
mod mutation;
mod private;
mod stacked;
mod valid;

use proc_macro::TokenStream;

/// Caches the function's result under a key made of its arguments.
///
/// ```ignore
/// #[cache_result("users", ttl = "5m")]
/// async fn load_user(Path(id): Path<u64>, State(db): State<Db>) -> Result<Json<User>, ApiError> {
///     db.user(id).await
/// }
/// ```
///
/// The first argument, a string literal, names the cache. Options:
///
/// | option | value | default |
/// | --- | --- | --- |
/// | `ttl` | whole seconds (`300`) or a duration (`"250ms"`, `"90s"`, `"5m"`, `"1h"`, `"1d"`) | the runtime's default |
/// | `key` | an expression over the arguments, replacing the default key | a tuple of the arguments |
/// | `skip(a, b)` | parameters left out of the default key | none |
/// | `version` | a `u32`; bump it when the value's meaning changes | `0` |
/// | `stale_if_error` | a duration: serve an expired value this long when recomputing fails | off |
/// | `refresh_ahead` | a fraction of the TTL in (0, 1) after which a hit refreshes in the background | off |
/// | `tags` | `[expr, ...]`, tags for invalidation, evaluated on a miss | none |
/// | `max_bytes` | largest encoded value to store | no limit |
/// | `cache_none` | `true` to cache `None` too (the function must return `Option<T>`), or a duration (`"30s"`, at most `ttl`) that a cached `None` lives | `false` |
/// | `cache_err`, `err_ttl` | a function or closure over `&E` choosing the errors of a `Result<T, E>` to cache, and how long (a duration, at most `ttl`); other errors are never cached | no error cached |
/// | `unless` | a closure over `&V`: `true` keeps the value out of the cache | store every value |
/// | `only_if_slower` | a duration: store only values that took at least that long | store every value |
/// | `ttl_from` | a closure over `&V` giving its TTL (`Duration`), bounded by `ttl` | the cache's TTL |
/// | `soft_timeout` | a duration: with a fail-safe copy (`stale_if_error`), answer with it after that long while the body finishes in the background (async fns, owned arguments) | off |
/// | `hard_timeout` | a duration: stop waiting for the body; the copy, or `Err(Timeout.into())` (async fns returning `Result<T, E: From<Timeout>>`) | off |
/// | `fail_throttle` | a duration: after a failed recomputation served the fail-safe copy (`stale_if_error`, required), the copy answers the key that long without calling the body | off |
/// | `local_ttl` | a duration, at most `ttl`: with Redis, the in-process copy lives that long and the Redis copy `ttl` (async fns, both tiers; no effect without Redis) | `ttl` |
/// | `tti` | a duration: an entry not read for that long expires (besides `ttl`); the hit writes a coarse last-read stamp at most 8 times per `tti` | off |
/// | `capacity` | a size (`"16MiB"`, or whole bytes): the cache's own in-process byte budget, its entries evicted among themselves; `CacheRuntimeBuilder::cache_capacity` wins over it | the runtime's shared `max_bytes` |
/// | `entry` | `false`: no companion `<fn>_entry` (required in traits and trait impls) | `true` |
///
/// Beside the function it generates `<fn>_entry(<key arguments by reference>) ->
/// CacheEntry<V>` with the same visibility and generics (`Self::<fn>_entry` in an `impl`),
/// the typed handle that `#[cache_invalidate]` and `#[cache_put]` use.
///
/// The key holds every identifier the parameters bind (`Path(id): Path<u64>` gives `id`)
/// except `self`, `skip`ped names and parameters of type `State<_>` or `Extension<_>`,
/// which are left out automatically. `Result` values are cached when `Ok`, `Option`
/// values when `Some`. With `refresh_ahead`, arguments are cloned for the background
/// refresh, so they must be owned, `Clone`, `Send` and `'static`.
///
/// With `#[performance_timer]` on the same function, the attribute written first wraps
/// the other, as decorators read: `#[performance_timer] #[cache_result(..)]` times every
/// call, hits included; `#[cache_result(..)] #[performance_timer]` times only the calls
/// that run the body. (This holds while both keep their names; renamed on import, the
/// compiler's order applies, in which the attribute written last wraps.)
#[proc_macro_attribute]
pub fn cache_result(args: TokenStream, item: TokenStream) -> TokenStream {
    stacked::cache_result(args.into(), item.into()).into()
}

/// Caches a function over many ids one record at a time: each id is its own cache
/// entry, and the body is called once with only the ids no tier holds.
///
/// ```ignore
/// #[cache_batch("channel_metrics", ttl = "5m", missing_ttl = "30s")]
/// async fn channel_metrics(db: &Db, ids: &[i64]) -> Result<HashMap<i64, Metrics>, DbError> {
///     db.metrics(ids).await // called with the missing ids only
/// }
/// ```
///
/// One parameter holds the ids (`Vec<K>`, `&[K]`, `HashSet<K>`, `BTreeSet<K>`); the
/// others are part of every record's key, which is the key `#[cache_result]` builds for
/// `(others.., id)`. It returns `HashMap<K, V>` (or `BTreeMap`), or a `Result` of one
/// whose `Err` stores nothing. Options: `ttl`, `version`, `skip`, `stale_if_error`,
/// `max_bytes`, `tier`, `lock`, `entry` as for `#[cache_result]`, per record; `tags =
/// |id, value| [..]`; `missing_ttl = "30s"` remembers ids the body did not return. The
/// other options of `#[cache_result]` are compile errors. Beside the function it
/// generates `<fn>_entry(&others.., &id) -> CacheEntry<V>`, the handle to one record.
/// The other arguments are cloned for each body call (references are copied).
#[proc_macro_attribute]
pub fn cache_batch(args: TokenStream, item: TokenStream) -> TokenStream {
    batch::cache_batch(args.into(), item.into()).into()
}

/// Records the latency, count and errors of every call of the function.
///
/// ```ignore
/// #[performance_timer]
/// async fn load_user(id: u64) -> Result<User, ApiError> { .. }
///
/// #[performance_timer("users.load", slow = "250ms")]
/// fn render(page: &Page) -> String { .. }
/// ```
///
/// | argument | value | default |
/// | --- | --- | --- |
/// | first, optional | the timer's name, a string literal | the function's path, `module::function` |
/// | `slow` | a duration (`"250ms"`, `"2s"`): slower calls are logged | none |
///
/// An async function is timed as a future, across its awaits; a `Result` that is `Err`
/// counts as an error. For the order with `#[cache_result]`, see there.
#[proc_macro_attribute]
pub fn performance_timer(args: TokenStream, item: TokenStream) -> TokenStream {
    stacked::performance_timer(args.into(), item.into()).into()
}

/// Drops cache entries when the function succeeds: entries of cached functions named by
/// their arguments (checked by the compiler through the companion `<fn>_entry`), whole
/// caches, or tags.
///
/// ```ignore
/// #[cache_invalidate(user_channels(user.id), Self::summary(channel_id), cache = "top_posts",
///                    tags = [format!("channel:{channel_id}")])]
/// async fn rename(&self, user: &User, channel_id: i64, name: String) -> Result<Channel, ApiError> { .. }
/// ```
///
/// | argument | meaning |
/// | --- | --- |
/// | `f(a, b)`, `Self::f(a)`, `module::f(a)` | the entry of `#[cache_result] fn f` for these arguments (`f_entry(&a, &b).invalidate()`) |
/// | `cache = "name"` or `cache = ["a", "b"]` | every entry of those caches |
/// | `tags = [expr, ..]` | every entry stored with those tags |
/// | `before = true` | drop before the body runs, whatever it returns |
///
/// By default nothing is dropped unless the function succeeds: `Ok`, `Some`, or any
/// value of another type. The arguments are evaluated before the body runs (so the body
/// may move them). Works on async and sync fns and methods, and with
/// `#[performance_timer]` in either order.
#[proc_macro_attribute]
pub fn cache_invalidate(args: TokenStream, item: TokenStream) -> TokenStream {
    mutation::cache_invalidate(args.into(), item.into()).into()
}

/// Stores the function's successful result as the entry of a cached function, so the
/// next read is served without recomputing.
///
/// ```ignore
/// #[cache_put(channel(id))]
/// async fn rename_channel(id: i64, name: String) -> Result<Channel, ApiError> { .. }
/// ```
///
/// The value stored is the part of the result that `#[cache_result]` would cache (`T` of
/// `Ok(T)`, `Some(T)`, `Json(T)`, or the plain value); it must be the type the named
/// function caches, a compile error otherwise. An `Err` or `None` stores nothing. In an
/// async fn the value is written to the remote tier too.
#[proc_macro_attribute]
pub fn cache_put(args: TokenStream, item: TokenStream) -> TokenStream {
    mutation::cache_put(args.into(), item.into()).into()
}
