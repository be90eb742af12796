//! The Dopri5 references of the continuous problem (`vle_verify::reference`) and the
//! convergence checks built on them, on the hand-written network of `tests/common`.

mod common;

use common::Small;
use vle_runtime::{continuous_adjoint, Derivation, LayerInfo, Network, ParamInfo, Scalar};
use vle_verify::check::{case_params, case_signal};
use vle_verify::ode::Tolerance;
use vle_verify::reference::{
    adjoint_reference, default_checkpoints, euler_outputs, fd_ode_loss, forward_convergence,
    forward_outputs, forward_states, ode_loss,
};
use vle_verify::signals::{Channel, Stimulus, Wave};
use vle_verify::FailureKind;

type Bank3 = common::Bank<3, false>;

#[test]
fn euler_forward_converges_at_first_order_to_the_dopri5_solution() {
    let (dt, steps) = (0.01, 150);
    let p = case_params::<Bank3>(2, dt);
    let s = case_signal::<Bank3>(2);
    let c = forward_convergence::<Bank3, _>(&p, &s, 0.0, dt, steps, 4, Tolerance::TIGHT).unwrap();
    // e(h) = C·h + O(h²): the observed order tends to 1 (measured 0.9999–1.0001).
    for q in c.orders() {
        assert!((q - 1.0).abs() < 0.05, "{c:?}");
    }
    // The reference itself: Dopri5 at the grid, row 0 is the zero state, and the Euler
    // output after n steps is close to it.
    let states = forward_states::<Bank3, _>(&p, &s, 0.0, dt, steps, Tolerance::TIGHT).unwrap();
    assert_eq!(states.len(), (steps + 1) * Bank3::CONT);
    assert!(states[..Bank3::CONT].iter().all(|&v| v == 0.0));
    let r = forward_outputs::<Bank3, _>(&p, &s, 0.0, dt, &states);
    let e = euler_outputs::<Bank3, _>(&p, &s, 0.0, dt, steps);
    let scale = r.iter().fold(0.0f64, |m, v| m.max(v.abs()));
    // The Euler error at dt = 0.01 is a few per cent of the output's range (c.errors[0]).
    assert!((r[steps] - e[steps]).abs() <= c.errors[0] * scale * (1.0 + 1e-12));
}

#[test]
fn numerical_adjoint_matches_finite_differences_and_the_hand_written_adjoint() {
    let (dt, steps, beta) = (0.01, 200, 0.8);
    let span = dt * steps as f64;
    let p = case_params::<Bank3>(6, dt);
    let s = case_signal::<Bank3>(6);
    let idx: Vec<usize> = (0..Bank3::PARAMS).collect();
    let k = default_checkpoints::<Bank3>(&p, span, 1);
    let tol = Tolerance::TIGHT;
    let adj = adjoint_reference::<Bank3, _>(&p, &s, 0.0, span, beta, tol, &idx, k).unwrap();
    let fd = fd_ode_loss::<Bank3, _>(&p, &s, 0.0, span, beta, tol, &idx).unwrap();
    // The hand-written continuous adjoint of the test network (RK4) at a fine step: RK4 error
    // ~1e-13 relative at dt/8 (fourth order from ~2e-10 at dt).
    let sweep =
        continuous_adjoint::<Bank3, f64, _>(&p, &s, None, 0.0, dt / 8.0, 8 * steps, beta).unwrap();
    let scale = adj.grad.iter().fold(0.0f64, |m, v| m.max(v.abs()));
    for i in idx {
        // Tolerances: the references' errors are ~rtol = 1e-12 relative (measured 3e-12);
        // 1e-9 leaves margin and is far below any derivation error.
        assert!((adj.grad[i] - fd[i]).abs() < 1e-9 * scale, "{i}");
        assert!((adj.grad[i] - sweep.grad[i]).abs() < 1e-9 * scale, "{i}");
    }
    // ∂L/∂c(t0) = a(t0); the hand-written sweep's costate is P = ∂𝓛/∂u̇, a different
    // variable, so only the loss is compared.
    assert_eq!(adj.costate_t0.len(), Bank3::CONT);
    let l = ode_loss::<Bank3, _>(&p, &s, 0.0, span, beta, tol).unwrap();
    assert!((l - sweep.loss).abs() < 1e-10 * l);
    // More checkpoints give the same gradient (the solver's accuracy does not depend on them).
    let adj2 = adjoint_reference::<Bank3, _>(&p, &s, 0.0, span, beta, tol, &[0, 5], 4 * k).unwrap();
    assert!((adj2.grad[0] - adj.grad[0]).abs() < 1e-10 * scale);
    assert!((adj2.grad[1] - adj.grad[5]).abs() < 1e-10 * scale);
}

#[test]
fn checks_pass_on_a_correct_network_with_every_kind_of_stimulus() {
    let stimulus = Stimulus {
        inputs: vec![Channel {
            offset: 0.2,
            waves: vec![
                Wave::Sine {
                    amplitude: 0.5,
                    frequency: 0.7,
                    phase: 0.3,
                },
                Wave::Step {
                    amplitude: -0.8,
                    at: 0.6,
                    width: 0.1,
                },
                Wave::Noise {
                    amplitude: 0.4,
                    correlation: 0.2,
                    seed: 9,
                },
            ],
        }],
        targets: vec![Channel {
            offset: 0.1,
            waves: vec![Wave::Sine {
                amplitude: 0.3,
                frequency: 0.4,
                phase: 0.0,
            }],
        }],
    };
    let p = case_params::<Bank3>(1, 0.01);
    let r = vle_verify::check::<Bank3>()
        .steps(150)
        .run_on(&p, &stimulus);
    let ode = r.cases[0].ode.as_ref().unwrap();
    for q in ode.forward.as_ref().unwrap().orders() {
        assert!((q - 1.0).abs() < 0.2, "{r}");
    }
    assert!(r.worst_reference_error().unwrap() < 1e-8, "{r}");
    let j = r.to_json();
    assert!(j.contains("\"ode\":{") && j.contains("\"orders\":["), "{j}");
    assert!(r.table().contains("adjoint ref vs FD"), "{r}");
}

#[test]
fn recurrent_style_refusal_and_settings() {
    // Options that need the continuous kernels are refused for networks without them: see
    // the root crate's property tests for real recurrent networks; here only settings.
    let f = vle_verify::check::<Small>()
        .levels(1)
        .try_run()
        .unwrap_err();
    assert_eq!(f.kind, FailureKind::Settings);
    let f = vle_verify::check::<Small>()
        .ode_tolerance(Tolerance {
            rtol: 0.0,
            atol: 1e-14,
        })
        .try_run()
        .unwrap_err();
    assert_eq!(f.kind, FailureKind::Settings);
    let s = case_signal::<Small>(1);
    let f = vle_verify::check::<Small>()
        .try_run_on(&[1.0], &s)
        .unwrap_err();
    assert_eq!(f.kind, FailureKind::Settings);
}

/// `Small` with one kernel deliberately wrong: `FORWARD` scales the Euler step's membrane
/// update by 1.02 (a forward inconsistent with the declared ODE, which the exact-gradient
/// check cannot see: BPTT and dual numbers differentiate the same wrong step); `ADJOINT`
/// scales the continuous adjoint's τm gradient density by 1 + 1e-3.
struct Tweak<const FORWARD: bool, const ADJOINT: bool>;

impl<const FORWARD: bool, const ADJOINT: bool> Network for Tweak<FORWARD, ADJOINT> {
    const NAME: &'static str = "Tweak";
    const INPUT: usize = Small::INPUT;
    const OUTPUT: usize = Small::OUTPUT;
    const PARAMS: usize = Small::PARAMS;
    const STATE: usize = Small::STATE;
    const CONT: usize = Small::CONT;
    const LOCAL: usize = Small::LOCAL;
    const NEURONS: usize = Small::NEURONS;

    fn param_info() -> &'static [ParamInfo] {
        Small::param_info()
    }
    fn layer_info() -> &'static [LayerInfo] {
        Small::layer_info()
    }
    fn derivation() -> &'static Derivation {
        Small::derivation()
    }
    fn output<T: Scalar>(p: &[T], state: &[T], r: &mut [T]) {
        Small::output(p, state, r)
    }
    fn loss<T: Scalar>(p: &[T], state: &[T], y: &[T]) -> T {
        Small::loss(p, state, y)
    }
    fn loss_adjoint<T: Scalar>(
        p: &[T],
        state: &[T],
        y: &[T],
        scale: T,
        adj: &mut [T],
        grad: &mut [T],
    ) -> T {
        Small::loss_adjoint(p, state, y, scale, adj, grad)
    }
    fn euler_step<T: Scalar>(p: &[T], state: &mut [T], x: &[T], dt: T) {
        let f = if FORWARD { 1.02 } else { 1.0 };
        Small::euler_step(p, state, x, dt * T::from_f64(f))
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
        // With FORWARD the step uses dt·1.02 for both the membrane and (through dt) nothing
        // else: the hand adjoint with the same scaled dt stays exact.
        let f = if FORWARD { 1.02 } else { 1.0 };
        Small::euler_step_adjoint(p, state, x, dt * T::from_f64(f), adj_next, adj_prev, grad)
    }
    fn rhs<T: Scalar>(p: &[T], c: &[T], x: &[T], dc: &mut [T]) {
        Small::rhs(p, c, x, dc)
    }
    fn refresh_prospective<T: Scalar>(p: &[T], state: &mut [T], x: &[T]) {
        Small::refresh_prospective(p, state, x)
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
        Small::adjoint_rhs(p, c, x, y, beta, costate, dcostate, errors, grad_density);
        if ADJOINT {
            grad_density[2] *= T::from_f64(1.0 + 1e-3);
        }
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
        Small::online_step(p, state, local, x, y, beta, gamma, dt, grad)
    }
}

#[test]
fn a_forward_that_is_not_the_declared_ode_is_caught_by_the_convergence_check() {
    let f = vle_verify::check::<Tweak<true, false>>()
        .seed(3)
        .cases(1)
        .try_run()
        .unwrap_err();
    assert_eq!(f.kind, FailureKind::Convergence, "{f}");
    let m = f.messages.join("\n");
    assert!(m.contains("forward: generated Euler output rates"), "{m}");
    assert!(m.contains("observed orders") && m.contains("seed 3"), "{m}");
    // The exact discrete gradient is still right (it differentiates the step it is given).
    let r = f.report.unwrap();
    assert!(r.worst_relative_error() < 1e-12);
}

#[test]
fn a_one_in_a_thousand_continuous_adjoint_error_is_caught_and_named() {
    let f = vle_verify::check::<Tweak<false, true>>()
        .seed(4)
        .cases(1)
        .try_run()
        .unwrap_err();
    assert_eq!(f.kind, FailureKind::Convergence, "{f}");
    let m = f.messages.join("\n");
    assert!(
        m.contains("generated continuous adjoint (RK4 sweep)") && m.contains("n.tau_m[0]"),
        "{m}"
    );
    // The discrete gradient and the references are untouched.
    assert_eq!(f.messages.len(), 1, "{m}");
    let r = f.report.unwrap();
    assert!(r.worst_reference_error().unwrap() < 1e-8);
    // The older check (c), the RK4 sweep against finite differences of a fine RK4 loss,
    // catches an error of this size too (1e-3 relative > its tolerance 1e-5):
    let f = vle_verify::check::<Tweak<false, true>>()
        .seed(4)
        .cases(1)
        .ode_adjoint(false)
        .continuous(true)
        .try_run()
        .unwrap_err();
    assert_eq!(f.kind, FailureKind::Mismatch, "{f}");
}

/// The references of the continuous problem with stiff time constants (τ = dt = 0.01 next to
/// τ = 1): the finite differences are taken on each parameter's own scale and agree with the
/// numerical adjoint within their estimated errors, which stay far below what an error in
/// either reference would make; the fixed step 1e-3 (10 % of τ) they replaced does not.
#[test]
fn stiff_time_constants_are_differentiated_on_their_own_scale() {
    use vle_verify::check::SAFETY;
    use vle_verify::reference::{fd_ode_gradient, parameter_scale, FdDerivative};
    use vle_verify::report::compare_bounded;
    let (dt, steps, beta) = (0.01, 100, 1.0);
    let span = dt * steps as f64;
    let mut p = case_params::<Bank3>(7, dt);
    // n.tau_m = (dt, 2·dt, 1), n.tau_r = (3·dt, dt, 0.3).
    p[6..9].copy_from_slice(&[0.01, 0.02, 1.0]);
    p[9..12].copy_from_slice(&[0.03, 0.01, 0.3]);
    let s = case_signal::<Bank3>(7);
    let tol = Tolerance::TIGHT;
    let idx: Vec<usize> = (0..Bank3::PARAMS).collect();
    let k = default_checkpoints::<Bank3>(&p, span, 1);
    let adj = adjoint_reference::<Bank3, _>(&p, &s, 0.0, span, beta, tol, &idx, k).unwrap();
    let fd = fd_ode_gradient::<Bank3, _>(&p, &s, 0.0, span, beta, tol, &idx).unwrap();
    let scale = adj.grad.iter().fold(0.0f64, |m, v| m.max(v.abs()));
    // The steps: relative to τ for the time constants (2.5e-5 for τ = 0.01), 2.5e-3 for the
    // rest.
    assert!(
        (fd.entries[6].step / 0.01 - fd.entries[0].step / parameter_scale(p[0], false)).abs()
            < 1e-6
    );
    let est: Vec<f64> = fd.entries.iter().map(FdDerivative::error).collect();
    for i in idx.clone() {
        let d = (adj.grad[i] - fd.entries[i].value).abs();
        // Within SAFETY times the finite differences' estimate (the adjoint's own error,
        // ~1e-12 relative, is below it).
        assert!(d <= SAFETY * est[i], "{i}: {d:e} vs {:e}", est[i]);
        // And the estimate resolves the gradient to better than 1e-6 of its scale.
        assert!(est[i] < 1e-6 * scale, "{i}: {:e}", est[i]);
    }
    // The fixed step h = 1e-3 of before: on τ ~ dt its truncation error h⁴/30·|L⁽⁵⁾| ~
    // (h/τ)⁴·|L|/τ is orders of magnitude above the error of the step on τ's scale (measured
    // 4.4e-7 of the gradient here; 3.6e-5 on the generated StiffGle of the root crate's
    // tests/verify_stiff.rs, which failed the old fixed tolerance 1e-6).
    let old = |i: usize| {
        let h = 1e-3;
        let at = |v: f64| {
            let mut q = p.clone();
            q[i] = v;
            vle_verify::reference::ode_loss::<Bank3, _>(&q, &s, 0.0, span, beta, tol).unwrap()
        };
        (8.0 * (at(p[i] + h) - at(p[i] - h)) - (at(p[i] + 2.0 * h) - at(p[i] - 2.0 * h)))
            / (12.0 * h)
    };
    let worst_old = [6, 7, 9, 10]
        .iter()
        .map(|&i| (old(i) - adj.grad[i]).abs() / scale)
        .fold(0.0f64, f64::max);
    let worst_new = [6, 7, 9, 10]
        .iter()
        .map(|&i| (fd.entries[i].value - adj.grad[i]).abs() / scale)
        .fold(0.0f64, f64::max);
    assert!(worst_old > 100.0 * worst_new, "{worst_old:e} {worst_new:e}");
    // A reference wrong by 1e-5 of the gradient at one stiff entry is caught by the
    // comparison that accepts SAFETY × the estimates.
    let mut wrong = adj.grad.clone();
    wrong[6] += 1e-5 * scale;
    let values: Vec<f64> = fd.entries.iter().map(|d| d.value).collect();
    let accepted: Vec<f64> = est.iter().map(|e| SAFETY * e).collect();
    let ok = compare_bounded::<Bank3>(&idx, &values, &adj.grad, &est, &accepted);
    assert!(ok.iter().all(|(_, b, _)| b.ratio <= 1.0));
    let bad = compare_bounded::<Bank3>(&idx, &values, &wrong, &est, &accepted);
    let tau_m = bad.iter().find(|(i, _, _)| i.name == "n.tau_m").unwrap();
    assert!(
        tau_m.1.ratio > 1.0 && tau_m.1.ratio_entry == 0,
        "{:?}",
        tau_m.1
    );
    // The whole check passes on this case.
    let r = vle_verify::check::<Bank3>().steps(steps).run_on(&p, &s);
    assert!(r.worst_reference_ratio().unwrap() <= 1.0, "{r}");
}
