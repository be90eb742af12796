//! Regression tests for the traps of `ode_solvers` 0.6 that `vle_verify::ode` works around.
//!
//! Each test first shows the trap on a small time-dependent ODE with a known solution (so a
//! future `ode_solvers` that fixes it makes the test fail, and the workaround can be revisited),
//! then shows that the wrapper gets the same problem right.
//!
//! Test problems: y' = cos t (y = sin t + const) and y' = t·y (y = y0·exp((t² − t0²)/2)); both
//! right-hand sides depend on t, which is what the traps need.

use std::panic::{catch_unwind, AssertUnwindSafe};

use ode_solvers::dop_shared::System;
use ode_solvers::{DVector, Dop853, Dopri5, OutputType};
use vle_verify::ode::{solve, solve_reversed, uniform_grid, Tolerance};

type V = DVector<f64>;

struct Cosine;
impl System<f64, V> for Cosine {
    fn system(&self, t: f64, _y: &V, dy: &mut V) {
        dy[0] = t.cos();
    }
}

struct Growth;
impl System<f64, V> for Growth {
    fn system(&self, t: f64, y: &V, dy: &mut V) {
        dy[0] = t * y[0];
    }
}

fn cosine(t: f64, _y: &[f64], dy: &mut [f64]) {
    dy[0] = t.cos();
}

fn growth(t: f64, y: &[f64], dy: &mut [f64]) {
    dy[0] = t * y[0];
}

/// Runs `f` with the panic message silenced; true when it panicked.
fn panics(f: impl FnOnce()) -> bool {
    let hook = std::panic::take_hook();
    std::panic::set_hook(Box::new(|_| {}));
    let r = catch_unwind(AssertUnwindSafe(f)).is_err();
    std::panic::set_hook(hook);
    r
}

/// Tolerance of the wrapper's results below: Dopri5 at rtol 1e-12 / atol 1e-14 over a few
/// units of time on these non-stiff problems keeps the global error at a few 1e-12 (measured
/// 3e-13 for y' = cos t over [0, 2]); 1e-10 leaves margin without hiding an O(h) mistake.
const WRAPPER_TOL: f64 = 1e-10;

#[test]
fn trap_backward_integration_is_broken_in_ode_solvers() {
    // The trap: x_end < x0 with (default) dense output.
    // (a) From t = 2 down to t = 0: panics.
    assert!(panics(|| {
        let mut s = Dopri5::new(
            Cosine,
            2.0,
            0.0,
            0.1,
            V::from_vec(vec![2f64.sin()]),
            1e-10,
            1e-12,
        );
        let _ = s.integrate();
    }));
    // (b) From t = 0 down to t = −2: returns, but at wrong abscissae and wrong values (the
    // dense grid walks up from 0 while the solution walks down).
    let mut s = Dopri5::new(Cosine, 0.0, -2.0, 0.1, V::from_vec(vec![0.0]), 1e-10, 1e-12);
    let wrong = match catch_unwind(AssertUnwindSafe(|| s.integrate())) {
        Err(_) => true,
        Ok(_) => {
            let (x, y) = s.results().get();
            x.last() != Some(&-2.0)
                || (y.last().unwrap()[0] - (-2f64).sin()).abs() > 1e-6
                || x.iter().zip(y).any(|(t, v)| (v[0] - t.sin()).abs() > 1e-6)
        }
    };
    assert!(wrong, "ode_solvers now integrates backwards correctly");

    // The wrapper: reversed time, forward integration only.
    let times = uniform_grid(0.0, 2.0, 20);
    let y = solve_reversed(cosine, &[2f64.sin()], &times, Tolerance::TIGHT).unwrap();
    for (t, v) in times.iter().zip(&y) {
        assert!(
            (v - t.sin()).abs() < WRAPPER_TOL,
            "t {t}: {v} vs {}",
            t.sin()
        );
    }
    let times = uniform_grid(-2.0, 0.0, 20);
    let y = solve_reversed(cosine, &[0.0], &times, Tolerance::TIGHT).unwrap();
    for (t, v) in times.iter().zip(&y) {
        assert!(
            (v - t.sin()).abs() < WRAPPER_TOL,
            "t {t}: {v} vs {}",
            t.sin()
        );
    }
    // Growth backwards from t = 2: y = e^{(t²−4)/2}·y(2) with y(2) = 1.
    let times = uniform_grid(0.0, 2.0, 8);
    let y = solve_reversed(growth, &[1.0], &times, Tolerance::TIGHT).unwrap();
    for (t, v) in times.iter().zip(&y) {
        let exact = ((t * t - 4.0) / 2.0).exp();
        assert!((v - exact).abs() < WRAPPER_TOL * exact.max(1.0), "t {t}");
    }
}

#[test]
fn trap_dop853_fails_on_time_dependent_systems() {
    // The trap: Dop853 on y' = cos t and on y' = t·y stops with a spurious stiffness error
    // (or, if it returns, misses the exact solution by far more than its tolerance).
    let mut s = Dop853::new(Cosine, 0.0, 2.0, 0.1, V::from_vec(vec![0.0]), 1e-8, 1e-8);
    s.set_output(OutputType::Sparse);
    let r = s.integrate();
    let bad = r.is_err() || (s.y_out().last().unwrap()[0] - 2f64.sin()).abs() > 1e-6;
    assert!(bad, "ode_solvers' Dop853 now handles y' = cos t");
    let mut s = Dop853::new(Growth, 0.0, 2.0, 0.1, V::from_vec(vec![1.0]), 1e-8, 1e-8);
    s.set_output(OutputType::Sparse);
    let r = s.integrate();
    let bad = r.is_err() || (s.y_out().last().unwrap()[0] - 2f64.exp()).abs() > 1e-6;
    assert!(bad, "ode_solvers' Dop853 now handles y' = t y");

    // The wrapper (Dopri5 only) on the same problems.
    let times = uniform_grid(0.0, 2.0, 10);
    let y = solve(cosine, &[0.0], &times, Tolerance::TIGHT).unwrap();
    for (t, v) in times.iter().zip(&y) {
        assert!((v - t.sin()).abs() < WRAPPER_TOL, "t {t}");
    }
    let y = solve(growth, &[1.0], &times, Tolerance::TIGHT).unwrap();
    for (t, v) in times.iter().zip(&y) {
        let exact = (t * t / 2.0).exp();
        assert!(
            (v - exact).abs() < WRAPPER_TOL * exact,
            "t {t}: {v} vs {exact}"
        );
    }
}

#[test]
fn trap_dense_output_misses_the_end_point() {
    // The trap: dense output on [0, 3] with dx = 0.01 accumulates its abscissae; the last
    // one is 2.99999999999998, not 3, and the grid drifts from k·dx.
    let mut s = Dopri5::new(Cosine, 0.0, 3.0, 0.01, V::from_vec(vec![0.0]), 1e-10, 1e-12);
    s.integrate().unwrap();
    let xs = s.x_out();
    let drift = xs
        .iter()
        .enumerate()
        .map(|(k, &x)| (x - k as f64 * 0.01).abs())
        .fold(0.0, f64::max);
    assert!(
        xs.last() != Some(&3.0) || drift > 0.0,
        "ode_solvers' dense output now ends exactly on x_end"
    );
    // On [0, 1] with dx = 0.3 the end point is simply absent.
    let mut s = Dopri5::new(Cosine, 0.0, 1.0, 0.3, V::from_vec(vec![0.0]), 1e-10, 1e-12);
    s.integrate().unwrap();
    assert_ne!(s.x_out().last(), Some(&1.0));

    // The wrapper: the requested grid, exactly, end point included (one row per time).
    let times = uniform_grid(0.0, 3.0, 300);
    assert_eq!(times[300], 3.0);
    let y = solve(cosine, &[0.0], &times, Tolerance::TIGHT).unwrap();
    assert_eq!(y.len(), 301);
    for (t, v) in times.iter().zip(&y) {
        assert!((v - t.sin()).abs() < WRAPPER_TOL, "t {t}");
    }
    // A non-uniform grid, with a point not reachable by accumulation.
    let times = [0.0, 0.3, 1.0, 1.0 + 1e-3, 2.5];
    let y = solve(growth, &[1.0], &times, Tolerance::TIGHT).unwrap();
    for (t, v) in times.iter().zip(&y) {
        let exact = (t * t / 2.0).exp();
        assert!((v - exact).abs() < WRAPPER_TOL * exact, "t {t}");
    }
}
