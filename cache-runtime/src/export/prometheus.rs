//! The one writer of the Prometheus text exposition format (version 0.0.4): family headers,
//! label escaping and number formatting for every family the runtime exposes, caches and
//! timers alike; `caches.rs` and `timers.rs` write their families through [`Exposition`].

use std::fmt::{self, Write as _};

/// What a family is, as its `# TYPE` line says.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Kind {
    Counter,
    Gauge,
    Histogram,
}

impl Kind {
    fn as_str(self) -> &'static str {
        match self {
            Kind::Counter => "counter",
            Kind::Gauge => "gauge",
            Kind::Histogram => "histogram",
        }
    }
}

/// A metric family: its name, type and help text.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Family {
    pub(crate) name: &'static str,
    pub(crate) kind: Kind,
    pub(crate) help: &'static str,
}

/// A family with one sample per item (a cache, a timer), read from the item's figures.
pub(crate) type FamilyOf<T> = (Family, fn(&T) -> Value);

/// A sample value: integers are written exactly, floats as [`Number`] formats them.
#[derive(Clone, Copy, Debug, PartialEq)]
pub(crate) enum Value {
    Int(u64),
    Float(f64),
}

impl From<u64> for Value {
    fn from(v: u64) -> Self {
        Value::Int(v)
    }
}

impl From<f64> for Value {
    fn from(v: f64) -> Self {
        Value::Float(v)
    }
}

impl From<bool> for Value {
    fn from(v: bool) -> Self {
        Value::Int(u64::from(v))
    }
}

/// Prometheus text under construction.
///
/// Each family's header is written once, by [`family`](Self::family), before its samples;
/// every label value and help text goes through one escaper and every number through one
/// formatter.
#[derive(Default)]
pub(crate) struct Exposition {
    text: String,
    /// Families written so far, to catch a family written twice (invalid in the format).
    families: Vec<&'static str>,
}

impl Exposition {
    /// Starts a family: its `# HELP` and `# TYPE` lines.
    pub(crate) fn family(&mut self, family: &Family) {
        debug_assert!(
            !self.families.contains(&family.name),
            "family {} written twice",
            family.name
        );
        self.families.push(family.name);
        self.text.push_str("# HELP ");
        self.text.push_str(family.name);
        self.text.push(' ');
        escape_into(&mut self.text, family.help, false);
        self.text.push_str("\n# TYPE ");
        self.text.push_str(family.name);
        self.text.push(' ');
        self.text.push_str(family.kind.as_str());
        self.text.push('\n');
    }

    /// One sample line: `metric{label="value",...} value`. `metric` is the family's name,
    /// or for a histogram the name plus `_bucket`, `_sum` or `_count`; label names are identifiers.
    pub(crate) fn sample(
        &mut self,
        metric: &str,
        labels: &[(&str, &str)],
        value: impl Into<Value>,
    ) {
        self.text.push_str(metric);
        if !labels.is_empty() {
            self.text.push('{');
            for (i, (name, value)) in labels.iter().enumerate() {
                if i > 0 {
                    self.text.push(',');
                }
                self.text.push_str(name);
                self.text.push_str("=\"");
                escape_into(&mut self.text, value, true);
                self.text.push('"');
            }
            self.text.push('}');
        }
        self.text.push(' ');
        // Writing into a `String` cannot fail.
        let _ = write!(self.text, "{}", Number(value.into()));
        self.text.push('\n');
    }

    /// The text written so far.
    pub(crate) fn finish(self) -> String {
        self.text
    }
}

/// Appends `text` escaped as the format asks: `\` as `\\` and line feed as `\n`, and in a
/// label value (`quote`) also `"` as `\"`.
fn escape_into(out: &mut String, text: &str, quote: bool) {
    for c in text.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '"' if quote => out.push_str("\\\""),
            c => out.push(c),
        }
    }
}

/// Significant digits kept when a float is written: enough for any figure, few enough
/// that arithmetic noise (`0.1 + 0.2`, nanoseconds divided into seconds) is not printed.
const DIGITS: usize = 15;

/// A sample value as Prometheus reads it: integers exactly; `NaN`, `+Inf` and `-Inf`;
/// integral floats below 10^15 as integers; other floats rounded to 15 significant digits
/// and written in the shortest form that reads back as the rounded value, plainly from
/// 0.0001 up to 10^15 (`0.002`) and in exponent form outside (`1e-7`, `2.5e20`), never
/// with a tail of noise such as `0.00000010000000000000001`.
pub(crate) struct Number(pub(crate) Value);

impl fmt::Display for Number {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let v = match self.0 {
            Value::Int(n) => return write!(f, "{n}"),
            Value::Float(v) => v,
        };
        if v.is_nan() {
            return f.write_str("NaN");
        }
        if v.is_infinite() {
            return f.write_str(if v > 0.0 { "+Inf" } else { "-Inf" });
        }
        if v.fract() == 0.0 && v.abs() < 1e15 {
            // Exact: every integer below 2^53 is.
            return write!(f, "{}", v as i64);
        }
        let r = round_to_digits(v);
        if (1e-4..1e15).contains(&r.abs()) {
            write!(f, "{r}")
        } else {
            write!(f, "{r:e}")
        }
    }
}

/// `v` rounded to [`DIGITS`] significant digits (by the standard library's correctly
/// rounded formatting and parsing, on the stack); `v` itself where rounding would overflow
/// (just below `f64::MAX`).
fn round_to_digits(v: f64) -> f64 {
    let mut buf = StackText::default();
    if write!(buf, "{v:.*e}", DIGITS - 1).is_err() {
        return v;
    }
    match buf.as_str().parse::<f64>() {
        Ok(r) if r.is_finite() => r,
        _ => v,
    }
}

/// A short text on the stack (a float formatted with 15 digits needs at most 22 bytes).
#[derive(Default)]
struct StackText {
    bytes: [u8; 32],
    len: usize,
}

impl StackText {
    fn as_str(&self) -> &str {
        std::str::from_utf8(&self.bytes[..self.len]).unwrap_or("")
    }
}

impl fmt::Write for StackText {
    fn write_str(&mut self, s: &str) -> fmt::Result {
        let end = self.len + s.len();
        let dest = self.bytes.get_mut(self.len..end).ok_or(fmt::Error)?;
        dest.copy_from_slice(s.as_bytes());
        self.len = end;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn number(v: impl Into<Value>) -> String {
        Number(v.into()).to_string()
    }

    #[test]
    fn floats_carry_no_arithmetic_noise() {
        // Each of these is a division or sum that Rust's shortest form prints with noise.
        assert_eq!(format!("{}", 1e-4 / 1e3), "0.00000010000000000000001");
        assert_eq!(number(1e-4 / 1e3), "1e-7");
        assert_eq!(format!("{}", 0.1 + 0.2), "0.30000000000000004");
        assert_eq!(number(0.1 + 0.2), "0.3");
        assert_eq!(number(2.5 * 4.0 / 1e3), "0.01");
        assert_eq!(number(0.002), "0.002");
        assert_eq!(number(0.0001), "0.0001");
        assert_eq!(number(0.000_012_5), "1.25e-5");
        assert_eq!(number(123_456.789), "123456.789");
        assert_eq!(number(-1.5), "-1.5");
        assert_eq!(number(2.5e20), "2.5e20");
        assert_eq!(number(1e15), "1e15");
        assert_eq!(number(5e-324), "5e-324");
        assert_eq!(number(1.234_567_890_123_456_7e300), "1.23456789012346e300");
        // Rounding f64::MAX to 15 digits would overflow: written exactly instead.
        assert_eq!(number(f64::MAX), "1.7976931348623157e308");
    }

    #[test]
    fn integers_are_exact_and_specials_are_spelled_as_prometheus_does() {
        assert_eq!(number(u64::MAX), "18446744073709551615");
        assert_eq!(number(0u64), "0");
        assert_eq!(number(3.0), "3");
        assert_eq!(number(-0.0), "0");
        assert_eq!(number(999_999_999_999_999.0), "999999999999999");
        assert_eq!(number(true), "1");
        assert_eq!(number(f64::NAN), "NaN");
        assert_eq!(number(f64::INFINITY), "+Inf");
        assert_eq!(number(f64::NEG_INFINITY), "-Inf");
    }

    #[test]
    fn every_formatted_float_reads_back_within_its_rounding() {
        let mut x: u64 = 0x2545_F491_4F6C_DD1D;
        for _ in 0..20_000 {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            let v = f64::from_bits(x);
            if !v.is_finite() {
                continue;
            }
            let text = number(v);
            let back: f64 = text.parse().unwrap_or_else(|_| panic!("{text} for {v:e}"));
            let rel = if v == 0.0 {
                back.abs()
            } else {
                ((back - v) / v).abs()
            };
            assert!(rel <= 1e-14, "{v:e} written as {text}");
            assert!(text.len() <= 23, "{v:e} written as {text}");
        }
    }

    #[test]
    fn label_values_and_help_are_escaped() {
        let mut e = Exposition::default();
        e.family(&Family {
            name: "x_total",
            kind: Kind::Counter,
            help: "A \\ help\nline with \"quotes\".",
        });
        e.sample("x_total", &[("a", "q\"b\\s\nn"), ("b", "plain")], 7u64);
        e.sample("x_total", &[], 0.5);
        assert_eq!(
            e.finish(),
            "# HELP x_total A \\\\ help\\nline with \"quotes\".\n\
             # TYPE x_total counter\n\
             x_total{a=\"q\\\"b\\\\s\\nn\",b=\"plain\"} 7\n\
             x_total 0.5\n"
        );
    }

    #[test]
    #[should_panic(expected = "written twice")]
    #[cfg(debug_assertions)]
    fn a_family_written_twice_is_a_bug() {
        let family = Family {
            name: "y",
            kind: Kind::Gauge,
            help: "Y.",
        };
        let mut e = Exposition::default();
        e.family(&family);
        e.family(&family);
    }
}
