//! # `vle_model!`: declare neurons, a network and its energy
//!
//! This crate is only the macro's entry point: parsing, validation, symbolic derivation and code
//! generation live in the plain library `vle-codegen` (see its module docs and
//! `ARCHITECTURE.md`). Use the macro through the facade: `vle::vle_model!`.
//!
//! ## Example
//!
//! ```
//! use vle::vle_model;
//!
//! vle_model! {
//!     /// Two GLE layers and a linear readout.
//!     pub network LagNet {
//!         neuron Gle {
//!             param tau_m, tau_r;
//!             activation phi;
//!             state u;
//!             mismatch e = u + tau_m * d(u) - input;
//!             prospective ubreve = u + tau_r * d(u);
//!             rate r = phi(ubreve);
//!         }
//!         input x: 1;
//!         layer h1: 2 = Gle { phi: tanh, tau_m: 1.0, tau_r: [1.0, 0.1] } <- x + bias;
//!         layer h2: 2 = Gle { phi: tanh, tau_m: 1.0, tau_r: [1.0, 0.1] } <- h1 + bias;
//!         layer out: 1 = Gle { phi: identity, tau_m: 1.0, tau_r: 1.0 } <- h2 + bias;
//!         energy = 0.5 * sum_sq(e) + beta * mse(out.r, target);
//!         learn W, b, tau_m;
//!     }
//! }
//!
//! use vle::Network;
//! assert_eq!(LagNet::INPUT, 1);
//! assert!(LagNet::DERIVATION_TEXT.contains("d(u)/dt = (input - u)/tau_m"));
//! ```
//!
//! ## Grammar
//!
//! ```text
//! model       := attr* vis? "network" Ident "{" item* "}"
//! item        := neuron | function | input | layer | energy | learn
//! neuron      := "neuron" Ident "{" (neuron_item ";")* "}"
//! neuron_item := "param" idents            per-neuron parameters; names starting with `tau`
//!                                          are time constants (must be > 0 and ≥ dt)
//!              | "activation" idents       function slots, bound per layer (`phi: tanh`)
//!              | "state" idents            ODE state variables
//!              | "mismatch" Ident "=" expr one per state: the constraint m = 0 that defines the
//!                                          dynamics; affine in the d(state)s
//!              | "prospective" Ident "=" expr   exactly one; may use d(state)
//!              | "rate" Ident "=" expr     exactly one; a function of the prospective only
//!              | "let" Ident "=" expr      a named intermediate
//! function    := "fn" Ident "(" idents ")" "=" expr ";"      a formula, inlined
//! input       := "input" Ident ":" Int ";"
//! layer       := "layer" Ident ":" Int "=" Ident ("{" binding,* "}")? "<-" source ("+" source)* ";"
//! binding     := Ident ":" (Ident | number | "[" (number (";" Int)?),* "]")
//! source      := the input | an earlier layer | the layer itself (recurrent) | "bias"
//! energy      := "energy" "=" "0.5" "*" "sum_sq" "(" mismatches ")" "+" "beta" "*" loss ";"
//! loss        := "mse" "(" layer "." rate "," "target" ")"            ½‖r − y‖²
//!              | "cross_entropy" "(" layer "." rate "," "target" ")"  −Σ y ln softmax(r)
//!              | "sum" "(" expr ")"          elementwise in `layer.rate` and `target`
//! learn       := "learn" idents ";"          `W`, `b` and neuron parameter names
//! expr        := numbers, names, calls, unary `-`, `+ - * /`, `^` (power, binds tightest,
//!                right-associative), parentheses; `d(state)` is a time derivative and `input`
//!                the synaptic input Σ W r_pre + b of the neuron.
//! ```
//!
//! Built-in functions: `tanh`, `sigmoid`, `softplus`, `exp`, `ln`, `sqrt`, `sin`, `cos`,
//! `identity`, `pow(x, y)`. Functions that are not differentiable everywhere (`relu`, `abs`,
//! `max`, ...) are refused: the exact adjoint needs derivatives. Parameter values in a layer are
//! one number for every neuron or a list with one entry per neuron; `[1.2; 17, 0.6; 36]`
//! repeats 1.2 seventeen times, then 0.6 thirty-six times.
//!
//! ## What is derived
//!
//! For every layer, symbolically: the forward dynamics solved from the mismatches; the exact
//! continuous adjoint as the Euler–Lagrange equations of 𝓛 = βℓ + Σ λ·m in momentum form with
//! its terminal condition; parameter gradient densities; the reverse mode of the emitted Euler
//! step (exact discrete gradient); and the local rule: an error neuron that is the neuron's own
//! input → prospective filter, linearised at the current state and run as its inverse (for GLE:
//! τr v̇ = −v + ê, ε = v + τm v̇). Models whose inversion is non-causal or unstable at the
//! declared parameter values are rejected. Everything derived is readable as
//! `Net::DERIVATION_TEXT` and `Net::DERIVATION_LATEX`.
//!
//! ## Errors
//!
//! Every mistake is a compile error on the offending tokens (several are reported at once):
//! unknown names, undeclared or later sources, size mismatches, duplicates, unsupported or
//! non-smooth functions, `d(...)` of a non-state, mismatches not affine in the derivatives,
//! learnable parameters the energy does not depend on, non-positive time-constant literals,
//! non-causal or unstable local inversions. `tests/ui/` holds one case of each.

use proc_macro::TokenStream;

/// Declares neuron models, a network and its energy; see the crate documentation for the
/// grammar and what is derived.
#[proc_macro]
pub fn vle_model(input: TokenStream) -> TokenStream {
    vle_codegen::expand(input.into()).into()
}
