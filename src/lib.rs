//! # vle — Variational Latent Equilibrium
//!
//! Declare neuron models, a network and its prospective energy with [`vle_model!`]; the macro
//! derives the forward dynamics, the exact adjoint, parameter gradients and the local learning
//! rules at compile time. Generated code refers to this facade by absolute paths (`::vle::...`).
//!
//! Everything of the runtime (`vle-runtime`) is re-exported here; `vle::verify` is the
//! verification crate (`vle-verify`, default feature `verify`).
//!
//! ## Guides
//!
//! - [`_tutorial`]: from a neuron to verified gradients, step by step.
//! - [`_dsl`]: the language of [`vle_model!`]: grammar, every construct, every compile error.
//! - [`_verify_in_ci`]: a complete test file that checks your model's gradients in your CI.
//! - [`_theory`]: the mathematics vle implements, with the section numbers (§) that the
//!   code, the derivation text and the error messages refer to.
#![warn(missing_docs)]

/// Declares neuron models, a network and its energy. The grammar and an example follow; the
/// reference, with every construct, the names, what is derived and every compile error, is
/// [`_dsl`].
///
#[doc = include_str!("../docs/grammar.md")]
pub use vle_macros::vle_model;
pub use vle_runtime::*;

/// Checks generated gradients against independent references (`vle-verify`).
#[cfg(feature = "verify")]
pub use vle_verify as verify;

#[doc = include_str!("../docs/tutorial.md")]
pub mod _tutorial {}

/// The reference of [`vle_model!`]'s language: the grammar, every construct with an example,
/// names and scoping, what is derived, and every compile error with its test case.
///
#[doc = include_str!("../docs/grammar.md")]
#[doc = include_str!("../docs/dsl.md")]
pub mod _dsl {}

#[doc = include_str!("../docs/verify_in_ci.md")]
pub mod _verify_in_ci {}

#[doc = include_str!("../docs/theory.md")]
pub mod _theory {}

/// The README's Rust snippets, compiled and run as doctests so that the README stays true.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
pub struct ReadmeDoctests;
