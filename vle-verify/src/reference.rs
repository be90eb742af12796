//! References of the *continuous* problem, solved by Dopri5 ([`crate::ode`]) at tight
//! tolerance; none calls generated derivative code.
//!
//! The continuous problem (`vle::_theory` §4, ARCHITECTURE.md): continuous state c (the first
//! [`Network::CONT`] entries of the discrete state), c(t0) = 0, ċ = F(c, x(t); θ) given by
//! [`Network::rhs`], and
//!
//! ```text
//! L = ∫_{t0}^{T} g dt,   g(c, t; θ) = β·ℓ(refresh(c, x(t)), y(t))
//! ```
//!
//! where `refresh` is [`Network::refresh_prospective`] (the instantaneous prospective chain)
//! and ℓ is [`Network::loss`].
//!
//! 1. [`forward_states`] / [`forward_outputs`]: the forward solution on a grid, against which
//!    [`euler_outputs`] (the generated explicit-Euler step) converges at first order
//!    ([`forward_convergence`]).
//! 2. [`ode_loss`] / [`fd_ode_gradient`]: L with the forward and the loss quadrature (an
//!    extra ODE component q̇ = g) solved together, and its central finite differences with
//!    their estimated errors.
//! 3. [`adjoint_reference`]: the standard ODE adjoint,
//!
//!    ```text
//!    ȧ = −(∂F/∂c)ᵀ a − ∂g/∂c,   a(T) = 0,   dL/dθ = ∫_{t0}^{T} [(∂F/∂θ)ᵀ a + ∂g/∂θ] dt,
//!    ```
//!
//!    integrated backwards in reversed time with Jacobian-transpose products from forward-mode
//!    dual numbers (`num_dual::Dual64`) through [`Network::rhs`],
//!    [`Network::refresh_prospective`] and [`Network::loss`]: one dual pass per state entry and
//!    per checked parameter entry. It never calls `adjoint_rhs`, `euler_step_adjoint` or
//!    `loss_adjoint`.
//!
//! # The forward trajectory during the backward sweep: checkpointed augmentation
//!
//! The adjoint needs c(t) at the solver's stage times. This module stores c on a checkpoint
//! grid t_0 < … < t_K from one forward Dopri5 solve, then sweeps the intervals backwards: on
//! [t_k, t_{k+1}] it integrates the augmented system (c, a, G) in reversed time, starting from
//! the *stored* c(t_{k+1}), with ċ = F, the adjoint equation for a, and Ġ = −[(∂F/∂θ)ᵀa + ∂g/∂θ]
//! (so G(t) = ∫_t^T … and dL/dθ = G(t0)). Integrating c backwards is unstable over long spans
//! (errors grow like e^{t/τ}) but harmless over one checkpoint interval of at most τ_min/2
//! (growth ≤ e^{1/2}), and the restart from the stored value every interval keeps c at the
//! forward solver's accuracy. Unlike interpolation (cubic Hermite would add an O(h⁴) error
//! set by the storage grid) every stage value of c is a Dopri5 solution at the requested
//! tolerance.

use num_dual::Dual64;
use vle_runtime::{Network, Scalar, Signal};

use crate::ode::{solve, solve_reversed, uniform_grid, OdeError, Tolerance};

fn require_continuous<N: Network>(what: &str) {
    assert!(
        N::CONTINUOUS,
        "{what}: {} has no continuous-time kernels (recurrent projections)",
        N::NAME
    );
}

/// The continuous states c(t_k) at t_k = t0 + k·dt, k = 0..=steps, from c(t0) = 0, by Dopri5
/// (one integration per grid interval): `(steps + 1) × CONT`, row-major.
pub fn forward_states<N: Network, S: Signal + ?Sized>(
    p: &[f64],
    signal: &S,
    t0: f64,
    dt: f64,
    steps: usize,
    tol: Tolerance,
) -> Result<Vec<f64>, OdeError> {
    require_continuous::<N>("forward_states");
    let nc = N::CONT;
    let scratch = std::cell::RefCell::new((vec![0.0; N::INPUT], vec![0.0; N::OUTPUT]));
    let f = |t: f64, c: &[f64], dc: &mut [f64]| {
        let mut b = scratch.borrow_mut();
        let (x, y) = &mut *b;
        signal.at(t, x, y);
        N::rhs(p, c, x, dc);
    };
    let times = uniform_grid(t0, t0 + steps as f64 * dt, steps);
    solve(f, &vec![0.0; nc], &times, tol)
}

/// The output rates r_L(t_k) of continuous states given on the grid t_k = t0 + k·dt
/// (`states` as returned by [`forward_states`]): prospective quantities refreshed with
/// [`Network::refresh_prospective`] at x(t_k), then [`Network::output`]. `rows × OUTPUT`.
pub fn forward_outputs<N: Network, S: Signal + ?Sized>(
    p: &[f64],
    signal: &S,
    t0: f64,
    dt: f64,
    states: &[f64],
) -> Vec<f64> {
    let nc = N::CONT;
    let rows = states.len() / nc.max(1);
    let (mut x, mut y) = (vec![0.0; N::INPUT], vec![0.0; N::OUTPUT]);
    let mut full = vec![0.0; N::STATE];
    let mut out = vec![0.0; rows * N::OUTPUT];
    for k in 0..rows {
        signal.at(t0 + k as f64 * dt, &mut x, &mut y);
        full.iter_mut().for_each(|v| *v = 0.0);
        full[..nc].copy_from_slice(&states[k * nc..(k + 1) * nc]);
        N::refresh_prospective(p, &mut full, &x);
        N::output(p, &full, &mut out[k * N::OUTPUT..(k + 1) * N::OUTPUT]);
    }
    out
}

/// The generated explicit-Euler forward ([`Network::euler_step`]) from the zero state with
/// x(t_n) in step n: the output rates after n steps, n = 0..=steps, `(steps + 1) × OUTPUT`.
pub fn euler_outputs<N: Network, S: Signal + ?Sized>(
    p: &[f64],
    signal: &S,
    t0: f64,
    dt: f64,
    steps: usize,
) -> Vec<f64> {
    let (mut x, mut y) = (vec![0.0; N::INPUT], vec![0.0; N::OUTPUT]);
    let mut state = vec![0.0; N::STATE];
    let mut out = vec![0.0; (steps + 1) * N::OUTPUT];
    N::output(p, &state, &mut out[..N::OUTPUT]);
    for n in 0..steps {
        signal.at(t0 + n as f64 * dt, &mut x, &mut y);
        N::euler_step(p, &mut state, &x, dt);
        N::output(
            p,
            &state,
            &mut out[(n + 1) * N::OUTPUT..(n + 2) * N::OUTPUT],
        );
    }
    out
}

/// Errors of a sequence of approximations at step sizes `dts` (each half the previous).
#[derive(Clone, Debug, PartialEq)]
pub struct Convergence {
    /// The step sizes, coarsest first.
    pub dts: Vec<f64>,
    /// Relative error at each step size (see the producing function for the norm).
    pub errors: Vec<f64>,
}

impl Convergence {
    /// Observed orders log2(e_k / e_{k+1}) between successive step sizes.
    pub fn orders(&self) -> Vec<f64> {
        self.errors
            .windows(2)
            .zip(self.dts.windows(2))
            .map(|(e, d)| (e[0] / e[1]).ln() / (d[0] / d[1]).ln())
            .collect()
    }
}

/// (1) The Dopri5 forward solution's output rates on the grid t_k = t0 + k·dt, k = 0..=steps,
/// against which [`ForwardReference::euler_error`] measures the generated Euler forward.
pub struct ForwardReference<'a, N: Network, S: Signal + ?Sized> {
    p: &'a [f64],
    signal: &'a S,
    t0: f64,
    dt: f64,
    steps: usize,
    /// `(steps + 1) × OUTPUT` reference output rates.
    pub outputs: Vec<f64>,
    skip: usize,
    scale: f64,
    _n: std::marker::PhantomData<N>,
}

impl<'a, N: Network, S: Signal + ?Sized> ForwardReference<'a, N, S> {
    /// Solves the forward problem by Dopri5 ([`forward_states`], [`forward_outputs`]).
    pub fn new(
        p: &'a [f64],
        signal: &'a S,
        t0: f64,
        dt: f64,
        steps: usize,
        tol: Tolerance,
    ) -> Result<Self, OdeError> {
        let states = forward_states::<N, S>(p, signal, t0, dt, steps, tol)?;
        let outputs = forward_outputs::<N, S>(p, signal, t0, dt, &states);
        let skip = (N::layer_info().len() + 1).min(steps);
        let scale = outputs[skip * N::OUTPUT..]
            .iter()
            .fold(0.0f64, |m, v| m.max(v.abs()))
            .max(f64::MIN_POSITIVE);
        Ok(ForwardReference {
            p,
            signal,
            t0,
            dt,
            steps,
            outputs,
            skip,
            scale,
            _n: std::marker::PhantomData,
        })
    }

    /// The error of the generated Euler forward with step dt/`refine`: max over outputs and
    /// over the grid points t_k, k > depth (the number of layers), of |r_Euler − r_ref|,
    /// relative to max |r_ref| over the same points. The first `depth` points are skipped:
    /// the Euler scheme delays each layer by one step, so the prospective jump at t0 (x(t0) ≠ 0
    /// switches u̇ on instantly) reaches layer l only after l steps; until then the difference
    /// is O(1), afterwards O(h).
    pub fn euler_error(&self, refine: usize) -> f64 {
        let (m, no) = (refine.max(1), N::OUTPUT);
        let h = self.dt / m as f64;
        let e = euler_outputs::<N, S>(self.p, self.signal, self.t0, h, self.steps * m);
        let mut err = 0.0f64;
        for k in self.skip..=self.steps {
            for o in 0..no {
                let d = (e[k * m * no + o] - self.outputs[k * no + o]).abs();
                err = if d.is_nan() { f64::NAN } else { err.max(d) };
            }
        }
        err / self.scale
    }
}

/// (1) The generated Euler forward against the Dopri5 forward solution at the step sizes
/// dt/2^j, j = 0..levels (see [`ForwardReference::euler_error`]).
pub fn forward_convergence<N: Network, S: Signal + ?Sized>(
    p: &[f64],
    signal: &S,
    t0: f64,
    dt: f64,
    steps: usize,
    levels: usize,
    tol: Tolerance,
) -> Result<Convergence, OdeError> {
    let r = ForwardReference::<N, S>::new(p, signal, t0, dt, steps, tol)?;
    Ok(Convergence {
        dts: (0..levels).map(|j| dt / (1u64 << j) as f64).collect(),
        errors: (0..levels).map(|j| r.euler_error(1 << j)).collect(),
    })
}

/// ℓ at continuous state `c`: `full` (length STATE) receives c and the refreshed prospective
/// quantities.
fn loss_density<N: Network, T: Scalar>(p: &[T], c: &[T], x: &[T], y: &[T], full: &mut [T]) -> T {
    full.iter_mut().for_each(|v| *v = T::zero());
    full[..N::CONT].copy_from_slice(c);
    N::refresh_prospective(p, full, x);
    N::loss(p, full, y)
}

/// (2) L = β ∫_{t0}^{t_end} ℓ dt from c(t0) = 0: the forward and q̇ = β·ℓ solved together by
/// Dopri5 over [t0, t_end] (one integration).
pub fn ode_loss<N: Network, S: Signal + ?Sized>(
    p: &[f64],
    signal: &S,
    t0: f64,
    t_end: f64,
    beta: f64,
    tol: Tolerance,
) -> Result<f64, OdeError> {
    require_continuous::<N>("ode_loss");
    let nc = N::CONT;
    let scratch = std::cell::RefCell::new((
        vec![0.0; N::INPUT],
        vec![0.0; N::OUTPUT],
        vec![0.0; N::STATE],
    ));
    let f = |t: f64, z: &[f64], dz: &mut [f64]| {
        let mut b = scratch.borrow_mut();
        let (x, y, full) = &mut *b;
        signal.at(t, x, y);
        N::rhs(p, &z[..nc], x, &mut dz[..nc]);
        dz[nc] = beta * loss_density::<N, f64>(p, &z[..nc], x, y, full);
    };
    let z = solve(f, &vec![0.0; nc + 1], &[t0, t_end], tol)?;
    Ok(z[2 * (nc + 1) - 1])
}

/// Factor by which [`loss_error`] loosens the solver's tolerance to measure the error of a
/// Dopri5 solution: the global error of Dopri5 (local extrapolation, error per step
/// controlled) is proportional to the tolerance, so e(100·rtol) − e(rtol) ≈ 99·e(rtol).
pub const LOOSE_FACTOR: f64 = 100.0;

/// The characteristic scale s on which the loss varies with a parameter of value `theta`:
/// |θ| for a time constant (L depends on τ through t/τ and ω·τ, so its k-th derivative in τ
/// grows like 1/τᵏ: a stiff unit with τ = dt needs a step relative to τ, not to 1), and
/// max(1, |θ|) for any other parameter (weights, biases and couplings act through
/// nonlinearities of unit scale).
pub fn parameter_scale(theta: f64, time_constant: bool) -> f64 {
    if time_constant {
        theta.abs()
    } else {
        theta.abs().max(1.0)
    }
}

/// The finite-difference step of [`fd_ode_gradient`] for a parameter of scale `s`
/// ([`parameter_scale`]) when one loss evaluation has relative error `rel_error`:
/// h = s·(45·ε / (4·5!))^{1/5}.
///
/// It minimises the error model of the fourth-order central difference,
/// E(h) = h⁴/30·|L⁽⁵⁾| + 1.5·ε·|L|/h, with the derivatives of L modelled on its scale,
/// |L⁽⁵⁾| ≈ 5!·|L|/s⁵ (a rational or exponential dependence on θ/s). At ε = 1e-12 this is
/// h ≈ 2.5e-3·s, where both terms are ≈ 1e-9·|L|/s, i.e. ≈ 1e-9 of a gradient of the size
/// |L|/s. (A fixed h = 1e-3 is 10 % of a time constant τ = 0.01 and leaves a truncation
/// error of (h/τ)⁴·5!/30 ≈ 4e-4 relative.) The error actually made is estimated afterwards
/// ([`FdDerivative`]), so the model only has to put h near the optimum.
pub fn fd_ode_step(scale: f64, rel_error: f64) -> f64 {
    scale * (45.0 * rel_error / (4.0 * 120.0)).powf(0.2)
}

/// One derivative by finite differences, with the estimate of its error.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct FdDerivative {
    /// The fourth-order central difference D₄(h) (see [`fd_ode_gradient`]).
    pub value: f64,
    /// The step h.
    pub step: f64,
    /// Estimated truncation error |D₄(h) − D₄(2h)|/15 (Richardson: the leading error of
    /// D₄(h) is c·h⁴, that of D₄(2h) is 16·c·h⁴).
    pub truncation: f64,
    /// Estimated effect of the loss' own error δ: (8·2δ + 2δ)/(12h) = 1.5·δ/h.
    pub noise: f64,
}

impl FdDerivative {
    /// The estimated error bound, truncation plus noise.
    pub fn error(&self) -> f64 {
        self.truncation + self.noise
    }
}

/// Result of [`fd_ode_gradient`].
#[derive(Clone, Debug, PartialEq)]
pub struct FdGradient {
    /// One derivative per requested index.
    pub entries: Vec<FdDerivative>,
    /// L at the parameters (Dopri5 at the given tolerance).
    pub loss: f64,
    /// Estimated absolute error δ of one Dopri5 evaluation of L ([`loss_error`]).
    pub loss_error: f64,
}

/// L by [`ode_loss`] and the estimate of its absolute error: the larger of
/// |L(rtol) − L([`LOOSE_FACTOR`]·rtol)|/([`LOOSE_FACTOR`] − 1) (the measured global error,
/// proportional to the tolerance) and rtol·|L| + atol (what the step-size control asks for).
pub fn loss_error<N: Network, S: Signal + ?Sized>(
    p: &[f64],
    signal: &S,
    t0: f64,
    t_end: f64,
    beta: f64,
    tol: Tolerance,
) -> Result<(f64, f64), OdeError> {
    let l = ode_loss::<N, S>(p, signal, t0, t_end, beta, tol)?;
    let loose = Tolerance {
        rtol: tol.rtol * LOOSE_FACTOR,
        atol: tol.atol * LOOSE_FACTOR,
    };
    let ll = ode_loss::<N, S>(p, signal, t0, t_end, beta, loose)?;
    Ok((
        l,
        ((ll - l).abs() / (LOOSE_FACTOR - 1.0)).max(tol.rtol * l.abs() + tol.atol),
    ))
}

/// (2) dL/dθ_i of [`ode_loss`] for every `i` in `indices`, by the fourth-order central
/// difference
///
/// ```text
/// D₄(h) = [8(L(θ+h) − L(θ−h)) − (L(θ+2h) − L(θ−2h))] / 12h,
/// ```
///
/// with h from [`fd_ode_step`] on the parameter's scale ([`parameter_scale`]; time
/// constants are recognised by [`vle_runtime::ParamInfo::time_constant`]) and ε = the
/// measured relative error of L ([`loss_error`]), and the estimate of its error: truncation
/// from D₄(2h) (two more solves, at θ ± 4h) and noise 1.5·δ/h. An adaptive solver picks
/// different step sequences at θ ± h, so its error δ does not cancel in the differences.
pub fn fd_ode_gradient<N: Network, S: Signal + ?Sized>(
    p: &[f64],
    signal: &S,
    t0: f64,
    t_end: f64,
    beta: f64,
    tol: Tolerance,
    indices: &[usize],
) -> Result<FdGradient, OdeError> {
    let (loss, delta) = loss_error::<N, S>(p, signal, t0, t_end, beta, tol)?;
    // The relative error that sets the step, kept within [rtol, 1e-6]: no better than the
    // controller is asked for, and h ≤ 0.05·s even for a loss near zero (whose δ is atol).
    let rel = (delta / loss.abs().max(f64::MIN_POSITIVE))
        .min(1e-6)
        .max(tol.rtol);
    let mut q = p.to_vec();
    let mut entries = Vec::with_capacity(indices.len());
    for &i in indices {
        let theta = p[i];
        let time_constant = N::param_info()
            .iter()
            .any(|info| info.time_constant && info.range().contains(&i));
        let h = fd_ode_step(parameter_scale(theta, time_constant), rel);
        // The step as represented: θ + h − θ is exact, so no representation error of θ ± h
        // enters the quotients.
        let h = (theta + h) - theta;
        let mut at = |k: f64| -> Result<f64, OdeError> {
            q[i] = theta + k * h;
            ode_loss::<N, S>(&q, signal, t0, t_end, beta, tol)
        };
        let (p1, m1) = (at(1.0)?, at(-1.0)?);
        let (p2, m2) = (at(2.0)?, at(-2.0)?);
        let (p4, m4) = (at(4.0)?, at(-4.0)?);
        q[i] = theta;
        let d4 = (8.0 * (p1 - m1) - (p2 - m2)) / (12.0 * h);
        let d4_2h = (8.0 * (p2 - m2) - (p4 - m4)) / (24.0 * h);
        entries.push(FdDerivative {
            value: d4,
            step: h,
            truncation: (d4 - d4_2h).abs() / 15.0,
            noise: 1.5 * delta / h,
        });
    }
    Ok(FdGradient {
        entries,
        loss,
        loss_error: delta,
    })
}

/// The values of [`fd_ode_gradient`] alone.
pub fn fd_ode_loss<N: Network, S: Signal + ?Sized>(
    p: &[f64],
    signal: &S,
    t0: f64,
    t_end: f64,
    beta: f64,
    tol: Tolerance,
    indices: &[usize],
) -> Result<Vec<f64>, OdeError> {
    Ok(
        fd_ode_gradient::<N, S>(p, signal, t0, t_end, beta, tol, indices)?
            .entries
            .iter()
            .map(|d| d.value)
            .collect(),
    )
}

/// Result of [`adjoint_reference`].
#[derive(Clone, Debug, PartialEq)]
pub struct AdjointReference {
    /// dL/dθ_i for each checked index (in the order given).
    pub grad: Vec<f64>,
    /// The adjoint a(t0) (∂L/∂c(t0)).
    pub costate_t0: Vec<f64>,
    /// Number of checkpoint intervals used.
    pub checkpoints: usize,
}

/// The number of checkpoint intervals [`adjoint_reference`] uses by default over a horizon
/// `span`: intervals of at most min(τ_min/2, span/`min_intervals`), τ_min the smallest time
/// constant entry of `p` (see the module docs for why τ_min/2). Fewer, longer intervals are
/// cheaper (each restart costs an initial-step estimate and forces a step to end on the
/// checkpoint); the solver's accuracy does not depend on them.
pub fn default_checkpoints<N: Network>(p: &[f64], span: f64, min_intervals: usize) -> usize {
    let tau_min = N::param_info()
        .iter()
        .filter(|i| i.time_constant)
        .flat_map(|i| p[i.range()].iter().copied())
        .fold(f64::INFINITY, f64::min);
    let h = (0.5 * tau_min).min(span / min_intervals.max(1) as f64);
    ((span / h).ceil() as usize).max(1)
}

/// (3) dL/dθ for the entries `indices` by the numerical continuous adjoint (module docs),
/// with `checkpoints` intervals (see [`default_checkpoints`]).
#[allow(clippy::too_many_arguments)]
pub fn adjoint_reference<N: Network, S: Signal + ?Sized>(
    p: &[f64],
    signal: &S,
    t0: f64,
    t_end: f64,
    beta: f64,
    tol: Tolerance,
    indices: &[usize],
    checkpoints: usize,
) -> Result<AdjointReference, OdeError> {
    require_continuous::<N>("adjoint_reference");
    let (nc, ni) = (N::CONT, indices.len());
    let k = checkpoints.max(1);
    let times = uniform_grid(t0, t_end, k);
    // Forward: checkpoints c(t_k).
    let fwd = {
        let scratch = std::cell::RefCell::new((vec![0.0; N::INPUT], vec![0.0; N::OUTPUT]));
        let f = |t: f64, c: &[f64], dc: &mut [f64]| {
            let mut b = scratch.borrow_mut();
            let (x, y) = &mut *b;
            signal.at(t, x, y);
            N::rhs(p, c, x, dc);
        };
        solve(f, &vec![0.0; nc], &times, tol)?
    };

    // Augmented right-hand side in forward time: z = (c, a, G).
    struct Scratch {
        x: Vec<f64>,
        y: Vec<f64>,
        pd: Vec<Dual64>,
        cd: Vec<Dual64>,
        xd: Vec<Dual64>,
        yd: Vec<Dual64>,
        dcd: Vec<Dual64>,
        full: Vec<Dual64>,
    }
    let scratch = std::cell::RefCell::new(Scratch {
        x: vec![0.0; N::INPUT],
        y: vec![0.0; N::OUTPUT],
        pd: p.iter().map(|&v| Dual64::from(v)).collect(),
        cd: vec![Dual64::from(0.0); nc],
        xd: vec![Dual64::from(0.0); N::INPUT],
        yd: vec![Dual64::from(0.0); N::OUTPUT],
        dcd: vec![Dual64::from(0.0); nc],
        full: vec![Dual64::from(0.0); N::STATE],
    });
    let betad = Dual64::from(beta);
    let f = |t: f64, z: &[f64], dz: &mut [f64]| {
        let mut s = scratch.borrow_mut();
        let s = &mut *s;
        let (c, a) = (&z[..nc], &z[nc..2 * nc]);
        signal.at(t, &mut s.x, &mut s.y);
        N::rhs(p, c, &s.x, &mut dz[..nc]);
        for (d, &v) in s.xd.iter_mut().zip(&s.x) {
            *d = Dual64::from(v);
        }
        for (d, &v) in s.yd.iter_mut().zip(&s.y) {
            *d = Dual64::from(v);
        }
        for (d, &v) in s.cd.iter_mut().zip(c) {
            *d = Dual64::from(v);
        }
        // One dual pass per state entry j: column j of ∂F/∂c and ∂g/∂c_j.
        for j in 0..nc {
            s.cd[j].eps = 1.0;
            N::rhs(&s.pd, &s.cd, &s.xd, &mut s.dcd);
            let jta: f64 = s.dcd.iter().zip(a).map(|(f, a)| f.eps * a).sum();
            let g = betad * loss_density::<N, Dual64>(&s.pd, &s.cd, &s.xd, &s.yd, &mut s.full);
            dz[nc + j] = -jta - g.eps;
            s.cd[j].eps = 0.0;
        }
        // One dual pass per checked parameter entry i: ∂F/∂θ_i and ∂g/∂θ_i.
        for (m, &i) in indices.iter().enumerate() {
            s.pd[i].eps = 1.0;
            N::rhs(&s.pd, &s.cd, &s.xd, &mut s.dcd);
            let jta: f64 = s.dcd.iter().zip(a).map(|(f, a)| f.eps * a).sum();
            let g = betad * loss_density::<N, Dual64>(&s.pd, &s.cd, &s.xd, &s.yd, &mut s.full);
            dz[2 * nc + m] = -(jta + g.eps);
            s.pd[i].eps = 0.0;
        }
    };

    let dim = 2 * nc + ni;
    let mut z = vec![0.0; dim];
    for kk in (0..k).rev() {
        z[..nc].copy_from_slice(&fwd[(kk + 1) * nc..(kk + 2) * nc]);
        let out = solve_reversed(f, &z, &times[kk..kk + 2], tol)?;
        z.copy_from_slice(&out[..dim]);
    }
    Ok(AdjointReference {
        grad: z[2 * nc..].to_vec(),
        costate_t0: z[nc..2 * nc].to_vec(),
        checkpoints: k,
    })
}
