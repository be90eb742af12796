//! The `vle_model!` macro. All the work happens in `vle-codegen`.
use proc_macro::TokenStream;

/// Declares neuron models, a network and its energy; see the crate `vle-codegen` for the grammar.
#[proc_macro]
pub fn vle_model(input: TokenStream) -> TokenStream {
    vle_codegen::expand(input.into()).into()
}
