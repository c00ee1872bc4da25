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

pub(super) mod tag {
    pub(crate) const UNIT: u8 = 0x00;
    pub(crate) const NONE: u8 = 0x01;
    pub(crate) const SOME: u8 = 0x02;
    pub(crate) const FALSE: u8 = 0x03;
    pub(crate) const TRUE: u8 = 0x04;
    /// A non-negative integer of any width: the varint of its value.
    pub(crate) const UINT: u8 = 0x05;
    /// A negative integer of any width: the varint of `-1 - value`.
    pub(crate) const NEG_INT: u8 = 0x06;
    // 0x07 was the tag of `f32` keys before floats were keyed as `f64` bits; not reused, so
    // no key written by an older version means something else now.
    /// A float of either width: the eight little-endian bytes of its `f64` bits.
    pub(crate) const F64: u8 = 0x08;
    pub(crate) const CHAR: u8 = 0x09;
    pub(crate) const STR: u8 = 0x0a;
    pub(crate) const BYTES: u8 = 0x0b;
    pub(crate) const UNIT_VARIANT: u8 = 0x0c;
    pub(crate) const NEWTYPE_VARIANT: u8 = 0x0d;
    pub(crate) const SEQ: u8 = 0x0e;
    pub(crate) const TUPLE: u8 = 0x0f;
    pub(crate) const TUPLE_VARIANT: u8 = 0x10;
    pub(crate) const MAP: u8 = 0x11;
    pub(crate) const STRUCT: u8 = 0x12;
    pub(crate) const STRUCT_VARIANT: u8 = 0x13;
    pub(crate) const GENERIC: u8 = 0x14;
    /// Before each element of a sequence or map, and before each present struct field.
    pub(crate) const MORE: u8 = 0x01;
    /// After the last element of a sequence or map, and for a skipped struct field.
    pub(crate) const END: u8 = 0x00;
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

/// A key buffer for an encoded key value (as [`KeyParts::encoded`] returns it, or as
/// another instance announced it), its prefix left for the stamp.
pub(crate) fn unstamped(encoded: &[u8]) -> KeyBuf {
    let mut buf = empty_key();
    buf.extend_from_slice(encoded);
    buf
}

/// The parts of a key buffer: the first [`PREFIX`] bytes hold the stamp (the cache id
/// and the key's version, written by [`stamp`](super::stamp)), the rest is the encoded
/// key value (with a generic function's type parameters after it).
pub(crate) trait KeyParts {
    /// The encoded key value, without the stamp: what names the entry outside this
    /// process (Redis keys, announcements, digests).
    fn encoded(&self) -> &[u8];
}

impl KeyParts for [u8] {
    #[inline]
    fn encoded(&self) -> &[u8] {
        &self[PREFIX..]
    }
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
fn write_uvarint(out: &mut KeyBuf, v: u128) {
    // Most varints of a key (small numbers, lengths, indices) are one byte.
    if v < 0x80 {
        out.push(v as u8);
        return;
    }
    write_long_uvarint(out, v);
}

fn write_long_uvarint(out: &mut KeyBuf, mut v: u128) {
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

/// Appends `head` and `bytes` with one update of the buffer's length. Pushing them one by
/// one chains each push through the length in memory (store, reload, store): perf put
/// most of the encoding of a short string on those reloads.
#[inline]
fn put(out: &mut KeyBuf, head: [u8; 2], bytes: &[u8]) {
    // `extend` reserves once and keeps the length in a register until the end. `resize`
    // wrote zeros byte by byte before the copy (127 instructions for 9 bytes); two
    // `push`es before an `extend_from_slice` are the chained reloads above (20% of a sync
    // hit's perf samples in key encoding, against 11% with this). More instructions than
    // either (a sync hit 1,244 against 1,087 and 1,179), and the fastest of the three in
    // time, and of a stack copy then one `extend_from_slice` (1,121, 3-4% slower).
    out.extend(head.into_iter().chain(bytes.iter().copied()));
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
    #[inline]
    fn uint(&mut self, v: u128) {
        // A small number's tag and byte with one update of the length (see `put`).
        if v < 0x80 {
            self.out.extend([tag::UINT, v as u8]);
            return;
        }
        self.out.push(tag::UINT);
        write_long_uvarint(self.out, v);
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

/// Every integer width and sign keys by its value: widened to 128 bits, written by `sint`
/// (signed) or `uint` (unsigned).
macro_rules! integers {
    ($($method:ident($ty:ty) => $write:ident),*) => {$(
        fn $method(self, v: $ty) -> Result<(), KeyError> {
            self.$write(v.into());
            Ok(())
        }
    )*};
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
    integers!(
        serialize_i8(i8) => sint,
        serialize_i16(i16) => sint,
        serialize_i32(i32) => sint,
        serialize_i64(i64) => sint,
        serialize_i128(i128) => sint,
        serialize_u8(u8) => uint,
        serialize_u16(u16) => uint,
        serialize_u32(u32) => uint,
        serialize_u64(u64) => uint,
        serialize_u128(u128) => uint
    );
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
        let bytes = v.as_bytes();
        if bytes.len() < 0x80 {
            put(self.out, [tag::STR, bytes.len() as u8], bytes);
        } else {
            self.out.push(tag::STR);
            write_str(self.out, v);
        }
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

/// Tuples, tuple structs and tuple variants: their elements in order, nothing between or
/// after them (the arity is fixed by the type).
macro_rules! elements_in_order {
    ($($trait:ident::$method:ident),*) => {$(
        impl ser::$trait for &mut Encoder<'_> {
            type Ok = ();
            type Error = KeyError;
            fn $method<T: ?Sized + Serialize>(&mut self, value: &T) -> Result<(), KeyError> {
                value.serialize(&mut **self)
            }
            fn end(self) -> Result<(), KeyError> {
                Ok(())
            }
        }
    )*};
}

elements_in_order!(
    SerializeTuple::serialize_element,
    SerializeTupleStruct::serialize_field,
    SerializeTupleVariant::serialize_field
);

/// Structs and struct variants: each field after a marker; a skipped field
/// (`skip_serializing_if`) leaves an end marker in its place, so `{a: None, b: Some(1)}`
/// and `{a: Some(1), b: None}` stay distinct.
macro_rules! fields_with_markers {
    ($($trait:ident),*) => {$(
        impl ser::$trait for &mut Encoder<'_> {
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
    )*};
}

fields_with_markers!(SerializeStruct, SerializeStructVariant);

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

#[cfg(test)]
#[path = "tests.rs"]
mod tests;
