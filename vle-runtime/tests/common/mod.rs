//! A hand-written network for the runtime's tests: one input, one GLE neuron (docs/theory.md §2).
//!
//!   τm u̇ = −u + w x + b,   ŭ = u + τr u̇,   r = tanh(ŭ),   ℓ = ½(r − y)²
//!
//! params [w, b, τm, τr]; discrete state [u, ŭ] (continuous state [u]); local state [v, e].
//! Euler step (GLE convention, ŭ from the same u̇ and the old u, so τr = τm gives ŭ = wx + b):
//!   a = −u + w x + b,  u̇ = a/τm,  u' = u + dt u̇,  ŭ' = u + τr u̇.
#![allow(dead_code)]

use vle_runtime::{Derivation, LayerInfo, Network, ParamInfo, ParamKind, Scalar};

pub struct Gle1;

pub const W: usize = 0;
pub const B: usize = 1;
pub const TAU_M: usize = 2;
pub const TAU_R: usize = 3;

const fn info(
    name: &'static str,
    symbol: &'static str,
    kind: ParamKind,
    offset: usize,
    learnable: bool,
    time_constant: bool,
    defaults: &'static [f64],
) -> ParamInfo {
    ParamInfo {
        name,
        layer: "out",
        symbol,
        kind,
        offset,
        rows: 1,
        cols: 1,
        learnable,
        time_constant,
        defaults,
    }
}

const WEIGHT: ParamKind = ParamKind::Weight {
    pre: "x",
    recurrent: false,
};

static PARAMS: [ParamInfo; 4] = [
    info("out.W<-x", "W", WEIGHT, 0, true, false, &[]),
    info("out.b", "b", ParamKind::Bias, 1, true, false, &[]),
    info(
        "out.tau_m",
        "tau_m",
        ParamKind::Neuron,
        2,
        true,
        true,
        &[1.0],
    ),
    info(
        "out.tau_r",
        "tau_r",
        ParamKind::Neuron,
        3,
        true,
        true,
        &[0.3],
    ),
];

static LAYERS: [LayerInfo; 1] = [LayerInfo {
    name: "out",
    size: 1,
    neuron: "gle",
    states: &[("u", 0)],
    prospective_offset: 1,
    local_error_offset: 1,
    adjoint_error_offset: 0,
}];

static DERIVATION: Derivation = Derivation {
    text: "τm u̇ = −u + w x + b; ŭ = u + τr u̇; r = tanh ŭ; P = τm e − τr ê; Ṗ = e − ê",
    latex: r"\tau_m \dot u = -u + w x + b",
};

/// Instantaneous error ê = −β φ'(ŭ) ∂ℓ/∂r and r at prospective potential `pr`.
fn top_error<T: Scalar>(pr: T, y: T, beta: T) -> T {
    let r = pr.tanh();
    -beta * (T::one() - r * r) * (r - y)
}

impl Network for Gle1 {
    const NAME: &'static str = "Gle1";
    const INPUT: usize = 1;
    const OUTPUT: usize = 1;
    const PARAMS: usize = 4;
    const STATE: usize = 2;
    const CONT: usize = 1;
    const LOCAL: usize = 2;
    const NEURONS: usize = 1;

    fn param_info() -> &'static [ParamInfo] {
        &PARAMS
    }
    fn layer_info() -> &'static [LayerInfo] {
        &LAYERS
    }
    fn derivation() -> &'static Derivation {
        &DERIVATION
    }

    fn output<T: Scalar>(_p: &[T], state: &[T], r: &mut [T]) {
        r[0] = state[1].tanh();
    }

    fn loss<T: Scalar>(_p: &[T], state: &[T], y: &[T]) -> T {
        let d = state[1].tanh() - y[0];
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
        let r = state[1].tanh();
        let d = r - y[0];
        adj[1] += scale * d * (T::one() - r * r);
        T::from_f64(0.5) * d * d
    }

    fn euler_step<T: Scalar>(p: &[T], state: &mut [T], x: &[T], dt: T) {
        let u = state[0];
        let du = (-u + p[W] * x[0] + p[B]) / p[TAU_M];
        state[0] = u + dt * du;
        state[1] = u + p[TAU_R] * du;
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
        let (tm, tr) = (p[TAU_M], p[TAU_R]);
        let a = -state[0] + p[W] * x[0] + p[B];
        let du = a / tm;
        let (uu, pp) = (adj_next[0], adj_next[1]);
        // ∂L/∂u̇ of the step.
        let g = uu * dt + pp * tr;
        adj_prev[0] = uu * (T::one() - dt / tm) + pp * (T::one() - tr / tm);
        adj_prev[1] = T::zero();
        grad[W] += g * x[0] / tm;
        grad[B] += g / tm;
        grad[TAU_M] += -g * a / (tm * tm);
        grad[TAU_R] += pp * du;
    }

    fn rhs<T: Scalar>(p: &[T], c: &[T], x: &[T], dc: &mut [T]) {
        dc[0] = (-c[0] + p[W] * x[0] + p[B]) / p[TAU_M];
    }

    fn refresh_prospective<T: Scalar>(p: &[T], state: &mut [T], x: &[T]) {
        let du = (-state[0] + p[W] * x[0] + p[B]) / p[TAU_M];
        state[1] = state[0] + p[TAU_R] * du;
    }

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
        let (tm, tr) = (p[TAU_M], p[TAU_R]);
        let du = (-c[0] + p[W] * x[0] + p[B]) / tm;
        let e_hat = top_error(c[0] + tr * du, y[0], beta);
        // P = τm e − τr ê  ⇒  e = (P + τr ê)/τm;  Ṗ = ∂𝓛/∂u = e − ê.
        let e = (costate[0] + tr * e_hat) / tm;
        dcostate[0] = e - e_hat;
        errors[0] = e;
        grad_density[W] = -e * x[0];
        grad_density[B] = -e;
        grad_density[TAU_M] = e * du;
        grad_density[TAU_R] = -e_hat * du;
    }

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
        let (tm, tr) = (p[TAU_M], p[TAU_R]);
        let e_hat = top_error(state[1], y[0], beta);
        // Error neuron: τr v̇ = −v + ê, e = v + τm v̇.
        let v = local[0];
        let dv = (e_hat - v) / tr;
        let e = v + tm * dv;
        local[0] = v + dt * dv;
        local[1] = e;
        let u = state[0];
        let du = (-u + p[W] * x[0] + p[B] + gamma * e) / tm;
        state[0] = u + dt * du;
        state[1] = u + tr * du;
        grad[W] += dt * (-e * x[0]);
        grad[B] += dt * (-e);
        grad[TAU_M] += dt * e * du;
        grad[TAU_R] += dt * (-e_hat * du);
    }
}

/// The same network with τm and τr fixed (not learnable).
pub struct Gle1FixedTau;

static PARAMS_FIXED: [ParamInfo; 4] = [
    info("out.W<-x", "W", WEIGHT, 0, true, false, &[]),
    info("out.b", "b", ParamKind::Bias, 1, true, false, &[]),
    info(
        "out.tau_m",
        "tau_m",
        ParamKind::Neuron,
        2,
        false,
        true,
        &[1.0],
    ),
    info(
        "out.tau_r",
        "tau_r",
        ParamKind::Neuron,
        3,
        false,
        true,
        &[0.3],
    ),
];

macro_rules! delegate {
    ($($f:ident($($a:ident: $t:ty),*) $(-> $r:ty)?;)*) => {
        $(fn $f<T: Scalar>($($a: $t),*) $(-> $r)? { Gle1::$f($($a),*) })*
    };
}

impl Network for Gle1FixedTau {
    const NAME: &'static str = "Gle1FixedTau";
    const INPUT: usize = 1;
    const OUTPUT: usize = 1;
    const PARAMS: usize = 4;
    const STATE: usize = 2;
    const CONT: usize = 1;
    const LOCAL: usize = 2;
    const NEURONS: usize = 1;
    fn param_info() -> &'static [ParamInfo] {
        &PARAMS_FIXED
    }
    fn layer_info() -> &'static [LayerInfo] {
        &LAYERS
    }
    fn derivation() -> &'static Derivation {
        &DERIVATION
    }
    delegate! {
        output(p: &[T], s: &[T], r: &mut [T]);
        loss(p: &[T], s: &[T], y: &[T]) -> T;
        loss_adjoint(p: &[T], s: &[T], y: &[T], k: T, a: &mut [T], g: &mut [T]) -> T;
        euler_step(p: &[T], s: &mut [T], x: &[T], dt: T);
        euler_step_adjoint(p: &[T], s: &[T], x: &[T], dt: T, an: &[T], ap: &mut [T], g: &mut [T]);
        rhs(p: &[T], c: &[T], x: &[T], dc: &mut [T]);
        refresh_prospective(p: &[T], s: &mut [T], x: &[T]);
        adjoint_rhs(p: &[T], c: &[T], x: &[T], y: &[T], b: T, k: &[T], dk: &mut [T], e: &mut [T], g: &mut [T]);
        online_step(p: &[T], s: &mut [T], l: &mut [T], x: &[T], y: &[T], b: T, gm: T, dt: T, g: &mut [T]);
    }
}

/// Parameters used by most tests: w, b, τm, τr.
pub fn params() -> Vec<f64> {
    vec![0.8, 0.1, 1.0, 0.3]
}

/// x(t) = sin(2π·0.3 t) + 0.5 sin(2π·0.7 t + 1), y(t) = 0.5 sin(2π·0.3 t − 0.5).
pub fn sines() -> vle_runtime::SumOfSines {
    vle_runtime::SumOfSines::new(vec![1.0, 0.5], vec![0.3, 0.7], vec![0.0, 1.0])
        .unwrap()
        .with_target(vle_runtime::Sines::new(vec![0.5], vec![0.3], vec![-0.5]).unwrap())
}
