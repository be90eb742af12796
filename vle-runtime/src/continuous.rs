//! The continuous adjoint sweep (`vle::_theory` §4): RK4 forward on the continuous system, then the
//! costate P backward from P(T) = 0 with RK4 in reversed time, the gradient integrated as an
//! extra component of the same RK4 system (Simpson weights 1/6, 4/6, 1/6 over each step when
//! the density does not depend on P).
//!
//! Loss of the continuous problem: L = β ∫_{t0}^{t0+T} ℓ(r_L(t), y(t)) dt, T = N·dt.

use crate::error::{check_len, Error, Result};
use crate::params::{check_finite_params, validate_params};
use crate::signal::Signal;
use crate::sim::{
    axpy, check_finite_data, check_finite_states, check_time, rk4_step, to_scalars, Rk4Scratch,
};
use crate::{Network, Scalar};

/// Result of [`continuous_adjoint`].
#[derive(Clone, Debug)]
pub struct AdjointSweep<T> {
    /// L = β ∫ ℓ dt (RK4 quadrature on the stage states).
    pub loss: T,
    /// dL/dθ (length PARAMS), non-learnable entries included.
    pub grad: Vec<T>,
    /// Errors at each neuron's synaptic input at t0 + n·dt, n = 0..=N: `(N+1) × NEURONS`.
    pub errors: Vec<T>,
    /// Costate at t0 + n·dt, n = 0..=N: `(N+1) × CONT` (P(T) = 0 is the last row).
    pub costate: Vec<T>,
    /// Continuous state at the grid points, `(N+1) × CONT`.
    pub states: Vec<T>,
}

/// Runs the forward RK4 sweep over `steps` steps of `dt` from `t0` (continuous state `c0`, zero
/// when `None`) and the backward adjoint sweep.
///
/// Errors, before the sweep: [`Error::Unsupported`] for a network without a continuous
/// system, [`Error::Length`] (parameters, signal widths, `c0`), [`Error::EmptyData`] for zero
/// steps, [`crate::params::validate_params`] (parameters, dt against every time constant),
/// [`Error::InvalidHyperParameter`] for a non-finite `t0` or `beta`, [`Error::NonFinite`]
/// naming a non-finite state in `c0` or input `x[i]` / target `y[i]` (step). During it:
/// [`Error::NonFinite`] naming the first diverged state (step) or gradient entry.
pub fn continuous_adjoint<N: Network, T: Scalar, S: Signal + ?Sized>(
    p: &[T],
    signal: &S,
    c0: Option<&[T]>,
    t0: f64,
    dt: f64,
    steps: usize,
    beta: f64,
) -> Result<AdjointSweep<T>> {
    crate::error::require_continuous::<N>()?;
    check_len("the parameter vector", N::PARAMS, p.len())?;
    check_len("the signal's input", N::INPUT, signal.input_dim())?;
    check_len("the signal's target", N::OUTPUT, signal.target_dim())?;
    signal.validate()?;
    if steps == 0 {
        return Err(Error::EmptyData {
            what: "the time grid (zero steps)".into(),
        });
    }
    validate_params::<N, T>(p, dt)?;
    check_time(t0)?;
    if !beta.is_finite() {
        return Err(Error::InvalidHyperParameter {
            name: "beta".into(),
            value: beta,
            expected: "a finite weight of the loss".into(),
        });
    }
    let (nc, ni, no) = (N::CONT, N::INPUT, N::OUTPUT);
    if let Some(c0) = c0 {
        check_len("the initial continuous state", nc, c0.len())?;
        check_finite_states::<N, T>(c0, N::STATE, None, 0)?;
    }
    // Inputs and targets at t0 + n·dt/2, n = 0..=2N, checked before the sweep (a half step
    // h belongs to step h/2).
    let mut xs = vec![T::zero(); (2 * steps + 1) * ni];
    let mut ys = vec![T::zero(); (2 * steps + 1) * no];
    let (mut xf, mut yf) = (vec![0.0; ni], vec![0.0; no]);
    for h in 0..=2 * steps {
        signal.at(t0 + h as f64 * 0.5 * dt, &mut xf, &mut yf);
        check_finite_data(&xf, "input", ni, 1, Some(h / 2), 0)?;
        check_finite_data(&yf, "target", no, 1, Some(h / 2), 0)?;
        to_scalars(&xf, &mut xs[h * ni..(h + 1) * ni]);
        to_scalars(&yf, &mut ys[h * no..(h + 1) * no]);
    }
    let x = |h: usize| &xs[h * ni..(h + 1) * ni];
    let y = |h: usize| &ys[h * no..(h + 1) * no];

    let dtt = T::from_f64(dt);
    let half = T::from_f64(0.5) * dtt;
    let two = T::from_f64(2.0);
    let sixth = dtt / T::from_f64(6.0);
    let betat = T::from_f64(beta);

    // Forward: grid states, Hermite midpoints c(t+dt/2) = (c0+c1)/2 + dt/8 (f0 − f1) (O(dt⁴)).
    let mut grid = vec![T::zero(); (steps + 1) * nc];
    let mut mid = vec![T::zero(); steps * nc];
    if let Some(c0) = c0 {
        grid[..nc].copy_from_slice(c0);
    }
    let mut scratch = Rk4Scratch::new(nc);
    let mut full = vec![T::zero(); N::STATE];
    let mut f1 = vec![T::zero(); nc];
    let mut loss = T::zero();
    let stage_loss = |c: &[T], h: usize, full: &mut [T]| -> T {
        full[..nc].copy_from_slice(c);
        N::refresh_prospective(p, full, x(h));
        N::loss(p, full, y(h))
    };
    for n in 0..steps {
        let (done, rest) = grid.split_at_mut((n + 1) * nc);
        let c = &mut rest[..nc];
        c.copy_from_slice(&done[n * nc..]);
        rk4_step::<N, T>(
            p,
            c,
            x(2 * n),
            x(2 * n + 1),
            x(2 * n + 2),
            dtt,
            &mut scratch,
        );
        check_finite_states::<N, T>(c, N::STATE, Some(n), 0)?;
        let cn = &done[n * nc..];
        let [k1, k2, k3, _] = &scratch.k;
        let mut tmp = cn.to_vec();
        let mut l = stage_loss(cn, 2 * n, &mut full);
        axpy(&mut tmp, cn, half, k1);
        l += two * stage_loss(&tmp, 2 * n + 1, &mut full);
        axpy(&mut tmp, cn, half, k2);
        l += two * stage_loss(&tmp, 2 * n + 1, &mut full);
        axpy(&mut tmp, cn, dtt, k3);
        l += stage_loss(&tmp, 2 * n + 2, &mut full);
        loss += sixth * l;
        N::rhs(p, c, x(2 * n + 2), &mut f1);
        let eighth = dtt / T::from_f64(8.0);
        for i in 0..nc {
            mid[n * nc + i] =
                T::from_f64(0.5) * (cn[i] + c[i]) + eighth * (scratch.k[0][i] - f1[i]);
        }
    }
    loss *= betat;

    // Backward in reversed time from P(T) = 0.
    let (nn, np) = (N::NEURONS, N::PARAMS);
    let mut costate = vec![T::zero(); (steps + 1) * nc];
    let mut errors = vec![T::zero(); (steps + 1) * nn];
    let mut grad = vec![T::zero(); np];
    let mut k: [Vec<T>; 4] = std::array::from_fn(|_| vec![T::zero(); nc]);
    let mut g: [Vec<T>; 4] = std::array::from_fn(|_| vec![T::zero(); np]);
    let mut err = vec![T::zero(); nn];
    let mut ptmp = vec![T::zero(); nc];
    for n in (0..steps).rev() {
        let (c0, cm, c1) = (
            &grid[n * nc..(n + 1) * nc],
            &mid[n * nc..(n + 1) * nc],
            &grid[(n + 1) * nc..(n + 2) * nc],
        );
        let pn1 = costate[(n + 1) * nc..(n + 2) * nc].to_vec();
        let [k1, k2, k3, k4] = &mut k;
        let [g1, g2, g3, g4] = &mut g;
        N::adjoint_rhs(
            p,
            c1,
            x(2 * n + 2),
            y(2 * n + 2),
            betat,
            &pn1,
            k1,
            &mut err,
            g1,
        );
        errors[(n + 1) * nn..(n + 2) * nn].copy_from_slice(&err);
        axpy(&mut ptmp, &pn1, -half, k1);
        N::adjoint_rhs(
            p,
            cm,
            x(2 * n + 1),
            y(2 * n + 1),
            betat,
            &ptmp,
            k2,
            &mut err,
            g2,
        );
        axpy(&mut ptmp, &pn1, -half, k2);
        N::adjoint_rhs(
            p,
            cm,
            x(2 * n + 1),
            y(2 * n + 1),
            betat,
            &ptmp,
            k3,
            &mut err,
            g3,
        );
        axpy(&mut ptmp, &pn1, -dtt, k3);
        N::adjoint_rhs(p, c0, x(2 * n), y(2 * n), betat, &ptmp, k4, &mut err, g4);
        for i in 0..nc {
            costate[n * nc + i] = pn1[i] - sixth * (k1[i] + two * (k2[i] + k3[i]) + k4[i]);
        }
        for i in 0..np {
            grad[i] += sixth * (g1[i] + two * (g2[i] + g3[i]) + g4[i]);
        }
    }
    // Errors at t0 from P(t0).
    N::adjoint_rhs(
        p,
        &grid[..nc],
        x(0),
        y(0),
        betat,
        &costate[..nc],
        &mut k[0],
        &mut err,
        &mut g[0],
    );
    errors[..nn].copy_from_slice(&err);
    check_finite_params::<N, T>(&grad, "gradient", None)?;
    Ok(AdjointSweep {
        loss,
        grad,
        errors,
        costate,
        states: grid,
    })
}
