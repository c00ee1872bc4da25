//! `#[performance_timer]` through the macro: errors by type, cancellation, composition
//! with `#[cache_result]` in both orders.

use std::time::Duration;

use cache_runtime::{cache_result, performance_timer, timers};

fn timer(name: &str) -> cache_runtime::TimerStats {
    timers()
        .into_iter()
        .find(|t| t.name == name)
        .unwrap_or_else(|| panic!("no timer {name}"))
}

type Res<T> = Result<T, String>;

#[performance_timer("it_timer_outer")]
#[cache_result("it_timer_outer_cache", ttl = 60)]
async fn timed_outside(fail: bool) -> Res<u32> {
    tokio::time::sleep(Duration::from_millis(20)).await;
    if fail { Err("boom".into()) } else { Ok(1) }
}

#[cache_result("it_timer_inner_cache", ttl = 60)]
#[performance_timer("it_timer_inner")]
async fn timed_inside(fail: bool) -> Res<u32> {
    tokio::time::sleep(Duration::from_millis(20)).await;
    if fail { Err("boom".into()) } else { Ok(1) }
}

#[tokio::test]
async fn timers_compose_with_the_cache_in_either_order() {
    crate::setup();
    for _ in 0..3 {
        timed_outside(false).await.ok();
        timed_inside(false).await.ok();
    }
    timed_outside(true).await.ok();
    timed_inside(true).await.ok();
    // Outside the cache, every call is timed (hits too); inside, only computations.
    let outer = timer("it_timer_outer");
    let inner = timer("it_timer_inner");
    assert_eq!((outer.count, outer.errors), (4, 1));
    assert_eq!((inner.count, inner.errors), (2, 1));
    assert!(inner.min_ms >= 19.0, "{inner:?}");
    assert!(
        outer.min_ms < inner.min_ms,
        "hits are timed outside the cache"
    );
}

#[performance_timer("it_timer_cancel")]
async fn never_finishes() {
    tokio::time::sleep(Duration::from_secs(60)).await;
}

#[tokio::test]
async fn a_dropped_call_counts_as_cancelled() {
    let r = tokio::time::timeout(Duration::from_millis(20), never_finishes()).await;
    assert!(r.is_err());
    let t = timer("it_timer_cancel");
    assert_eq!((t.count, t.cancelled, t.in_flight), (0, 1, 0));
}

#[performance_timer]
fn default_name(x: u32) -> u32 {
    x + 1
}

#[test]
fn the_default_name_is_the_function_path() {
    assert_eq!(default_name(1), 2);
    let t = timer("integration::timers::default_name");
    assert_eq!(t.count, 1);
}
