//! `Network::online_step_batch` (matrix products over the batch) against the per-sample
//! `Network::online_step` for every hand-written test model, recurrent and non-GLE ones
//! included.

mod models;

vle::vle_model! {
    /// Declared names equal to the batch kernels' own locals (`b`, `nb`, `bs`, `bl`, `rest`,
    /// `scratch`) or to the names of their offsets (a state `eps` has the offset `o_eps`):
    /// the generated loops must not pick up the neuron's values instead of theirs.
    pub network Shadowing {
        neuron Adapt {
            param tau_m, tau_r, nb, rest;
            activation phi;
            state b, bs, eps;
            mismatch e = b + tau_m * d(b) + nb * bs - input;
            mismatch e_a = bs + rest * d(bs) - b;
            mismatch e_c = eps + rest * d(eps) - 0.5 * bs;
            prospective bl = b + tau_r * d(b);
            rate r = phi(bl);
        }
        fn scratch(z) = z / (1 + z^2)^0.5;
        input x: 2;
        layer h: 3 = Adapt { phi: scratch, tau_m: 1.0, tau_r: [1.0, 0.3, 0.3], nb: 0.5, rest: 2.0 } <- x + bias;
        layer out: 2 = Adapt { phi: identity, tau_m: 0.5, tau_r: 0.5, nb: 0.2, rest: 1.0 } <- h + bias;
        energy = 0.5 * sum_sq(e, e_a, e_c) + beta * mse(out.r, target);
        learn W, b, tau_m, tau_r, nb;
    }
}

use vle::params::init_params;
use vle::Network;

/// Runs `steps` online steps of `batch` samples both ways and returns the largest difference
/// of states, error-neuron states and accumulated gradients, relative to each vector's
/// largest entry.
fn batch_vs_per_sample<N: Network>(batch: usize, steps: usize, gamma: f64) -> f64 {
    let p: Vec<f64> = init_params::<N, f64>(7);
    let dt = 0.01;
    let (mut s1, mut l1, mut g1) = (
        vec![0.0; batch * N::STATE],
        vec![0.0; batch * N::LOCAL],
        vec![0.0; N::PARAMS],
    );
    let (mut s2, mut l2, mut g2) = (s1.clone(), l1.clone(), g1.clone());
    let mut scratch = vec![f64::NAN; batch * N::BATCH_SCRATCH];
    let (mut xs, mut ys) = (vec![0.0; batch * N::INPUT], vec![0.0; batch * N::OUTPUT]);
    for n in 0..steps {
        let t = n as f64 * dt;
        for b in 0..batch {
            for k in 0..N::INPUT {
                xs[b * N::INPUT + k] = (1.3 * t * (1.0 + b as f64) + k as f64).sin();
            }
            for k in 0..N::OUTPUT {
                // Nonnegative and summing to ≤ 1 so cross-entropy targets are valid too.
                ys[b * N::OUTPUT + k] =
                    (0.5 + 0.5 * (0.7 * t + (b + k) as f64).cos()) / N::OUTPUT as f64;
            }
        }
        for b in 0..batch {
            N::online_step(
                &p,
                &mut s1[b * N::STATE..(b + 1) * N::STATE],
                &mut l1[b * N::LOCAL..(b + 1) * N::LOCAL],
                &xs[b * N::INPUT..(b + 1) * N::INPUT],
                &ys[b * N::OUTPUT..(b + 1) * N::OUTPUT],
                1.0,
                gamma,
                dt,
                &mut g1,
            );
        }
        // A NaN-filled scratch proves the kernel never reads stale scratch entries.
        scratch.fill(f64::NAN);
        N::online_step_batch(
            &p,
            &mut s2,
            &mut l2,
            &xs,
            &ys,
            1.0,
            gamma,
            dt,
            &mut g2,
            batch,
            &mut scratch,
        );
    }
    let rel = |a: &[f64], b: &[f64]| {
        let scale = a.iter().fold(0.0f64, |m, v| m.max(v.abs())).max(1e-300);
        a.iter()
            .zip(b)
            .map(|(x, y)| (x - y).abs() / scale)
            .fold(
                0.0f64,
                |m, e| if e.is_nan() { f64::INFINITY } else { m.max(e) },
            )
    };
    rel(&s1, &s2).max(rel(&l1, &l2)).max(rel(&g1, &g2))
}

/// The two differ only in the order of the synaptic sums (GEMM blocks vs a dot product with
/// four partial sums): ≤ k·ε ≈ 64 · 1.1e-16 = 7e-15 relative per sum, carried through 200
/// stable steps and accumulated into gradients over 200 steps: well below 1e-11. A wrong
/// index, transposition or missed term is O(1).
const TOL: f64 = 1e-11;

#[test]
fn batched_online_step_equals_the_per_sample_steps() {
    for (name, err) in [
        ("LagNet", batch_vs_per_sample::<models::LagNet>(5, 200, 0.0)),
        (
            "AdaptNet",
            batch_vs_per_sample::<models::AdaptNet>(3, 200, 0.0),
        ),
        (
            "MixedNet",
            batch_vs_per_sample::<models::MixedNet>(4, 200, 0.0),
        ),
        ("LeNet", batch_vs_per_sample::<models::LeNet>(6, 200, 0.1)),
        ("Linear", batch_vs_per_sample::<models::Linear>(2, 200, 0.0)),
        ("Chain", batch_vs_per_sample::<models::Chain>(7, 200, 0.3)),
        ("Shadowing", batch_vs_per_sample::<Shadowing>(3, 200, 0.2)),
        // Batch 1 runs the batch kernel too (vector products instead of matrix products).
        (
            "LagNet b1",
            batch_vs_per_sample::<models::LagNet>(1, 200, 0.0),
        ),
        (
            "MixedNet b1",
            batch_vs_per_sample::<models::MixedNet>(1, 200, 0.2),
        ),
    ] {
        println!("{name}: max relative difference {err:e}");
        assert!(err <= TOL, "{name}: {err:e} > {TOL:e}");
    }
}

/// Without nudging (γ = 0) the online step's forward part is exactly the Euler step: the
/// state trajectory of a learning run equals the plain simulation, bit for bit (the same
/// emitted expressions in the same order).
#[test]
fn online_step_without_nudging_moves_the_state_like_euler_step() {
    fn one<N: Network>() {
        let p: Vec<f64> = init_params::<N, f64>(3);
        let (mut s1, mut s2) = (vec![0.0; N::STATE], vec![0.0; N::STATE]);
        let (mut local, mut grad) = (vec![0.0; N::LOCAL], vec![0.0; N::PARAMS]);
        let y = vec![1.0 / N::OUTPUT as f64; N::OUTPUT];
        for n in 0..300 {
            let x: Vec<f64> = (0..N::INPUT)
                .map(|k| (0.05 * n as f64 * (k + 1) as f64).sin())
                .collect();
            N::euler_step(&p, &mut s1, &x, 0.01);
            N::online_step(&p, &mut s2, &mut local, &x, &y, 1.0, 0.0, 0.01, &mut grad);
            assert_eq!(s1, s2, "{} step {n}", N::NAME);
        }
    }
    one::<models::LagNet>();
    one::<models::AdaptNet>();
    one::<models::MixedNet>();
    one::<models::LeNet>();
}

/// `ParallelOnline` (chunks of the batch on the rayon pool, gradients summed afterwards)
/// against the single call. The matrix kernels pick their tiling (and fused or separate
/// multiply-adds) by the batch width, so states differ in the last bits (≤ 1e-13 relative
/// after 100 stable steps); the gradients differ also in the order of the batch sum. A lost
/// or doubled chunk is O(1).
#[test]
fn parallel_chunks_equal_the_single_batched_step() {
    fn one<N: Network>(batch: usize, chunks: usize) {
        let p: Vec<f64> = init_params::<N, f64>(11);
        let (mut s1, mut l1, mut g1) = (
            vec![0.0; batch * N::STATE],
            vec![0.0; batch * N::LOCAL],
            vec![0.0; N::PARAMS],
        );
        let (mut s2, mut l2, mut g2) = (s1.clone(), l1.clone(), g1.clone());
        let mut scratch = vec![0.0; batch * N::BATCH_SCRATCH];
        let mut par = vle::ParallelOnline::<f64>::new::<N>(batch, chunks);
        assert_eq!(par.chunks(), chunks.min(batch));
        let ys = vec![0.5 / N::OUTPUT as f64; batch * N::OUTPUT];
        for n in 0..100 {
            let xs: Vec<f64> = (0..batch * N::INPUT)
                .map(|k| (0.03 * n as f64 * (1 + k) as f64).sin())
                .collect();
            N::online_step_batch(
                &p,
                &mut s1,
                &mut l1,
                &xs,
                &ys,
                1.0,
                0.0,
                0.01,
                &mut g1,
                batch,
                &mut scratch,
            );
            par.step::<N>(&p, &mut s2, &mut l2, &xs, &ys, 1.0, 0.0, 0.01, &mut g2)
                .unwrap();
        }
        for (v1, v2) in [(&s1, &s2), (&l1, &l2), (&g1, &g2)] {
            let scale = v1.iter().fold(0.0f64, |m, v| m.max(v.abs()));
            for (a, b) in v1.iter().zip(v2.iter()) {
                assert!((a - b).abs() <= 1e-13 * scale, "{}: {a} vs {b}", N::NAME);
            }
        }
    }
    one::<models::LagNet>(7, 3);
    one::<models::MixedNet>(10, 4);
    one::<models::AdaptNet>(2, 2);
}

/// One sample's exact gradient with the per-sample kernels (`euler_step`, `loss_adjoint`,
/// `euler_step_adjoint`), written out here as the reference: `Bptt` runs the batch kernels
/// for every batch size, so this keeps the per-sample kernels checked against them.
fn per_sample_sweep<N: Network>(
    p: &[f64],
    state: &mut [f64],
    (xs, ys): (&[f64], &[f64]),
    (dt, beta): (f64, f64),
    grad: &mut [f64],
) -> f64 {
    let steps = xs.len() / N::INPUT;
    let mut tape = Vec::with_capacity((steps + 1) * N::STATE);
    for n in 0..steps {
        tape.extend_from_slice(state);
        N::euler_step(p, state, &xs[n * N::INPUT..(n + 1) * N::INPUT], dt);
    }
    tape.extend_from_slice(state);
    let (mut adj, mut adj_prev) = (vec![0.0; N::STATE], vec![0.0; N::STATE]);
    let mut sum = 0.0;
    for n in (0..steps).rev() {
        let next = &tape[(n + 1) * N::STATE..(n + 2) * N::STATE];
        let y = &ys[n * N::OUTPUT..(n + 1) * N::OUTPUT];
        sum += N::loss_adjoint(p, next, y, beta * dt, &mut adj, grad);
        let cur = &tape[n * N::STATE..(n + 1) * N::STATE];
        let x = &xs[n * N::INPUT..(n + 1) * N::INPUT];
        N::euler_step_adjoint(p, cur, x, dt, &adj, &mut adj_prev, grad);
        std::mem::swap(&mut adj, &mut adj_prev);
    }
    beta * dt * sum
}

/// The batched exact gradient (`Bptt::gradient_batch`: Euler steps and their reverse mode as
/// matrix products over the batch) against the per-sample kernels' sweep, with a full tape and
/// with checkpoints; and `Bptt::gradient` of each sample (the batch kernels at batch 1) against
/// the same. Only the order of the batch and synaptic sums differs (≤ 1e-12 relative over
/// 150 steps); a wrong index or transposition is O(1).
#[test]
fn batched_exact_gradient_equals_the_per_sample_sweeps() {
    fn one<N: Network>(batch: usize, tape: vle::Tape) {
        let p: Vec<f64> = init_params::<N, f64>(5);
        let steps = 150;
        let xs: Vec<f64> = (0..batch * steps * N::INPUT)
            .map(|k| (0.013 * k as f64).sin())
            .collect();
        let ys: Vec<f64> = (0..batch * steps * N::OUTPUT)
            .map(|k| (0.5 + 0.4 * (0.007 * k as f64).cos()) / N::OUTPUT as f64)
            .collect();
        let (nx, ny) = (steps * N::INPUT, steps * N::OUTPUT);
        let (mut g1, mut loss1) = (vec![0.0; N::PARAMS], 0.0);
        let mut s1 = vec![0.0; batch * N::STATE];
        for b in 0..batch {
            loss1 += per_sample_sweep::<N>(
                &p,
                &mut s1[b * N::STATE..(b + 1) * N::STATE],
                (&xs[b * nx..(b + 1) * nx], &ys[b * ny..(b + 1) * ny]),
                (0.01, 1.0),
                &mut g1,
            );
        }
        let mut bptt = vle::Bptt::<N, f64>::new();
        let (mut g2, mut s2) = (vec![0.0; N::PARAMS], vec![0.0; batch * N::STATE]);
        let loss2 = bptt
            .gradient_batch(&p, &mut s2, &xs, &ys, 0.01, 1.0, tape, &mut g2)
            .unwrap();
        let (mut g3, mut loss3) = (vec![0.0; N::PARAMS], 0.0);
        let mut s3 = vec![0.0; batch * N::STATE];
        for b in 0..batch {
            loss3 += bptt
                .gradient(
                    &p,
                    &mut s3[b * N::STATE..(b + 1) * N::STATE],
                    &xs[b * nx..(b + 1) * nx],
                    &ys[b * ny..(b + 1) * ny],
                    0.01,
                    1.0,
                    tape,
                    &mut g3,
                )
                .unwrap();
        }
        for loss in [loss2, loss3] {
            assert!((loss1 - loss).abs() <= 1e-12 * loss1.abs(), "{}", N::NAME);
        }
        for (v1, v2) in [(&s1, &s2), (&g1, &g2), (&s1, &s3), (&g1, &g3)] {
            let scale = v1.iter().fold(0.0f64, |m, v| m.max(v.abs()));
            for (a, b) in v1.iter().zip(v2.iter()) {
                assert!((a - b).abs() <= 1e-12 * scale, "{}: {a} vs {b}", N::NAME);
            }
        }
    }
    for tape in [vle::Tape::Full, vle::Tape::Checkpoint(0)] {
        one::<models::LagNet>(4, tape);
        one::<models::AdaptNet>(3, tape);
        one::<models::MixedNet>(5, tape);
        one::<models::LeNet>(2, tape);
        one::<models::Chain>(2, tape);
        one::<Shadowing>(3, tape);
    }
}
