//! When the online step sends errors down: a layer's ε of step n+1 is computed from the error
//! the layers above sent in step n, `−Wₙᵀ εₙ`, with the weights of step n — the weights that
//! computed εₙ, before the caller's update (as the published GLE code does: `e_bottom` is
//! computed in the step that computes the error). Sending with the updated weights instead
//! adds `ΔWᵀ ε` to every error below; with Adam's sign-like updates that term is correlated
//! with ε and costs the MNIST-1D example about ten points of accuracy (RESULTS.md).
//!
//! Test: from the same state, one step with the parameters p and one with p' that differ only
//! in the weights of the projections out of `layer` (which that layer's error travels back
//! through). The layer's ε and its error neurons' states after that step must be bit-identical
//! (the same operations on the same numbers), and must differ one step later (the new weights
//! then carry the error): both per sample and batched.

mod models;
use models::{LagNet, MixedNet};
use vle::params::init_params;
use vle::{Network, ParamKind};

/// `steps` online steps from rest with inputs and targets that vary in time, per sample or
/// batched; returns states and local states.
struct Run<N: Network> {
    batch: usize,
    state: Vec<f64>,
    local: Vec<f64>,
    grad: Vec<f64>,
    scratch: Vec<f64>,
    n: usize,
    _net: std::marker::PhantomData<N>,
}

impl<N: Network> Run<N> {
    fn new(batch: usize) -> Self {
        Run {
            batch,
            state: vec![0.0; batch * N::STATE],
            local: vec![0.0; batch * N::LOCAL],
            grad: vec![0.0; N::PARAMS],
            scratch: vec![0.0; batch * N::BATCH_SCRATCH],
            n: 0,
            _net: std::marker::PhantomData,
        }
    }

    fn step(&mut self, p: &[f64], batched: bool) {
        let (dt, nb) = (0.05, self.batch);
        let t = self.n as f64 * dt;
        let xs: Vec<f64> = (0..nb * N::INPUT)
            .map(|k| (1.1 * t + 0.7 * k as f64).sin())
            .collect();
        let ys: Vec<f64> = (0..nb * N::OUTPUT)
            .map(|k| (0.5 + 0.4 * (0.9 * t + k as f64).cos()) / N::OUTPUT as f64)
            .collect();
        if batched {
            N::online_step_batch(
                p,
                &mut self.state,
                &mut self.local,
                &xs,
                &ys,
                1.0,
                0.1,
                dt,
                &mut self.grad,
                nb,
                &mut self.scratch,
            );
        } else {
            for b in 0..nb {
                N::online_step(
                    p,
                    &mut self.state[b * N::STATE..(b + 1) * N::STATE],
                    &mut self.local[b * N::LOCAL..(b + 1) * N::LOCAL],
                    &xs[b * N::INPUT..(b + 1) * N::INPUT],
                    &ys[b * N::OUTPUT..(b + 1) * N::OUTPUT],
                    1.0,
                    0.1,
                    dt,
                    &mut self.grad,
                );
            }
        }
        self.n += 1;
    }

    fn clone_run(&self) -> Self {
        Run {
            batch: self.batch,
            state: self.state.clone(),
            local: self.local.clone(),
            grad: self.grad.clone(),
            scratch: self.scratch.clone(),
            n: self.n,
            _net: std::marker::PhantomData,
        }
    }

    /// The layer's ε and error-neuron states (they precede ε in the local state) of every
    /// sample.
    fn errors(&self, layer: &str) -> Vec<f64> {
        let info = N::layer_info().iter().find(|l| l.name == layer).unwrap();
        let span = info.size * (1 + info.states.len());
        let start = info.local_error_offset + info.size - span;
        (0..self.batch)
            .flat_map(|b| {
                let o = b * N::LOCAL + start;
                self.local[o..o + span].to_vec()
            })
            .collect()
    }
}

/// p with the weights of every projection out of `layer` scaled by 1.5.
fn perturbed_feedback<N: Network>(p: &[f64], layer: &str) -> Vec<f64> {
    let mut q = p.to_vec();
    let mut found = false;
    for info in N::param_info() {
        if matches!(info.kind, ParamKind::Weight { pre, .. } if pre == layer) {
            q[info.range()].iter_mut().for_each(|w| *w *= 1.5);
            found = true;
        }
    }
    assert!(found, "no projection out of {layer}");
    q
}

fn check<N: Network>(layer: &str, batch: usize, batched: bool) {
    let p: Vec<f64> = init_params::<N, f64>(3);
    let q = perturbed_feedback::<N>(&p, layer);
    let mut base = Run::<N>::new(batch);
    for _ in 0..30 {
        base.step(&p, batched);
    }
    let (mut a, mut b) = (base.clone_run(), base);
    a.step(&p, batched);
    b.step(&q, batched);
    let what = format!(
        "{} layer {layer}, batch {batch}, batched {batched}",
        N::NAME
    );
    assert!(
        a.errors(layer).iter().any(|&e| e != 0.0),
        "{what}: ε is zero"
    );
    assert_eq!(
        a.errors(layer),
        b.errors(layer),
        "{what}: the error of step n+1 depends on the weights of step n+1 above the layer"
    );
    a.step(&p, batched);
    b.step(&q, batched);
    assert_ne!(
        a.errors(layer),
        b.errors(layer),
        "{what}: the weights of step n+1 never reach the layer's error"
    );
}

#[test]
fn errors_are_sent_down_with_the_weights_that_computed_them() {
    for batched in [false, true] {
        for batch in [1, 3] {
            check::<LagNet>("h1", batch, batched);
            check::<LagNet>("h2", batch, batched);
            // `g <- h + g`: the recurrent projection's error and the one from `out`.
            check::<MixedNet>("g", batch, batched);
            check::<MixedNet>("h", batch, batched);
        }
    }
}
