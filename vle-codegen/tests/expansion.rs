//! Snapshots of the code `vle_model!` generates, formatted with `prettyplease`. The expansion
//! includes `DERIVATION_TEXT` and `DERIVATION_LATEX`; the plain-text derivation (forward
//! dynamics, exact adjoint, local rule) is also snapshotted on its own, one equation per line,
//! so that a change in the mathematics shows as a readable diff.
//!
//! After an intended change, regenerate with `INSTA_UPDATE=always cargo test -p vle-codegen
//! --test expansion` (or `cargo insta review`) and review the diff of `tests/snapshots/`.

use proc_macro2::TokenStream;
use quote::quote;

/// Expands a model, failing the test with the macro's error messages if it is rejected.
fn expand_pretty(tokens: TokenStream) -> String {
    let code = vle_codegen::expand_checked(tokens).unwrap_or_else(|e| {
        let msgs: Vec<String> = e.into_iter().map(|e| e.to_string()).collect();
        panic!("the model was rejected:\n{}", msgs.join("\n"))
    });
    let file = syn::parse2::<syn::File>(code)
        .unwrap_or_else(|e| panic!("the expansion is not a valid Rust file: {e}"));
    prettyplease::unparse(&file)
}

/// The plain-text derivation (`DERIVATION_TEXT`) of a model.
fn derivation_text(tokens: TokenStream) -> String {
    let model = vle_codegen::parse::parse_model(tokens).expect("the model parses");
    let mut net = vle_codegen::validate::check(&model)
        .unwrap_or_else(|e| panic!("the model was rejected: {e}"));
    vle_codegen::text::derivation(&mut net).0
}

/// Snapshots both the expansion and the derivation text of a model.
fn snapshot(name: &str, tokens: TokenStream) {
    let code = expand_pretty(tokens.clone());
    let text = derivation_text(tokens);
    assert!(
        code.contains(&format!("{text:?}")),
        "the expansion embeds the derivation text as DERIVATION_TEXT"
    );
    insta::assert_snapshot!(name, code);
    insta::assert_snapshot!(format!("{name}_derivation"), text);
}

/// The GLE LagNet of `tests/models/mod.rs`: 1 → 2 → 2 → 1, MSE loss.
#[test]
fn lagnet() {
    let model = quote! {
        /// The LagNet of docs/theory.md §8: 1 → 2 → 2 → 1, tanh hidden layers with one instantaneous
        /// (τr = τm) and one lagging (τr < τm) neuron each, linear output.
        pub network LagNet {
            neuron Gle {
                param tau_m, tau_r;
                activation phi;
                state u;
                mismatch e = u + tau_m * d(u) - input;
                prospective ubreve = u + tau_r * d(u);
                rate r = phi(ubreve);
            }
            input x: 1;
            layer h1: 2 = Gle { phi: tanh, tau_m: 1.0, tau_r: [1.0, 0.1] } <- x + bias;
            layer h2: 2 = Gle { phi: tanh, tau_m: 1.0, tau_r: [1.0, 0.1] } <- h1 + bias;
            layer out: 1 = Gle { phi: identity, tau_m: 1.0, tau_r: 1.0 } <- h2 + bias;
            energy = 0.5 * sum_sq(e) + beta * mse(out.r, target);
            learn W, b, tau_m, tau_r;
        }
    };
    snapshot("lagnet", model);
}

/// A small MNIST-1D-like configuration: a hidden layer mixing instantaneous (LE, τr = τm) and
/// memory (τr < τm) neurons, and a cross-entropy output of 3 units.
#[test]
fn mixed_le_memory_cross_entropy() {
    let model = quote! {
        pub network MixedNet {
            neuron Gle {
                param tau_m, tau_r;
                activation phi;
                state u;
                mismatch e = u + tau_m * d(u) - input;
                prospective ubreve = u + tau_r * d(u);
                rate r = phi(ubreve);
            }
            input x: 4;
            layer h: 5 = Gle { phi: tanh, tau_m: [1.2; 2, 0.6; 3], tau_r: [1.2; 2, 0.2; 3] } <- x + bias;
            layer out: 3 = Gle { phi: identity, tau_m: 0.6, tau_r: 0.6 } <- h + bias;
            energy = 0.5 * sum_sq(e) + beta * cross_entropy(out.r, target);
            learn W, b;
        }
    };
    snapshot("mixed_le_memory_cross_entropy", model);
}

/// A non-GLE neuron with two states: the membrane `u` and an adaptation variable `a` that
/// follows `u` with time constant `tau_a` and feeds back with gain `k`.
#[test]
fn adaptive_neuron() {
    let model = quote! {
        pub network AdaptNet {
            neuron Adaptive {
                param tau_m, tau_r, tau_a, k;
                activation phi;
                state u, a;
                mismatch e = u + tau_m * d(u) + k * a - input;
                mismatch e_a = a + tau_a * d(a) - u;
                prospective ubreve = u + tau_r * d(u);
                rate r = phi(ubreve);
            }
            input x: 2;
            layer h: 3 = Adaptive { phi: tanh, tau_m: 1.0, tau_r: [1.0, 0.5, 0.2], tau_a: 5.0, k: 0.3 } <- x + bias;
            layer out: 1 = Adaptive { phi: identity, tau_m: 1.0, tau_r: 1.0, tau_a: 5.0, k: 0.3 } <- h + bias;
            energy = 0.5 * sum_sq(e, e_a) + beta * mse(out.r, target);
            learn W, b, tau_m, tau_a, k;
        }
    };
    snapshot("adaptive_neuron", model);
}

/// A recurrent layer (`h <- x + h`): the online step keeps the error arriving through the
/// recurrent weights (`g_rec_h`) out of the error neuron and adds its steady-state image to ε.
#[test]
fn recurrent_layer() {
    let model = quote! {
        pub network RecNet {
            neuron Gle {
                param tau_m, tau_r;
                activation phi;
                state u;
                mismatch e = u + tau_m * d(u) - input;
                prospective ubreve = u + tau_r * d(u);
                rate r = phi(ubreve);
            }
            input x: 2;
            layer h: 3 = Gle { phi: tanh, tau_m: 1.0, tau_r: 0.2 } <- x + h + bias;
            layer out: 1 = Gle { phi: identity, tau_m: 0.5, tau_r: 0.5 } <- h + bias;
            energy = 0.5 * sum_sq(e) + beta * mse(out.r, target);
            learn W, b, tau_m;
        }
    };
    snapshot("recurrent_layer", model);
}
