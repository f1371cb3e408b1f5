//! Compile-time checks as the user sees them from rustc: one mistake per file under
//! `tests/ui/<category>/`, each with a reviewed `.stderr` (regenerate with
//! `TRYBUILD=overwrite cargo test --test ui`, then review the diff).

#[test]
fn ui() {
    let t = trybuild::TestCases::new();
    t.compile_fail("tests/ui/*/*.rs");
}
