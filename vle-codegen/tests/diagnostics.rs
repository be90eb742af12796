//! Where each compile error points and what it says: one error per mistake, spanned on the
//! offending token, for the classes of mistakes the validator refuses (an expression not finite
//! at rest, a loss without a learning signal, a name declared twice, follow-on errors). Models
//! are source text so that every error's span maps back to a line and a token.

use std::str::FromStr;

use proc_macro2::TokenStream;

/// One reported error: the token it is spanned on, the source line of that token, the message.
#[derive(Debug)]
struct Diag {
    token: String,
    line: String,
    message: String,
}

fn diagnose(src: &str) -> Vec<Diag> {
    let tokens = TokenStream::from_str(src).expect("the test models lex");
    let Err(errors) = vle_codegen::expand_checked(tokens) else {
        return Vec::new();
    };
    let lines: Vec<&str> = src.lines().collect();
    errors
        .into_iter()
        .map(|e| {
            let (start, end) = (e.span().start(), e.span().end());
            let line = lines[start.line - 1];
            let token = if end.line == start.line {
                line.chars()
                    .skip(start.column)
                    .take(end.column - start.column)
                    .collect()
            } else {
                String::new()
            };
            Diag {
                token,
                line: line.trim().to_owned(),
                message: e.to_string(),
            }
        })
        .collect()
}

/// The single error of `src`, which must be on `token` in the line containing `line`.
fn single(src: &str, token: &str, line: &str) -> String {
    let diags = diagnose(src);
    assert_eq!(
        diags.len(),
        1,
        "one error expected for:\n{src}\ngot {diags:#?}"
    );
    let d = &diags[0];
    assert_eq!(d.token, token, "{d:#?}");
    assert!(
        d.line.contains(line),
        "expected on the line `{line}`: {d:#?}"
    );
    d.message.clone()
}

fn contains_all(message: &str, parts: &[&str]) {
    for p in parts {
        assert!(message.contains(p), "`{p}` missing from: {message}");
    }
}

/// A GLE network whose neuron has the given prospective quantity and rate, with two layers
/// (`h`, `out`) of it and the given loss.
fn gle(prospective: &str, rate: &str, extra: &str) -> String {
    format!(
        "network Net {{
    neuron Gle {{
        param tau_m, tau_r, k;
        activation phi;
        state u;
        mismatch e = u + tau_m * d(u) - input;
        prospective ubreve = {prospective};
        rate r = {rate};
    }}
    {extra}
    input x: 1;
    layer h: 2 = Gle {{ phi: tanh, tau_m: 1.0, tau_r: 0.5, k: [1.0, 0.0] }} <- x + bias;
    layer out: 1 = Gle {{ phi: identity, tau_m: 1.0, tau_r: 1.0, k: 1.0 }} <- h;
    energy = 0.5 * sum_sq(e) + beta * mse(out.r, target);
    learn W, b;
}}"
    )
}

const PROSP: &str = "u + tau_r * d(u)";

#[test]
fn valid_models_expand() {
    for (p, r) in [
        (PROSP, "phi(ubreve)"),
        (PROSP, "ln(1 + exp(ubreve))"),
        (PROSP, "sqrt(1 + ubreve^2) - 1"),
        (PROSP, "ubreve / (1 + ubreve^2)"),
        // One neuron of `h` has k = 0: forms finite there are accepted.
        (PROSP, "k * ubreve + phi(ubreve)"),
        ("u + tau_r * d(u) + 0.1 * (1 - exp(-u))", "phi(ubreve)"),
    ] {
        let src = gle(p, r, "");
        assert!(diagnose(&src).is_empty(), "{src}\n{:#?}", diagnose(&src));
    }
}

#[test]
fn a_rate_not_finite_at_rest_is_refused_on_the_rate_line() {
    let msg = single(&gle(PROSP, "ln(ubreve)", ""), "ln", "rate r");
    contains_all(
        &msg,
        &[
            "neuron `Gle` in layer `h`",
            "tau_m = 1.0, tau_r = 0.5, k = 1.0",
            "`ln(ubreve)` is not finite at rest",
            "ln of 0 is -inf",
            "softplus",
        ],
    );
    let msg = single(&gle(PROSP, "sqrt(ubreve - 1)", ""), "sqrt", "rate r");
    contains_all(
        &msg,
        &["`sqrt(ubreve - 1)`", "sqrt of -1 is not a real number"],
    );
    // Finite value, infinite derivative: R'(0) of sqrt.
    let msg = single(&gle(PROSP, "sqrt(ubreve)", ""), "sqrt", "rate r");
    contains_all(&msg, &["sqrt of 0 has an infinite derivative"]);
    let msg = single(&gle(PROSP, "ubreve^0.5", ""), "^", "rate r");
    contains_all(&msg, &["`ubreve^0.5`", "infinite derivative"]);
    let msg = single(&gle(PROSP, "phi(ubreve) / ubreve^2", ""), "/", "rate r");
    contains_all(&msg, &["its denominator `ubreve^2` is 0"]);
    // A varying exponent: the derivative in k is ln(0)·0^k.
    let msg = single(&gle(PROSP, "pow(ubreve, k)", ""), "pow", "rate r");
    contains_all(&msg, &["exponent varies"]);
}

#[test]
fn a_prospective_quantity_not_finite_at_rest_is_refused_on_its_line() {
    let msg = single(
        &gle("u + tau_r * d(u) + sqrt(u)", "phi(ubreve)", ""),
        "sqrt",
        "prospective ubreve",
    );
    contains_all(&msg, &["`sqrt(u)`", "infinite derivative"]);
    let msg = single(
        &gle("u + tau_r * d(u) + ln(1 + u) / u", "phi(ubreve)", ""),
        "/",
        "prospective ubreve",
    );
    contains_all(&msg, &["`ln(1 + u) / u`", "denominator `u` is 0"]);
}

#[test]
fn the_cause_is_spanned_where_it_is_written() {
    // In a `let` that the rate uses: the `let` line.
    let src =
        gle(PROSP, "z", "").replace("rate r = z;", "let z = ln(ubreve);\n        rate r = z;");
    single(&src, "ln", "let z");
    // In a `fn` the rate calls: the call in the rate line, naming what the `fn` evaluates.
    let msg = single(
        &gle(PROSP, "inv(ubreve)", "fn inv(z) = 1 / z;"),
        "inv",
        "rate r",
    );
    contains_all(&msg, &["`inv(ubreve)`", "it evaluates `1 / z`"]);
    // An activation bound to a function singular at 0: the call in the rate line.
    let src = gle(PROSP, "phi(ubreve)", "").replace("phi: tanh", "phi: ln");
    let msg = single(&src, "phi", "rate r");
    contains_all(&msg, &["`phi` is bound to `ln` in this layer"]);
}

#[test]
fn parameter_values_that_make_a_model_singular_are_named() {
    // k = 0 in one neuron of `h`: 1/k is infinite there, and the message says so.
    let msg = single(&gle(PROSP, "phi(ubreve) / k", ""), "/", "rate r");
    contains_all(&msg, &["layer `h`", "k = 0.0", "denominator `k` is 0"]);
    // A mismatch whose d(u) coefficient is k: not solvable at k = 0.
    let src = gle(PROSP, "phi(ubreve)", "").replace("u + tau_m * d(u)", "u + k * d(u)");
    let msg = single(&src, "e", "mismatch e");
    contains_all(&msg, &["k = 0.0", "cannot be solved for d(u) at rest"]);
}

#[test]
fn a_local_inversion_singular_at_a_parameter_value_is_refused_on_the_prospective_quantity() {
    // k = 0 in one neuron of `h`: the prospective quantity does not see d(u) there, and the
    // error neuron divides by that coefficient.
    let msg = single(
        &gle("u + k * d(u)", "phi(ubreve)", ""),
        "ubreve",
        "prospective ubreve",
    );
    contains_all(
        &msg,
        &[
            "layer `h`",
            "k = 0.0",
            "the local rule is not finite at rest",
        ],
    );
}

#[test]
fn a_neuron_mistake_shared_by_layers_is_one_error() {
    // Both layers use Gle: the mistake is in the neuron, reported once.
    let src = gle(PROSP, "relu(ubreve)", "");
    single(&src, "relu", "rate r");
    let src = gle(PROSP, "phi(ubreve)", "fn f(z) = q * z;")
        .replace("phi: tanh", "phi: f")
        .replace("phi: identity", "phi: f");
    single(&src, "q", "fn f");
}

#[test]
fn the_loss_must_read_the_last_layer() {
    let src = gle(PROSP, "phi(ubreve)", "").replace("mse(out.r", "mse(h.r");
    let msg = single(&src, "h", "energy");
    contains_all(
        &msg,
        &[
            "the loss reads `h`",
            "the last one declared, `out`",
            "mse(out.r, target)",
        ],
    );
}

#[test]
fn every_layer_must_reach_the_output() {
    let src = gle(PROSP, "phi(ubreve)", "").replace(
        "    layer out",
        "    layer side: 2 = Gle { phi: tanh, tau_m: 1.0, tau_r: 0.5, k: 1.0 } <- x;\n    layer out",
    );
    let msg = single(&src, "side", "layer side");
    contains_all(
        &msg,
        &["does not reach the output layer `out`", "<- h + side"],
    );
    // A recurrent projection does not make a layer reach anything.
    let src = src.replace("<- x;", "<- x + side;");
    single(&src, "side", "layer side");
}

#[test]
fn a_loss_without_a_learning_signal_is_refused() {
    let one = |loss: &str| {
        gle(PROSP, "phi(ubreve)", "")
            .replace("beta * mse(out.r, target)", &format!("beta * {loss}"))
    };
    let msg = single(
        &one("cross_entropy(out.r, target)"),
        "cross_entropy",
        "energy",
    );
    contains_all(&msg, &["one-neuron layer `out` is always 0"]);
    let msg = single(&one("sum(target^2 + 0 * out.r)"), "sum", "energy");
    contains_all(&msg, &["does not change with `out.r`"]);
    // An identity the simplifier does not see: found numerically.
    single(
        &one("sum(sin(out.r)^2 + cos(out.r)^2 - target)"),
        "sum",
        "energy",
    );
    let msg = single(&one("sum(-target * ln(out.r))"), "sum", "energy");
    contains_all(&msg, &["not finite at rest", "`out.r` = 0"]);
    // Losses that do carry a signal.
    for loss in [
        "sum((out.r - target)^2)",
        "sum(ln(1 + (out.r - target)^2))",
        "mse(out.r, target)",
    ] {
        assert!(diagnose(&one(loss)).is_empty(), "{loss}");
    }
}

#[test]
fn a_constant_rate_is_refused() {
    let msg = single(&gle(PROSP, "0.5 * k", ""), "r", "rate r");
    contains_all(
        &msg,
        &["does not depend on the prospective quantity `ubreve`"],
    );
}

#[test]
fn a_name_declared_in_two_roles_is_refused_on_the_second() {
    // `fn` after the neuron: on the `fn`.
    let msg = single(
        &gle(PROSP, "phi(ubreve)", "fn phi(z) = z;"),
        "phi",
        "fn phi",
    );
    contains_all(&msg, &["already declared in neuron `Gle` as an activation"]);
    // `fn` before the neuron: on the neuron's declaration.
    let src =
        gle(PROSP, "phi(ubreve)", "").replace("network Net {", "network Net {\n    fn k(z) = z;");
    let msg = single(&src, "k", "param tau_m");
    contains_all(
        &msg,
        &[
            "already declared as a function (`fn k`)",
            "a parameter of neuron `Gle`",
        ],
    );
    // A neuron name that is a built-in function.
    let src = gle(PROSP, "phi(ubreve)", "").replace("state u;", "state u;\n        let exp = 2;");
    let msg = single(&src, "exp", "let exp");
    contains_all(&msg, &["`exp` is a built-in function"]);
    // Twice inside a neuron, in source order: the later one.
    let src = gle(PROSP, "phi(ubreve)", "").replace("state u;", "state u;\n        param u;");
    let msg = single(&src, "u", "param u");
    contains_all(
        &msg,
        &["`u` is declared twice in neuron `Gle`: it is already a state"],
    );
    // `fn` names and parameters.
    let msg = single(
        &gle(PROSP, "phi(ubreve)", "fn sum(z) = z;"),
        "sum",
        "fn sum",
    );
    contains_all(&msg, &["function of the energy"]);
    let msg = single(&gle(PROSP, "phi(ubreve)", "fn f(a, a) = a;"), "a", "fn f");
    contains_all(&msg, &["`a` is a parameter of `fn f` twice"]);
    let msg = single(
        &gle(PROSP, "phi(ubreve)", "fn f(tanh) = tanh;"),
        "tanh",
        "fn f",
    );
    contains_all(&msg, &["named like a function"]);
    // Layers and the input, in source order; `bias` is a source term.
    let src = gle(PROSP, "phi(ubreve)", "").replace("layer out", "layer x");
    let src = src.replace("out.r", "x.r");
    let msg = single(&src, "x", "layer x");
    contains_all(&msg, &["`x` is already declared, as the input"]);
}

#[test]
fn errors_point_at_the_offending_token() {
    // `input` in the prospective quantity: on that `input`, not on the rate.
    let msg = single(
        &gle("u + tau_r * d(u) + input", "phi(ubreve)", ""),
        "input",
        "prospective",
    );
    contains_all(
        &msg,
        &["the prospective quantity `ubreve` may not use `input`"],
    );
    let msg = single(&gle(PROSP, "phi(ubreve + input)", ""), "input", "rate r");
    contains_all(&msg, &["the rate `r` may not use `input`"]);
    // A state reached through a `let`: in the `let`.
    let src = gle(PROSP, "phi(ubreve) + w", "").replace("state u;", "state u;\n        let w = u;");
    single(&src, "u", "let w");
}

#[test]
fn non_causal_prospective_quantities_are_explained() {
    let src = "network Net {
    neuron Two {
        param tau_m, tau_r, tau_d;
        state u, v;
        mismatch e = u + tau_m * d(u) - v;
        mismatch e_v = v + tau_d * d(v) - input;
        prospective ubreve = u + tau_r * d(u);
        rate r = ubreve;
    }
    input x: 1;
    layer out: 1 = Two { tau_m: 1.0, tau_r: 0.5, tau_d: 1.0 } <- x;
    energy = 0.5 * sum_sq(e, e_v) + beta * mse(out.r, target);
}";
    let msg = single(src, "ubreve", "prospective ubreve");
    // It names what the user wrote and what the input drives; it does not suggest what they
    // already wrote.
    contains_all(
        &msg,
        &[
            "it uses d(u)",
            "it drives d(v) (through mismatch `e_v`)",
            "v + tau_r * d(v)",
        ],
    );
    assert!(!msg.contains("u + tau_r * d(u)`"), "{msg}");
    let msg = single(
        &src.replace("u + tau_r * d(u)", "u"),
        "ubreve",
        "prospective ubreve",
    );
    contains_all(&msg, &["uses no d(state)", "v + tau_r * d(v)"]);
}

#[test]
fn sizes_are_positive_integers() {
    let with = |size: &str| {
        gle(PROSP, "phi(ubreve)", "").replace("layer h: 2", &format!("layer h: {size}"))
    };
    let msg = single(&with("-3"), "-3", "layer h");
    contains_all(&msg, &["a size is a positive integer, got `-3`"]);
    let msg = single(&with("2.5"), "2.5", "layer h");
    contains_all(&msg, &["a size is a whole number"]);
    let msg = single(
        &with("99999999999999999999999"),
        "99999999999999999999999",
        "layer h",
    );
    contains_all(&msg, &["too large"]);
    // Size 0: one error, not a second one about the two-value list of `k`.
    let msg = single(&with("0"), "0", "layer h");
    contains_all(&msg, &["needs at least one neuron"]);
    let src = gle(PROSP, "phi(ubreve)", "").replace("k: [1.0, 0.0]", "k: [1.0; 0, 0.0; 2]");
    let msg = single(&src, "0", "layer h");
    contains_all(&msg, &["a repeat count is at least 1"]);
}

#[test]
fn one_mistake_is_one_error() {
    // A neuron declared twice: its layers are not checked against either declaration.
    let src = gle(PROSP, "phi(ubreve)", "neuron Gle { param tau; state u; mismatch e = u + tau * d(u) - input; prospective q = u + tau * d(u); rate r = q; }");
    single(&src, "Gle", "neuron Gle { param tau;");
    // No input: the layers reading `x` are not unknown sources on top.
    single(
        &gle(PROSP, "phi(ubreve)", "").replace("input x: 1;", ""),
        "Net",
        "network Net",
    );
    // `learn` lists: a name twice is one error, whatever else is wrong with it.
    let src = gle(PROSP, "phi(ubreve)", "").replace("learn W, b;", "learn W, b, gamma, gamma, W;");
    let diags = diagnose(&src);
    assert_eq!(diags.len(), 3, "{diags:#?}");
    assert!(diags[0]
        .message
        .contains("no neuron declares a parameter `gamma`"));
    assert!(diags[1].message.contains("`gamma` is listed twice"));
    assert!(diags[2].message.contains("`W` is listed twice"));
    // A typo in a source: unknown source, and no "does not reach the output" about the layer
    // it meant.
    let src = gle(PROSP, "phi(ubreve)", "").replace("<- h;", "<- hh;");
    single(&src, "hh", "layer out");
}

#[test]
fn a_misspelled_name_and_the_name_it_leaves_out_are_one_error() {
    // A binding key: not also "gives no value for parameter `tau_r`".
    let src = gle(PROSP, "phi(ubreve)", "").replace("tau_r: 0.5", "tau_x: 0.5");
    let msg = single(&src, "tau_x", "layer h");
    contains_all(
        &msg,
        &["no parameter or activation `tau_x`; did you mean `tau_r`"],
    );
    // A mismatch in `sum_sq`: not also "`e` is missing".
    let src = gle(PROSP, "phi(ubreve)", "").replace("sum_sq(e)", "sum_sq(ee)");
    let msg = single(&src, "ee", "energy");
    contains_all(&msg, &["`ee` is not a mismatch; did you mean `e`"]);
    // An unrelated key and a missing parameter are two mistakes.
    let src = gle(PROSP, "phi(ubreve)", "").replace("tau_r: 0.5", "gain: 0.5");
    let diags = diagnose(&src);
    assert_eq!(diags.len(), 2, "{diags:#?}");
    assert!(diags[0]
        .message
        .contains("bind only its parameters (tau_m, tau_r, k)"));
    assert!(diags[1]
        .message
        .contains("gives no value for parameter `tau_r`"));
}
