//! Everything behind `vle_model!`, as a plain library over `proc_macro2` tokens so that each
//! stage is unit-tested outside the proc-macro boundary:
//!
//! 1. [`parse`]: tokens → [`ast`] (syntax only);
//! 2. [`validate`]: names, sizes, bindings, energy, `learn`; builds the symbolic model of each
//!    layer with [`derive`](mod@derive) (forward dynamics, exact adjoint, local rule) on the
//!    [`sym`] engine;
//! 3. [`generate`]: the network type and its kernels; [`text`]: the readable derivation.
//!
//! Errors are `syn::Error`s spanned on the user's tokens and combined; the expansion of a model
//! with errors is the errors alone (no generated code that could fail to compile in turn).

#![warn(missing_docs)]
// Index loops mirror the matrix notation of the derivations (A[j][k], B[j][k]).
#![allow(clippy::needless_range_loop)]

pub mod ast;
pub mod derive;
pub mod energy;
pub mod generate;
pub mod names;
pub mod parse;
pub mod rest;
pub mod sym;
pub mod text;
pub mod validate;

use proc_macro2::TokenStream;

/// Expands a `vle_model!` invocation: the generated code, or `compile_error!`s spanned on the
/// offending tokens.
pub fn expand(input: TokenStream) -> TokenStream {
    match expand_checked(input) {
        Ok(ts) => ts,
        Err(e) => e.to_compile_error(),
    }
}

/// Like [`expand`], returning the combined errors instead of `compile_error!` tokens.
pub fn expand_checked(input: TokenStream) -> syn::Result<TokenStream> {
    let model = parse::parse_model(input)?;
    let mut net = validate::check(&model)?;
    Ok(generate::Generator::new(&mut net).generate())
}
