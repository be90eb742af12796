//! The expansion never panics: random token streams and mutations of valid models give either
//! code that parses as Rust or spanned errors. Generated models with at most one mistake of a
//! known kind (a rate or prospective quantity not finite at rest, a bad size, a name declared
//! twice, a loss without a learning signal, ...) expand when they have none and give exactly one
//! error when they have one: no mistake goes unreported, and none cascades.
//!
//! Part of `cargo test --workspace`; raise the case counts with
//! `VLE_FUZZ_CASES=100000 cargo test -p vle-codegen --test fuzz --release` for a long run.

use std::panic::{catch_unwind, AssertUnwindSafe};
use std::str::FromStr;

use proc_macro2::TokenStream;
use proptest::prelude::*;

const VALID: &str = r#"
    pub network LagNet {
        neuron Gle {
            param tau_m, tau_r, k;
            activation phi;
            state u, a;
            mismatch e = u + tau_m * d(u) + k * a - input;
            mismatch e_a = a + 2.0 * d(a) - u;
            prospective ubreve = u + tau_r * d(u);
            let z = phi(ubreve);
            rate r = z ^ 1;
        }
        fn soft(x) = ln(1 + exp(x));
        input x: 2;
        layer h1: 3 = Gle { phi: soft, tau_m: 1.0, tau_r: [1.0, 0.1; 2], k: 0.5 } <- x + h1 + bias;
        layer out: 2 = Gle { phi: identity, tau_m: 1.0, tau_r: 1.0, k: 0.0 } <- h1 + bias;
        energy = 0.5 * sum_sq(e, e_a) + beta * sum((out.r - target)^2);
        learn W, b, tau_m, k;
    }
"#;

const VOCAB: &[&str] = &[
    "network",
    "neuron",
    "param",
    "activation",
    "state",
    "mismatch",
    "prospective",
    "rate",
    "let",
    "fn",
    "input",
    "layer",
    "energy",
    "learn",
    "beta",
    "target",
    "sum_sq",
    "mse",
    "cross_entropy",
    "sum",
    "d",
    "tanh",
    "relu",
    "u",
    "x",
    "h1",
    "out",
    "tau_m",
    "e",
    "W",
    "b",
    "bias",
    "pub",
    ";",
    ",",
    ":",
    "=",
    "+",
    "-",
    "*",
    "/",
    "^",
    ".",
    "<-",
    "{",
    "}",
    "(",
    ")",
    "[",
    "]",
    "0",
    "1",
    "0.0",
    "-1.0",
    "1e400",
    "3",
    "999999999999999999999",
    "0.5",
    "-3",
    "ln",
    "sqrt",
    "exp",
    "pow",
    "sigmoid",
    "identity",
    "phi",
    "soft",
    "ubreve",
    "r",
    "z",
    "k",
    "tau_r",
    "a",
];

fn cases() -> u32 {
    std::env::var("VLE_FUZZ_CASES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(DEFAULT_CASES)
}

/// Cases per property in a plain `cargo test` (each takes well under a millisecond to a few
/// milliseconds; the three properties together run in seconds).
const DEFAULT_CASES: u32 = 1000;

/// Expands and checks the contract: no panic; errors or syntactically valid Rust.
fn expand_ok(src: &str) -> Result<(), TestCaseError> {
    let Ok(tokens) = TokenStream::from_str(src) else {
        return Ok(()); // not even lexable (unbalanced delimiters): rustc rejects it first
    };
    let result = catch_unwind(AssertUnwindSafe(|| vle_codegen::expand_checked(tokens)));
    match result {
        Err(_) => Err(TestCaseError::fail(format!(
            "expansion panicked on:\n{src}"
        ))),
        Ok(Err(_)) => Ok(()),
        Ok(Ok(code)) => {
            prop_assert!(
                syn::parse2::<syn::File>(code).is_ok(),
                "expansion is not valid Rust for:\n{src}"
            );
            Ok(())
        }
    }
}

fn valid_tokens() -> Vec<String> {
    TokenStream::from_str(VALID)
        .unwrap()
        .to_string()
        .split_whitespace()
        .map(str::to_owned)
        .collect()
}

#[derive(Clone, Debug)]
enum Mutation {
    Delete(usize),
    Duplicate(usize),
    Swap(usize, usize),
    Replace(usize, usize),
    Insert(usize, usize),
}

fn mutation() -> impl Strategy<Value = Mutation> {
    let n = 400usize;
    prop_oneof![
        (0..n).prop_map(Mutation::Delete),
        (0..n).prop_map(Mutation::Duplicate),
        (0..n, 0..n).prop_map(|(a, b)| Mutation::Swap(a, b)),
        (0..n, 0..VOCAB.len()).prop_map(|(a, b)| Mutation::Replace(a, b)),
        (0..n, 0..VOCAB.len()).prop_map(|(a, b)| Mutation::Insert(a, b)),
    ]
}

fn apply(tokens: &mut Vec<String>, m: &Mutation) {
    let len = tokens.len();
    match *m {
        Mutation::Delete(a) => {
            tokens.remove(a % len);
        }
        Mutation::Duplicate(a) => {
            let t = tokens[a % len].clone();
            tokens.insert(a % len, t);
        }
        Mutation::Swap(a, b) => tokens.swap(a % len, b % len),
        Mutation::Replace(a, v) => tokens[a % len] = VOCAB[v].to_owned(),
        Mutation::Insert(a, v) => tokens.insert(a % (len + 1), VOCAB[v].to_owned()),
    }
}

#[test]
fn the_unmutated_model_expands() {
    let code = vle_codegen::expand_checked(TokenStream::from_str(VALID).unwrap());
    assert!(code.is_ok(), "{}", code.err().unwrap());
}

proptest! {
    #![proptest_config(ProptestConfig { cases: cases(), ..ProptestConfig::default() })]

    #[test]
    fn mutated_models_never_panic(mutations in prop::collection::vec(mutation(), 1..6)) {
        let mut tokens = valid_tokens();
        for m in &mutations {
            apply(&mut tokens, m);
        }
        expand_ok(&tokens.join(" "))?;
    }

    #[test]
    fn random_token_streams_never_panic(words in prop::collection::vec(0..VOCAB.len(), 0..60)) {
        let src: Vec<&str> = words.iter().map(|&k| VOCAB[k]).collect();
        expand_ok(&src.join(" "))?;
        // And the same words wrapped as a network body.
        expand_ok(&format!("network N {{ {} }}", src.join(" ")))?;
    }
}

/// One mistake of a known kind, or none.
#[derive(Clone, Copy, Debug)]
enum Mistake {
    None,
    /// A rate not finite at rest (`ln(ubreve)`, `sqrt(ubreve - 1)`, `1 / ubreve`, ...).
    SingularRate(usize),
    /// A prospective quantity, or a definition it uses, not finite at rest.
    SingularProspective(usize),
    /// A mismatch whose derivative coefficient is zero at a parameter value.
    VanishingCoefficient,
    /// `layer h: -3` (or `0`, `2.5`).
    BadSize(usize),
    /// `[1.0; 0]`.
    ZeroRepeat,
    /// `mse(h.r, target)` with `out` after `h`.
    LossReadsHidden,
    /// `cross_entropy` of a one-neuron output.
    CrossEntropyOfOne,
    /// `sum(...)` that does not depend on the rate.
    ConstantLoss,
    /// A layer no later layer reads.
    DeadLayer,
    /// `fn phi(z) = z;` beside `activation phi;`, before or after the neuron.
    FnNamedLikeActivation(bool),
    /// `fn k(z) = z;` beside `param k;`.
    FnNamedLikeParam,
    /// `param exp;` or `let sqrt = ...;`
    NeuronNameIsBuiltin(usize),
    /// `state u; let u = ...;`
    DeclaredTwiceInNeuron,
    /// `fn f(a, a)`.
    FnParamTwice,
    /// The neuron declared twice.
    DuplicateNeuron,
    /// `input` in the prospective quantity.
    InputInProspective,
    /// A rate that does not depend on the prospective quantity.
    ConstantRate,
    /// `learn k, k;`
    LearnedTwice,
    /// A source that does not exist.
    UnknownSource,
    /// No `input`.
    NoInput,
    /// A binding key misspelled (`tau_x` for `tau_r`).
    MisspelledBinding,
    /// A mismatch misspelled in `sum_sq` (`ee` for `e`).
    MisspelledMismatch,
}

const RATES: &[&str] = &[
    "phi(ubreve)",
    "phi(ubreve) + 0.1 * ubreve",
    "softplus(ubreve)",
    "ubreve / (1 + ubreve^2)",
    "sqrt(1 + ubreve^2) - 1",
    "ln(1 + exp(ubreve))",
    "k * swish(ubreve)",
    "pow(1 + ubreve^2, 0.5)",
];
const SINGULAR_RATES: &[&str] = &[
    "ln(ubreve)",
    "sqrt(ubreve - 1)",
    "sqrt(ubreve)",
    "1 / ubreve",
    "ubreve^0.5",
    "phi(ubreve) / (ubreve - ubreve)",
    "ln(phi(ubreve) - phi(0))",
    "pow(ubreve, k)",
    "inv(ubreve)",
];
const PROSPECTIVES: &[&str] = &[
    "u + tau_r * d(u)",
    "u + tau_r * d(u) + 0.1 * tanh(u)",
    "z + tau_r * d(u)",
];
const SINGULAR_PROSPECTIVES: &[&str] = &[
    "u + tau_r * d(u) + sqrt(u)",
    "u + tau_r * d(u) + ln(1 + u) / u",
    "u + tau_r * d(u) + u^0.25",
    "w + tau_r * d(u)",
];
const ACTIVATIONS: &[&str] = &["tanh", "sigmoid", "identity", "soft", "swish"];
const BAD_SIZES: &[&str] = &["-3", "0", "2.5", "-1"];
const BUILTIN_NAMES: &[&str] = &["exp", "sqrt", "tanh", "identity", "pow"];

#[derive(Clone, Debug)]
struct Spec {
    h_size: usize,
    out_size: usize,
    rate: usize,
    prospective: usize,
    act_h: usize,
    act_out: usize,
    k: f64,
    loss: usize,
    mistake: Mistake,
}

fn spec() -> impl Strategy<Value = Spec> {
    let mistake = prop_oneof![
        4 => Just(Mistake::None),
        2 => (0..SINGULAR_RATES.len()).prop_map(Mistake::SingularRate),
        1 => (0..SINGULAR_PROSPECTIVES.len()).prop_map(Mistake::SingularProspective),
        1 => Just(Mistake::VanishingCoefficient),
        1 => (0..BAD_SIZES.len()).prop_map(Mistake::BadSize),
        1 => Just(Mistake::ZeroRepeat),
        1 => Just(Mistake::LossReadsHidden),
        1 => Just(Mistake::CrossEntropyOfOne),
        1 => Just(Mistake::ConstantLoss),
        1 => Just(Mistake::DeadLayer),
        1 => any::<bool>().prop_map(Mistake::FnNamedLikeActivation),
        1 => Just(Mistake::FnNamedLikeParam),
        1 => (0..BUILTIN_NAMES.len() * 2).prop_map(Mistake::NeuronNameIsBuiltin),
        1 => Just(Mistake::DeclaredTwiceInNeuron),
        1 => Just(Mistake::FnParamTwice),
        1 => Just(Mistake::DuplicateNeuron),
        1 => Just(Mistake::InputInProspective),
        1 => Just(Mistake::ConstantRate),
        1 => Just(Mistake::LearnedTwice),
        1 => Just(Mistake::UnknownSource),
        1 => Just(Mistake::NoInput),
        1 => Just(Mistake::MisspelledBinding),
        1 => Just(Mistake::MisspelledMismatch),
    ];
    (
        1..4usize,
        1..4usize,
        0..RATES.len(),
        0..PROSPECTIVES.len(),
        0..ACTIVATIONS.len(),
        0..ACTIVATIONS.len(),
        prop_oneof![Just(0.5), Just(1.0), Just(2.0)],
        0..3usize,
        mistake,
    )
        .prop_map(
            |(h_size, out_size, rate, prospective, act_h, act_out, k, loss, mistake)| Spec {
                h_size,
                out_size,
                rate,
                prospective,
                act_h,
                act_out,
                k,
                loss,
                mistake,
            },
        )
}

/// The model text of `s`: a hidden layer `h` and an output layer `out` of one neuron model, and
/// the mistake, if any.
fn model_source(s: &Spec) -> String {
    use Mistake as M;
    let m = s.mistake;
    let mut rate = RATES[s.rate].to_string();
    let mut prosp = PROSPECTIVES[s.prospective].to_string();
    match m {
        M::SingularRate(i) => rate = SINGULAR_RATES[i].into(),
        M::SingularProspective(i) => prosp = SINGULAR_PROSPECTIVES[i].into(),
        M::InputInProspective => prosp = format!("{prosp} + 0.5 * input"),
        M::ConstantRate => rate = "0.5 * k".into(),
        _ => {}
    }
    let coefficient = if matches!(m, M::VanishingCoefficient) {
        "c_u"
    } else {
        "tau_m"
    };
    let mut extra = String::new();
    match m {
        M::NeuronNameIsBuiltin(i) if i % 2 == 0 => {
            extra = format!("param {};", BUILTIN_NAMES[i / 2]);
        }
        M::NeuronNameIsBuiltin(i) => {
            extra = format!("let {} = 2.0;", BUILTIN_NAMES[i / 2]);
        }
        M::DeclaredTwiceInNeuron => extra = "let u = 1.0;".into(),
        _ => {}
    }
    let extra_binding = match m {
        M::NeuronNameIsBuiltin(i) if i % 2 == 0 => format!(", {}: 1.0", BUILTIN_NAMES[i / 2]),
        _ => String::new(),
    };
    let neuron = format!(
        "neuron Gle {{
            param tau_m, tau_r, k, c_u;
            activation phi;
            state u;
            {extra}
            let z = u + 0.0 * k;
            let w = sqrt(u) * 2.0;
            mismatch e = u + {coefficient} * d(u) - k * input;
            prospective ubreve = {prosp};
            rate r = {rate};
        }}"
    );
    let fn_phi = "fn phi(z) = z;";
    let mut items = Vec::new();
    if matches!(m, M::FnNamedLikeActivation(true)) {
        items.push(fn_phi.to_string());
    }
    if matches!(m, M::FnNamedLikeParam) {
        items.push("fn k(z) = z;".into());
    }
    items.push(neuron.clone());
    if matches!(m, M::DuplicateNeuron) {
        items.push(neuron);
    }
    if matches!(m, M::FnNamedLikeActivation(false)) {
        items.push(fn_phi.to_string());
    }
    items.push("fn soft(z) = ln(1 + exp(z));".into());
    items.push("fn swish(z) = z * sigmoid(z);".into());
    items.push("fn inv(z) = 1 / z;".into());
    if matches!(m, M::FnParamTwice) {
        items.push("fn blend(a, a) = a;".into());
    }
    if !matches!(m, M::NoInput) {
        items.push("input x: 2;".into());
    }
    let h_size = match m {
        M::BadSize(i) => BAD_SIZES[i].to_string(),
        _ => s.h_size.to_string(),
    };
    let tau_r = if matches!(m, M::ZeroRepeat) {
        format!("tau_r: [0.5; 0, 1.0; {}]", s.h_size)
    } else if matches!(m, M::MisspelledBinding) {
        "tau_x: 0.5".into()
    } else {
        "tau_r: 0.5".into()
    };
    let (c_h, c_out) = if matches!(m, M::VanishingCoefficient) {
        ("[1.0; 1, 0.0; 1]", "1.0")
    } else {
        ("1.0", "1.0")
    };
    let h_size_for_c = if matches!(m, M::VanishingCoefficient) {
        "2".to_string()
    } else {
        h_size
    };
    let h_source = if matches!(m, M::UnknownSource) {
        "y"
    } else {
        "x"
    };
    items.push(format!(
        "layer h: {h_size_for_c} = Gle {{ phi: {}, tau_m: 1.0, {tau_r}, k: {}, c_u: {c_h}{extra_binding} }} <- {h_source} + bias;",
        ACTIVATIONS[s.act_h], s.k
    ));
    if matches!(m, M::DeadLayer) {
        items.push(format!(
            "layer side: 2 = Gle {{ phi: tanh, tau_m: 1.0, tau_r: 0.5, k: 1.0, c_u: 1.0{extra_binding} }} <- x;"
        ));
    }
    let out_size = if matches!(m, M::CrossEntropyOfOne) {
        1
    } else {
        s.out_size
    };
    items.push(format!(
        "layer out: {out_size} = Gle {{ phi: {}, tau_m: 1.0, tau_r: 1.0, k: 1.0, c_u: {c_out}{extra_binding} }} <- h;",
        ACTIVATIONS[s.act_out]
    ));
    let loss = match m {
        M::LossReadsHidden => "mse(h.r, target)".to_string(),
        M::CrossEntropyOfOne => "cross_entropy(out.r, target)".into(),
        M::ConstantLoss => "sum(target^2 + 0 * out.r)".into(),
        _ => match s.loss {
            0 => "mse(out.r, target)".into(),
            1 => "sum(ln(1 + (out.r - target)^2))".into(),
            _ if out_size >= 2 => "cross_entropy(out.r, target)".into(),
            _ => "sum((out.r - target)^2)".into(),
        },
    };
    let mismatches = if matches!(m, M::MisspelledMismatch) {
        "ee"
    } else {
        "e"
    };
    items.push(format!(
        "energy = 0.5 * sum_sq({mismatches}) + beta * {loss};"
    ));
    items.push(if matches!(m, M::LearnedTwice) {
        "learn W, b, k, k;".into()
    } else {
        "learn W, b, k;".into()
    });
    format!("network Generated {{\n{}\n}}", items.join("\n"))
}

/// A part of the message each mistake must give.
fn expected(m: Mistake) -> &'static [&'static str] {
    use Mistake as M;
    match m {
        M::None => &[],
        M::SingularRate(_) | M::SingularProspective(_) => &["is not finite at rest"],
        M::VanishingCoefficient => &["cannot be solved for d(u) at rest"],
        M::BadSize(_) => &["a size is", "needs at least one neuron"],
        M::ZeroRepeat => &["a repeat count is at least 1"],
        M::LossReadsHidden => &["the output layer is the last one declared"],
        M::CrossEntropyOfOne => &["is always 0"],
        M::ConstantLoss => &["does not change with `out.r`"],
        M::DeadLayer => &["layer `side` does not reach the output layer"],
        M::FnNamedLikeActivation(_) | M::FnNamedLikeParam => &["is already declared"],
        M::NeuronNameIsBuiltin(_) => &["is a built-in function"],
        M::DeclaredTwiceInNeuron => &["is declared twice in neuron"],
        M::FnParamTwice => &["is a parameter of `fn blend` twice"],
        M::DuplicateNeuron => &["neuron `Gle` is declared twice"],
        M::InputInProspective => &["may not use `input`"],
        M::ConstantRate => &["does not depend on the prospective quantity"],
        M::LearnedTwice => &["listed twice in `learn`"],
        M::UnknownSource => &["unknown source `y`"],
        M::NoInput => &["declares no input"],
        M::MisspelledBinding => &["did you mean `tau_r`"],
        M::MisspelledMismatch => &["did you mean `e`"],
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: cases() / 4, ..ProptestConfig::default() })]

    #[test]
    fn one_error_per_mistake(s in spec()) {
        let src = model_source(&s);
        let tokens = TokenStream::from_str(&src).expect("generated models lex");
        let result = catch_unwind(AssertUnwindSafe(|| vle_codegen::expand_checked(tokens)));
        let Ok(result) = result else {
            return Err(TestCaseError::fail(format!("expansion panicked on:\n{src}")));
        };
        match (s.mistake, result) {
            (Mistake::None, Ok(code)) => prop_assert!(
                syn::parse2::<syn::File>(code).is_ok(),
                "expansion is not valid Rust for:\n{src}"
            ),
            (Mistake::None, Err(e)) => {
                prop_assert!(false, "a valid model is refused:\n{src}\n{e}");
            }
            (m, Ok(_)) => prop_assert!(false, "{m:?} is not reported:\n{src}"),
            (m, Err(e)) => {
                let messages: Vec<String> = e.into_iter().map(|e| e.to_string()).collect();
                prop_assert!(
                    messages.len() == 1,
                    "{m:?} gives {} errors (one expected):\n{src}\n{}",
                    messages.len(),
                    messages.join("\n")
                );
                prop_assert!(
                    expected(m).iter().any(|x| messages[0].contains(x)),
                    "{m:?} gives another error:\n{src}\n{}",
                    messages[0]
                );
            }
        }
    }
}
