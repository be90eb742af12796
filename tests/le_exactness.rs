//! docs/theory.md §5: with τr = τm (LE) the phase-matched inversion is the identity, so the local
//! errors equal instantaneous backpropagation at every step, for any dt:
//! ε_L = β φ'_L (y − r_L) and ε_l = φ'_l ⊙ W_{l+1}ᵀ ε_{l+1}, where every layer reads the error
//! of the layer above from the previous step (the discrete scheme's one step of delay).
mod models;
use models::LeNet;
use vle::{params, Network, ParamKind};

fn weight(p: &[f64], layer: &str) -> (Vec<f64>, usize, usize) {
    let info = LeNet::param_info()
        .iter()
        .find(|i| i.layer == layer && matches!(i.kind, ParamKind::Weight { .. }))
        .unwrap();
    (p[info.range()].to_vec(), info.rows, info.cols)
}

fn derivative(phi: &str, p: f64) -> f64 {
    match phi {
        "tanh" => 1.0 - p.tanh().powi(2),
        "sigmoid" => {
            let s = 1.0 / (1.0 + (-p).exp());
            s * (1.0 - s)
        }
        _ => 1.0,
    }
}

#[test]
fn local_errors_equal_instantaneous_backprop_at_every_step() {
    let layers = LeNet::layer_info();
    let phis = ["tanh", "sigmoid", "identity"];
    for &dt in &[0.01, 0.1, 0.3] {
        let p: Vec<f64> = params::init_params::<LeNet, f64>(7);
        let mut state = vec![0.0; LeNet::STATE];
        let mut local = vec![0.0; LeNet::LOCAL];
        let mut grad = vec![0.0; LeNet::PARAMS];
        let beta = 0.7;
        let mut worst: f64 = 0.0;
        let mut scale: f64 = 0.0;
        for n in 0..400 {
            let t = n as f64 * dt;
            let x = [(1.3 * t).sin(), (0.4 * t).cos()];
            let y = [0.5 * (0.9 * t).sin(), 0.2];
            // Expected errors from the state and the stored errors before the step.
            let mut expected = [0.0; LeNet::LOCAL];
            for (li, l) in layers.iter().enumerate() {
                for i in 0..l.size {
                    let pv = state[l.prospective_offset + i];
                    let back = if li + 1 == layers.len() {
                        let mut r = [0.0; 2];
                        LeNet::output(&p, &state, &mut r);
                        beta * (y[i] - r[i])
                    } else {
                        let up = &layers[li + 1];
                        let (w, _, cols) = weight(&p, up.name);
                        (0..up.size)
                            .map(|k| w[k * cols + i] * local[up.local_error_offset + k])
                            .sum()
                    };
                    expected[l.local_error_offset + i] = derivative(phis[li], pv) * back;
                }
            }
            LeNet::online_step(&p, &mut state, &mut local, &x, &y, beta, 0.0, dt, &mut grad);
            for l in layers {
                for i in 0..l.size {
                    let k = l.local_error_offset + i;
                    worst = worst.max((local[k] - expected[k]).abs());
                    scale = scale.max(expected[k].abs());
                }
            }
        }
        // Equal up to rounding: the error neuron computes v + τm (ê − v)/τr, which with τr = τm
        // is ê up to a few ulps of |v| and |ê| (both O(1) here).
        assert!(
            scale > 1e-3,
            "the errors must not be trivially zero (scale {scale})"
        );
        assert!(
            worst <= 1e-13,
            "dt = {dt}: max |local − instantaneous| = {worst:e}"
        );
    }
}
