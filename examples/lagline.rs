//! LagLine (docs/theory.md §8, from GLE): a teacher–student chain x → h → out of two softplus
//! neurons. Teacher W = (1, 2), τm = (1, 2), τr = 0.1 (both neurons lag); dt = 0.01, β = 0.01;
//! the input is a train of smoothed steps. The student learns W and τm (τr fixed at the
//! teacher's 0.1) with three learners on the same input stream, from the same start:
//!
//! - **GLE**: the generated local rule, online (`OnlineTrainer`), one SGD update per step;
//! - **LE** (instantaneous backprop): the same online rule with every error neuron replaced by
//!   the identity, ε = ê = φ' ⊙ Wᵀε_above (see `common::LeRule`). This is what the local rule
//!   becomes for instantaneous neurons (τr = τm), applied to the lagging network: the forward
//!   dynamics are unchanged, only the backward pass ignores the lag. The example first checks
//!   that this rule reproduces the generated `online_step` to rounding on the same network
//!   with τr set to τm, where the two must coincide (docs/theory.md §5);
//! - **BPTT**: exact gradients of the simulated loss over consecutive windows, state carried
//!   across windows (`ExactTrainer`; truncated BPTT, one SGD update per window).
//!
//! The SGD learning rate is η/β, so that η is the learning rate of the β = 1 problem per unit
//! time (the gradients carry a factor β).
//!
//! `cargo run --release --example lagline -- --help`

mod common;

use std::path::PathBuf;
use std::time::Instant;

use clap::Parser;
use common::{
    compare_gradients, frozen_loss, jnum, json_object, jstr, out_dir, plot_panels, progress_bar,
    register_font, sigmoid, softplus, thin, verify_gradients, write_csv, LeRule, Line, Panel, Res,
    SmoothedSteps, TeacherSignal,
};
use vle::params::{clamp_time_constants, find_param, learnable_mask};
use vle::{
    ExactConfig, ExactTrainer, Network, OnlineConfig, OnlineTrainer, Optimizer, Sgd, Signal, Tape,
};

vle::vle_model! {
    /// The LagLine chain: two softplus GLE neurons, no biases, both lagging (τr < τm).
    pub network LagLine {
        neuron Gle {
            param tau_m, tau_r;
            activation phi;
            state u;
            mismatch e = u + tau_m * d(u) - input;
            prospective ubreve = u + tau_r * d(u);
            rate r = phi(ubreve);
        }
        input x: 1;
        layer h: 1 = Gle { phi: softplus, tau_m: 1.0, tau_r: 0.1 } <- x;
        layer out: 1 = Gle { phi: softplus, tau_m: 2.0, tau_r: 0.1 } <- h;
        energy = 0.5 * sum_sq(e) + beta * mse(out.r, target);
        learn W, tau_m;
    }
}

const DT: f64 = 0.01;
const BETA: f64 = 0.01;
const TEACHER_W: [f64; 2] = [1.0, 2.0];
const TEACHER_TAU_M: [f64; 2] = [1.0, 2.0];
const TAU_MAX: f64 = 50.0;

/// LagLine teacher–student: GLE local learning vs instantaneous backprop (LE) vs BPTT.
#[derive(Parser, Debug)]
#[command(version)]
struct Args {
    /// Training time per learner, in units of time (steps = time / dt).
    #[arg(long, default_value_t = 20000.0)]
    time: f64,
    /// Learning rate η of the β = 1 problem; SGD runs with η/β.
    #[arg(long, default_value_t = 1.0)]
    eta: f64,
    /// Learning rate η of the BPTT learner [default: --eta]. Its update per window is the
    /// sum of a whole window's gradient applied at once, which tolerates less than the online
    /// learners' per-step updates.
    #[arg(long)]
    eta_bptt: Option<f64>,
    /// BPTT window in steps (one exact-gradient update per window); also the bin of the
    /// recorded loss curves.
    #[arg(long, default_value_t = 200)]
    window: usize,
    /// Seed of the student's initial parameters and of the input steps.
    #[arg(long, default_value_t = 1)]
    seed: u64,
    /// Output folder [default: results/lagline/].
    #[arg(long)]
    out: Option<PathBuf>,
    /// CI smoke run: 20 units of time.
    #[arg(long)]
    quick: bool,
}

/// W and τm of the two neurons: [W_h, W_out, τm_h, τm_out].
fn learned(p: &[f64]) -> [f64; 4] {
    let get = |name: &str| p[find_param::<LagLine>(name).expect("declared").offset];
    [
        get("h.W<-x"),
        get("out.W<-h"),
        get("h.tau_m"),
        get("out.tau_m"),
    ]
}

fn set_learned(p: &mut [f64], v: [f64; 4]) {
    for (name, x) in ["h.W<-x", "out.W<-h", "h.tau_m", "out.tau_m"].iter().zip(v) {
        p[find_param::<LagLine>(name).expect("declared").offset] = x;
    }
}

/// Largest relative deviation from the teacher over the four learned parameters.
fn param_error(v: [f64; 4]) -> f64 {
    let t = [
        TEACHER_W[0],
        TEACHER_W[1],
        TEACHER_TAU_M[0],
        TEACHER_TAU_M[1],
    ];
    v.iter()
        .zip(t)
        .map(|(a, b)| ((a - b) / b).abs())
        .fold(0.0, f64::max)
}

fn main() -> std::process::ExitCode {
    common::main_with(run)
}

fn run() -> Res<()> {
    let args = Args::parse();
    let started = Instant::now();
    let time = if args.quick { 20.0 } else { args.time };
    let window = args.window.max(1);
    let windows = ((time / DT) as usize).div_ceil(window).max(1);
    let steps = windows * window;
    let lr = args.eta / BETA;
    let dir = out_dir(&args.out, "lagline")?;
    register_font()?;

    println!(
        "LagLine teacher-student (docs/theory.md §8): x -> h -> out, two softplus GLE neurons"
    );
    println!(
        "teacher: W = ({}, {}), tau_m = ({}, {}), tau_r = 0.1; dt = {DT}, beta = {BETA}",
        TEACHER_W[0], TEACHER_W[1], TEACHER_TAU_M[0], TEACHER_TAU_M[1]
    );

    // The task.
    let mut teacher = vle::init_params::<LagLine, f64>(0);
    set_learned(
        &mut teacher,
        [
            TEACHER_W[0],
            TEACHER_W[1],
            TEACHER_TAU_M[0],
            TEACHER_TAU_M[1],
        ],
    );
    let steps_input = SmoothedSteps {
        seed: args.seed,
        hold: 4.0,
        width: 0.1,
        lo: -1.0,
        hi: 2.0,
    };
    let signal = TeacherSignal::new::<LagLine>(&teacher, |t| steps_input.eval(t), DT, steps);
    let held_input = SmoothedSteps {
        seed: args.seed ^ 0xDEAD_BEEF,
        ..steps_input.clone()
    };
    let eval_steps = 10_000;
    let held_out = TeacherSignal::new::<LagLine>(&teacher, |t| held_input.eval(t), DT, eval_steps);

    // The student: W and τm drawn in [0.5, 2] × the teacher's.
    let mut rng = vle::Rng::new(args.seed.wrapping_add(1000));
    let mut initial = teacher.clone();
    let init = [
        TEACHER_W[0] * rng.uniform_range(0.5, 2.0),
        TEACHER_W[1] * rng.uniform_range(0.5, 2.0),
        TEACHER_TAU_M[0] * rng.uniform_range(0.5, 2.0),
        TEACHER_TAU_M[1] * rng.uniform_range(0.5, 2.0),
    ];
    set_learned(&mut initial, init);
    vle::validate_params::<LagLine, f64>(&initial, DT)?;
    println!(
        "student (seed {}): W = ({:.3}, {:.3}), tau_m = ({:.3}, {:.3}); learns W and tau_m",
        args.seed, init[0], init[1], init[2], init[3]
    );
    println!(
        "input: smoothed steps (levels uniform in [-1, 2], held 4, ramp width 0.1); \
         {steps} steps (t = 0..{:.0}) per learner; SGD lr = eta/beta = {lr}; BPTT window \
         {window} steps",
        steps as f64 * DT
    );

    // Verification before training.
    println!("\n== gradient checks ==");
    let worst_rel = verify_gradients::<LagLine, _>(&initial, &signal, DT, BETA, 200)?;
    let mut le = LeRule::<LagLine>::new(&[(softplus, sigmoid), (softplus, sigmoid)])?;
    let (le_grad_diff, le_state_diff) =
        le.check_against_generated(&initial, &signal, DT, BETA, 2000);
    println!(
        "LE rule vs generated online_step with tau_r := tau_m (must coincide): gradient rel. \
         difference {le_grad_diff:.1e}, max |state/error difference| {le_state_diff:.1e}"
    );
    if le_grad_diff > 1e-10 || le_state_diff > 1e-12 {
        return Err(
            "the LE rule does not reproduce the generated local rule at tau_r = tau_m".into(),
        );
    }
    let cmp_steps = 2000.min(steps);
    let cmp = compare_gradients::<LagLine, _>(&initial, &signal, DT, BETA, cmp_steps)?;
    let le_grad = {
        let mut g = vec![0.0; LagLine::PARAMS];
        let mut st = vec![0.0; LagLine::STATE];
        let (mut x, mut y) = ([0.0], [0.0]);
        for n in 0..cmp_steps {
            signal.at(n as f64 * DT, &mut x, &mut y);
            le.step(&initial, &mut st, &x, &y, BETA, DT, &mut g);
        }
        le.reset();
        g
    };
    println!(
        "at the student's start, over the first {cmp_steps} steps: update of each rule / exact \
         gradient (each tensor is one number)"
    );
    println!(
        "  {:<10} {:>12} {:>12} {:>12}",
        "tensor", "exact", "GLE/exact", "LE/exact"
    );
    let mut cos_le_all = (Vec::new(), Vec::new());
    for (name, _, _, _) in &cmp.tensors {
        let r = find_param::<LagLine>(name).unwrap().range();
        let (g, l, e) = (cmp.local[r.start], le_grad[r.start], cmp.exact[r.start]);
        cos_le_all.0.extend_from_slice(&le_grad[r.clone()]);
        cos_le_all.1.extend_from_slice(&cmp.exact[r]);
        println!("  {name:<10} {e:>12.3e} {:>12.3} {:>12.3}", g / e, l / e);
    }
    let cos_le = common::cosine(&cos_le_all.0, &cos_le_all.1);
    println!(
        "  cosine over the four: GLE {:.4}, LE {:.4}",
        cmp.overall, cos_le
    );

    // Training.
    println!("\n== training ==");
    let mask = learnable_mask::<LagLine>();
    let online = OnlineConfig {
        dt: DT,
        beta: BETA,
        gamma: 0.0,
        update_every: 1,
        tau_max: TAU_MAX,
    };
    let mut gle = OnlineTrainer::<LagLine, f64, _>::new(online, 1, Sgd::new(lr, mask.clone()))?;
    let mut le_opt = Sgd::new(lr, mask.clone());
    let exact_cfg = ExactConfig {
        dt: DT,
        beta: BETA,
        window,
        tape: Tape::Full,
        carry_state: true,
        tau_max: TAU_MAX,
    };
    let lr_bptt = args.eta_bptt.unwrap_or(args.eta) / BETA;
    let mut bptt = ExactTrainer::<LagLine, f64, _>::new(exact_cfg, 1, Sgd::new(lr_bptt, mask))?;
    let (mut p_gle, mut p_le, mut p_bptt) = (initial.clone(), initial.clone(), initial.clone());
    let mut le_state = vec![0.0; LagLine::STATE];
    let mut le_g = vec![0.0; LagLine::PARAMS];
    let (mut curve_gle, mut curve_le, mut curve_bptt) = (Vec::new(), Vec::new(), Vec::new());
    let mut params_hist: [Vec<[f64; 4]>; 3] = [vec![init], vec![init], vec![init]];
    let bar = progress_bar(windows as u64, "lagline");
    let (mut secs_gle, mut secs_le, mut secs_bptt) = (0.0, 0.0, 0.0);
    let (mut x, mut y) = ([0.0], [0.0]);
    for k in 0..windows {
        let t0 = (k * window) as f64 * DT;
        let clock = Instant::now();
        let h = gle.run(&mut p_gle, &[&signal], t0, window, None)?;
        curve_gle.push(common::mean(&h.loss));
        secs_gle += clock.elapsed().as_secs_f64();

        let clock = Instant::now();
        let mut sum = 0.0;
        for n in 0..window {
            signal.at(t0 + n as f64 * DT, &mut x, &mut y);
            sum += LagLine::loss(&p_le, &le_state, &y);
            le.step(&p_le, &mut le_state, &x, &y, BETA, DT, &mut le_g);
            le_opt.step(&mut p_le, &le_g)?;
            clamp_time_constants::<LagLine, f64>(&mut p_le, DT, TAU_MAX)?;
            le_g.iter_mut().for_each(|g| *g = 0.0);
        }
        if !sum.is_finite() || p_le.iter().any(|v| !v.is_finite()) {
            return Err(format!("LE learner diverged (non-finite) in window {k}").into());
        }
        curve_le.push(sum / window as f64);
        secs_le += clock.elapsed().as_secs_f64();

        let clock = Instant::now();
        let h = bptt.run(&mut p_bptt, &[&signal], t0, 1, None)?;
        curve_bptt.push(h.loss[0]);
        secs_bptt += clock.elapsed().as_secs_f64();

        for (hist, p) in params_hist.iter_mut().zip([&p_gle, &p_le, &p_bptt]) {
            hist.push(learned(p));
        }
        bar.inc(1);
        bar.set_message(format!(
            "loss GLE {:.1e} LE {:.1e} BPTT {:.1e}",
            curve_gle[k], curve_le[k], curve_bptt[k]
        ));
    }
    bar.finish_and_clear();

    // Results.
    let tail = (windows / 10).max(1);
    let tail_mean = |c: &[f64]| common::mean(&c[c.len() - tail..]);
    let names = ["GLE", "LE", "BPTT"];
    let finals = [learned(&p_gle), learned(&p_le), learned(&p_bptt)];
    let curves = [&curve_gle, &curve_le, &curve_bptt];
    let held: Vec<f64> = [&initial, &p_gle, &p_le, &p_bptt]
        .iter()
        .map(|p| frozen_loss::<LagLine, _>(p, &held_out, 0.0, DT, eval_steps))
        .collect::<Result<_, _>>()?;
    let secs = [secs_gle, secs_le, secs_bptt];
    println!(
        "loss = mean of l = (r - y)^2 / 2 per step; 'final' = mean over the last {tail} windows \
         ({:.0} time units); held-out: frozen parameters, fresh input, from rest, 100 time units",
        (tail * window) as f64 * DT
    );
    println!(
        "  {:<5} {:>10} {:>10} {:>10} {:>8} {:>8} {:>8} {:>8} {:>10} {:>7}",
        "rule", "first", "final", "held-out", "W_h", "W_out", "tau_h", "tau_out", "max rel", "secs"
    );
    println!(
        "  {:<5} {:>10} {:>10} {:>10.3e} {:>8.4} {:>8.4} {:>8.4} {:>8.4} {:>10.2e}",
        "start",
        "",
        "",
        held[0],
        init[0],
        init[1],
        init[2],
        init[3],
        param_error(init)
    );
    for i in 0..3 {
        let v = finals[i];
        println!(
            "  {:<5} {:>10.3e} {:>10.3e} {:>10.3e} {:>8.4} {:>8.4} {:>8.4} {:>8.4} {:>10.2e} {:>7.2}",
            names[i],
            curves[i][0],
            tail_mean(curves[i]),
            held[i + 1],
            v[0],
            v[1],
            v[2],
            v[3],
            param_error(v),
            secs[i]
        );
    }
    println!(
        "  {:<5} {:>10} {:>10} {:>10} {:>8.4} {:>8.4} {:>8.4} {:>8.4}",
        "teach", "", "", "", TEACHER_W[0], TEACHER_W[1], TEACHER_TAU_M[0], TEACHER_TAU_M[1]
    );
    let min_gle = curve_gle.iter().copied().fold(f64::INFINITY, f64::min);
    println!(
        "published (GLE paper): the GLE loss falls to numerical precision, fluctuating near 1e-10; \
         here: GLE final {:.2e}, lowest window {:.2e}",
        tail_mean(&curve_gle),
        min_gle
    );

    // Files.
    let time_axis: Vec<f64> = (1..=windows).map(|k| (k * window) as f64 * DT).collect();
    let mut cols: Vec<Vec<f64>> = vec![
        time_axis.clone(),
        curve_gle.clone(),
        curve_le.clone(),
        curve_bptt.clone(),
    ];
    let mut header = vec![
        "time".to_string(),
        "loss_gle".into(),
        "loss_le".into(),
        "loss_bptt".into(),
    ];
    for (i, name) in ["gle", "le", "bptt"].iter().enumerate() {
        for (j, p) in ["w_h", "w_out", "tau_m_h", "tau_m_out"].iter().enumerate() {
            header.push(format!("{p}_{name}"));
            cols.push(params_hist[i][1..].iter().map(|v| v[j]).collect());
        }
    }
    let header_ref: Vec<&str> = header.iter().map(|s| s.as_str()).collect();
    let col_ref: Vec<&[f64]> = cols.iter().map(|c| c.as_slice()).collect();
    let csv = dir.join("curves.csv");
    write_csv(&csv, &header_ref, &col_ref)?;

    let pts = |c: &[f64]| {
        thin(
            time_axis.iter().copied().zip(c.iter().copied()).collect(),
            2000,
        )
    };
    let loss_png = dir.join("loss.png");
    let mut loss_panel = Panel::new(
        format!(
            "LagLine: loss per window (mean l over {} time units)",
            window as f64 * DT
        ),
        "time",
        "loss",
    )
    .log_y();
    for (i, c) in curves.iter().enumerate() {
        loss_panel = loss_panel.line(Line::new(names[i], pts(c), i));
    }
    plot_panels(&loss_png, &[loss_panel], 1, (1000, 600))?;

    let params_png = dir.join("params.png");
    let labels = ["W (h <- x)", "W (out <- h)", "tau_m (h)", "tau_m (out)"];
    let teacher_v = [
        TEACHER_W[0],
        TEACHER_W[1],
        TEACHER_TAU_M[0],
        TEACHER_TAU_M[1],
    ];
    let panels: Vec<Panel> = (0..4)
        .map(|j| {
            let mut panel = Panel::new(labels[j], "time", "value");
            for (i, hist) in params_hist.iter().enumerate() {
                let p: Vec<(f64, f64)> = hist
                    .iter()
                    .enumerate()
                    .map(|(k, v)| ((k * window) as f64 * DT, v[j]))
                    .collect();
                panel = panel.line(Line::new(names[i], thin(p, 2000), i));
            }
            let end = steps as f64 * DT;
            panel.line(
                Line::new("teacher", vec![(0.0, teacher_v[j]), (end, teacher_v[j])], 4).dashed(),
            )
        })
        .collect();
    plot_panels(&params_png, &panels, 2, (1200, 800))?;

    let seconds = started.elapsed().as_secs_f64();
    println!(
        "\nwrote {}, {}, {}",
        csv.display(),
        loss_png.display(),
        params_png.display()
    );
    println!(
        "summary: after {:.0} time units the GLE student is at {:.2e} max relative parameter \
         error (loss {:.2e}), LE at {:.2e} (loss {:.2e}), BPTT at {:.2e} (loss {:.2e}); {seconds:.1} s",
        steps as f64 * DT,
        param_error(finals[0]),
        tail_mean(&curve_gle),
        param_error(finals[1]),
        tail_mean(&curve_le),
        param_error(finals[2]),
        tail_mean(&curve_bptt)
    );
    let mut pairs = vec![
        ("example", jstr("lagline")),
        ("seed", args.seed.to_string()),
        ("quick", args.quick.to_string()),
        ("steps", steps.to_string()),
        ("dt", jnum(DT)),
        ("beta", jnum(BETA)),
        ("eta", jnum(args.eta)),
        ("gradcheck_worst_rel_error", jnum(worst_rel)),
        ("le_vs_generated_rel_diff", jnum(le_grad_diff)),
        ("cosine_gle_vs_exact_at_start", jnum(cmp.overall)),
        ("cosine_le_vs_exact_at_start", jnum(cos_le)),
        ("held_out_loss_start", jnum(held[0])),
    ];
    let keys = ["gle", "le", "bptt"];
    let mut owned = Vec::new();
    for i in 0..3 {
        owned.push((
            format!("final_loss_{}", keys[i]),
            jnum(tail_mean(curves[i])),
        ));
        owned.push((format!("held_out_loss_{}", keys[i]), jnum(held[i + 1])));
        owned.push((
            format!("max_rel_param_error_{}", keys[i]),
            jnum(param_error(finals[i])),
        ));
        owned.push((
            format!("params_{}", keys[i]),
            format!(
                "[{}]",
                finals[i]
                    .iter()
                    .map(|v| jnum(*v))
                    .collect::<Vec<_>>()
                    .join(",")
            ),
        ));
    }
    for (k, v) in &owned {
        pairs.push((k.as_str(), v.clone()));
    }
    pairs.push(("min_window_loss_gle", jnum(min_gle)));
    pairs.push(("seconds", format!("{seconds:.3}")));
    pairs.push(("out", jstr(&dir.display().to_string())));
    println!("{}", json_object(&pairs));
    Ok(())
}
