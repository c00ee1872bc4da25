//! Cache keys: the canonical encoding of key values and the 256-bit digest.
//!
//! A key value (the tuple of a function's key inputs, or the value of its `key = ...`
//! expression) is encoded by [`encode_key`] into a compact, canonical byte string that is
//! self-delimiting given its type: every value carries a one-byte tag, strings and byte
//! strings carry their length, sequences and maps carry continuation markers, skipped
//! struct fields leave a marker, and map entries are sorted by their encoded key. Two
//! different values of one key type therefore never encode alike (the encoding is
//! injective), and a `HashMap` encodes the same in every process: nothing depends on a
//! hash seed, an address or the platform's byte order. The in-process tier looks entries
//! up by these bytes directly; the 256-bit [`CacheKey`] digest (blake3) is only computed
//! when something outside the process needs a name for the entry.
//!
//! Keys are by value, exactly:
//! - An integer is its mathematical value, whatever its width or signedness: `7u8`,
//!   `7u32`, `7i64` and `7u128` are one key, `-1i8` and `-1i64` another. A value `v >= 0`
//!   is the `UINT` tag and the LEB128 varint of `v`; a value `v < 0` is the `NEG_INT` tag
//!   and the varint of `-1 - v` (so `-1` is `NEG_INT 0`, and `i128::MIN` fits).
//! - A float is its exact IEEE 754 bits, as an `f64`: `-0.0` is not `0.0`, and NaNs
//!   with different sign or payload are different keys. An `f32` is widened to the `f64`
//!   of the same value (exact for every finite value and the infinities; a NaN keeps its
//!   sign and payload, moved into the top of the `f64` mantissa), so `1.5f32` and
//!   `1.5f64` are one key while `0.1f32` and `0.1f64`, different numbers, are not.
//! - `char`, `bool`, strings, byte strings, `()` and sequences have tags of their own, so
//!   `'a'` is not `97` and `true` is not `1`. A newtype struct is its content; an enum
//!   variant is its index (so reordering variants changes keys: bump `version`).
//! - A generic function's concrete type parameters follow the value ([`push_generics`]),
//!   which keeps `f::<u32>(7)` and `f::<u64>(7)` apart although their values are equal.

use std::fmt;

use serde::ser::{self, Serialize};
use smallvec::SmallVec;

/// Inline capacity of an encoded key: keys up to this size never touch the heap.
const INLINE: usize = 96;

/// Bytes reserved at the start of every encoded key for the cache id and version.
pub(crate) const PREFIX: usize = 8;

pub(crate) type KeyBuf = SmallVec<[u8; INLINE]>;

mod tag {
    pub(super) const UNIT: u8 = 0x00;
    pub(super) const NONE: u8 = 0x01;
    pub(super) const SOME: u8 = 0x02;
    pub(super) const FALSE: u8 = 0x03;
    pub(super) const TRUE: u8 = 0x04;
    /// A non-negative integer of any width: the varint of its value.
    pub(super) const UINT: u8 = 0x05;
    /// A negative integer of any width: the varint of `-1 - value`.
    pub(super) const NEG_INT: u8 = 0x06;
    // 0x07 was the tag of `f32` keys before floats were keyed as `f64` bits; not reused, so
    // no key written by an older version means something else now.
    /// A float of either width: the eight little-endian bytes of its `f64` bits.
    pub(super) const F64: u8 = 0x08;
    pub(super) const CHAR: u8 = 0x09;
    pub(super) const STR: u8 = 0x0a;
    pub(super) const BYTES: u8 = 0x0b;
    pub(super) const UNIT_VARIANT: u8 = 0x0c;
    pub(super) const NEWTYPE_VARIANT: u8 = 0x0d;
    pub(super) const SEQ: u8 = 0x0e;
    pub(super) const TUPLE: u8 = 0x0f;
    pub(super) const TUPLE_VARIANT: u8 = 0x10;
    pub(super) const MAP: u8 = 0x11;
    pub(super) const STRUCT: u8 = 0x12;
    pub(super) const STRUCT_VARIANT: u8 = 0x13;
    pub(super) const GENERIC: u8 = 0x14;
    /// Before each element of a sequence or map, and before each present struct field.
    pub(super) const MORE: u8 = 0x01;
    /// After the last element of a sequence or map, and for a skipped struct field.
    pub(super) const END: u8 = 0x00;
}

/// Why a key value could not be encoded.
///
/// Only hand-written `Serialize` implementations that return an error produce this; the
/// cached function then runs uncached for that call and the error is counted and logged.
///
/// ```
/// let err = cache_runtime::KeyError::new("bad key");
/// assert_eq!(err.to_string(), "cache key could not be encoded: bad key");
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyError(String);

impl KeyError {
    /// An encoding error with a message.
    ///
    /// ```
    /// let err = cache_runtime::KeyError::new("unsupported");
    /// assert!(err.to_string().contains("unsupported"));
    /// ```
    pub fn new(msg: impl Into<String>) -> Self {
        Self(msg.into())
    }
}

impl fmt::Display for KeyError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "cache key could not be encoded: {}", self.0)
    }
}

impl std::error::Error for KeyError {}

impl ser::Error for KeyError {
    fn custom<T: fmt::Display>(msg: T) -> Self {
        Self(msg.to_string())
    }
}

/// Encodes `value` (plus the concrete types of a generic function's type parameters) into
/// a key buffer whose first [`PREFIX`] bytes are left for the cache id. Returns the
/// buffer and where the type parameters begin.
pub(crate) fn encode_key<K: Serialize + ?Sized>(
    value: &K,
    generics: &[&'static str],
) -> Result<(KeyBuf, usize), KeyError> {
    let mut buf = empty_key();
    encode_into(&mut buf, value)?;
    let suffix = buf.len();
    push_generics(&mut buf, generics);
    Ok((buf, suffix))
}

/// A key buffer holding only the reserved prefix.
#[inline]
pub(crate) fn empty_key() -> KeyBuf {
    KeyBuf::from_slice(&[0; PREFIX])
}

/// Appends one value's encoding.
#[inline]
pub(crate) fn encode_into<K: Serialize + ?Sized>(
    buf: &mut KeyBuf,
    value: &K,
) -> Result<(), KeyError> {
    value.serialize(&mut Encoder { out: buf })
}

/// Starts a tuple whose elements are then appended one by one: the same bytes as
/// encoding the whole tuple, so `(a, b)` passed to `invalidate` finds the entry.
#[inline]
pub(crate) fn start_tuple(buf: &mut KeyBuf) {
    buf.push(tag::TUPLE);
}

/// Appends the concrete types of a generic function's type parameters.
#[inline]
pub(crate) fn push_generics(buf: &mut KeyBuf, generics: &[&'static str]) {
    for name in generics {
        buf.push(tag::GENERIC);
        write_str(buf, name);
    }
}

#[inline]
fn write_uvarint(out: &mut KeyBuf, mut v: u128) {
    loop {
        let byte = (v & 0x7f) as u8;
        v >>= 7;
        if v == 0 {
            out.push(byte);
            return;
        }
        out.push(byte | 0x80);
    }
}

#[inline]
fn write_str(out: &mut KeyBuf, s: &str) {
    write_uvarint(out, s.len() as u128);
    out.extend_from_slice(s.as_bytes());
}

/// The exact bits of the `f64` whose value is `v`. Widening is exact for every finite
/// value and the infinities; a NaN, which `as f64` may quiet, is widened bit by bit: sign
/// kept, all-ones exponent, its 23-bit payload in the top of the 52-bit mantissa (what the
/// hardware does to a quiet NaN). So two different `f32` never widen alike.
#[inline]
fn f32_as_f64_bits(v: f32) -> u64 {
    if v.is_nan() {
        let bits = v.to_bits();
        let sign = u64::from(bits >> 31) << 63;
        let payload = u64::from(bits & 0x007f_ffff) << 29;
        sign | 0x7ff0_0000_0000_0000 | payload
    } else {
        f64::from(v).to_bits()
    }
}

struct Encoder<'a> {
    out: &'a mut KeyBuf,
}

impl Encoder<'_> {
    /// An integer by its value: the same bytes for `7u8`, `7i64` and `7u128`.
    fn uint(&mut self, v: u128) {
        self.out.push(tag::UINT);
        write_uvarint(self.out, v);
    }
    fn sint(&mut self, v: i128) {
        match u128::try_from(v) {
            Ok(v) => self.uint(v),
            Err(_) => {
                // `-1 - v`, which is `!v` in two's complement and never overflows.
                self.out.push(tag::NEG_INT);
                write_uvarint(self.out, (!v) as u128);
            }
        }
    }
    /// A float by its exact bits.
    fn float(&mut self, bits: u64) {
        self.out.push(tag::F64);
        self.out.extend_from_slice(&bits.to_le_bytes());
    }
    fn variant(&mut self, tag: u8, index: u32) {
        self.out.push(tag);
        write_uvarint(self.out, u128::from(index));
    }
}

impl<'a, 'b> ser::Serializer for &'a mut Encoder<'b> {
    type Ok = ();
    type Error = KeyError;
    type SerializeSeq = Seq<'a, 'b>;
    type SerializeTuple = Self;
    type SerializeTupleStruct = Self;
    type SerializeTupleVariant = Self;
    type SerializeMap = Map<'a, 'b>;
    type SerializeStruct = Self;
    type SerializeStructVariant = Self;

    fn serialize_bool(self, v: bool) -> Result<(), KeyError> {
        self.out.push(if v { tag::TRUE } else { tag::FALSE });
        Ok(())
    }
    fn serialize_i8(self, v: i8) -> Result<(), KeyError> {
        self.sint(v.into());
        Ok(())
    }
    fn serialize_i16(self, v: i16) -> Result<(), KeyError> {
        self.sint(v.into());
        Ok(())
    }
    fn serialize_i32(self, v: i32) -> Result<(), KeyError> {
        self.sint(v.into());
        Ok(())
    }
    fn serialize_i64(self, v: i64) -> Result<(), KeyError> {
        self.sint(v.into());
        Ok(())
    }
    fn serialize_i128(self, v: i128) -> Result<(), KeyError> {
        self.sint(v);
        Ok(())
    }
    fn serialize_u8(self, v: u8) -> Result<(), KeyError> {
        self.uint(v.into());
        Ok(())
    }
    fn serialize_u16(self, v: u16) -> Result<(), KeyError> {
        self.uint(v.into());
        Ok(())
    }
    fn serialize_u32(self, v: u32) -> Result<(), KeyError> {
        self.uint(v.into());
        Ok(())
    }
    fn serialize_u64(self, v: u64) -> Result<(), KeyError> {
        self.uint(v.into());
        Ok(())
    }
    fn serialize_u128(self, v: u128) -> Result<(), KeyError> {
        self.uint(v);
        Ok(())
    }
    fn serialize_f32(self, v: f32) -> Result<(), KeyError> {
        // Exact bits, not `==`: `recip(-0.0)` is not `recip(0.0)`.
        self.float(f32_as_f64_bits(v));
        Ok(())
    }
    fn serialize_f64(self, v: f64) -> Result<(), KeyError> {
        self.float(v.to_bits());
        Ok(())
    }
    fn serialize_char(self, v: char) -> Result<(), KeyError> {
        self.out.push(tag::CHAR);
        write_uvarint(self.out, u128::from(u32::from(v)));
        Ok(())
    }
    fn serialize_str(self, v: &str) -> Result<(), KeyError> {
        self.out.push(tag::STR);
        write_str(self.out, v);
        Ok(())
    }
    fn serialize_bytes(self, v: &[u8]) -> Result<(), KeyError> {
        self.out.push(tag::BYTES);
        write_uvarint(self.out, v.len() as u128);
        self.out.extend_from_slice(v);
        Ok(())
    }
    fn serialize_none(self) -> Result<(), KeyError> {
        self.out.push(tag::NONE);
        Ok(())
    }
    fn serialize_some<T: ?Sized + Serialize>(self, value: &T) -> Result<(), KeyError> {
        self.out.push(tag::SOME);
        value.serialize(self)
    }
    fn serialize_unit(self) -> Result<(), KeyError> {
        self.out.push(tag::UNIT);
        Ok(())
    }
    fn serialize_unit_struct(self, _name: &'static str) -> Result<(), KeyError> {
        self.out.push(tag::UNIT);
        Ok(())
    }
    fn serialize_unit_variant(
        self,
        _name: &'static str,
        index: u32,
        _variant: &'static str,
    ) -> Result<(), KeyError> {
        self.variant(tag::UNIT_VARIANT, index);
        Ok(())
    }
    fn serialize_newtype_struct<T: ?Sized + Serialize>(
        self,
        _name: &'static str,
        value: &T,
    ) -> Result<(), KeyError> {
        value.serialize(self)
    }
    fn serialize_newtype_variant<T: ?Sized + Serialize>(
        self,
        _name: &'static str,
        index: u32,
        _variant: &'static str,
        value: &T,
    ) -> Result<(), KeyError> {
        self.variant(tag::NEWTYPE_VARIANT, index);
        value.serialize(self)
    }
    fn serialize_seq(self, _len: Option<usize>) -> Result<Seq<'a, 'b>, KeyError> {
        // Continuation markers instead of a length: the same elements encode alike
        // whether or not the `Serialize` impl knew its length up front.
        self.out.push(tag::SEQ);
        Ok(Seq { enc: self })
    }
    fn serialize_tuple(self, _len: usize) -> Result<Self, KeyError> {
        self.out.push(tag::TUPLE);
        Ok(self)
    }
    fn serialize_tuple_struct(self, _name: &'static str, _len: usize) -> Result<Self, KeyError> {
        self.out.push(tag::TUPLE);
        Ok(self)
    }
    fn serialize_tuple_variant(
        self,
        _name: &'static str,
        index: u32,
        _variant: &'static str,
        _len: usize,
    ) -> Result<Self, KeyError> {
        self.variant(tag::TUPLE_VARIANT, index);
        Ok(self)
    }
    fn serialize_map(self, _len: Option<usize>) -> Result<Map<'a, 'b>, KeyError> {
        Ok(Map {
            enc: self,
            entries: Vec::new(),
            pending: None,
        })
    }
    fn serialize_struct(self, _name: &'static str, _len: usize) -> Result<Self, KeyError> {
        self.out.push(tag::STRUCT);
        Ok(self)
    }
    fn serialize_struct_variant(
        self,
        _name: &'static str,
        index: u32,
        _variant: &'static str,
        _len: usize,
    ) -> Result<Self, KeyError> {
        self.variant(tag::STRUCT_VARIANT, index);
        Ok(self)
    }
}

struct Seq<'a, 'b> {
    enc: &'a mut Encoder<'b>,
}

impl ser::SerializeSeq for Seq<'_, '_> {
    type Ok = ();
    type Error = KeyError;
    fn serialize_element<T: ?Sized + Serialize>(&mut self, value: &T) -> Result<(), KeyError> {
        self.enc.out.push(tag::MORE);
        value.serialize(&mut *self.enc)
    }
    fn end(self) -> Result<(), KeyError> {
        self.enc.out.push(tag::END);
        Ok(())
    }
}

impl ser::SerializeTuple for &mut Encoder<'_> {
    type Ok = ();
    type Error = KeyError;
    fn serialize_element<T: ?Sized + Serialize>(&mut self, value: &T) -> Result<(), KeyError> {
        value.serialize(&mut **self)
    }
    fn end(self) -> Result<(), KeyError> {
        Ok(())
    }
}

impl ser::SerializeTupleStruct for &mut Encoder<'_> {
    type Ok = ();
    type Error = KeyError;
    fn serialize_field<T: ?Sized + Serialize>(&mut self, value: &T) -> Result<(), KeyError> {
        value.serialize(&mut **self)
    }
    fn end(self) -> Result<(), KeyError> {
        Ok(())
    }
}

impl ser::SerializeTupleVariant for &mut Encoder<'_> {
    type Ok = ();
    type Error = KeyError;
    fn serialize_field<T: ?Sized + Serialize>(&mut self, value: &T) -> Result<(), KeyError> {
        value.serialize(&mut **self)
    }
    fn end(self) -> Result<(), KeyError> {
        Ok(())
    }
}

impl ser::SerializeStruct for &mut Encoder<'_> {
    type Ok = ();
    type Error = KeyError;
    fn serialize_field<T: ?Sized + Serialize>(
        &mut self,
        _key: &'static str,
        value: &T,
    ) -> Result<(), KeyError> {
        self.out.push(tag::MORE);
        value.serialize(&mut **self)
    }
    fn skip_field(&mut self, _key: &'static str) -> Result<(), KeyError> {
        // `skip_serializing_if` leaves a marker, so `{a: None, b: Some(1)}` and
        // `{a: Some(1), b: None}` stay distinct.
        self.out.push(tag::END);
        Ok(())
    }
    fn end(self) -> Result<(), KeyError> {
        Ok(())
    }
}

impl ser::SerializeStructVariant for &mut Encoder<'_> {
    type Ok = ();
    type Error = KeyError;
    fn serialize_field<T: ?Sized + Serialize>(
        &mut self,
        _key: &'static str,
        value: &T,
    ) -> Result<(), KeyError> {
        self.out.push(tag::MORE);
        value.serialize(&mut **self)
    }
    fn skip_field(&mut self, _key: &'static str) -> Result<(), KeyError> {
        self.out.push(tag::END);
        Ok(())
    }
    fn end(self) -> Result<(), KeyError> {
        Ok(())
    }
}

/// Map entries are encoded one by one and sorted before they are written, so the order a
/// `HashMap` happens to iterate in does not change the key.
struct Map<'a, 'b> {
    enc: &'a mut Encoder<'b>,
    entries: Vec<(KeyBuf, KeyBuf)>,
    pending: Option<KeyBuf>,
}

fn encode_alone<T: ?Sized + Serialize>(value: &T) -> Result<KeyBuf, KeyError> {
    let mut buf = KeyBuf::new();
    value.serialize(&mut Encoder { out: &mut buf })?;
    Ok(buf)
}

impl ser::SerializeMap for Map<'_, '_> {
    type Ok = ();
    type Error = KeyError;
    fn serialize_key<T: ?Sized + Serialize>(&mut self, key: &T) -> Result<(), KeyError> {
        self.pending = Some(encode_alone(key)?);
        Ok(())
    }
    fn serialize_value<T: ?Sized + Serialize>(&mut self, value: &T) -> Result<(), KeyError> {
        let key = self
            .pending
            .take()
            .ok_or_else(|| KeyError::new("map value serialized before its key"))?;
        self.entries.push((key, encode_alone(value)?));
        Ok(())
    }
    fn end(mut self) -> Result<(), KeyError> {
        self.entries.sort_unstable();
        let out = &mut *self.enc.out;
        out.push(tag::MAP);
        for (k, v) in &self.entries {
            out.push(tag::MORE);
            out.extend_from_slice(k);
            out.extend_from_slice(v);
        }
        out.push(tag::END);
        Ok(())
    }
}

/// The 256-bit name of one cache entry, identical in every process and build of the same
/// code: blake3 over the namespace, the cache name, its version, a fingerprint of the
/// cached value's type and the canonical encoding of the key value.
///
/// Its display form, `namespace:name:vN:<64 hex digits>`, is what a remote tier stores the
/// entry under; the readable prefix groups a cache's entries for operators.
///
/// ```
/// use cache_runtime::CacheKey;
///
/// let a = CacheKey::new::<String, _>("svc", "user_name", 1, &(42u64,)).unwrap();
/// let b = CacheKey::new::<String, _>("svc", "user_name", 1, &(42u64,)).unwrap();
/// let c = CacheKey::new::<String, _>("svc", "user_name", 2, &(42u64,)).unwrap();
/// assert_eq!(a, b);
/// assert_ne!(a, c);
/// assert!(a.to_string().starts_with("svc:user_name:v1:"));
/// assert_eq!(a.to_string().len(), "svc:user_name:v1:".len() + 64);
/// ```
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct CacheKey {
    prefix: String,
    digest: [u8; 32],
}

impl CacheKey {
    /// The key of `key_value` in cache `name` (at `version`) of `namespace`, for values of
    /// type `V`.
    ///
    /// ```
    /// # use cache_runtime::CacheKey;
    /// let k = CacheKey::new::<Vec<u8>, _>("ns", "blobs", 0, &("a", 1)).unwrap();
    /// assert_eq!(k.prefix(), "ns:blobs:v0");
    /// ```
    pub fn new<V: ?Sized, K: Serialize + ?Sized>(
        namespace: &str,
        name: &str,
        version: u32,
        key_value: &K,
    ) -> Result<Self, KeyError> {
        let (encoded, _) = encode_key(key_value, &[])?;
        Ok(Self::from_encoded(
            namespace,
            name,
            version,
            std::any::type_name::<V>(),
            &encoded[PREFIX..],
        ))
    }

    pub(crate) fn from_encoded(
        namespace: &str,
        name: &str,
        version: u32,
        value_type: &str,
        encoded: &[u8],
    ) -> Self {
        let mut h = blake3::Hasher::new_derive_key("cache-runtime 2026 entry key");
        for part in [namespace.as_bytes(), name.as_bytes(), value_type.as_bytes()] {
            h.update(&(part.len() as u64).to_le_bytes());
            h.update(part);
        }
        h.update(&version.to_le_bytes());
        h.update(encoded);
        Self {
            prefix: format!("{namespace}:{name}:v{version}"),
            digest: *h.finalize().as_bytes(),
        }
    }

    /// The readable prefix `namespace:name:vN`.
    ///
    /// ```
    /// # use cache_runtime::CacheKey;
    /// let k = CacheKey::new::<u8, _>("ns", "c", 3, &()).unwrap();
    /// assert_eq!(k.prefix(), "ns:c:v3");
    /// ```
    pub fn prefix(&self) -> &str {
        &self.prefix
    }

    /// The 32-byte blake3 digest.
    ///
    /// ```
    /// # use cache_runtime::CacheKey;
    /// let k = CacheKey::new::<u8, _>("ns", "c", 0, &()).unwrap();
    /// assert_eq!(k.digest().len(), 32);
    /// ```
    pub fn digest(&self) -> &[u8; 32] {
        &self.digest
    }
}

impl fmt::Display for CacheKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:", self.prefix)?;
        for b in self.digest {
            write!(f, "{b:02x}")?;
        }
        Ok(())
    }
}

impl fmt::Debug for CacheKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "CacheKey({self})")
    }
}

#[cfg(test)]
mod tests {
    use std::collections::{BTreeMap, HashMap, HashSet};

    use serde::Serialize;

    use super::*;

    fn enc<K: Serialize + ?Sized>(k: &K) -> Vec<u8> {
        encode_key(k, &[]).expect("encodes").0[PREFIX..].to_vec()
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
}
