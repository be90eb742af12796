//! # vle — Variational Latent Equilibrium
//!
//! Declare neuron models, a network and its prospective energy with [`vle_model!`]; the macro
//! derives the forward dynamics, the exact adjoint, parameter gradients and the local learning
//! rules at compile time. Generated code refers to this facade by absolute paths (`::vle::...`).
//!
//! Everything of the runtime (`vle-runtime`) is re-exported here; `vle::verify` is the
//! verification crate (`vle-verify`, default feature `verify`).
#![warn(missing_docs)]

pub use vle_macros::vle_model;
pub use vle_runtime::*;

/// Checks generated gradients against independent references (`vle-verify`).
#[cfg(feature = "verify")]
pub use vle_verify as verify;

/// The README's Rust snippets, compiled and run as doctests so that the tutorial stays true.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
pub struct ReadmeDoctests;
