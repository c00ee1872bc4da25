//! `performance_snapshot()`: the minute in progress, timed calls nested on one task, the
//! cache found in front of a query, and the sentence built from them.

use std::time::Duration;

use cache_runtime::{cache_result, performance_snapshot, performance_timer};

#[performance_timer("nestdb.slow_query")]
async fn slow_query(id: u32) -> Result<u32, String> {
    tokio::time::sleep(Duration::from_millis(3)).await;
    Ok(id * 2)
}

#[performance_timer("nestdb.fast_query")]
async fn fast_query(id: u32) -> Result<u32, String> {
    Ok(id + 1)
}

#[performance_timer("nest_endpoint")]
#[cache_result("nest_endpoint_cache", ttl = 600)]
async fn endpoint(id: u32) -> Result<u32, String> {
    let a = slow_query(id).await?;
    let b = fast_query(id).await?;
    Ok(a + b)
}

#[performance_timer("nest_spawner")]
async fn spawner() -> u32 {
    // A task of its own: its timed calls have no parent.
    tokio::spawn(fast_query_spawned()).await.unwrap_or(0)
}

#[performance_timer("nestdb.spawned_query")]
async fn fast_query_spawned() -> u32 {
    7
}

#[performance_timer("nest_sync_outer")]
fn sync_outer() -> u32 {
    (0..3).map(|_| sync_inner()).sum()
}

#[performance_timer("nest_sync_inner")]
fn sync_inner() -> u32 {
    1
}

#[tokio::test]
async fn nested_calls_on_one_task_name_their_parent_and_the_cache_in_front_of_them() {
    // 10 calls over 2 keys: 2 misses run the queries, 8 hits do not.
    for i in 0..10u32 {
        assert_eq!(endpoint(i % 2).await, Ok((i % 2) * 3 + 1));
    }
    assert_eq!(spawner().await, 7);
    assert_eq!(sync_outer(), 3);

    let snapshot = performance_snapshot();
    let calls = |name: &str| {
        let t = snapshot
            .timers
            .iter()
            .find(|t| t.name == name)
            .unwrap_or_else(|| panic!("{name} in the snapshot"));
        t.points.last().expect("the minute in progress").calls
    };
    assert_eq!(calls("nest_endpoint"), 10);
    assert_eq!(calls("nestdb.slow_query"), 2);

    let bottleneck = |name: &str| {
        snapshot
            .bottlenecks
            .iter()
            .find(|b| b.name == name)
            .unwrap_or_else(|| panic!("{name} among {:?}", snapshot.bottlenecks))
    };
    let endpoint = bottleneck("nest_endpoint");
    let children: Vec<(&str, u64)> = endpoint
        .children
        .iter()
        .map(|c| (c.name.as_str(), c.calls))
        .collect();
    assert_eq!(
        children,
        vec![("nestdb.slow_query", 2), ("nestdb.fast_query", 2)],
        "the slowest child first"
    );
    let own = endpoint.cache.as_ref().expect("its cache");
    assert_eq!(own.name, "nest_endpoint_cache");
    assert!(own.answers_this_timer);
    assert_eq!(own.hit_ratio, Some(0.8));

    let query = bottleneck("nestdb.slow_query");
    assert_eq!(query.group, "nestdb");
    assert!(
        query.share > 0.9,
        "the sleeping query dominates its group: {}",
        query.share
    );
    let front = query.cache.as_ref().expect("the cache in front of it");
    assert_eq!(front.name, "nest_endpoint_cache");
    assert!(!front.answers_this_timer);
    assert!(
        query
            .advice
            .contains("`nest_endpoint_cache` in front of it hits only 80%"),
        "{}",
        query.advice
    );

    let spawner = bottleneck("nest_spawner");
    assert!(spawner.children.is_empty(), "{:?}", spawner.children);
    let outer = bottleneck("nest_sync_outer");
    assert_eq!(outer.children.len(), 1);
    assert_eq!(
        (outer.children[0].name.as_str(), outer.children[0].calls),
        ("nest_sync_inner", 3)
    );

    // Nothing nested is counted as an entry point: the endpoint, the spawner, its spawned
    // query and the sync outer are.
    assert!(snapshot.calls_per_second > 0.0);
    let trend = snapshot
        .trends
        .timers
        .iter()
        .find(|t| t.name == "nest_endpoint")
        .expect("a trend");
    assert!(trend.why.starts_with("too few calls"), "{}", trend.why);
}
