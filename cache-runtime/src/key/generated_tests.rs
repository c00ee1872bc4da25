//! Unit tests of the key encoding on generated values: every shape serde has, mixed,
//! with strings and floats chosen to look like the encoding's own tags and lengths.

use super::*;

/// A float that serializes as the `f32` with these bits (comparable and hashable).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
struct F32(u32);
impl Serialize for F32 {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_f32(f32::from_bits(self.0))
    }
}
/// A float that serializes as the `f64` with these bits.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
struct F64(u64);
impl Serialize for F64 {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_f64(f64::from_bits(self.0))
    }
}
/// A byte string (serde's `serialize_bytes`, not a sequence).
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
struct Bytes(Vec<u8>);
impl Serialize for Bytes {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_bytes(&self.0)
    }
}
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
struct Wrapped(Box<Shape>);
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
struct Marker;

/// One key type with every shape serde has, so that "different values" is plain `!=`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
enum Shape {
    Unit,
    Marker(Marker),
    Bool(bool),
    Small(i8),
    Wide(i128),
    Huge(u128),
    Half(F32),
    Full(F64),
    Char(char),
    Str(String),
    Words(String, String),
    Bytes(Bytes),
    Opt(Option<Option<Box<Shape>>>),
    List(Vec<Shape>),
    Pair(Box<Shape>, Box<Shape>),
    Tuple((Box<Shape>, u8, String)),
    Map(BTreeMap<Shape, Shape>),
    Record {
        #[serde(skip_serializing_if = "Option::is_none")]
        a: Option<Box<Shape>>,
        #[serde(skip_serializing_if = "Option::is_none")]
        b: Option<Box<Shape>>,
        c: Vec<Shape>,
    },
    Wrapped(Wrapped),
}

/// Strings whose bytes look like tags, markers and length prefixes.
fn tricky_string(rng: &mut fastrand::Rng) -> String {
    // Mostly the bytes of END/MORE (0, 1), STR (0x0a) and a letter, so that a string
    // that swallowed its neighbour's length or marker would be generated too.
    const COMMON: [char; 4] = ['\0', '\u{1}', '\u{a}', 'a'];
    const RARE: [char; 4] = ['\u{2}', '\u{5}', '\u{7f}', 'é'];
    (0..rng.usize(0..4))
        .map(|_| match rng.u8(0..8) {
            0 => RARE[rng.usize(..RARE.len())],
            _ => COMMON[rng.usize(..COMMON.len())],
        })
        .collect()
}

fn float64(rng: &mut fastrand::Rng) -> F64 {
    const POOL: [u64; 10] = [
        0,
        0x8000_0000_0000_0000,
        0x7ff8_0000_0000_0000,
        0xfff8_0000_0000_0000,
        0x7ff8_0000_0000_0001,
        0x7ff0_0000_0000_0001,
        0x7ff0_0000_0000_0000,
        0x3ff8_0000_0000_0000,
        1,
        0x0010_0000_0000_0000,
    ];
    F64(match rng.u8(0..4) {
        0 => rng.u64(..),
        _ => POOL[rng.usize(..POOL.len())],
    })
}

fn float32(rng: &mut fastrand::Rng) -> F32 {
    const POOL: [u32; 8] = [
        0,
        0x8000_0000,
        0x7fc0_0000,
        0xffc0_0000,
        0x7f80_0001,
        0x7f80_0000,
        0x3fc0_0000,
        1,
    ];
    F32(match rng.u8(0..4) {
        0 => rng.u32(..),
        _ => POOL[rng.usize(..POOL.len())],
    })
}

/// One of a dozen small values.
fn tiny(rng: &mut fastrand::Rng) -> Shape {
    match rng.u8(0..3) {
        0 => Shape::Unit,
        1 => Shape::Bool(rng.bool()),
        _ => Shape::Small(rng.i8(-3..4)),
    }
}

fn shape(rng: &mut fastrand::Rng, depth: u32) -> Shape {
    let kinds = if depth == 0 { 12 } else { 19 };
    let boxed = |rng: &mut fastrand::Rng| Box::new(shape(rng, depth - 1));
    match rng.u8(0..kinds) {
        0 => Shape::Unit,
        1 => Shape::Marker(Marker),
        2 => Shape::Bool(rng.bool()),
        3 => Shape::Small(rng.i8(-3..4)),
        4 => Shape::Wide(match rng.u8(0..4) {
            0 => rng.i128(..),
            1 => [i128::MIN, i128::MAX, -129, 128][rng.usize(..4)],
            _ => rng.i128(-3..4),
        }),
        5 => Shape::Huge(match rng.u8(0..4) {
            0 => rng.u128(..),
            1 => u128::MAX,
            _ => rng.u128(0..4),
        }),
        6 => Shape::Half(float32(rng)),
        7 => Shape::Full(float64(rng)),
        8 => Shape::Char(['\0', '\u{1}', 'a', 'é', '\u{10ffff}'][rng.usize(..5)]),
        9 => Shape::Str(tricky_string(rng)),
        10 => Shape::Bytes(Bytes(tricky_string(rng).into_bytes())),
        11 => Shape::Words(tricky_string(rng), tricky_string(rng)),
        12 => Shape::Opt(match rng.u8(0..3) {
            0 => None,
            1 => Some(None),
            _ => Some(Some(boxed(rng))),
        }),
        13 => Shape::List((0..rng.usize(0..4)).map(|_| *boxed(rng)).collect()),
        14 => Shape::Pair(boxed(rng), boxed(rng)),
        15 => Shape::Tuple((boxed(rng), rng.u8(0..3), tricky_string(rng))),
        16 => Shape::Map(
            (0..rng.usize(0..4))
                .map(|_| (*boxed(rng), *boxed(rng)))
                .collect(),
        ),
        17 => Shape::Record {
            // Often one of the two, with a value from a small set: a skipped field
            // that left no trace would make {a: x} and {b: x} collide.
            a: rng.bool().then(|| Box::new(tiny(rng))),
            b: rng.bool().then(|| Box::new(tiny(rng))),
            c: (0..rng.usize(0..3)).map(|_| *boxed(rng)).collect(),
        },
        _ => Shape::Wrapped(Wrapped(boxed(rng))),
    }
}

#[test]
fn generated_values_of_mixed_shapes_never_collide() {
    // Pairs, so that where one value ends and the next begins is tested too.
    let mut rng = fastrand::Rng::with_seed(0x6b65_7973);
    let mut by_encoding: HashMap<Vec<u8>, (Shape, Shape)> = HashMap::new();
    let mut repeats = 0;
    for _ in 0..60_000 {
        let depth = rng.u32(0..4);
        let first = shape(&mut rng, depth);
        // Half the time a small second value, so that equal pairs recur often enough
        // for a collision in the first value to be met.
        let second = match rng.bool() {
            true => tiny(&mut rng),
            false => shape(&mut rng, depth),
        };
        let value = (first, second);
        let bytes = enc(&value);
        assert_eq!(bytes, enc(&value.clone()), "the encoding is deterministic");
        match by_encoding.get(&bytes) {
            Some(earlier) => {
                assert_eq!(
                    earlier, &value,
                    "two values share the encoding {bytes:02x?}"
                );
                repeats += 1;
            }
            None => {
                by_encoding.insert(bytes, value);
            }
        }
    }
    // Both directions were exercised: many distinct values, and equal values met again.
    assert!(by_encoding.len() > 20_000, "{} distinct", by_encoding.len());
    assert!(repeats > 5_000, "{repeats} repeats");
}
