//! Checkpoints: resumed training is bit-identical to uninterrupted training, values round-trip
//! bit-exactly, and every bad file (another model, version or scalar type, truncated,
//! corrupted, half-written by a killed process) is refused with a clear error, never a panic.

mod common;

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use common::{params, sines, Gle1};
use vle_runtime::checkpoint::{
    load_params, load_training, save_params, save_training, write_atomic, Checkpoint,
    OptimizerState, TrainerState,
};
use vle_runtime::exact::Tape;
use vle_runtime::optim::AdamState;
use vle_runtime::params::learnable_mask;
use vle_runtime::train::OnlineSnapshot;
use vle_runtime::{
    Adam, Derivation, Error, ExactConfig, ExactTrainer, LayerInfo, Network, OnlineConfig,
    OnlineTrainer, ParamInfo, ParamKind, Rng, Scalar, Sgd, Signal,
};

const DT: f64 = 0.05;

/// A fresh directory for one test.
fn test_dir(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("vle-ckpt-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
}

/// Samples on the dt grid (like a data set): `t` is rounded to the nearest step, so a run
/// resumed at `t0 = N·dt` sees exactly the samples of one uninterrupted run.
struct Grid {
    xs: Vec<f64>,
    ys: Vec<f64>,
}

impl Grid {
    fn new(steps: usize, phase: f64) -> Self {
        let xs = (0..=steps)
            .map(|n| {
                let t = n as f64 * DT;
                (1.9 * t + phase).sin() + 0.5 * (4.4 * t + 1.0).sin()
            })
            .collect();
        let ys = (0..=steps)
            .map(|n| 0.5 * (1.9 * n as f64 * DT - 0.5 + phase).sin())
            .collect();
        Grid { xs, ys }
    }
}

impl Signal for Grid {
    fn input_dim(&self) -> usize {
        1
    }
    fn target_dim(&self) -> usize {
        1
    }
    fn at(&self, t: f64, x: &mut [f64], y: &mut [f64]) {
        let n = ((t / DT).round() as usize).min(self.xs.len() - 1);
        x[0] = self.xs[n];
        y[0] = self.ys[n];
    }
}

fn online_config() -> OnlineConfig {
    OnlineConfig {
        dt: DT,
        beta: 1.0,
        gamma: 0.2,
        update_every: 10,
        tau_max: 10.0,
    }
}

fn exact_config() -> ExactConfig {
    ExactConfig {
        dt: DT,
        beta: 1.0,
        window: 20,
        tape: Tape::Checkpoint(0),
        carry_state: true,
        tau_max: f64::INFINITY,
    }
}

fn bits(v: &[f64]) -> Vec<u64> {
    v.iter().map(|x| x.to_bits()).collect()
}

#[test]
fn online_training_with_adam_resumes_bit_identically() {
    let n = 137; // not a multiple of update_every: the checkpoint holds a pending gradient
    let signals = [Grid::new(2 * n, 0.0), Grid::new(2 * n, 0.7)];
    let adam = || Adam::new(0.01, learnable_mask::<Gle1>());

    let mut p_straight = params();
    let mut straight = OnlineTrainer::<Gle1, f64, _>::new(online_config(), 2, adam()).unwrap();
    let h_straight = straight
        .run(&mut p_straight, &signals, 0.0, 2 * n, None)
        .unwrap();

    let dir = test_dir("online");
    let path = dir.join("run.ckpt");
    let mut p = params();
    let mut first = OnlineTrainer::<Gle1, f64, _>::new(online_config(), 2, adam()).unwrap();
    let h1 = first.run(&mut p, &signals, 0.0, n, None).unwrap();
    assert_ne!(first.snapshot().pending_steps, 0);
    assert!(first.snapshot().grad.iter().any(|&g| g != 0.0));
    save_training(&path, &p, &first).unwrap();

    // A fresh trainer built with other hyper-parameters: the checkpoint's replace them.
    let other = OnlineConfig {
        gamma: 0.0,
        update_every: 3,
        ..online_config()
    };
    let mut second =
        OnlineTrainer::<Gle1, f64, _>::new(other, 2, Adam::new(0.5, vec![true; 4])).unwrap();
    let mut p = load_training(&path, &mut second).unwrap();
    assert_eq!(second.config, online_config());
    assert_eq!(second.snapshot(), first.snapshot());
    assert_eq!(second.optimizer.state(), first.optimizer.state());
    assert_eq!(second.optimizer.mask, learnable_mask::<Gle1>());
    let t0 = second.steps() as f64 * DT;
    let h2 = second.run(&mut p, &signals, t0, n, None).unwrap();

    assert_eq!(bits(&p), bits(&p_straight), "{p:?} vs {p_straight:?}");
    assert_eq!(second.snapshot(), straight.snapshot());
    assert_eq!(second.optimizer.state(), straight.optimizer.state());
    let resumed: Vec<f64> = h1.loss.iter().chain(&h2.loss).copied().collect();
    assert_eq!(bits(&resumed), bits(&h_straight.loss));
    assert_ne!(p, params(), "training moved the parameters");
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn exact_training_with_adam_resumes_bit_identically() {
    let windows = 7;
    let steps = 2 * windows * exact_config().window;
    let signals = [Grid::new(steps, 0.0), Grid::new(steps, 1.3)];
    let adam = || Adam::new(0.02, learnable_mask::<Gle1>());

    let mut p_straight = params();
    let mut straight = ExactTrainer::<Gle1, f64, _>::new(exact_config(), 2, adam()).unwrap();
    let h_straight = straight
        .run(&mut p_straight, &signals, 0.0, 2 * windows, None)
        .unwrap();

    let dir = test_dir("exact");
    let path = dir.join("run.ckpt");
    let mut p = params();
    let mut first = ExactTrainer::<Gle1, f64, _>::new(exact_config(), 2, adam()).unwrap();
    let h1 = first.run(&mut p, &signals, 0.0, windows, None).unwrap();
    save_training(&path, &p, &first).unwrap();
    // tau_max = ∞ is a valid setting and is stored as "inf".
    assert!(std::fs::read_to_string(&path)
        .unwrap()
        .contains("\"tau_max\":\"inf\""));

    let mut second = ExactTrainer::<Gle1, f64, _>::new(
        ExactConfig {
            window: 3,
            tape: Tape::Full,
            ..exact_config()
        },
        2,
        adam(),
    )
    .unwrap();
    let mut p = load_training(&path, &mut second).unwrap();
    assert_eq!(second.config, exact_config());
    assert_eq!(second.snapshot(), first.snapshot());
    let t0 = second.steps() as f64 * DT;
    let h2 = second.run(&mut p, &signals, t0, windows, None).unwrap();

    assert_eq!(bits(&p), bits(&p_straight), "{p:?} vs {p_straight:?}");
    assert_eq!(second.snapshot(), straight.snapshot());
    assert_eq!(second.optimizer.state(), straight.optimizer.state());
    let resumed: Vec<f64> = h1.loss.iter().chain(&h2.loss).copied().collect();
    assert_eq!(bits(&resumed), bits(&h_straight.loss));
    std::fs::remove_dir_all(&dir).unwrap();
}

/// With a signal continuous in t, the same `run` calls with and without a save/load in between
/// are bit-identical too (here in f32 with Sgd).
#[test]
fn f32_sgd_online_training_resumes_bit_identically_across_the_same_calls() {
    let n = 95;
    let sgd = || Sgd::new(0.05, learnable_mask::<Gle1>());
    let p0: Vec<f32> = params().iter().map(|&x| x as f32).collect();

    let mut p_straight = p0.clone();
    let mut straight = OnlineTrainer::<Gle1, f32, _>::new(online_config(), 1, sgd()).unwrap();
    straight
        .run(&mut p_straight, &[sines()], 0.0, n, None)
        .unwrap();
    straight
        .run(&mut p_straight, &[sines()], n as f64 * DT, n, None)
        .unwrap();

    let dir = test_dir("f32");
    let path = dir.join("run.ckpt");
    let mut p = p0.clone();
    let mut first = OnlineTrainer::<Gle1, f32, _>::new(online_config(), 1, sgd()).unwrap();
    first.run(&mut p, &[sines()], 0.0, n, None).unwrap();
    save_training(&path, &p, &first).unwrap();
    let mut second = OnlineTrainer::<Gle1, f32, _>::new(online_config(), 1, sgd()).unwrap();
    let mut p = load_training(&path, &mut second).unwrap();
    second
        .run(&mut p, &[sines()], second.steps() as f64 * DT, n, None)
        .unwrap();
    let b = |v: &[f32]| v.iter().map(|x| x.to_bits()).collect::<Vec<_>>();
    assert_eq!(b(&p), b(&p_straight));
    assert_eq!(second.snapshot(), straight.snapshot());
    std::fs::remove_dir_all(&dir).unwrap();
}

/// A checkpoint of `Gle1` holding `values` in the online trainer's states (batch × 2).
fn with_states<T: vle_runtime::checkpoint::CheckpointScalar>(values: &[T]) -> Checkpoint<Gle1, T> {
    let mut c = Checkpoint::<Gle1, T>::from_params(&[T::one(), T::zero(), T::one(), T::one()]);
    let mut v = values.to_vec();
    if v.len() % 2 == 1 {
        v.push(T::zero());
    }
    let batch = v.len() / 2;
    c.trainer = Some(TrainerState::Online {
        config: online_config(),
        progress: OnlineSnapshot {
            batch,
            states: v.clone(),
            local: v,
            grad: vec![T::zero(); 4],
            steps: 3,
            updates: 0,
            pending_loss: 0.25,
            pending_steps: 3,
        },
    });
    c.optimizer = Some(OptimizerState::Sgd {
        lr: 0.1,
        mask: vec![true; 4],
    });
    c
}

fn stored_states<T: vle_runtime::checkpoint::CheckpointScalar>(c: &Checkpoint<Gle1, T>) -> &[T] {
    match c.trainer.as_ref().unwrap() {
        TrainerState::Online { progress, .. } => &progress.states,
        _ => unreachable!(),
    }
}

#[test]
fn f64_values_round_trip_bit_exactly() {
    let mut values = vec![
        0.0,
        -0.0,
        1.0,
        -1.0,
        0.1,
        1.0 / 3.0,
        std::f64::consts::PI,
        f64::MAX,
        -f64::MAX,
        f64::MIN_POSITIVE,
        -f64::MIN_POSITIVE,
        f64::from_bits(1), // smallest subnormal
        -f64::from_bits(1),
        f64::from_bits(0x000f_ffff_ffff_ffff), // largest subnormal
        f64::from_bits(0x0008_0000_0000_0001),
        f64::EPSILON,
        1.0 + f64::EPSILON,
        9_007_199_254_740_993.0,
        1e308,
        1e-308,
        123_456_789.123_456_78,
        f64::from(f32::MAX),
        f64::from(f32::from_bits(1)),
    ];
    let mut rng = Rng::new(7);
    while values.len() < 20_000 {
        let x = f64::from_bits(rng.next_u64());
        if x.is_finite() {
            values.push(x);
        }
    }
    let c = with_states(&values);
    let back = Checkpoint::<Gle1, f64>::from_bytes(&c.to_bytes().unwrap(), "memory").unwrap();
    assert_eq!(bits(stored_states(&back)), bits(&values));
    assert_eq!(back, c);
}

/// A custom training loop saves parameters and optimizer without a trainer (as the mnist1d
/// example does) and continues bit-identically; a trainer without its optimizer is refused.
#[test]
fn custom_loop_checkpoints_keep_the_optimizer_and_resume_bit_identically() {
    use vle_runtime::checkpoint::StatefulOptimizer;
    use vle_runtime::Optimizer;
    let mask = learnable_mask::<Gle1>();
    let grads = |k: usize| -> Vec<f64> {
        (0..Gle1::PARAMS)
            .map(|i| ((k * 31 + i * 7) as f64).sin())
            .collect()
    };
    let (mut p, mut adam) = (params(), Adam::new(0.01, mask));
    for k in 0..5 {
        adam.step(&mut p, &grads(k)).unwrap();
    }
    let mut c = Checkpoint::<Gle1, f64>::from_params(&p);
    c.optimizer = Some(adam.save_state());
    let back = Checkpoint::<Gle1, f64>::from_bytes(&c.to_bytes().unwrap(), "memory").unwrap();
    assert_eq!(back, c);
    let (mut q, mut resumed) = (back.params, Adam::new(0.5, vec![false; Gle1::PARAMS]));
    resumed.restore_state(back.optimizer.unwrap()).unwrap();
    for k in 5..9 {
        adam.step(&mut p, &grads(k)).unwrap();
        resumed.step(&mut q, &grads(k)).unwrap();
    }
    assert_eq!(bits(&p), bits(&q));

    let mut t = with_states(&[0.5; 4]);
    t.optimizer = None;
    let e = Checkpoint::<Gle1, f64>::from_bytes(&t.to_bytes().unwrap(), "memory").unwrap_err();
    assert!(
        e.to_string().contains("a trainer without its optimizer"),
        "{e}"
    );
}

#[test]
fn f32_values_round_trip_bit_exactly() {
    let mut values = vec![
        0.0f32,
        -0.0,
        0.1,
        1.0 / 3.0,
        f32::MAX,
        -f32::MAX,
        f32::MIN_POSITIVE,
        f32::from_bits(1),
        -f32::from_bits(1),
        f32::from_bits(0x007f_ffff),
        f32::EPSILON,
        16_777_217.0,
    ];
    let mut rng = Rng::new(11);
    while values.len() < 20_000 {
        let x = f32::from_bits(rng.next_u64() as u32);
        if x.is_finite() {
            values.push(x);
        }
    }
    let c = with_states(&values);
    let back = Checkpoint::<Gle1, f32>::from_bytes(&c.to_bytes().unwrap(), "memory").unwrap();
    let b = |v: &[f32]| v.iter().map(|x| x.to_bits()).collect::<Vec<_>>();
    assert_eq!(b(stored_states(&back)), b(&values));
    assert_eq!(back, c);
}

#[test]
fn non_finite_values_are_refused_at_save_and_the_old_file_is_kept() {
    let dir = test_dir("nonfinite");
    let path = dir.join("p.ckpt");
    save_params::<Gle1, f64>(&path, &params()).unwrap();
    let before = std::fs::read(&path).unwrap();

    let mut p = params();
    p[3] = f64::NAN;
    let e = save_params::<Gle1, f64>(&path, &p).unwrap_err();
    let s = e.to_string();
    println!("{s}");
    assert!(matches!(e, Error::Checkpoint { .. }));
    assert!(
        s.contains("out.tau_r[0]") && s.contains("NaN") && s.contains("p.ckpt"),
        "{s}"
    );

    let mut c = with_states(&[1.0, f64::INFINITY, 2.0, 3.0]);
    let e = c.save(&path).unwrap_err().to_string();
    println!("{e}");
    assert!(e.contains("out.prospective[0]") && e.contains("sample 0") && e.contains("inf"));

    c = with_states(&[1.0; 4]);
    c.optimizer = Some(OptimizerState::Adam {
        lr: 0.1,
        beta1: 0.9,
        beta2: 0.999,
        eps: 1e-8,
        mask: vec![true; 4],
        state: AdamState {
            m: vec![0.0, f64::NEG_INFINITY, 0.0, 0.0],
            v: vec![0.0; 4],
            t: 2,
        },
    });
    let e = c.save(&path).unwrap_err().to_string();
    println!("{e}");
    assert!(e.contains("first moment") && e.contains("out.b[0]") && e.contains("-inf"));

    let sgd = Sgd::new(f64::NAN, learnable_mask::<Gle1>());
    let tr = OnlineTrainer::<Gle1, f64, _>::new(online_config(), 1, sgd).unwrap();
    let e = save_training(&path, &params(), &tr)
        .unwrap_err()
        .to_string();
    println!("{e}");
    assert!(e.contains("`lr` is NaN"));

    assert_eq!(
        std::fs::read(&path).unwrap(),
        before,
        "the old checkpoint is intact"
    );
    let leftovers = std::fs::read_dir(&dir).unwrap().count();
    assert_eq!(leftovers, 1, "no temporary files are left behind");
    std::fs::remove_dir_all(&dir).unwrap();
}

/// `Gle1`'s kernels under another declaration (name, layout).
macro_rules! variant {
    ($ty:ident, $name:literal, $params:literal, $state:literal, $info:expr) => {
        struct $ty;
        impl Network for $ty {
            const NAME: &'static str = $name;
            const INPUT: usize = 1;
            const OUTPUT: usize = 1;
            const PARAMS: usize = $params;
            const STATE: usize = $state;
            const CONT: usize = 1;
            const LOCAL: usize = 2;
            const NEURONS: usize = 1;
            fn param_info() -> &'static [ParamInfo] {
                $info
            }
            fn layer_info() -> &'static [LayerInfo] {
                Gle1::layer_info()
            }
            fn derivation() -> &'static Derivation {
                Gle1::derivation()
            }
            fn output<T: Scalar>(p: &[T], s: &[T], r: &mut [T]) {
                Gle1::output(p, s, r)
            }
            fn loss<T: Scalar>(p: &[T], s: &[T], y: &[T]) -> T {
                Gle1::loss(p, s, y)
            }
            fn loss_adjoint<T: Scalar>(
                p: &[T],
                s: &[T],
                y: &[T],
                k: T,
                a: &mut [T],
                g: &mut [T],
            ) -> T {
                Gle1::loss_adjoint(p, s, y, k, a, g)
            }
            fn euler_step<T: Scalar>(p: &[T], s: &mut [T], x: &[T], dt: T) {
                Gle1::euler_step(p, s, x, dt)
            }
            fn euler_step_adjoint<T: Scalar>(
                p: &[T],
                s: &[T],
                x: &[T],
                dt: T,
                an: &[T],
                ap: &mut [T],
                g: &mut [T],
            ) {
                Gle1::euler_step_adjoint(p, s, x, dt, an, ap, g)
            }
            fn rhs<T: Scalar>(p: &[T], c: &[T], x: &[T], dc: &mut [T]) {
                Gle1::rhs(p, c, x, dc)
            }
            fn refresh_prospective<T: Scalar>(p: &[T], s: &mut [T], x: &[T]) {
                Gle1::refresh_prospective(p, s, x)
            }
            fn adjoint_rhs<T: Scalar>(
                p: &[T],
                c: &[T],
                x: &[T],
                y: &[T],
                b: T,
                k: &[T],
                dk: &mut [T],
                e: &mut [T],
                g: &mut [T],
            ) {
                Gle1::adjoint_rhs(p, c, x, y, b, k, dk, e, g)
            }
            fn online_step<T: Scalar>(
                p: &[T],
                s: &mut [T],
                l: &mut [T],
                x: &[T],
                y: &[T],
                b: T,
                gm: T,
                dt: T,
                g: &mut [T],
            ) {
                Gle1::online_step(p, s, l, x, y, b, gm, dt, g)
            }
        }
    };
}

const fn tensor(name: &'static str, offset: usize, cols: usize) -> ParamInfo {
    ParamInfo {
        name,
        layer: "out",
        symbol: "x",
        kind: ParamKind::Bias,
        offset,
        rows: 1,
        cols,
        learnable: true,
        time_constant: false,
        defaults: &[],
    }
}

variant!(Renamed, "Other", 4, 2, Gle1::param_info());
variant!(Wider, "Gle1", 5, 2, {
    static INFO: [ParamInfo; 4] = [
        tensor("out.W<-x", 0, 1),
        tensor("out.b", 1, 1),
        tensor("out.tau_m", 2, 1),
        tensor("out.tau_r", 3, 2),
    ];
    &INFO
});
variant!(Reordered, "Gle1", 4, 3, {
    static INFO: [ParamInfo; 4] = [
        tensor("out.b", 0, 1),
        tensor("out.W<-x", 1, 1),
        tensor("out.tau_m", 2, 1),
        tensor("out.tau_a", 3, 1),
    ];
    &INFO
});

fn err_text(r: Result<impl std::fmt::Debug, Error>) -> String {
    let e = r.unwrap_err();
    assert!(matches!(e, Error::Checkpoint { .. }), "{e:?}");
    let s = e.to_string();
    println!("  {s}");
    s
}

#[test]
fn checkpoints_of_other_models_types_versions_and_trainers_are_refused() {
    let dir = test_dir("mismatch");
    let path = dir.join("gle1.ckpt");
    let name = path.display().to_string();
    let mut p = params();
    let mut online = OnlineTrainer::<Gle1, f64, _>::new(
        online_config(),
        2,
        Adam::new(0.01, learnable_mask::<Gle1>()),
    )
    .unwrap();
    online
        .run(&mut p, &[Grid::new(50, 0.0)], 0.0, 25, None)
        .unwrap();
    save_training(&path, &p, &online).unwrap();

    println!("what the user sees:");
    let s = err_text(load_params::<Renamed, f64>(&path));
    assert!(s.contains(&name) && s.contains("network `Gle1`, not `Other`"));
    let s = err_text(load_params::<Wider, f64>(&path));
    assert!(s.contains("PARAMS is 4 in the file but 5"));
    assert!(s.contains("`out.tau_r` is 1×1 in the file but 1×2"));
    let s = err_text(load_params::<Reordered, f64>(&path));
    assert!(s.contains("STATE is 2 in the file but 3"));
    assert!(s.contains("`out.W<-x` is at offset 0 in the file but 1"));
    assert!(s.contains("`out.tau_r` is not in the network"));
    assert!(s.contains("the network's tensor `out.tau_a` is not in the file"));
    let s = err_text(load_params::<Gle1, f32>(&path));
    assert!(s.contains("holds f64 values, but is being loaded as f32"));

    // Another trainer, optimizer or batch: refused, and the trainer is left as it was.
    let mut exact = ExactTrainer::<Gle1, f64, _>::new(
        exact_config(),
        2,
        Adam::new(0.01, learnable_mask::<Gle1>()),
    )
    .unwrap();
    let s = err_text(load_training(&path, &mut exact));
    assert!(s.contains("OnlineTrainer, not of an ExactTrainer"));
    let sgd = Sgd::new(0.1, learnable_mask::<Gle1>());
    let mut with_sgd = OnlineTrainer::<Gle1, f64, _>::new(online_config(), 2, sgd).unwrap();
    let s = err_text(load_training(&path, &mut with_sgd));
    assert!(s.contains("Adam optimizer, but the trainer's optimizer is Sgd"));
    let adam = Adam::new(0.3, learnable_mask::<Gle1>());
    let mut batch3 = OnlineTrainer::<Gle1, f64, _>::new(
        OnlineConfig {
            gamma: 0.0,
            ..online_config()
        },
        3,
        adam,
    )
    .unwrap();
    let before = (
        batch3.snapshot(),
        batch3.config.clone(),
        batch3.optimizer.lr,
    );
    let s = err_text(load_training(&path, &mut batch3));
    assert!(s.contains("batch 2") && s.contains("batch 3"));
    assert_eq!(
        (
            batch3.snapshot(),
            batch3.config.clone(),
            batch3.optimizer.lr
        ),
        before
    );

    // Parameters only: fine for load_params, refused by load_training.
    let params_path = dir.join("params.ckpt");
    save_params::<Gle1, f64>(&params_path, &p).unwrap();
    assert_eq!(load_params::<Gle1, f64>(&params_path).unwrap(), p);
    assert_eq!(load_params::<Gle1, f64>(&path).unwrap(), p);
    let s = err_text(load_training(&params_path, &mut online));
    assert!(s.contains("parameters only"));

    // Other format versions and files that are not checkpoints.
    let text = std::fs::read_to_string(&path).unwrap();
    let cases: Vec<(&str, String, &str)> = vec![
        (
            "newer",
            text.replacen("\"version\":1", "\"version\":2", 1),
            "format version 2, newer than this build",
        ),
        (
            "older",
            text.replacen("\"version\":1", "\"version\":0", 1),
            "format version 0, which this build of vle no longer reads",
        ),
        (
            "format",
            text.replacen("vle-checkpoint", "vle-dataset", 1),
            "not a vle checkpoint: its `format` is \"vle-dataset\"",
        ),
        (
            "other json",
            "{\"hello\": [1, 2]}".into(),
            "no `format` field",
        ),
        ("empty", String::new(), "empty"),
        (
            "npy",
            "\u{93}NUMPY\u{1}\u{0}v\u{0}{'descr'".into(),
            "invalid JSON",
        ),
        ("array", "[1, 2, 3]".into(), "not a vle checkpoint"),
    ];
    for (what, content, expected) in cases {
        let f = dir.join(format!("{what}.ckpt"));
        std::fs::write(&f, content).unwrap();
        let s = err_text(load_params::<Gle1, f64>(&f));
        assert!(s.contains(expected), "{what}: {s}");
    }
    let s = err_text(load_params::<Gle1, f64>(dir.join("missing.ckpt")));
    assert!(s.contains("missing.ckpt") && s.contains("cannot read it"));
    std::fs::remove_dir_all(&dir).unwrap();
}

/// A training checkpoint of moderate size.
fn sample_checkpoint(dir: &Path) -> (PathBuf, Vec<u8>) {
    let path = dir.join("sample.ckpt");
    let mut p = params();
    let mut tr = OnlineTrainer::<Gle1, f64, _>::new(
        online_config(),
        3,
        Adam::new(0.01, learnable_mask::<Gle1>()),
    )
    .unwrap();
    tr.run(&mut p, &[Grid::new(40, 0.2)], 0.0, 33, None)
        .unwrap();
    save_training(&path, &p, &tr).unwrap();
    let bytes = std::fs::read(&path).unwrap();
    (path, bytes)
}

#[test]
fn truncated_files_are_refused_at_every_offset() {
    let dir = test_dir("truncated");
    let (path, bytes) = sample_checkpoint(&dir);
    assert!(bytes.len() > 1000);
    let complete = bytes.trim_ascii_end().len();
    let cut = dir.join("cut.ckpt");
    let mut truncated_messages = 0;
    for len in 0..complete {
        std::fs::write(&cut, &bytes[..len]).unwrap();
        let r = std::panic::catch_unwind(|| load_params::<Gle1, f64>(&cut));
        let r = r.unwrap_or_else(|_| panic!("load panicked on a file cut at {len} bytes"));
        let e = r.expect_err(&format!("a file cut at {len} bytes loaded"));
        let s = e.to_string();
        truncated_messages += usize::from(s.contains("truncated"));
        if len == complete / 2 {
            println!("cut at {len} of {} bytes: {s}", bytes.len());
        }
    }
    println!("{truncated_messages} of {complete} cuts say `truncated`");
    // Every cut, inside a number, a literal, an escape or between tokens, is named as such.
    assert_eq!(truncated_messages, complete);
    // The complete file, with or without its final newline, loads.
    std::fs::write(&cut, &bytes[..complete]).unwrap();
    assert!(load_params::<Gle1, f64>(&cut).is_ok());
    assert!(load_params::<Gle1, f64>(&path).is_ok());
    std::fs::remove_dir_all(&dir).unwrap();
}

/// Every kind of checkpoint (parameters alone, with `null`s; an exact trainer's, with `true`,
/// a tape and "inf"; one in f32 with negative numbers and exponents), cut at every length
/// from empty to one byte short of the JSON's end, is refused as truncated.
#[test]
fn every_kind_of_checkpoint_cut_anywhere_says_truncated() {
    let mut p = params();
    p[1] = -1.25e-7;
    let params_only = Checkpoint::<Gle1, f64>::from_params(&p).to_bytes().unwrap();
    let mut tr = ExactTrainer::<Gle1, f64, _>::new(
        exact_config(),
        2,
        Adam::new(0.02, learnable_mask::<Gle1>()),
    )
    .unwrap();
    tr.run(&mut p, &[Grid::new(200, 0.0)], 0.0, 2, None)
        .unwrap();
    let exact = Checkpoint::<Gle1, f64>::from_training(&p, &tr)
        .to_bytes()
        .unwrap();
    let p32: Vec<f32> = p.iter().map(|&v| v as f32).collect();
    let single = Checkpoint::<Gle1, f32>::from_params(&p32)
        .to_bytes()
        .unwrap();
    for (kind, bytes) in [("params", params_only), ("exact", exact), ("f32", single)] {
        let complete = bytes.trim_ascii_end().len();
        for len in 0..complete {
            let e = if kind == "f32" {
                Checkpoint::<Gle1, f32>::from_bytes(&bytes[..len], "cut").map(drop)
            } else {
                Checkpoint::<Gle1, f64>::from_bytes(&bytes[..len], "cut").map(drop)
            };
            let s = e
                .expect_err(&format!("{kind} cut at {len} bytes loaded"))
                .to_string();
            assert!(s.contains("truncated"), "{kind} cut at {len}: {s}");
        }
    }
}

#[test]
fn corrupted_bytes_are_refused_at_every_offset() {
    let dir = test_dir("corrupted");
    let (_, bytes) = sample_checkpoint(&dir);
    let (mut checksum_messages, mut syntax_messages, mut cases) = (0, 0, 0);
    for i in 0..bytes.len() {
        for flip in [0x01u8, 0x20, 0x80] {
            let mut b = bytes.clone();
            b[i] ^= flip;
            let r = std::panic::catch_unwind(|| Checkpoint::<Gle1, f64>::from_bytes(&b, "x"));
            let r = r.unwrap_or_else(|_| panic!("panicked on byte {i} ^ {flip:#x}"));
            let e = r.expect_err(&format!(
                "byte {i} ({:?}) ^ {flip:#x} went unnoticed",
                bytes[i] as char
            ));
            cases += 1;
            let s = e.to_string();
            checksum_messages += usize::from(s.contains("checksum mismatch"));
            syntax_messages += usize::from(s.contains("invalid JSON"));
        }
    }
    // Random multi-byte damage.
    let mut rng = Rng::new(3);
    for _ in 0..2000 {
        let mut b = bytes.clone();
        for _ in 0..1 + rng.next_u64() % 4 {
            let i = (rng.next_u64() % b.len() as u64) as usize;
            b[i] = rng.next_u64() as u8;
        }
        if b != bytes && b.trim_ascii_end() != bytes.trim_ascii_end() {
            assert!(Checkpoint::<Gle1, f64>::from_bytes(&b, "x").is_err());
        }
    }
    println!(
        "{cases} single-byte corruptions: {checksum_messages} caught by the checksum, \
         {syntax_messages} by the JSON syntax, the rest by the format checks"
    );
    assert!(checksum_messages > cases / 5);
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn saving_to_a_bad_place_is_an_error_and_leaves_nothing_behind() {
    let dir = test_dir("badplace");
    let e = save_params::<Gle1, f64>(dir.join("no/such/dir/p.ckpt"), &params()).unwrap_err();
    println!("{e}");
    assert!(e.to_string().contains("no/such/dir/p.ckpt"));
    // A directory in the way.
    let target = dir.join("taken");
    std::fs::create_dir(&target).unwrap();
    std::fs::write(target.join("keep"), b"x").unwrap();
    let e = save_params::<Gle1, f64>(&target, &params()).unwrap_err();
    println!("{e}");
    assert!(e.to_string().contains("renaming the temporary file"));
    assert_eq!(std::fs::read(target.join("keep")).unwrap(), b"x");
    assert_eq!(
        std::fs::read_dir(&dir).unwrap().count(),
        1,
        "no temporary files"
    );
    let e = write_atomic(dir.join(".."), b"x").unwrap_err();
    assert!(e.to_string().contains("names no file"));
    std::fs::remove_dir_all(&dir).unwrap();
}

// -------------------------------------------------------------------------------------------
// Killing a process mid-save.

const CHILD_TARGET: &str = "VLE_CHECKPOINT_TEST_CHILD_TARGET";
const CHILD_BATCH: usize = 60_000;

/// Version `k` of the large checkpoint the child writes: every value is derived from `k`, so
/// a mixture of two versions is recognisable.
fn big_checkpoint(k: usize) -> Checkpoint<Gle1, f64> {
    let mut c = with_states(
        &(0..2 * CHILD_BATCH)
            .map(|i| k as f64 + i as f64 * 1e-6)
            .collect::<Vec<_>>(),
    );
    c.params = vec![k as f64, 0.5, 1.0, 0.3];
    c
}

fn check_version(c: &Checkpoint<Gle1, f64>) -> usize {
    let k = c.params[0] as usize;
    assert_eq!(c.params[0], k as f64);
    let states = stored_states(c);
    assert_eq!(states.len(), 2 * CHILD_BATCH);
    for (i, &s) in states.iter().enumerate() {
        assert_eq!(s, k as f64 + i as f64 * 1e-6, "entry {i} of version {k}");
    }
    k
}

/// Not a test on its own: with `VLE_CHECKPOINT_TEST_CHILD_TARGET` set it saves ever newer
/// versions of a large checkpoint to that path until killed (at most a minute).
#[test]
fn child_saves_checkpoints_until_killed() {
    let Ok(target) = std::env::var(CHILD_TARGET) else {
        return;
    };
    // Encoding takes most of a save's time; with the bytes prepared, almost all the time goes
    // to writing, flushing and renaming, where a kill does the most harm.
    let versions: Vec<Vec<u8>> = (1..=3)
        .map(|k| big_checkpoint(k).to_bytes().unwrap())
        .collect();
    let start = Instant::now();
    for bytes in versions.iter().cycle() {
        write_atomic(&target, bytes).unwrap();
        if start.elapsed() > Duration::from_secs(60) {
            break;
        }
    }
}

#[test]
fn killing_a_process_mid_save_leaves_a_complete_checkpoint() {
    let dir = test_dir("killed");
    let target = dir.join("big.ckpt");
    let t = Instant::now();
    big_checkpoint(0).save(&target).unwrap();
    let save_time = t.elapsed();
    let size = std::fs::metadata(&target).unwrap().len();
    let seed = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_nanos() as u64;
    let mut rng = Rng::new(seed);
    let exe = std::env::current_exe().unwrap();
    let (mut versions, mut interrupted) = (Vec::new(), 0);
    for _ in 0..10 {
        let mut child = Command::new(&exe)
            .args([
                "--exact",
                "child_saves_checkpoints_until_killed",
                "--test-threads=1",
            ])
            .env(CHILD_TARGET, &target)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let prepare = 3 * save_time.as_millis() as u64;
        let delay = 20 + prepare + rng.next_u64() % (300 + prepare);
        std::thread::sleep(Duration::from_millis(delay));
        child.kill().unwrap();
        child.wait().unwrap();
        // The target is one complete version; a temporary file shows a save was cut short.
        let c = Checkpoint::<Gle1, f64>::load(&target)
            .unwrap_or_else(|e| panic!("after a kill at {delay} ms: {e}"));
        versions.push(check_version(&c));
        for entry in std::fs::read_dir(&dir).unwrap() {
            let entry = entry.unwrap().path();
            if entry != target {
                interrupted += 1;
                std::fs::remove_file(entry).unwrap();
            }
        }
    }
    println!(
        "checkpoint of {size} bytes, one save {save_time:?}; versions found after each kill: \
         {versions:?}; {interrupted} kills interrupted a save (temporary file left)"
    );
    assert!(
        versions.iter().any(|&k| k > 0),
        "the child never completed a save"
    );
    std::fs::remove_dir_all(&dir).unwrap();
}
