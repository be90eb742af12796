//! Exact discrete gradients (BPTT) against finite differences and forward-mode duals;
//! checkpointing; the continuous adjoint against the discrete gradient and its own loss.

#![allow(clippy::needless_range_loop)]

mod common;

use common::{params, sines, Gle1, Gle1FixedTau};
use num_dual::Dual64;
use vle_runtime::params::zero_non_learnable;
use vle_runtime::{
    batch_gradient, continuous_adjoint, discrete_loss, exact_gradient, Bptt, Network, Tape, Window,
};

const DT: f64 = 0.05;
const STEPS: usize = 100;
const BETA: f64 = 1.0;

fn window(dt: f64, steps: usize) -> (Vec<f64>, Vec<f64>) {
    let w = Window::sample(&sines(), 0.0, dt, steps);
    (w.xs, w.ys)
}

fn loss_f64(p: &[f64], xs: &[f64], ys: &[f64], dt: f64) -> f64 {
    let mut s = vec![0.0; Gle1::STATE];
    discrete_loss::<Gle1, f64>(p, &mut s, xs, ys, dt, BETA).unwrap()
}

fn max_abs(v: &[f64]) -> f64 {
    v.iter().fold(0.0, |m, x| m.max(x.abs()))
}

#[test]
fn exact_gradient_matches_central_finite_differences() {
    let p = params();
    let (xs, ys) = window(DT, STEPS);
    let (loss, g) = exact_gradient::<Gle1, f64>(&p, &xs, &ys, DT, BETA, Tape::Full).unwrap();
    assert!((loss - loss_f64(&p, &xs, &ys, DT)).abs() <= 1e-14 * loss.abs());
    // Central differences: truncation ≈ h²|L'''|/6, rounding ≈ ε|L|/h. With h = 1e-5 and
    // L, L''' = O(1) both are ~1e-11; 1e-8 leaves a margin of ~1000 over the estimate.
    let h = 1e-5;
    for i in 0..Gle1::PARAMS {
        let (mut pp, mut pm) = (p.clone(), p.clone());
        pp[i] += h;
        pm[i] -= h;
        let fd = (loss_f64(&pp, &xs, &ys, DT) - loss_f64(&pm, &xs, &ys, DT)) / (2.0 * h);
        assert!(
            (fd - g[i]).abs() <= 1e-8 * (1.0 + g[i].abs()),
            "param {i}: bptt {} fd {fd}",
            g[i]
        );
    }
}

#[test]
fn exact_gradient_matches_forward_mode_duals_to_rounding() {
    let p = params();
    let (xs, ys) = window(DT, STEPS);
    let (_, g) = exact_gradient::<Gle1, f64>(&p, &xs, &ys, DT, BETA, Tape::Full).unwrap();
    let scale = max_abs(&g);
    let xd: Vec<Dual64> = xs.iter().map(|&x| Dual64::from(x)).collect();
    let yd: Vec<Dual64> = ys.iter().map(|&y| Dual64::from(y)).collect();
    for i in 0..Gle1::PARAMS {
        let pd: Vec<Dual64> = (0..Gle1::PARAMS)
            .map(|j| Dual64::new(p[j], if i == j { 1.0 } else { 0.0 }))
            .collect();
        let mut s = vec![Dual64::from(0.0); Gle1::STATE];
        let l =
            discrete_loss::<Gle1, Dual64>(&pd, &mut s, &xd, &yd, DT.into(), BETA.into()).unwrap();
        // Relative to the gradient's size (an entry near zero has no meaningful relative error).
        assert!(
            (l.eps - g[i]).abs() <= 1e-9 * scale,
            "param {i}: bptt {} dual {}",
            g[i],
            l.eps
        );
    }
    // The BPTT kernels also run in dual numbers (value part = f64 gradient up to the
    // rounding of num-dual's elementary functions).
    let pd: Vec<Dual64> = p.iter().map(|&v| Dual64::from(v)).collect();
    let (_, gd) =
        exact_gradient::<Gle1, Dual64>(&pd, &xd, &yd, DT.into(), BETA.into(), Tape::Full).unwrap();
    for i in 0..Gle1::PARAMS {
        assert!((gd[i].re - g[i]).abs() <= 1e-13 * scale);
    }
}

#[test]
fn checkpointed_tape_gives_bit_identical_gradients() {
    let p = params();
    for steps in [100, 97, 1, 2] {
        let (xs, ys) = window(DT, steps);
        let (lf, gf) = exact_gradient::<Gle1, f64>(&p, &xs, &ys, DT, BETA, Tape::Full).unwrap();
        for k in [0, 1, 3, 7, 10, 200] {
            let (lc, gc) =
                exact_gradient::<Gle1, f64>(&p, &xs, &ys, DT, BETA, Tape::Checkpoint(k)).unwrap();
            assert_eq!(lc.to_bits(), lf.to_bits(), "steps {steps} k {k}");
            for i in 0..Gle1::PARAMS {
                assert_eq!(
                    gc[i].to_bits(),
                    gf[i].to_bits(),
                    "steps {steps} k {k} param {i}"
                );
            }
        }
    }
}

#[test]
fn batch_gradient_is_the_mean_and_carries_the_state() {
    let p = params();
    let (x1, y1) = window(DT, 40);
    let w2 = Window::sample(&sines(), 1.0, DT, 40);
    let (_, g1) = exact_gradient::<Gle1, f64>(&p, &x1, &y1, DT, BETA, Tape::Full).unwrap();
    let (_, g2) = exact_gradient::<Gle1, f64>(&p, &w2.xs, &w2.ys, DT, BETA, Tape::Full).unwrap();
    let xs = [x1.clone(), w2.xs.clone()].concat();
    let ys = [y1.clone(), w2.ys.clone()].concat();
    let mut states = vec![0.0; 2 * Gle1::STATE];
    let mut g = vec![0.0; Gle1::PARAMS];
    let mut bptt = Bptt::<Gle1, f64>::new();
    batch_gradient(
        &mut bptt,
        &p,
        &mut states,
        &xs,
        &ys,
        DT,
        BETA,
        Tape::Full,
        &mut g,
    )
    .unwrap();
    for i in 0..Gle1::PARAMS {
        assert!((g[i] - 0.5 * (g1[i] + g2[i])).abs() <= 1e-15 * (1.0 + g[i].abs()));
    }
    let mut s = vec![0.0; Gle1::STATE];
    discrete_loss::<Gle1, f64>(&p, &mut s, &x1, &y1, DT, BETA).unwrap();
    assert_eq!(&states[..2], &s[..]);

    // Non-learnable entries are zeroed only on request.
    let mut g = g1.clone();
    zero_non_learnable::<Gle1FixedTau, f64>(&mut g).unwrap();
    assert_eq!(&g[..2], &g1[..2]);
    assert_eq!(&g[2..], &[0.0, 0.0]);
}

#[test]
fn continuous_adjoint_matches_finite_differences_of_the_continuous_loss() {
    // The adjoint is not the derivative of the RK4-discretised loss, but both are within
    // O(dt⁴) ≈ 1e-8 of the continuous problem's at dt = 0.01 (measured: 1e-9).
    let p = params();
    let (dt, steps) = (0.01, 400);
    let sweep =
        continuous_adjoint::<Gle1, f64, _>(&p, &sines(), None, 0.0, dt, steps, BETA).unwrap();
    let h = 1e-5;
    for i in 0..Gle1::PARAMS {
        let (mut pp, mut pm) = (p.clone(), p.clone());
        pp[i] += h;
        pm[i] -= h;
        let lp = continuous_adjoint::<Gle1, f64, _>(&pp, &sines(), None, 0.0, dt, steps, BETA)
            .unwrap()
            .loss;
        let lm = continuous_adjoint::<Gle1, f64, _>(&pm, &sines(), None, 0.0, dt, steps, BETA)
            .unwrap()
            .loss;
        let fd = (lp - lm) / (2.0 * h);
        assert!(
            (fd - sweep.grad[i]).abs() <= 1e-7 * (1.0 + fd.abs()),
            "param {i}: adjoint {} fd {fd}",
            sweep.grad[i]
        );
    }
    // Terminal condition and error bookkeeping.
    assert_eq!(sweep.costate.len(), steps + 1);
    assert_eq!(sweep.costate[steps], 0.0);
    assert_eq!(sweep.errors.len(), steps + 1);
}

#[test]
fn continuous_adjoint_and_discrete_gradient_differ_by_order_dt() {
    let p = params();
    let t_end = 4.0;
    let mut diffs = Vec::new();
    for k in 0..4 {
        let dt = 0.04 / f64::from(1u32 << k);
        let steps = (t_end / dt).round() as usize;
        let (xs, ys) = window(dt, steps);
        let (_, gd) = exact_gradient::<Gle1, f64>(&p, &xs, &ys, dt, BETA, Tape::Full).unwrap();
        let gc = continuous_adjoint::<Gle1, f64, _>(&p, &sines(), None, 0.0, dt, steps, BETA)
            .unwrap()
            .grad;
        let d: Vec<f64> = gd.iter().zip(&gc).map(|(a, b)| a - b).collect();
        diffs.push(max_abs(&d));
    }
    let ratios: Vec<f64> = diffs.windows(2).map(|w| w[0] / w[1]).collect();
    println!("continuous vs discrete: max |Δg| {diffs:?}, ratios {ratios:?}");
    // First-order: the ratio tends to 2; the O(dt²) remainder moves it by a few percent.
    for r in ratios {
        assert!((1.85..2.15).contains(&r), "ratio {r} (diffs {diffs:?})");
    }
}
