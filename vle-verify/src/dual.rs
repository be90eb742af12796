//! Forward-mode reference of the exact discrete gradient.
//!
//! The discrete loss of a window (the convention of [`vle_runtime::exact::discrete_loss`]):
//! from the zero state, `state_{n+1} = euler_step(state_n, x_n)` for n = 0..N-1 and
//!
//! ```text
//! L = β·dt·Σ_{n=1..N} ℓ(state_n, y_n),   xs[n] = x(t_n),   ys[n] = y(t_{n+1}).
//! ```
//!
//! To differentiate L with respect to one parameter entry θ_k, the same forward is run with
//! the scalar type `num_dual::Dual64`, every parameter a constant except θ_k, whose dual part
//! is 1: the dual part of L is then dL/dθ_k, exact to rounding. Only [`Network::euler_step`]
//! and [`Network::loss`] are called, so the reference owes nothing to the generated
//! derivative code (the adjoint kernels); it does rely on the generated *forward* kernels and
//! on the `Scalar` implementation of `Dual64` (which `vle-runtime` tests against finite
//! differences).

use num_dual::Dual64;
use vle_runtime::{Network, Rng, Scalar};

/// The discrete loss of a window from the zero state, in any scalar type. Written here (not
/// borrowed from the runtime) so that the reference is independent of the code it checks;
/// the tests of this crate check that it equals [`vle_runtime::exact::discrete_loss`].
pub fn window_loss<N: Network, T: Scalar>(p: &[T], xs: &[T], ys: &[T], dt: T, beta: T) -> T {
    let steps = window_steps::<N>(xs.len(), ys.len());
    let mut state = vec![T::zero(); N::STATE];
    let mut sum = T::zero();
    for n in 0..steps {
        N::euler_step(p, &mut state, &xs[n * N::INPUT..(n + 1) * N::INPUT], dt);
        sum += N::loss(p, &state, &ys[n * N::OUTPUT..(n + 1) * N::OUTPUT]);
    }
    beta * dt * sum
}

/// Number of steps of a window with `nx` input values and `ny` target values.
pub(crate) fn window_steps<N: Network>(nx: usize, ny: usize) -> usize {
    match N::INPUT {
        0 => ny / N::OUTPUT.max(1),
        i => nx / i,
    }
}

/// The loss L and dL/dθ_`index` of a window (f64 data), by one forward run in dual numbers.
pub fn dual_derivative<N: Network>(
    p: &[f64],
    xs: &[f64],
    ys: &[f64],
    dt: f64,
    beta: f64,
    index: usize,
) -> (f64, f64) {
    assert!(
        index < p.len(),
        "dual_derivative: entry {index} is outside the parameter vector (length {})",
        p.len()
    );
    let pd: Vec<Dual64> = p
        .iter()
        .enumerate()
        .map(|(i, &v)| Dual64::new(v, if i == index { 1.0 } else { 0.0 }))
        .collect();
    let conv = |v: &[f64]| -> Vec<Dual64> { v.iter().map(|&x| Dual64::from(x)).collect() };
    let l = window_loss::<N, Dual64>(
        &pd,
        &conv(xs),
        &conv(ys),
        Dual64::from(dt),
        Dual64::from(beta),
    );
    (l.re, l.eps)
}

/// dL/dθ_i for every `i` in `indices` (one dual run each), and the loss.
pub fn dual_gradient<N: Network>(
    p: &[f64],
    xs: &[f64],
    ys: &[f64],
    dt: f64,
    beta: f64,
    indices: &[usize],
) -> (f64, Vec<f64>) {
    let loss = window_loss::<N, f64>(p, xs, ys, dt, beta);
    let grad = indices
        .iter()
        .map(|&i| dual_derivative::<N>(p, xs, ys, dt, beta, i).1)
        .collect();
    (loss, grad)
}

/// The flat indices of the learnable entries to check: every entry of a learnable tensor with
/// at most `max_per_tensor` entries, otherwise `max_per_tensor` distinct entries drawn with a
/// generator seeded by `seed` (always including the first and the last entry). Sorted.
pub fn entries_to_check<N: Network>(max_per_tensor: usize, seed: u64) -> Vec<usize> {
    let mut rng = Rng::new(seed ^ 0x05EE_D0FE_17E5_u64);
    let mut out = Vec::new();
    for info in N::param_info().iter().filter(|i| i.learnable) {
        let r = info.range();
        if info.len() <= max_per_tensor.max(2) {
            out.extend(r);
            continue;
        }
        let k = max_per_tensor.max(2);
        let mut inner: Vec<usize> = (r.start + 1..r.end - 1).collect();
        rng.shuffle(&mut inner);
        out.push(r.start);
        out.push(r.end - 1);
        out.extend_from_slice(&inner[..k - 2]);
    }
    out.sort_unstable();
    out
}
