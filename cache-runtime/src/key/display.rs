//! The readable form of an encoded key value, for eviction events: the canonical encoding
//! (`encode.rs`) read back without its type. Scalars are exact (`7`, `-1`, `"en"`,
//! `'a'`, `true`, `1.5`); a tuple's elements are listed between parentheses, a sequence's
//! between brackets, a struct's fields between braces, a variant as `#index` with its
//! content. A tuple carries no length, so a tuple inside a tuple reads flattened into its
//! parent; bytes the reader does not understand end the form with their hex.

use std::fmt::Write;

use super::encode::tag;

/// The readable form of `encoded` (a key value without its stamp).
pub(crate) fn display(encoded: &[u8]) -> String {
    let mut out = String::new();
    let mut r = Reader {
        bytes: encoded,
        at: 0,
        out: &mut out,
    };
    if r.peek() == Some(tag::TUPLE) {
        // The key tuple of a function's inputs: its elements run to the end (or the
        // type parameters of a generic function).
        r.at += 1;
        r.out.push('(');
        let mut first = true;
        while r.at < r.bytes.len() && r.peek() != Some(tag::GENERIC) {
            if !first {
                r.out.push_str(", ");
            }
            first = false;
            if r.value().is_none() {
                r.rest();
                break;
            }
        }
        r.out.push(')');
    } else if r.value().is_none() {
        r.rest();
    }
    while r.peek() == Some(tag::GENERIC) {
        r.at += 1;
        match r.str() {
            Some(s) => {
                let _ = write!(r.out, "::<{s}>");
            }
            None => {
                r.rest();
                break;
            }
        }
    }
    if r.at < r.bytes.len() {
        r.rest();
    }
    out
}

struct Reader<'a> {
    bytes: &'a [u8],
    at: usize,
    out: &'a mut String,
}

impl Reader<'_> {
    fn peek(&self) -> Option<u8> {
        self.bytes.get(self.at).copied()
    }

    fn byte(&mut self) -> Option<u8> {
        let b = self.peek()?;
        self.at += 1;
        Some(b)
    }

    fn varint(&mut self) -> Option<u128> {
        let mut v: u128 = 0;
        for shift in (0..128).step_by(7) {
            let b = self.byte()?;
            v |= u128::from(b & 0x7f) << shift;
            if b & 0x80 == 0 {
                return Some(v);
            }
        }
        None
    }

    fn take(&mut self, n: usize) -> Option<&[u8]> {
        let end = self.at.checked_add(n).filter(|&e| e <= self.bytes.len())?;
        let s = &self.bytes[self.at..end];
        self.at = end;
        Some(s)
    }

    fn str(&mut self) -> Option<String> {
        let n = usize::try_from(self.varint()?).ok()?;
        std::str::from_utf8(self.take(n)?).ok().map(str::to_owned)
    }

    /// What is left, in hex.
    fn rest(&mut self) {
        if self.at < self.bytes.len() {
            self.out.push_str(" 0x");
            for b in &self.bytes[self.at..] {
                let _ = write!(self.out, "{b:02x}");
            }
            self.at = self.bytes.len();
        }
    }

    /// One value; `None` when the bytes are not one.
    fn value(&mut self) -> Option<()> {
        match self.byte()? {
            tag::UNIT => self.out.push_str("()"),
            tag::NONE => self.out.push_str("None"),
            tag::SOME => {
                self.out.push_str("Some(");
                self.value()?;
                self.out.push(')');
            }
            tag::FALSE => self.out.push_str("false"),
            tag::TRUE => self.out.push_str("true"),
            tag::UINT => {
                let v = self.varint()?;
                let _ = write!(self.out, "{v}");
            }
            tag::NEG_INT => {
                let v = self.varint()?;
                let _ = write!(self.out, "-{}", v.wrapping_add(1));
            }
            tag::F64 => {
                let bits = u64::from_le_bytes(self.take(8)?.try_into().ok()?);
                let _ = write!(self.out, "{:?}", f64::from_bits(bits));
            }
            tag::CHAR => {
                let c = char::from_u32(u32::try_from(self.varint()?).ok()?)?;
                let _ = write!(self.out, "{c:?}");
            }
            tag::STR => {
                let s = self.str()?;
                let _ = write!(self.out, "{s:?}");
            }
            tag::BYTES => {
                let n = usize::try_from(self.varint()?).ok()?;
                let b = self.take(n)?.to_vec();
                let _ = write!(self.out, "{b:?}");
            }
            tag::UNIT_VARIANT => {
                let i = self.varint()?;
                let _ = write!(self.out, "#{i}");
            }
            tag::NEWTYPE_VARIANT => {
                let i = self.varint()?;
                let _ = write!(self.out, "#{i}(");
                self.value()?;
                self.out.push(')');
            }
            tag::SEQ => self.list('[', ']', false)?,
            tag::MAP => self.list('{', '}', true)?,
            // Tuples and structs carry no length: their elements read on as the parent's.
            tag::TUPLE => {}
            tag::TUPLE_VARIANT => {
                let i = self.varint()?;
                let _ = write!(self.out, "#{i}");
            }
            tag::STRUCT => self.fields()?,
            tag::STRUCT_VARIANT => {
                let i = self.varint()?;
                let _ = write!(self.out, "#{i}");
                self.fields()?;
            }
            _ => return None,
        }
        Some(())
    }

    /// Elements after `MORE` markers up to `END`, each a value, or a key and its value
    /// when `pairs` (a map).
    fn list(&mut self, open: char, close: char, pairs: bool) -> Option<()> {
        self.out.push(open);
        let mut first = true;
        loop {
            match self.byte()? {
                tag::END => break,
                tag::MORE => {}
                _ => return None,
            }
            if !first {
                self.out.push_str(", ");
            }
            first = false;
            self.value()?;
            if pairs {
                self.out.push_str(": ");
                self.value()?;
            }
        }
        self.out.push(close);
        Some(())
    }

    /// A struct's fields: each after `MORE`, `END` for a skipped one. The count is the
    /// type's, so the fields read are those marked, up to something that is not a marker.
    fn fields(&mut self) -> Option<()> {
        self.out.push('{');
        let mut first = true;
        while let Some(m) = self.peek() {
            if m != tag::MORE && m != tag::END {
                break;
            }
            self.at += 1;
            if !first {
                self.out.push_str(", ");
            }
            first = false;
            if m == tag::MORE {
                self.value()?;
            } else {
                self.out.push('_');
            }
        }
        self.out.push('}');
        Some(())
    }
}

#[cfg(test)]
mod tests {
    use super::display;
    use crate::key::encode::PREFIX;
    use crate::key::encode_key;

    fn shown<K: serde::Serialize + ?Sized>(k: &K) -> String {
        let (buf, _) = encode_key(k, &[]).expect("encodable");
        display(&buf[PREFIX..])
    }

    #[test]
    fn reads_back_scalars_tuples_and_sequences() {
        assert_eq!(shown(&(7u32, "en")), r#"(7, "en")"#);
        assert_eq!(shown(&(-3i64,)), "(-3)");
        assert_eq!(shown(&()), "()");
        assert_eq!(
            shown(&(Some('a'), None::<u8>, true)),
            "(Some('a'), None, true)"
        );
        assert_eq!(shown(&(vec![1u8, 2],)), "([1, 2])");
        assert_eq!(shown(&(1.5f64,)), "(1.5)");
        assert_eq!(shown(&42u64), "42");
    }
}
