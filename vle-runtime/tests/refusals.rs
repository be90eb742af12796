//! Every entry point refuses the same bad arguments in the same words, before it integrates:
//! a step dt that is not finite and > 0 or exceeds a time constant, a non-finite parameter
//! (named as passed in, not as a divergence), non-finite inputs and targets (named with their
//! entry, step and sample, not blamed on dt or the learning rate), an optimizer mask of the
//! wrong length, and wrong lengths and sizes in general. None of them panics.

mod common;

use common::{params, sines, Gle1, TAU_R, W};
use vle_runtime::exact::{batch_gradient, discrete_loss, Window};
use vle_runtime::params::{learnable_mask, validate_params};
use vle_runtime::{
    continuous_adjoint, exact_gradient, Adam, Bptt, Error, ExactConfig, ExactTrainer, FnSignal,
    Network, OnlineConfig, OnlineTrainer, Optimizer, ParallelOnline, Params, Scheme, Sgd,
    Simulator, Tape,
};

/// The entry points that integrate, each called with parameters `p`, step `dt`, and the
/// window `xs`/`ys` (20 steps of one sample, its own grid) or the signal `sig`.
fn every_entry_point(
    p: &[f64],
    dt: f64,
    sig: &dyn vle_runtime::Signal,
) -> Vec<(&'static str, Result<(), Error>)> {
    let grid = Window::sample(sig, 0.0, 0.05, 20);
    let (xs, ys) = (grid.xs.clone(), grid.ys.clone());
    let mut out: Vec<(&'static str, Result<(), Error>)> = Vec::new();
    let mut sim = Simulator::<Gle1, f64>::new(2).unwrap();
    out.push((
        "Simulator::run Euler",
        sim.run(p, Scheme::Euler, &[sig], 0.0, dt, 20),
    ));
    let mut sim = Simulator::<Gle1, f64>::new(2).unwrap();
    out.push((
        "Simulator::run RK4",
        sim.run(p, Scheme::Rk4, &[sig], 0.0, dt, 20),
    ));
    let mut sim = Simulator::<Gle1, f64>::new(1).unwrap();
    out.push((
        "Simulator::step",
        (0..20).try_for_each(|n| sim.step(p, Scheme::Euler, &[sig], n as f64 * dt, dt)),
    ));
    let mut sim = Simulator::<Gle1, f64>::new(1).unwrap();
    out.push((
        "Simulator::step_inputs",
        (0..20).try_for_each(|n| sim.step_inputs(p, &xs[n..n + 1], dt)),
    ));
    let cfg = OnlineConfig {
        dt: 0.05,
        gamma: 0.2,
        ..OnlineConfig::default()
    };
    let mut tr =
        OnlineTrainer::<Gle1, f64, _>::new(cfg.clone(), 2, Sgd::new(0.1, learnable_mask::<Gle1>()))
            .unwrap();
    tr.config.dt = dt;
    let mut q = p.to_vec();
    out.push((
        "OnlineTrainer::run",
        tr.run(&mut q, &[sig], 0.0, 20, None).map(drop),
    ));
    let mut tr =
        OnlineTrainer::<Gle1, f64, _>::new(cfg, 4, Sgd::new(0.1, learnable_mask::<Gle1>()))
            .unwrap()
            .parallel(2);
    tr.config.dt = dt;
    let mut q = p.to_vec();
    out.push((
        "OnlineTrainer::run parallel",
        tr.run(&mut q, &[sig], 0.0, 20, None).map(drop),
    ));
    let cfg = ExactConfig {
        dt: 0.05,
        window: 10,
        ..ExactConfig::default()
    };
    let mut tr =
        ExactTrainer::<Gle1, f64, _>::new(cfg, 2, Adam::new(0.01, learnable_mask::<Gle1>()))
            .unwrap();
    tr.config.dt = dt;
    let mut q = p.to_vec();
    out.push((
        "ExactTrainer::run",
        tr.run(&mut q, &[sig], 0.0, 2, None).map(drop),
    ));
    out.push((
        "exact_gradient",
        exact_gradient::<Gle1, f64>(p, &xs, &ys, dt, 1.0, Tape::Checkpoint(0)).map(drop),
    ));
    let mut grad = vec![0.0; Gle1::PARAMS];
    let mut state = vec![0.0; Gle1::STATE];
    out.push((
        "Bptt::gradient",
        Bptt::<Gle1, f64>::new()
            .gradient(p, &mut state, &xs, &ys, dt, 1.0, Tape::Full, &mut grad)
            .map(drop),
    ));
    let (xb, yb) = (
        [xs.clone(), xs.clone()].concat(),
        [ys.clone(), ys.clone()].concat(),
    );
    let mut states = vec![0.0; 2 * Gle1::STATE];
    out.push((
        "batch_gradient",
        batch_gradient(
            &mut Bptt::<Gle1, f64>::new(),
            p,
            &mut states,
            &xb,
            &yb,
            dt,
            1.0,
            Tape::Full,
            &mut grad,
        )
        .map(drop),
    ));
    let mut state = vec![0.0; Gle1::STATE];
    out.push((
        "discrete_loss",
        discrete_loss::<Gle1, f64>(p, &mut state, &xs, &ys, dt, 1.0).map(drop),
    ));
    out.push((
        "continuous_adjoint",
        continuous_adjoint::<Gle1, f64, _>(p, sig, None, 0.0, dt, 20, 1.0).map(drop),
    ));
    let mut par = ParallelOnline::<f64>::new::<Gle1>(2, 2);
    let (mut st, mut loc) = (vec![0.0; 2 * Gle1::STATE], vec![0.0; 2 * Gle1::LOCAL]);
    out.push((
        "ParallelOnline::step",
        (0..20).try_for_each(|n| {
            let (x, y) = ([xs[n], xs[n]], [ys[n], ys[n]]);
            par.step::<Gle1>(p, &mut st, &mut loc, &x, &y, 1.0, 0.2, dt, &mut grad)
        }),
    ));
    out.push((
        "Params::new",
        Params::<Gle1, f64>::new(p.to_vec(), dt).map(drop),
    ));
    out
}

#[test]
fn every_entry_point_refuses_a_bad_step_the_same_way() {
    let p = params();
    // τr = 0.3 is the smallest time constant.
    for dt in [
        0.5,
        0.30001,
        0.0,
        -0.05,
        -0.5,
        f64::NAN,
        f64::INFINITY,
        f64::NEG_INFINITY,
    ] {
        let expected = validate_params::<Gle1, f64>(&p, dt).unwrap_err();
        match &expected {
            Error::TimeConstantBelowDt { param, .. } => assert_eq!(param, "out.tau_r"),
            Error::InvalidHyperParameter { name, .. } => assert_eq!(name, "dt"),
            e => panic!("dt = {dt}: {e}"),
        }
        for (name, r) in every_entry_point(&p, dt, &sines()) {
            // (Compared as text: the error holds dt, and NaN != NaN.)
            let got = r.map_err(|e| e.to_string());
            assert_eq!(got, Err(expected.to_string()), "{name} with dt = {dt}");
        }
    }
    // dt = τ is the edge of explicit Euler's stability and is accepted everywhere.
    for (name, r) in every_entry_point(&p, 0.3, &sines()) {
        assert!(r.is_ok(), "{name} with dt = τr: {r:?}");
    }
    // The configs refuse a bad step at construction.
    let opt = || Sgd::new(0.1, learnable_mask::<Gle1>());
    for dt in [0.0, -1.0, f64::NAN] {
        let e = OnlineTrainer::<Gle1, f64, _>::new(
            OnlineConfig {
                dt,
                ..OnlineConfig::default()
            },
            1,
            opt(),
        )
        .err()
        .unwrap();
        assert!(
            matches!(e, Error::InvalidHyperParameter { ref name, .. } if name == "dt"),
            "{e}"
        );
        let e = ExactTrainer::<Gle1, f64, _>::new(
            ExactConfig {
                dt,
                ..ExactConfig::default()
            },
            1,
            opt(),
        )
        .err()
        .unwrap();
        assert!(
            matches!(e, Error::InvalidHyperParameter { ref name, .. } if name == "dt"),
            "{e}"
        );
    }
    // A step that is positive in f64 but zero in f32 would freeze every Euler update.
    let p32: Vec<f32> = p.iter().map(|&v| v as f32).collect();
    let mut sim = Simulator::<Gle1, f32>::new(1).unwrap();
    let e = sim
        .run(&p32, Scheme::Euler, &[sines()], 0.0, 1e-50, 1)
        .unwrap_err();
    assert!(e.to_string().contains("scalar type"), "{e}");
}

#[test]
fn a_non_finite_parameter_is_named_as_passed_in() {
    for bad in [f64::NAN, f64::INFINITY] {
        let mut p = params();
        p[W] = bad;
        for (name, r) in every_entry_point(&p, 0.05, &sines()) {
            let e = r.unwrap_err();
            match &e {
                Error::NonFinite { quantity, at, .. } => {
                    assert_eq!(
                        (*quantity, at.name.as_str(), at.step),
                        ("parameter", "out.W<-x[0]", None),
                        "{name}"
                    )
                }
                e => panic!("{name}: {e}"),
            }
            let text = e.to_string();
            assert!(
                text.contains("passed in") && !text.contains("learning rate"),
                "{name}: {text}"
            );
        }
    }
    // A NaN time constant is named too, before dt is compared with it.
    let mut p = params();
    p[TAU_R] = f64::NAN;
    let e = validate_params::<Gle1, f64>(&p, 0.05).unwrap_err();
    assert!(e.to_string().contains("out.tau_r[0]"), "{e}");
}

/// x(t) = 1 and y(t) = 0, except that `which` ("input" or "target") is NaN from t = 0.4 on.
fn nan_from(which: &'static str) -> impl vle_runtime::Signal {
    let nan = |t: f64, v: f64| if t > 0.39 { f64::NAN } else { v };
    FnSignal::new(
        1,
        1,
        move |t, x: &mut [f64]| x[0] = if which == "input" { nan(t, 1.0) } else { 1.0 },
        move |t, y: &mut [f64]| y[0] = if which == "target" { nan(t, 0.0) } else { 0.0 },
    )
}

#[test]
fn non_finite_inputs_and_targets_are_named_before_dt_or_the_learning_rate_is_blamed() {
    let p = params();
    for which in ["input", "target"] {
        let sig = nan_from(which);
        let symbol = if which == "input" { "x[0]" } else { "y[0]" };
        for (name, r) in every_entry_point(&p, 0.05, &sig) {
            // Entry points that never read the targets (simulation, Params) ignore them.
            let reads_targets = !name.starts_with("Simulator") && name != "Params::new";
            if which == "target" && !reads_targets || name == "Params::new" {
                assert!(r.is_ok(), "{name}: {r:?}");
                continue;
            }
            let e = r.unwrap_err();
            match &e {
                Error::NonFinite { quantity, at, .. } => {
                    assert_eq!(
                        (*quantity, at.name.as_str()),
                        (which, symbol),
                        "{name}: {e}"
                    );
                }
                e => panic!("{name}: {e}"),
            }
            let text = e.to_string();
            assert!(
                !text.contains("reduce dt")
                    && !text.contains("learning rate")
                    && text.contains(which),
                "{name}: {text}"
            );
        }
    }
    // The step and the sample are named: the second of two signals turns NaN at step 8
    // (t = 0.4 with dt = 0.05).
    let good = nan_from("none");
    let bad = nan_from("input");
    let mut sim = Simulator::<Gle1, f64>::new(2).unwrap();
    let signals: [&dyn vle_runtime::Signal; 2] = [&good, &bad];
    let e = sim
        .run(&p, Scheme::Euler, &signals, 0.0, 0.05, 20)
        .unwrap_err();
    assert!(
        e.to_string().contains("`x[0]` at step 8 of sample 1"),
        "{e}"
    );
    // In a batch of windows, sample 1's target y at step 5.
    let w = Window::sample(&nan_from("none"), 0.0, 0.05, 10);
    let (xs, mut ys) = (
        [w.xs.clone(), w.xs.clone()].concat(),
        [w.ys.clone(), w.ys.clone()].concat(),
    );
    ys[10 + 5] = f64::NAN;
    let mut states = vec![0.0; 2 * Gle1::STATE];
    let mut grad = vec![0.0; Gle1::PARAMS];
    let e = batch_gradient(
        &mut Bptt::<Gle1, f64>::new(),
        &p,
        &mut states,
        &xs,
        &ys,
        0.05,
        1.0,
        Tape::Full,
        &mut grad,
    )
    .unwrap_err();
    assert!(
        e.to_string().contains("`y[0]` at step 5 of sample 1"),
        "{e}"
    );
}

#[test]
fn a_non_finite_state_passed_in_is_named_as_such() {
    let p = params();
    let mut sim = Simulator::<Gle1, f64>::new(2).unwrap();
    sim.states_mut()[3] = f64::NAN;
    let e = sim
        .run(&p, Scheme::Euler, &[sines()], 0.0, 0.05, 5)
        .unwrap_err();
    match &e {
        Error::NonFinite {
            quantity: "state",
            at,
            ..
        } => {
            assert_eq!(
                (at.name.as_str(), at.step, at.sample),
                ("out.prospective[0]", None, Some(1))
            )
        }
        e => panic!("{e}"),
    }
    assert!(e.to_string().contains("state passed in"), "{e}");
    assert_eq!(sim.steps(), 0, "nothing was stepped");
    let w = Window::sample(&sines(), 0.0, 0.05, 10);
    let mut state = vec![f64::INFINITY, 0.0];
    let mut grad = vec![0.0; Gle1::PARAMS];
    let e = Bptt::<Gle1, f64>::new()
        .gradient(
            &p,
            &mut state,
            &w.xs,
            &w.ys,
            0.05,
            1.0,
            Tape::Full,
            &mut grad,
        )
        .unwrap_err();
    assert!(
        e.to_string().contains("`out.u[0]`") && e.to_string().contains("passed in"),
        "{e}"
    );
    let e = continuous_adjoint::<Gle1, f64, _>(&p, &sines(), Some(&[f64::NAN]), 0.0, 0.05, 10, 1.0)
        .unwrap_err();
    assert!(e.to_string().contains("passed in"), "{e}");
    // A restored snapshot with a NaN state: refused when the run starts.
    let mut tr = OnlineTrainer::<Gle1, f64, _>::new(
        OnlineConfig::default(),
        1,
        Sgd::new(0.1, learnable_mask::<Gle1>()),
    )
    .unwrap();
    let mut snap = tr.snapshot();
    snap.local[1] = f64::NAN;
    tr.restore(snap).unwrap();
    let mut q = p.clone();
    let e = tr.run(&mut q, &[sines()], 0.0, 5, None).unwrap_err();
    assert!(
        e.to_string().contains("`local[1]`") && e.to_string().contains("passed in"),
        "{e}"
    );
}

#[test]
fn an_optimizer_mask_of_the_wrong_length_is_refused_at_construction() {
    for len in [0, Gle1::PARAMS - 1, Gle1::PARAMS + 1] {
        let expect = |e: Error| {
            assert!(
                matches!(e, Error::Length { expected, got, .. }
                    if expected == Gle1::PARAMS && got == len),
                "{e}"
            );
            assert!(e.to_string().contains("mask"), "{e}");
        };
        let mask = vec![true; len];
        expect(
            OnlineTrainer::<Gle1, f64, _>::new(
                OnlineConfig::default(),
                1,
                Sgd::new(0.1, mask.clone()),
            )
            .err()
            .unwrap(),
        );
        expect(
            OnlineTrainer::<Gle1, f64, _>::new(
                OnlineConfig::default(),
                1,
                Adam::new(0.1, mask.clone()),
            )
            .err()
            .unwrap(),
        );
        expect(
            ExactTrainer::<Gle1, f64, _>::new(
                ExactConfig::default(),
                1,
                Sgd::new(0.1, mask.clone()),
            )
            .err()
            .unwrap(),
        );
        expect(
            ExactTrainer::<Gle1, f64, _>::new(
                ExactConfig::default(),
                1,
                Adam::new(0.1, mask.clone()),
            )
            .err()
            .unwrap(),
        );
        // Changed after construction (the optimizer is a public field): refused by `run`
        // before any step.
        let mut tr = OnlineTrainer::<Gle1, f64, _>::new(
            OnlineConfig::default(),
            1,
            Sgd::new(0.1, learnable_mask::<Gle1>()),
        )
        .unwrap();
        tr.optimizer.mask = mask.clone();
        let mut p = params();
        expect(tr.run(&mut p, &[sines()], 0.0, 3, None).unwrap_err());
        assert_eq!((tr.steps(), p), (0, params()));
        let mut tr = ExactTrainer::<Gle1, f64, _>::new(
            ExactConfig::default(),
            1,
            Adam::new(0.1, learnable_mask::<Gle1>()),
        )
        .unwrap();
        tr.optimizer.mask = mask.clone();
        expect(tr.run(&mut params(), &[sines()], 0.0, 1, None).unwrap_err());
        // Used directly.
        let mut p = params();
        expect(Optimizer::<f64>::step(&mut Sgd::new(0.1, mask), &mut p, &[0.0; 4]).unwrap_err());
    }
    let bad = Adam::<f64>::with(0.1, 1.0, 0.999, 1e-8, learnable_mask::<Gle1>());
    let e = OnlineTrainer::<Gle1, f64, _>::new(OnlineConfig::default(), 1, bad)
        .err()
        .unwrap();
    assert!(e.to_string().contains("beta1"), "{e}");
}

#[test]
fn wrong_sizes_are_errors_not_panics() {
    let e = Simulator::<Gle1, f64>::new(0).err().unwrap();
    assert!(matches!(e, Error::EmptyData { .. }), "{e}");
    let sim = Simulator::<Gle1, f64>::new(2).unwrap();
    let e = sim.outputs(&params(), &mut [0.0; 1]).unwrap_err();
    assert!(
        matches!(
            e,
            Error::Length {
                expected: 2,
                got: 1,
                ..
            }
        ),
        "{e}"
    );
    let mut r = [0.0; 2];
    sim.outputs(&params(), &mut r).unwrap();
    assert_eq!(r, [0.0; 2]);
    // ParallelOnline with slices that do not hold its batch.
    let p = params();
    let mut par = ParallelOnline::<f64>::new::<Gle1>(3, 2);
    let mut grad = vec![0.0; 4];
    let (mut st, mut loc) = (vec![0.0; 2 * Gle1::STATE], vec![0.0; 3 * Gle1::LOCAL]);
    let e = par
        .step::<Gle1>(
            &p, &mut st, &mut loc, &[0.0; 3], &[0.0; 3], 1.0, 0.0, 0.05, &mut grad,
        )
        .unwrap_err();
    assert!(
        matches!(
            e,
            Error::Length {
                expected: 6,
                got: 4,
                ..
            }
        ),
        "{e}"
    );
    let mut st = vec![0.0; 3 * Gle1::STATE];
    let e = par
        .step::<Gle1>(
            &p, &mut st, &mut loc, &[0.0; 3], &[0.0; 2], 1.0, 0.0, 0.05, &mut grad,
        )
        .unwrap_err();
    assert!(e.to_string().contains("targets"), "{e}");
    let e = par
        .step::<Gle1>(
            &p,
            &mut st,
            &mut loc,
            &[0.0; 3],
            &[0.0; 3],
            f64::NAN,
            0.0,
            0.05,
            &mut grad,
        )
        .unwrap_err();
    assert!(e.to_string().contains("beta"), "{e}");
    par.step::<Gle1>(
        &p, &mut st, &mut loc, &[0.0; 3], &[0.0; 3], 1.0, 0.0, 0.05, &mut grad,
    )
    .unwrap();
    // Windows whose inputs and targets disagree on the number of steps.
    let e =
        exact_gradient::<Gle1, f64>(&p, &[0.0; 5], &[0.0; 4], 0.05, 1.0, Tape::Full).unwrap_err();
    assert!(matches!(e, Error::Length { .. }), "{e}");
    let mut state = vec![0.0; 3];
    let e =
        discrete_loss::<Gle1, f64>(&p, &mut state, &[0.0; 5], &[0.0; 5], 0.05, 1.0).unwrap_err();
    assert!(e.to_string().contains("the state"), "{e}");
    let e = exact_gradient::<Gle1, f64>(&p, &[0.0; 5], &[0.0; 5], 0.05, f64::NAN, Tape::Full)
        .unwrap_err();
    assert!(e.to_string().contains("beta"), "{e}");
    let e = continuous_adjoint::<Gle1, f64, _>(&p, &sines(), None, f64::NAN, 0.05, 10, 1.0)
        .unwrap_err();
    assert!(e.to_string().contains("t0"), "{e}");
}

#[test]
fn default_configs_are_valid_and_train() {
    let online = OnlineConfig::default();
    let exact = ExactConfig::default();
    online.validate().unwrap();
    exact.validate().unwrap();
    assert_eq!(
        (online.dt, online.update_every, online.gamma),
        (0.01, 1, 0.0)
    );
    assert_eq!(
        (exact.dt, exact.window, exact.tape, exact.carry_state),
        (0.01, 100, Tape::Full, true)
    );
    let mut p = params();
    let mut tr =
        OnlineTrainer::<Gle1, f64, _>::new(online, 1, Adam::new(0.01, learnable_mask::<Gle1>()))
            .unwrap();
    let h = tr.run(&mut p, &[sines()], 0.0, 50, None).unwrap();
    assert_eq!(h.len(), 50);
    let mut tr =
        ExactTrainer::<Gle1, f64, _>::new(exact, 1, Adam::new(0.01, learnable_mask::<Gle1>()))
            .unwrap();
    let h = tr.run(&mut p, &[sines()], 0.5, 2, None).unwrap();
    assert_eq!(h.len(), 2);
}
