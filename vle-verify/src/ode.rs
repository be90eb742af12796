//! The one place where `ode_solvers` (Dormand–Prince 5(4), adaptive) is called.
//!
//! Everything else in this crate integrates ODEs through [`solve`] (forward in time) and
//! [`solve_reversed`] (backward in time, by the substitution s = t_end − t), on plain
//! `&[f64]` slices: `nalgebra` stays behind this module and out of the public API.
//!
//! # The traps of `ode_solvers` 0.6 this wrapper avoids
//!
//! Each has a regression test in `tests/ode_traps.rs` that shows the trap on a small
//! time-dependent ODE with a known solution and shows that this wrapper is right.
//!
//! 1. **Backward integration** (`x_end < x0`) is broken: with dense output it panics (an
//!    `unwrap` on an empty result list) or returns points at the wrong abscissae (the dense
//!    grid walks upwards and compares absolute values). [`solve`] only ever integrates with
//!    `x_end > x0`; [`solve_reversed`] integrates dy/ds = −f(t_end − s, y) forward in s.
//! 2. **`Dop853`** evaluates time-dependent right-hand sides at wrong nodes: on y' = cos t it
//!    reports spurious stiffness and stops early. Only `Dopri5` is used.
//! 3. **Dense output** accumulates its abscissae (`x += dx`), so the sampled times drift from
//!    the requested grid and the end point can be missing. Only *sparse* output is used, and
//!    one integration is run per grid interval `[t_k, t_{k+1}]`: the solver's last step is cut
//!    to land on `t_{k+1}`, whose state is taken. Restarting costs one initial-step estimate
//!    (two right-hand side evaluations) per interval and makes every grid value the solver's
//!    own accepted step, never an interpolant.

use std::cell::RefCell;
use std::fmt;

use ode_solvers::dop_shared::{IntegrationError, System};
use ode_solvers::{DVector, Dopri5, OutputType};

/// Error tolerances of the adaptive step-size control: a step is accepted when the
/// root-mean-square over components of err_i / (atol + rtol·|y_i|) is at most 1.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Tolerance {
    /// Relative tolerance.
    pub rtol: f64,
    /// Absolute tolerance (in the units of each component).
    pub atol: f64,
}

impl Tolerance {
    /// The tight tolerance of the references: rtol 1e-12, atol 1e-14. The local error per step
    /// is controlled to that level; the global error of a stable (dissipative) system is a
    /// small multiple of it. 1e-12 is two to three orders above the f64 rounding of one
    /// Dopri5 step (7 stages, u = 1.1e-16), so the controller does not chase rounding noise.
    pub const TIGHT: Tolerance = Tolerance {
        rtol: 1e-12,
        atol: 1e-14,
    };
}

impl Default for Tolerance {
    fn default() -> Self {
        Tolerance::TIGHT
    }
}

/// Why an integration failed (step-size underflow, too many steps, stiffness, non-finite
/// values, or invalid arguments).
#[derive(Clone, Debug, PartialEq)]
pub struct OdeError {
    /// Time at which the solver stopped (in the caller's time, not the reversed one).
    pub t: f64,
    /// What went wrong, from the solver or from the argument checks.
    pub message: String,
}

impl fmt::Display for OdeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Dopri5 failed at t = {}: {}", self.t, self.message)
    }
}

impl std::error::Error for OdeError {}

/// Adapter from a slice closure to `ode_solvers`' `System` on `DVector`.
struct Adapter<'a, F> {
    f: &'a F,
    /// Scratch slices (the `System` trait hands out `&self`).
    buf: RefCell<(Vec<f64>, Vec<f64>)>,
}

impl<F: Fn(f64, &[f64], &mut [f64])> System<f64, DVector<f64>> for Adapter<'_, F> {
    fn system(&self, t: f64, y: &DVector<f64>, dy: &mut DVector<f64>) {
        let mut b = self.buf.borrow_mut();
        let (ys, dys) = &mut *b;
        ys.copy_from_slice(y.as_slice());
        dys.iter_mut().for_each(|v| *v = 0.0);
        (self.f)(t, ys, dys);
        dy.as_mut_slice().copy_from_slice(dys);
    }
}

/// Maximum number of Dopri5 steps per grid interval.
const MAX_STEPS: u32 = 200_000;

/// One forward integration of `f` from `(t0, y)` to `t1 > t0`, sparse output, state at `t1`
/// written back into `y`. `map_t` maps the solver's time to the caller's (for errors).
fn step_interval<F: Fn(f64, &[f64], &mut [f64])>(
    f: &F,
    t0: f64,
    t1: f64,
    y: &mut [f64],
    tol: Tolerance,
    map_t: impl Fn(f64) -> f64,
) -> Result<(), OdeError> {
    debug_assert!(t1 > t0);
    let n = y.len();
    let adapter = Adapter {
        f,
        buf: RefCell::new((vec![0.0; n], vec![0.0; n])),
    };
    let mut solver = Dopri5::from_param(
        adapter,
        t0,
        t1,
        t1 - t0,
        DVector::from_column_slice(y),
        tol.rtol,
        tol.atol,
        0.9,       // safety factor (Hairer's default)
        0.04,      // PI controller beta (default)
        0.2,       // fac_min (default)
        10.0,      // fac_max (default)
        t1 - t0,   // h_max
        0.0,       // initial step: estimated
        MAX_STEPS, // n_max
        u32::MAX,  // stiffness test: never (a slow reference beats a refused one)
        OutputType::Sparse,
    );
    let res = solver.integrate();
    let err = |message: String, t: f64| OdeError {
        t: map_t(t),
        message,
    };
    match res {
        Ok(_) => {}
        Err(e) => {
            let t = match e {
                IntegrationError::MaxNumStepReached { x, .. }
                | IntegrationError::StepSizeUnderflow { x }
                | IntegrationError::StiffnessDetected { x } => x,
            };
            return Err(err(e.to_string(), t));
        }
    }
    let (xs, ys) = solver.results().get();
    let (Some(&x_last), Some(y_last)) = (xs.last(), ys.last()) else {
        return Err(err("no output".into(), t0));
    };
    // The last step is cut to end on t1 (x + (t1 − x) in floating point: t1 to rounding).
    if (x_last - t1).abs() > 1e-9 * (1.0 + t1.abs()) {
        return Err(err(format!("output ends at {x_last}, not at {t1}"), x_last));
    }
    if y_last.iter().any(|v| !v.is_finite()) {
        return Err(err("non-finite state".into(), x_last));
    }
    y.copy_from_slice(y_last.as_slice());
    Ok(())
}

fn check_grid(times: &[f64]) -> Result<(), OdeError> {
    if times.is_empty() {
        return Err(OdeError {
            t: f64::NAN,
            message: "empty time grid".into(),
        });
    }
    for w in times.windows(2) {
        let increasing = w[0].is_finite() && w[1].is_finite() && w[1] > w[0];
        if !increasing {
            return Err(OdeError {
                t: w[0],
                message: format!(
                    "the time grid must be finite and strictly increasing ({} then {})",
                    w[0], w[1]
                ),
            });
        }
    }
    Ok(())
}

/// Solves y' = f(t, y), y(`times[0]`) = y0, and returns y at every time of `times` (strictly
/// increasing), row-major: `times.len() × y0.len()`, the first row y0.
///
/// `f(t, y, dy)` writes dy (zeroed before the call). One Dopri5 integration per grid
/// interval, sparse output (see the module docs).
pub fn solve<F: Fn(f64, &[f64], &mut [f64])>(
    f: F,
    y0: &[f64],
    times: &[f64],
    tol: Tolerance,
) -> Result<Vec<f64>, OdeError> {
    check_grid(times)?;
    let n = y0.len();
    let mut out = Vec::with_capacity(times.len() * n);
    out.extend_from_slice(y0);
    let mut y = y0.to_vec();
    for w in times.windows(2) {
        step_interval(&f, w[0], w[1], &mut y, tol, |t| t)?;
        out.extend_from_slice(&y);
    }
    Ok(out)
}

/// Solves y' = f(t, y) *backwards* from the end condition y(`times[last]`) = y_end, and returns
/// y at every time of `times` (strictly increasing), row-major, the last row y_end.
///
/// Integrates z(s) = y(t_end − s), dz/ds = −f(t_end − s, z), forward in s (so `ode_solvers`
/// never integrates with x_end < x0), interval by interval over the reversed grid.
pub fn solve_reversed<F: Fn(f64, &[f64], &mut [f64])>(
    f: F,
    y_end: &[f64],
    times: &[f64],
    tol: Tolerance,
) -> Result<Vec<f64>, OdeError> {
    check_grid(times)?;
    let n = y_end.len();
    let m = times.len();
    let t_end = times[m - 1];
    let g = move |s: f64, z: &[f64], dz: &mut [f64]| {
        f(t_end - s, z, dz);
        dz.iter_mut().for_each(|v| *v = -*v);
    };
    let mut out = vec![0.0; m * n];
    out[(m - 1) * n..].copy_from_slice(y_end);
    let mut z = y_end.to_vec();
    for k in (0..m - 1).rev() {
        // s runs over t_end − times[k+1] .. t_end − times[k]; the reversed grid values are
        // computed from the caller's times, so interval ends match them to rounding.
        let (s0, s1) = (t_end - times[k + 1], t_end - times[k]);
        step_interval(&g, s0, s1, &mut z, tol, |s| t_end - s)?;
        out[k * n..(k + 1) * n].copy_from_slice(&z);
    }
    Ok(out)
}

/// The uniform grid `t0 + k·(t1 − t0)/n`, k = 0..=n, each point computed from its index (no
/// accumulated rounding), the last exactly `t1`.
pub fn uniform_grid(t0: f64, t1: f64, n: usize) -> Vec<f64> {
    let n = n.max(1);
    (0..=n)
        .map(|k| {
            if k == n {
                t1
            } else {
                t0 + (t1 - t0) * (k as f64 / n as f64)
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exponential_decay_forward_and_reversed() {
        let f = |_t: f64, y: &[f64], dy: &mut [f64]| dy[0] = -y[0];
        let times = uniform_grid(0.0, 2.0, 4);
        let y = solve(f, &[1.0], &times, Tolerance::TIGHT).unwrap();
        for (t, v) in times.iter().zip(&y) {
            assert!((v - (-t).exp()).abs() < 1e-12, "{t} {v}");
        }
        let y = solve_reversed(f, &[(-2.0f64).exp()], &times, Tolerance::TIGHT).unwrap();
        for (t, v) in times.iter().zip(&y) {
            assert!((v - (-t).exp()).abs() < 1e-12, "{t} {v}");
        }
    }

    #[test]
    fn bad_grids_are_refused() {
        let f = |_t: f64, _y: &[f64], dy: &mut [f64]| dy[0] = 1.0;
        assert!(solve(f, &[0.0], &[1.0, 0.0], Tolerance::TIGHT).is_err());
        assert!(solve(f, &[0.0], &[0.0, 0.0], Tolerance::TIGHT).is_err());
        assert!(solve(f, &[0.0], &[], Tolerance::TIGHT).is_err());
        assert_eq!(
            solve(f, &[3.0], &[0.5], Tolerance::TIGHT).unwrap(),
            vec![3.0]
        );
        assert_eq!(uniform_grid(0.0, 1.0, 3).last(), Some(&1.0));
    }
}
