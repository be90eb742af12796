//! The expansion never panics: random token streams and mutations of valid models give either
//! code that parses as Rust or spanned errors. Case counts are small for CI; raise them with
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
];

fn cases() -> u32 {
    std::env::var("VLE_FUZZ_CASES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(200)
}

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
