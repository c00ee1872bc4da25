//! Return shapes: plain `T`, `Result<T, E>` (and an alias of it), `Option<T>`, and
//! `cache_none = true`. Only `Ok` and `Some` are cached unless `cache_none` is set.

use std::sync::atomic::{AtomicUsize, Ordering};

use cache_runtime::cache_result;

#[derive(Debug, PartialEq)]
struct ApiError(String);

type ApiResult<T> = Result<T, ApiError>;

static RESULT_CALLS: AtomicUsize = AtomicUsize::new(0);
static ALIAS_CALLS: AtomicUsize = AtomicUsize::new(0);
static OPTION_CALLS: AtomicUsize = AtomicUsize::new(0);
static NONE_CALLS: AtomicUsize = AtomicUsize::new(0);

#[cache_result("shape_plain")]
fn plain(x: u8) -> Vec<u8> {
    vec![x; 3]
}

#[cache_result("shape_result")]
fn result(x: i32) -> Result<i32, ApiError> {
    RESULT_CALLS.fetch_add(1, Ordering::SeqCst);
    if x < 0 {
        Err(ApiError("negative".into()))
    } else {
        Ok(x)
    }
}

#[cache_result("shape_alias")]
async fn alias(x: i32) -> ApiResult<String> {
    ALIAS_CALLS.fetch_add(1, Ordering::SeqCst);
    if x < 0 {
        return Err(ApiError("negative".into()));
    }
    Ok(x.to_string())
}

#[cache_result("shape_option")]
fn option(x: i32) -> Option<i32> {
    OPTION_CALLS.fetch_add(1, Ordering::SeqCst);
    (x > 0).then_some(x)
}

#[cache_result("shape_cache_none", cache_none = true)]
fn option_cached(x: i32) -> Option<i32> {
    NONE_CALLS.fetch_add(1, Ordering::SeqCst);
    (x > 0).then_some(x)
}

#[cache_result("shape_cache_none_false", cache_none = false)]
fn option_not_cached(x: i32) -> Option<i32> {
    (x > 0).then_some(x)
}

#[tokio::main]
async fn main() {
    assert_eq!(plain(1), vec![1, 1, 1]);

    assert_eq!(result(1), Ok(1));
    assert_eq!(result(1), Ok(1));
    assert!(result(-1).is_err());
    assert!(result(-1).is_err());
    assert_eq!(RESULT_CALLS.load(Ordering::SeqCst), 3, "Ok cached, Err not");

    assert_eq!(alias(2).await, Ok("2".to_owned()));
    assert_eq!(alias(2).await, Ok("2".to_owned()));
    assert_eq!(alias(-2).await, Err(ApiError("negative".into())));
    assert_eq!(ALIAS_CALLS.load(Ordering::SeqCst), 2);

    assert_eq!(option(0), None);
    assert_eq!(option(0), None);
    assert_eq!(option(3), Some(3));
    assert_eq!(option(3), Some(3));
    assert_eq!(
        OPTION_CALLS.load(Ordering::SeqCst),
        3,
        "Some cached, None not"
    );

    assert_eq!(option_cached(0), None);
    assert_eq!(option_cached(0), None);
    assert_eq!(
        NONE_CALLS.load(Ordering::SeqCst),
        1,
        "None cached with cache_none"
    );

    assert_eq!(option_not_cached(1), Some(1));
}
