//! Forward simulation: Euler equals the kernel loop, RK4 converges at 4th order, non-finite
//! inputs and states are reported by name, step and sample.

#![allow(clippy::needless_range_loop)]

mod common;

use common::{params, sines, Gle1};
use vle_runtime::{Error, FnSignal, Network, Record, Scheme, Signal, Simulator};

#[test]
fn euler_scheme_is_the_kernel_loop_and_records_outputs() {
    let p = params();
    let dt = 0.05;
    let mut sim = Simulator::<Gle1, f64>::new(2)
        .unwrap()
        .with_record(Record::Outputs);
    sim.run(&p, Scheme::Euler, &[sines()], 0.0, dt, 50)
        .unwrap_or_else(|e| panic!("{e}"));
    let mut s = [0.0; 2];
    let (mut x, mut y) = ([0.0], [0.0]);
    let mut outs = Vec::new();
    for n in 0..50 {
        sines().at(n as f64 * dt, &mut x, &mut y);
        Gle1::euler_step(&p, &mut s, &x, dt);
        outs.push(s[1].tanh());
    }
    assert_eq!(sim.state(0), &s);
    assert_eq!(sim.state(1), &s);
    assert_eq!(sim.steps(), 50);
    let traj = sim.trajectory();
    assert_eq!(traj.len(), 50 * 2);
    for n in 0..50 {
        assert_eq!(traj[2 * n], outs[n]);
        assert_eq!(traj[2 * n + 1], outs[n]);
    }
    // Pre-sampled inputs give the same step.
    let mut sim2 = Simulator::<Gle1, f64>::new(1).unwrap();
    sines().at(0.0, &mut x, &mut y);
    sim2.step_inputs(&p, &x, dt).unwrap();
    let mut s = [0.0; 2];
    Gle1::euler_step(&p, &mut s, &x, dt);
    assert_eq!(sim2.state(0), &s);
}

fn rk4_state_at(t_end: f64, dt: f64) -> Vec<f64> {
    let steps = (t_end / dt).round() as usize;
    let mut sim = Simulator::<Gle1, f64>::new(1).unwrap();
    sim.run(&params(), Scheme::Rk4, &[sines()], 0.0, dt, steps)
        .unwrap();
    sim.state(0).to_vec()
}

#[test]
fn rk4_converges_at_fourth_order() {
    let t_end = 4.0;
    let reference = rk4_state_at(t_end, 0.2 / 128.0);
    let errors: Vec<f64> = [0.2, 0.1, 0.05]
        .iter()
        .map(|&dt| {
            let s = rk4_state_at(t_end, dt);
            (s[0] - reference[0]).abs().max((s[1] - reference[1]).abs())
        })
        .collect();
    let ratios: Vec<f64> = errors.windows(2).map(|w| w[0] / w[1]).collect();
    println!("rk4: errors {errors:?}, ratios {ratios:?}");
    // 4th order: halving dt divides the error by 16 (the next term moves it by ~10 %).
    for r in ratios {
        assert!((14.0..18.0).contains(&r), "ratio {r}, errors {errors:?}");
    }
}

#[test]
fn non_finite_input_is_reported_with_entry_step_and_sample() {
    let p = params();
    let good = FnSignal::new(
        1,
        1,
        |_t, x: &mut [f64]| x[0] = 1.0,
        |_t, y: &mut [f64]| y[0] = 0.0,
    );
    let bad = FnSignal::new(
        1,
        1,
        |t, x: &mut [f64]| x[0] = if t > 0.27 { f64::NAN } else { 1.0 },
        |_t, y: &mut [f64]| y[0] = 0.0,
    );
    for scheme in [Scheme::Euler, Scheme::Rk4] {
        let mut sim = Simulator::<Gle1, f64>::new(2).unwrap();
        let signals: [&dyn Signal; 2] = [&good, &bad];
        let err = sim.run(&p, scheme, &signals, 0.0, 0.1, 10).unwrap_err();
        // Euler reads x(0.3) at step 3; RK4 reads x(0.3) as the end of step 2. The input is
        // named before it reaches the state (which would blame dt).
        let step = if scheme == Scheme::Euler { 3 } else { 2 };
        match &err {
            Error::NonFinite { quantity, at, .. } => {
                assert_eq!(*quantity, "input");
                assert_eq!(at.name, "x[0]");
                assert_eq!(at.step, Some(step));
                assert_eq!(at.sample, Some(1));
            }
            e => panic!("unexpected error {e}"),
        }
        let text = err.to_string();
        assert!(
            text.contains("x[0]") && !text.contains("reduce dt"),
            "{text}"
        );
        // Nothing was stepped at the failing step: sample 0 is where it was after step n-1.
        assert_eq!(sim.steps(), step);
    }
}

#[test]
fn non_finite_state_is_reported_with_layer_step_and_sample() {
    // A huge drive overflows u (finite parameters and inputs, so the dynamics are to blame).
    let mut p = params();
    p[common::W] = 1e300;
    let big = FnSignal::new(
        1,
        1,
        |_t, x: &mut [f64]| x[0] = 1e300,
        |_t, y: &mut [f64]| y[0] = 0.0,
    );
    let mut sim = Simulator::<Gle1, f64>::new(1).unwrap();
    let err = sim
        .run(&p, Scheme::Euler, &[&big], 0.0, 0.1, 10)
        .unwrap_err();
    match &err {
        Error::NonFinite { quantity, at, .. } => {
            assert_eq!((*quantity, at.name.as_str()), ("state", "out.u[0]"));
            assert_eq!((at.step, at.sample), (Some(0), Some(0)));
        }
        e => panic!("unexpected error {e}"),
    }
    assert!(err.to_string().contains("reduce dt"), "{err}");
}

#[test]
fn wrong_lengths_are_errors() {
    let mut sim = Simulator::<Gle1, f64>::new(2).unwrap();
    let e = sim.step_inputs(&params(), &[1.0], 0.1).unwrap_err();
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
    let e = sim.step_inputs(&[1.0], &[1.0, 1.0], 0.1).unwrap_err();
    assert!(
        matches!(
            e,
            Error::Length {
                expected: 4,
                got: 1,
                ..
            }
        ),
        "{e}"
    );
    let three = [sines(), sines(), sines()];
    let e = sim
        .run(&params(), Scheme::Euler, &three, 0.0, 0.1, 1)
        .unwrap_err();
    assert!(
        matches!(
            e,
            Error::Length {
                expected: 2,
                got: 3,
                ..
            }
        ),
        "{e}"
    );
}

#[test]
fn f32_runs_the_same_kernels() {
    let p64 = params();
    let p32: Vec<f32> = p64.iter().map(|&v| v as f32).collect();
    let mut a = Simulator::<Gle1, f64>::new(1).unwrap();
    let mut b = Simulator::<Gle1, f32>::new(1).unwrap();
    for scheme in [Scheme::Euler, Scheme::Rk4] {
        a.run(&p64, scheme, &[sines()], 0.0, 0.05, 200).unwrap();
        b.run(&p32, scheme, &[sines()], 0.0, 0.05, 200).unwrap();
        // Single precision: ~1e-7 per step, a few hundred steps.
        for (x, y) in a.states().iter().zip(b.states()) {
            assert!((x - f64::from(*y)).abs() < 1e-5, "{x} {y}");
        }
    }
}
