//! A hand-written network for testing vle-verify without `vle_model!`.
//!
//! `Bank<K, BUG>`: K independent leaky neurons driven by one input,
//! `τm u̇ = W x + b − u`, prospective `ŭ = u + τr u̇`, output `r = (1/K) Σ tanh(ŭ_i)`,
//! loss `ℓ = ½ (r − y)²`. Discrete state: `u` (K entries) then `ŭ` (K entries); one Euler step
//! `ŭ' = u + τr u̇`, `u' = u + dt u̇` with `u̇` from the old `u`. Every kernel, including the
//! adjoints, is derived by hand below. With `BUG = true` the discrete adjoint's `τr` gradient
//! of neuron 0 is off by a relative 1e-6, which the checks must catch.
#![allow(dead_code)]

use vle_runtime::{Derivation, LayerInfo, Network, ParamInfo, ParamKind, Scalar};

pub struct Bank<const K: usize, const BUG: bool>;

pub type Small = Bank<1, false>;
pub type Buggy = Bank<1, true>;
pub type Wide = Bank<40, false>;

static DERIVATION: Derivation = Derivation {
    text: "hand-written test network",
    latex: "",
};

#[allow(clippy::too_many_arguments)]
const fn info(
    name: &'static str,
    symbol: &'static str,
    kind: ParamKind,
    offset: usize,
    k: usize,
    cols: usize,
    time_constant: bool,
    defaults: &'static [f64],
) -> ParamInfo {
    ParamInfo {
        name,
        layer: "n",
        symbol,
        kind,
        offset,
        rows: k,
        cols,
        learnable: true,
        time_constant,
        defaults,
    }
}

impl<const K: usize, const BUG: bool> Bank<K, BUG> {
    fn drive<T: Scalar>(p: &[T], u: T, x: &[T], i: usize) -> T {
        (p[i] * x[0] + p[K + i] - u) / p[2 * K + i]
    }
    fn rate<T: Scalar>(state: &[T]) -> T {
        let mut r = T::zero();
        for i in 0..K {
            r += state[K + i].tanh();
        }
        r / T::from_f64(K as f64)
    }
}

impl<const K: usize, const BUG: bool> Network for Bank<K, BUG> {
    const NAME: &'static str = if BUG { "BuggyBank" } else { "Bank" };
    const INPUT: usize = 1;
    const OUTPUT: usize = 1;
    const PARAMS: usize = 4 * K;
    const STATE: usize = 2 * K;
    const CONT: usize = K;
    const LOCAL: usize = K;
    const NEURONS: usize = K;

    fn param_info() -> &'static [ParamInfo] {
        const {
            &[
                info(
                    "n.W<-x",
                    "W",
                    ParamKind::Weight {
                        pre: "x",
                        recurrent: false,
                    },
                    0,
                    K,
                    1,
                    false,
                    &[],
                ),
                info("n.b", "b", ParamKind::Bias, K, K, 1, false, &[]),
                info(
                    "n.tau_m",
                    "tau_m",
                    ParamKind::Neuron,
                    2 * K,
                    K,
                    1,
                    true,
                    &[1.0],
                ),
                info(
                    "n.tau_r",
                    "tau_r",
                    ParamKind::Neuron,
                    3 * K,
                    K,
                    1,
                    true,
                    &[0.3],
                ),
            ]
        }
    }
    fn layer_info() -> &'static [LayerInfo] {
        const {
            &[LayerInfo {
                name: "n",
                size: K,
                neuron: "Leaky",
                states: &[("u", 0)],
                prospective_offset: K,
                local_error_offset: 0,
                adjoint_error_offset: 0,
            }]
        }
    }
    fn derivation() -> &'static Derivation {
        &DERIVATION
    }

    fn output<T: Scalar>(_p: &[T], state: &[T], r: &mut [T]) {
        r[0] = Self::rate(state);
    }

    fn loss<T: Scalar>(_p: &[T], state: &[T], y: &[T]) -> T {
        let d = Self::rate(state) - y[0];
        T::from_f64(0.5) * d * d
    }

    fn loss_adjoint<T: Scalar>(
        _p: &[T],
        state: &[T],
        y: &[T],
        scale: T,
        adj: &mut [T],
        _grad: &mut [T],
    ) -> T {
        let d = Self::rate(state) - y[0];
        for i in 0..K {
            let t = state[K + i].tanh();
            adj[K + i] += scale * d * (T::one() - t * t) / T::from_f64(K as f64);
        }
        T::from_f64(0.5) * d * d
    }

    fn euler_step<T: Scalar>(p: &[T], state: &mut [T], x: &[T], dt: T) {
        for i in 0..K {
            let u = state[i];
            let du = Self::drive(p, u, x, i);
            state[K + i] = u + p[3 * K + i] * du;
            state[i] = u + dt * du;
        }
    }

    fn euler_step_adjoint<T: Scalar>(
        p: &[T],
        state: &[T],
        x: &[T],
        dt: T,
        adj_next: &[T],
        adj_prev: &mut [T],
        grad: &mut [T],
    ) {
        for i in 0..K {
            let (tm, tr) = (p[2 * K + i], p[3 * K + i]);
            let du = Self::drive(p, state[i], x, i);
            let (au, ap) = (adj_next[i], adj_next[K + i]);
            let gdu = au * dt + ap * tr;
            adj_prev[i] = au + ap - gdu / tm;
            // The next state does not read the carried prospective value.
            adj_prev[K + i] = T::zero();
            grad[i] += gdu * x[0] / tm;
            grad[K + i] += gdu / tm;
            grad[2 * K + i] -= gdu * du / tm;
            let bug = if BUG && i == 0 { 1.0 + 1e-6 } else { 1.0 };
            grad[3 * K + i] += ap * du * T::from_f64(bug);
        }
    }

    fn rhs<T: Scalar>(p: &[T], c: &[T], x: &[T], dc: &mut [T]) {
        for i in 0..K {
            dc[i] = Self::drive(p, c[i], x, i);
        }
    }

    fn refresh_prospective<T: Scalar>(p: &[T], state: &mut [T], x: &[T]) {
        for i in 0..K {
            state[K + i] = state[i] + p[3 * K + i] * Self::drive(p, state[i], x, i);
        }
    }

    #[allow(clippy::too_many_arguments)]
    fn adjoint_rhs<T: Scalar>(
        p: &[T],
        c: &[T],
        x: &[T],
        y: &[T],
        beta: T,
        costate: &[T],
        dcostate: &mut [T],
        errors: &mut [T],
        grad_density: &mut [T],
    ) {
        let mut full = vec![T::zero(); 2 * K];
        full[..K].copy_from_slice(&c[..K]);
        Self::refresh_prospective(p, &mut full, x);
        let d = Self::rate(&full) - y[0];
        for i in 0..K {
            let (tm, tr) = (p[2 * K + i], p[3 * K + i]);
            let f = Self::drive(p, c[i], x, i);
            let t = full[K + i].tanh();
            let delta = beta * d * (T::one() - t * t) / T::from_f64(K as f64);
            let a = costate[i];
            dcostate[i] = a / tm - delta * (T::one() - tr / tm);
            let s = a + delta * tr;
            errors[i] = -s / tm;
            grad_density[i] = s * x[0] / tm;
            grad_density[K + i] = s / tm;
            grad_density[2 * K + i] = -s * f / tm;
            grad_density[3 * K + i] = delta * f;
        }
    }

    #[allow(clippy::too_many_arguments)]
    fn online_step<T: Scalar>(
        p: &[T],
        state: &mut [T],
        local: &mut [T],
        x: &[T],
        y: &[T],
        beta: T,
        gamma: T,
        dt: T,
        grad: &mut [T],
    ) {
        let d = Self::rate(state) - y[0];
        for i in 0..K {
            let t = state[K + i].tanh();
            let delta = beta * d * (T::one() - t * t) / T::from_f64(K as f64);
            local[i] = -delta;
            let (u, tm, tr) = (state[i], p[2 * K + i], p[3 * K + i]);
            let du = (p[i] * x[0] + p[K + i] + gamma * local[i] - u) / tm;
            grad[i] += dt * delta * x[0];
            grad[K + i] += dt * delta;
            grad[2 * K + i] -= dt * delta * du;
            grad[3 * K + i] += dt * delta * du;
            state[K + i] = u + tr * du;
            state[i] = u + dt * du;
        }
    }
}
