//! A thread that keeps hitting one key serves it from its own hot copy; a change of the
//! entry made on another thread must reach that thread's next call.

use std::sync::atomic::{AtomicU64, Ordering::SeqCst};
use std::sync::mpsc;

use cache_runtime::cache_result;

/// Calls `call(key)` 41 times on a thread of its own (a miss, hits through the shared
/// tier, then hits of that thread's copy), checks each answer is `before`, runs `change`
/// on this thread, and returns what the reader's next call answers.
fn after_a_change_elsewhere(
    call: fn(u64) -> String,
    key: u64,
    before: &str,
    change: impl FnOnce(),
) -> String {
    let (to_reader, changed) = mpsc::channel::<()>();
    let (to_main, seen) = mpsc::channel::<String>();
    let expected = before.to_string();
    let reader = std::thread::spawn(move || {
        for _ in 0..41 {
            assert_eq!(call(key), expected);
        }
        to_main.send(String::new()).expect("main listens");
        changed.recv().expect("main made its change");
        to_main.send(call(key)).expect("main listens");
    });
    seen.recv().expect("the reader hit its key");
    change();
    to_reader.send(()).expect("reader listens");
    let after = seen.recv().expect("the reader called again");
    reader.join().expect("reader");
    after
}

static RUNS: AtomicU64 = AtomicU64::new(0);

#[cache_result("it_hot_copy_put")]
fn profile(id: u64) -> String {
    RUNS.fetch_add(1, SeqCst);
    format!("profile {id}, computed")
}

#[test]
fn a_put_on_another_thread_replaces_what_a_hot_thread_serves() {
    crate::setup();
    let after = after_a_change_elsewhere(profile, 7, "profile 7, computed", || {
        profile_entry(&7).put("profile 7, written".to_string());
    });
    assert_eq!(
        after, "profile 7, written",
        "the thread's copy answered after a put replaced the entry"
    );
    assert_eq!(
        RUNS.load(SeqCst),
        1,
        "the put value is served, not recomputed"
    );
}

static PRICE: AtomicU64 = AtomicU64::new(100);

#[cache_result("it_hot_copy_refresh")]
fn price(id: u64) -> String {
    format!("item {id}: {}", PRICE.load(SeqCst))
}

/// `Scope::refresh()` recomputes and stores over an entry that is still fresh, with no
/// invalidation: the thread holding a copy of the old entry must not keep serving it.
#[test]
fn a_forced_refresh_on_another_thread_replaces_what_a_hot_thread_serves() {
    crate::setup();
    let after = after_a_change_elsewhere(price, 3, "item 3: 100", || {
        PRICE.store(120, SeqCst);
        let (fresh, _) = cache_runtime::Scope::refresh().run_sync(|| price(3));
        assert_eq!(fresh, "item 3: 120");
    });
    assert_eq!(
        after, "item 3: 120",
        "the thread's copy answered after a refresh replaced the entry"
    );
    let stats = crate::stats("it_hot_copy_refresh");
    assert_eq!(
        (stats.entries, stats.evictions),
        (1, 0),
        "a replaced entry is neither counted twice nor an eviction"
    );
}
