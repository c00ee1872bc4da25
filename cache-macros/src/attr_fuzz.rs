//! Property tests of the duration parser (proptest). Short run in the normal test run;
//! the long run (FUZZING.md): `PROPTEST_CASES=1000000 cargo test -p cache-macros --release
//! duration`.

use proptest::prelude::*;

use super::parse_duration;

const UNITS: [(&str, u64); 5] = [
    ("ms", 1),
    ("s", 1_000),
    ("m", 60_000),
    ("h", 3_600_000),
    ("d", 86_400_000),
];

proptest! {
    /// Any text: a value or an error that says what to write, never a panic.
    #[test]
    fn duration_parser_never_panics(text in "\\PC{0,24}") {
        if let Err(e) = parse_duration(&text) {
            prop_assert!(!e.is_empty());
        }
    }

    /// Text near the accepted forms (digits, units, spaces, signs, dots).
    #[test]
    fn duration_parser_near_misses(text in "[0-9 .+-]{0,22}(ms|s|m|h|d|y|µs|)[ 0-9]{0,2}") {
        let _ = parse_duration(&text);
    }

    /// Every well-formed duration reads as its milliseconds, or as "too large" when they
    /// do not fit a u64; with or without a space before the unit.
    #[test]
    fn well_formed_durations_read_exactly(n in any::<u64>(), unit in 0usize..5, space in any::<bool>()) {
        let (name, per) = UNITS[unit];
        let text = format!("{n}{}{name}", if space { " " } else { "" });
        match n.checked_mul(per) {
            Some(ms) => prop_assert_eq!(parse_duration(&text), Ok(ms)),
            None => prop_assert!(parse_duration(&text).is_err_and(|e| e.contains("too large"))),
        }
    }
}
