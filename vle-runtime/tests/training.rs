//! Training loops: both trainers learn a small task, report progress, stop with named errors.

#![allow(clippy::needless_range_loop)]

mod common;

use common::{params, sines, Gle1, Gle1FixedTau, TAU_M, TAU_R};
use vle_runtime::exact::Tape;
use vle_runtime::params::learnable_mask;
use vle_runtime::{
    Adam, Error, ExactConfig, ExactTrainer, FnSignal, OnlineConfig, OnlineTrainer, Progress,
    Record, Scheme, Sgd, Signal, Simulator, SumOfSines,
};

const DT: f64 = 0.05;

/// Teacher–student: input `sines()`, target the output of a teacher `Gle1` simulated with the
/// same Euler steps, so y(t_n) pairs with the student's state_n and zero loss is reachable.
struct Teacher {
    input: SumOfSines,
    outputs: Vec<f64>,
}

impl Teacher {
    fn new(steps: usize) -> Self {
        let teacher = [1.2, -0.2, 0.7, 0.2];
        let mut sim = Simulator::<Gle1, f64>::new(1)
            .unwrap()
            .with_record(Record::Outputs);
        sim.run(&teacher, Scheme::Euler, &[sines()], 0.0, DT, steps)
            .unwrap();
        // outputs[n] = r(state_n), state_0 = 0.
        let outputs = std::iter::once(0.0)
            .chain(sim.trajectory().iter().copied())
            .collect();
        Teacher {
            input: sines(),
            outputs,
        }
    }
}

impl Signal for Teacher {
    fn input_dim(&self) -> usize {
        1
    }
    fn target_dim(&self) -> usize {
        1
    }
    fn at(&self, t: f64, x: &mut [f64], y: &mut [f64]) {
        self.input.at(t, x, &mut [0.0]);
        y[0] = self.outputs[((t / DT).round() as usize).min(self.outputs.len() - 1)];
    }
}

fn exact_config() -> ExactConfig {
    ExactConfig {
        dt: DT,
        beta: 1.0,
        window: 100,
        tape: Tape::Checkpoint(0),
        carry_state: true,
        tau_max: 10.0,
    }
}

fn online_config() -> OnlineConfig {
    OnlineConfig {
        dt: DT,
        beta: 1.0,
        gamma: 0.0,
        update_every: 10,
        tau_max: 10.0,
    }
}

#[test]
fn exact_trainer_with_adam_reduces_the_loss() {
    let mut p = params();
    let opt = Adam::new(0.02, learnable_mask::<Gle1>());
    let mut tr = ExactTrainer::<Gle1, f64, _>::new(exact_config(), 1, opt).unwrap();
    let mut calls = Vec::new();
    let mut cb = |pr: &Progress| calls.push(pr.clone());
    let h = tr
        .run(&mut p, &[Teacher::new(15_000)], 0.0, 150, Some(&mut cb))
        .unwrap();
    assert_eq!(h.len(), 150);
    assert_eq!(h.step[149], 150 * 100);
    assert_eq!(calls.len(), 150);
    assert_eq!(calls[149].step, calls[149].total_steps);
    let (first, last) = (h.loss[1], h.tail_mean(10));
    println!("exact trainer: mean loss {first:.4} -> {last:.6}, params {p:?}");
    assert!(last < 1e-3 * first, "{first} -> {last}");
    assert!(p[TAU_M] >= 0.05 && p[TAU_R] >= 0.05);
}

#[test]
fn exact_trainer_leaves_fixed_parameters_alone() {
    let mut p = params();
    let opt = Sgd::new(0.5, learnable_mask::<Gle1FixedTau>());
    let mut tr = ExactTrainer::<Gle1FixedTau, f64, _>::new(exact_config(), 2, opt).unwrap();
    tr.run(&mut p, &[sines()], 0.0, 20, None).unwrap();
    assert_eq!(&p[2..], &params()[2..]);
    assert_ne!(&p[..2], &params()[..2]);
}

#[test]
fn online_trainer_reduces_the_loss_and_chains_runs() {
    // The same stream with and without learning; compare the last 10 000 steps.
    let teacher = Teacher::new(30_000);
    let tail = |lr: f64, p: &mut Vec<f64>| {
        let opt = Sgd::new(lr, learnable_mask::<Gle1>());
        let mut tr = OnlineTrainer::<Gle1, f64, _>::new(online_config(), 1, opt).unwrap();
        let h = tr.run(p, &[&teacher], 0.0, 30_000, None).unwrap();
        assert_eq!(h.len(), 3000);
        h.tail_mean(1000)
    };
    let frozen = tail(0.0, &mut params());
    let mut p = params();
    let learned = tail(0.2, &mut p);
    println!("online trainer: mean loss {frozen:.5} (frozen) -> {learned:.7}, params {p:?}");
    assert!(learned < 0.02 * frozen, "{frozen} -> {learned}");

    // Two runs of 55 steps = one run of 110 (accumulator and state persist; 11 updates).
    let run = |chunks: &[usize]| {
        let mut p = params();
        let opt = Adam::new(0.01, learnable_mask::<Gle1>());
        let mut tr = OnlineTrainer::<Gle1, f64, _>::new(online_config(), 1, opt).unwrap();
        let mut t = 0.0;
        let mut n = 0;
        for &c in chunks {
            n += tr.run(&mut p, &[sines()], t, c, None).unwrap().len();
            t += c as f64 * 0.05;
        }
        (p, n)
    };
    let (a, na) = run(&[110]);
    let (b, nb) = run(&[55, 55]);
    assert_eq!((na, nb), (11, 11));
    assert_eq!(a, b);
}

#[test]
fn trainers_name_non_finite_values() {
    // A NaN target from step 7 on: named as the target it is, before online learning would
    // feed it into the state (γ·e, 0·NaN = NaN) and blame dt.
    let nan_target = FnSignal::new(
        1,
        1,
        |_t, x: &mut [f64]| x[0] = 1.0,
        |t, y: &mut [f64]| y[0] = if t > 0.33 { f64::NAN } else { 0.0 },
    );
    let mut p = params();
    let opt = Sgd::new(0.1, learnable_mask::<Gle1>());
    let mut tr = OnlineTrainer::<Gle1, f64, _>::new(online_config(), 1, opt).unwrap();
    let e = tr.run(&mut p, &[&nan_target], 0.0, 100, None).unwrap_err();
    match &e {
        Error::NonFinite {
            quantity: "target",
            at,
            ..
        } => {
            assert_eq!(
                (at.name.as_str(), at.step, at.sample),
                ("y[0]", Some(7), Some(0))
            );
        }
        e => panic!("{e}"),
    }
    assert!(!e.to_string().contains("reduce dt"), "{e}");
    assert_eq!(tr.steps(), 7, "the steps before it are kept");

    // In exact training the targets would only enter the gradient: named before it too
    // (ys[n] is the target of the state after step n, y(t_{n+1}): y(0.35) at step 6).
    let mut p = params();
    let opt = Sgd::new(0.1, learnable_mask::<Gle1>());
    let mut tr = ExactTrainer::<Gle1, f64, _>::new(exact_config(), 1, opt).unwrap();
    let e = tr.run(&mut p, &[&nan_target], 0.0, 1, None).unwrap_err();
    match &e {
        Error::NonFinite {
            quantity: "target",
            at,
            ..
        } => {
            assert_eq!(
                (at.name.as_str(), at.step, at.sample),
                ("y[0]", Some(6), Some(0))
            );
        }
        e => panic!("{e}"),
    }
    assert!(!e.to_string().contains("learning rate"), "{e}");

    // An infinite learning rate blows up the parameters.
    let mut p = params();
    let opt = Sgd::new(f64::INFINITY, learnable_mask::<Gle1>());
    let mut tr = ExactTrainer::<Gle1, f64, _>::new(exact_config(), 1, opt).unwrap();
    let e = tr.run(&mut p, &[sines()], 0.0, 1, None).unwrap_err();
    match &e {
        Error::NonFinite {
            quantity: "parameter",
            at,
            ..
        } => {
            assert_eq!(at.name, "out.W<-x[0]");
        }
        e => panic!("{e}"),
    }
    assert!(e.to_string().contains("learning rate"));
}

#[test]
fn invalid_settings_are_rejected() {
    let opt = || Sgd::new(0.1, learnable_mask::<Gle1>());
    let mut c = online_config();
    c.update_every = 0;
    let e = OnlineTrainer::<Gle1, f64, _>::new(c, 1, opt())
        .err()
        .unwrap();
    assert!(matches!(e, Error::InvalidHyperParameter { ref name, .. } if name == "update_every"));
    let mut c = exact_config();
    c.beta = -1.0;
    assert!(ExactTrainer::<Gle1, f64, _>::new(c, 1, opt()).is_err());
    let e = ExactTrainer::<Gle1, f64, _>::new(exact_config(), 0, opt())
        .err()
        .unwrap();
    assert!(matches!(e, Error::EmptyData { .. }));
    // Time constants below dt are refused before training starts.
    let mut p = params();
    p[TAU_R] = 0.01;
    let mut tr = OnlineTrainer::<Gle1, f64, _>::new(online_config(), 1, opt()).unwrap();
    let e = tr.run(&mut p, &[sines()], 0.0, 10, None).unwrap_err();
    assert!(matches!(e, Error::TimeConstantBelowDt { .. }), "{e}");
}
