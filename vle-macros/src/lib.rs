#![warn(missing_docs)]
//! # `vle_model!`: declare neurons, a network and its energy
//!
//! This crate is only the entry point of the procedural macro `vle_model!`: parsing,
//! validation, symbolic derivation and code generation live in the plain library `vle-codegen`
//! (see its module docs and `ARCHITECTURE.md`). The generated code refers to the facade crate
//! `vle` by absolute paths, so use the macro through it: `vle::vle_model!`.
//!
//! The documentation of the language is in the `vle` crate: the grammar and a complete example
//! on the page of its re-export `vle::vle_model`, and the reference guide `vle::_dsl` with
//! every construct, the names and their scopes, what is derived and every compile error.
//!
//! ## Example
//!
//! ```
//! use vle::{vle_model, Network};
//!
//! vle_model! {
//!     /// One GLE layer and a linear readout.
//!     pub network Tiny {
//!         neuron Gle {
//!             param tau_m, tau_r;
//!             activation phi;
//!             state u;
//!             mismatch e = u + tau_m * d(u) - input;
//!             prospective ubreve = u + tau_r * d(u);
//!             rate r = phi(ubreve);
//!         }
//!         input x: 1;
//!         layer h: 2 = Gle { phi: tanh, tau_m: 1.0, tau_r: [1.0, 0.1] } <- x + bias;
//!         layer out: 1 = Gle { phi: identity, tau_m: 1.0, tau_r: 1.0 } <- h + bias;
//!         energy = 0.5 * sum_sq(e) + beta * mse(out.r, target);
//!         learn W, b;
//!     }
//! }
//!
//! assert_eq!((Tiny::INPUT, Tiny::OUTPUT), (1, 1));
//! assert!(Tiny::DERIVATION_TEXT.contains("d(u)/dt = (input - u)/tau_m"));
//! ```

use proc_macro::TokenStream;

/// Declares neuron models, a network and its energy, and derives at compile time the forward
/// dynamics, the exact adjoint and the local learning rule: expands to a unit struct that
/// implements `vle::Network`, or to compile errors. Use it as `vle::vle_model!`.
#[proc_macro]
pub fn vle_model(input: TokenStream) -> TokenStream {
    vle_codegen::expand(input.into()).into()
}
