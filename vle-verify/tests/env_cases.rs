//! `VLE_VERIFY_CASES` overrides the case count (own test binary: the variable is
//! process-wide).

mod common;

#[test]
fn environment_overrides_the_case_count() {
    std::env::set_var(vle_verify::check::CASES_ENV, "5");
    let r = vle_verify::check::<common::Small>().cases(1).run();
    assert_eq!(r.cases.len(), 5);
    std::env::set_var(vle_verify::check::CASES_ENV, "many");
    let f = vle_verify::check::<common::Small>().try_run().unwrap_err();
    assert_eq!(f.kind, vle_verify::FailureKind::Settings);
    assert!(f.messages[0].contains("VLE_VERIFY_CASES"));
    std::env::remove_var(vle_verify::check::CASES_ENV);
}
