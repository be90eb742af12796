//! Compile-fail tests of `vle_model!`: each `tests/ui/*.rs` is a complete program whose model is
//! rejected, and its `.stderr` pins the message and the span on the offending tokens.
//!
//! Regenerate the expectations with `TRYBUILD=overwrite cargo test --test compile_fail`, then
//! review every changed `.stderr`.

#[test]
fn ui() {
    let t = trybuild::TestCases::new();
    t.compile_fail("tests/ui/*.rs");
}
