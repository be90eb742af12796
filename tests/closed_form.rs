//! docs/theory.md §7: one linear GLE neuron under sinusoidal input, started in its periodic steady
//! state. The loss L = ∫₀ᵀ ½(ŭ − y)² dt over whole periods has closed-form gradients in w, τm and
//! τr (steady-state part plus the decaying transient that a perturbed parameter starts).
mod models;
use models::Linear;
use vle::continuous::continuous_adjoint;
use vle::exact::{Bptt, Tape};
use vle::params::find_param;
use vle::signal::FnSignal;
use vle::Network;

#[derive(Clone, Copy, Debug)]
struct C(f64, f64);
impl C {
    fn add(self, o: C) -> C {
        C(self.0 + o.0, self.1 + o.1)
    }
    fn sub(self, o: C) -> C {
        C(self.0 - o.0, self.1 - o.1)
    }
    fn mul(self, o: C) -> C {
        C(self.0 * o.0 - self.1 * o.1, self.0 * o.1 + self.1 * o.0)
    }
    fn div(self, o: C) -> C {
        let d = o.0 * o.0 + o.1 * o.1;
        C(
            (self.0 * o.0 + self.1 * o.1) / d,
            (self.1 * o.0 - self.0 * o.1) / d,
        )
    }
    fn conj(self) -> C {
        C(self.0, -self.1)
    }
    fn scale(self, s: f64) -> C {
        C(self.0 * s, self.1 * s)
    }
}

const W: f64 = 0.8;
const TAU_M: f64 = 1.0;
const TAU_R: f64 = 0.25;
const OMEGA: f64 = std::f64::consts::PI; // period 2
const AMP: f64 = 0.6;
const PHASE: f64 = 0.4;
const PERIODS: usize = 6;

/// (dL/dw, dL/dτm, dL/dτr) in closed form, and the initial membrane potential u(0).
fn closed_form() -> ([f64; 3], f64) {
    let iw = C(0.0, OMEGA);
    let one = C(1.0, 0.0);
    let den_m = one.add(iw.scale(TAU_M));
    let num_r = one.add(iw.scale(TAU_R));
    let u = C(W, 0.0).div(den_m); // x = Im(e^{iωt})
    let ub = num_r.mul(u);
    let y = C(AMP * PHASE.cos(), AMP * PHASE.sin());
    let d = ub.sub(y);
    let t_end = PERIODS as f64 * 2.0 * std::f64::consts::PI / OMEGA;
    // ∂U/∂θ and ∂Ŭ/∂θ for θ = w, τm, τr.
    let u_w = one.div(den_m);
    let u_m = C(-W, 0.0).mul(iw).div(den_m.mul(den_m));
    let u_th = [u_w, u_m, C(0.0, 0.0)];
    let ub_th = [num_r.mul(u_w), num_r.mul(u_m), iw.mul(u)];
    // ∫₀ᵀ Im(D e^{iωt}) e^{−t/τm} dt over whole periods.
    let a = C(-1.0 / TAU_M, OMEGA);
    let transient = d.mul(C((-t_end / TAU_M).exp() - 1.0, 0.0)).div(a).1;
    let mut g = [0.0; 3];
    for k in 0..3 {
        let steady = 0.5 * t_end * d.mul(ub_th[k].conj()).0;
        g[k] = steady - u_th[k].1 * (1.0 - TAU_R / TAU_M) * transient;
    }
    (g, u.1)
}

fn params() -> Vec<f64> {
    let mut p = vec![0.0; Linear::PARAMS];
    p[find_param::<Linear>("out.W<-x").unwrap().offset] = W;
    p[find_param::<Linear>("out.tau_m").unwrap().offset] = TAU_M;
    p[find_param::<Linear>("out.tau_r").unwrap().offset] = TAU_R;
    p
}

fn entries(g: &[f64]) -> [f64; 3] {
    let at = |n: &str| g[find_param::<Linear>(n).unwrap().offset];
    [at("out.W<-x"), at("out.tau_m"), at("out.tau_r")]
}

fn signal() -> impl vle::signal::Signal {
    FnSignal::new(
        1,
        1,
        |t: f64, x: &mut [f64]| x[0] = (OMEGA * t).sin(),
        |t: f64, y: &mut [f64]| y[0] = AMP * (OMEGA * t + PHASE).sin(),
    )
}

#[test]
fn continuous_adjoint_matches_the_closed_form_at_fourth_order() {
    let (reference, u0) = closed_form();
    let p = params();
    let mut errs = Vec::new();
    for &dt in &[0.04, 0.02, 0.01] {
        let steps = (PERIODS as f64 * 2.0 / dt).round() as usize;
        let sweep =
            continuous_adjoint::<Linear, f64, _>(&p, &signal(), Some(&[u0]), 0.0, dt, steps, 1.0)
                .unwrap();
        let got = entries(&sweep.grad);
        let e = (0..3)
            .map(|k| ((got[k] - reference[k]) / reference[k]).abs())
            .fold(0.0, f64::max);
        errs.push(e);
    }
    eprintln!("closed form {reference:?}; relative errors at dt = 0.04, 0.02, 0.01: {errs:?}");
    // RK4 forward and backward sweeps: the error falls 16× per halving of dt; at dt = 0.01
    // (ωdt ≈ 0.03) it is far below 1e-6.
    for w in errs.windows(2) {
        let ratio = w[0] / w[1];
        assert!(
            (12.0..20.0).contains(&ratio),
            "errors {errs:?}: ratio {ratio}"
        );
    }
    assert!(errs[2] < 1e-6, "errors {errs:?}");
}

#[test]
fn discrete_gradient_converges_to_the_closed_form_at_first_order() {
    let (reference, u0) = closed_form();
    let p = params();
    let mut errs = Vec::new();
    for &dt in &[0.02, 0.01, 0.005] {
        let steps = (PERIODS as f64 * 2.0 / dt).round() as usize;
        let mut xs = vec![0.0; steps];
        let mut ys = vec![0.0; steps];
        for n in 0..steps {
            xs[n] = (OMEGA * n as f64 * dt).sin();
            ys[n] = AMP * (OMEGA * (n + 1) as f64 * dt + PHASE).sin();
        }
        let mut state = vec![0.0; Linear::STATE];
        state[0] = u0;
        Linear::refresh_prospective(&p, &mut state, &xs[..1]);
        let mut grad = vec![0.0; Linear::PARAMS];
        Bptt::<Linear, f64>::new()
            .gradient(&p, &mut state, &xs, &ys, dt, 1.0, Tape::Full, &mut grad)
            .unwrap();
        let got = entries(&grad);
        // Relative to the largest component: dL/dw is small here by cancellation.
        let scale = reference.iter().fold(0.0f64, |m, v| m.max(v.abs()));
        let e: f64 = (0..3)
            .map(|k| (got[k] - reference[k]).abs() / scale)
            .fold(0.0, f64::max);
        errs.push(e);
    }
    eprintln!("relative errors of the discrete gradient at dt = 0.02, 0.01, 0.005: {errs:?}");
    // Explicit Euler: the error halves with dt (ratio 2 up to O(dt) corrections).
    for w in errs.windows(2) {
        let ratio = w[0] / w[1];
        assert!(
            (1.8..2.2).contains(&ratio),
            "errors {errs:?}: ratio {ratio}"
        );
    }
}
