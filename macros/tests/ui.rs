//! Compile-time behaviour of the attributes: what compiles, and the errors (with their
//! snapshots) for what does not. Re-bless the snapshots with `TRYBUILD=overwrite`.

#[test]
fn ui() {
    let cases = trybuild::TestCases::new();
    cases.pass("tests/ui/pass/*.rs");
    cases.compile_fail("tests/ui/fail/*.rs");
}
