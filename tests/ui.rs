//! Compile tests of `#[cache_result]` and `#[performance_timer]`: every supported shape
//! in `ui/pass` (each also runs), every rejected one in `ui/fail` with its message.

#[test]
fn ui() {
    let t = trybuild::TestCases::new();
    t.pass("ui/pass/*.rs");
    t.compile_fail("ui/fail/*.rs");
}
