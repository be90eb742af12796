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
//! ## A second example
//!
//! A `let`, a user formula as activation, a recurrent projection, per-neuron values with
//! repeats, an elementwise `sum(...)` loss and a learnable neuron parameter:
//!
//! ```
//! use vle::vle_model;
//!
//! vle_model! {
//!     pub network Features {
//!         neuron Leaky {
//!             param tau_m, tau_r, gain;
//!             activation phi;
//!             state u;
//!             let drive = gain * input;
//!             mismatch e = u + tau_m * d(u) - drive;
//!             prospective ubreve = u + tau_r * d(u);
//!             rate r = phi(ubreve);
//!         }
//!         fn soft_sign(z) = z / sqrt(1 + z^2);
//!         input x: 2;
//!         layer h: 4 = Leaky { phi: soft_sign, tau_m: 1.0, tau_r: [0.5; 2, 1.0; 2], gain: 1.0 }
//!             <- x + h + bias;
//!         layer out: 1 = Leaky { phi: identity, tau_m: 1.0, tau_r: 1.0, gain: 1.0 } <- h;
//!         energy = 0.5 * sum_sq(e) + beta * sum(0.5 * (out.r - target)^2);
//!         learn W, b, gain;
//!     }
//! }
//!
//! use vle::Network;
//! assert_eq!((Features::INPUT, Features::OUTPUT), (2, 1));
//! // A recurrent projection: only the discrete-time system is defined.
//! assert!(!Features::CONTINUOUS);
//! ```
//!
//! ## Grammar
//!
//! ```text
//! model       := attr* vis? "network" Ident "{" item* "}"
//! item        := neuron | function | input | layer | energy | learn     (any order)
//! neuron      := "neuron" Ident "{" (neuron_item ";")* "}"
//! neuron_item := "param" idents            per-neuron parameters; names starting with `tau`
//!                                          are time constants (literals must be > 0; dt ≤ τ
//!                                          is checked at run time, `vle::params`)
//!              | "activation" idents       function slots, bound per layer (`phi: tanh`)
//!              | "state" idents            ODE state variables
//!              | "mismatch" Ident "=" expr one per state: the constraint m = 0 that defines the
//!                                          dynamics; affine in the d(state)s
//!              | "prospective" Ident "=" expr   exactly one; may use d(state)
//!              | "rate" Ident "=" expr     exactly one; a function of the prospective only
//!              | "let" Ident "=" expr      a named intermediate
//! idents      := Ident ("," Ident)* ","?   (`param`, `activation`, `state` and `learn` may be
//!                                          repeated; they add up)
//! function    := "fn" Ident "(" (Ident ("," Ident)*)? ")" "=" expr ";"   a formula, inlined
//! input       := "input" Ident ":" Int ";"                 exactly one
//! layer       := "layer" Ident ":" Int "=" Ident ("{" binding,* "}")? "<-" source ("+" source)* ";"
//! binding     := Ident ":" (Ident | number | "[" (number (";" Int)?),* "]")
//! number      := "-"? (float | integer literal)
//! source      := the input | an earlier layer | the layer itself (recurrent) | "bias"
//! energy      := "energy" "=" "0.5" "*" "sum_sq" "(" mismatches ")" "+" "beta" "*" loss ";"
//! mismatches  := the mismatch names of every layer's neuron, comma-separated
//! loss        := "mse" "(" layer "." rate "," "target" ")"            ½‖r − y‖²
//!              | "cross_entropy" "(" layer "." rate "," "target" ")"  −Σ y ln softmax(r)
//!              | "sum" "(" expr ")"          elementwise in `layer.rate` and `target`
//! learn       := "learn" idents ";"          `W`, `b` and neuron parameter names (repeatable)
//! expr        := numbers, names, calls, unary `-`, `+ - * /`, `^` (power, binds tightest,
//!                right-associative), parentheses; `d(state)` is a time derivative and `input`
//!                the synaptic input Σ W r_pre + b of the neuron.
//! ```
//!
//! The energy's two terms may come in either order, and each may be written the other way
//! round: `sum_sq(...) * 0.5` or `sum_sq(...) / 2`, `loss * beta`. The factor of the mismatch
//! term must be exactly ½ (THEORY.md §3) and the loss term must be added. A layer whose neuron
//! has no `param` and no `activation` may omit the braces.
//!
//! ## Names
//!
//! - Every name is a Rust identifier that is not a Rust keyword.
//! - Inside a neuron, its parameters, activations, states and definitions (`mismatch`,
//!   `prospective`, `rate`, `let`) share one namespace, and any definition may use any other
//!   (not in a cycle). `input` is the synaptic input, `d(u)` the time derivative of the state
//!   `u`. In the rate, the prospective quantity's name stands for the prospective value p
//!   carried in the state (in discrete time p_{n+1} = prosp(s_n, ṡ_n), THEORY.md §6).
//! - A `fn` body sees only its own parameters (and numbers, built-ins, other `fn`s); the
//!   `sum(...)` loss sees only `layer.rate` and `target`. A `fn` with one parameter can be
//!   bound to an activation.
//! - In the energy: `sum_sq`, `beta`, `mse`, `cross_entropy`, `sum`, `target` and
//!   `layer.rate`; `beta` is the weight of the loss (given at run time), `target` the target
//!   y.
//! - In `learn`: `W` (every weight matrix), `b` (every bias) and neuron parameter names (in
//!   every layer whose neuron declares them).
//! - Reserved, because the generated kernels use them for their own quantities: a neuron may
//!   not declare `input`, `d`, `dt`, `p`, `beta`, `gamma`, `target`, `params`, `state`,
//!   `local`, `grad`, `adj`, `adj_next`, `adj_prev`, `x`, `y`, `c`, `dc`, `costate`,
//!   `dcostate`, `errors`, `grad_density`, `scale`, `i`, `j`, `loss`, `dloss`, `r_out`,
//!   `r_out_dp`, `eps_i`, `T`, `y_total`, `log_norm`, `norm`, `r_max`, `diff`, `g_r`, or a name
//!   starting with `d_`, `v_`, `adj_`, `costate_`, `lam_`, `rate_`, `g_r_`, `grad_` or
//!   `next_`. A `fn` may not be named like a built-in function or `d`.
//!
//! ## Built-in functions
//!
//! `tanh`, `sigmoid` (1/(1 + e^−x)), `softplus` (ln(1 + e^x)), `exp`, `ln` (natural
//! logarithm), `sqrt`, `sin`, `cos`, `identity`, `pow(x, y)` (the same as `x ^ y`), and
//! `d(state)`. Functions that are not differentiable everywhere (`abs`, `relu`, `max`, `min`,
//! `floor`, `ceil`, `round`, `sign`, `signum`, `step`, `heaviside`, `clamp`) are refused: the
//! exact adjoint needs derivatives. Define others with `fn`, e.g.
//! `fn swish(x) = x * sigmoid(x);`. Parameter values in a layer are one number for every
//! neuron or a list with one entry per neuron; `[1.2; 17, 0.6; 36]` repeats 1.2 seventeen
//! times, then 0.6 thirty-six times.
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
//! Every mistake is a compile error spanned on the offending tokens. A syntax error stops
//! parsing, so only the first one is reported; after that, checking continues past an error
//! wherever that cannot cascade, and all errors are reported together (`multiple_errors`,
//! `multiple_errors_in_neuron`). The cases named in parentheses are complete programs in
//! `tests/ui/<case>.rs`, with the exact messages and spans in `tests/ui/<case>.stderr`.
//! Messages are quoted in part, with the names of the examples.
//!
//! ### Syntax
//!
//! - "expected `network Name { ... }` (optionally preceded by `pub`)": the input must be
//!   attributes (doc comments), an optional visibility, `network`, a name and a braced body.
//! - "expected one of `neuron`, `fn`, `input`, `layer`, `energy`, `learn`" or "unknown item
//!   `inptu`": a network item starts with another token or word. Inside a neuron the same
//!   holds for "expected one of `param`, `activation`, ..." and "unknown neuron item `stat`".
//! - "expected `<-` followed by the layer's sources, e.g. `<- x + bias`": a layer without its
//!   sources (`syntax_missing_arrow`).
//! - "expected a size: a positive integer literal": the size in `input x: N;` or
//!   `layer h: N = ...`, or the count in `value; count`, is not an integer literal.
//! - "expected a number, a list `[..]` or a function name": a binding value that is none of
//!   these, e.g. `tau_m: (1.0)`. Values are literals: `tau_m: 2.0 * 0.5` fails with
//!   "expected `,`". Inside a list, "expected a number".
//! - "expected an expression: a number, a name, a call or `( ... )`": an operator without an
//!   operand, e.g. `beta * ;` (`syntax_bad_expression`). "unexpected tokens in parentheses":
//!   e.g. `(u tau_m)`, an operator missing.
//! - "expected `,` or `)`": a `fn`'s parameters are not a comma-separated list of names.
//! - `syn`'s own messages for a missing token ("expected `;`", "expected `:`") and for a Rust
//!   keyword used as a name ("expected identifier, found keyword `type`").
//!
//! ### Network declarations
//!
//! - "network `Net` declares no input: add e.g. `input x: 1;`", "only one `input` is
//!   supported; widen it instead": declare exactly one input, as wide as needed.
//! - "the input needs at least one channel", "layer `h` needs at least one neuron": a size 0.
//! - "network `Net` declares no layer".
//! - "`h` is already declared": a layer named like an earlier layer or the input
//!   (`duplicate_layer`). Likewise "neuron `Gle` is declared twice", "function `f` is declared
//!   twice". Rename one.
//! - "`tanh` is a built-in function; choose another name": a `fn` named like a built-in,
//!   `identity`, `pow` or `d`.
//!
//! ### Neurons
//!
//! Each neuron model is checked once for its names, and with every layer that uses it; a model
//! no layer uses is checked with every activation taken as `identity`
//! (`unused_neuron_checked`).
//!
//! - "`d_u` is reserved: the generated kernels use the names ...": a declared name from the
//!   reserved list above; choose another (`reserved_name`).
//! - "`u` is declared twice in neuron `Gle`": a name declared twice among the neuron's
//!   parameters, activations, states and definitions (`duplicate_param_in_neuron`,
//!   `duplicate_name_in_neuron`).
//! - "neuron `Gle` declares no `state`"; "neuron `Gle` has 2 state(s) and 1 mismatch(es)":
//!   declare one `mismatch` per `state` (`missing_mismatch`); "neuron `Gle` must declare
//!   exactly one `prospective` and one `rate`".
//! - "unknown name `gain` in neuron `Gle`": a name the neuron does not declare; declare it
//!   (e.g. as a `param`) or use `input` for the synaptic input (`unknown_name_in_neuron`).
//!   "activation `phi` must be called, e.g. `phi(ubreve)`": an activation used as a value.
//! - "`d(tau_m)`: only state variables have a time derivative here": `d(...)` of a parameter,
//!   a definition or `input` (`d_of_non_state`). "`d(...)` takes a single state variable" and
//!   "... exactly one state variable": `d(u + v)`, `d(u, v)`.
//! - "`a` is defined in terms of itself": definitions that refer to each other in a cycle.
//! - "`layer.quantity` is only allowed in the energy, not inside a neuron".
//! - "rate `r` depends on `u` other than through the prospective `ubreve`": the rate may use
//!   the prospective quantity, parameters and numbers only (no state, no `d(...)`).
//! - "the rate and the prospective quantity may not use `input` directly": the input enters
//!   through the mismatches.
//! - "mismatch `e` is not affine in d(u)": a mismatch must be A ṡ + b with A and b free of the
//!   derivatives, so that it can be solved for them (`mismatch_nonlinear_in_du`).
//! - "no mismatch of neuron `Gle` depends on `input`": the neuron would ignore its synapses.
//! - "the mismatches of neuron `Gle` do not determine d(u), d(a)": the linear system for the
//!   derivatives is structurally singular, e.g. no mismatch contains `d(a)`.
//!
//! ### Functions
//!
//! - "`relu` is not differentiable everywhere, so no exact adjoint exists for it": one of the
//!   refused functions listed above was called; use a smooth one, e.g. `softplus` for `relu`
//!   (`non_smooth_relu`). Bound to an activation: "`abs` is not differentiable everywhere; use
//!   a smooth activation" (`non_smooth_abs_activation`).
//! - "unknown function `swish`: the built-ins are ..., or declare `fn swish(x) = ...;`"
//!   (`unknown_function`); "unknown activation `tanhh`: ..." for an activation binding
//!   (`unknown_activation`); "unknown function `log`: the natural logarithm is `ln`"
//!   (`unknown_function_log`).
//! - "`f` takes 2 argument(s), 1 given": a call with the wrong number of arguments (every
//!   built-in takes one, `pow` two). "activation `phi` takes one argument": e.g. `phi(a, b)`.
//!   "`f` takes 2 arguments; an activation takes one": an activation bound to a `fn` that does
//!   not have exactly one parameter.
//! - "unknown name `tau_m`: a `fn` body sees only its arguments, and the loss only
//!   `layer.rate` and `target`": pass the value as an argument (or, in the loss, drop it).
//! - "`f` calls itself: formulas cannot recurse" (directly or through other `fn`s);
//!   "`layer.quantity` is not allowed in a `fn` body".
//!
//! ### Layers
//!
//! - "unknown neuron model `Gel`; declared: Gle".
//! - "unknown source `y`: expected the input `x`, an earlier layer, `h` itself (recurrent) or
//!   `bias`" (`unknown_source`); "layer `h` reads `out`, which is declared after it":
//!   projections go from earlier layers to later ones, or from a layer to itself
//!   (`source_declared_later`); "source `x` is listed twice"; "layer `h` has no presynaptic
//!   source": `<- bias` alone.
//! - "neuron `Gle` has no parameter or activation `k`": a binding the neuron does not declare;
//!   "`tau_r` is given twice".
//! - "layer `out` gives no value for parameter `d_u` of `Gle`" (second error of
//!   `reserved_name`), "layer `h` binds no function to activation `phi` of `Gle`": bind every
//!   `param` and every `activation` of the neuron.
//! - "`tau_r` is a parameter of `Gle`: give it a number or a list of numbers"; "`phi` is an
//!   activation of `Gle`: bind it to a function, e.g. `phi: tanh`".
//! - "time constant `tau_m` must be positive, got -1": a value ≤ 0 for a `tau*` parameter
//!   (`negative_tau`, `zero_tau`). "value is not finite": a literal beyond the `f64` range.
//! - "`tau_r` lists 2 value(s) for layer `h` of size 3: give one value, or exactly 3": the
//!   list, repeats counted, must have one entry per neuron (`size_mismatch`,
//!   `size_mismatch_repeat`).
//!
//! ### Local rule
//!
//! Checked per layer once everything else about the layers is valid, at each distinct set of
//! the layer's parameter values; the message names the failing values.
//!
//! - "neuron `Gle`: the local rule inverts the input→prospective filter, which needs the
//!   prospective quantity to depend on d(state) ... (non-causal)": e.g.
//!   `prospective ubreve = u;`, whose inverse would differentiate the error
//!   (`noncausal_prospective`). Reported once per neuron model.
//! - "neuron `Gle` in layer `h`: its equations are not finite at rest (all states and the input
//!   zero, where every simulation starts) at tau_m = 1.0, tau_r = 0.5": the dynamics, the
//!   prospective quantity or the error neuron's Jacobian is infinite or NaN there, e.g. `ln(u)`,
//!   `sqrt(u)` or `1/u`; shift the state or use a function finite at 0 (`singular_at_rest`).
//! - "neuron `Gle` in layer `h`: the local error neuron (the inverse of its input→prospective
//!   filter) is unstable at tau_m = 1.0, tau_r = 1.0": the filter is not minimum-phase, so its
//!   causal inverse grows without bound (the error neuron's Jacobian at rest fails
//!   Routh–Hurwitz); e.g. `prospective ubreve = u - tau_r * d(u)` (`unstable_inversion`).
//!
//! ### Energy and loss
//!
//! The terms are checked once every layer is valid.
//!
//! - "no `energy = 0.5 * sum_sq(...) + beta * loss;` declared"; "`energy` is declared twice".
//! - "the mismatch part of the energy is `0.5 * sum_sq(...)` (½ Σ‖e‖², THEORY.md §3); other
//!   weights are not supported" (`energy_wrong_weight`).
//! - "the energy must contain every mismatch: `e_a` is missing from `sum_sq(...)`": list every
//!   mismatch of every layer's neuron (`energy_missing_mismatch`). "`sum_sq` takes mismatch
//!   names; the mismatches are: e, e_a": an argument that is not one of them.
//! - "the energy needs its mismatch part `0.5 * sum_sq(<all mismatches>)`", "the energy needs a
//!   loss term `beta * mse(out.r, target)` (or `cross_entropy`, or `sum(...)`)": a term is
//!   missing; "the energy has more than one `beta * loss` term"; "expected
//!   `0.5 * sum_sq(<mismatches>)` or `beta * <loss>` where the loss is ...": any other term,
//!   or a subtracted loss.
//! - "unknown layer `output`": the loss reads a layer that does not exist
//!   (`loss_unknown_layer`); "the loss reads rates: `out.r`": another quantity of the layer;
//!   "the loss must read a single output layer"; "the loss must read an output layer's rate,
//!   e.g. `mse(out.r, target)`": the loss reads no `layer.rate`.
//! - "`mse` takes `(layer.rate, target)`" (likewise `cross_entropy`); "`sum` takes one
//!   elementwise expression"; "unsupported loss: use `mse(out.r, target)`,
//!   `cross_entropy(out.r, target)` or `sum(<expression of out.r and target>)`".
//!
//! ### `learn`
//!
//! - "`learn gamma`: no neuron declares a parameter `gamma` (learnable: `W`, `b` or a neuron
//!   `param`)" (`learn_unknown`).
//! - "`learn k`: the energy does not depend on `k` (it appears in no mismatch, prospective or
//!   rate of any layer), so it has no gradient" (`learn_unused_param`).
//! - "`b`: no layer has a bias (add `+ bias` to a layer's sources)"; "`tau_m` is listed
//!   twice" (a neuron parameter).
//!
//! A `compile_error!` that starts with "vle internal error" is a bug in the macro, not in the
//! model: please report it with the model.

use proc_macro::TokenStream;

/// Declares neuron models, a network and its energy; see the crate documentation for the
/// grammar and what is derived.
#[proc_macro]
pub fn vle_model(input: TokenStream) -> TokenStream {
    vle_codegen::expand(input.into()).into()
}
