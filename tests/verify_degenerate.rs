//! vle-verify on degenerate and edge-case models: targets valid for the declared loss, a
//! model that learns nothing, a loss that does not depend on the parameters, networks
//! without a continuous-time system, one-unit layers, very short windows — and reports that
//! never print `NaN` or `inf` where a number is meant.

use vle::verify::signals::{Channel, Stimulus, Wave};
use vle::verify::targets::{loss_kind, LossKind, TargetKind};
use vle::verify::{check, FailureKind, Report};
use vle::{vle_model, Network, Signal};

vle_model! {
    /// Cross-entropy over three outputs.
    pub network CeNet {
        neuron Gle {
            param tau_m, tau_r;
            activation phi;
            state u;
            mismatch e = u + tau_m * d(u) - input;
            prospective ubreve = u + tau_r * d(u);
            rate r = phi(ubreve);
        }
        input x: 2;
        layer h: 3 = Gle { phi: tanh, tau_m: 0.5, tau_r: [0.5, 0.1, 0.2] } <- x + bias;
        layer out: 3 = Gle { phi: identity, tau_m: 0.3, tau_r: 0.3 } <- h + bias;
        energy = 0.5 * sum_sq(e) + beta * cross_entropy(out.r, target);
        learn W, b, tau_m, tau_r;
    }
}

vle_model! {
    /// No `learn` item: nothing is learnable.
    pub network NoLearn {
        neuron Gle {
            param tau_m, tau_r;
            activation phi;
            state u;
            mismatch e = u + tau_m * d(u) - input;
            prospective ubreve = u + tau_r * d(u);
            rate r = phi(ubreve);
        }
        input x: 1;
        layer out: 1 = Gle { phi: tanh, tau_m: 0.5, tau_r: 0.2 } <- x + bias;
        energy = 0.5 * sum_sq(e) + beta * mse(out.r, target);
    }
}

vle_model! {
    /// A user loss defined only for positive targets (ln of the target).
    pub network LogTarget {
        neuron Gle {
            param tau_m, tau_r;
            activation phi;
            state u;
            mismatch e = u + tau_m * d(u) - input;
            prospective ubreve = u + tau_r * d(u);
            rate r = phi(ubreve);
        }
        input x: 1;
        layer h: 2 = Gle { phi: tanh, tau_m: 0.5, tau_r: 0.2 } <- x + bias;
        layer out: 2 = Gle { phi: identity, tau_m: 0.3, tau_r: 0.3 } <- h + bias;
        energy = 0.5 * sum_sq(e) + beta * sum((out.r - ln(target))^2);
        learn W, b, tau_m;
    }
}

vle_model! {
    /// One unit everywhere, a recurrent one: only the discrete system exists.
    pub network OneRecurrent {
        neuron Gle {
            param tau_m, tau_r;
            activation phi;
            state u;
            mismatch e = u + tau_m * d(u) - input;
            prospective ubreve = u + tau_r * d(u);
            rate r = phi(ubreve);
        }
        input x: 1;
        layer out: 1 = Gle { phi: tanh, tau_m: 0.5, tau_r: 0.2 } <- x + out + bias;
        energy = 0.5 * sum_sq(e) + beta * mse(out.r, target);
        learn W, b;
    }
}

vle_model! {
    /// One unit, learns only a time constant.
    pub network OneUnit {
        neuron Gle {
            param tau_m, tau_r;
            activation phi;
            state u;
            mismatch e = u + tau_m * d(u) - input;
            prospective ubreve = u + tau_r * d(u);
            rate r = phi(ubreve);
        }
        input x: 1;
        layer out: 1 = Gle { phi: tanh, tau_m: 0.5, tau_r: 0.2 } <- x;
        energy = 0.5 * sum_sq(e) + beta * mse(out.r, target);
        learn tau_m;
    }
}

/// Neither the table nor the JSON prints a non-number where a number is meant, and every
/// `null` cosine in the JSON comes with its reason.
fn assert_no_nan_or_inf(r: &Report) {
    let (t, j) = (r.table(), r.to_json());
    for s in [&t, &j] {
        assert!(!s.contains("NaN") && !s.contains("inf"), "{s}");
    }
    for (value, note) in [
        ("\"overall_cosine\":null", "\"overall_cosine_note\":\""),
        ("\"local_cosine\":null", "\"local_cosine_note\":\""),
    ] {
        if j.contains(value) {
            assert!(j.contains(note), "{j}");
        }
    }
}

/// The targets of a cross-entropy check are probability vectors (a class switching over
/// time), so the reported losses are cross-entropies: never below zero.
#[test]
fn cross_entropy_is_checked_with_probability_targets() {
    assert_eq!(loss_kind::<CeNet>(), LossKind::CrossEntropy);
    let r = check::<CeNet>().seed(3).cases(2).steps(100).run();
    println!("{r}");
    assert_no_nan_or_inf(&r);
    for c in &r.cases {
        assert_eq!(c.targets, Some(TargetKind::Distribution));
        assert!(c.reference_loss >= 0.0 && c.generated_loss >= 0.0, "{r}");
        assert!(
            c.ode.as_ref().unwrap().reference_loss.unwrap() >= 0.0,
            "{r}"
        );
    }
    assert!(r.table().contains("targets: probability vectors"));
    // The signal itself: entries in [0, 1] summing to 1 (to rounding), and the likeliest
    // class changes over the window.
    let s = vle::verify::check::case_signal::<CeNet>(3);
    let (mut x, mut y) = (vec![0.0; 2], vec![0.0; 3]);
    let mut classes = std::collections::BTreeSet::new();
    for k in 0..=2000 {
        s.at(k as f64 * 0.005, &mut x, &mut y);
        assert!(y.iter().all(|&v| (0.0..=1.0).contains(&v)), "{y:?}");
        assert!((y.iter().sum::<f64>() - 1.0).abs() <= 1e-15, "{y:?}");
        let best = (0..3).max_by(|&a, &b| y[a].total_cmp(&y[b])).unwrap();
        classes.insert(best);
    }
    assert!(classes.len() >= 2, "{classes:?}");
    // A caller's targets that are not probability vectors are refused, naming the time.
    let sines = Stimulus {
        inputs: vec![Channel::default(); 2],
        targets: vec![
            Channel {
                offset: 0.0,
                waves: vec![Wave::Sine {
                    amplitude: 1.0,
                    frequency: 0.5,
                    phase: 0.0,
                }],
            };
            3
        ],
    };
    let p = vle::init_params::<CeNet, f64>(1);
    let f = check::<CeNet>()
        .steps(20)
        .try_run_on(&p, &sines)
        .unwrap_err();
    assert_eq!(f.kind, FailureKind::Settings);
    assert!(
        f.messages[0].contains("cross_entropy") && f.messages[0].contains("sum to 1"),
        "{f}"
    );
}

/// A user `sum(...)` loss gets targets in its domain: ln(target) needs positive targets, so
/// the sines (which go negative) are passed over for probability vectors.
#[test]
fn a_user_loss_gets_targets_in_its_domain() {
    assert!(matches!(loss_kind::<LogTarget>(), LossKind::Sum(_)));
    let r = check::<LogTarget>().seed(2).cases(2).steps(60).run();
    assert_no_nan_or_inf(&r);
    for c in &r.cases {
        assert_eq!(c.targets, Some(TargetKind::Distribution), "{r}");
        assert!(c.reference_loss.is_finite());
    }
}

/// A model that learns nothing is refused with a clear message: a gradient check of no
/// parameter would pass without checking anything.
#[test]
fn a_model_that_learns_nothing_is_refused() {
    assert!(NoLearn::param_info().iter().all(|i| !i.learnable));
    let f = check::<NoLearn>().try_run().unwrap_err();
    assert_eq!(f.kind, FailureKind::NothingToCheck);
    assert_eq!(
        f.messages[0],
        "vle-verify: NoLearn: nothing to check: the model learns no parameter (add a `learn` \
         item, e.g. `learn W, b;`)"
    );
    let p = vle::init_params::<NoLearn, f64>(0);
    let s = vle::verify::check::case_signal::<NoLearn>(0);
    let f = check::<NoLearn>().try_run_on(&p, &s).unwrap_err();
    assert_eq!(f.kind, FailureKind::NothingToCheck);
}

/// A loss that does not reach the learnable parameters (β = 0; the macro refuses the losses
/// that are constant in the rate, such as cross-entropy over one unit) gives an exact gradient
/// that is zero everywhere: refused, with the report, whose undefined cosines and orders are
/// "n/a" / "—" with their reasons.
#[test]
fn a_gradient_that_is_zero_everywhere_is_refused_and_reported_without_nan() {
    let f = check::<CeNet>()
        .beta(0.0)
        .cases(1)
        .steps(30)
        .try_run()
        .unwrap_err();
    assert_eq!(f.kind, FailureKind::NothingToCheck, "{f}");
    assert!(f.messages[0].contains("beta = 0"), "{f}");
    let r = f.report.as_deref().unwrap();
    assert_no_nan_or_inf(r);
    assert!(r.gradient_is_zero());
    let t = r.table();
    assert!(t.contains("n/a (both gradients are zero)"), "{t}");
    assert!(t.contains("orders — —"), "{t}");
    assert!(t.contains("both errors are exactly zero"), "{t}");
    assert!(r
        .to_json()
        .contains("\"order_notes\":[\"both errors are exactly zero"));
    let display = f.to_string();
    assert!(
        !display.contains("NaN") && !display.contains("inf"),
        "{display}"
    );
}

/// Networks without a continuous-time system (a recurrent one-unit layer), one-unit layers
/// learning a single tensor, and windows of one to three steps: correct, so they pass, and
/// their reports say which checks did not run and why.
#[test]
fn edge_case_networks_and_short_windows_pass_with_clean_reports() {
    let r = check::<OneRecurrent>().cases(2).steps(40).run();
    assert_no_nan_or_inf(&r);
    assert!(r.cases.iter().all(|c| c.ode.is_none()));
    assert!(
        r.table()
            .contains("not run: the checks against the continuous problem"),
        "{r}"
    );
    assert!(r
        .to_json()
        .contains("\"skipped\":[\"the checks against the continuous problem"));
    // Asking for a continuous check of it is refused.
    let f = check::<OneRecurrent>()
        .continuous(true)
        .try_run()
        .unwrap_err();
    assert_eq!(f.kind, FailureKind::Settings);

    for steps in 1..=3 {
        let r = check::<OneUnit>()
            .cases(1)
            .steps(steps)
            .continuous(true)
            .run();
        println!("{r}");
        assert_no_nan_or_inf(&r);
        assert_eq!(r.cases[0].tensors.len(), 1);
    }
}

/// A failure before any case finished (here the runtime refuses a time constant below dt)
/// leaves a report without cases: it says so instead of printing an empty minimum.
#[test]
fn a_report_without_cases_says_so() {
    let mut p = vle::init_params::<OneUnit, f64>(0);
    let tau = vle::params::find_param::<OneUnit>("out.tau_m")
        .unwrap()
        .offset;
    p[tau] = 0.001;
    let s = vle::verify::check::case_signal::<OneUnit>(0);
    let f = check::<OneUnit>().try_run_on(&p, &s).unwrap_err();
    assert!(matches!(f.kind, FailureKind::Runtime(_)), "{f}");
    let r = f.report.as_deref().unwrap();
    assert!(r.cases.is_empty());
    assert_no_nan_or_inf(r);
    assert!(r.table().contains("summary: no case ran"), "{r}");
    assert!(r.to_json().contains("\"worst_relative_error\":null"));
}
