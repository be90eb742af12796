//! vle-verify on stiff networks: time constants from dt to 100·dt (GLE, adaptive units,
//! mse and cross-entropy, a recurrent layer), and the same check on deliberately wrong
//! gradients.
//!
//! A correct model must pass whatever its stiffness: the references of the continuous
//! problem are differentiated on each parameter's own scale (a time constant τ = dt by a
//! step relative to τ, not to 1) and compared within their *estimated* errors, and the
//! continuous checks run at a step that resolves the network's fastest dynamics, because the
//! discrete Euler system at dt differs from the continuous one by O(dt/τ) = O(1) there. The
//! generated discrete gradient at dt is compared only with the dual-number gradient of the
//! same discrete system (exact to rounding, tolerance 1e-9, whatever dt/τ). A gradient that
//! is off by one part in a million must still fail.
//!
//! Each check runs one case of 50 steps (half a time unit, 50·τ for τ = dt) to stay within
//! seconds in a debug build.

mod zoo;

use vle::verify::{check, FailureKind};
use vle::{vle_model, Derivation, LayerInfo, Network, ParamInfo, Scalar};

vle_model! {
    /// The example: every time constant equal to dt, τm learnt.
    pub network StiffGle {
        neuron Gle {
            param tau_m, tau_r;
            activation phi;
            state u;
            mismatch e = u + tau_m * d(u) - input;
            prospective ubreve = u + tau_r * d(u);
            rate r = phi(ubreve);
        }
        input x: 1;
        layer h: 2 = Gle { phi: tanh, tau_m: 0.01, tau_r: 0.01 } <- x + bias;
        layer out: 1 = Gle { phi: identity, tau_m: 0.01, tau_r: 0.01 } <- h + bias;
        energy = 0.5 * sum_sq(e) + beta * mse(out.r, target);
        learn W, b, tau_m;
    }
}

vle_model! {
    /// Time constants from dt to 100·dt side by side, lagging and anticipating (τr > τm)
    /// units, a user loss.
    pub network MixedTau {
        neuron Gle {
            param tau_m, tau_r;
            activation phi;
            state u;
            mismatch e = u + tau_m * d(u) - input;
            prospective ubreve = u + tau_r * d(u);
            rate r = phi(ubreve);
        }
        input x: 2;
        layer h: 3 = Gle { phi: tanh, tau_m: [0.01, 0.1, 1.0], tau_r: [0.01, 0.05, 0.3] } <- x + bias;
        layer g: 2 = Gle { phi: sigmoid, tau_m: [0.01, 1.0], tau_r: [0.03, 0.01] } <- h + bias;
        layer out: 2 = Gle { phi: identity, tau_m: [0.01, 0.05], tau_r: 0.01 } <- g + bias;
        energy = 0.5 * sum_sq(e) + beta * sum(ln(1 + (out.r - target)^2));
        learn W, b, tau_m, tau_r;
    }
}

vle_model! {
    /// Adaptive units whose membrane and adaptation time constants are a few dt, and a
    /// stiff GLE readout.
    pub network StiffAdaptive {
        neuron Adaptive {
            param tau_m, tau_r, tau_a, k;
            activation phi;
            state u, a;
            mismatch e = u + tau_m * d(u) + k * a - input;
            mismatch e_a = a + tau_a * d(a) - u;
            prospective ubreve = u + tau_r * d(u);
            rate r = phi(ubreve);
        }
        neuron Gle {
            param tau_m, tau_r;
            state u;
            mismatch e = u + tau_m * d(u) - input;
            prospective ubreve = u + tau_r * d(u);
            rate r = ubreve;
        }
        input x: 2;
        layer h: 3 = Adaptive { phi: softplus, tau_m: 0.02, tau_r: [0.02, 0.01, 0.01], tau_a: 0.05, k: 0.5 } <- x + bias;
        layer out: 2 = Gle { tau_m: 0.01, tau_r: 0.01 } <- h + bias;
        energy = 0.5 * sum_sq(e, e_a) + beta * mse(out.r, target);
        learn W, b, tau_m, tau_r, tau_a, k;
    }
}

vle_model! {
    /// Stiff units under a cross-entropy readout.
    pub network StiffCe {
        neuron Gle {
            param tau_m, tau_r;
            activation phi;
            state u;
            mismatch e = u + tau_m * d(u) - input;
            prospective ubreve = u + tau_r * d(u);
            rate r = phi(ubreve);
        }
        input x: 2;
        layer h: 3 = Gle { phi: tanh, tau_m: 0.01, tau_r: 0.01 } <- x + bias;
        layer out: 3 = Gle { phi: identity, tau_m: 0.02, tau_r: 0.02 } <- h + bias;
        energy = 0.5 * sum_sq(e) + beta * cross_entropy(out.r, target);
        learn W, b, tau_m, tau_r;
    }
}

vle_model! {
    /// A stiff recurrent layer: only the discrete system exists.
    pub network StiffRecurrent {
        neuron Gle {
            param tau_m, tau_r;
            activation phi;
            state u;
            mismatch e = u + tau_m * d(u) - input;
            prospective ubreve = u + tau_r * d(u);
            rate r = phi(ubreve);
        }
        input x: 1;
        layer h: 3 = Gle { phi: tanh, tau_m: 0.01, tau_r: 0.01 } <- x + h + bias;
        layer out: 1 = Gle { phi: identity, tau_m: 0.01, tau_r: 0.01 } <- h + bias;
        energy = 0.5 * sum_sq(e) + beta * mse(out.r, target);
        learn W, b, tau_m;
    }
}

/// The default check on one short case: it panics on any failure.
fn short<N: Network>(seed: u64) -> vle::verify::Check<N> {
    check::<N>().seed(seed).cases(1).steps(50)
}

/// The references' estimated error stays a small fraction of the gradient: the accepted
/// difference (10 × the estimate) still exposes any error in them above one part in 10⁴.
/// (A fixed step h = 1e-3 is 10 % of τ = 0.01: its truncation error alone reached 3.6e-5 of
/// the gradient on StiffGle, 36 times the old fixed tolerance 1e-6, so a correct model
/// failed.)
fn assert_resolved(r: &vle::verify::Report) {
    if let Some(est) = r.worst_reference_estimate() {
        assert!(est < 1e-5, "{r}");
        assert!(r.worst_reference_ratio().unwrap() <= 1.0, "{r}");
    }
    assert!(r.worst_relative_error() <= 1e-9, "{r}");
    let table = r.table();
    assert!(!table.contains("NaN") && !table.contains("inf"), "{table}");
}

#[test]
fn stiff_models_pass_the_default_checks() {
    let reports = [
        short::<StiffGle>(1).run(),
        short::<MixedTau>(2).run(),
        short::<StiffAdaptive>(3).run(),
        short::<StiffCe>(4).run(),
        short::<StiffRecurrent>(5).run(),
    ];
    for r in &reports {
        println!("{r}");
        assert_resolved(r);
    }
    // The checks against the continuous problem ran on every continuous model, at steps of
    // at most τ_min/8.
    for r in &reports[..4] {
        let o = r.cases[0].ode.as_ref().unwrap();
        assert!(o.refinement >= 8, "{r}");
        assert!(r.worst_reference_estimate().is_some(), "{r}");
    }
    assert!(reports[4].cases[0].ode.is_none());
    assert!(reports[4]
        .table()
        .contains("not run: the checks against the continuous problem"));
}

/// Models of the property-test zoo run at dt equal to their smallest time constant, the
/// stiffest step the runtime accepts (τ ≥ dt): GLE memory units (ZooSingle, ZooLagLine),
/// mixed units under a user loss (ZooTrig), recurrent GLE and adaptive layers with only the
/// discrete system (ZooRecurrent, ZooRecAdaptive). (Every zoo model passes at this step; the
/// deeper ones take tens of seconds in a debug build and are left to the property tests.)
#[test]
fn zoo_models_pass_at_dt_equal_to_their_fastest_time_constant() {
    fn at_tau_min<N: Network>() -> vle::verify::Report {
        let tau_min = N::param_info()
            .iter()
            .filter(|i| i.time_constant)
            .flat_map(|i| i.defaults.iter().copied())
            .fold(f64::INFINITY, f64::min);
        let r = check::<N>()
            .seed(9)
            .cases(1)
            .dt(tau_min)
            .steps(30)
            .max_entries(4)
            .fd_entries(2)
            .run();
        assert_resolved_or_small(&r);
        r
    }
    at_tau_min::<zoo::ZooSingle>();
    at_tau_min::<zoo::ZooLagLine>();
    at_tau_min::<zoo::ZooTrig>();
    assert!(at_tau_min::<zoo::ZooRecurrent>().cases[0].ode.is_none());
    at_tau_min::<zoo::ZooRecAdaptive>();
}

/// As [`assert_resolved`], except for the size of the references' estimate: a tensor whose
/// gradient is tiny next to the loss (here the first time constants of ZooLagLine) cannot be
/// resolved to a small fraction of itself by any finite difference; the comparison then
/// rests on the estimate, which is reported.
fn assert_resolved_or_small(r: &vle::verify::Report) {
    if let Some(q) = r.worst_reference_ratio() {
        assert!(q <= 1.0, "{r}");
    }
    assert!(r.worst_relative_error() <= 1e-9, "{r}");
    let table = r.table();
    assert!(!table.contains("NaN") && !table.contains("inf"), "{table}");
}

/// The case: τm = dt learnt, three cases with the default settings but a window of
/// 100 steps instead of 200 (the reported failure was `adjoint reference vs FD 3.96e-4 >
/// 1e-6`; the full default window passes as well, measured worst 7.9e-3 of the accepted
/// error, but takes about 9 s in a debug build).
#[test]
fn the_reported_model_passes_with_the_default_settings() {
    let r = check::<StiffGle>().steps(100).run();
    println!("{r}");
    assert_eq!(r.cases.len(), 3);
    assert_resolved(&r);
}

/// (c): the generated RK4 sweep against finite differences of a fine RK4 loss, at the step
/// where the sweep's Richardson error estimate is below a tenth of the tolerance. At dt
/// itself (dt/τ = 1) RK4's error is ~1e-2 of the gradient (measured 1.1e-2 on this model),
/// a thousand times the tolerance 1e-5.
#[test]
fn the_continuous_check_runs_at_a_step_that_resolves_the_stiffness() {
    for r in [
        short::<StiffGle>(6).continuous(true).run(),
        short::<StiffAdaptive>(7).continuous(true).run(),
    ] {
        println!("{r}");
        let c = &r.cases[0];
        assert!(c.continuous_step.unwrap() <= 0.01 / 8.0, "{r}");
        assert!(c.continuous_estimate.unwrap() <= 1e-6, "{r}");
        assert!(r.worst_continuous_error().unwrap() <= 1e-5, "{r}");
    }
}

/// `N` with one gradient entry (the first learnable time constant) perturbed: `MODE` 1
/// scales its contribution of every step of the generated backward sweep (the exact
/// discrete gradient) by 1 + 1e-6; `MODE` 2 scales its density in the generated continuous
/// adjoint by 1 + 1e-3.
struct Mutated<N, const MODE: u8>(std::marker::PhantomData<N>);

fn first_time_constant<N: Network>() -> usize {
    N::param_info()
        .iter()
        .find(|i| i.learnable && i.time_constant)
        .expect("the model learns a time constant")
        .offset
}

impl<N: Network, const MODE: u8> Network for Mutated<N, MODE> {
    const NAME: &'static str = "Mutated";
    const INPUT: usize = N::INPUT;
    const OUTPUT: usize = N::OUTPUT;
    const PARAMS: usize = N::PARAMS;
    const STATE: usize = N::STATE;
    const CONT: usize = N::CONT;
    const LOCAL: usize = N::LOCAL;
    const NEURONS: usize = N::NEURONS;
    const CONTINUOUS: bool = N::CONTINUOUS;

    fn param_info() -> &'static [ParamInfo] {
        N::param_info()
    }
    fn layer_info() -> &'static [LayerInfo] {
        N::layer_info()
    }
    fn derivation() -> &'static Derivation {
        N::derivation()
    }
    fn output<T: Scalar>(p: &[T], state: &[T], r: &mut [T]) {
        N::output(p, state, r)
    }
    fn loss<T: Scalar>(p: &[T], state: &[T], y: &[T]) -> T {
        N::loss(p, state, y)
    }
    fn loss_adjoint<T: Scalar>(
        p: &[T],
        state: &[T],
        y: &[T],
        scale: T,
        adj: &mut [T],
        grad: &mut [T],
    ) -> T {
        N::loss_adjoint(p, state, y, scale, adj, grad)
    }
    fn euler_step<T: Scalar>(p: &[T], state: &mut [T], x: &[T], dt: T) {
        N::euler_step(p, state, x, dt)
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
        let i = first_time_constant::<N>();
        let before = grad[i];
        N::euler_step_adjoint(p, state, x, dt, adj_next, adj_prev, grad);
        if MODE == 1 {
            grad[i] = before + (grad[i] - before) * T::from_f64(1.0 + 1e-6);
        }
    }
    fn rhs<T: Scalar>(p: &[T], c: &[T], x: &[T], dc: &mut [T]) {
        N::rhs(p, c, x, dc)
    }
    fn refresh_prospective<T: Scalar>(p: &[T], state: &mut [T], x: &[T]) {
        N::refresh_prospective(p, state, x)
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
        N::adjoint_rhs(p, c, x, y, beta, costate, dcostate, errors, grad_density);
        if MODE == 2 {
            let i = first_time_constant::<N>();
            grad_density[i] *= T::from_f64(1.0 + 1e-3);
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
        N::online_step(p, state, local, x, y, beta, gamma, dt, grad)
    }
}

/// The mutation test: the checks that pass the stiff models above fail, naming the entry,
/// when one gradient entry is wrong by one part in a million (exact discrete gradient) or
/// one in a thousand (continuous adjoint).
#[test]
fn a_perturbed_gradient_entry_still_fails_on_stiff_models() {
    let f = short::<Mutated<StiffGle, 1>>(1).try_run().unwrap_err();
    assert_eq!(f.kind, FailureKind::Mismatch, "{f}");
    assert!(f.messages[0].contains("h.tau_m[0]"), "{f}");
    assert!(f.messages[0].contains("exact discrete gradient"), "{f}");
    let f = short::<Mutated<MixedTau, 1>>(2).try_run().unwrap_err();
    assert_eq!(f.kind, FailureKind::Mismatch, "{f}");
    assert!(f.messages[0].contains("h.tau_m[0]"), "{f}");

    // The continuous adjoint converges to a wrong limit: the RK4 convergence check fails.
    let f = short::<Mutated<StiffGle, 2>>(1).try_run().unwrap_err();
    assert_eq!(f.kind, FailureKind::Convergence, "{f}");
    assert!(
        f.messages
            .iter()
            .any(|m| m.contains("continuous adjoint (RK4 sweep)") && m.contains("h.tau_m[0]")),
        "{f}"
    );
    // … and so does the RK4-against-RK4 check (c), now that it runs at a resolved step.
    let f = short::<Mutated<StiffGle, 2>>(1)
        .ode_adjoint(false)
        .continuous(true)
        .try_run()
        .unwrap_err();
    assert_eq!(f.kind, FailureKind::Mismatch, "{f}");
    assert!(f.messages[0].contains("h.tau_m[0]"), "{f}");
}
