//! What makes two keys equal, seen through the public API: `#[cache_result]` functions,
//! `global().invalidate` and `CacheKey`. Every test uses its own cache names: the global
//! runtime is shared.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU32, Ordering::SeqCst};

use cache_runtime::{CacheKey, cache_result, global};
use serde::Serialize;

static USER_LOOKUPS: AtomicU32 = AtomicU32::new(0);

#[cache_result("keys_user_name", ttl = 60)]
fn user_name(id: u32) -> String {
    USER_LOOKUPS.fetch_add(1, SeqCst);
    format!("user {id}")
}

#[test]
fn an_i64_invalidates_the_entry_of_a_u32_parameter() {
    assert_eq!(user_name(7), "user 7");
    assert_eq!(user_name(7), "user 7");
    assert_eq!(USER_LOOKUPS.load(SeqCst), 1);
    // Another layer holds the id as an i64: the same value, the same key.
    assert!(global().invalidate("keys_user_name", &(7i64,)));
    assert_eq!(user_name(7), "user 7");
    assert_eq!(
        USER_LOOKUPS.load(SeqCst),
        2,
        "recomputed after the invalidation"
    );
    // Any width or signedness of 7 finds it; other values do not.
    assert!(!global().invalidate("keys_user_name", &(-7i64,)));
    assert!(!global().invalidate("keys_user_name", &(8u64,)));
    assert!(global().invalidate("keys_user_name", &(7u8,)));
    assert!(
        !global().invalidate("keys_user_name", &(7i32,)),
        "already gone"
    );
    assert_eq!(user_name(7), "user 7");
    assert_eq!(USER_LOOKUPS.load(SeqCst), 3);
}

static RECIPS: AtomicU32 = AtomicU32::new(0);

#[cache_result("keys_recip", ttl = 60)]
fn recip(x: f64) -> f64 {
    RECIPS.fetch_add(1, SeqCst);
    1.0 / x
}

#[test]
fn negative_zero_is_not_zero() {
    assert_eq!(recip(0.0), f64::INFINITY);
    assert_eq!(
        recip(-0.0),
        f64::NEG_INFINITY,
        "computed again, not 0.0's entry"
    );
    assert_eq!(RECIPS.load(SeqCst), 2);
    assert_eq!(recip(-0.0), f64::NEG_INFINITY);
    assert_eq!(recip(0.0), f64::INFINITY);
    assert_eq!(
        RECIPS.load(SeqCst),
        2,
        "both are cached, each under its own key"
    );
}

#[cache_result("keys_nan_bits", ttl = 60)]
fn bits_of(x: f64) -> u64 {
    x.to_bits()
}

#[test]
fn nans_with_different_payloads_are_different_keys() {
    let quiet = f64::from_bits(0x7ff8_0000_0000_0000);
    let payload = f64::from_bits(0x7ff8_0000_0000_002a);
    assert_eq!(bits_of(quiet), 0x7ff8_0000_0000_0000);
    assert_eq!(bits_of(payload), 0x7ff8_0000_0000_002a);
    assert_eq!(bits_of(-quiet), 0xfff8_0000_0000_0000);
    // A NaN is its own key, although `NaN != NaN`.
    assert!(global().invalidate("keys_nan_bits", &(quiet,)));
}

static RATIOS: AtomicU32 = AtomicU32::new(0);

#[cache_result("keys_ratio", ttl = 60)]
fn scaled(ratio: f32) -> u32 {
    RATIOS.fetch_add(1, SeqCst);
    (ratio * 100.0) as u32
}

#[test]
fn an_f32_is_keyed_as_the_f64_of_the_same_value() {
    assert_eq!(scaled(1.5), 150);
    assert_eq!(scaled(0.1), 10);
    assert!(global().invalidate("keys_ratio", &(1.5f64,)));
    // 0.1f32 and 0.1f64 are different numbers, so different keys.
    assert!(!global().invalidate("keys_ratio", &(0.1f64,)));
    assert!(global().invalidate("keys_ratio", &(f64::from(0.1f32),)));
    assert_eq!(RATIOS.load(SeqCst), 2);
}

/// Serde writes only the content of an untagged enum's variant: `User(1)` and
/// `Group(1)` serialize alike, so any serde-based key confuses them.
#[derive(Debug, Clone, Copy, Serialize)]
#[serde(untagged)]
enum Id {
    User(u64),
    Group(u64),
}

impl Id {
    fn kind(&self) -> &'static str {
        match self {
            Id::User(_) => "user",
            Id::Group(_) => "group",
        }
    }
    fn number(&self) -> u64 {
        match self {
            Id::User(n) | Id::Group(n) => *n,
        }
    }
}

#[cache_result("keys_untagged_default", ttl = 60)]
fn owner_by_default_key(id: Id) -> String {
    format!("{} {}", id.kind(), id.number())
}

#[cache_result("keys_untagged_explicit", ttl = 60, key = (id.kind(), id.number()))]
fn owner(id: Id) -> String {
    format!("{} {}", id.kind(), id.number())
}

#[test]
fn an_untagged_enum_needs_an_explicit_key() {
    // The README's warning: the default key cannot see the variant.
    assert_eq!(owner_by_default_key(Id::User(1)), "user 1");
    assert_eq!(owner_by_default_key(Id::Group(1)), "user 1");
    // `key = ...` names what tells the values apart.
    assert_eq!(owner(Id::User(1)), "user 1");
    assert_eq!(owner(Id::Group(1)), "group 1");
    assert!(global().invalidate("keys_untagged_explicit", &("group", 1u64)));
}

#[derive(Serialize)]
enum Scope {
    Channel { id: u64, tags: Vec<String> },
}

/// Keys of values whose encoding could depend on the process: a `HashMap` (its iteration
/// order depends on a per-process random seed), floats, extreme integers, a char, enums.
fn sample_keys() -> Vec<String> {
    let map: HashMap<String, i64> = (0..50).map(|i| (format!("k{i}"), -i)).collect();
    let scope = Scope::Channel {
        id: 3,
        tags: vec!["a".into(), "b".into()],
    };
    let key = |value: &dyn erased::Key| value.cache_key().to_string();
    vec![
        key(&(7u32,)),
        key(&(map,)),
        key(&(-0.0f64, f64::from_bits(0x7ff8_0000_0000_002a), 1.5f32)),
        key(&(i128::MIN, u128::MAX, 'é')),
        key(&(Some(Some(scope)), None::<u8>)),
    ]
}

/// A way to put key values of different types in one list.
mod erased {
    pub(crate) trait Key {
        fn cache_key(&self) -> cache_runtime::CacheKey;
    }
    impl<T: serde::Serialize> Key for T {
        fn cache_key(&self) -> cache_runtime::CacheKey {
            cache_runtime::CacheKey::new::<u64, _>("ns", "keys", 1, self).expect("encodes")
        }
    }
}

#[test]
fn keys_are_identical_in_another_process() {
    if std::env::var_os("CACHE_KEYS_CHILD").is_some() {
        for k in sample_keys() {
            println!("KEY={k}");
        }
        return;
    }
    let exe = std::env::current_exe().expect("test binary");
    let out = std::process::Command::new(exe)
        .args([
            "--exact",
            "keys_are_identical_in_another_process",
            "--nocapture",
        ])
        .env("CACHE_KEYS_CHILD", "1")
        .output()
        .expect("child runs");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let child: Vec<&str> = stdout
        .lines()
        .filter_map(|l| l.strip_prefix("KEY="))
        .collect();
    assert_eq!(child, sample_keys(), "child printed: {stdout}");
}

#[test]
fn the_key_of_a_fixed_value_is_pinned() {
    // Instances running other builds and versions share Redis entries under this name:
    // it may only change with a CHANGELOG **breaking:** line.
    let key = CacheKey::new::<u64, _>("ns", "users", 3, &(7u32, -1i64, "en", -0.0f64, 1.5f32))
        .expect("encodes");
    assert_eq!(
        key.to_string(),
        "ns:users:v3:326210a89af4405ad5dd015c531320fc16a7f05eabc5e15c31fb03323f37570e"
    );
    // The same values in other widths and signedness are the same key.
    let wide = CacheKey::new::<u64, _>("ns", "users", 3, &(7i64, -1i8, "en", -0.0f64, 1.5f64))
        .expect("encodes");
    assert_eq!(wide, key);
}
