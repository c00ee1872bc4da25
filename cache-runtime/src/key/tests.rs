//! Unit tests of the key encoding.
#![cfg(test)]

use std::collections::{BTreeMap, HashMap, HashSet};

use serde::Serialize;

use super::*;
use crate::key::CacheKey;

fn enc<K: Serialize + ?Sized>(k: &K) -> Vec<u8> {
    encode_key(k, &[]).expect("encodes").0.encoded().to_vec()
}

/// The encodings of `v` as every integer type it fits in.
fn every_width(v: i128) -> Vec<Vec<u8>> {
    let mut out = vec![enc(&v)];
    macro_rules! push {
        ($($t:ty),*) => {$(
            if let Ok(x) = <$t>::try_from(v) {
                out.push(enc(&x));
            }
        )*};
    }
    push!(i8, i16, i32, i64, u8, u16, u32, u64, u128);
    out
}

/// What an integer key says: `NonNeg(v)` or `Neg(-1 - v)`, and nothing after it.
#[derive(Debug, PartialEq, Eq, Hash, Clone, Copy)]
enum Int {
    NonNeg(u128),
    Neg(u128),
}

fn decode_int(bytes: &[u8]) -> Option<Int> {
    let (&tag, mut rest) = bytes.split_first()?;
    let mut v = 0u128;
    let mut shift = 0;
    loop {
        let (&b, tail) = rest.split_first()?;
        rest = tail;
        v |= u128::from(b & 0x7f).checked_shl(shift)?;
        shift += 7;
        if b & 0x80 == 0 {
            break;
        }
    }
    if !rest.is_empty() {
        return None;
    }
    match tag {
        tag::UINT => Some(Int::NonNeg(v)),
        tag::NEG_INT => Some(Int::Neg(v)),
        _ => None,
    }
}

#[test]
fn different_values_encode_differently() {
    // Adjacent strings cannot run into each other.
    assert_ne!(enc(&("ab", "c")), enc(&("a", "bc")));
    assert_ne!(
        enc(&(vec![1u8, 2], vec![3u8])),
        enc(&(vec![1u8], vec![2u8, 3]))
    );
    assert_ne!(enc(&Some(0u32)), enc(&None::<u32>));
    assert_ne!(enc(&Some(None::<u32>)), enc(&None::<Option<u32>>));
    assert_ne!(enc(&-1i64), enc(&1i64));
    assert_ne!(enc(&1.5f64), enc(&2.5f64));
    #[derive(Serialize)]
    struct Q {
        #[serde(skip_serializing_if = "Option::is_none")]
        a: Option<u32>,
        #[serde(skip_serializing_if = "Option::is_none")]
        b: Option<u32>,
    }
    assert_ne!(
        enc(&Q {
            a: Some(1),
            b: None
        }),
        enc(&Q {
            a: None,
            b: Some(1)
        })
    );
}

#[test]
fn equal_values_encode_alike() {
    // A borrowed and an owned string, a reference and its value, are one key.
    assert_eq!(enc(&("x".to_string(), 7u64)), enc(&(&"x", &7u64)));
    let mut h = HashMap::new();
    let mut b = BTreeMap::new();
    for i in 0..64u32 {
        h.insert(format!("k{i}"), i);
        b.insert(format!("k{i}"), i);
    }
    assert_eq!(enc(&h), enc(&b));
}

#[test]
fn integers_key_by_value_whatever_their_width_or_sign() {
    assert_eq!(enc(&(7i64,)), enc(&(7u32,)));
    assert_eq!(enc(&7u8), enc(&7i128));
    assert_eq!(enc(&-1i8), enc(&-1i64));
    let values = [
        0,
        1,
        7,
        127,
        128,
        255,
        256,
        -1,
        -2,
        -127,
        -128,
        -129,
        i128::from(i16::MIN),
        i128::from(u16::MAX),
        i128::from(i32::MIN),
        i128::from(u32::MAX),
        i128::from(i64::MIN),
        i128::from(i64::MAX),
        i128::from(u64::MAX),
        i128::MIN,
        i128::MAX,
    ];
    let mut seen = HashMap::new();
    for v in values {
        let widths = every_width(v);
        assert!(
            widths.iter().all(|e| e == &widths[0]),
            "{v} encodes differently in different types: {widths:?}"
        );
        if let Some(other) = seen.insert(widths[0].clone(), v) {
            panic!("{v} and {other} share an encoding");
        }
    }
    // Random values: the same value keys alike in every type, different values never.
    let mut rng = fastrand::Rng::with_seed(7);
    for _ in 0..20_000 {
        let v = match rng.u8(0..4) {
            0 => i128::from(rng.i8(..)),
            1 => i128::from(rng.i32(..)),
            2 => i128::from(rng.i64(..)),
            _ => rng.i128(..),
        };
        let widths = every_width(v);
        assert!(widths.iter().all(|e| e == &widths[0]), "{v}: {widths:?}");
        if let Some(other) = seen.insert(widths[0].clone(), v) {
            assert_eq!(other, v, "{v} and {other} share an encoding");
        }
    }
}

#[test]
fn an_integer_is_a_tag_and_the_varint_of_its_value() {
    assert_eq!(enc(&0u64), [tag::UINT, 0x00]);
    assert_eq!(enc(&7i32), [tag::UINT, 0x07]);
    assert_eq!(enc(&128u8), [tag::UINT, 0x80, 0x01]);
    assert_eq!(enc(&300i16), [tag::UINT, 0xac, 0x02]);
    // Negative: the varint of -1 - v.
    assert_eq!(enc(&-1i8), [tag::NEG_INT, 0x00]);
    assert_eq!(enc(&-7i64), [tag::NEG_INT, 0x06]);
    assert_eq!(enc(&-128i8), [tag::NEG_INT, 0x7f]);
    assert_eq!(enc(&-129i16), [tag::NEG_INT, 0x80, 0x01]);
}

#[test]
fn extreme_integers_round_trip_distinctly() {
    let signed = [
        i128::MIN,
        i128::MIN + 1,
        i128::from(i64::MIN),
        -1,
        0,
        1,
        i128::from(i64::MAX),
        i128::from(u64::MAX),
        i128::MAX - 1,
        i128::MAX,
    ];
    let mut decoded = HashSet::new();
    for v in signed {
        let int = decode_int(&enc(&v)).unwrap_or_else(|| panic!("{v} is not an integer key"));
        let back = match int {
            Int::NonNeg(m) => i128::try_from(m).expect("non-negative i128"),
            Int::Neg(m) => !i128::try_from(m).expect("magnitude below 2^127"),
        };
        assert_eq!(back, v);
        assert!(decoded.insert(int), "{v} decodes like an earlier value");
    }
    // u128::MAX is above every i128, and u128 values above i128::MAX still fit.
    for v in [u128::MAX, u128::MAX - 1, 1u128 << 127] {
        let int = decode_int(&enc(&v)).expect("an integer key");
        assert_eq!(int, Int::NonNeg(v));
        assert!(decoded.insert(int), "{v} decodes like an earlier value");
    }
    // i128::MIN is -1 - i128::MAX: the largest magnitude a negative key carries.
    assert_eq!(
        decode_int(&enc(&i128::MIN)),
        Some(Int::Neg(i128::MAX as u128))
    );
    assert_eq!(enc(&u128::MAX).len(), 1 + 19);
}

#[test]
fn floats_key_by_their_exact_bits() {
    assert_ne!(enc(&0.0f64), enc(&-0.0f64));
    assert_ne!(enc(&0.0f32), enc(&-0.0f32));
    assert_eq!(enc(&-0.0f64), [tag::F64, 0, 0, 0, 0, 0, 0, 0, 0x80]);
    // NaNs differ by sign and by payload; one NaN is itself.
    let quiet = f64::from_bits(0x7ff8_0000_0000_0000);
    let payload = f64::from_bits(0x7ff8_0000_0000_0001);
    let signaling = f64::from_bits(0x7ff0_0000_0000_0001);
    let nans = [quiet, -quiet, payload, signaling];
    let encoded: HashSet<_> = nans.iter().map(enc).collect();
    assert_eq!(encoded.len(), nans.len());
    assert_eq!(enc(&quiet), enc(&f64::from_bits(quiet.to_bits())));
    assert_ne!(
        enc(&f32::from_bits(0x7fc0_0000)),
        enc(&f32::from_bits(0x7f80_0001))
    );
    // f32 widens to the f64 of the same value.
    assert_eq!(enc(&1.5f32), enc(&1.5f64));
    assert_eq!(enc(&-0.0f32), enc(&-0.0f64));
    assert_eq!(enc(&f32::INFINITY), enc(&f64::INFINITY));
    assert_eq!(enc(&f32::MIN_POSITIVE), enc(&f64::from(f32::MIN_POSITIVE)));
    assert_eq!(
        enc(&f32::from_bits(1)),
        enc(&f64::from(f32::from_bits(1))),
        "the smallest subnormal"
    );
    assert_ne!(enc(&0.1f32), enc(&0.1f64), "different numbers");
    assert_eq!(
        enc(&f32::from_bits(0xffc0_0001)),
        enc(&f64::from_bits(0xfff8_0000_2000_0000)),
        "a NaN keeps its sign and payload"
    );
    // Floats are not integers.
    assert_ne!(enc(&1.0f64), enc(&1u64));
}

#[test]
fn f32_widening_is_injective() {
    // Narrowing undoes widening for every f32 tried: the boundaries of every class
    // (zeros, subnormals, normals, infinities, quiet and signaling NaNs of both signs)
    // and a million random bit patterns.
    fn narrow(bits: u64) -> u32 {
        let v = f64::from_bits(bits);
        if v.is_nan() {
            let sign = ((bits >> 63) as u32) << 31;
            sign | 0x7f80_0000 | ((bits >> 29) as u32 & 0x007f_ffff)
        } else {
            (v as f32).to_bits()
        }
    }
    let mut rng = fastrand::Rng::with_seed(32);
    let edges = [
        0,
        1,
        0x007f_ffff,
        0x0080_0000,
        0x3fc0_0000,
        0x7f7f_ffff,
        0x7f80_0000,
        0x7f80_0001,
        0x7fbf_ffff,
        0x7fc0_0000,
        0x7fff_ffff,
    ];
    let patterns = edges
        .into_iter()
        .flat_map(|b| [b, b | 0x8000_0000])
        .chain(std::iter::repeat_with(|| rng.u32(..)).take(1 << 20));
    for b in patterns {
        let wide = f32_as_f64_bits(f32::from_bits(b));
        assert_eq!(narrow(wide), b, "{b:#010x} widened to {wide:#018x}");
        assert_eq!(
            f32::from_bits(b).is_nan(),
            f64::from_bits(wide).is_nan(),
            "{b:#010x}"
        );
    }
}

#[test]
fn chars_bools_units_newtypes_and_enums_stay_apart() {
    #[derive(Serialize)]
    struct UserId(u64);
    #[derive(Serialize)]
    struct Unit;
    #[derive(Serialize)]
    enum E {
        A,
        B,
        N(u32),
        M(u32),
        T(u32, u32),
        S { x: u32 },
    }
    // Tags of their own: a char is not its code point, a bool is not 0 or 1.
    assert_ne!(enc(&'a'), enc(&97u32));
    assert_ne!(enc(&true), enc(&1u8));
    assert_ne!(enc(&false), enc(&0u8));
    assert_ne!(enc(&()), enc(&None::<u8>));
    assert_ne!(enc(&'a'), enc(&"a"));
    assert_ne!(enc(&'\u{10ffff}'), enc(&'\u{10fffe}'));
    // A newtype is its content; a unit struct is the unit.
    assert_eq!(enc(&UserId(7)), enc(&7u64));
    assert_eq!(enc(&Unit), enc(&()));
    // Variants differ by index whatever they hold.
    let variants = [
        enc(&E::A),
        enc(&E::B),
        enc(&E::N(1)),
        enc(&E::M(1)),
        enc(&E::N(2)),
        enc(&E::T(1, 2)),
        enc(&E::T(2, 1)),
        enc(&E::S { x: 1 }),
    ];
    assert_eq!(
        variants.iter().collect::<HashSet<_>>().len(),
        variants.len()
    );
}

#[test]
fn the_encoding_of_a_fixed_value_is_pinned() {
    // Other processes and other versions of this crate read the same Redis entries, so
    // these bytes may only change with a CHANGELOG **breaking:** line.
    let mut m = HashMap::new();
    m.insert("b", -2i8);
    m.insert("a", 3);
    let value = (42u64, -3i32, "en", Some(1.5f32), vec![true], m, 'é');
    let expected: Vec<u8> = [
        &[tag::TUPLE][..],
        &[tag::UINT, 42],                                     // 42u64
        &[tag::NEG_INT, 2],                                   // -3i32: the varint of -1 - (-3)
        &[tag::STR, 2, b'e', b'n'],                           // "en": its length, its bytes
        &[tag::SOME, tag::F64, 0, 0, 0, 0, 0, 0, 0xf8, 0x3f], // Some(1.5f32): the bits of 1.5f64
        &[tag::SEQ, tag::MORE, tag::TRUE, tag::END],          // vec![true]
        &[tag::MAP],                                          // the HashMap, entries sorted
        &[tag::MORE, tag::STR, 1, b'a', tag::UINT, 3],
        &[tag::MORE, tag::STR, 1, b'b', tag::NEG_INT, 1],
        &[tag::END],
        &[tag::CHAR, 0xe9, 0x01], // 'é': the varint of U+00E9
    ]
    .concat();
    assert_eq!(enc(&value), expected);
}

#[path = "generated_tests.rs"]
mod generated;

#[test]
fn generic_type_names_separate_keys() {
    let (a, a_suffix) = encode_key(&(7u32,), &["u32"]).expect("encodes");
    let (b, b_suffix) = encode_key(&(7u64,), &["u64"]).expect("encodes");
    // Equal values, so only the type suffix keeps the instantiations apart.
    assert_eq!(a[..a_suffix], b[..b_suffix]);
    assert_ne!(a, b);
}

#[test]
fn a_tuple_built_element_by_element_encodes_as_the_tuple() {
    let mut buf = empty_key();
    start_tuple(&mut buf);
    encode_into(&mut buf, &"x").expect("encodes");
    encode_into(&mut buf, &7u64).expect("encodes");
    assert_eq!(
        buf,
        encode_key(&("x".to_string(), 7u64), &[])
            .expect("encodes")
            .0
    );
}

#[test]
fn failing_serialize_is_an_error_not_a_panic() {
    struct Bad;
    impl Serialize for Bad {
        fn serialize<S: serde::Serializer>(&self, _: S) -> Result<S::Ok, S::Error> {
            Err(serde::ser::Error::custom("nope"))
        }
    }
    assert!(encode_key(&Bad, &[]).is_err());
}

#[test]
fn digest_depends_on_every_input() {
    let base = CacheKey::new::<String, _>("ns", "n", 1, &(1u8,)).expect("key");
    for other in [
        CacheKey::new::<String, _>("ns2", "n", 1, &(1u8,)),
        CacheKey::new::<String, _>("ns", "n2", 1, &(1u8,)),
        CacheKey::new::<String, _>("ns", "n", 2, &(1u8,)),
        CacheKey::new::<Vec<u8>, _>("ns", "n", 1, &(1u8,)),
        CacheKey::new::<String, _>("ns", "n", 1, &(2u8,)),
    ] {
        assert_ne!(base, other.expect("key"));
    }
}

#[test]
fn strings_on_either_side_of_the_one_byte_length_encode_alike() {
    // Up to 127 bytes a string is written in one step, from 128 its length is a longer
    // varint: both are the tag, the varint of the length and the bytes, inline or spilled.
    // Each length with its varint, written out.
    let lengths: [(usize, &[u8]); 9] = [
        (0, &[0]),
        (1, &[1]),
        (9, &[9]),
        (95, &[95]),
        (96, &[96]),
        (127, &[0x7f]),
        (128, &[0x80, 0x01]),
        (129, &[0x81, 0x01]),
        (300, &[0xac, 0x02]),
    ];
    for (len, length) in lengths {
        let s = "k".repeat(len);
        let expected = [&[tag::STR][..], length, s.as_bytes()].concat();
        assert_eq!(enc(&s.as_str()), expected, "a {len}-byte string");
        // After 90 bytes of another string the key spills to the heap partway.
        let long = "p".repeat(90);
        let pair = enc(&(long.as_str(), s.as_str()));
        let mut expected_pair = vec![tag::TUPLE, tag::STR, 90];
        expected_pair.extend_from_slice(long.as_bytes());
        expected_pair.extend_from_slice(&expected);
        assert_eq!(
            pair, expected_pair,
            "after a long string, a {len}-byte string"
        );
    }
}
