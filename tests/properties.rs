//! Property tests: for every model of the zoo (`tests/zoo`), `proptest` samples parameters
//! around their initialisation, time constants, dt, the window, β, input signals (sums of
//! sines, smoothed steps, smooth noise) and targets, and runs every check of
//! `vle::verify::check` on the case:
//!
//! - the generated exact discrete gradient against forward-mode dual numbers (≤ 1e-9);
//! - for continuous networks: the generated Euler forward converging at first order to the
//!   Dopri5 solution of the declared ODEs; the numerical continuous adjoint (Dopri5, dual
//!   Jacobians) against fourth-order finite differences of the Dopri5 loss (within 10 times
//!   their estimated errors); the
//!   generated discrete gradient converging to it at first order and the generated
//!   continuous adjoint (RK4) at fourth order;
//! - the local rule's cosine with the exact gradient is computed (printed on failure) and must
//!   be finite: the local rule does not diverge.
//!
//! A failure shrinks to a minimal case (fewer waves, smaller perturbations, shorter window)
//! and is recorded under `proptest-regressions/` (commit those files: they are replayed first
//! on every run). Case counts are small for CI; `VLE_PROPTEST_CASES=200 cargo test --release
//! --test properties` runs a long soak.
//!
//! Sampling ranges (and why): time constants are scaled by a factor in [0.5, 2] per neuron
//! (all time constants of a neuron by the same factor, so instantaneous units stay
//! instantaneous); dt in [0.005, 0.02] stays below every time constant of the zoo (≥ 0.1·0.5);
//! input features are kept on time scales ≥ 0.1 (sine frequencies ≤ 1.5 cycles per unit time,
//! step widths and noise correlation times ≥ 0.1) so that the convergence checks, which use
//! steps ≤ τ_min/8, are in their asymptotic regime (see `vle_verify::check::EULER_ORDER_BAND`).
//! For a `cross_entropy` model the sampled targets are the logits of probability vectors
//! (`SoftmaxTargets`, gain 2): the loss is a cross-entropy only for targets that sum to 1.

mod zoo;

use proptest::prelude::*;
use proptest::test_runner::{Config, FileFailurePersistence};
use vle::params::init_params;
use vle::verify::signals::{Channel, SoftmaxTargets, Stimulus, Wave};
use vle::verify::targets::{loss_kind, LossKind};
use vle::{Network, ParamKind};

/// Number of cases per model: `VLE_PROPTEST_CASES` or 12.
fn cases() -> u32 {
    std::env::var("VLE_PROPTEST_CASES")
        .ok()
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or(12)
}

fn config() -> Config {
    Config {
        cases: cases(),
        // `proptest-regressions/properties.txt` at the crate root (the default, SourceParallel,
        // looks for a lib.rs next to the source and does not find one for an integration test).
        failure_persistence: Some(Box::new(FileFailurePersistence::Direct(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/proptest-regressions/properties.txt"
        )))),
        // Each case runs a full check; shrinking a failure should not take hours.
        max_shrink_iters: 256,
        ..Config::default()
    }
}

/// One sampled case (before it is applied to a network).
#[derive(Clone, Debug)]
struct Spec {
    /// Seed of `init_params` (weights).
    seed: u64,
    dt: f64,
    /// Window length in units of time; steps = round(span / dt).
    span: f64,
    beta: f64,
    /// Per parameter entry: added to weights, the value of biases, relative change of
    /// non-time-constant neuron parameters.
    deltas: Vec<f64>,
    /// Per neuron: factor of all its time constants.
    tau_factors: Vec<f64>,
    stimulus: Stimulus,
}

fn wave() -> impl Strategy<Value = Wave> {
    prop_oneof![
        (0.1f64..1.0, 0.05f64..1.5, 0.0f64..std::f64::consts::TAU).prop_map(
            |(amplitude, frequency, phase)| Wave::Sine {
                amplitude,
                frequency,
                phase
            }
        ),
        (-1.0f64..1.0, 0.0f64..1.5, 0.1f64..0.4).prop_map(|(amplitude, at, width)| Wave::Step {
            amplitude,
            at,
            width
        }),
        (0.1f64..1.0, 0.1f64..0.5, any::<u64>()).prop_map(|(amplitude, correlation, seed)| {
            Wave::Noise {
                amplitude,
                correlation,
                seed,
            }
        }),
    ]
}

fn channel() -> impl Strategy<Value = Channel> {
    (-0.5f64..0.5, prop::collection::vec(wave(), 1..=3))
        .prop_map(|(offset, waves)| Channel { offset, waves })
}

fn spec<N: Network>() -> impl Strategy<Value = Spec> {
    (
        0u64..1000,
        0.005f64..0.02,
        0.5f64..1.5,
        0.5f64..2.0,
        prop::collection::vec(-0.3f64..0.3, N::PARAMS),
        prop::collection::vec(0.5f64..2.0, N::NEURONS),
        prop::collection::vec(channel(), N::INPUT),
        prop::collection::vec(channel(), N::OUTPUT),
    )
        .prop_map(
            |(seed, dt, span, beta, deltas, tau_factors, inputs, targets)| Spec {
                seed,
                dt,
                span,
                beta,
                deltas,
                tau_factors,
                stimulus: Stimulus { inputs, targets },
            },
        )
}

/// The parameter vector of a case: `init_params(seed)`, weights + δ, biases = δ, time
/// constants × the neuron's factor, other neuron parameters × (1 + δ).
fn params<N: Network>(s: &Spec) -> Vec<f64> {
    let mut p = init_params::<N, f64>(s.seed);
    let first_neuron = |layer: &str| -> usize {
        N::layer_info()
            .iter()
            .take_while(|l| l.name != layer)
            .map(|l| l.size)
            .sum()
    };
    for info in N::param_info() {
        for (j, i) in info.range().enumerate() {
            match info.kind {
                ParamKind::Weight { .. } => p[i] += s.deltas[i],
                ParamKind::Bias => p[i] = s.deltas[i],
                ParamKind::Neuron if info.time_constant => {
                    p[i] *= s.tau_factors[first_neuron(info.layer) + j]
                }
                ParamKind::Neuron => p[i] *= 1.0 + s.deltas[i],
            }
        }
    }
    p
}

/// Runs every check on the case; a failure carries the full diagnostics.
fn check_case<N: Network>(s: &Spec) -> Result<(), TestCaseError> {
    let p = params::<N>(s);
    let steps = ((s.span / s.dt).round() as usize).max(1);
    let check = vle::verify::check::<N>()
        .seed(s.seed)
        .dt(s.dt)
        .steps(steps)
        .beta(s.beta)
        .max_entries(8)
        .fd_entries(2);
    let result = if loss_kind::<N>() == LossKind::CrossEntropy {
        let probabilities = SoftmaxTargets {
            signal: s.stimulus.clone(),
            gain: 2.0,
        };
        check.try_run_on(&p, &probabilities)
    } else {
        check.try_run_on(&p, &s.stimulus)
    };
    match result {
        Ok(report) => {
            // Sanity of what was checked: continuous networks ran the Dopri5 references.
            let ode = report.cases[0].ode.is_some();
            prop_assert_eq!(ode, N::CONTINUOUS, "{}", report);
            // The local rule stays bounded (its error loops, recurrent ones included, are
            // stable): a diverged local gradient has no finite cosine.
            prop_assert!(
                report.cases.iter().all(|c| c.overall_cosine.is_finite()),
                "{}",
                report
            );
            Ok(())
        }
        Err(f) => Err(TestCaseError::fail(format!(
            "{}: {f}\nparameters: {p:?}",
            N::NAME
        ))),
    }
}

proptest! {
    #![proptest_config(config())]

    #[test]
    fn zoo_single(s in spec::<zoo::ZooSingle>()) {
        check_case::<zoo::ZooSingle>(&s)?;
    }

    #[test]
    fn zoo_lagline(s in spec::<zoo::ZooLagLine>()) {
        check_case::<zoo::ZooLagLine>(&s)?;
    }

    #[test]
    fn zoo_power(s in spec::<zoo::ZooPower>()) {
        check_case::<zoo::ZooPower>(&s)?;
    }

    #[test]
    fn zoo_trig(s in spec::<zoo::ZooTrig>()) {
        check_case::<zoo::ZooTrig>(&s)?;
    }

    #[test]
    fn zoo_adaptive(s in spec::<zoo::ZooAdaptive>()) {
        check_case::<zoo::ZooAdaptive>(&s)?;
    }

    #[test]
    fn zoo_deep(s in spec::<zoo::ZooDeep>()) {
        check_case::<zoo::ZooDeep>(&s)?;
    }

    #[test]
    fn zoo_recurrent(s in spec::<zoo::ZooRecurrent>()) {
        check_case::<zoo::ZooRecurrent>(&s)?;
    }

    #[test]
    fn zoo_rec_adaptive(s in spec::<zoo::ZooRecAdaptive>()) {
        check_case::<zoo::ZooRecAdaptive>(&s)?;
    }
}
