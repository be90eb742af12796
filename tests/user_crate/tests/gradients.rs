//! The gradients vle derived for this crate's network, checked against independent references.

use my_model::LagNet;

#[test]
fn gradients_match_independent_references() {
    // Panics with the model, tensor, entry, both numbers, the tolerance and the seed on a
    // failure; prints a table per case otherwise (`cargo test -- --nocapture`).
    let report = vle::verify::check::<LagNet>().cases(3).run();
    println!("{report}");
}
