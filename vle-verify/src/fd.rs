//! Central finite differences of the discrete loss and of the continuous loss.
//!
//! Only [`Network::euler_step`], [`Network::rhs`], [`Network::refresh_prospective`] and
//! [`Network::loss`] are called: no generated derivative code.
//!
//! # Error bound (what sets the tolerance)
//!
//! For a loss L(θ) evaluated in f64 with absolute rounding error ε, the central difference
//! with step h satisfies
//!
//! ```text
//! | (L(θ+h) − L(θ−h)) / 2h − L'(θ) |  ≤  h²/6 · max|L'''|  +  ε/h.
//! ```
//!
//! With the step h = 1e-6·s, s the parameter's scale ([`parameter_scale`]: |τ| for a time
//! constant, max(1, |θ|) otherwise; [`fd_step`] is the latter):
//! - truncation: h²/6 ≈ 1.7e-13·s² times |L'''|, and L''' ~ |L|/s³ on that scale: negligible
//!   (a step relative to 1 would be 1e-2 of a time constant τ = 1e-4 and leave ~1e-5);
//! - rounding: ε is at most about K·u·|L| with u = 1.1e-16 and K the number of rounded
//!   operations that feed L along one path (K ≲ a few thousand for a few hundred steps; in
//!   practice errors add up like √K). So ε/h ≲ 1e-7·|L|/s in the worst case, ~1e-9·|L|/s
//!   typical, against a gradient of the order |L|/s.
//!
//! A relative tolerance (relative to the largest |dL/dθ| of a tensor) of 1e-6 is therefore safe
//! whenever |L| is not orders of magnitude larger than the gradient; finite differences are a
//! coarse cross-check, the dual-number reference ([`crate::dual`]) is the precise one.
//!
//! For the continuous loss L = β∫ℓ dt the forward ODE is solved by classical RK4 on a grid
//! `refine` times finer than `dt`, and ℓ is integrated as an extra ODE component (so it is
//! sampled at the RK4 stages, with the same order). The RK4 global error of L is C(θ)·h_f⁴
//! with h_f = dt/refine and C smooth in θ, so the difference quotient differs from the exact
//! continuous derivative by C'(θ)·h_f⁴ on top of the bound above: for dt = 0.01 and
//! refine = 4 that is ~4e-11·|C'|, below the rounding term. Halving h_f must change the
//! result by about 1/16 of its discretisation error (checked in this crate's tests).

use vle_runtime::{Network, Signal};

use crate::dual::window_loss;
use crate::reference::{parameter_scale, FdDerivative};

/// The finite-difference step for a parameter of value `theta`: 1e-6·max(1, |θ|).
pub fn fd_step(theta: f64) -> f64 {
    1e-6 * theta.abs().max(1.0)
}

/// Central difference of `f` in parameter entry `i`, with the step of [`fd_step`]. The step
/// actually taken is `(θ+h) − (θ−h)` as represented in f64, so no representation error of
/// θ ± h enters the quotient.
pub fn central_difference(p: &[f64], i: usize, f: impl FnMut(&[f64]) -> f64) -> f64 {
    central_difference_with_step(p, i, fd_step(p[i]), f)
}

/// The step for entry `i` of `N`'s parameters `p`: 1e-6 times its scale
/// ([`parameter_scale`], relative to τ for a time constant).
pub fn fd_step_of<N: Network>(p: &[f64], i: usize) -> f64 {
    let time_constant = N::param_info()
        .iter()
        .any(|info| info.time_constant && info.range().contains(&i));
    1e-6 * parameter_scale(p[i], time_constant)
}

/// [`central_difference`] with the step `h`.
pub fn central_difference_with_step(
    p: &[f64],
    i: usize,
    h: f64,
    mut f: impl FnMut(&[f64]) -> f64,
) -> f64 {
    let theta = p[i];
    let mut q = p.to_vec();
    let (tp, tm) = (theta + h, theta - h);
    q[i] = tp;
    let lp = f(&q);
    q[i] = tm;
    let lm = f(&q);
    (lp - lm) / (tp - tm)
}

/// Central differences of the discrete window loss (convention of [`crate::dual`]) for every
/// entry in `indices`, each with the step of [`fd_step_of`].
pub fn fd_discrete<N: Network>(
    p: &[f64],
    xs: &[f64],
    ys: &[f64],
    dt: f64,
    beta: f64,
    indices: &[usize],
) -> Vec<f64> {
    indices
        .iter()
        .map(|&i| {
            central_difference_with_step(p, i, fd_step_of::<N>(p, i), |q| {
                window_loss::<N, f64>(q, xs, ys, dt, beta)
            })
        })
        .collect()
}

/// The continuous loss L = β ∫_{t0}^{t0+steps·dt} ℓ(r_L(t), y(t)) dt from the zero
/// continuous state, by classical RK4 with step dt/`refine` on the continuous system
/// ([`Network::rhs`]), ℓ integrated as an extra component (prospective quantities refreshed
/// with [`Network::refresh_prospective`] at every stage). Panics when the network has no
/// continuous-time kernels ([`Network::CONTINUOUS`] is false) or `refine` is zero.
pub fn continuous_loss<N: Network, S: Signal + ?Sized>(
    p: &[f64],
    signal: &S,
    t0: f64,
    dt: f64,
    steps: usize,
    refine: usize,
    beta: f64,
) -> f64 {
    assert!(
        N::CONTINUOUS,
        "continuous_loss: {} has no continuous-time kernels (recurrent projections)",
        N::NAME
    );
    assert!(refine > 0, "continuous_loss: refine must be at least 1");
    let nc = N::CONT;
    let h = dt / refine as f64;
    let substeps = steps * refine;
    let mut x = vec![0.0; N::INPUT];
    let mut y = vec![0.0; N::OUTPUT];
    let mut full = vec![0.0; N::STATE];
    // f(t, c) = (dc/dt, β·ℓ): writes dc into `dc`, returns β·ℓ.
    let mut f = |t: f64, c: &[f64], dc: &mut [f64]| -> f64 {
        signal.at(t, &mut x, &mut y);
        N::rhs(p, c, &x, dc);
        full[..nc].copy_from_slice(c);
        N::refresh_prospective(p, &mut full, &x);
        beta * N::loss(p, &full, &y)
    };
    let mut c = vec![0.0; nc];
    let mut tmp = vec![0.0; nc];
    let mut k: [Vec<f64>; 4] = std::array::from_fn(|_| vec![0.0; nc]);
    let mut q = 0.0;
    for m in 0..substeps {
        // t computed from the index, not accumulated, to keep the stage times exact.
        let t = t0 + m as f64 * h;
        let q1 = f(t, &c, &mut k[0]);
        stage(&mut tmp, &c, 0.5 * h, &k[0]);
        let q2 = f(t + 0.5 * h, &tmp, &mut k[1]);
        stage(&mut tmp, &c, 0.5 * h, &k[1]);
        let q3 = f(t + 0.5 * h, &tmp, &mut k[2]);
        stage(&mut tmp, &c, h, &k[2]);
        let q4 = f(t + h, &tmp, &mut k[3]);
        for i in 0..nc {
            c[i] += h / 6.0 * (k[0][i] + 2.0 * (k[1][i] + k[2][i]) + k[3][i]);
        }
        q += h / 6.0 * (q1 + 2.0 * (q2 + q3) + q4);
    }
    q
}

fn stage(out: &mut [f64], c: &[f64], h: f64, k: &[f64]) {
    for i in 0..out.len() {
        out[i] = c[i] + h * k[i];
    }
}

/// Central differences of [`continuous_loss`] with their estimated errors, for every entry in
/// `indices`.
///
/// One evaluation of L by RK4 is deterministic in θ (fixed steps), so its error in the
/// difference is rounding alone: ε ≈ u·|L|·√K with K = 4·steps·refine stage evaluations
/// (rounding errors of the quadrature add up like a random walk). The step minimises
/// h²/6·|L'''| + ε/h with |L'''| ≈ 3!·|L|/s³ on the parameter's scale s
/// ([`parameter_scale`]): h = s·(ε/(2|L|))^{1/3}, about 1e-5·s. The truncation error is
/// estimated by Richardson from the difference at 2h (|D(h) − D(2h)|/3, two more
/// evaluations), the noise as ε/h.
#[allow(clippy::too_many_arguments)]
pub fn fd_continuous_estimated<N: Network, S: Signal + ?Sized>(
    p: &[f64],
    signal: &S,
    t0: f64,
    dt: f64,
    steps: usize,
    refine: usize,
    beta: f64,
    indices: &[usize],
) -> Vec<FdDerivative> {
    let loss = |q: &[f64]| continuous_loss::<N, S>(q, signal, t0, dt, steps, refine, beta);
    let l0 = loss(p).abs();
    let rel = f64::EPSILON * ((4 * steps * refine) as f64).sqrt();
    let eps = rel * l0;
    let mut q = p.to_vec();
    indices
        .iter()
        .map(|&i| {
            let theta = p[i];
            let time_constant = N::param_info()
                .iter()
                .any(|info| info.time_constant && info.range().contains(&i));
            let h = parameter_scale(theta, time_constant) * (0.5 * rel).cbrt();
            let h = (theta + h) - theta;
            let mut at = |k: f64| {
                q[i] = theta + k * h;
                loss(&q)
            };
            let (p1, m1, p2, m2) = (at(1.0), at(-1.0), at(2.0), at(-2.0));
            q[i] = theta;
            let d = (p1 - m1) / (2.0 * h);
            let d2h = (p2 - m2) / (4.0 * h);
            FdDerivative {
                value: d,
                step: h,
                truncation: (d - d2h).abs() / 3.0,
                noise: eps / h,
            }
        })
        .collect()
}

/// Central differences of [`continuous_loss`] for every entry in `indices`, each with the
/// step of [`fd_step_of`].
#[allow(clippy::too_many_arguments)]
pub fn fd_continuous<N: Network, S: Signal + ?Sized>(
    p: &[f64],
    signal: &S,
    t0: f64,
    dt: f64,
    steps: usize,
    refine: usize,
    beta: f64,
    indices: &[usize],
) -> Vec<f64> {
    indices
        .iter()
        .map(|&i| {
            central_difference_with_step(p, i, fd_step_of::<N>(p, i), |q| {
                continuous_loss::<N, S>(q, signal, t0, dt, steps, refine, beta)
            })
        })
        .collect()
}
