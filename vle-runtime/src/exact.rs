//! The exact discrete gradient over a window: backpropagation through the Euler steps.
//!
//! Window of N steps from `state_0`: `state_{n+1} = euler_step(state_n, x_n)` with
//! `x_n = x(t0 + n·dt)`, and the loss L = β·dt·Σ_{n=1..N} ℓ(state_n, y_n), `y_n = y(t0 + n·dt)`.
//! Slices: `xs` holds x_0..x_{N-1} (`N × INPUT`), `ys` holds y_1..y_N (`N × OUTPUT`).

use std::marker::PhantomData;

use crate::error::{check_len, Error, Result};
use crate::params::{check_finite_params, validate_params};
use crate::signal::Signal;
use crate::sim::{check_finite_data, check_finite_states, to_scalars};
use crate::{Network, Scalar};

/// How the forward states are kept for the backward sweep.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Tape {
    /// Every state: `N × STATE` memory, no recomputation; generated networks also keep each
    /// step's synaptic inputs (`N × SYNAPTIC_INPUTS` more, about half of it), which the
    /// backward sweep reads instead of recomputing one product per projection.
    Full,
    /// Every k-th state; segments are recomputed in the backward sweep (about `N/k + k`
    /// states of memory, one extra forward pass). `Checkpoint(0)` means k = ⌈√N⌉.
    Checkpoint(usize),
}

/// Inputs and targets of one window sampled from a signal (f64): `xs[n] = x(t0 + n·dt)`,
/// `ys[n] = y(t0 + (n+1)·dt)` for n = 0..steps-1.
#[derive(Clone, Debug, PartialEq)]
pub struct Window {
    /// Number of Euler steps N.
    pub steps: usize,
    /// Inputs x_0..x_{N-1}, `steps × input_dim` (step-major).
    pub xs: Vec<f64>,
    /// Targets y_1..y_N, `steps × target_dim` (step-major): the target of the state after
    /// each step.
    pub ys: Vec<f64>,
}

impl Window {
    /// Samples `steps` steps of `signal` from `t0` with step `dt`. The widths are the
    /// signal's `input_dim()` and `target_dim()`; nothing is checked here.
    pub fn sample<S: Signal + ?Sized>(signal: &S, t0: f64, dt: f64, steps: usize) -> Self {
        let (di, dy) = (signal.input_dim(), signal.target_dim());
        let mut xs = vec![0.0; steps * di];
        let mut ys = vec![0.0; steps * dy];
        let mut scratch_x = vec![0.0; di];
        let mut scratch_y = vec![0.0; dy];
        for n in 0..steps {
            let t = t0 + n as f64 * dt;
            signal.at(t, &mut xs[n * di..(n + 1) * di], &mut scratch_y);
            let t1 = t0 + (n + 1) as f64 * dt;
            signal.at(t1, &mut scratch_x, &mut ys[n * dy..(n + 1) * dy]);
        }
        Window { steps, xs, ys }
    }

    /// The window in scalar type `T`: `(xs, ys)`.
    pub fn to_scalars<T: Scalar>(&self) -> (Vec<T>, Vec<T>) {
        let conv = |v: &[f64]| v.iter().map(|&x| T::from_f64(x)).collect();
        (conv(&self.xs), conv(&self.ys))
    }
}

/// The discrete loss of a window; `state` goes from `state_0` to `state_N`. Checks what
/// [`Bptt::gradient`] checks (lengths, [`validate_params`] on `p` and `dt`, finite `beta`,
/// state, inputs and targets) before the first step, then [`Error::NonFinite`] naming a state
/// that diverged (step n = the step from t_n).
pub fn discrete_loss<N: Network, T: Scalar>(
    p: &[T],
    state: &mut [T],
    xs: &[T],
    ys: &[T],
    dt: T,
    beta: T,
) -> Result<T> {
    check_len("the state", N::STATE, state.len())?;
    let steps = check_window::<N, T>(p, state, xs, ys, dt, beta)?;
    let mut sum = T::zero();
    for n in 0..steps {
        N::euler_step(p, state, &xs[n * N::INPUT..(n + 1) * N::INPUT], dt);
        check_finite_states::<N, T>(state, N::STATE, Some(n), 0)?;
        sum += N::loss(p, state, &ys[n * N::OUTPUT..(n + 1) * N::OUTPUT]);
    }
    Ok(beta * dt * sum)
}

/// The checks of every window entry point, on `states` (`B × STATE`), `xs` (`B × steps ×
/// INPUT`) and `ys` (`B × steps × OUTPUT`): lengths, parameters and dt ([`validate_params`]),
/// a finite `beta`, then finite states, inputs and targets, each named. Returns the steps.
fn check_window<N: Network, T: Scalar>(
    p: &[T],
    states: &[T],
    xs: &[T],
    ys: &[T],
    dt: T,
    beta: T,
) -> Result<usize> {
    let nb = states.len() / N::STATE.max(1);
    check_len(
        "the batch of states (B × STATE)",
        nb * N::STATE,
        states.len(),
    )?;
    if nb == 0 {
        return Err(Error::EmptyData {
            what: "the batch of states".into(),
        });
    }
    let (nx, ny) = (xs.len() / nb, ys.len() / nb);
    check_len("the batch of inputs (B × steps × INPUT)", nb * nx, xs.len())?;
    check_len(
        "the batch of targets (B × steps × OUTPUT)",
        nb * ny,
        ys.len(),
    )?;
    let steps = window_steps::<N, T>(&xs[..nx], &ys[..ny])?;
    validate_params::<N, T>(p, dt.to_f64())?;
    let b = beta.to_f64();
    if !b.is_finite() {
        return Err(Error::InvalidHyperParameter {
            name: "beta".into(),
            value: b,
            expected: "a finite weight of the loss".into(),
        });
    }
    check_finite_states::<N, T>(states, N::STATE, None, 0)?;
    check_finite_data(xs, "input", N::INPUT, steps, Some(0), 0)?;
    check_finite_data(ys, "target", N::OUTPUT, steps, Some(0), 0)?;
    Ok(steps)
}

/// Buffers of the backward sweep, reusable across windows.
pub struct Bptt<N: Network, T: Scalar> {
    tape: Vec<T>,
    segment: Vec<T>,
    adj: Vec<T>,
    adj_prev: Vec<T>,
    x_step: Vec<T>,
    scratch: Vec<T>,
    /// Deferred weight-gradient factors of up to `slots` reverse steps (see
    /// [`Network::euler_step_adjoint_batch_deferred`]).
    terms: Vec<T>,
    /// Synaptic inputs of every step of the window (full tape only), read by the reverse
    /// steps instead of recomputing the forward products.
    inputs: Vec<T>,
    _n: PhantomData<N>,
}

/// Samples (steps × batch) whose weight-gradient factors the backward sweep collects before
/// one matrix product adds them: with fewer per step than this, one rank-`batch` update per
/// step would stream the whole gradient through the cache every step; at this size the
/// factors of a slot stay in L2 (`WEIGHT_TERMS` ≈ 2 × neurons entries per sample).
const DEFER_SAMPLES: usize = 128;

impl<N: Network, T: Scalar> Default for Bptt<N, T> {
    fn default() -> Self {
        Self::new()
    }
}

fn window_steps<N: Network, T>(xs: &[T], ys: &[T]) -> Result<usize> {
    let steps = xs
        .len()
        .checked_div(N::INPUT)
        .unwrap_or(ys.len() / N::OUTPUT.max(1));
    check_len(
        "the window's inputs xs (steps × INPUT)",
        steps * N::INPUT,
        xs.len(),
    )?;
    check_len(
        "the window's targets ys (steps × OUTPUT)",
        steps * N::OUTPUT,
        ys.len(),
    )?;
    if steps == 0 {
        return Err(Error::EmptyData {
            what: "the window (zero steps)".into(),
        });
    }
    Ok(steps)
}

impl<N: Network, T: Scalar> Bptt<N, T> {
    /// Empty buffers; they grow to the window (and batch) on the first call and are reused.
    pub fn new() -> Self {
        Bptt {
            tape: Vec::new(),
            segment: Vec::new(),
            adj: vec![T::zero(); N::STATE],
            adj_prev: vec![T::zero(); N::STATE],
            x_step: Vec::new(),
            scratch: Vec::new(),
            terms: Vec::new(),
            inputs: Vec::new(),
            _n: PhantomData,
        }
    }

    /// Loss of the window from `state` (left at `state_N`) and its exact gradient, *added*
    /// into `grad`. Errors, before the first step: [`Error::Length`] for a wrong slice,
    /// [`validate_params`] (parameters, dt against every time constant), a non-finite `beta`,
    /// [`Error::NonFinite`] naming a non-finite state passed in or input `x[i]` / target
    /// `y[i]` (step, sample); after a step: [`Error::NonFinite`] naming the first non-finite
    /// state (step n = the step from t_n).
    #[allow(clippy::too_many_arguments)]
    pub fn gradient(
        &mut self,
        p: &[T],
        state: &mut [T],
        xs: &[T],
        ys: &[T],
        dt: T,
        beta: T,
        tape: Tape,
        grad: &mut [T],
    ) -> Result<T> {
        check_len("the state", N::STATE, state.len())?;
        // One sample is a batch of one: the batch kernels fall back to the per-sample ones.
        self.gradient_batch(p, state, xs, ys, dt, beta, tape, grad)
    }

    /// [`Bptt::gradient`] for a batch at once with the `*_batch` kernels (matrix products over
    /// the batch): `states` is `B × STATE` (left at the window's end), `xs` `B × steps ×
    /// INPUT` and `ys` `B × steps × OUTPUT`, sample-major. Adds the gradient *summed* over
    /// the batch into `grad` and returns the summed loss. Same tape options and memory
    /// (times B) as the per-sample sweep; equal to it up to rounding. Errors as
    /// [`Bptt::gradient`].
    #[allow(clippy::too_many_arguments)]
    pub fn gradient_batch(
        &mut self,
        p: &[T],
        states: &mut [T],
        xs: &[T],
        ys: &[T],
        dt: T,
        beta: T,
        tape: Tape,
        grad: &mut [T],
    ) -> Result<T> {
        check_len("the gradient", N::PARAMS, grad.len())?;
        let steps = check_window::<N, T>(p, states, xs, ys, dt, beta)?;
        let nb = states.len() / N::STATE.max(1);
        let (nx, ny) = (xs.len() / nb, ys.len() / nb);
        let k = match tape {
            Tape::Full => 1,
            Tape::Checkpoint(0) => (steps as f64).sqrt().ceil() as usize,
            Tape::Checkpoint(k) => k,
        };
        let s = nb * N::STATE;
        self.scratch.resize(nb * N::BATCH_SCRATCH, T::zero());
        self.x_step.resize(nb * N::INPUT, T::zero());
        // Inputs of step n for the whole batch, `B × INPUT`.
        let gather = |x_step: &mut [T], n: usize| {
            for b in 0..nb {
                let src = &xs[b * nx + n * N::INPUT..b * nx + (n + 1) * N::INPUT];
                x_step[b * N::INPUT..(b + 1) * N::INPUT].copy_from_slice(src);
            }
        };
        self.tape.clear();
        // With the full tape, the synaptic inputs go on a tape of their own (NEURONS entries
        // per sample and step against STATE for the states): the reverse steps read them
        // instead of recomputing one product per projection.
        let si = if k == 1 { nb * N::SYNAPTIC_INPUTS } else { 0 };
        self.inputs.resize(steps * si, T::zero());
        for n in 0..steps {
            if n % k == 0 {
                self.tape.extend_from_slice(states);
            }
            gather(&mut self.x_step, n);
            let inputs = &mut self.inputs[n * si..(n + 1) * si];
            N::euler_step_batch_recorded(
                p,
                states,
                &self.x_step,
                dt,
                nb,
                &mut self.scratch,
                inputs,
            );
            check_finite_states::<N, T>(states, N::STATE, Some(n), 0)?;
        }
        let scale = beta * dt;
        let mut sum = T::zero();
        // Weight gradients of `slots` steps at a time as one product (none at large batches,
        // where every step's update is already a product over the batch).
        let slots = match (DEFER_SAMPLES / nb).min(steps) {
            s if s > 1 && N::WEIGHT_TERMS > 0 => s,
            _ => 0,
        };
        self.terms.resize(slots * nb * N::WEIGHT_TERMS, T::zero());
        let mut defer = Defer {
            terms: &mut self.terms,
            filled: 0,
            slots,
            nb,
        };
        self.adj.clear();
        self.adj.resize(s, T::zero());
        self.adj_prev.resize(s, T::zero());
        if k == 1 {
            // Full tape: every state is on it, read in place (no segment copies).
            for n in (0..steps).rev() {
                let next = match n + 1 == steps {
                    true => &*states,
                    false => &self.tape[(n + 1) * s..(n + 2) * s],
                };
                gather(&mut self.x_step, n);
                sum += reverse_step::<N, T>(
                    p,
                    (&self.tape[n * s..(n + 1) * s], next),
                    (&self.x_step, &self.inputs[n * si..(n + 1) * si]),
                    (ys, ny, n),
                    (dt, scale),
                    (&mut self.adj, &mut self.adj_prev),
                    grad,
                    &mut self.scratch,
                    &mut defer,
                );
            }
            defer.flush::<N>(grad);
            return Ok(scale * sum);
        }
        let segments = steps.div_ceil(k);
        for j in (0..segments).rev() {
            let (start, end) = (j * k, ((j + 1) * k).min(steps));
            self.segment.clear();
            self.segment
                .extend_from_slice(&self.tape[j * s..(j + 1) * s]);
            for n in start..end - 1 {
                let i = self.segment.len() - s;
                self.segment.extend_from_within(i..i + s);
                gather(&mut self.x_step, n);
                let next = &mut self.segment[i + s..];
                N::euler_step_batch(p, next, &self.x_step, dt, nb, &mut self.scratch);
            }
            match end == steps {
                true => self.segment.extend_from_slice(states),
                false => self
                    .segment
                    .extend_from_slice(&self.tape[(j + 1) * s..(j + 2) * s]),
            }
            for n in (start..end).rev() {
                let i = n - start;
                gather(&mut self.x_step, n);
                sum += reverse_step::<N, T>(
                    p,
                    (
                        &self.segment[i * s..(i + 1) * s],
                        &self.segment[(i + 1) * s..(i + 2) * s],
                    ),
                    (&self.x_step, &[]),
                    (ys, ny, n),
                    (dt, scale),
                    (&mut self.adj, &mut self.adj_prev),
                    grad,
                    &mut self.scratch,
                    &mut defer,
                );
            }
        }
        defer.flush::<N>(grad);
        Ok(scale * sum)
    }

    /// ∂L/∂state_0 of the last [`Bptt::gradient`] call.
    pub fn initial_state_adjoint(&self) -> &[T] {
        &self.adj
    }
}

/// The deferred weight-gradient factors of the sweep: `filled` of `slots` slots used (no
/// deferral when `slots` is 0).
struct Defer<'a, T> {
    terms: &'a mut [T],
    filled: usize,
    slots: usize,
    nb: usize,
}

impl<T: Scalar> Defer<'_, T> {
    /// Adds the products of the filled slots into `grad` and empties them.
    fn flush<N: Network>(&mut self, grad: &mut [T]) {
        if self.filled > 0 {
            N::weight_grad_from_terms(self.terms, self.filled, self.slots, self.nb, grad);
            self.filled = 0;
        }
    }
}

/// One reverse step of the batched sweep at step `n`: the loss adjoint at the state after
/// the step (`next`), then the Euler step's reverse mode at the state before it (`cur`).
/// `adj` holds ∂L/∂state_{n+1} on entry and ∂L/∂state_n on return; returns the batch's loss
/// at `next` (unscaled sum).
#[allow(clippy::too_many_arguments)]
fn reverse_step<N: Network, T: Scalar>(
    p: &[T],
    (cur, next): (&[T], &[T]),
    (x_step, inputs): (&[T], &[T]),
    (ys, ny, n): (&[T], usize, usize),
    (dt, scale): (T, T),
    (adj, adj_prev): (&mut Vec<T>, &mut Vec<T>),
    grad: &mut [T],
    scratch: &mut [T],
    defer: &mut Defer<'_, T>,
) -> T {
    let nb = cur.len() / N::STATE.max(1);
    let mut sum = T::zero();
    for b in 0..nb {
        let y = &ys[b * ny + n * N::OUTPUT..b * ny + (n + 1) * N::OUTPUT];
        let st = &next[b * N::STATE..(b + 1) * N::STATE];
        let a = &mut adj[b * N::STATE..(b + 1) * N::STATE];
        sum += N::loss_adjoint(p, st, y, scale, a, grad);
    }
    // The kernels overwrite every entry (`Network::euler_step_adjoint`'s contract); debug
    // builds poison the buffer, so a kernel that adds into it or skips an entry turns the
    // gradient into NaN in tests instead of silently summing.
    if cfg!(debug_assertions) {
        adj_prev.fill(T::from_f64(f64::NAN));
    }
    let terms = (&mut *defer.terms, defer.filled, defer.slots);
    N::euler_step_adjoint_batch_deferred(
        p,
        cur,
        x_step,
        dt,
        (adj, adj_prev),
        grad,
        nb,
        scratch,
        inputs,
        terms,
    );
    if defer.slots > 0 {
        defer.filled += 1;
        if defer.filled == defer.slots {
            defer.flush::<N>(grad);
        }
    }
    std::mem::swap(adj, adj_prev);
    sum
}

/// Loss and exact gradient of one window from the zero state (convenience for tests and
/// small problems). Non-learnable entries are *not* zeroed: see
/// [`crate::params::zero_non_learnable`]. Errors as [`Bptt::gradient`].
pub fn exact_gradient<N: Network, T: Scalar>(
    p: &[T],
    xs: &[T],
    ys: &[T],
    dt: T,
    beta: T,
    tape: Tape,
) -> Result<(T, Vec<T>)> {
    let mut grad = vec![T::zero(); N::PARAMS];
    let mut state = vec![T::zero(); N::STATE];
    let loss = Bptt::<N, T>::new().gradient(p, &mut state, xs, ys, dt, beta, tape, &mut grad)?;
    check_finite_params::<N, T>(&grad, "gradient", None)?;
    Ok((loss, grad))
}

/// Batch version: `states` (`B × STATE`, left at the window's end), `xs` (`B × N × INPUT`),
/// `ys` (`B × N × OUTPUT`), sample-major. Writes the batch-mean gradient into `grad`
/// (overwritten) and returns the batch-mean loss. Errors as [`Bptt::gradient`].
#[allow(clippy::too_many_arguments)]
pub fn batch_gradient<N: Network, T: Scalar>(
    bptt: &mut Bptt<N, T>,
    p: &[T],
    states: &mut [T],
    xs: &[T],
    ys: &[T],
    dt: T,
    beta: T,
    tape: Tape,
    grad: &mut [T],
) -> Result<T> {
    let batch = states.len() / N::STATE.max(1);
    if batch == 0 {
        return Err(Error::EmptyData {
            what: "the batch of states".into(),
        });
    }
    check_len(
        "the batch of states (B × STATE)",
        batch * N::STATE,
        states.len(),
    )?;
    let (nx, ny) = (xs.len() / batch, ys.len() / batch);
    check_len(
        "the batch of inputs (B × steps × INPUT)",
        batch * nx,
        xs.len(),
    )?;
    check_len(
        "the batch of targets (B × steps × OUTPUT)",
        batch * ny,
        ys.len(),
    )?;
    check_len("the gradient", N::PARAMS, grad.len())?;
    grad.iter_mut().for_each(|g| *g = T::zero());
    let loss = bptt.gradient_batch(p, states, xs, ys, dt, beta, tape, grad)?;
    let inv = T::one() / T::from_f64(batch as f64);
    grad.iter_mut().for_each(|g| *g *= inv);
    Ok(loss * inv)
}

/// Samples a window from `signal` in scalar type `T` (see [`Window`]; nothing is checked here:
/// the entry points that integrate the window check it).
pub fn sample_window<T: Scalar, S: Signal + ?Sized>(
    signal: &S,
    t0: f64,
    dt: f64,
    steps: usize,
    xs: &mut Vec<T>,
    ys: &mut Vec<T>,
) {
    let w = Window::sample(signal, t0, dt, steps);
    xs.resize(w.xs.len(), T::zero());
    ys.resize(w.ys.len(), T::zero());
    to_scalars(&w.xs, xs);
    to_scalars(&w.ys, ys);
}
