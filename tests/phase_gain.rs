//! docs/theory.md §5: under sinusoidal drive, the local error of a lagging neuron (τr < τm) and its
//! exact adjoint error have the same phase relative to the error arriving from above, and gains
//! in the ratio (1 + ω²τm²)/(1 + ω²τr²). Measured as complex amplitudes at ω over whole periods
//! in steady state: the local filter ε/ê should be 1/H(iω), the adjoint e/ê should be H(−iω),
//! with H(s) = (1 + sτr)/(1 + sτm).
mod models;
use models::Chain;
use vle::continuous::continuous_adjoint;
use vle::params::find_param;
use vle::signal::FnSignal;
use vle::Network;

const OMEGA: f64 = std::f64::consts::PI; // period 2
const TAU_M: f64 = 1.0;
const TAU_R: f64 = 0.2;

/// Complex amplitude at ω of samples z_n at t_n = n·dt, n in `range` (whole periods).
fn amplitude(z: &[f64], dt: f64, range: std::ops::Range<usize>) -> (f64, f64) {
    let n = range.len() as f64;
    let (mut re, mut im) = (0.0, 0.0);
    for k in range {
        let t = k as f64 * dt;
        re += z[k] * (OMEGA * t).cos();
        im -= z[k] * (OMEGA * t).sin();
    }
    (2.0 * re / n, 2.0 * im / n)
}

fn ratio(a: (f64, f64), b: (f64, f64)) -> (f64, f64) {
    let d = b.0 * b.0 + b.1 * b.1;
    ((a.0 * b.0 + a.1 * b.1) / d, (a.1 * b.0 - a.0 * b.1) / d)
}

fn params() -> Vec<f64> {
    let mut p: Vec<f64> = vle::params::init_params::<Chain, f64>(3);
    p[find_param::<Chain>("h.W<-x").unwrap().offset] = 1.0;
    p[find_param::<Chain>("out.W<-h").unwrap().offset] = 0.7;
    p
}

fn input(t: f64) -> f64 {
    (OMEGA * t).sin()
}
fn target(t: f64) -> f64 {
    0.8 * (OMEGA * t + 1.0).sin()
}

/// (local filter ε/ê, adjoint filter e/ê) as complex numbers.
fn filters(dt: f64) -> ((f64, f64), (f64, f64)) {
    let p = params();
    let w_out = p[find_param::<Chain>("out.W<-h").unwrap().offset];
    let layers = Chain::layer_info();
    let (h, out) = (&layers[0], &layers[1]);
    let per = (2.0 / dt).round() as usize;
    let steps = 30 * per;
    // Local rule, online.
    let mut state = vec![0.0; Chain::STATE];
    let mut local = vec![0.0; Chain::LOCAL];
    let mut grad = vec![0.0; Chain::PARAMS];
    let (mut eps, mut e_hat) = (vec![0.0; steps], vec![0.0; steps]);
    for n in 0..steps {
        let t = n as f64 * dt;
        e_hat[n] = w_out * local[out.local_error_offset];
        Chain::online_step(
            &p,
            &mut state,
            &mut local,
            &[input(t)],
            &[target(t)],
            1.0,
            0.0,
            dt,
            &mut grad,
        );
        eps[n] = local[h.local_error_offset];
    }
    let window = 20 * per..28 * per;
    let local_filter = ratio(
        amplitude(&eps, dt, window.clone()),
        amplitude(&e_hat, dt, window.clone()),
    );
    // Exact adjoint, continuous.
    let signal = FnSignal::new(
        1,
        1,
        |t: f64, x: &mut [f64]| x[0] = input(t),
        |t: f64, y: &mut [f64]| y[0] = target(t),
    );
    let sweep =
        continuous_adjoint::<Chain, f64, _>(&p, &signal, None, 0.0, dt, steps, 1.0).unwrap();
    let nn = Chain::NEURONS;
    let e_h: Vec<f64> = (0..=steps)
        .map(|n| sweep.errors[n * nn + h.adjoint_error_offset])
        .collect();
    let e_hat_adj: Vec<f64> = (0..=steps)
        .map(|n| w_out * sweep.errors[n * nn + out.adjoint_error_offset])
        .collect();
    // Away from t = 0 (forward transient) and from T (the adjoint's terminal transient).
    let window = 8 * per..16 * per;
    let adjoint_filter = ratio(
        amplitude(&e_h, dt, window.clone()),
        amplitude(&e_hat_adj, dt, window),
    );
    (local_filter, adjoint_filter)
}

#[test]
fn local_and_adjoint_errors_have_equal_phase_and_the_predicted_gain_ratio() {
    let predicted_gain_ratio = (1.0 + (OMEGA * TAU_M).powi(2)) / (1.0 + (OMEGA * TAU_R).powi(2));
    let mut deviations = Vec::new();
    for &dt in &[0.01, 0.005] {
        let (local, adjoint) = filters(dt);
        let phase_local = local.1.atan2(local.0);
        let phase_adjoint = adjoint.1.atan2(adjoint.0);
        let gain_ratio = local.0.hypot(local.1) / adjoint.0.hypot(adjoint.1);
        eprintln!(
            "dt {dt}: phase local {phase_local:.6} adjoint {phase_adjoint:.6}; gain ratio {gain_ratio:.6} (predicted {predicted_gain_ratio:.6})"
        );
        deviations.push((
            (phase_local - phase_adjoint).abs(),
            (gain_ratio / predicted_gain_ratio - 1.0).abs(),
        ));
    }
    // The local rule runs on the explicit Euler grid: its deviation from the continuous
    // filter is first order in ω·dt (it halves with dt), and small at these steps.
    for (k, what) in ["phase", "gain ratio"].iter().enumerate() {
        let pick = |d: &(f64, f64)| if k == 0 { d.0 } else { d.1 };
        let (a, b) = (pick(&deviations[0]), pick(&deviations[1]));
        assert!(a < 3.0 * OMEGA * 0.01, "{what}: deviation {a} at dt = 0.01");
        assert!(
            b < 0.6 * a + 1e-9,
            "{what}: deviation {a} → {b} does not shrink at first order"
        );
    }
}
